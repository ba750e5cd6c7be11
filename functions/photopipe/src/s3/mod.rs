//! S3 helpers shared by the steps: reading an exact object version ([`read_original`],
//! [`get_source`]), existence checks, and, in submodules, the derived output keys
//! ([`keys`]), checksums and the checked reads of stored copies ([`checksum`]), the metadata
//! written on outputs ([`meta`]), multipart uploads and copies that are completed or aborted,
//! never left behind ([`multipart`]), and the dropbox's writes: removing an original without
//! ever touching a newer upload, and quarantine ([`dropbox`]).

pub mod checksum;
pub mod dropbox;
pub mod keys;
pub mod meta;
pub mod multipart;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;

use crate::error::{PipelineError, Result};
use crate::event::SourceObject;
use crate::settings::InputLimits;

pub use checksum::{sha256_base64, sha256_hex, verify_copy};
pub use keys::{encode_key, quarantine_keys, thumbnail_key};

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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::error::NoSuchKey;
    use aws_smithy_mocks::{mock, mock_client};

    fn limit(max_bytes: u64) -> InputLimits {
        InputLimits {
            max_bytes,
            ..InputLimits::default()
        }
    }

    /// `photos/a b.jpg` in bucket `drop`, at `version`: the upload the s3 tests work on.
    pub(super) fn source(version: Option<&str>) -> SourceObject {
        SourceObject {
            bucket: "drop".into(),
            key: "photos/a b.jpg".into(),
            version_id: version.map(str::to_owned),
        }
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
}
