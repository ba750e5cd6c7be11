//! The event that starts an execution (an EventBridge "Object Created" event from S3) and
//! the one place where its URL-encoded object key is decoded.

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::settings::PHOTOS_PREFIX;

/// An EventBridge event as Step Functions receives it (only the fields we read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCreatedEvent {
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub detail: ObjectCreatedDetail,
}

/// The `detail` of an S3 "Object Created" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCreatedDetail {
    pub bucket: EventBucket,
    pub object: EventObject,
}

/// `detail.bucket`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBucket {
    pub name: String,
}

/// `detail.object`: the key arrives URL-encoded (`red flower.jpg` as `red+flower.jpg`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventObject {
    pub key: String,
    #[serde(rename = "version-id", default)]
    pub version_id: Option<String>,
}

/// One exact object version in S3, with its key decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceObject {
    pub bucket: String,
    pub key: String,
    /// `None` for an unversioned bucket (S3 reports the version as `"null"` there).
    pub version_id: Option<String>,
}

impl ObjectCreatedEvent {
    /// The object this event is about, key decoded once, here.
    pub fn source_object(&self) -> Result<SourceObject> {
        if self.source != "aws.s3" || self.detail_type != "Object Created" {
            return Err(PipelineError::InvalidEvent(format!(
                "expected an aws.s3 \"Object Created\" event, got {} {:?}",
                self.source, self.detail_type
            )));
        }
        let key = decode_event_key(&self.detail.object.key)?;
        if !key.starts_with(PHOTOS_PREFIX) {
            return Err(PipelineError::InvalidEvent(format!(
                "object key {key:?} is not under {PHOTOS_PREFIX}"
            )));
        }
        let version_id = self
            .detail
            .object
            .version_id
            .clone()
            .filter(|v| !v.is_empty() && v != "null");
        Ok(SourceObject {
            bucket: self.detail.bucket.name.clone(),
            key,
            version_id,
        })
    }
}

/// Decodes an S3 event key: form-URL decoding, `+` is a space, then `%XX` escapes, UTF-8.
pub fn decode_event_key(encoded: &str) -> Result<String> {
    let plus_decoded = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_decoded)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| {
            PipelineError::InvalidEvent(format!("object key {encoded:?} does not decode to UTF-8"))
        })
}

/// Encodes a key the way S3 writes it into events (the inverse of [`decode_event_key`]):
/// unreserved characters and `/` stay, a space becomes `+`, everything else is `%XX`.
pub fn encode_event_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/')
        .remove(b' ');
    percent_encoding::utf8_percent_encode(key, KEEP)
        .to_string()
        .replace(' ', "+")
}

impl SourceObject {
    /// A key ending in `/` (`photos/` itself among them): what the S3 console's "Create
    /// folder" and sync tools write, an empty object standing for a folder.
    pub fn is_folder_key(&self) -> bool {
        self.key.ends_with('/')
    }

    /// The key below `photos/`, used to derive every output key.
    pub fn relative_key(&self) -> &str {
        self.key.strip_prefix(PHOTOS_PREFIX).unwrap_or(&self.key)
    }

    /// `s3://bucket/key?versionId=…`, for messages.
    pub fn describe(&self) -> String {
        match &self.version_id {
            Some(version) => format!("s3://{}/{}?versionId={version}", self.bucket, self.key),
            None => format!("s3://{}/{}", self.bucket, self.key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &str, version: Option<&str>) -> ObjectCreatedEvent {
        serde_json::from_value(serde_json::json!({
            "version": "0", "id": "e1", "detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "drop"},
                       "object": {"key": key, "size": 5, "version-id": version}}
        }))
        .expect("event parses")
    }

    #[test]
    fn decodes_keys_with_spaces_plus_percent_colon_and_non_ascii() {
        for key in [
            "photos/My Trip/a b.jpg",
            "photos/1+1=2.jpg",
            "photos/100% sure.png",
            "photos/12:30 lunch.jpg",
            "photos/été/Ærø ødø.webp",
        ] {
            let encoded = encode_event_key(key);
            assert!(!encoded.contains(' '), "{encoded}");
            let source = event(&encoded, Some("v1"))
                .source_object()
                .expect("valid event");
            assert_eq!(source.key, key);
            assert_eq!(source.version_id.as_deref(), Some("v1"));
        }
    }

    #[test]
    fn matches_the_encoding_aws_documents() {
        assert_eq!(
            encode_event_key("photos/red flower.jpg"),
            "photos/red+flower.jpg"
        );
        assert_eq!(
            decode_event_key("photos/a%2Bb+c.jpg"),
            Ok("photos/a+b c.jpg".into())
        );
    }

    #[test]
    fn null_version_means_unversioned() {
        let source = event("photos/a.jpg", Some("null"))
            .source_object()
            .expect("valid");
        assert_eq!(source.version_id, None);
    }

    #[test]
    fn rejects_keys_outside_photos_and_invalid_utf8() {
        let outside = event("rejected/a.jpg", None).source_object();
        assert!(matches!(outside, Err(PipelineError::InvalidEvent(_))));
        let bad = event("photos/%FF.jpg", None).source_object();
        assert!(matches!(bad, Err(PipelineError::InvalidEvent(_))));
    }

    #[test]
    fn folder_keys_are_recognised_photos_itself_among_them() {
        for (key, folder) in [
            ("photos/", true),
            ("photos/trip/", true),
            ("photos/a", false),
        ] {
            let source = event(key, None).source_object().expect("under photos/");
            assert_eq!(source.is_folder_key(), folder, "{key}");
        }
    }
}
