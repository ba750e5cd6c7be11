//! The typed records that travel between states. They carry S3 references and checksums,
//! never image bytes (a state payload is limited to 256 KiB).

use serde::{Deserialize, Serialize};

use crate::event::{ObjectCreatedEvent, SourceObject};
use crate::format::ImageFormat;

/// The validate step's input: the EventBridge event that started the execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateRequest {
    pub event: ObjectCreatedEvent,
}

/// The input of the thumbnail and archive steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRequest {
    pub photo: Photo,
}

/// What validate learned about an accepted original (the `$.photo` of the state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    #[serde(flatten)]
    pub source: SourceObject,
    /// The ETag of the version read, to recognise it in an unversioned bucket.
    pub etag: String,
    pub size: u64,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    /// Lower-case hex SHA-256 of the original's bytes.
    pub sha256: String,
}

/// What the thumbnail step did for one rendition (`$.thumbnails` lists them, in the order
/// they are configured): made it, or skipped it, saying why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RenditionOutcome {
    Made(ThumbnailRecord),
    /// Not made, and nothing written for it: the original's decode does not fit in the
    /// function's memory.
    Skipped {
        /// The rendition's canonical spec, e.g. `256x256:fit:jpeg:q80`.
        rendition: String,
        /// Why, for a person: what the decode needs, what the function has, what to do.
        skipped: String,
    },
}

/// One rendition written by the thumbnail step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailRecord {
    pub bucket: String,
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// The verified copy at the archive (`$.archive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRecord {
    pub bucket: String,
    pub key: String,
    pub sha256: String,
    pub size: u64,
}

/// An error as a Step Functions `Catch` records it under `ResultPath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl CaughtError {
    /// The human message inside the cause (see [`lambda_error_message`]).
    pub fn message(&self) -> String {
        lambda_error_message(&self.cause)
    }
}

/// A Lambda error's `Cause`, as Step Functions records it, is the JSON
/// `{"errorType", "errorMessage"}`: this is the message; any other cause is kept whole.
pub fn lambda_error_message(cause: &str) -> String {
    #[derive(Deserialize)]
    struct LambdaCause {
        #[serde(rename = "errorMessage")]
        error_message: String,
    }
    serde_json::from_str::<LambdaCause>(cause)
        .map_or_else(|_| cause.to_owned(), |c| c.error_message)
}

/// The cleanup function's two jobs: remove an archived original, or move a rejected one to
/// quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CleanupRequest {
    Cleanup {
        photo: Photo,
        thumbnails: Vec<RenditionOutcome>,
        archive: ArchiveRecord,
    },
    Quarantine {
        /// The execution's input (`$$.Execution.Input`): the key is decoded by the same
        /// function validate uses.
        event: ObjectCreatedEvent,
        error: CaughtError,
    },
}

/// What the cleanup function did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupOutcome {
    pub result: CleanupResult,
    /// Where the quarantined original and its reason are, for quarantine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine_key: Option<String>,
}

/// The cleanup function's result (`$.cleanup.result` or `$.quarantine.result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanupResult {
    /// The archived original is removed from `photos/` (a delete marker).
    Removed,
    /// It was gone from `photos/` already (an earlier attempt's delete marker, or its
    /// owner's).
    AlreadyRemoved,
    /// A newer upload now holds its key: this version, archived and tagged, is left as a
    /// noncurrent version for the lifecycle rule, and the newer one is untouched.
    Superseded,
    /// The rejected original is in quarantine with its reason.
    Quarantined,
    /// An earlier attempt quarantined it.
    AlreadyQuarantined,
    /// The rejected original was deleted before it could be quarantined.
    SourceGone,
}

/// The JSON written beside a quarantined original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineReason {
    pub source_bucket: String,
    pub source_key: String,
    pub source_version_id: Option<String>,
    pub error: String,
    pub cause: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_read_out_of_a_lambda_cause() {
        assert_eq!(
            lambda_error_message(
                r#"{"errorType":"Photo.InvalidImage","errorMessage":"empty file"}"#
            ),
            "empty file"
        );
        assert_eq!(lambda_error_message("plain"), "plain");
    }

    #[test]
    fn a_rendition_outcome_is_a_made_record_or_a_skipped_one_on_the_wire() {
        let made = serde_json::json!({
            "bucket": "thumbs", "key": "256x256/a.jpg.jpg", "width": 256, "height": 192, "bytes": 9
        });
        let skipped = serde_json::json!({
            "rendition": "256x256:fit:jpeg:q80", "skipped": "needs more memory"
        });
        let outcomes: Vec<RenditionOutcome> =
            serde_json::from_value(serde_json::json!([made, skipped])).expect("outcomes");
        assert_eq!(
            outcomes,
            [
                RenditionOutcome::Made(ThumbnailRecord {
                    bucket: "thumbs".into(),
                    key: "256x256/a.jpg.jpg".into(),
                    width: 256,
                    height: 192,
                    bytes: 9,
                }),
                RenditionOutcome::Skipped {
                    rendition: "256x256:fit:jpeg:q80".into(),
                    skipped: "needs more memory".into(),
                },
            ]
        );
        assert_eq!(
            serde_json::to_value(&outcomes).expect("serialises"),
            serde_json::json!([made, skipped])
        );
    }

    #[test]
    fn cleanup_results_keep_their_wire_names() {
        let outcome = CleanupOutcome {
            result: CleanupResult::AlreadyQuarantined,
            quarantine_key: None,
        };
        assert_eq!(
            serde_json::to_value(&outcome).expect("serialises"),
            serde_json::json!({"result": "already_quarantined"})
        );
    }
}
