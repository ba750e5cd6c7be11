//! The whole local stack: moto as AWS with the dropbox and thumbnails buckets, the Wasabi
//! secrets (archive's write key, cleanup's read key), S3 → EventBridge → SQS and the state machine from `statemachine/`; the Wasabi
//! stand-in; a fault injector in front of each S3 endpoint, which the functions reach
//! through; and the four Lambda binaries behind the Invoke API.

use std::path::{Path, PathBuf};

use anyhow::Context;
use aws_sdk_s3::types::{
    BucketVersioningStatus, EventBridgeConfiguration, NotificationConfiguration,
    VersioningConfiguration,
};
use photopipe::settings::{WasabiKey, env};

use crate::contract;
use crate::fault_proxy::FaultProxy;
use crate::lambda::{FunctionSpec, LambdaHost};
use crate::moto::Moto;
use crate::server;
use crate::starter::Starter;
use crate::wasabi_stand_in::WasabiStandIn;

/// The state machine definition, the same file CDK deploys.
pub const DEFINITION: &str = include_str!("../../statemachine/pipeline.asl.json");

pub const DROPBOX: &str = "photopipe-dropbox";
pub const THUMBNAILS: &str = "photopipe-thumbnails";
pub const ARCHIVE: &str = "photopipe-archive";
/// The four Lambda functions, as their binaries and `contract/functions.json` name them.
pub const FUNCTIONS: [&str; 4] = ["validate", "thumbnail", "archive", "cleanup"];
const REGION: &str = "us-east-1";
const WASABI_REGION: &str = "eu-central-2";

/// Where the stack finds its programs and puts its files.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The folder holding the `validate`, `thumbnail`, `archive` and `cleanup` binaries.
    pub bin_dir: PathBuf,
    /// `moto_server` from the project's venv.
    pub moto_server: PathBuf,
    /// Logs of moto and of every function.
    pub log_dir: PathBuf,
    /// Instances per function.
    pub instances: usize,
    /// Extra function settings (e.g. `THUMBNAIL_RENDITIONS`), as CDK context would set them.
    pub function_env: Vec<(String, String)>,
    /// The state machine's retry waits cut to seconds (the attempts unchanged), so that a
    /// fault outlasting the retries shows in a minute rather than in half an hour.
    pub fast_retries: bool,
}

impl StackOptions {
    /// Defaults for a program inside this workspace's target folder: the binaries beside
    /// it (or one level up, for a test binary under `deps/`), moto from `.venv`.
    pub fn for_workspace(log_dir: PathBuf) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut bin_dir = exe
            .parent()
            .context("executable has no folder")?
            .to_path_buf();
        if bin_dir.ends_with("deps") {
            bin_dir.pop();
        }
        let bin_dir = std::env::var_os("PHOTOPIPE_BIN_DIR").map_or(bin_dir, PathBuf::from);
        let moto_server = std::env::var_os("PHOTOPIPE_MOTO_SERVER").map_or_else(
            || workspace_root().join(".venv/bin/moto_server"),
            PathBuf::from,
        );
        Ok(Self {
            bin_dir,
            moto_server,
            log_dir,
            instances: 2,
            function_env: Vec::new(),
            fast_retries: false,
        })
    }
}

/// The workspace's top folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A running local stack and clients for it.
#[derive(Debug)]
pub struct LocalStack {
    pub s3: aws_sdk_s3::Client,
    pub sfn: aws_sdk_sfn::Client,
    /// A client for the Wasabi stand-in, with the stand-in's own credentials.
    pub wasabi_s3: aws_sdk_s3::Client,
    /// The Wasabi stand-in (its endpoint, credentials and switches).
    pub wasabi: WasabiStandIn,
    /// Faults between the functions and moto's S3.
    pub aws_faults: FaultProxy,
    /// Faults between the functions and the Wasabi stand-in.
    pub wasabi_faults: FaultProxy,
    pub state_machine_arn: String,
    pub starter: Starter,
    moto: Moto,
    host: LambdaHost,
    _files: tempfile::TempDir,
}

impl LocalStack {
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&options.log_dir)?;
        let files = tempfile::tempdir()?;
        let wasabi_secret = format!("local-{:x}", std::process::id() as u64 * 2_654_435_761);
        let wasabi = WasabiStandIn::start(
            ("LOCALWASABIACCESS", &wasabi_secret),
            ("LOCALWASABIREAD", &format!("{wasabi_secret}-read")),
        )
        .await?;
        let invoke_listener = server::loopback().await?;
        let invoke_port = invoke_listener.local_addr()?.port();
        let moto = Moto::start(
            &options.moto_server,
            invoke_port,
            &options.log_dir.join("moto.log"),
        )
        .await?;

        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                "test", "test", None, None, "local",
            ))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&aws)
                .force_path_style(true)
                .build(),
        );
        let settings = photopipe::settings::WasabiSettings {
            endpoint: wasabi.endpoint.clone(),
            region: WASABI_REGION.into(),
            bucket: ARCHIVE.into(),
            secret_name: WasabiKey::Write.default_secret_name().into(),
        };
        let wasabi_s3 = photopipe::wasabi::client_for(
            &aws,
            &settings,
            aws_credential_types::Credentials::new(
                &wasabi.access_key,
                &wasabi.secret_key,
                None,
                None,
                "wasabi-stand-in",
            ),
        );

        create_buckets(&s3, &wasabi_s3).await?;
        // Each function is given the name of its own key's secret, and no other.
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let mut wasabi_secrets = Vec::new();
        for (key, function, access, secret) in [
            (
                WasabiKey::Write,
                "archive",
                &wasabi.access_key,
                &wasabi.secret_key,
            ),
            (
                WasabiKey::Read,
                "cleanup",
                &wasabi.read_access_key,
                &wasabi.read_secret_key,
            ),
        ] {
            let name = key.default_secret_name();
            secrets
                .create_secret()
                .name(name)
                .secret_string(
                    serde_json::json!({"WASABI_ACCESS": access, "WASABI_SECRET": secret})
                        .to_string(),
                )
                .send()
                .await
                .with_context(|| format!("creating the Wasabi secret {name}"))?;
            wasabi_secrets.push((function, (key.secret_variable(), name.to_owned())));
        }
        let starter = Starter::create(&aws, DROPBOX).await?;
        let sfn = aws_sdk_sfn::Client::new(&aws);
        let definition = if options.fast_retries {
            fast_retries(DEFINITION)?
        } else {
            DEFINITION.to_owned()
        };
        let definition = substitute(&definition, &|name| {
            Some(format!(
                "arn:aws:lambda:{REGION}:123456789012:function:photopipe-{}",
                name.strip_suffix("FunctionArn")?.to_lowercase()
            ))
        })?;
        let state_machine_arn = sfn
            .create_state_machine()
            .name("photopipe")
            .definition(definition)
            .role_arn("arn:aws:iam::123456789012:role/photopipe-state-machine")
            .r#type(aws_sdk_sfn::types::StateMachineType::Standard)
            .send()
            .await
            .context("creating the state machine")?
            .state_machine_arn;
        let starter = starter.for_state_machine(sfn.clone(), state_machine_arn.clone());

        // The functions reach both S3 endpoints through fault injectors; the stack's own
        // clients (the tests' eyes) go straight to them.
        let aws_faults = FaultProxy::start(&moto.endpoint, 0x5eed_a115).await?;
        let wasabi_faults = FaultProxy::start(&wasabi.endpoint, 0x5eed_3a5a).await?;
        let common = [
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_ENDPOINT_URL", aws_faults.endpoint.clone()),
            (env::THUMBNAILS_BUCKET, THUMBNAILS.to_owned()),
            (env::WASABI_ENDPOINT, wasabi_faults.endpoint.clone()),
            (env::WASABI_REGION, settings.region.clone()),
            (env::WASABI_BUCKET, settings.bucket.clone()),
        ];
        let specs = FUNCTIONS
            .into_iter()
            .map(|name| {
                // The memory and timeout CDK deploys the function with.
                let size = contract::function_size(name)?;
                Ok(FunctionSpec {
                    name: format!("photopipe-{name}"),
                    binary: options.bin_dir.join(name),
                    env: common
                        .iter()
                        .chain(
                            wasabi_secrets
                                .iter()
                                .filter(|(function, _)| *function == name)
                                .map(|(_, variable)| variable),
                        )
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .chain(options.function_env.iter().cloned())
                        .collect(),
                    memory_mb: size.memory_mb,
                    timeout: size.timeout(),
                    instances: options.instances,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let host = LambdaHost::start(invoke_listener, specs, options.log_dir.clone()).await?;
        Ok(Self {
            s3,
            sfn,
            wasabi_s3,
            wasabi,
            aws_faults,
            wasabi_faults,
            state_machine_arn,
            starter,
            moto,
            host,
            _files: files,
        })
    }

    /// moto's own endpoint (every AWS service), for clients outside the stack: `up`'s
    /// `AWS_ENDPOINT_URL`. The functions reach it through [`Self::aws_faults`] instead.
    pub fn aws_endpoint(&self) -> &str {
        &self.moto.endpoint
    }

    /// Kills every process of `function` (`validate`, `thumbnail`, `archive` or `cleanup`)
    /// that is running an invocation, as a crash would; returns how many.
    pub fn crash(&self, function: &str) -> anyhow::Result<usize> {
        self.host.crash(&format!("photopipe-{function}"))
    }

    /// Every Lambda invocation that has ended so far, in the order they ended, as its
    /// `REPORT` line describes it (with its input payload).
    pub fn reports(&self) -> Vec<crate::lambda::InvocationReport> {
        self.host.reports()
    }

    /// Stops everything the stack started.
    pub async fn stop(self) {
        self.host.stop().await;
        self.aws_faults.stop().await;
        self.wasabi_faults.stop().await;
        self.wasabi.stop().await;
        self.moto.stop().await;
    }
}

async fn create_buckets(
    s3: &aws_sdk_s3::Client,
    wasabi: &aws_sdk_s3::Client,
) -> anyhow::Result<()> {
    for bucket in [DROPBOX, THUMBNAILS] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .with_context(|| format!("creating {bucket}"))?;
    }
    // Versioned, as on AWS: a removed original stays recoverable as a noncurrent version.
    s3.put_bucket_versioning()
        .bucket(DROPBOX)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await?;
    s3.put_bucket_notification_configuration()
        .bucket(DROPBOX)
        .notification_configuration(
            NotificationConfiguration::builder()
                .event_bridge_configuration(EventBridgeConfiguration::builder().build())
                .build(),
        )
        .send()
        .await?;
    wasabi
        .create_bucket()
        .bucket(ARCHIVE)
        .send()
        .await
        .context("creating the archive bucket at the Wasabi stand-in")?;
    Ok(())
}

/// The definition with every retrier's waits cut to `contract/settings.json`'s
/// `retries.fast` (1 s, growing to at most 2 s), as the CDK app's `fastRetries` does: the
/// same errors retried the same number of times, in seconds instead of minutes.
pub fn fast_retries(definition: &str) -> anyhow::Result<String> {
    let fast = contract::fast_retries()?;
    let mut asl: serde_json::Value = serde_json::from_str(definition)?;
    let states = asl["States"]
        .as_object_mut()
        .context("the definition has no States")?;
    for state in states.values_mut() {
        let retriers = state.get_mut("Retry").and_then(|r| r.as_array_mut());
        for retrier in retriers.into_iter().flatten() {
            retrier["IntervalSeconds"] = fast.interval_seconds.into();
            retrier["MaxDelaySeconds"] = fast.max_delay_seconds.into();
        }
    }
    Ok(serde_json::to_string_pretty(&asl)?)
}

/// Replaces every `${Name}` in an ASL definition; a placeholder without a value is an error.
pub fn substitute(
    definition: &str,
    value: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(definition.len());
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .context("unclosed ${ in the definition")?
            + start;
        let name = &rest[start + 2..end];
        out.push_str(&value(name).with_context(|| format!("no value for ${{{name}}}"))?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_retries_cut_every_wait_and_keep_every_attempt() {
        let original: serde_json::Value = serde_json::from_str(DEFINITION).expect("ASL");
        let fast: serde_json::Value =
            serde_json::from_str(&fast_retries(DEFINITION).expect("rewritten")).expect("JSON");
        assert_eq!(
            fast["States"]["Rejected"].get("Retry"),
            None,
            "states without retriers are left alone"
        );
        let mut retriers = 0;
        for (name, state) in original["States"].as_object().expect("States") {
            let before = state["Retry"].as_array().into_iter().flatten();
            let after = fast["States"][name]["Retry"]
                .as_array()
                .into_iter()
                .flatten();
            for (before, after) in before.zip(after) {
                retriers += 1;
                assert_eq!(after["ErrorEquals"], before["ErrorEquals"], "{name}");
                assert_eq!(after["MaxAttempts"], before["MaxAttempts"], "{name}");
                assert_eq!(after["BackoffRate"], before["BackoffRate"], "{name}");
                assert_eq!(
                    (&after["IntervalSeconds"], &after["MaxDelaySeconds"]),
                    (&1.into(), &2.into())
                );
            }
        }
        assert!(retriers >= 15, "{retriers} retriers");
    }
}
