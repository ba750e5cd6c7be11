//! Fixtures for the functions' unit tests (feature `testing`, dev-dependencies only).

use crate::event::SourceObject;
use crate::format::ImageFormat;
use crate::model::Photo;
use crate::s3::sha256_hex;

/// What validate would record for `bytes` uploaded as version `v1` of `key` in bucket
/// `drop` (format and dimensions are placeholders: the steps after validate do not read
/// them).
pub fn photo(key: &str, bytes: &[u8]) -> Photo {
    Photo {
        source: SourceObject {
            bucket: "drop".into(),
            key: key.into(),
            version_id: Some("v1".into()),
        },
        etag: "\"e\"".into(),
        size: bytes.len() as u64,
        format: ImageFormat::Jpeg,
        width: 1,
        height: 1,
        sha256: sha256_hex(bytes),
    }
}
