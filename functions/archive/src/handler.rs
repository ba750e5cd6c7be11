//! Archive: streams the original from the dropbox to the archive bucket at Wasabi (another
//! provider, so no server-side copy) under a key unique to its bytes
//! ([`keys::archive_key`]), so no two photos ever compete for one key and a provider that
//! ignores `If-None-Match` can at worst rewrite the same bytes. A copy already there is
//! verified, never rewritten (Wasabi bills overwrites for 90 days); a new one is written with
//! `If-None-Match: *`, then read back and verified byte for byte. An original of up to
//! [`PART_SIZE`] is one PutObject with its SHA-256; a larger one is a multipart upload of
//! parts read one at a time from the dropbox's stream, each with its Content-MD5, completed
//! only once the bytes streamed are the original's, aborted on any failure.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use bytes::BytesMut;
use photopipe::model::{ArchiveRecord, Photo, PhotoRequest};
use photopipe::s3::multipart::{self, Completion, MAX_PARTS, MultipartUpload, Overwrite};
use photopipe::s3::{self, keys, meta};
use photopipe::wasabi::Wasabi;
use photopipe::{PipelineError, Result};
use sha2::{Digest, Sha256};

/// What archive works with.
#[derive(Debug)]
pub struct Dependencies {
    /// The dropbox's client.
    pub s3: Client,
    pub wasabi: Wasabi,
}

/// The size of a part of a multipart upload, and the largest original written with one
/// PutObject. A part is held in memory whole (Content-MD5 is computed before it is sent) and
/// parts are sent one at a time, so archive holds about one part: 16 MiB of its 512 MB
/// (`contract/functions.json`). S3 and Wasabi allow [`MAX_PARTS`] (10 000) parts, so the
/// largest original archive can write is 10 000 × 16 MiB = 160 000 MiB (156.25 GiB).
const PART_SIZE: usize = 16 * 1024 * 1024;

pub async fn handle(dependencies: &Dependencies, request: PhotoRequest) -> Result<ArchiveRecord> {
    let Dependencies { s3, wasabi } = dependencies;
    let client = wasabi.client().await?;
    archive_with(s3, client, &wasabi.bucket, &request.photo, PART_SIZE).await
}

async fn archive_with(
    s3: &Client,
    wasabi: &Client,
    bucket: &str,
    photo: &Photo,
    part_size: usize,
) -> Result<ArchiveRecord> {
    let key = keys::archive_key(&photo.source, &photo.sha256)?;
    if s3::head(wasabi, bucket, &key).await?.is_none() {
        match upload(s3, wasabi, bucket, &key, photo, part_size).await? {
            Upload::Written => tracing::info!(%key, "archive copy written"),
            // Another run of these very bytes got there first (the key is theirs alone).
            // Not visible yet means its upload is still in flight (S3 answers 409
            // ConditionalRequestConflict then): retry later.
            Upload::LostRace => {
                if s3::head(wasabi, bucket, &key).await?.is_none() {
                    return Err(PipelineError::Transient(format!(
                        "archive {bucket}/{key} is being written by another run"
                    )));
                }
            }
        }
    }
    // Whoever wrote it, the copy counts only once its bytes read back as the original's.
    s3::verify_copy(wasabi, bucket, &key, &photo.sha256, photo.size).await?;
    tracing::info!(%key, "archived and verified");
    Ok(ArchiveRecord {
        bucket: bucket.to_owned(),
        key,
        sha256: photo.sha256.clone(),
        size: photo.size,
    })
}

enum Upload {
    Written,
    LostRace,
}

async fn upload(
    s3: &Client,
    wasabi: &Client,
    bucket: &str,
    key: &str,
    photo: &Photo,
    part_size: usize,
) -> Result<Upload> {
    if photo.size > MAX_PARTS * part_size as u64 {
        return Err(PipelineError::Configuration(format!(
            "{} is {} bytes, over the {MAX_PARTS} parts of {part_size} bytes archive can \
             upload: MAX_BYTES must not allow it",
            photo.source.describe(),
            photo.size
        )));
    }
    let original = s3::get_source(s3, &photo.source).await?;
    if photo.size > part_size as u64 {
        return upload_in_parts(wasabi, bucket, key, photo, original, part_size).await;
    }
    let mut put = wasabi
        .put_object()
        .bucket(bucket)
        .key(key)
        .if_none_match("*")
        .content_length(photo.size as i64)
        .checksum_sha256(s3::sha256_base64(&photo.sha256)?)
        .body(original.body)
        .set_metadata(Some(meta::source(&photo.source)))
        .metadata(meta::SHA256, &photo.sha256);
    if let Some(content_type) = original.content_type {
        put = put.content_type(content_type);
    }
    match put.send().await {
        Ok(_) => Ok(Upload::Written),
        Err(err) if s3::lost_conditional_write(&err) => Ok(Upload::LostRace),
        Err(err) => Err(PipelineError::from_sdk(
            &format!("PutObject archive {bucket}/{key}"),
            err,
        )),
    }
}

/// The multipart upload of an original over one part, with the same metadata and content
/// type as [`upload`]'s PutObject, completed with `If-None-Match: *`.
async fn upload_in_parts(
    wasabi: &Client,
    bucket: &str,
    key: &str,
    photo: &Photo,
    original: aws_sdk_s3::operation::get_object::GetObjectOutput,
    part_size: usize,
) -> Result<Upload> {
    multipart::abort_abandoned(wasabi, bucket, key).await?;
    let mut upload = MultipartUpload::create(wasabi, bucket, key, |request| {
        request
            .set_metadata(Some(meta::source(&photo.source)))
            .metadata(meta::SHA256, &photo.sha256)
            .set_content_type(original.content_type.clone())
    })
    .await?;
    let sent = send_parts(&mut upload, original.body, photo, part_size).await;
    Ok(match upload.finish(sent, Overwrite::Refused).await? {
        Completion::Written => Upload::Written,
        Completion::LostRace => Upload::LostRace,
    })
}

/// Reads the dropbox's stream into parts of `part_size` bytes, sending each as it fills (the
/// last may be shorter), and checks that the stream held exactly the original: `photo.size`
/// bytes (counted as they arrive, so a longer stream stops at once) with its SHA-256.
async fn send_parts(
    upload: &mut MultipartUpload<'_>,
    mut body: ByteStream,
    photo: &Photo,
    part_size: usize,
) -> Result<()> {
    let what = photo.source.describe();
    let mut hasher = Sha256::new();
    let mut read = 0u64;
    let mut part = BytesMut::new();
    while let Some(mut chunk) = body
        .try_next()
        .await
        .map_err(|e| PipelineError::Transient(format!("reading {what} failed: {e}")))?
    {
        read += chunk.len() as u64;
        if read > photo.size {
            return Err(PipelineError::IntegrityMismatch(format!(
                "{what} holds more than the {} bytes validate read",
                photo.size
            )));
        }
        hasher.update(&chunk);
        while !chunk.is_empty() {
            // One allocation per part, made once the previous part is sent and dropped.
            part.reserve(part_size - part.len());
            let take = chunk.len().min(part_size - part.len());
            part.extend_from_slice(&chunk.split_to(take));
            if part.len() == part_size {
                upload
                    .upload_part(std::mem::take(&mut part).freeze())
                    .await?;
            }
        }
    }
    if read < photo.size {
        return Err(PipelineError::IntegrityMismatch(format!(
            "{what} holds {read} bytes, not the {} bytes validate read",
            photo.size
        )));
    }
    let sha256 = hex::encode(hasher.finalize());
    if sha256 != photo.sha256 {
        return Err(PipelineError::IntegrityMismatch(format!(
            "{what} has SHA-256 {sha256}, not the {} validate read",
            photo.sha256
        )));
    }
    if !part.is_empty() {
        upload.upload_part(part.freeze()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput;
    use aws_sdk_s3::operation::complete_multipart_upload::{
        CompleteMultipartUploadError, CompleteMultipartUploadOutput,
    };
    use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput;
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    use aws_sdk_s3::operation::upload_part::UploadPartOutput;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::MultipartUpload as Listed;
    use aws_sdk_s3::types::error::NotFound;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;
    use std::sync::{Arc, Mutex};

    const BYTES: &[u8] = b"pretend these are jpeg bytes";

    fn photo() -> Photo {
        photopipe::testing::photo("photos/trip/a.jpg", BYTES)
    }

    fn dropbox() -> Client {
        let get = mock!(Client::get_object)
            .match_requests(|r| r.version_id() == Some("v1"))
            .then_output(|| {
                GetObjectOutput::builder()
                    .content_type("image/jpeg")
                    .body(ByteStream::from_static(BYTES))
                    .build()
            });
        mock_client!(aws_sdk_s3, [&get])
    }

    fn stored(bytes: &'static [u8]) -> Rule {
        mock!(Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(bytes))
                .build()
        })
    }

    fn absent() -> Rule {
        mock!(Client::head_object)
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()))
    }

    fn present(sha: String) -> Rule {
        mock!(Client::head_object).then_output(move || {
            HeadObjectOutput::builder()
                .metadata("sha256", sha.clone())
                .build()
        })
    }

    /// A 500 InternalError, as a provider answers when its storage fails.
    fn internal_error() -> aws_smithy_runtime_api::http::Response<aws_smithy_types::body::SdkBody> {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(500).expect("status"),
            aws_smithy_types::body::SdkBody::from(
                "<Error><Code>InternalError</Code><Message>disk</Message></Error>",
            ),
        )
    }

    /// ListMultipartUploads: nothing left behind by an earlier attempt.
    fn none_abandoned() -> Rule {
        mock!(Client::list_multipart_uploads)
            .then_output(|| ListMultipartUploadsOutput::builder().build())
    }

    fn create() -> Rule {
        mock!(Client::create_multipart_upload).then_output(|| {
            CreateMultipartUploadOutput::builder()
                .upload_id("u1")
                .build()
        })
    }

    fn abort() -> Rule {
        mock!(Client::abort_multipart_upload)
            .match_requests(|r| r.upload_id() == Some("u1"))
            .then_output(|| AbortMultipartUploadOutput::builder().build())
    }

    fn complete() -> Rule {
        mock!(Client::complete_multipart_upload)
            .then_output(|| CompleteMultipartUploadOutput::builder().build())
    }

    /// UploadPart answering ETag `"etag-<part number>"`.
    fn part() -> Rule {
        mock!(Client::upload_part).then_compute_output(|r| {
            let number = r.part_number().expect("part number");
            UploadPartOutput::builder()
                .e_tag(format!("\"etag-{number}\""))
                .build()
        })
    }

    fn archive_key() -> String {
        format!("trip/a.{}.jpg", &photo().sha256[..16])
    }

    #[tokio::test]
    async fn writes_once_under_a_key_unique_to_the_bytes_then_verifies() {
        let sha_b64 = s3::sha256_base64(&photo().sha256).expect("b64");
        let key = archive_key();
        let put = mock!(Client::put_object)
            .match_requests(move |r| {
                r.key() == Some(key.as_str())
                    && r.if_none_match() == Some("*")
                    && r.checksum_sha256() == Some(sha_b64.as_str())
                    && r.metadata()
                        .and_then(|m| m.get("source-version-id"))
                        .map(String::as_str)
                        == Some("v1")
            })
            .then_output(|| PutObjectOutput::builder().build());
        let (head, get) = (absent(), stored(BYTES));
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &put, &get]);
        let record = archive_with(&dropbox(), &wasabi, "arch", &photo(), PART_SIZE)
            .await
            .expect("archived");
        assert_eq!(record.key, archive_key());
        assert_eq!(put.num_calls(), 1);
        assert_eq!(get.num_calls(), 1, "the copy is read back");
    }

    #[tokio::test]
    async fn an_existing_copy_is_verified_not_rewritten() {
        let put = mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
        // Its metadata is not trusted (a provider may show the object before it): its bytes are.
        let (head, get) = (present(String::new()), stored(BYTES));
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &put, &get]);
        let record = archive_with(&dropbox(), &wasabi, "arch", &photo(), PART_SIZE)
            .await
            .expect("archived");
        assert_eq!(record.key, archive_key());
        assert_eq!(put.num_calls(), 0, "never overwrite at Wasabi");
        assert_eq!(get.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_lost_race_with_another_run_of_the_same_bytes_is_success() {
        let put = mock!(Client::put_object).then_error(|| {
            PutObjectError::generic(ErrorMetadata::builder().code("PreconditionFailed").build())
        });
        let (first, then) = (absent(), present(photo().sha256));
        let get = stored(BYTES);
        let wasabi = mock_client!(
            aws_sdk_s3,
            RuleMode::Sequential,
            [&first, &put, &then, &get]
        );
        let record = archive_with(&dropbox(), &wasabi, "arch", &photo(), PART_SIZE)
            .await
            .expect("archived");
        assert_eq!(record.key, archive_key());
    }

    #[tokio::test]
    async fn a_race_with_an_upload_still_in_flight_is_retried() {
        let put = mock!(Client::put_object).then_error(|| {
            PutObjectError::generic(
                ErrorMetadata::builder()
                    .code("ConditionalRequestConflict")
                    .build(),
            )
        });
        let (first, then) = (absent(), absent());
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&first, &put, &then]);
        let err = archive_with(&dropbox(), &wasabi, "arch", &photo(), PART_SIZE)
            .await
            .expect_err("retried");
        assert_eq!(err.error_name(), "Photo.Transient");
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_corrupt_copy_is_an_integrity_mismatch_and_is_not_rewritten() {
        let put = mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
        let (head, get) = (present(photo().sha256), stored(b"something else"));
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &put, &get]);
        let err = archive_with(&dropbox(), &wasabi, "arch", &photo(), PART_SIZE)
            .await
            .expect_err("mismatch");
        assert_eq!(err.error_name(), "Photo.IntegrityMismatch");
        assert_eq!(put.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_storage_failure_is_transient_not_an_integrity_mismatch() {
        let put = mock!(Client::put_object).then_http_response(internal_error);
        let head = absent();
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &put]);
        let err = archive_with(&dropbox(), &wasabi, "arch", &photo(), PART_SIZE)
            .await
            .expect_err("failed");
        assert_eq!(err.error_name(), "Photo.Transient", "{err}");
    }

    #[tokio::test]
    async fn an_original_of_one_part_is_one_put_object() {
        let put = mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
        let (head, create, get) = (absent(), create(), stored(BYTES));
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &put, &create, &get]);
        archive_with(&dropbox(), &wasabi, "arch", &photo(), BYTES.len())
            .await
            .expect("archived");
        assert_eq!((put.num_calls(), create.num_calls()), (1, 0));
    }

    #[tokio::test]
    async fn an_original_of_two_and_a_half_parts_is_three_parts_with_their_md5_and_one_complete() {
        const ORIGINAL: &[u8] = b"0123456789";
        let photo = photopipe::testing::photo("photos/trip/a.jpg", ORIGINAL);
        // The dropbox streams it in chunks of 3 bytes, so chunks straddle the 4-byte parts.
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), ORIGINAL).expect("written");
        let body = ByteStream::read_from()
            .path(file.path())
            .buffer_size(3)
            .build()
            .await
            .expect("stream");
        let body = Mutex::new(Some(body));
        let get = mock!(Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .content_type("image/jpeg")
                .body(body.lock().expect("lock").take().expect("one GetObject"))
                .build()
        });
        let dropbox = mock_client!(aws_sdk_s3, [&get]);

        let sha = photo.sha256.clone();
        let create = mock!(Client::create_multipart_upload)
            .match_requests(move |r| {
                let metadata = |name: &str| r.metadata().and_then(|m| m.get(name)).cloned();
                r.content_type() == Some("image/jpeg")
                    && metadata("sha256") == Some(sha.clone())
                    && metadata("source-version-id").as_deref() == Some("v1")
            })
            .then_output(|| {
                CreateMultipartUploadOutput::builder()
                    .upload_id("u1")
                    .build()
            });
        let sent = Arc::new(Mutex::new(Vec::new()));
        let part = mock!(Client::upload_part).then_compute_output({
            let sent = Arc::clone(&sent);
            move |r| {
                let number = r.part_number().expect("part number");
                let body = r.body().bytes().expect("in memory").to_vec();
                let md5 = r.content_md5().expect("Content-MD5").to_owned();
                assert_eq!(r.upload_id(), Some("u1"));
                assert_eq!(r.content_length(), Some(body.len() as i64));
                sent.lock().expect("lock").push((number, body, md5));
                UploadPartOutput::builder()
                    .e_tag(format!("\"etag-{number}\""))
                    .build()
            }
        });
        let complete = mock!(Client::complete_multipart_upload)
            .match_requests(|r| {
                let parts = r.multipart_upload().map(|u| u.parts()).unwrap_or_default();
                let listed: Vec<_> = parts.iter().map(|p| (p.part_number(), p.e_tag())).collect();
                r.upload_id() == Some("u1")
                    && r.if_none_match() == Some("*")
                    && listed
                        == [
                            (Some(1), Some("\"etag-1\"")),
                            (Some(2), Some("\"etag-2\"")),
                            (Some(3), Some("\"etag-3\"")),
                        ]
            })
            .then_output(|| CompleteMultipartUploadOutput::builder().build());
        let (head, put, abort, read_back) = (
            absent(),
            mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build()),
            abort(),
            stored(ORIGINAL),
        );
        let listed = none_abandoned();
        let wasabi = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [
                &head, &listed, &put, &create, &part, &complete, &abort, &read_back
            ]
        );
        archive_with(&dropbox, &wasabi, "arch", &photo, 4)
            .await
            .expect("archived");
        // MD5s computed apart (Python's hashlib), not by the code under test.
        let expected = [
            (1, b"0123".to_vec(), "62L2uTBttXXC1ZaxJ5YnpA==".to_owned()),
            (2, b"4567".to_vec(), "ZWLFwfM9tuBaCCqIzdq16g==".to_owned()),
            (3, b"89".to_vec(), "dkeWa3NDwpBIZzJS5JD3Ng==".to_owned()),
        ];
        assert_eq!(*sent.lock().expect("lock"), expected);
        assert_eq!((complete.num_calls(), abort.num_calls()), (1, 0));
        assert_eq!(put.num_calls(), 0);
        assert_eq!(read_back.num_calls(), 1, "the copy is read back");
    }

    #[tokio::test]
    async fn a_failed_part_aborts_the_upload_and_is_transient() {
        let failing = mock!(Client::upload_part).then_http_response(internal_error);
        let (head, create, abort, complete) = (absent(), create(), abort(), complete());
        let listed = none_abandoned();
        let wasabi = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head, &listed, &create, &failing, &abort, &complete]
        );
        let err = archive_with(&dropbox(), &wasabi, "arch", &photo(), 10)
            .await
            .expect_err("failed");
        assert_eq!(err.error_name(), "Photo.Transient", "{err}");
        assert_eq!((abort.num_calls(), complete.num_calls()), (1, 0));
    }

    #[tokio::test]
    async fn a_complete_refused_because_the_copy_is_there_is_success() {
        let parts = mock!(Client::upload_part)
            .sequence()
            .output(|| UploadPartOutput::builder().e_tag("\"e\"").build())
            .times(3)
            .build();
        let refused = mock!(Client::complete_multipart_upload).then_error(|| {
            CompleteMultipartUploadError::generic(
                ErrorMetadata::builder().code("PreconditionFailed").build(),
            )
        });
        let (first, create, abort, then, get) = (
            absent(),
            create(),
            abort(),
            present(photo().sha256),
            stored(BYTES),
        );
        let listed = none_abandoned();
        let wasabi = mock_client!(
            aws_sdk_s3,
            RuleMode::Sequential,
            [
                &first, &listed, &create, &parts, &refused, &abort, &then, &get
            ]
        );
        let record = archive_with(&dropbox(), &wasabi, "arch", &photo(), 10)
            .await
            .expect("archived");
        assert_eq!(record.key, archive_key());
        assert_eq!(parts.num_calls(), 3);
        assert_eq!(abort.num_calls(), 1, "our own upload is not left behind");
        assert_eq!(get.num_calls(), 1, "the winner's copy is verified");
    }

    #[tokio::test]
    async fn a_dropbox_stream_other_than_the_original_is_an_integrity_mismatch_and_aborted() {
        let longer = Photo {
            size: BYTES.len() as u64 - 1,
            ..photo()
        };
        let shorter = Photo {
            size: BYTES.len() as u64 + 1,
            ..photo()
        };
        let other_bytes =
            photopipe::testing::photo("photos/trip/a.jpg", b"pretend these are jpeg byteZ");
        assert_eq!(other_bytes.size, photo().size);
        for (photo, says) in [
            (longer, "more than"),
            (shorter, "holds 28 bytes"),
            (other_bytes, "SHA-256"),
        ] {
            let (head, create, part, abort, complete) =
                (absent(), create(), part(), abort(), complete());
            let listed = none_abandoned();
            let wasabi = mock_client!(
                aws_sdk_s3,
                RuleMode::MatchAny,
                [&head, &listed, &create, &part, &abort, &complete]
            );
            let err = archive_with(&dropbox(), &wasabi, "arch", &photo, 10)
                .await
                .expect_err("mismatch");
            assert_eq!(err.error_name(), "Photo.IntegrityMismatch", "{err}");
            assert!(err.to_string().contains(says), "{err}");
            assert_eq!((abort.num_calls(), complete.num_calls()), (1, 0), "{err}");
        }
    }

    #[tokio::test]
    async fn an_upload_a_killed_attempt_left_behind_is_aborted_before_a_new_one() {
        let key = archive_key();
        let listed = {
            let key = key.clone();
            mock!(Client::list_multipart_uploads)
                .match_requests({
                    let key = key.clone();
                    move |r| r.prefix() == Some(key.as_str())
                })
                .then_output(move || {
                    ListMultipartUploadsOutput::builder()
                        .uploads(Listed::builder().key(&key).upload_id("crashed").build())
                        .uploads(
                            Listed::builder()
                                .key(format!("{key}.other"))
                                .upload_id("not-ours")
                                .build(),
                        )
                        .build()
                })
        };
        let stale = mock!(Client::abort_multipart_upload)
            .match_requests(|r| r.upload_id() == Some("crashed"))
            .then_output(|| AbortMultipartUploadOutput::builder().build());
        let (head, create, part, complete, get) =
            (absent(), create(), part(), complete(), stored(BYTES));
        let wasabi = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head, &listed, &stale, &create, &part, &complete, &get]
        );
        archive_with(&dropbox(), &wasabi, "arch", &photo(), 10)
            .await
            .expect("archived");
        assert_eq!((stale.num_calls(), complete.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn an_original_over_ten_thousand_parts_is_refused_before_anything_is_written() {
        let too_big = Photo {
            size: MAX_PARTS + 1,
            ..photo()
        };
        let (head, create) = (absent(), create());
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &create]);
        let err = archive_with(&dropbox(), &wasabi, "arch", &too_big, 1)
            .await
            .expect_err("refused");
        assert_eq!(err.error_name(), "Photo.Configuration", "{err}");
        assert_eq!(create.num_calls(), 0);
    }
}
