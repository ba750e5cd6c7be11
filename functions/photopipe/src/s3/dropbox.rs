//! The dropbox's own writes, all in cleanup's hands: removing an archived original (a delete
//! marker, only if the object under the key is still the version processed) and moving a
//! rejected one to quarantine with its reason beside it.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::error::{PipelineError, Result};
use crate::event::SourceObject;
use crate::model::QuarantineReason;
use crate::s3::{encode_key, head, head_source, quarantine_keys};

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

/// What [`quarantine`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quarantine {
    /// The original is now under the quarantine key, its reason beside it.
    Quarantined,
    /// An earlier attempt moved it already.
    AlreadyQuarantined,
    /// Neither the original nor a quarantined copy exists (deleted by its owner).
    SourceGone,
}

/// Moves the exact version `source` names to quarantine: the reason is written first, then
/// the original copied beside it, and only then removed from `photos/`.
pub async fn quarantine(
    client: &Client,
    source: &SourceObject,
    reason: &QuarantineReason,
) -> Result<Quarantine> {
    let (object_key, reason_key) = quarantine_keys(source);
    let Some(original) = head_source(client, source).await? else {
        // Moved by an earlier attempt, or deleted by its owner: nothing left to keep.
        return Ok(
            if head(client, &source.bucket, &object_key).await?.is_some() {
                Quarantine::AlreadyQuarantined
            } else {
                Quarantine::SourceGone
            },
        );
    };
    let reason_json = serde_json::to_vec_pretty(reason).map_err(|e| {
        PipelineError::Internal(format!("quarantine reason does not serialise: {e}"))
    })?;
    client
        .put_object()
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
    let mut copy_source = format!("{}/{}", source.bucket, encode_key(&source.key));
    if let Some(version) = &source.version_id {
        copy_source = format!("{copy_source}?versionId={version}");
    }
    client
        .copy_object()
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
    remove_original(client, source, etag).await?;
    Ok(Quarantine::Quarantined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::types::error::NotFound;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use crate::s3::tests::source;

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
