//! Cleanup: the only step that removes anything from the dropbox. It removes an original
//! only after re-checking that its thumbnails exist (but those the thumbnail step skipped,
//! by name, as too large to make within its memory) and that the archived copy reads back
//! with the original's SHA-256; and it moves a rejected original to quarantine, with the
//! reason beside it, instead of deleting it.

use aws_sdk_s3::Client;
use photopipe::event::ObjectCreatedEvent;
use photopipe::model::{
    ArchiveRecord, CaughtError, CleanupOutcome, CleanupRequest, CleanupResult, Photo,
    QuarantineReason, RenditionOutcome, ThumbnailRecord,
};
use photopipe::s3::checksum::{self, Recorded};
use photopipe::s3::dropbox::{self, Holder, Outcome, Quarantine, Removal};
use photopipe::s3::{self, meta};
use photopipe::wasabi::Wasabi;
use photopipe::{PipelineError, Result};

/// What cleanup works with.
#[derive(Debug)]
pub struct Dependencies {
    /// The dropbox's and the thumbnails bucket's client.
    pub s3: Client,
    pub wasabi: Wasabi,
    pub thumbnails_bucket: String,
}

pub async fn handle(
    dependencies: &Dependencies,
    request: CleanupRequest,
) -> Result<CleanupOutcome> {
    let Dependencies {
        s3,
        wasabi,
        thumbnails_bucket,
    } = dependencies;
    match request {
        CleanupRequest::Cleanup {
            photo,
            thumbnails,
            archive,
        } => {
            let wasabi = wasabi.client().await?;
            remove_archived(s3, wasabi, thumbnails_bucket, &photo, &thumbnails, &archive).await
        }
        CleanupRequest::Quarantine { event, error } => quarantine(s3, &event, &error).await,
    }
}

async fn remove_archived(
    s3: &Client,
    wasabi: &Client,
    thumbnails_bucket: &str,
    photo: &Photo,
    thumbnails: &[RenditionOutcome],
    archive: &ArchiveRecord,
) -> Result<CleanupOutcome> {
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
    // Thumbnails show the current upload: once another holds the key (or none does), this
    // version's thumbnails were rightly skipped or replaced, and only its archive counts.
    let holder = dropbox::holder(s3, &photo.source, &photo.etag).await?;
    if holder == Holder::This {
        if thumbnails.is_empty() {
            return Err(PipelineError::NotVerified(
                "the thumbnail step recorded no thumbnail".into(),
            ));
        }
        for outcome in thumbnails {
            match outcome {
                RenditionOutcome::Made(thumbnail) => {
                    verify_thumbnail(s3, thumbnails_bucket, thumbnail, photo).await?;
                }
                // Nothing was written for it, so nothing to verify: the step said why.
                RenditionOutcome::Skipped { rendition, skipped } => {
                    tracing::info!(key = %photo.source.key, %rendition, %skipped, "thumbnail was skipped");
                }
            }
        }
    }
    let removal =
        dropbox::remove_original(s3, &photo.source, &photo.etag, Outcome::Archived).await?;
    let result = match removal {
        Removal::Removed => CleanupResult::Removed,
        Removal::AlreadyGone => CleanupResult::AlreadyRemoved,
        Removal::Superseded => CleanupResult::Superseded,
    };
    tracing::info!(key = %photo.source.key, ?result, "cleanup done");
    Ok(CleanupOutcome {
        result,
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
    let recorded = checksum::recorded(
        s3,
        thumbnails_bucket,
        &thumbnail.key,
        meta::SOURCE_SHA256,
        &photo.sha256,
    )
    .await?;
    if !matches!(recorded, Recorded::Same(_)) {
        return Err(PipelineError::NotVerified(format!(
            "no thumbnail of these bytes at s3://{thumbnails_bucket}/{}",
            thumbnail.key
        )));
    }
    Ok(())
}

/// Moves a rejected original to quarantine with the reason it was rejected.
async fn quarantine(
    s3: &Client,
    event: &ObjectCreatedEvent,
    error: &CaughtError,
) -> Result<CleanupOutcome> {
    let source = event.source_object()?;
    let reason = QuarantineReason {
        source_bucket: source.bucket.clone(),
        source_key: source.key.clone(),
        source_version_id: source.version_id.clone(),
        error: error.error.clone(),
        cause: error.message(),
    };
    let result = match dropbox::quarantine(s3, &source, &reason).await? {
        Quarantine::Quarantined => CleanupResult::Quarantined,
        Quarantine::AlreadyQuarantined => CleanupResult::AlreadyQuarantined,
        Quarantine::SourceGone => CleanupResult::SourceGone,
    };
    let (quarantine_key, _) = s3::quarantine_keys(&source);
    tracing::info!(key = %source.key, %quarantine_key, error = %error.error, ?result, "quarantine");
    Ok(CleanupOutcome {
        result,
        quarantine_key: Some(quarantine_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_sdk_s3::operation::put_object_tagging::PutObjectTaggingOutput;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::TaggingDirective;
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

    /// The dropbox's HEAD of the key (no version): `version` is the current one.
    fn current(version: &'static str) -> aws_smithy_mocks::Rule {
        mock!(Client::head_object)
            .match_requests(|r| r.bucket() == Some("drop"))
            .then_output(move || HeadObjectOutput::builder().version_id(version).build())
    }

    fn tagging(value: &'static str) -> aws_smithy_mocks::Rule {
        mock!(Client::put_object_tagging)
            .match_requests(move |r| {
                r.version_id() == Some("v1")
                    && r.tagging()
                        .is_some_and(|t| t.tag_set().iter().any(|tag| tag.value() == value))
            })
            .then_output(|| PutObjectTaggingOutput::builder().build())
    }

    #[tokio::test]
    async fn removes_the_original_only_after_both_copies_verify() {
        let (thumb, original) = (thumbnail_head(photo().sha256), current("v1"));
        let tag = tagging("archived");
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&thumb, &original, &tag, &delete]
        );
        let outcome = remove_with(&s3, BYTES).await.expect("removed");
        assert_eq!(outcome.result, CleanupResult::Removed);
        assert_eq!((tag.num_calls(), delete.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn keeps_the_original_when_the_archive_differs() {
        let (thumb, original) = (thumbnail_head(photo().sha256), current("v1"));
        let (tag, delete) = (
            tagging("archived"),
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build()),
        );
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&thumb, &original, &tag, &delete]
        );
        let err = remove_with(&s3, b"bit rot").await.expect_err("kept");
        assert_eq!(err.error_name(), "Photo.IntegrityMismatch");
        assert_eq!((tag.num_calls(), delete.num_calls()), (0, 0));
    }

    #[tokio::test]
    async fn keeps_the_current_original_when_its_thumbnail_is_missing() {
        let thumb = mock!(Client::head_object)
            .match_requests(|r| r.bucket() == Some("thumbs"))
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let (original, tag) = (current("v1"), tagging("archived"));
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&thumb, &original, &tag, &delete]
        );
        let err = remove_with(&s3, BYTES).await.expect_err("kept");
        assert_eq!(err.error_name(), "Photo.NotVerified");
        assert_eq!((tag.num_calls(), delete.num_calls()), (0, 0));
    }

    #[tokio::test]
    async fn a_superseded_version_is_archived_and_tagged_and_the_newer_upload_kept() {
        // A newer upload holds the key and its thumbnail: this version's archive is what
        // counts, its thumbnail is rightly the newer one's.
        let thumb = thumbnail_head("00ff".into());
        let (newer, tag) = (current("v2"), tagging("archived"));
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&thumb, &newer, &tag, &delete]
        );
        let outcome = remove_with(&s3, BYTES).await.expect("settled");
        assert_eq!(outcome.result, CleanupResult::Superseded);
        assert_eq!((tag.num_calls(), delete.num_calls()), (1, 0));
    }

    /// Cleanup of `photo()` with its recorded thumbnail and archive copy, the archive
    /// holding `archived_bytes`.
    async fn remove_with(s3: &Client, archived_bytes: &'static [u8]) -> Result<CleanupOutcome> {
        let (thumbnail, _) = records();
        remove_with_outcomes(s3, archived_bytes, &[RenditionOutcome::Made(thumbnail)]).await
    }

    /// Cleanup of `photo()` with these rendition outcomes and its archive copy, the archive
    /// holding `archived_bytes`.
    async fn remove_with_outcomes(
        s3: &Client,
        archived_bytes: &'static [u8],
        thumbnails: &[RenditionOutcome],
    ) -> Result<CleanupOutcome> {
        let (_, archive) = records();
        remove_archived(
            s3,
            &archived(archived_bytes),
            "thumbs",
            &photo(),
            thumbnails,
            &archive,
        )
        .await
    }

    fn skipped() -> RenditionOutcome {
        RenditionOutcome::Skipped {
            rendition: "1024x1024:fit:jpeg:q80".into(),
            skipped: "100 MP 16-bit RGBA PNG needs about 1.4 GB to decode, the function has \
                      1024 MB: thumbnail skipped; raise the thumbnail function's memory to make it"
                .into(),
        }
    }

    #[tokio::test]
    async fn a_skipped_rendition_has_nothing_to_verify_a_made_one_is_still_verified() {
        // Only skipped: nothing of it in the thumbnails bucket is looked for.
        let (original, tag) = (current("v1"), tagging("archived"));
        let thumb = mock!(Client::head_object)
            .match_requests(|r| r.bucket() == Some("thumbs"))
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&thumb, &original, &tag, &delete]
        );
        let outcome = remove_with_outcomes(&s3, BYTES, &[skipped()])
            .await
            .expect("removed");
        assert_eq!(outcome.result, CleanupResult::Removed);
        assert_eq!((thumb.num_calls(), delete.num_calls()), (0, 1));
        // A skipped one beside a made one that is missing: the original is kept.
        let (made, _) = records();
        let err = remove_with_outcomes(&s3, BYTES, &[skipped(), RenditionOutcome::Made(made)])
            .await
            .expect_err("kept");
        assert_eq!(err.error_name(), "Photo.NotVerified");
        assert_eq!((thumb.num_calls(), delete.num_calls()), (1, 1));
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
            .match_requests(|r| {
                r.key() == Some("rejected/a b.jpg~v1.reason.json") && r.if_none_match() == Some("*")
            })
            .then_output(|| PutObjectOutput::builder().build());
        let copy = mock!(Client::copy_object)
            .match_requests(|r| {
                r.key() == Some("rejected/a b.jpg~v1")
                    && r.copy_source() == Some("drop/photos/a%20b.jpg?versionId=v1")
                    && r.tagging_directive() == Some(&TaggingDirective::Replace)
            })
            .then_output(|| CopyObjectOutput::builder().build());
        let tag = tagging("quarantined");
        let delete = mock!(Client::delete_object)
            .match_requests(|r| r.key() == Some("photos/a b.jpg"))
            .then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head, &reason, &copy, &tag, &delete]
        );
        let (event, error) = bad_upload();
        let outcome = quarantine(&s3, &event, &error).await.expect("quarantined");
        assert_eq!(outcome.result, CleanupResult::Quarantined);
        assert_eq!(
            outcome.quarantine_key.as_deref(),
            Some("rejected/a b.jpg~v1")
        );
        assert_eq!(
            (
                reason.num_calls(),
                copy.num_calls(),
                tag.num_calls(),
                delete.num_calls()
            ),
            (1, 1, 1, 1)
        );
    }

    #[tokio::test]
    async fn quarantine_again_is_a_no_op() {
        let gone = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("photos/a b.jpg"))
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let kept = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("rejected/a b.jpg~v1"))
            .then_output(|| HeadObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&gone, &kept]);
        let (event, error) = bad_upload();
        let outcome = quarantine(&s3, &event, &error).await.expect("no-op");
        assert_eq!(outcome.result, CleanupResult::AlreadyQuarantined);
    }
}
