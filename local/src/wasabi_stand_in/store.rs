//! The Wasabi stand-in's storage: buckets, objects and multipart uploads in memory, behind
//! s3s's [`S3`] trait, as strict as S3 is about what it accepts.
//!
//! One lock guards everything, and it is held only to look up or swap whole values, never
//! while a body arrives or is hashed: a write reads and checks its body first (length,
//! Content-MD5, `x-amz-checksum-sha256`) and only then, under the lock, decides its
//! `If-None-Match` and puts the complete object in place. A refused write leaves nothing
//! behind. Keys are any string of at most 1024 bytes (s3s refuses longer ones with
//! KeyTooLongError), listed in UTF-8 byte order.
//!
//! What it does not do it refuses with NotImplemented rather than ignoring: checksums other
//! than SHA-256, `If-Match`, conditional reads, versions, delimiters.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use s3s::access::{S3Access, S3AccessContext};
use s3s::crypto::{Checksum as _, Md5, Sha256};
use s3s::dto::*;
use s3s::{Body, S3, S3Request, S3Response, S3Result, TrailingHeaders, s3_error};

/// The largest object a single PutObject may carry, and the largest part.
const MAX_UPLOAD: i64 = 5 * 1024 * 1024 * 1024;
/// The smallest size of every part of a multipart upload but the last.
const MIN_PART: usize = 5 * 1024 * 1024;
/// The highest part number.
const MAX_PART_NUMBER: i32 = 10_000;
/// The most user metadata an object may carry: names (without `x-amz-meta-`) and values.
const MAX_METADATA: usize = 2048;
/// The most keys, uploads or parts one listing returns.
const MAX_LISTED: i32 = 1000;

/// Whether a write's `If-None-Match: *` is honoured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConditionalWrites {
    /// As S3 does: refused with 412 PreconditionFailed when the key exists.
    #[default]
    Honoured,
    /// As a provider that does not document conditional writes may: the header is ignored
    /// and a later writer replaces the object.
    Ignored,
}

/// The store, shared by the s3s service (as its [`S3`] and [`S3Access`]) and the stand-in.
#[derive(Clone, Default)]
pub(super) struct Store(Arc<Mutex<State>>);

/// Counts, not the objects' bytes.
impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Store")
            .field("buckets", &state.buckets.len())
            .field("uploads", &state.uploads.len())
            .field("conditional_writes", &state.conditional_writes)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    buckets: BTreeMap<String, Bucket>,
    /// Multipart uploads in progress, by upload ID.
    uploads: BTreeMap<String, Upload>,
    uploads_created: u64,
    conditional_writes: ConditionalWrites,
    /// Successful object writes, by key.
    writes: HashMap<String, u32>,
    /// Requests, by operation name.
    requests: BTreeMap<String, u64>,
    /// The access key allowed only [`READ_OPERATIONS`].
    reader: Option<String>,
}

/// What the read-only key may do, as the read key's policy in the README allows
/// (`s3:GetObject` and `s3:ListBucket` on the archive bucket): every other operation signed
/// with it is refused with 403 AccessDenied, as Wasabi answers a request its policy denies.
const READ_OPERATIONS: [&str; 5] = [
    "GetObject",
    "HeadObject",
    "HeadBucket",
    "ListObjects",
    "ListObjectsV2",
];

struct Bucket {
    created: SystemTime,
    objects: BTreeMap<String, Arc<Object>>,
}

/// A complete object: replaced whole, never changed in place.
struct Object {
    data: Bytes,
    /// Without the quotes.
    e_tag: String,
    /// For an object completed from parts.
    parts_count: Option<i32>,
    attributes: Attributes,
    last_modified: SystemTime,
}

/// What a write says about its object besides the bytes.
#[derive(Clone)]
struct Attributes {
    content_type: Option<ContentType>,
    metadata: Option<Metadata>,
}

impl Attributes {
    fn new(content_type: Option<ContentType>, metadata: Option<Metadata>) -> S3Result<Self> {
        let size: usize = metadata
            .iter()
            .flatten()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        if size > MAX_METADATA {
            return Err(s3_error!(
                MetadataTooLarge,
                "Your metadata headers exceed the maximum allowed metadata size ({size} bytes, at most {MAX_METADATA})."
            ));
        }
        Ok(Self {
            content_type,
            metadata,
        })
    }
}

struct Upload {
    bucket: String,
    key: String,
    initiated: SystemTime,
    attributes: Attributes,
    parts: BTreeMap<i32, Part>,
}

#[derive(Clone)]
struct Part {
    data: Bytes,
    md5: [u8; 16],
    last_modified: SystemTime,
}

impl Store {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `access_key` (one the stand-in's auth knows) read-only.
    pub(super) fn set_reader(&self, access_key: &str) {
        self.state().reader = Some(access_key.to_owned());
    }

    pub(super) fn set_conditional_writes(&self, mode: ConditionalWrites) {
        self.state().conditional_writes = mode;
    }

    pub(super) fn writes(&self, key: &str) -> u32 {
        self.state().writes.get(key).copied().unwrap_or(0)
    }

    pub(super) fn requests(&self) -> BTreeMap<String, u64> {
        self.state().requests.clone()
    }

    pub(super) fn incomplete_uploads(&self) -> usize {
        self.state().uploads.len()
    }
}

impl State {
    fn bucket(&self, name: &str) -> S3Result<&Bucket> {
        self.buckets.get(name).ok_or_else(no_such_bucket)
    }

    fn bucket_mut(&mut self, name: &str) -> S3Result<&mut Bucket> {
        self.buckets.get_mut(name).ok_or_else(no_such_bucket)
    }

    fn object(&self, bucket: &str, key: &str) -> S3Result<Arc<Object>> {
        self.bucket(bucket)?
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }

    /// The upload `id`, which must be one for `bucket`/`key`.
    fn upload(&mut self, id: &str, bucket: &str, key: &str) -> S3Result<&mut Upload> {
        self.bucket(bucket)?;
        self.uploads
            .get_mut(id)
            .filter(|upload| upload.bucket == bucket && upload.key == key)
            .ok_or_else(|| {
                s3_error!(
                    NoSuchUpload,
                    "The specified multipart upload does not exist."
                )
            })
    }

    /// Puts a complete object in place: the moment a write takes effect, so its
    /// `If-None-Match` is decided against what is there now.
    fn commit(
        &mut self,
        bucket: &str,
        key: &str,
        object: Object,
        if_none_match: Option<&ETagCondition>,
    ) -> S3Result<()> {
        let honoured = self.conditional_writes == ConditionalWrites::Honoured;
        let objects = &mut self.bucket_mut(bucket)?.objects;
        if let Some(condition) = if_none_match.filter(|_| honoured) {
            unsupported(!condition.is_any(), "If-None-Match other than *")?;
            if objects.contains_key(key) {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        }
        objects.insert(key.to_owned(), Arc::new(object));
        *self.writes.entry(key.to_owned()).or_default() += 1;
        Ok(())
    }
}

fn no_such_bucket() -> s3s::S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist.")
}

/// Refuses a request that asks for what the stand-in does not do.
fn unsupported(asked: bool, what: &str) -> S3Result<()> {
    if asked {
        return Err(s3_error!(
            NotImplemented,
            "The Wasabi stand-in does not implement {what}."
        ));
    }
    Ok(())
}

/// Objects have no versions here (as in a bucket without versioning): only `null` names one.
fn unversioned(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        Some(version) if version != "null" => Err(s3_error!(
            InvalidArgument,
            "Invalid version id specified: {version}"
        )),
        _ => Ok(()),
    }
}

/// An upload's integrity checks: Content-MD5 and SHA-256, the latter as
/// `x-amz-checksum-sha256` or, announced by `x-amz-sdk-checksum-algorithm`, as a trailer.
struct Checks {
    content_md5: Option<String>,
    sha256: Option<String>,
    sha256_announced: bool,
}

impl Checks {
    fn new(
        content_md5: Option<String>,
        algorithm: Option<&ChecksumAlgorithm>,
        sha256: Option<String>,
        others: [&Option<String>; 4],
    ) -> S3Result<Self> {
        let sha256_announced = match algorithm.map(ChecksumAlgorithm::as_str) {
            None => false,
            Some(ChecksumAlgorithm::SHA256) => true,
            Some(other) => return Err(unsupported_checksum(other)),
        };
        unsupported(
            others.iter().any(|checksum| checksum.is_some()),
            "checksums other than SHA-256",
        )?;
        Ok(Self {
            content_md5,
            sha256,
            sha256_announced,
        })
    }

    /// Checks `received` against what the request said it holds.
    fn verify(mut self, received: &Received, trailers: Option<TrailingHeaders>) -> S3Result<()> {
        for (name, value) in trailers.and_then(|t| t.take()).iter().flatten() {
            match name.as_str() {
                "x-amz-checksum-sha256" => {
                    let value = value
                        .to_str()
                        .map_err(|_| s3_error!(InvalidArgument, "invalid {name} trailer"))?;
                    self.sha256 = Some(value.to_owned());
                }
                other if other.starts_with("x-amz-checksum-") => {
                    return Err(unsupported_checksum(other));
                }
                _ => {}
            }
        }
        if let Some(given) = &self.content_md5 {
            let given = STANDARD
                .decode(given)
                .ok()
                .filter(|md5| md5.len() == 16)
                .ok_or_else(|| {
                    s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid.")
                })?;
            if given != received.md5 {
                return Err(s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received."
                ));
            }
        }
        match &self.sha256 {
            Some(given) => {
                let valid = STANDARD.decode(given).is_ok_and(|sha| sha.len() == 32);
                if !valid {
                    return Err(s3_error!(
                        InvalidRequest,
                        "Value for x-amz-checksum-sha256 header is invalid."
                    ));
                }
                if *given != STANDARD.encode(received.sha256) {
                    return Err(s3_error!(
                        BadDigest,
                        "The SHA256 you specified did not match the calculated checksum."
                    ));
                }
            }
            None if self.sha256_announced => {
                return Err(s3_error!(
                    InvalidRequest,
                    "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found."
                ));
            }
            None => {}
        }
        Ok(())
    }
}

fn unsupported_checksum(algorithm: &str) -> s3s::S3Error {
    s3_error!(
        NotImplemented,
        "The Wasabi stand-in verifies SHA-256 checksums only, not {algorithm}."
    )
}

/// A request body read whole, with its digests.
struct Received {
    data: Bytes,
    md5: [u8; 16],
    sha256: [u8; 32],
}

/// Reads a body of exactly `content_length` bytes (at most [`MAX_UPLOAD`]).
async fn receive(body: Option<StreamingBlob>, content_length: Option<i64>) -> S3Result<Received> {
    let length = content_length.ok_or_else(|| s3_error!(MissingContentLength))?;
    if length > MAX_UPLOAD {
        return Err(s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed size."
        ));
    }
    let length = usize::try_from(length)
        .map_err(|_| s3_error!(InvalidArgument, "negative Content-Length"))?;
    let mut body = body.map_or_else(Body::empty, Body::from);
    let mut data = BytesMut::with_capacity(length);
    let (mut md5, mut sha256) = (Md5::new(), Sha256::new());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| s3_error!(IncompleteBody, "The body broke off: {e}"))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if data.len() + chunk.len() > length {
            return Err(s3_error!(
                IncompleteBody,
                "The body is longer than its Content-Length of {length} bytes."
            ));
        }
        md5.update(&chunk);
        sha256.update(&chunk);
        data.extend_from_slice(&chunk);
    }
    if data.len() != length {
        return Err(s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header ({} of {length}).",
            data.len()
        ));
    }
    Ok(Received {
        data: data.freeze(),
        md5: md5.finalize(),
        sha256: sha256.finalize(),
    })
}

fn size(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// A listing's page size: `max` as asked, at most [`MAX_LISTED`].
fn page_size(max: Option<i32>) -> S3Result<usize> {
    let max = max.unwrap_or(MAX_LISTED).min(MAX_LISTED);
    usize::try_from(max).map_err(|_| s3_error!(InvalidArgument, "negative maximum"))
}

#[async_trait::async_trait]
impl S3Access for Store {
    /// Counts the request, then refuses it when unsigned, or when the read-only key signed
    /// anything but a read.
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let operation = cx.s3_op().name();
        let mut state = self.state();
        *state.requests.entry(operation.to_owned()).or_default() += 1;
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        if state.reader.as_deref() == Some(credentials.access_key.as_str())
            && !READ_OPERATIONS.contains(&operation)
        {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let mut state = self.state();
        if state.buckets.contains_key(&req.input.bucket) {
            return Err(s3_error!(BucketAlreadyOwnedByYou));
        }
        let bucket = Bucket {
            created: SystemTime::now(),
            objects: BTreeMap::new(),
        };
        state.buckets.insert(req.input.bucket, bucket);
        Ok(S3Response::new(CreateBucketOutput::default()))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.state().bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .state()
            .buckets
            .iter()
            .map(|(name, bucket)| s3s::dto::Bucket {
                name: Some(name.clone()),
                creation_date: Some(bucket.created.into()),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        self.state().bucket(&input.bucket)?;
        unsupported(input.if_match.is_some(), "If-Match")?;
        unsupported(input.write_offset_bytes.is_some(), "appends")?;
        let attributes = Attributes::new(input.content_type, input.metadata)?;
        let checks = Checks::new(
            input.content_md5,
            input.checksum_algorithm.as_ref(),
            input.checksum_sha256,
            [
                &input.checksum_crc32,
                &input.checksum_crc32c,
                &input.checksum_crc64nvme,
                &input.checksum_sha1,
            ],
        )?;
        let received = receive(input.body, input.content_length).await?;
        checks.verify(&received, req.trailing_headers)?;
        let e_tag = hex::encode(received.md5);
        let object = Object {
            data: received.data,
            e_tag: e_tag.clone(),
            parts_count: None,
            attributes,
            last_modified: SystemTime::now(),
        };
        self.state().commit(
            &input.bucket,
            &input.key,
            object,
            input.if_none_match.as_ref(),
        )?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(e_tag)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        unsupported(
            input.if_match.is_some()
                || input.if_none_match.is_some()
                || input.if_modified_since.is_some()
                || input.if_unmodified_since.is_some(),
            "conditional reads",
        )?;
        unsupported(input.part_number.is_some(), "reading one part")?;
        unversioned(input.version_id.as_deref())?;
        let object = self.state().object(&input.bucket, &input.key)?;
        let whole = object.data.len() as u64;
        let (data, content_range) = match input.range {
            None => (object.data.clone(), None),
            Some(range) => {
                let range = range.check(whole)?;
                let data = object.data.slice(range.start as usize..range.end as usize);
                let content_range = format!("bytes {}-{}/{whole}", range.start, range.end - 1);
                (data, Some(content_range))
            }
        };
        Ok(S3Response::new(GetObjectOutput {
            accept_ranges: Some("bytes".to_owned()),
            content_length: Some(size(data.len())),
            content_range,
            body: Some(StreamingBlob::from(Body::from(data))),
            e_tag: Some(ETag::Strong(object.e_tag.clone())),
            last_modified: Some(object.last_modified.into()),
            parts_count: object.parts_count,
            content_type: object.attributes.content_type.clone(),
            metadata: object.attributes.metadata.clone(),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        unsupported(
            input.if_match.is_some()
                || input.if_none_match.is_some()
                || input.if_modified_since.is_some()
                || input.if_unmodified_since.is_some(),
            "conditional reads",
        )?;
        unsupported(
            input.part_number.is_some() || input.range.is_some(),
            "HEAD of a part or range",
        )?;
        unversioned(input.version_id.as_deref())?;
        let object = self.state().object(&input.bucket, &input.key)?;
        Ok(S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".to_owned()),
            content_length: Some(size(object.data.len())),
            e_tag: Some(ETag::Strong(object.e_tag.clone())),
            last_modified: Some(object.last_modified.into()),
            parts_count: object.parts_count,
            content_type: object.attributes.content_type.clone(),
            metadata: object.attributes.metadata.clone(),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        unversioned(input.version_id.as_deref())?;
        unsupported(
            input.if_match.is_some()
                || input.if_match_last_modified_time.is_some()
                || input.if_match_size.is_some(),
            "conditional deletes",
        )?;
        self.state()
            .bucket_mut(&input.bucket)?
            .objects
            .remove(&input.key);
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        unsupported(input.delimiter.is_some(), "delimiters")?;
        unsupported(input.encoding_type.is_some(), "encoding-type")?;
        let page = page_size(input.max_keys)?;
        let token = input
            .continuation_token
            .as_deref()
            .map(|token| {
                URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|key| String::from_utf8(key).ok())
                    .ok_or_else(|| {
                        s3_error!(
                            InvalidArgument,
                            "The continuation token provided is incorrect"
                        )
                    })
            })
            .transpose()?;
        let after = token.as_deref().max(input.start_after.as_deref());
        let prefix = input.prefix.as_deref().unwrap_or("");
        let state = self.state();
        let mut matching = state
            .bucket(&input.bucket)?
            .objects
            .range::<str, _>((
                after.map_or(Bound::Unbounded, Bound::Excluded),
                Bound::Unbounded,
            ))
            .skip_while(|(key, _)| key.as_str() < prefix)
            .take_while(|(key, _)| key.starts_with(prefix));
        let contents: Vec<_> = matching
            .by_ref()
            .take(page)
            .map(|(key, object)| s3s::dto::Object {
                key: Some(key.clone()),
                size: Some(size(object.data.len())),
                e_tag: Some(ETag::Strong(object.e_tag.clone())),
                last_modified: Some(object.last_modified.into()),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let truncated = page > 0 && matching.next().is_some();
        let next_continuation_token = truncated
            .then(|| contents.last().and_then(|object| object.key.as_deref()))
            .flatten()
            .map(|key| URL_SAFE_NO_PAD.encode(key));
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            start_after: input.start_after,
            continuation_token: input.continuation_token,
            max_keys: input.max_keys.or(Some(MAX_LISTED)),
            key_count: Some(i32::try_from(contents.len()).unwrap_or(MAX_LISTED)),
            is_truncated: Some(truncated),
            next_continuation_token,
            contents: Some(contents),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        unsupported(
            input.checksum_algorithm.is_some() || input.checksum_type.is_some(),
            "checksums of multipart objects",
        )?;
        let attributes = Attributes::new(input.content_type, input.metadata)?;
        let mut state = self.state();
        state.bucket(&input.bucket)?;
        state.uploads_created += 1;
        let upload_id = format!("wasabi-stand-in-upload-{:08}", state.uploads_created);
        let upload = Upload {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            initiated: SystemTime::now(),
            attributes,
            parts: BTreeMap::new(),
        };
        state.uploads.insert(upload_id.clone(), upload);
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        if !(1..=MAX_PART_NUMBER).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            ));
        }
        self.state()
            .upload(&input.upload_id, &input.bucket, &input.key)?;
        let checks = Checks::new(
            input.content_md5,
            input.checksum_algorithm.as_ref(),
            input.checksum_sha256,
            [
                &input.checksum_crc32,
                &input.checksum_crc32c,
                &input.checksum_crc64nvme,
                &input.checksum_sha1,
            ],
        )?;
        let received = receive(input.body, input.content_length).await?;
        checks.verify(&received, req.trailing_headers)?;
        let part = Part {
            data: received.data,
            md5: received.md5,
            last_modified: SystemTime::now(),
        };
        // Aborted or completed while the part arrived: then it has nowhere to go.
        self.state()
            .upload(&input.upload_id, &input.bucket, &input.key)?
            .parts
            .insert(input.part_number, part);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(hex::encode(received.md5))),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        unsupported(input.if_match.is_some(), "If-Match")?;
        unsupported(
            [
                &input.checksum_crc32,
                &input.checksum_crc32c,
                &input.checksum_crc64nvme,
                &input.checksum_sha1,
                &input.checksum_sha256,
            ]
            .iter()
            .any(|checksum| checksum.is_some())
                || input.checksum_type.is_some()
                || input.mpu_object_size.is_some(),
            "checksums or sizes of multipart objects",
        )?;
        let listed = input
            .multipart_upload
            .and_then(|upload| upload.parts)
            .unwrap_or_default();
        if listed.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let (id, bucket, key) = (&input.upload_id, &input.bucket, &input.key);
        let (parts, attributes) = {
            let mut state = self.state();
            let upload = state.upload(id, bucket, key)?;
            (chosen(upload, &listed)?, upload.attributes.clone())
        };
        if let Some(small) = parts[..parts.len() - 1]
            .iter()
            .find(|part| part.data.len() < MIN_PART)
        {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed size: a part of {} bytes before the last.",
                small.data.len()
            ));
        }
        let mut data = BytesMut::with_capacity(parts.iter().map(|part| part.data.len()).sum());
        let mut md5s = Md5::new();
        for part in &parts {
            data.extend_from_slice(&part.data);
            md5s.update(&part.md5);
        }
        let e_tag = format!("{}-{}", hex::encode(md5s.finalize()), parts.len());
        let object = Object {
            data: data.freeze(),
            e_tag: e_tag.clone(),
            parts_count: Some(i32::try_from(parts.len()).unwrap_or(MAX_PART_NUMBER)),
            attributes,
            last_modified: SystemTime::now(),
        };
        {
            let mut state = self.state();
            // The parts as they are now: one may have been replaced, or the upload aborted
            // or completed, while the object was being assembled.
            let now = chosen(state.upload(id, bucket, key)?, &listed)?;
            let same = now
                .iter()
                .zip(&parts)
                .all(|(now, then)| now.md5 == then.md5);
            if !same {
                return Err(s3_error!(
                    InvalidPart,
                    "A part was replaced while the upload was being completed."
                ));
            }
            // Refused by If-None-Match, the upload stays, to be completed or aborted.
            state.commit(bucket, key, object, input.if_none_match.as_ref())?;
            state.uploads.remove(id);
        }
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(e_tag)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let mut state = self.state();
        state.upload(&input.upload_id, &input.bucket, &input.key)?;
        state.uploads.remove(&input.upload_id);
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        unsupported(input.delimiter.is_some(), "delimiters")?;
        unsupported(input.encoding_type.is_some(), "encoding-type")?;
        let page = page_size(input.max_uploads)?;
        let prefix = input.prefix.as_deref().unwrap_or("");
        // After the key marker, or at it after the upload ID marker.
        let after = |key: &str, id: &str| match input.key_marker.as_deref() {
            None => true,
            Some(marker) => {
                key > marker
                    || (key == marker
                        && input
                            .upload_id_marker
                            .as_deref()
                            .is_some_and(|marker| id > marker))
            }
        };
        let state = self.state();
        state.bucket(&input.bucket)?;
        let mut matching: Vec<(&String, &Upload)> = state
            .uploads
            .iter()
            .filter(|(id, upload)| {
                upload.bucket == input.bucket
                    && upload.key.starts_with(prefix)
                    && after(&upload.key, id)
            })
            .collect();
        // By key, then by when they were created (which their IDs sort by).
        matching.sort_by(|(a_id, a), (b_id, b)| (&a.key, a_id).cmp(&(&b.key, b_id)));
        let truncated = page > 0 && matching.len() > page;
        matching.truncate(page);
        let last = matching.last().filter(|_| truncated);
        let next_key_marker = last.map(|(_, upload)| upload.key.clone());
        let next_upload_id_marker = last.map(|(id, _)| (*id).clone());
        let uploads = matching
            .iter()
            .map(|(id, upload)| MultipartUpload {
                key: Some(upload.key.clone()),
                upload_id: Some((*id).clone()),
                initiated: Some(upload.initiated.into()),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: input.max_uploads.or(Some(MAX_LISTED)),
            is_truncated: Some(truncated),
            next_key_marker,
            next_upload_id_marker,
            uploads: Some(uploads),
            ..Default::default()
        }))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let page = page_size(input.max_parts)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let mut state = self.state();
        let upload = state.upload(&input.upload_id, &input.bucket, &input.key)?;
        let mut after = upload
            .parts
            .range((Bound::Excluded(marker), Bound::Unbounded));
        let parts: Vec<_> = after
            .by_ref()
            .take(page)
            .map(|(number, part)| s3s::dto::Part {
                part_number: Some(*number),
                size: Some(size(part.data.len())),
                e_tag: Some(ETag::Strong(hex::encode(part.md5))),
                last_modified: Some(part.last_modified.into()),
                ..Default::default()
            })
            .collect();
        let truncated = page > 0 && after.next().is_some();
        let next_part_number_marker = parts
            .last()
            .filter(|_| truncated)
            .and_then(|part| part.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            max_parts: input.max_parts.or(Some(MAX_LISTED)),
            is_truncated: Some(truncated),
            next_part_number_marker,
            parts: Some(parts),
            ..Default::default()
        }))
    }
}

/// The parts a CompleteMultipartUpload lists, from `upload`: each must exist with the ETag
/// given, in ascending order of part number.
fn chosen(upload: &Upload, listed: &[CompletedPart]) -> S3Result<Vec<Part>> {
    let mut previous = 0;
    listed
        .iter()
        .map(|wanted| {
            let number = wanted
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "A part has no part number."))?;
            if number <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            previous = number;
            unsupported(
                [
                    &wanted.checksum_crc32,
                    &wanted.checksum_crc32c,
                    &wanted.checksum_crc64nvme,
                    &wanted.checksum_sha1,
                    &wanted.checksum_sha256,
                ]
                .iter()
                .any(|checksum| checksum.is_some()),
                "checksums of parts in CompleteMultipartUpload",
            )?;
            upload
                .parts
                .get(&number)
                .filter(|part| {
                    wanted
                        .e_tag
                        .as_ref()
                        .is_some_and(|e_tag| e_tag.value() == hex::encode(part.md5))
                })
                .cloned()
                .ok_or_else(|| {
                    s3_error!(
                        InvalidPart,
                        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag (part {number})."
                    )
                })
        })
        .collect()
}
