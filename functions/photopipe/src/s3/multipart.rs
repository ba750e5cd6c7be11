//! Multipart writes, for objects too big for one request: parts uploaded from memory, each
//! with its Content-MD5 ([`MultipartUpload::upload_part`]; archive streams an original to
//! Wasabi this way), or copied server-side by byte range
//! ([`MultipartUpload::copy_part`]; quarantine moves a source over CopyObject's 5 GiB this
//! way). An upload once created is either completed or aborted ([`MultipartUpload::finish`]),
//! so a failed attempt leaves no parts behind, invisible and billed.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use md5::{Digest, Md5};

use crate::error::{PipelineError, Result};
use crate::s3::lost_conditional_write;

/// The most parts one upload may have (S3's limit, and Wasabi's).
pub const MAX_PARTS: u64 = 10_000;

/// Whether [`MultipartUpload::finish`] may replace an object already under the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Allowed,
    /// Completed with `If-None-Match: *`.
    Refused,
}

/// How [`MultipartUpload::finish`] ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The object is written.
    Written,
    /// [`Overwrite::Refused`], and an object was there first (412), or another upload was
    /// completing under the key (409). The upload is aborted.
    LostRace,
}

/// A multipart upload that is created and neither completed nor aborted yet, with the parts
/// sent so far.
#[derive(Debug)]
pub struct MultipartUpload<'a> {
    client: &'a Client,
    bucket: String,
    key: String,
    upload_id: String,
    parts: Vec<CompletedPart>,
}

/// Aborts every incomplete upload of exactly `bucket/key` and says how many there were:
/// what a process killed mid-upload (a time-out, an out-of-memory) left behind, invisible
/// and billed, since its own abort never ran. Only for keys unique to their bytes (archive
/// keys): an upload under one is an earlier attempt at these very bytes, or one running
/// now, whose next part or Complete then fails `NoSuchUpload` and is retried.
pub async fn abort_abandoned(client: &Client, bucket: &str, key: &str) -> Result<usize> {
    let listed = client
        .list_multipart_uploads()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .map_err(|err| {
            PipelineError::from_sdk(&format!("ListMultipartUploads {bucket}/{key}"), err)
        })?;
    let mut aborted = 0;
    for upload in listed.uploads() {
        let (Some(found), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
            continue;
        };
        if found != key {
            continue;
        }
        client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|err| {
                PipelineError::from_sdk(&format!("AbortMultipartUpload {bucket}/{key}"), err)
            })?;
        tracing::info!(%bucket, %key, %upload_id, "aborted an upload an earlier attempt left behind");
        aborted += 1;
    }
    Ok(aborted)
}

impl<'a> MultipartUpload<'a> {
    /// CreateMultipartUpload of `bucket/key`, with whatever `configure` adds to the request
    /// (content type, metadata).
    pub async fn create(
        client: &'a Client,
        bucket: &str,
        key: &str,
        configure: impl FnOnce(CreateMultipartUploadFluentBuilder) -> CreateMultipartUploadFluentBuilder,
    ) -> Result<Self> {
        let request = client.create_multipart_upload().bucket(bucket).key(key);
        let output = configure(request).send().await.map_err(|err| {
            PipelineError::from_sdk(&format!("CreateMultipartUpload {bucket}/{key}"), err)
        })?;
        let upload_id = output.upload_id().ok_or_else(|| {
            PipelineError::Transient(format!(
                "CreateMultipartUpload {bucket}/{key} answered without an upload ID"
            ))
        })?;
        Ok(Self {
            client,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            parts: Vec::new(),
        })
    }

    /// Uploads `body` as the next part, with its Content-MD5 so the provider refuses a part
    /// damaged on the way.
    pub async fn upload_part(&mut self, body: bytes::Bytes) -> Result<()> {
        use base64::Engine;
        let number = self.next_part_number();
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
        let output = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .content_length(body.len() as i64)
            .content_md5(md5)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|err| {
                PipelineError::from_sdk(&self.describe_part("UploadPart", number), err)
            })?;
        self.record(number, output.e_tag(), "UploadPart")
    }

    /// Copies bytes `first..=last` of `copy_source` (`bucket/key?versionId=…`, as CopyObject
    /// takes it) as the next part.
    pub async fn copy_part(&mut self, copy_source: &str, first: u64, last: u64) -> Result<()> {
        let number = self.next_part_number();
        let output = self
            .client
            .upload_part_copy()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .copy_source(copy_source)
            .copy_source_range(format!("bytes={first}-{last}"))
            .send()
            .await
            .map_err(|err| {
                PipelineError::from_sdk(&self.describe_part("UploadPartCopy", number), err)
            })?;
        let etag = output.copy_part_result().and_then(|result| result.e_tag());
        self.record(number, etag, "UploadPartCopy")
    }

    /// Completes the upload with the parts sent if `parts` (the caller's sending of them)
    /// succeeded; aborts it whenever it is not written, so its parts never linger.
    pub async fn finish(self, parts: Result<()>, overwrite: Overwrite) -> Result<Completion> {
        let outcome = match parts {
            Ok(()) => self.complete(overwrite).await,
            Err(err) => Err(err),
        };
        if !matches!(outcome, Ok(Completion::Written)) {
            self.abort().await;
        }
        outcome
    }

    async fn complete(&self, overwrite: Overwrite) -> Result<Completion> {
        let mut request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts.clone()))
                    .build(),
            );
        if overwrite == Overwrite::Refused {
            request = request.if_none_match("*");
        }
        match request.send().await {
            Ok(_) => Ok(Completion::Written),
            Err(err) if overwrite == Overwrite::Refused && lost_conditional_write(&err) => {
                Ok(Completion::LostRace)
            }
            Err(err) => Err(PipelineError::from_sdk(
                &format!("CompleteMultipartUpload {}/{}", self.bucket, self.key),
                err,
            )),
        }
    }

    /// AbortMultipartUpload, best effort: a failure is logged with the upload ID for an
    /// operator (in the dropbox, its lifecycle rule aborts a leftover upload after 7 days),
    /// and what made us abort is what the caller returns.
    async fn abort(&self) {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await;
        match aborted {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, key = %self.key, "multipart upload aborted")
            }
            Err(err) => tracing::warn!(
                bucket = %self.bucket,
                key = %self.key,
                upload_id = %self.upload_id,
                error = %aws_smithy_types::error::display::DisplayErrorContext(&err),
                "could not abort the multipart upload; its parts stay until it is aborted"
            ),
        }
    }

    fn next_part_number(&self) -> i32 {
        self.parts.len() as i32 + 1
    }

    fn describe_part(&self, operation: &str, number: i32) -> String {
        format!("{operation} {number} of {}/{}", self.bucket, self.key)
    }

    fn record(&mut self, number: i32, etag: Option<&str>, operation: &str) -> Result<()> {
        let etag = etag.ok_or_else(|| {
            PipelineError::Transient(format!(
                "{} answered without an ETag",
                self.describe_part(operation, number)
            ))
        })?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(etag)
                .build(),
        );
        Ok(())
    }
}
