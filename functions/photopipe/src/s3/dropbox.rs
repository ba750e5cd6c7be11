//! The dropbox's own writes, all in cleanup's hands: tagging a settled original's exact
//! version (so the lifecycle rule may expire it once it is noncurrent, and never before),
//! removing an archived original (a delete marker, only while the version processed is the
//! current one) and moving a rejected one to quarantine with its reason beside it. Also the
//! check, shared with thumbnail, of whether a version is still the current upload.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging, TaggingDirective};

use crate::error::{PipelineError, Result};
use crate::event::SourceObject;
use crate::model::QuarantineReason;
use crate::s3::multipart::{MAX_PARTS, MultipartUpload, Overwrite};
use crate::s3::{encode_key, head, head_source, lost_conditional_write, quarantine_keys};
use crate::settings::outcome_tag;

/// What holds an original's key now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The very version processed is the current one.
    This,
    /// A newer upload (another version).
    Newer,
    /// No object: a delete marker (an earlier cleanup's, or its owner's), or nothing.
    Nobody,
}

/// Which upload now holds `source`'s key: this version (recognised by version ID, or by
/// `etag` in an unversioned bucket), a newer one, or none.
pub async fn holder(client: &Client, source: &SourceObject, etag: &str) -> Result<Holder> {
    let Some(current) = head(client, &source.bucket, &source.key).await? else {
        return Ok(Holder::Nobody);
    };
    let this = match (&source.version_id, current.version_id()) {
        (Some(ours), Some(current)) => ours == current,
        _ => current.e_tag() == Some(etag),
    };
    Ok(if this { Holder::This } else { Holder::Newer })
}

/// How an original's fate was settled, as its version's outcome tag says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Archived,
    Quarantined,
}

/// Tags the exact version `source` names with its outcome: only a tagged version may be
/// expired by the lifecycle rule once it is noncurrent.
pub async fn tag_outcome(client: &Client, source: &SourceObject, outcome: Outcome) -> Result<()> {
    let value = match outcome {
        Outcome::Archived => outcome_tag::ARCHIVED,
        Outcome::Quarantined => outcome_tag::QUARANTINED,
    };
    let tag = Tag::builder()
        .key(outcome_tag::KEY)
        .value(value)
        .build()
        .map_err(|e| PipelineError::Internal(format!("outcome tag: {e}")))?;
    let tagging = Tagging::builder()
        .tag_set(tag)
        .build()
        .map_err(|e| PipelineError::Internal(format!("outcome tagging: {e}")))?;
    let tagged = client
        .put_object_tagging()
        .bucket(&source.bucket)
        .key(&source.key)
        .set_version_id(source.version_id.clone())
        .tagging(tagging)
        .send()
        .await;
    match tagged {
        Ok(_) => Ok(()),
        // The version itself is gone (permanently deleted): nothing is left to expire.
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 404) =>
        {
            tracing::warn!(source = %source.describe(), "no such version to tag");
            Ok(())
        }
        Err(err) => Err(PipelineError::from_sdk(
            &format!("PutObjectTagging {}", source.describe()),
            err,
        )),
    }
}

/// What [`remove_original`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// Gone from `photos/` already.
    AlreadyGone,
    /// A newer upload holds the key; it is not touched.
    Superseded,
}

/// Tags an original's version with its outcome, then removes it from the dropbox listing,
/// but only if it is still the current object under its key: a newer upload under the same
/// key is never touched. In a versioned dropbox this writes a delete marker, so the original
/// stays recoverable as a noncurrent version until the lifecycle rule expires it, which it
/// may now that the version is tagged.
pub async fn remove_original(
    client: &Client,
    source: &SourceObject,
    etag: &str,
    outcome: Outcome,
) -> Result<Removal> {
    tag_outcome(client, source, outcome).await?;
    match holder(client, source, etag).await? {
        Holder::Nobody => return Ok(Removal::AlreadyGone),
        Holder::Newer => return Ok(Removal::Superseded),
        Holder::This => {}
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
    /// Neither the original nor a quarantined copy exists (permanently deleted).
    SourceGone,
}

/// Moves the exact version `source` names to quarantine, under a key no other upload can
/// take: the reason is written first (`If-None-Match: *`, which S3 honours: an earlier
/// attempt's reason for this very version is kept), then the original copied beside it (in
/// parts when it is over CopyObject's 5 GiB), its version tagged as quarantined, and only
/// then removed from `photos/`.
pub async fn quarantine(
    client: &Client,
    source: &SourceObject,
    reason: &QuarantineReason,
) -> Result<Quarantine> {
    let (object_key, reason_key) = quarantine_keys(source);
    let Some(original) = head_source(client, source).await? else {
        // Moved by an earlier attempt and expired since, or permanently deleted.
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
    let written = client
        .put_object()
        .bucket(&source.bucket)
        .key(&reason_key)
        .if_none_match("*")
        .content_type("application/json")
        .body(ByteStream::from(reason_json))
        .send()
        .await;
    match written {
        Ok(_) => {}
        Err(err) if lost_conditional_write(&err) => {
            tracing::info!(%reason_key, "the reason is there from an earlier attempt");
        }
        Err(err) => {
            return Err(PipelineError::from_sdk(
                &format!("PutObject s3://{}/{reason_key}", source.bucket),
                err,
            ));
        }
    }
    let mut copy_source = format!("{}/{}", source.bucket, encode_key(&source.key));
    if let Some(version) = &source.version_id {
        copy_source = format!("{copy_source}?versionId={version}");
    }
    // The source's tags are not copied: a retried quarantine finds the original tagged, and
    // copying tags would need permissions cleanup does not have (nor need).
    let size = original.content_length().unwrap_or(0).max(0) as u64;
    if size > COPY_OBJECT_MAX_BYTES {
        copy_in_parts(client, source, &copy_source, &original, size, &object_key).await?;
    } else {
        client
            .copy_object()
            .bucket(&source.bucket)
            .key(&object_key)
            .copy_source(copy_source)
            .tagging_directive(TaggingDirective::Replace)
            .send()
            .await
            .map_err(|err| {
                PipelineError::from_sdk(
                    &format!("CopyObject {} to {object_key}", source.describe()),
                    err,
                )
            })?;
    }
    let etag = original.e_tag().unwrap_or_default();
    remove_original(client, source, etag, Outcome::Quarantined).await?;
    Ok(Quarantine::Quarantined)
}

/// The largest object CopyObject copies (5 GiB); a larger one is copied in parts.
const COPY_OBJECT_MAX_BYTES: u64 = 5 * GIB;

/// The bytes each UploadPartCopy copies: the largest object S3 holds (5 TiB) takes 5 120
/// parts, within [`MAX_PARTS`].
const COPY_PART_BYTES: u64 = GIB;
const _: () = assert!(5 * 1024 * GIB / COPY_PART_BYTES <= MAX_PARTS);

const GIB: u64 = 1024 * 1024 * 1024;

/// Copies `original` (`size` bytes, over CopyObject's limit) to `object_key` with
/// UploadPartCopy, [`COPY_PART_BYTES`] at a time. Content type, encoding and user metadata
/// are set from the source as CopyObject would copy them; tags are not (a multipart copy
/// never copies them, as `TaggingDirective::Replace` does not). Any failure aborts the upload.
async fn copy_in_parts(
    client: &Client,
    source: &SourceObject,
    copy_source: &str,
    original: &HeadObjectOutput,
    size: u64,
    object_key: &str,
) -> Result<()> {
    let mut upload = MultipartUpload::create(client, &source.bucket, object_key, |request| {
        request
            .set_content_type(original.content_type().map(str::to_owned))
            .set_content_encoding(original.content_encoding().map(str::to_owned))
            .set_content_disposition(original.content_disposition().map(str::to_owned))
            .set_content_language(original.content_language().map(str::to_owned))
            .set_cache_control(original.cache_control().map(str::to_owned))
            .set_metadata(original.metadata().cloned())
    })
    .await?;
    let copied = async {
        for first in (0..size).step_by(COPY_PART_BYTES as usize) {
            let last = (first + COPY_PART_BYTES).min(size) - 1;
            upload.copy_part(copy_source, first, last).await?;
        }
        Ok(())
    }
    .await;
    upload.finish(copied, Overwrite::Allowed).await?;
    tracing::info!(%object_key, size, "copied to quarantine in parts");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::put_object_tagging::PutObjectTaggingOutput;
    use aws_sdk_s3::types::error::NotFound;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    use crate::s3::tests::source;

    /// PutObjectTagging of version `v1` with `value`.
    fn tags_v1(value: &'static str) -> Rule {
        mock!(Client::put_object_tagging)
            .match_requests(move |r| {
                r.version_id() == Some("v1")
                    && r.tagging().is_some_and(|t| {
                        t.tag_set().len() == 1
                            && t.tag_set()[0].key() == outcome_tag::KEY
                            && t.tag_set()[0].value() == value
                    })
            })
            .then_output(|| PutObjectTaggingOutput::builder().build())
    }

    fn current(version: &'static str) -> Rule {
        mock!(Client::head_object)
            .match_requests(|r| r.version_id().is_none())
            .then_output(move || HeadObjectOutput::builder().version_id(version).build())
    }

    #[tokio::test]
    async fn remove_original_tags_the_version_then_deletes_only_if_it_is_current() {
        let (tag, head_ours) = (tags_v1(outcome_tag::ARCHIVED), current("v1"));
        let delete = mock!(Client::delete_object)
            .match_requests(|r| r.key() == Some("photos/a b.jpg") && r.version_id().is_none())
            .then_output(|| DeleteObjectOutput::builder().delete_marker(true).build());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&tag, &head_ours, &delete]);
        let removal = remove_original(&client, &source(Some("v1")), "e", Outcome::Archived)
            .await
            .expect("removed");
        assert_eq!(removal, Removal::Removed);
        assert_eq!((tag.num_calls(), delete.num_calls()), (1, 1));

        let (tag, head_newer) = (tags_v1(outcome_tag::ARCHIVED), current("v2"));
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&tag, &head_newer, &delete]);
        let removal = remove_original(&client, &source(Some("v1")), "e", Outcome::Archived)
            .await
            .expect("no-op");
        assert_eq!(removal, Removal::Superseded);
        assert_eq!(delete.num_calls(), 0, "a newer upload must not be deleted");
        assert_eq!(
            tag.num_calls(),
            1,
            "the archived version is tagged all the same"
        );

        let tag = tags_v1(outcome_tag::QUARANTINED);
        let head_gone = mock!(Client::head_object)
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&tag, &head_gone]);
        let removal = remove_original(&client, &source(Some("v1")), "e", Outcome::Quarantined)
            .await
            .expect("no-op");
        assert_eq!(removal, Removal::AlreadyGone);
        assert_eq!(tag.num_calls(), 1);
    }

    fn reason() -> QuarantineReason {
        QuarantineReason {
            source_bucket: "drop".into(),
            source_key: "photos/a b.jpg".into(),
            source_version_id: Some("v1".into()),
            error: "Photo.InvalidImage".into(),
            cause: "not an image".into(),
        }
    }

    /// HeadObject of version `v1`, `size` bytes long.
    fn head_v1(size: u64) -> Rule {
        mock!(Client::head_object)
            .match_requests(|r| r.version_id() == Some("v1"))
            .then_output(move || {
                HeadObjectOutput::builder()
                    .content_length(size as i64)
                    .content_type("video/mp4")
                    .e_tag("\"e\"")
                    .build()
            })
    }

    #[tokio::test]
    async fn a_source_over_5_gib_is_copied_to_quarantine_in_1_gib_parts() {
        use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
        use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
        use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
        use aws_sdk_s3::operation::put_object::PutObjectOutput;
        use aws_sdk_s3::operation::upload_part_copy::UploadPartCopyOutput;
        use aws_sdk_s3::types::CopyPartResult;
        use std::sync::{Arc, Mutex};

        let size = 12 * GIB;
        let (object_key, _) = quarantine_keys(&source(Some("v1")));
        let head = head_v1(size);
        let reason_put =
            mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
        let copy = mock!(Client::copy_object).then_output(|| CopyObjectOutput::builder().build());
        let create = mock!(Client::create_multipart_upload)
            .match_requests(move |r| {
                r.key() == Some(object_key.as_str()) && r.content_type() == Some("video/mp4")
            })
            .then_output(|| {
                CreateMultipartUploadOutput::builder()
                    .upload_id("u1")
                    .build()
            });
        let copied = Arc::new(Mutex::new(Vec::new()));
        let part = mock!(Client::upload_part_copy).then_compute_output({
            let copied = Arc::clone(&copied);
            move |r| {
                let number = r.part_number().expect("part number");
                assert_eq!(r.upload_id(), Some("u1"));
                assert_eq!(r.copy_source(), Some("drop/photos/a%20b.jpg?versionId=v1"));
                let range = r.copy_source_range().expect("range").to_owned();
                copied.lock().expect("lock").push((number, range));
                UploadPartCopyOutput::builder()
                    .copy_part_result(
                        CopyPartResult::builder()
                            .e_tag(format!("p{number}"))
                            .build(),
                    )
                    .build()
            }
        });
        let complete = mock!(Client::complete_multipart_upload)
            .match_requests(|r| {
                let parts = r.multipart_upload().map(|u| u.parts()).unwrap_or_default();
                r.upload_id() == Some("u1")
                    && r.if_none_match().is_none()
                    && parts.len() == 12
                    && parts.iter().zip(1..).all(|(p, n)| {
                        p.part_number() == Some(n) && p.e_tag() == Some(format!("p{n}").as_str())
                    })
            })
            .then_output(|| CompleteMultipartUploadOutput::builder().build());
        let (tag, head_current) = (tags_v1(outcome_tag::QUARANTINED), current("v1"));
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [
                &head,
                &reason_put,
                &copy,
                &create,
                &part,
                &complete,
                &tag,
                &head_current,
                &delete
            ]
        );
        let moved = quarantine(&client, &source(Some("v1")), &reason()).await;
        assert_eq!(moved, Ok(Quarantine::Quarantined));
        assert_eq!(copy.num_calls(), 0, "CopyObject refuses more than 5 GiB");
        let expected: Vec<_> = (0..12)
            .map(|i| {
                (
                    i as i32 + 1,
                    format!("bytes={}-{}", i * GIB, (i + 1) * GIB - 1),
                )
            })
            .collect();
        assert_eq!(*copied.lock().expect("lock"), expected);
        assert_eq!((complete.num_calls(), delete.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_failed_part_copy_aborts_the_upload_and_keeps_the_original() {
        use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput;
        use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
        use aws_sdk_s3::operation::put_object::PutObjectOutput;
        use aws_sdk_s3::operation::upload_part_copy::UploadPartCopyOutput;
        use aws_sdk_s3::types::CopyPartResult;

        let head = head_v1(6 * GIB);
        let reason_put =
            mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
        let create = mock!(Client::create_multipart_upload).then_output(|| {
            CreateMultipartUploadOutput::builder()
                .upload_id("u1")
                .build()
        });
        let first = mock!(Client::upload_part_copy)
            .match_requests(|r| r.part_number() == Some(1))
            .then_output(|| {
                UploadPartCopyOutput::builder()
                    .copy_part_result(CopyPartResult::builder().e_tag("p1").build())
                    .build()
            });
        let second = mock!(Client::upload_part_copy).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(500).expect("status"),
                aws_smithy_types::body::SdkBody::from(
                    "<Error><Code>InternalError</Code><Message>disk</Message></Error>",
                ),
            )
        });
        let abort = mock!(Client::abort_multipart_upload)
            .match_requests(|r| r.upload_id() == Some("u1"))
            .then_output(|| AbortMultipartUploadOutput::builder().build());
        let (tag, delete) = (
            tags_v1(outcome_tag::QUARANTINED),
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build()),
        );
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [
                &head,
                &reason_put,
                &create,
                &first,
                &second,
                &abort,
                &tag,
                &delete
            ]
        );
        let err = quarantine(&client, &source(Some("v1")), &reason())
            .await
            .expect_err("failed");
        assert_eq!(err.error_name(), "Photo.Transient", "{err}");
        assert_eq!(abort.num_calls(), 1, "no incomplete upload is left behind");
        assert_eq!((tag.num_calls(), delete.num_calls()), (0, 0));
    }

    #[tokio::test]
    async fn tagging_a_version_that_is_gone_is_no_error() {
        let gone = mock!(Client::put_object_tagging).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(404).expect("status"),
                aws_smithy_types::body::SdkBody::from(
                    "<Error><Code>NoSuchVersion</Code><Message>gone</Message></Error>",
                ),
            )
        });
        let client = mock_client!(aws_sdk_s3, [&gone]);
        assert_eq!(
            tag_outcome(&client, &source(Some("v1")), Outcome::Archived).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn holder_tells_this_version_a_newer_one_and_none_apart() {
        for (answer, expected) in [("v1", Holder::This), ("v2", Holder::Newer)] {
            let head = current(answer);
            let client = mock_client!(aws_sdk_s3, [&head]);
            let found = holder(&client, &source(Some("v1")), "e").await;
            assert_eq!(found, Ok(expected));
        }
        let unversioned = mock!(Client::head_object)
            .then_output(|| HeadObjectOutput::builder().e_tag("\"e1\"").build());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&unversioned]);
        assert_eq!(
            holder(&client, &source(None), "\"e1\"").await,
            Ok(Holder::This)
        );
        assert_eq!(
            holder(&client, &source(None), "\"e0\"").await,
            Ok(Holder::Newer)
        );
        let gone = mock!(Client::head_object)
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let client = mock_client!(aws_sdk_s3, [&gone]);
        assert_eq!(
            holder(&client, &source(Some("v1")), "e").await,
            Ok(Holder::Nobody)
        );
    }
}
