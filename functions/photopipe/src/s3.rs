//! S3 helpers shared by the steps: reading an exact object version, existence checks,
//! conditional writes, streaming checksums, the derived output keys, and removing an
//! original from the dropbox without ever touching a newer upload.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};

use crate::error::{PipelineError, Result};
use crate::event::SourceObject;
use crate::settings::{InputLimits, QUARANTINE_PREFIX, Rendition};

/// Metadata names we write on outputs (S3 stores them as `x-amz-meta-*`).
pub mod meta {
    pub const SHA256: &str = "sha256";
    pub const SOURCE_SHA256: &str = "source-sha256";
    pub const SOURCE_BUCKET: &str = "source-bucket";
    /// Percent-encoded: metadata values must be ASCII.
    pub const SOURCE_KEY: &str = "source-key";
    pub const SOURCE_VERSION_ID: &str = "source-version-id";
    /// The rendition spec a thumbnail was made with (`256x256:fit:jpeg:q80`).
    pub const RENDITION: &str = "rendition";
    pub const WIDTH: &str = "width";
    pub const HEIGHT: &str = "height";
}

/// A rendition's key in the thumbnails bucket: `<label>/<path below photos/>.<ext>`, e.g.
/// `256x256/trip/a.jpg.jpg`.
pub fn thumbnail_key(source: &SourceObject, rendition: &Rendition) -> String {
    format!(
        "{}/{}.{}",
        rendition.label(),
        source.relative_key(),
        rendition.format.extension()
    )
}

/// Where a rejected original goes, and where the JSON reason beside it goes.
pub fn quarantine_keys(source: &SourceObject) -> (String, String) {
    let object = format!("{QUARANTINE_PREFIX}{}", source.relative_key());
    let reason = format!("{object}.reason.json");
    (object, reason)
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

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Base64 of a hex SHA-256, as `x-amz-checksum-sha256` wants it.
pub fn sha256_base64(hex_digest: &str) -> Result<String> {
    use base64::Engine;
    let raw = hex::decode(hex_digest)
        .map_err(|_| PipelineError::InvalidEvent(format!("{hex_digest:?} is not a hex SHA-256")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// An original read whole: its bytes, ETag and the version that was read.
#[derive(Debug)]
pub struct Original {
    pub bytes: bytes::Bytes,
    pub etag: String,
    pub version_id: Option<String>,
}

/// Reads one exact version of an original, refusing to download one that is empty or over
/// the byte limit. Returns `Photo.SourceMissing` when the version is gone.
pub async fn read_original(
    client: &Client,
    source: &SourceObject,
    limits: &InputLimits,
) -> Result<Original> {
    let output = get_source(client, source).await?;
    limits.check_size(output.content_length().unwrap_or(0).max(0) as u64)?;
    let etag = output.e_tag().unwrap_or_default().to_owned();
    let version_id = output
        .version_id()
        .filter(|v| *v != "null")
        .map(str::to_owned);
    let bytes = output
        .body
        .collect()
        .await
        .map_err(|e| {
            PipelineError::Transient(format!("reading {} failed: {e}", source.describe()))
        })?
        .into_bytes();
    Ok(Original {
        bytes,
        etag,
        version_id,
    })
}

/// Starts a GetObject of one exact version (the body is left for the caller to stream).
pub async fn get_source(
    client: &Client,
    source: &SourceObject,
) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput> {
    client
        .get_object()
        .bucket(&source.bucket)
        .key(&source.key)
        .set_version_id(source.version_id.clone())
        .send()
        .await
        .map_err(|err| {
            let missing = err.as_service_error().is_some_and(|e| e.is_no_such_key())
                || err.code() == Some("NoSuchVersion")
                || err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 404);
            if missing {
                PipelineError::SourceMissing(format!("{} no longer exists", source.describe()))
            } else {
                PipelineError::from_sdk(&format!("GetObject {}", source.describe()), err)
            }
        })
}

/// HeadObject of one exact version, `None` when it is gone.
pub async fn head_source(
    client: &Client,
    source: &SourceObject,
) -> Result<Option<HeadObjectOutput>> {
    let request = client
        .head_object()
        .bucket(&source.bucket)
        .key(&source.key)
        .set_version_id(source.version_id.clone());
    match request.send().await {
        Ok(output) => Ok(Some(output)),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(err) => Err(PipelineError::from_sdk(
            &format!("HeadObject {}", source.describe()),
            err,
        )),
    }
}

/// HeadObject that answers `None` for a missing object.
pub async fn head(client: &Client, bucket: &str, key: &str) -> Result<Option<HeadObjectOutput>> {
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(output) => Ok(Some(output)),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(err) => Err(PipelineError::from_sdk(
            &format!("HeadObject s3://{bucket}/{key}"),
            err,
        )),
    }
}

/// A user-metadata value of a HeadObject answer.
pub fn metadata<'a>(head: &'a HeadObjectOutput, name: &str) -> Option<&'a str> {
    head.metadata()
        .and_then(|m| m.get(name))
        .map(String::as_str)
}

/// Streams an object and returns its SHA-256 (hex) and length without holding it whole;
/// `None` when there is no such object.
pub async fn stream_sha256(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(String, u64)>> {
    let output = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(output) => output,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
        Err(err) => {
            return Err(PipelineError::from_sdk(
                &format!("GetObject s3://{bucket}/{key}"),
                err,
            ));
        }
    };
    hash_stream(output.body, &format!("s3://{bucket}/{key}"))
        .await
        .map(Some)
}

/// Reads a stored copy back and checks that it holds exactly `size` bytes with SHA-256
/// `sha256`: `Photo.NotVerified` when it is missing, `Photo.IntegrityMismatch` when it differs.
pub async fn verify_copy(
    client: &Client,
    bucket: &str,
    key: &str,
    sha256: &str,
    size: u64,
) -> Result<()> {
    let Some((actual, length)) = stream_sha256(client, bucket, key).await? else {
        return Err(PipelineError::NotVerified(format!(
            "{bucket}/{key} is missing"
        )));
    };
    if actual != sha256 || length != size {
        return Err(PipelineError::IntegrityMismatch(format!(
            "{bucket}/{key} holds {length} bytes with SHA-256 {actual}, expected {size} bytes with {sha256}"
        )));
    }
    Ok(())
}

async fn hash_stream(mut body: ByteStream, what: &str) -> Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut length = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| PipelineError::Transient(format!("reading {what} failed: {e}")))?
    {
        length += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((hex::encode(hasher.finalize()), length))
}

/// True when a conditional write lost to an object that already exists
/// (`If-None-Match: *` answered 412 PreconditionFailed, or 409 from a concurrent write).
pub fn lost_conditional_write<E: ProvideErrorMetadata>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    err.code() == Some("PreconditionFailed")
        || err.code() == Some("ConditionalRequestConflict")
        || err
            .raw_response()
            .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412))
}

/// What [`remove_original`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    AlreadyGone,
}

/// Removes an original from the dropbox listing, but only if the object now under its key is
/// still the version we processed: a newer upload under the same key is never touched. In a
/// versioned dropbox this writes a delete marker, so the original stays recoverable as a
/// noncurrent version until the bucket's lifecycle rule expires it.
pub async fn remove_original(
    client: &Client,
    source: &SourceObject,
    etag: &str,
) -> Result<Removal> {
    let Some(current) = head(client, &source.bucket, &source.key).await? else {
        return Ok(Removal::AlreadyGone);
    };
    let ours = match (&source.version_id, current.version_id()) {
        (Some(ours), Some(current)) => ours == current,
        _ => current.e_tag() == Some(etag),
    };
    if !ours {
        return Ok(Removal::AlreadyGone);
    }
    client
        .delete_object()
        .bucket(&source.bucket)
        .key(&source.key)
        .send()
        .await
        .map_err(|err| {
            PipelineError::from_sdk(&format!("DeleteObject {}", source.describe()), err)
        })?;
    Ok(Removal::Removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
    use aws_sdk_s3::operation::head_object::HeadObjectError;
    use aws_sdk_s3::types::error::{NoSuchKey, NotFound};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn limit(max_bytes: u64) -> InputLimits {
        InputLimits {
            max_bytes,
            ..InputLimits::default()
        }
    }

    fn source(version: Option<&str>) -> SourceObject {
        SourceObject {
            bucket: "drop".into(),
            key: "photos/a b.jpg".into(),
            version_id: version.map(str::to_owned),
        }
    }

    #[test]
    fn derived_keys_stay_outside_photos() {
        let src = source(None);
        assert_eq!(
            thumbnail_key(&src, &Rendition::default()),
            "256x256/a b.jpg.jpg"
        );
        assert_eq!(
            quarantine_keys(&src),
            (
                "rejected/a b.jpg".into(),
                "rejected/a b.jpg.reason.json".into()
            )
        );
        assert_eq!(
            encode_key("photos/été 1.jpg"),
            "photos/%C3%A9t%C3%A9%201.jpg"
        );
    }

    #[tokio::test]
    async fn read_original_asks_for_the_exact_version_and_hashes_nothing_else() {
        let get = mock!(Client::get_object)
            .match_requests(|r| r.version_id() == Some("v1") && r.key() == Some("photos/a b.jpg"))
            .then_output(|| {
                GetObjectOutput::builder()
                    .content_length(5)
                    .e_tag("\"etag\"")
                    .body(ByteStream::from_static(b"hello"))
                    .build()
            });
        let client = mock_client!(aws_sdk_s3, [&get]);
        let original = read_original(&client, &source(Some("v1")), &limit(100))
            .await
            .expect("read");
        assert_eq!(&original.bytes[..], b"hello");
        assert_eq!(original.etag, "\"etag\"");
        assert_eq!(get.num_calls(), 1);
    }

    #[tokio::test]
    async fn read_original_refuses_oversized_objects_before_downloading() {
        let get = mock!(Client::get_object).then_output(|| {
            GetObjectOutput::builder()
                .content_length(1000)
                .body(ByteStream::from_static(b"x"))
                .build()
        });
        let client = mock_client!(aws_sdk_s3, [&get]);
        let err = read_original(&client, &source(None), &limit(100))
            .await
            .expect_err("too big");
        assert_eq!(
            err,
            PipelineError::InvalidImage("file is 1000 bytes, limit 100 bytes".into())
        );
    }

    #[tokio::test]
    async fn a_missing_source_is_source_missing() {
        let get = mock!(Client::get_object)
            .then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()));
        let client = mock_client!(aws_sdk_s3, [&get]);
        let err = read_original(&client, &source(Some("v1")), &limit(100))
            .await
            .expect_err("missing");
        assert_eq!(err.error_name(), "Photo.SourceMissing");
    }

    #[tokio::test]
    async fn remove_original_deletes_only_the_version_we_processed() {
        let head_ours = mock!(Client::head_object)
            .then_output(|| HeadObjectOutput::builder().version_id("v1").build());
        let delete = mock!(Client::delete_object)
            .match_requests(|r| r.key() == Some("photos/a b.jpg") && r.version_id().is_none())
            .then_output(|| DeleteObjectOutput::builder().delete_marker(true).build());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head_ours, &delete]);
        let removal = remove_original(&client, &source(Some("v1")), "e")
            .await
            .expect("removed");
        assert_eq!(removal, Removal::Removed);
        assert_eq!(delete.num_calls(), 1);

        let head_newer = mock!(Client::head_object)
            .then_output(|| HeadObjectOutput::builder().version_id("v2").build());
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head_newer, &delete]);
        let removal = remove_original(&client, &source(Some("v1")), "e")
            .await
            .expect("no-op");
        assert_eq!(removal, Removal::AlreadyGone);
        assert_eq!(delete.num_calls(), 0, "a newer upload must not be deleted");

        let head_gone = mock!(Client::head_object)
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let client = mock_client!(aws_sdk_s3, [&head_gone]);
        let removal = remove_original(&client, &source(Some("v1")), "e")
            .await
            .expect("no-op");
        assert_eq!(removal, Removal::AlreadyGone);
    }
}
