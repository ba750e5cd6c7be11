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
/// Percent-encoded: metadata values must be ASCII.
pub const SOURCE_KEY: &str = "source-key";
pub const SOURCE_VERSION_ID: &str = "source-version-id";
/// The rendition spec a thumbnail was made with (`256x256:fit:jpeg:q80`).
pub const RENDITION: &str = "rendition";
pub const WIDTH: &str = "width";
pub const HEIGHT: &str = "height";

/// Where an output came from: the source bucket, key (percent-encoded) and version.
pub fn source(source: &SourceObject) -> HashMap<String, String> {
    let mut metadata = HashMap::from([
        (SOURCE_BUCKET.to_owned(), source.bucket.clone()),
        (SOURCE_KEY.to_owned(), encode_key(&source.key)),
    ]);
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
}
