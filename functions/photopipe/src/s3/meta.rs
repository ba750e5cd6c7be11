//! The user metadata we write on outputs (S3 stores it as `x-amz-meta-*`): which original a
//! thumbnail or archive copy was made from, and how.

use std::collections::HashMap;

use aws_sdk_s3::operation::head_object::HeadObjectOutput;

use crate::event::SourceObject;
use crate::s3::encode_key;

/// On an archive copy: the SHA-256 of its bytes (the original's).
pub const SHA256: &str = "sha256";
/// On a thumbnail: the SHA-256 of the original it was made from.
pub const SOURCE_SHA256: &str = "source-sha256";
pub const SOURCE_BUCKET: &str = "source-bucket";
/// Percent-encoded (metadata values must be ASCII), and cut to [`SOURCE_KEY_BUDGET`] bytes.
pub const SOURCE_KEY: &str = "source-key";
/// Present (`true`) when [`SOURCE_KEY`] had to be cut short.
pub const SOURCE_KEY_TRUNCATED: &str = "source-key-truncated";
pub const SOURCE_VERSION_ID: &str = "source-version-id";
/// The rendition spec a thumbnail was made with (`256x256:fit:jpeg:q80`).
pub const RENDITION: &str = "rendition";
pub const WIDTH: &str = "width";
pub const HEIGHT: &str = "height";

/// S3 allows 2 KB of user metadata (names and values together); a percent-encoded key can
/// take 9 bytes per CJK character, so the key gets at most this much and the other fields
/// (under 400 bytes together) the rest.
pub const SOURCE_KEY_BUDGET: usize = 1536;

/// Where an output came from: the source bucket, key (percent-encoded, cut short to fit
/// S3's metadata limit, which the exact version ID and the checksum make harmless) and
/// version.
pub fn source(source: &SourceObject) -> HashMap<String, String> {
    let mut key = encode_key(&source.key);
    let mut metadata = HashMap::from([(SOURCE_BUCKET.to_owned(), source.bucket.clone())]);
    if key.len() > SOURCE_KEY_BUDGET {
        // Cut before an escape rather than through one.
        let mut end = SOURCE_KEY_BUDGET;
        while key.as_bytes()[end - 2..end].contains(&b'%') {
            end -= 1;
        }
        key.truncate(end);
        metadata.insert(SOURCE_KEY_TRUNCATED.to_owned(), "true".to_owned());
    }
    metadata.insert(SOURCE_KEY.to_owned(), key);
    if let Some(version) = &source.version_id {
        metadata.insert(SOURCE_VERSION_ID.to_owned(), version.clone());
    }
    metadata
}

/// A user-metadata value of a HeadObject answer.
pub fn get<'a>(head: &'a HeadObjectOutput, name: &str) -> Option<&'a str> {
    head.metadata()
        .and_then(|m| m.get(name))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_metadata_is_ascii_and_names_the_exact_version() {
        let object = SourceObject {
            bucket: "drop".into(),
            key: "photos/été 1.jpg".into(),
            version_id: Some("v1".into()),
        };
        let metadata = source(&object);
        assert_eq!(metadata[SOURCE_KEY], "photos/%C3%A9t%C3%A9%201.jpg");
        assert_eq!(metadata[SOURCE_BUCKET], "drop");
        assert_eq!(metadata[SOURCE_VERSION_ID], "v1");
        let unversioned = SourceObject {
            version_id: None,
            ..object
        };
        assert!(!source(&unversioned).contains_key(SOURCE_VERSION_ID));
    }

    #[test]
    fn a_long_non_ascii_key_is_cut_to_fit_s3s_metadata_limit() {
        // 340 CJK characters: a 1027-byte key whose percent-encoding is 3067 bytes.
        let object = SourceObject {
            bucket: "drop".into(),
            key: format!("photos/{}", "写".repeat(340)),
            version_id: Some("v1".into()),
        };
        let metadata = source(&object);
        let total: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(total + 400 <= 2048, "{total} bytes");
        let key = &metadata[SOURCE_KEY];
        assert!(key.len() <= SOURCE_KEY_BUDGET && key.len() > SOURCE_KEY_BUDGET - 3);
        assert!(
            key.rsplit('%').next().is_some_and(|last| last.len() == 2),
            "{key}"
        );
        assert_eq!(metadata[SOURCE_KEY_TRUNCATED], "true");
        let short = source(&SourceObject {
            key: "photos/a.jpg".into(),
            ..object
        });
        assert!(!short.contains_key(SOURCE_KEY_TRUNCATED));
    }
}
