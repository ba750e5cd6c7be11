//! The keys derived from an upload's: its thumbnails, its archive copy and its place in
//! quarantine, all outside the watched `photos/` prefix, and all within S3's 1024-byte key
//! limit or refused with `Photo.KeyTooLong` before anything is written.

use sha2::{Digest, Sha256};

use crate::error::{PipelineError, Result};
use crate::event::SourceObject;
use crate::settings::{QUARANTINE_PREFIX, Rendition};

/// S3's (and Wasabi's) limit on a key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// How many hex digits of the SHA-256 an archive key carries.
const ARCHIVE_HASH_DIGITS: usize = 16;

/// Where quarantined originals whose own key would be too long go, named by the key's hash.
const LONG_KEYS: &str = "long-keys/";

/// A rendition's key in the thumbnails bucket: `<label>/<path below photos/>.<ext>`, e.g.
/// `256x256/trip/a.jpg.jpg`. One key per path and rendition, so it shows the latest upload.
pub fn thumbnail_key(source: &SourceObject, rendition: &Rendition) -> Result<String> {
    fits(
        format!(
            "{}/{}.{}",
            rendition.label(),
            source.relative_key(),
            rendition.format.extension()
        ),
        source,
        "its thumbnail",
    )
}

/// The archive key of an original: its path below `photos/` with the first 16 hex digits of
/// its SHA-256 before the extension (`trip/a.jpg` → `trip/a.0123456789abcdef.jpg`). The key
/// is unique to the bytes, so two different photos never compete for one key, whatever the
/// provider does with `If-None-Match`: a write the provider lets through anyway can only
/// rewrite the same bytes.
pub fn archive_key(source: &SourceObject, sha256: &str) -> Result<String> {
    let relative = source.relative_key();
    let hash = sha256
        .get(..ARCHIVE_HASH_DIGITS)
        .ok_or_else(|| PipelineError::InvalidEvent(format!("{sha256:?} is not a SHA-256")))?;
    let name_start = relative.rfind('/').map_or(0, |slash| slash + 1);
    let key = match relative[name_start..].rfind('.') {
        Some(dot) if dot > 0 => {
            let dot = name_start + dot;
            format!("{}.{hash}{}", &relative[..dot], &relative[dot..])
        }
        _ => format!("{relative}.{hash}"),
    };
    fits(key, source, "its archive copy")
}

/// Where a rejected original goes, and where the JSON reason beside it goes:
/// `rejected/<path below photos/>~<version id>`, unique to the upload so two rejected files
/// with one name never overwrite each other. A key too long for that is kept as
/// `rejected/long-keys/<SHA-256 of the key>~<version id>`, the full key in its reason.
pub fn quarantine_keys(source: &SourceObject) -> (String, String) {
    let version = source.version_id.as_deref().unwrap_or("unversioned");
    let reason = |object: &str| format!("{object}.reason.json");
    let object = format!("{QUARANTINE_PREFIX}{}~{version}", source.relative_key());
    if reason(&object).len() <= MAX_KEY_BYTES {
        let reason = reason(&object);
        return (object, reason);
    }
    let hashed = hex::encode(Sha256::digest(source.key.as_bytes()));
    let object = format!("{QUARANTINE_PREFIX}{LONG_KEYS}{hashed}~{version}");
    (object.clone(), reason(&object))
}

/// `key` if S3 can store it, else `Photo.KeyTooLong` naming what it was for.
fn fits(key: String, source: &SourceObject, what: &str) -> Result<String> {
    if key.len() <= MAX_KEY_BYTES {
        return Ok(key);
    }
    Err(PipelineError::KeyTooLong(format!(
        "{} has a {}-byte key; the key of {what} would be {} bytes, over S3's limit of \
         {MAX_KEY_BYTES}: upload it under a shorter path (by {} bytes or more)",
        source.describe(),
        source.key.len(),
        key.len(),
        key.len() - MAX_KEY_BYTES
    )))
}

/// Percent-encodes a key for an ASCII-only metadata value or a copy source.
pub fn encode_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::tests::source;

    fn photo(key: &str) -> crate::model::Photo {
        crate::testing::photo(key, b"bytes")
    }

    fn archive_key_of(photo: &crate::model::Photo) -> Result<String> {
        archive_key(&photo.source, &photo.sha256)
    }

    #[test]
    fn derived_keys_stay_outside_photos() {
        let src = source(Some("v1"));
        assert_eq!(
            thumbnail_key(&src, &Rendition::default()),
            Ok("256x256/a b.jpg.jpg".into())
        );
        assert_eq!(
            quarantine_keys(&src),
            (
                "rejected/a b.jpg~v1".into(),
                "rejected/a b.jpg~v1.reason.json".into()
            )
        );
        assert_eq!(
            encode_key("photos/été 1.jpg"),
            "photos/%C3%A9t%C3%A9%201.jpg"
        );
    }

    #[test]
    fn archive_keys_carry_the_hash_before_the_extension() {
        let hash = &photo("photos/x").sha256[..16];
        for (key, expected) in [
            ("photos/trip/a.jpg", format!("trip/a.{hash}.jpg")),
            ("photos/trip.d/README", format!("trip.d/README.{hash}")),
            ("photos/.hidden", format!(".hidden.{hash}")),
            ("photos/a.tar.gz", format!("a.tar.{hash}.gz")),
        ] {
            assert_eq!(archive_key_of(&photo(key)), Ok(expected), "{key}");
        }
        let other = crate::testing::photo("photos/trip/a.jpg", b"other bytes");
        assert_ne!(
            archive_key_of(&other),
            archive_key_of(&photo("photos/trip/a.jpg"))
        );
    }

    #[test]
    fn two_versions_of_one_name_are_quarantined_apart() {
        let first = quarantine_keys(&source(Some("v1")));
        let second = quarantine_keys(&source(Some("v2")));
        assert_ne!(first.0, second.0);
        assert_ne!(first.1, second.1);
    }

    #[test]
    fn keys_at_s3s_limit_are_refused_by_name_or_kept_under_their_hash() {
        // A 1024-byte key: valid in S3, but its derived keys cannot be.
        let long = format!("photos/{}.jpg", "é".repeat(505));
        assert_eq!(long.len(), MAX_KEY_BYTES - 3);
        let err = archive_key_of(&photo(&long)).expect_err("too long");
        assert_eq!(err.error_name(), "Photo.KeyTooLong");
        assert!(err.to_string().contains("shorter path"), "{err}");
        let source = SourceObject {
            key: long.clone(),
            ..source(Some("v1"))
        };
        let err = thumbnail_key(&source, &Rendition::default()).expect_err("too long");
        assert_eq!(err.error_name(), "Photo.KeyTooLong");
        let (object, reason) = quarantine_keys(&source);
        assert!(object.starts_with("rejected/long-keys/"), "{object}");
        assert!(object.ends_with("~v1"), "{object}");
        assert!(reason.len() <= MAX_KEY_BYTES);
        // Just under the limit, every derived key fits.
        let fitting = format!("photos/{}.jpg", "a".repeat(MAX_KEY_BYTES - 17 - 4));
        let key = archive_key_of(&photo(&fitting)).expect("fits");
        assert_eq!(key.len(), MAX_KEY_BYTES);
    }
}
