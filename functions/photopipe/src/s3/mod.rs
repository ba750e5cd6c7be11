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

pub use checksum::{StreamingSha256, sha256_base64, sha256_hex, verify_copy};
pub use keys::{encode_key, quarantine_keys, thumbnail_key};

/// An original read whole: its bytes, ETag and the version that was read.
#[derive(Debug)]
pub struct Original {
    pub bytes: bytes::Bytes,
    pub etag: String,
    pub version_id: Option<String>,
}

/// Reads one exact version of an original, refusing to download one that is empty or over
/// the byte limit. Returns `Photo.SourceMissing` when the version is gone. Its bytes are read
/// into one buffer of its length, so it is held once.
pub async fn read_original(
    client: &Client,
    source: &SourceObject,
    limits: &InputLimits,
) -> Result<Original> {
    let output = get_source(client, source).await?;
    let size = output.content_length().unwrap_or(0).max(0) as u64;
    limits.check_size(size)?;
    let etag = output.e_tag().unwrap_or_default().to_owned();
    let version_id = pinned_version(output.version_id());
    let bytes = read_to_end(output.body, Vec::with_capacity(size as usize), source).await?;
    Ok(Original {
        bytes: bytes.into(),
        etag,
        version_id,
    })
}

/// The first bytes of one exact version of an original, read by range, and what its answer
/// says of the whole object.
#[derive(Debug)]
pub struct Head {
    /// Its first bytes: as many as asked for, or all of it if it is shorter.
    pub bytes: Vec<u8>,
    /// The whole object's size in bytes (the total of the answer's `Content-Range`).
    pub size: u64,
    pub etag: String,
    /// The version read, to pin it.
    pub version_id: Option<String>,
}

/// Reads the first `len` bytes of one exact version (`Range: bytes=0-<len-1>`), never more
/// whatever the object's size, and its size from the answer's `Content-Range`. An empty
/// object, which no range is satisfiable in (S3 answers 416 `InvalidRange`), is a head of
/// no bytes, its size from a HeadObject of the version. `Photo.SourceMissing` when the
/// version is gone.
pub async fn read_head(client: &Client, source: &SourceObject, len: u64) -> Result<Head> {
    let range = format!("bytes=0-{}", len.max(1) - 1);
    let output = match get_object(client, source, Some(range), None).await {
        Ok(output) => output,
        Err(err) if unsatisfiable(&err) => return empty_head(client, source).await,
        Err(err) => return Err(get_failed(source, err)),
    };
    // An answer without a Content-Range is the whole object (a store that ignores ranges).
    let size = match output.content_range() {
        Some(range) => total_size(range).ok_or_else(|| {
            PipelineError::Transient(format!(
                "GetObject {} answered Content-Range {range:?}, with no total size",
                source.describe()
            ))
        })?,
        None => output.content_length().unwrap_or(0).max(0) as u64,
    };
    let etag = output.e_tag().unwrap_or_default().to_owned();
    let version_id = pinned_version(output.version_id());
    let mut body = output.body;
    let mut bytes = Vec::with_capacity(len.min(size) as usize);
    while (bytes.len() as u64) < len {
        match body.try_next().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(read_failed(source, e)),
        }
    }
    bytes.truncate(len as usize);
    Ok(Head {
        bytes,
        size,
        etag,
        version_id,
    })
}

/// The head of an empty object, whose every range S3 refuses.
async fn empty_head(client: &Client, source: &SourceObject) -> Result<Head> {
    let head = head_source(client, source).await?.ok_or_else(|| {
        PipelineError::SourceMissing(format!("{} no longer exists", source.describe()))
    })?;
    match head.content_length().unwrap_or(0) {
        0 => Ok(Head {
            bytes: Vec::new(),
            size: 0,
            etag: head.e_tag().unwrap_or_default().to_owned(),
            version_id: pinned_version(head.version_id()),
        }),
        size => Err(PipelineError::Transient(format!(
            "GetObject {} refused the range of its first bytes, but it holds {size} bytes",
            source.describe()
        ))),
    }
}

/// Bytes `range` of one exact version, the one whose ETag is `etag` (`If-Match`, so a
/// replaced object in an unversioned bucket is not read as the same one).
pub async fn read_range(
    client: &Client,
    source: &SourceObject,
    etag: &str,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let header = format!("bytes={}-{}", range.start, range.end - 1);
    let output = get_object(client, source, Some(header), Some(etag))
        .await
        .map_err(|err| get_failed(source, err))?;
    let len = (range.end - range.start) as usize;
    let bytes = read_to_end(output.body, Vec::with_capacity(len), source).await?;
    if bytes.len() != len {
        return Err(PipelineError::Transient(format!(
            "GetObject {} bytes {range:?} gave {} bytes",
            source.describe(),
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Starts a GetObject of one exact version from byte `from` to its end, the one whose ETag
/// is `etag` (`If-Match`); the body is left for the caller to stream.
pub async fn get_rest(
    client: &Client,
    source: &SourceObject,
    etag: &str,
    from: u64,
) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput> {
    get_object(client, source, Some(format!("bytes={from}-")), Some(etag))
        .await
        .map_err(|err| get_failed(source, err))
}

/// The whole of an original of `size` bytes whose first bytes are `head`: the rest read by
/// range into the same buffer, allocated once at its full size.
pub async fn read_rest(
    client: &Client,
    source: &SourceObject,
    etag: &str,
    head: Vec<u8>,
    size: u64,
) -> Result<Vec<u8>> {
    let from = head.len() as u64;
    if from >= size {
        return Ok(head);
    }
    let mut bytes = head;
    bytes.reserve_exact((size - from) as usize);
    let output = get_rest(client, source, etag, from).await?;
    let bytes = read_to_end(output.body, bytes, source).await?;
    if bytes.len() as u64 != size {
        return Err(PipelineError::Transient(format!(
            "reading {} gave {} of its {size} bytes",
            source.describe(),
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The total size in a `Content-Range` answer, `bytes 0-262143/3000000000`; `None` where it
/// is unknown (`*`) or the header is malformed.
pub fn total_size(content_range: &str) -> Option<u64> {
    let (unit, rest) = content_range.trim().split_once(' ')?;
    let (_, total) = rest.split_once('/')?;
    (unit == "bytes").then_some(())?;
    total.trim().parse().ok()
}

/// Appends a body's every chunk to `bytes`.
async fn read_to_end(
    mut body: aws_sdk_s3::primitives::ByteStream,
    mut bytes: Vec<u8>,
    source: &SourceObject,
) -> Result<Vec<u8>> {
    while let Some(chunk) = body.try_next().await.map_err(|e| read_failed(source, e))? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn read_failed(source: &SourceObject, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Transient(format!("reading {} failed: {e}", source.describe()))
}

/// The version an answer names, `None` for the `null` version of an unversioned bucket.
fn pinned_version(version: Option<&str>) -> Option<String> {
    version.filter(|v| *v != "null").map(str::to_owned)
}

type GetError = aws_sdk_s3::error::SdkError<
    aws_sdk_s3::operation::get_object::GetObjectError,
    aws_sdk_s3::config::http::HttpResponse,
>;

/// Starts a GetObject of one exact version (the body is left for the caller to stream).
pub async fn get_source(
    client: &Client,
    source: &SourceObject,
) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput> {
    get_object(client, source, None, None)
        .await
        .map_err(|err| get_failed(source, err))
}

async fn get_object(
    client: &Client,
    source: &SourceObject,
    range: Option<String>,
    if_match: Option<&str>,
) -> std::result::Result<aws_sdk_s3::operation::get_object::GetObjectOutput, GetError> {
    client
        .get_object()
        .bucket(&source.bucket)
        .key(&source.key)
        .set_version_id(source.version_id.clone())
        .set_range(range)
        .set_if_match(if_match.filter(|etag| !etag.is_empty()).map(str::to_owned))
        .send()
        .await
}

/// A failed GetObject as the pipeline's error: `Photo.SourceMissing` when the version is
/// gone.
fn get_failed(source: &SourceObject, err: GetError) -> PipelineError {
    let missing = err.as_service_error().is_some_and(|e| e.is_no_such_key())
        || err.code() == Some("NoSuchVersion")
        || err
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 404);
    let replaced = err.code() == Some("PreconditionFailed")
        || err
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 412);
    if missing {
        PipelineError::SourceMissing(format!("{} no longer exists", source.describe()))
    } else if replaced {
        // `If-Match` the ETag of its first bytes failed: it was replaced while it was read
        // (an unversioned bucket); reading it again reads the new one from its start.
        PipelineError::Transient(format!("{} changed while it was read", source.describe()))
    } else {
        PipelineError::from_sdk(&format!("GetObject {}", source.describe()), err)
    }
}

/// S3's answer to a range no byte of the object is in (416 `InvalidRange`).
fn unsatisfiable(err: &GetError) -> bool {
    err.code() == Some("InvalidRange")
        || err
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 416)
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
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

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

    #[test]
    fn the_total_size_is_read_from_a_content_range() {
        assert_eq!(total_size("bytes 0-262143/3000000000"), Some(3_000_000_000));
        assert_eq!(total_size("bytes 0-99/100"), Some(100));
        assert_eq!(total_size("bytes 0-99/*"), None);
        assert_eq!(total_size("items 0-99/100"), None);
        assert_eq!(total_size("garbage"), None);
    }

    #[tokio::test]
    async fn read_head_asks_for_the_first_bytes_of_the_version_and_learns_its_size() {
        let get = mock!(Client::get_object)
            .match_requests(|r| r.version_id() == Some("v1") && r.range() == Some("bytes=0-3"))
            .then_output(|| {
                GetObjectOutput::builder()
                    .content_range("bytes 0-3/3000000000")
                    .content_length(4)
                    .e_tag("\"e\"")
                    .version_id("v1")
                    .body(ByteStream::from_static(b"\xFF\xD8\xFF\xE0"))
                    .build()
            });
        let client = mock_client!(aws_sdk_s3, [&get]);
        let head = read_head(&client, &source(Some("v1")), 4)
            .await
            .expect("head");
        assert_eq!(
            (head.bytes.as_slice(), head.size, head.etag.as_str()),
            (&b"\xFF\xD8\xFF\xE0"[..], 3_000_000_000, "\"e\"")
        );
        assert_eq!(head.version_id.as_deref(), Some("v1"));
    }

    #[tokio::test]
    async fn read_head_of_a_store_that_ignores_the_range_reads_only_the_first_bytes() {
        let get = mock!(Client::get_object).then_output(|| {
            GetObjectOutput::builder()
                .content_length(11)
                .body(ByteStream::from_static(b"hello world"))
                .build()
        });
        let client = mock_client!(aws_sdk_s3, [&get]);
        let head = read_head(&client, &source(None), 5).await.expect("head");
        assert_eq!((head.bytes.as_slice(), head.size), (&b"hello"[..], 11));
        assert_eq!(head.version_id, None);
    }

    #[tokio::test]
    async fn read_head_of_an_empty_object_is_empty() {
        use aws_sdk_s3::operation::head_object::HeadObjectOutput;
        use aws_smithy_types::error::ErrorMetadata;
        let get = mock!(Client::get_object).then_error(|| {
            GetObjectError::generic(ErrorMetadata::builder().code("InvalidRange").build())
        });
        let head = mock!(Client::head_object)
            .match_requests(|r| r.version_id() == Some("v1"))
            .then_output(|| HeadObjectOutput::builder().content_length(0).build());
        let client = mock_client!(aws_sdk_s3, [&get, &head]);
        let read = read_head(&client, &source(Some("v1")), 4)
            .await
            .expect("empty");
        assert_eq!((read.bytes.len(), read.size), (0, 0));
        assert_eq!(
            limit(100).check_size(read.size),
            Err(PipelineError::InvalidImage("empty file".into()))
        );
    }

    #[tokio::test]
    async fn read_rest_reads_from_the_end_of_the_head_of_the_same_object() {
        let get = mock!(Client::get_object)
            .match_requests(|r| {
                r.range() == Some("bytes=5-")
                    && r.if_match() == Some("\"e\"")
                    && r.version_id() == Some("v1")
            })
            .then_output(|| {
                GetObjectOutput::builder()
                    .content_range("bytes 5-10/11")
                    .content_length(6)
                    .body(ByteStream::from_static(b" world"))
                    .build()
            });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get]);
        let whole = read_rest(&client, &source(Some("v1")), "\"e\"", b"hello".to_vec(), 11)
            .await
            .expect("rest");
        assert_eq!(whole, b"hello world");
        // Short of its size: read again, never taken as the whole.
        let err = read_rest(&client, &source(Some("v1")), "\"e\"", b"hello".to_vec(), 12)
            .await
            .expect_err("short");
        assert_eq!(err.error_name(), "Photo.Transient");
        // The head was the whole object: nothing more is asked.
        let whole = read_rest(&client, &source(Some("v1")), "\"e\"", b"hi".to_vec(), 2)
            .await
            .expect("whole");
        assert_eq!((whole.as_slice(), get.num_calls()), (&b"hi"[..], 2));
    }

    #[tokio::test]
    async fn a_source_replaced_while_it_is_read_is_read_again() {
        use aws_smithy_types::error::ErrorMetadata;
        let get = mock!(Client::get_object).then_error(|| {
            GetObjectError::generic(ErrorMetadata::builder().code("PreconditionFailed").build())
        });
        let client = mock_client!(aws_sdk_s3, [&get]);
        let err = read_range(&client, &source(None), "\"e\"", 10..20)
            .await
            .expect_err("replaced");
        assert_eq!(
            err,
            PipelineError::Transient("s3://drop/photos/a b.jpg changed while it was read".into())
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
