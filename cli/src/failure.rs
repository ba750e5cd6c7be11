//! Errors a person can act on. Every AWS call the CLI makes goes through [`ApiError::from_sdk`],
//! which sorts a failure by what the SDK models (the error code, the HTTP status, a
//! credentials error in the source chain), never by message text, into a [`Trouble`] with a
//! one-line hint: no credentials, expired credentials, access denied, throttled, wrong region,
//! stack not found, endpoint unreachable. `main` prints the message and the hint, never the
//! SDK's debug dump.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What went wrong, as far as the person running the command is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// No credentials were found (no profile, no environment, no SSO session).
    NoCredentials,
    /// The credentials were refused as unknown, malformed or expired.
    BadCredentials,
    /// The credentials are valid but the policy does not allow the call.
    AccessDenied,
    /// The API's rate was exceeded, even after the SDK's retries.
    Throttled,
    /// The resource lives in another region than the one the client used.
    WrongRegion,
    /// No CloudFormation stack of that name in this account and region.
    StackNotFound,
    /// The endpoint could not be reached at all (network, a local stack that is not up).
    Unreachable,
    /// Anything else: the service's own code and message are shown.
    Other,
}

impl Trouble {
    /// One line saying what to do about it.
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            Self::NoCredentials => {
                "no AWS credentials found: set AWS_PROFILE (or --profile), run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (for the local stack, the `export` lines `scripts/local up` prints)"
            }
            Self::BadCredentials => {
                "the credentials were refused (unknown or expired): refresh them (`aws sso login`, a new session token) or pick another --profile"
            }
            Self::AccessDenied => {
                "access denied: attach the stack's operator policy (output OperatorPolicyArn) to this identity, or use a profile that has it"
            }
            Self::Throttled => {
                "throttled by the API even after retries: wait a minute and run it again, with a narrower --since or fewer executions at once"
            }
            Self::WrongRegion => {
                "the resource is in another region: pass --region (or set AWS_REGION) to the region the stack is deployed in"
            }
            Self::StackNotFound => {
                "no such stack here: check --stack (default photopipe) and --region, or name the resources with --dropbox/--thumbnails/--state-machine-arn"
            }
            Self::Unreachable => {
                "the endpoint could not be reached: check the network, or that `scripts/local up` is running when AWS_ENDPOINT_URL points at it"
            }
            Self::Other => return None,
        })
    }
}

/// A failed AWS call, sorted for a person.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{call} failed: {summary}")]
pub struct ApiError {
    /// The call, e.g. `ListExecutions`.
    pub call: String,
    pub trouble: Trouble,
    /// The service's error code, when it answered.
    pub code: Option<String>,
    summary: String,
}

impl ApiError {
    /// Sorts a failed SDK call.
    pub fn from_sdk<E>(call: impl Into<String>, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let call = call.into();
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_owned);
        let trouble = match &err {
            SdkError::ServiceError(_) => by_code(code.as_deref(), status),
            _ if has_credentials_error(&err) => Trouble::NoCredentials,
            SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
                Trouble::Unreachable
            }
            SdkError::TimeoutError(_) => Trouble::Unreachable,
            _ => Trouble::Other,
        };
        let summary = match (&code, err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            // No answer from the service: the innermost cause says what happened
            // ("Connection refused"), without the SDK's layers around it.
            (None, _) => match trouble {
                Trouble::NoCredentials => "no credentials".to_owned(),
                Trouble::Unreachable => {
                    format!("could not reach the endpoint ({})", innermost(&err))
                }
                _ => innermost(&err),
            },
        };
        Self {
            call,
            trouble,
            code,
            summary,
        }
    }

    /// The same call, found to name a stack that does not exist (DescribeStacks answers
    /// `ValidationError` for a missing stack name, its only validation of a bare name).
    pub fn stack_not_found(mut self) -> Self {
        if self.code.as_deref() == Some("ValidationError") {
            self.trouble = Trouble::StackNotFound;
        }
        self
    }
}

fn by_code(code: Option<&str>, status: Option<u16>) -> Trouble {
    match code {
        Some(
            "ExpiredToken"
            | "ExpiredTokenException"
            | "RequestExpired"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "InvalidSignatureException",
        ) => Trouble::BadCredentials,
        Some("AccessDenied" | "AccessDeniedException") => Trouble::AccessDenied,
        Some(
            "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "SlowDown"
            | "RequestLimitExceeded",
        ) => Trouble::Throttled,
        Some(
            "PermanentRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException",
        ) => Trouble::WrongRegion,
        _ => match status {
            Some(403) => Trouble::AccessDenied,
            Some(429) => Trouble::Throttled,
            Some(301) => Trouble::WrongRegion,
            _ => Trouble::Other,
        },
    }
}

/// The deepest cause's message.
fn innermost(err: &(dyn StdError + 'static)) -> String {
    let mut deepest = err;
    while let Some(cause) = deepest.source() {
        deepest = cause;
    }
    deepest.to_string()
}

/// Whether a credentials provider's error is among the causes (none found, none loadable).
fn has_credentials_error(err: &(dyn StdError + 'static)) -> bool {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = cause {
        if current
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        cause = current.source();
    }
    false
}

/// The hint for the first [`ApiError`] in an error's chain, if it has one.
pub fn hint_for(err: &anyhow::Error) -> Option<&'static str> {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<ApiError>())
        .and_then(|api| api.trouble.hint())
}

/// Shorthand: `.map_err(api("ListExecutions"))`.
pub fn api<E>(call: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> ApiError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    move |err| ApiError::from_sdk(call, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::Client;
    use aws_sdk_sfn::error::ErrorMetadata;
    use aws_sdk_sfn::operation::list_executions::ListExecutionsError;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    async fn failing_with(code: &'static str) -> ApiError {
        let call = mock!(Client::list_executions)
            .sequence()
            .error(move || {
                ListExecutionsError::generic(
                    ErrorMetadata::builder()
                        .code(code)
                        .message("says the service")
                        .build(),
                )
            })
            .repeatedly()
            .build();
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&call]);
        let err = sfn
            .list_executions()
            .state_machine_arn("arn")
            .send()
            .await
            .expect_err("fails");
        ApiError::from_sdk("ListExecutions", err)
    }

    #[tokio::test]
    async fn service_errors_are_sorted_by_their_code() {
        for (code, trouble) in [
            ("AccessDeniedException", Trouble::AccessDenied),
            ("ThrottlingException", Trouble::Throttled),
            ("ExpiredTokenException", Trouble::BadCredentials),
            ("UnrecognizedClientException", Trouble::BadCredentials),
            ("InvalidArn", Trouble::Other),
        ] {
            let err = failing_with(code).await;
            assert_eq!(err.trouble, trouble, "{code}");
            assert_eq!(
                err.to_string(),
                format!("ListExecutions failed: {code}: says the service")
            );
            assert_eq!(err.trouble.hint().is_some(), trouble != Trouble::Other);
        }
    }

    #[tokio::test]
    async fn a_missing_stack_says_which_flags_to_check() {
        use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError;
        let call = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_error(|| {
            DescribeStacksError::generic(
                aws_sdk_cloudformation::error::ErrorMetadata::builder()
                    .code("ValidationError")
                    .message("Stack with id photopipe does not exist")
                    .build(),
            )
        });
        let cloudformation = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&call]);
        let mut deployment = crate::deployment::Deployment::from_config(
            &aws_config::SdkConfig::builder().build(),
            &crate::deployment::TargetArgs::default(),
        );
        let err = deployment
            .fill_from_stack(&cloudformation, "photopipe")
            .await
            .expect_err("no stack");
        let hint = hint_for(&err).expect("a hint");
        assert!(hint.contains("--stack"), "{hint}");
        assert!(format!("{err:#}").contains("finding stack photopipe"));
    }

    /// What the default chain does when it finds nothing.
    #[derive(Debug)]
    struct NoCredentials;

    impl aws_credential_types::provider::ProvideCredentials for NoCredentials {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                aws_credential_types::provider::error::CredentialsError::not_loaded(
                    "no providers in chain provided credentials",
                ),
            ))
        }
    }

    #[tokio::test]
    async fn no_credentials_is_told_apart_from_refused_ones() {
        let sfn = aws_sdk_sfn::Client::from_conf(
            aws_sdk_sfn::Config::builder()
                .region(aws_sdk_sfn::config::Region::new("eu-west-1"))
                .endpoint_url("http://127.0.0.1:9")
                .credentials_provider(NoCredentials)
                .build(),
        );
        let err = sfn
            .list_executions()
            .state_machine_arn("arn")
            .send()
            .await
            .expect_err("no credentials");
        let err = ApiError::from_sdk("ListExecutions", err);
        assert_eq!(err.trouble, Trouble::NoCredentials, "{err}");
    }
}
