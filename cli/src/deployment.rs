//! Which pipeline the CLI talks to, and its clients. Against AWS: the standard profile and
//! region resolution, and the bucket and state machine names from the CloudFormation stack's
//! outputs (`--stack`, default `photopipe`). Against anything else (the local stack, another
//! S3-compatible endpoint): `--endpoint-url` or `AWS_ENDPOINT_URL`, and the names from flags
//! or the environment (`PHOTOPIPE_DROPBOX`, …) that `scripts/local up` prints. A name given
//! explicitly always wins over the stack's output, and the stack is only looked up when a
//! name the command needs is missing.

use anyhow::Context;
use aws_config::SdkConfig;
use photopipe::settings::WasabiSettings;

use crate::failure::ApiError;

/// The environment variables the CLI reads besides the SDK's own.
pub mod env {
    pub const STACK: &str = "PHOTOPIPE_STACK";
    pub const DROPBOX: &str = "PHOTOPIPE_DROPBOX";
    pub const THUMBNAILS: &str = "PHOTOPIPE_THUMBNAILS";
    pub const STATE_MACHINE_ARN: &str = "PHOTOPIPE_STATE_MACHINE_ARN";
    /// The same names the functions read (`photopipe::settings::env`).
    pub const WASABI_ENDPOINT: &str = "WASABI_ENDPOINT";
    pub const WASABI_REGION: &str = "WASABI_REGION";
    pub const WASABI_BUCKET: &str = "WASABI_BUCKET";
    /// The secret of a key that may read the archive.
    pub const WASABI_SECRET: &str = "PHOTOPIPE_WASABI_SECRET";
}

/// The stack's output names (`cdk/lib/photopipe-stack.ts`).
pub mod outputs {
    pub const DROPBOX: &str = "DropboxBucket";
    pub const THUMBNAILS: &str = "ThumbnailsBucket";
    pub const STATE_MACHINE_ARN: &str = "StateMachineArn";
}

/// Where the pipeline is: global flags of every command that talks to it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// The CloudFormation stack whose outputs name the buckets and the state machine.
    #[arg(long, global = true, env = env::STACK, default_value = "photopipe")]
    pub stack: String,
    /// The AWS profile (else AWS_PROFILE, else the default chain).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The region (else AWS_REGION, else the profile's).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Another endpoint for every AWS service, e.g. the local stack's (AWS_ENDPOINT_URL
    /// works too); S3 is then addressed path-style.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// The dropbox bucket [default: the stack's DropboxBucket output].
    #[arg(long, global = true, env = env::DROPBOX)]
    pub dropbox: Option<String>,
    /// The thumbnails bucket [default: the stack's ThumbnailsBucket output].
    #[arg(long, global = true, env = env::THUMBNAILS)]
    pub thumbnails: Option<String>,
    /// The state machine [default: the stack's StateMachineArn output].
    #[arg(long, global = true, env = env::STATE_MACHINE_ARN)]
    pub state_machine_arn: Option<String>,
    #[command(flatten)]
    pub wasabi: WasabiArgs,
}

/// Where the archive is, for the commands that read it (`audit`): the same settings the
/// functions are deployed with.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WasabiArgs {
    /// The archive's S3 endpoint.
    #[arg(long, global = true, env = env::WASABI_ENDPOINT, default_value = "https://s3.eu-central-2.wasabisys.com")]
    pub wasabi_endpoint: String,
    /// The archive's region.
    #[arg(long, global = true, env = env::WASABI_REGION, default_value = "eu-central-2")]
    pub wasabi_region: String,
    /// The archive bucket.
    #[arg(long, global = true, env = env::WASABI_BUCKET, default_value = "photopipe-archive")]
    pub wasabi_bucket: String,
    /// The Secrets Manager secret of a Wasabi key that may read the archive
    /// (`{"WASABI_ACCESS": …, "WASABI_SECRET": …}`).
    #[arg(long, global = true, env = env::WASABI_SECRET, default_value = "demo/wasabi/read")]
    pub wasabi_secret: String,
}

/// A name the command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Dropbox,
    Thumbnails,
    StateMachine,
}

/// The pipeline's resources and clients for them.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub sfn: aws_sdk_sfn::Client,
    dropbox: Option<String>,
    thumbnails: Option<String>,
    state_machine_arn: Option<String>,
    wasabi: WasabiArgs,
}

impl Deployment {
    /// Loads the AWS configuration and finds the names `needs` asks for.
    pub async fn connect(args: &TargetArgs, needs: &[Need]) -> anyhow::Result<Self> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5));
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &args.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &args.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let sdk = loader.load().await;
        anyhow::ensure!(
            sdk.region().is_some(),
            "no AWS region: pass --region, set AWS_REGION, or give the profile one"
        );
        let mut deployment = Self::from_config(&sdk, args);
        let missing = needs.iter().any(|need| deployment.name(*need).is_none());
        if missing {
            let cloudformation = aws_sdk_cloudformation::Client::new(&sdk);
            deployment
                .fill_from_stack(&cloudformation, &args.stack)
                .await?;
            for need in needs {
                anyhow::ensure!(
                    deployment.name(*need).is_some(),
                    "stack {} has no output {} (pass --{})",
                    args.stack,
                    need.output(),
                    need.flag()
                );
            }
        }
        Ok(deployment)
    }

    /// Clients from `sdk`, the names from `args` alone (tests, and [`Self::connect`]).
    pub fn from_config(sdk: &SdkConfig, args: &TargetArgs) -> Self {
        let path_style = args.endpoint_url.is_some() || sdk.endpoint_url().is_some();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(path_style)
                .build(),
        );
        Self {
            sdk: sdk.clone(),
            s3,
            sfn: aws_sdk_sfn::Client::new(sdk),
            dropbox: args.dropbox.clone(),
            thumbnails: args.thumbnails.clone(),
            state_machine_arn: args.state_machine_arn.clone(),
            wasabi: args.wasabi.clone(),
        }
    }

    /// Fills the names not given from the stack's outputs.
    pub async fn fill_from_stack(
        &mut self,
        cloudformation: &aws_sdk_cloudformation::Client,
        stack: &str,
    ) -> anyhow::Result<()> {
        let described = cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("DescribeStacks", e).stack_not_found())
            .with_context(|| format!("finding stack {stack}"))?;
        let stack = described
            .stacks()
            .first()
            .with_context(|| format!("no stack {stack}"))?;
        for output in stack.outputs() {
            let (Some(name), Some(value)) = (output.output_key(), output.output_value()) else {
                continue;
            };
            let slot = match name {
                outputs::DROPBOX => &mut self.dropbox,
                outputs::THUMBNAILS => &mut self.thumbnails,
                outputs::STATE_MACHINE_ARN => &mut self.state_machine_arn,
                _ => continue,
            };
            slot.get_or_insert_with(|| value.to_owned());
        }
        Ok(())
    }

    fn name(&self, need: Need) -> Option<&str> {
        match need {
            Need::Dropbox => self.dropbox.as_deref(),
            Need::Thumbnails => self.thumbnails.as_deref(),
            Need::StateMachine => self.state_machine_arn.as_deref(),
        }
    }

    /// The dropbox bucket.
    pub fn dropbox(&self) -> anyhow::Result<&str> {
        self.name(Need::Dropbox)
            .context("no dropbox bucket (--dropbox)")
    }

    /// The thumbnails bucket.
    pub fn thumbnails(&self) -> anyhow::Result<&str> {
        self.name(Need::Thumbnails)
            .context("no thumbnails bucket (--thumbnails)")
    }

    /// The state machine's ARN.
    pub fn state_machine_arn(&self) -> anyhow::Result<&str> {
        self.name(Need::StateMachine)
            .context("no state machine (--state-machine-arn)")
    }

    /// The archive bucket's name.
    pub fn archive_bucket(&self) -> &str {
        &self.wasabi.wasabi_bucket
    }

    /// A client for the archive, signed with the key in the `--wasabi-secret` secret.
    pub async fn archive_client(&self) -> anyhow::Result<aws_sdk_s3::Client> {
        let settings = WasabiSettings {
            endpoint: self.wasabi.wasabi_endpoint.clone(),
            region: self.wasabi.wasabi_region.clone(),
            bucket: self.wasabi.wasabi_bucket.clone(),
            secret_name: self.wasabi.wasabi_secret.clone(),
        };
        let wasabi = photopipe::wasabi::Wasabi::new(&settings, &self.sdk);
        let client = wasabi.client().await.with_context(|| {
            format!(
                "reading the Wasabi key from secret {} (--wasabi-secret)",
                settings.secret_name
            )
        })?;
        Ok(client.clone())
    }
}

impl Need {
    fn output(self) -> &'static str {
        match self {
            Self::Dropbox => outputs::DROPBOX,
            Self::Thumbnails => outputs::THUMBNAILS,
            Self::StateMachine => outputs::STATE_MACHINE_ARN,
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Self::Dropbox => "dropbox",
            Self::Thumbnails => "thumbnails",
            Self::StateMachine => "state-machine-arn",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::Client;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::types::{Output, Stack, StackStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[tokio::test]
    async fn names_not_given_come_from_the_stack_outputs() {
        let describe = mock!(Client::describe_stacks)
            .match_requests(|r| r.stack_name() == Some("photopipe"))
            .then_output(|| {
                let output = |key: &str, value: &str| {
                    Output::builder()
                        .output_key(key)
                        .output_value(value)
                        .build()
                };
                let stack = Stack::builder()
                    .stack_name("photopipe")
                    .creation_time(aws_smithy_types::DateTime::from_secs(0))
                    .stack_status(StackStatus::CreateComplete)
                    .outputs(output(outputs::DROPBOX, "photopipe-dropbox-1a2b"))
                    .outputs(output(outputs::THUMBNAILS, "photopipe-thumbnails-3c4d"))
                    .outputs(output(outputs::STATE_MACHINE_ARN, "arn:aws:states:x"))
                    .outputs(output("DashboardName", "photopipe"))
                    .build();
                DescribeStacksOutput::builder().stacks(stack).build()
            });
        let cloudformation = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe]);
        let args = TargetArgs {
            thumbnails: Some("mine".into()),
            ..TargetArgs::default()
        };
        let mut deployment = Deployment::from_config(&SdkConfig::builder().build(), &args);
        assert!(deployment.dropbox().is_err());
        deployment
            .fill_from_stack(&cloudformation, "photopipe")
            .await
            .expect("found");
        assert_eq!(
            deployment.dropbox().expect("dropbox"),
            "photopipe-dropbox-1a2b"
        );
        assert_eq!(
            deployment.thumbnails().expect("thumbnails"),
            "mine",
            "a flag wins"
        );
        assert_eq!(
            deployment.state_machine_arn().expect("state machine"),
            "arn:aws:states:x"
        );
    }
}
