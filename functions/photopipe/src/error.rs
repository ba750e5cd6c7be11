//! The one error type of the pipeline, and the single place where its Step Functions error
//! names are defined (`impl From<PipelineError> for Diagnostic`). The state machine's
//! `Retry` and `Catch` clauses name exactly the strings in [`PipelineError::error_name`].

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use lambda_runtime::Diagnostic;

/// Everything that can make a pipeline step fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// The input is not an image we accept, or breaks a limit: permanent, quarantined.
    #[error("{0}")]
    InvalidImage(String),
    /// A real image in a format we recognise but do not process (HEIC, TIFF, …): permanent,
    /// quarantined.
    #[error("{0}")]
    UnsupportedFormat(String),
    /// The event does not describe an object we can process (wrong source, bad key encoding).
    #[error("{0}")]
    InvalidEvent(String),
    /// The source object version is gone before it was processed (deleted by someone).
    #[error("{0}")]
    SourceMissing(String),
    /// A stored copy does not match the bytes it should hold: needs an operator.
    #[error("{0}")]
    IntegrityMismatch(String),
    /// Cleanup found a precondition unmet (thumbnail or archive copy missing).
    #[error("{0}")]
    NotVerified(String),
    /// The service refused our credentials or permissions (IAM propagation after a deploy
    /// shows up like this for a few seconds, so it is retried a few times).
    #[error("{0}")]
    AccessDenied(String),
    /// Throttling, 5xx, time-outs, connection failures: retried with backoff.
    #[error("{0}")]
    Transient(String),
    /// A setting or the Wasabi secret is missing or malformed: fix it, then redrive.
    #[error("{0}")]
    Configuration(String),
}

impl PipelineError {
    /// The stable error name that Step Functions and operators see.
    pub fn error_name(&self) -> &'static str {
        match self {
            Self::InvalidImage(_) => "Photo.InvalidImage",
            Self::UnsupportedFormat(_) => "Photo.UnsupportedFormat",
            Self::InvalidEvent(_) => "Photo.InvalidEvent",
            Self::SourceMissing(_) => "Photo.SourceMissing",
            Self::IntegrityMismatch(_) => "Photo.IntegrityMismatch",
            Self::NotVerified(_) => "Photo.NotVerified",
            Self::AccessDenied(_) => "Photo.AccessDenied",
            Self::Transient(_) => "Photo.Transient",
            Self::Configuration(_) => "Photo.Configuration",
        }
    }

    /// Every error name, for the check that the state machine names nothing else.
    pub const ALL_NAMES: [&'static str; 9] = [
        "Photo.InvalidImage",
        "Photo.UnsupportedFormat",
        "Photo.InvalidEvent",
        "Photo.SourceMissing",
        "Photo.IntegrityMismatch",
        "Photo.NotVerified",
        "Photo.AccessDenied",
        "Photo.Transient",
        "Photo.Configuration",
    ];

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

    /// Every `ErrorEquals` entry of the state machine.
    fn asl_error_names() -> Vec<String> {
        let asl: serde_json::Value =
            serde_json::from_str(include_str!("../../../statemachine/pipeline.asl.json"))
                .expect("ASL is JSON");
        let mut names = Vec::new();
        for state in asl["States"].as_object().expect("States").values() {
            for clause in ["Retry", "Catch"] {
                for entry in state[clause].as_array().into_iter().flatten() {
                    for name in entry["ErrorEquals"].as_array().expect("ErrorEquals") {
                        names.push(name.as_str().expect("name").to_owned());
                    }
                }
            }
        }
        names
    }

    #[test]
    fn the_state_machine_names_only_errors_we_raise() {
        let names = asl_error_names();
        for name in names.iter().filter(|n| n.starts_with("Photo.")) {
            assert!(
                PipelineError::ALL_NAMES.contains(&name.as_str()),
                "{name} is not a PipelineError"
            );
        }
        for name in names.iter().filter(|n| !n.starts_with("Photo.")) {
            assert!(
                name.starts_with("Lambda."),
                "{name}: only our errors and Lambda service errors are named"
            );
        }
        for expected in [
            "Photo.Transient",
            "Photo.InvalidImage",
            "Photo.UnsupportedFormat",
            "Photo.SourceMissing",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "the state machine never handles {expected}"
            );
        }
    }

    #[test]
    fn every_variant_has_a_listed_distinct_name() {
        let message = String::new;
        let variants = [
            PipelineError::InvalidImage(message()),
            PipelineError::UnsupportedFormat(message()),
            PipelineError::InvalidEvent(message()),
            PipelineError::SourceMissing(message()),
            PipelineError::IntegrityMismatch(message()),
            PipelineError::NotVerified(message()),
            PipelineError::AccessDenied(message()),
            PipelineError::Transient(message()),
            PipelineError::Configuration(message()),
        ];
        let names: Vec<_> = variants.iter().map(PipelineError::error_name).collect();
        assert_eq!(names, PipelineError::ALL_NAMES);
        let diagnostic = Diagnostic::from(PipelineError::InvalidImage("empty file".into()));
        assert_eq!(
            (
                diagnostic.error_type.as_str(),
                diagnostic.error_message.as_str()
            ),
            ("Photo.InvalidImage", "empty file")
        );
    }
}
