//! Archive: streams the original from the dropbox to the archive bucket at Wasabi (another
//! provider, so no server-side copy) under a key unique to its bytes
//! ([`keys::archive_key`]), so no two photos ever compete for one key and a provider that
//! ignores `If-None-Match` can at worst rewrite the same bytes. A copy already there is
//! verified, never rewritten (Wasabi bills overwrites for 90 days); a new one is written with
//! `If-None-Match: *` and its SHA-256, then read back and verified byte for byte.

use aws_sdk_s3::Client;
use photopipe::model::{ArchiveRecord, Photo, PhotoRequest};
use photopipe::s3::{self, keys, meta};
use photopipe::wasabi::Wasabi;
use photopipe::{PipelineError, Result};

/// What archive works with.
#[derive(Debug)]
pub struct Dependencies {
    /// The dropbox's client.
    pub s3: Client,
    pub wasabi: Wasabi,
}

pub async fn handle(dependencies: &Dependencies, request: PhotoRequest) -> Result<ArchiveRecord> {
    let Dependencies { s3, wasabi } = dependencies;
    archive_with(s3, wasabi.client().await?, &wasabi.bucket, &request.photo).await
}

async fn archive_with(
    s3: &Client,
    wasabi: &Client,
    bucket: &str,
    photo: &Photo,
) -> Result<ArchiveRecord> {
    let key = keys::archive_key(&photo.source, &photo.sha256)?;
    if s3::head(wasabi, bucket, &key).await?.is_none() {
        match upload(s3, wasabi, bucket, &key, photo).await? {
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
) -> Result<Upload> {
    let original = s3::get_source(s3, &photo.source).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::error::NotFound;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

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

    fn stored(bytes: &'static [u8]) -> aws_smithy_mocks::Rule {
        mock!(Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(bytes))
                .build()
        })
    }

    fn absent() -> aws_smithy_mocks::Rule {
        mock!(Client::head_object)
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()))
    }

    fn present(sha: String) -> aws_smithy_mocks::Rule {
        mock!(Client::head_object).then_output(move || {
            HeadObjectOutput::builder()
                .metadata("sha256", sha.clone())
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
        let record = archive_with(&dropbox(), &wasabi, "arch", &photo())
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
        let record = archive_with(&dropbox(), &wasabi, "arch", &photo())
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
        let record = archive_with(&dropbox(), &wasabi, "arch", &photo())
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
        let err = archive_with(&dropbox(), &wasabi, "arch", &photo())
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
        let err = archive_with(&dropbox(), &wasabi, "arch", &photo())
            .await
            .expect_err("mismatch");
        assert_eq!(err.error_name(), "Photo.IntegrityMismatch");
        assert_eq!(put.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_storage_failure_is_transient_not_an_integrity_mismatch() {
        let put = mock!(Client::put_object).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(500).expect("status"),
                aws_smithy_types::body::SdkBody::from(
                    "<Error><Code>InternalError</Code><Message>disk</Message></Error>",
                ),
            )
        });
        let head = absent();
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &put]);
        let err = archive_with(&dropbox(), &wasabi, "arch", &photo())
            .await
            .expect_err("failed");
        assert_eq!(err.error_name(), "Photo.Transient", "{err}");
    }
}
