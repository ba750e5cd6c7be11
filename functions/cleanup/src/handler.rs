//! Cleanup: the only step that removes anything from the dropbox. It removes an original
//! only after re-checking that its thumbnail exists and that the archived copy reads back
//! with the original's SHA-256; and it moves a rejected original to quarantine, with the
//! reason beside it, instead of deleting it.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use photopipe::event::ObjectCreatedEvent;
use photopipe::model::{
    ArchiveRecord, CaughtError, CleanupOutcome, CleanupRequest, Photo, QuarantineReason,
    ThumbnailRecord,
};
use photopipe::s3::{self, Removal, meta};
use photopipe::wasabi::Archive;
use photopipe::{PipelineError, Result};

/// What cleanup works with.
#[derive(Debug)]
pub struct Clients {
    pub s3: Client,
    pub archive: Archive,
    pub thumbnails_bucket: String,
}

pub async fn cleanup(clients: &Clients, request: CleanupRequest) -> Result<CleanupOutcome> {
    match request {
        CleanupRequest::Cleanup {
            photo,
            thumbnails,
            archive,
        } => {
            let wasabi = clients.archive.client().await?;
            let result = remove_archived(
                &clients.s3,
                &wasabi,
                &clients.thumbnails_bucket,
                &photo,
                &thumbnails,
                &archive,
            )
            .await;
            if matches!(result, Err(PipelineError::AccessDenied(_))) {
                clients.archive.forget_credentials().await;
            }
            result
        }
        CleanupRequest::Quarantine { event, error } => {
            quarantine(&clients.s3, &event, &error).await
        }
    }
}

async fn remove_archived(
    s3: &Client,
    wasabi: &Client,
    thumbnails_bucket: &str,
    photo: &Photo,
    thumbnails: &[ThumbnailRecord],
    archive: &ArchiveRecord,
) -> Result<CleanupOutcome> {
    if thumbnails.is_empty() {
        return Err(PipelineError::NotVerified(
            "the thumbnail step recorded no thumbnail".into(),
        ));
    }
    for thumbnail in thumbnails {
        verify_thumbnail(s3, thumbnails_bucket, thumbnail, photo).await?;
    }
    if archive.sha256 != photo.sha256 {
        return Err(PipelineError::IntegrityMismatch(format!(
            "archive record says SHA-256 {}, the original has {}",
            archive.sha256, photo.sha256
        )));
    }
    s3::verify_copy(
        wasabi,
        &archive.bucket,
        &archive.key,
        &photo.sha256,
        photo.size,
    )
    .await?;
    let result = match s3::remove_original(s3, &photo.source, &photo.etag).await? {
        Removal::Removed => "removed",
        Removal::AlreadyGone => "already_removed",
    };
    tracing::info!(key = %photo.source.key, result, "cleanup done");
    Ok(CleanupOutcome {
        result: result.into(),
        quarantine_key: None,
    })
}

/// A thumbnail of these very bytes is at the recorded key of the thumbnails bucket.
async fn verify_thumbnail(
    s3: &Client,
    thumbnails_bucket: &str,
    thumbnail: &ThumbnailRecord,
    photo: &Photo,
) -> Result<()> {
    if thumbnail.bucket != thumbnails_bucket {
        return Err(PipelineError::NotVerified(format!(
            "thumbnail is in {}, expected the thumbnails bucket {thumbnails_bucket}",
            thumbnail.bucket
        )));
    }
    let head = s3::head(s3, thumbnails_bucket, &thumbnail.key).await?;
    if head
        .as_ref()
        .and_then(|h| s3::metadata(h, meta::SOURCE_SHA256))
        != Some(photo.sha256.as_str())
    {
        return Err(PipelineError::NotVerified(format!(
            "no thumbnail of these bytes at s3://{thumbnails_bucket}/{}",
            thumbnail.key
        )));
    }
    Ok(())
}

async fn quarantine(
    s3: &Client,
    event: &ObjectCreatedEvent,
    error: &CaughtError,
) -> Result<CleanupOutcome> {
    let source = event.source_object()?;
    let (object_key, reason_key) = s3::quarantine_keys(&source);
    let outcome = |result: &str| CleanupOutcome {
        result: result.into(),
        quarantine_key: Some(object_key.clone()),
    };
    let Some(original) = s3::head_source(s3, &source).await? else {
        // Moved by an earlier attempt, or deleted by its owner: nothing left to keep.
        let result = if s3::head(s3, &source.bucket, &object_key).await?.is_some() {
            "already_quarantined"
        } else {
            "source_gone"
        };
        return Ok(outcome(result));
    };
    let reason = QuarantineReason {
        source_bucket: source.bucket.clone(),
        source_key: source.key.clone(),
        source_version_id: source.version_id.clone(),
        error: error.error.clone(),
        cause: error_message(&error.cause),
    };
    let reason_json = serde_json::to_vec_pretty(&reason).map_err(|e| {
        PipelineError::Configuration(format!("quarantine reason does not serialise: {e}"))
    })?;
    s3.put_object()
        .bucket(&source.bucket)
        .key(&reason_key)
        .content_type("application/json")
        .body(ByteStream::from(reason_json))
        .send()
        .await
        .map_err(|err| {
            PipelineError::from_sdk(
                &format!("PutObject s3://{}/{reason_key}", source.bucket),
                err,
            )
        })?;
    let mut copy_source = format!("{}/{}", source.bucket, s3::encode_key(&source.key));
    if let Some(version) = &source.version_id {
        copy_source = format!("{copy_source}?versionId={version}");
    }
    s3.copy_object()
        .bucket(&source.bucket)
        .key(&object_key)
        .copy_source(copy_source)
        .send()
        .await
        .map_err(|err| {
            PipelineError::from_sdk(
                &format!("CopyObject {} to {object_key}", source.describe()),
                err,
            )
        })?;
    let etag = original.e_tag().unwrap_or_default();
    s3::remove_original(s3, &source, etag).await?;
    tracing::info!(key = %source.key, %object_key, error = %error.error, "quarantined");
    Ok(outcome("quarantined"))
}

/// A Lambda error's `Cause` is the JSON `{errorType, errorMessage}`: keep the message.
fn error_message(cause: &str) -> String {
    #[derive(serde::Deserialize)]
    struct LambdaCause {
        #[serde(rename = "errorMessage")]
        error_message: String,
    }
    serde_json::from_str::<LambdaCause>(cause)
        .map_or_else(|_| cause.to_owned(), |c| c.error_message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_sdk_s3::types::error::NotFound;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const BYTES: &[u8] = b"original bytes";

    fn photo() -> Photo {
        photopipe::testing::photo("photos/a b.jpg", BYTES)
    }

    fn records() -> (ThumbnailRecord, ArchiveRecord) {
        (
            ThumbnailRecord {
                bucket: "thumbs".into(),
                key: "256x256/a b.jpg.jpg".into(),
                width: 1,
                height: 1,
                bytes: 9,
            },
            ArchiveRecord {
                bucket: "arch".into(),
                key: "a b.jpg".into(),
                sha256: photo().sha256,
                size: BYTES.len() as u64,
            },
        )
    }

    fn thumbnail_head(sha: String) -> aws_smithy_mocks::Rule {
        mock!(Client::head_object)
            .match_requests(|r| r.bucket() == Some("thumbs"))
            .then_output(move || {
                HeadObjectOutput::builder()
                    .metadata("source-sha256", sha.clone())
                    .build()
            })
    }

    fn archived(bytes: &'static [u8]) -> Client {
        let get = mock!(Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(bytes))
                .build()
        });
        mock_client!(aws_sdk_s3, [&get])
    }

    #[tokio::test]
    async fn removes_the_original_only_after_both_copies_verify() {
        let thumb = thumbnail_head(photo().sha256);
        let original = mock!(Client::head_object)
            .match_requests(|r| r.bucket() == Some("drop"))
            .then_output(|| HeadObjectOutput::builder().version_id("v1").build());
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&thumb, &original, &delete]);
        let outcome = remove_with(&s3, BYTES).await.expect("removed");
        assert_eq!(outcome.result, "removed");
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn keeps_the_original_when_the_archive_differs() {
        let thumb = thumbnail_head(photo().sha256);
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&thumb, &delete]);
        let err = remove_with(&s3, b"bit rot").await.expect_err("kept");
        assert_eq!(err.error_name(), "Photo.IntegrityMismatch");
        assert_eq!(delete.num_calls(), 0);
    }

    #[tokio::test]
    async fn keeps_the_original_when_the_thumbnail_is_missing() {
        let thumb = mock!(Client::head_object)
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&thumb, &delete]);
        let err = remove_with(&s3, BYTES).await.expect_err("kept");
        assert_eq!(err.error_name(), "Photo.NotVerified");
        assert_eq!(delete.num_calls(), 0);
    }

    /// Cleanup of `photo()` with its recorded thumbnail and archive copy, the archive
    /// holding `archived_bytes`.
    async fn remove_with(s3: &Client, archived_bytes: &'static [u8]) -> Result<CleanupOutcome> {
        let (thumbnail, archive) = records();
        remove_archived(
            s3,
            &archived(archived_bytes),
            "thumbs",
            &photo(),
            &[thumbnail],
            &archive,
        )
        .await
    }

    fn bad_upload() -> (ObjectCreatedEvent, CaughtError) {
        let event = serde_json::from_value(serde_json::json!({
            "detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "drop"}, "object": {"key": "photos/a+b.jpg", "version-id": "v1"}}
        }))
        .expect("event");
        let error = CaughtError {
            error: "Photo.InvalidImage".into(),
            cause: r#"{"errorType":"Photo.InvalidImage","errorMessage":"empty file"}"#.into(),
        };
        (event, error)
    }

    #[tokio::test]
    async fn quarantine_moves_the_exact_version_and_writes_the_reason() {
        let head = mock!(Client::head_object)
            .match_requests(|r| r.version_id() == Some("v1") || r.version_id().is_none())
            .then_output(|| {
                HeadObjectOutput::builder()
                    .version_id("v1")
                    .e_tag("\"e\"")
                    .build()
            });
        let reason = mock!(Client::put_object)
            .match_requests(|r| r.key() == Some("rejected/a b.jpg.reason.json"))
            .then_output(|| PutObjectOutput::builder().build());
        let copy = mock!(Client::copy_object)
            .match_requests(|r| {
                r.key() == Some("rejected/a b.jpg")
                    && r.copy_source() == Some("drop/photos/a%20b.jpg?versionId=v1")
            })
            .then_output(|| CopyObjectOutput::builder().build());
        let delete = mock!(Client::delete_object)
            .match_requests(|r| r.key() == Some("photos/a b.jpg"))
            .then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head, &reason, &copy, &delete]
        );
        let (event, error) = bad_upload();
        let outcome = quarantine(&s3, &event, &error).await.expect("quarantined");
        assert_eq!(outcome.result, "quarantined");
        assert_eq!(outcome.quarantine_key.as_deref(), Some("rejected/a b.jpg"));
        assert_eq!(
            (reason.num_calls(), copy.num_calls(), delete.num_calls()),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn quarantine_again_is_a_no_op() {
        let gone = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("photos/a b.jpg"))
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let kept = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("rejected/a b.jpg"))
            .then_output(|| HeadObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&gone, &kept]);
        let (event, error) = bad_upload();
        let outcome = quarantine(&s3, &event, &error).await.expect("no-op");
        assert_eq!(outcome.result, "already_quarantined");
    }

    #[test]
    fn the_reason_keeps_the_lambda_error_message() {
        assert_eq!(
            error_message(r#"{"errorType":"Photo.InvalidImage","errorMessage":"empty file"}"#),
            "empty file"
        );
        assert_eq!(error_message("plain"), "plain");
    }
}
