//! The one error type of the pipeline, and the single place where its Step Functions error
//! names are defined (`impl From<PipelineError> for Diagnostic`). The state machine's
//! `Retry` and `Catch` clauses name exactly the strings in [`PipelineError::error_name`].

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use lambda_runtime::Diagnostic;

/// Everything that can make a pipeline step fail. Each variant's Step Functions error name
/// is given once, on the variant (`strum(serialize)`); [`PipelineError::error_name`] and
/// [`PipelineError::NAMES`] both come from it, and `contract/errors.json` lists the same
/// names in the same order for the state machine and the CDK tests.
#[derive(
    Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr, strum::VariantNames,
)]
pub enum PipelineError {
    /// The input is not an image we accept, or breaks a limit: permanent, quarantined.
    #[strum(serialize = "Photo.InvalidImage")]
    #[error("{0}")]
    InvalidImage(String),
    /// A real image in a format we recognise but do not process (AVIF, TIFF, BMP, a HEIF
    /// coded with AV1 or JPEG): permanent, quarantined.
    #[strum(serialize = "Photo.UnsupportedFormat")]
    #[error("{0}")]
    UnsupportedFormat(String),
    /// The key leaves no room, within S3's 1024-byte limit, for the names derived from it
    /// (its thumbnails, its archive copy): permanent, quarantined under a name derived from
    /// its hash, with the full key in the reason.
    #[strum(serialize = "Photo.KeyTooLong")]
    #[error("{0}")]
    KeyTooLong(String),
    /// The event does not describe an object we can process (wrong source, bad key encoding).
    #[strum(serialize = "Photo.InvalidEvent")]
    #[error("{0}")]
    InvalidEvent(String),
    /// The source object version is gone before it was processed (deleted by someone).
    #[strum(serialize = "Photo.SourceMissing")]
    #[error("{0}")]
    SourceMissing(String),
    /// The key ends in `/`: a folder marker (the S3 console's "Create folder", a sync tool),
    /// not an upload. The run ends at once, successfully.
    #[strum(serialize = "Photo.FolderMarker")]
    #[error("{0}")]
    FolderMarker(String),
    /// A stored copy does not match the bytes it should hold: needs an operator.
    #[strum(serialize = "Photo.IntegrityMismatch")]
    #[error("{0}")]
    IntegrityMismatch(String),
    /// Cleanup found a precondition unmet (thumbnail or archive copy missing).
    #[strum(serialize = "Photo.NotVerified")]
    #[error("{0}")]
    NotVerified(String),
    /// The service refused our credentials or permissions (IAM propagation after a deploy
    /// shows up like this for a few seconds, so it is retried a few times).
    #[strum(serialize = "Photo.AccessDenied")]
    #[error("{0}")]
    AccessDenied(String),
    /// Throttling, 5xx, time-outs, connection failures: retried with backoff.
    #[strum(serialize = "Photo.Transient")]
    #[error("{0}")]
    Transient(String),
    /// A setting or the Wasabi secret is missing or malformed: fix it, then redrive.
    #[strum(serialize = "Photo.Configuration")]
    #[error("{0}")]
    Configuration(String),
    /// Our bug, not the photo's fault: an encoder or resize failure, a rendition not made.
    /// Never caught, so the photo is not quarantined and the run stays redrivable once the
    /// bug is fixed.
    #[strum(serialize = "Photo.Internal")]
    #[error("{0}")]
    Internal(String),
}

impl PipelineError {
    /// Every error name, in the order of the variants.
    pub const NAMES: &'static [&'static str] = <Self as strum::VariantNames>::VARIANTS;

    /// The stable error name that Step Functions and operators see.
    pub fn error_name(&self) -> &'static str {
        self.into()
    }

    /// Classifies a failed AWS SDK call by its modeled metadata (HTTP status and error code),
    /// never by message text. `what` names the call for the message, e.g.
    /// `"GetObject s3://bucket/key"`.
    pub fn from_sdk<E>(what: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err
            .raw_response()
            .map(|response| response.status().as_u16());
        let code = err.code().map(str::to_owned);
        let detail = match (&code, err.message()) {
            (Some(code), Some(msg)) => format!("{code}: {msg}"),
            (Some(code), None) => code.clone(),
            _ => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        };
        let message = format!("{what} failed: {detail}");
        match (&err, status) {
            (SdkError::ServiceError(_), Some(401 | 403)) => Self::AccessDenied(message),
            (SdkError::ServiceError(_), Some(status))
                if status == 429 || status >= 500 || code.as_deref().is_some_and(is_throttling) =>
            {
                Self::Transient(message)
            }
            // A multipart upload aborted under us (by another attempt sweeping what a killed
            // one left): starting over is safe.
            (SdkError::ServiceError(_), _) if code.as_deref() == Some("NoSuchUpload") => {
                Self::Transient(message)
            }
            (SdkError::ServiceError(_), _) if code.as_deref().is_some_and(is_credential_error) => {
                Self::AccessDenied(message)
            }
            (SdkError::ServiceError(_), _) => Self::Configuration(message),
            // Time-outs, dispatch failures, truncated responses: the request may not have
            // arrived or its answer got lost; running the step again is safe.
            _ => Self::Transient(message),
        }
    }
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "SlowDown" | "Throttling" | "ThrottlingException" | "RequestTimeout" | "TooManyRequests"
    )
}

fn is_credential_error(code: &str) -> bool {
    matches!(
        code,
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "AccessDenied"
    )
}

impl From<PipelineError> for Diagnostic {
    fn from(error: PipelineError) -> Self {
        Diagnostic {
            error_type: error.error_name().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Shorthand for results in the pipeline.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// `contract/errors.json`: every name with what the state machine does with it.
    fn contract() -> Vec<(String, String)> {
        let contract: serde_json::Value =
            serde_json::from_str(include_str!("../../../contract/errors.json"))
                .expect("contract/errors.json is JSON");
        contract["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| {
                let text = |field: &str| e[field].as_str().expect(field).to_owned();
                (text("name"), text("handling"))
            })
            .collect()
    }

    /// The state machine's states, by name.
    fn asl_states() -> serde_json::Map<String, serde_json::Value> {
        let asl: serde_json::Value =
            serde_json::from_str(include_str!("../../../statemachine/pipeline.asl.json"))
                .expect("ASL is JSON");
        asl["States"].as_object().expect("States").clone()
    }

    /// The error names of a state's `Retry` or `Catch` clauses, with the catch's `Next`.
    fn clauses(state: &serde_json::Value, clause: &str) -> Vec<(String, Option<String>)> {
        let mut names = Vec::new();
        for entry in state[clause].as_array().into_iter().flatten() {
            let next = entry["Next"].as_str().map(str::to_owned);
            for name in entry["ErrorEquals"].as_array().expect("ErrorEquals") {
                names.push((name.as_str().expect("name").to_owned(), next.clone()));
            }
        }
        names
    }

    #[test]
    fn the_enum_names_exactly_the_contract_errors_in_order() {
        let names: Vec<_> = contract().into_iter().map(|(name, _)| name).collect();
        assert_eq!(PipelineError::NAMES, names);
        let diagnostic = Diagnostic::from(PipelineError::InvalidImage("empty file".into()));
        assert_eq!(
            (
                diagnostic.error_type.as_str(),
                diagnostic.error_message.as_str()
            ),
            ("Photo.InvalidImage", "empty file")
        );
        assert_eq!(
            PipelineError::Internal(String::new()).error_name(),
            "Photo.Internal"
        );
    }

    #[test]
    fn the_state_machine_handles_each_error_as_the_contract_says() {
        let states = asl_states();
        let tasks: Vec<_> = states
            .iter()
            .filter(|(_, state)| state["Type"] == "Task")
            .collect();
        for (name, handling) in contract() {
            let retried_by =
                |task: &serde_json::Value| clauses(task, "Retry").iter().any(|(n, _)| *n == name);
            let caught_to = |task: &serde_json::Value| {
                clauses(task, "Catch")
                    .into_iter()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, next)| next)
            };
            for (task, state) in &tasks {
                let caught = caught_to(state);
                match handling.as_str() {
                    "retry" => assert!(
                        retried_by(state) && caught.is_none(),
                        "{task} must retry {name} and never catch it"
                    ),
                    "fail" => assert!(
                        !retried_by(state) && caught.is_none(),
                        "{task} must neither retry nor catch {name}"
                    ),
                    "succeed" => {
                        if let Some(next) = caught {
                            assert_eq!(states[&next]["Type"], "Succeed", "{task}: {name}");
                        }
                    }
                    "quarantine" => {
                        if let Some(next) = caught {
                            assert_eq!(next, "Quarantine", "{task}: {name}");
                        }
                    }
                    other => panic!("unknown handling {other:?} for {name}"),
                }
            }
            // The first two steps are the ones that look at the photo's bytes; validate is
            // the one that reads the event.
            for task in ["Validate", "Thumbnail"] {
                if handling == "quarantine" {
                    let caught = caught_to(&states[task]);
                    assert_eq!(caught.as_deref(), Some("Quarantine"), "{task}: {name}");
                }
            }
            if handling == "succeed" {
                assert!(
                    caught_to(&states["Validate"]).is_some(),
                    "Validate must catch {name}"
                );
            }
        }
    }

    /// A list of Lambda's own error names from `contract/errors.json`.
    fn lambda_errors(list: &str) -> Vec<String> {
        let contract: serde_json::Value =
            serde_json::from_str(include_str!("../../../contract/errors.json")).expect("JSON");
        contract[list]
            .as_array()
            .expect(list)
            .iter()
            .map(|n| n.as_str().expect("name").to_owned())
            .collect()
    }

    #[test]
    fn the_state_machine_names_only_contract_errors_and_lambda_errors() {
        let lambda = [
            lambda_errors("lambdaServiceErrors"),
            lambda_errors("lambdaCrashErrors"),
        ]
        .concat();
        for (task, state) in asl_states() {
            for clause in ["Retry", "Catch"] {
                for (name, _) in clauses(&state, clause) {
                    assert!(
                        PipelineError::NAMES.contains(&name.as_str()) || lambda.contains(&name),
                        "{task} names {name}, which is neither ours nor Lambda's"
                    );
                }
            }
        }
    }

    #[test]
    fn every_task_retries_lambda_errors_catches_none_and_has_a_timeout() {
        let lambda = [
            lambda_errors("lambdaServiceErrors"),
            lambda_errors("lambdaCrashErrors"),
        ]
        .concat();
        let functions: serde_json::Value =
            serde_json::from_str(include_str!("../../../contract/functions.json"))
                .expect("contract/functions.json is JSON");
        for (task, state) in asl_states() {
            if state["Type"] != "Task" {
                continue;
            }
            let retried: Vec<_> = clauses(&state, "Retry")
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            let caught: Vec<_> = clauses(&state, "Catch")
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            for name in &lambda {
                assert!(retried.contains(name), "{task} must retry {name}");
                assert!(!caught.contains(name), "{task} must not catch {name}");
            }
            // `${ArchiveFunctionArn}` invokes `archive` (`${CleanupFunctionArn}` serves both
            // Cleanup and Quarantine).
            let resource = state["Resource"].as_str().expect("Resource");
            let function = resource
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix("FunctionArn}"))
                .and_then(|name| {
                    let mut chars = name.chars();
                    let first = chars.next()?.to_ascii_lowercase();
                    Some(std::iter::once(first).chain(chars).collect::<String>())
                })
                .unwrap_or_else(|| panic!("{task} invokes {resource}, not a function"));
            let timeout = functions["functions"][&function]["timeoutSeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{task}: no timeoutSeconds for {function}"));
            assert!(
                state["TimeoutSeconds"]
                    .as_u64()
                    .is_some_and(|t| t > timeout),
                "{task} needs a TimeoutSeconds beyond {function}'s {timeout} s"
            );
        }
    }
}
