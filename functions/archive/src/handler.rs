//! Archive: streams the original from the dropbox to the archive bucket at Wasabi (another
//! provider, so no server-side copy), write-once: an existing copy is checked, never
//! overwritten (Wasabi bills overwrites for 90 days), and the new one is written with
//! `If-None-Match: *` and its SHA-256, then read back and verified byte for byte.

use aws_sdk_s3::Client;
use photopipe::model::{ArchiveRecord, Photo, PhotoRequest};
use photopipe::s3::checksum::{self, Recorded};
use photopipe::s3::{self, meta};
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

/// The keys a photo may be archived under, in order: its own path, then (if another photo
/// already holds that path) the path qualified by its checksum.
pub fn candidate_keys(photo: &Photo) -> [String; 2] {
    let relative = photo.source.relative_key();
    [
        relative.to_owned(),
        format!("{relative}.sha256-{}", &photo.sha256[..16]),
    ]
}

async fn archive_with(
    s3: &Client,
    wasabi: &Client,
    bucket: &str,
    photo: &Photo,
) -> Result<ArchiveRecord> {
    for key in candidate_keys(photo) {
        let holding = |key| checksum::recorded(wasabi, bucket, key, meta::SHA256, &photo.sha256);
        let holds_other_photo = match holding(&key).await? {
            Recorded::Same(_) => false,
            Recorded::Other => true,
            Recorded::Absent => match upload(s3, wasabi, bucket, &key, photo).await? {
                Upload::Written => false,
                // Another run got there first: is it this photo? Not visible yet means its
                // upload is still in flight (S3 answers 409 ConditionalRequestConflict
                // then): retry later rather than take it for another photo.
                Upload::LostRace => match holding(&key).await? {
                    Recorded::Same(_) => false,
                    Recorded::Other => true,
                    Recorded::Absent => {
                        return Err(PipelineError::Transient(format!(
                            "archive {bucket}/{key} is being written by another run"
                        )));
                    }
                },
            },
        };
        if holds_other_photo {
            tracing::info!(%key, "archive key holds another photo");
            continue;
        }
        s3::verify_copy(wasabi, bucket, &key, &photo.sha256, photo.size).await?;
        tracing::info!(%key, "archived and verified");
        return Ok(ArchiveRecord {
            bucket: bucket.to_owned(),
            key,
            sha256: photo.sha256.clone(),
            size: photo.size,
        });
    }
    Err(PipelineError::IntegrityMismatch(format!(
        "every archive key for {} holds other bytes",
        photo.source.describe()
    )))
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

    #[tokio::test]
    async fn writes_once_with_checksum_and_condition_then_verifies() {
        let sha_b64 = s3::sha256_base64(&photo().sha256).expect("b64");
        let put = mock!(Client::put_object)
            .match_requests(move |r| {
                r.key() == Some("trip/a.jpg")
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
        assert_eq!(record.key, "trip/a.jpg");
        assert_eq!(put.num_calls(), 1);
        assert_eq!(get.num_calls(), 1, "the copy is read back");
    }

    #[tokio::test]
    async fn an_existing_identical_copy_is_verified_not_rewritten() {
        let put = mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
        let (head, get) = (present(photo().sha256), stored(BYTES));
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &put, &get]);
        let record = archive_with(&dropbox(), &wasabi, "arch", &photo())
            .await
            .expect("archived");
        assert_eq!(record.key, "trip/a.jpg");
        assert_eq!(put.num_calls(), 0, "never overwrite at Wasabi");
    }

    #[tokio::test]
    async fn another_photo_at_the_same_path_moves_this_one_to_a_qualified_key() {
        let sha = photo().sha256;
        let qualified = format!("trip/a.jpg.sha256-{}", &sha[..16]);
        let other = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("trip/a.jpg"))
            .then_output(|| {
                HeadObjectOutput::builder()
                    .metadata("sha256", "00ff")
                    .build()
            });
        let expected = qualified.clone();
        let put = mock!(Client::put_object)
            .match_requests(move |r| r.key() == Some(expected.as_str()))
            .then_output(|| PutObjectOutput::builder().build());
        let (head, get) = (absent(), stored(BYTES));
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&other, &head, &put, &get]);
        let record = archive_with(&dropbox(), &wasabi, "arch", &photo())
            .await
            .expect("archived");
        assert_eq!(record.key, qualified);
    }

    #[tokio::test]
    async fn a_lost_race_with_the_same_photo_is_success() {
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
        assert_eq!(record.key, "trip/a.jpg");
    }

    #[tokio::test]
    async fn a_race_with_an_upload_still_in_flight_is_retried_not_qualified() {
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
        assert_eq!(put.num_calls(), 1, "no second upload under a qualified key");
    }

    #[tokio::test]
    async fn a_corrupt_copy_is_an_integrity_mismatch() {
        let (head, get) = (present(photo().sha256), stored(b"something else"));
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &get]);
        let err = archive_with(&dropbox(), &wasabi, "arch", &photo())
            .await
            .expect_err("mismatch");
        assert_eq!(err.error_name(), "Photo.IntegrityMismatch");
    }
}
