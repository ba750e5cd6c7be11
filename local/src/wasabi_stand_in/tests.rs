//! The stand-in driven by a real S3 client, built as the stack builds its own (path-style,
//! checksums only when required), with retries off so every refusal is seen as answered.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use s3s::crypto::{Checksum as _, Md5, Sha256};

use super::*;

const BUCKET: &str = "archive";
const MIB: usize = 1024 * 1024;

fn client(wasabi: &WasabiStandIn, access_key: &str, secret_key: &str) -> Client {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let settings = photopipe::settings::WasabiSettings {
        endpoint: wasabi.endpoint.clone(),
        region: "eu-central-2".into(),
        bucket: BUCKET.into(),
        secret_name: "unused".into(),
    };
    let credentials =
        aws_credential_types::Credentials::new(access_key, secret_key, None, None, "test");
    photopipe::wasabi::client_for(&sdk, &settings, credentials)
}

/// A stand-in with the bucket created, and a client with its credentials.
async fn started() -> (WasabiStandIn, Client) {
    let wasabi = WasabiStandIn::start(
        ("STANDINACCESS", "stand-in-secret"),
        ("STANDINREAD", "stand-in-read-secret"),
    )
    .await
    .expect("starts");
    let s3 = client(&wasabi, &wasabi.access_key, &wasabi.secret_key);
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("creates the bucket");
    (wasabi, s3)
}

fn md5(bytes: &[u8]) -> [u8; 16] {
    Md5::checksum(bytes)
}

fn sha256_base64(bytes: &[u8]) -> String {
    STANDARD.encode(Sha256::checksum(bytes))
}

/// The HTTP status and S3 error code a request was refused with.
fn refusal<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, SdkError<E>>,
) -> (u16, String) {
    let err = result.expect_err("refused");
    let status = err.raw_response().map_or(0, |r| r.status().as_u16());
    (status, err.code().unwrap_or_default().to_owned())
}

fn refused(status: u16, code: &str) -> (u16, String) {
    (status, code.to_owned())
}

async fn put(
    s3: &Client,
    key: &str,
    body: &[u8],
) -> Result<PutObjectOutput, SdkError<PutObjectError>> {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
}

async fn put_if_absent(
    s3: &Client,
    key: &str,
    body: &[u8],
) -> Result<PutObjectOutput, SdkError<PutObjectError>> {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .if_none_match("*")
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
}

/// An object's bytes, `None` when there is no such key.
async fn read(s3: &Client, key: &str) -> Option<Vec<u8>> {
    match s3.get_object().bucket(BUCKET).key(key).send().await {
        Ok(object) => Some(
            object
                .body
                .collect()
                .await
                .expect("reads the body")
                .to_vec(),
        ),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => None,
        Err(err) => panic!("GetObject {key}: {err:?}"),
    }
}

async fn exists(s3: &Client, key: &str) -> bool {
    match s3.head_object().bucket(BUCKET).key(key).send().await {
        Ok(_) => true,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => false,
        Err(err) => panic!("HeadObject {key}: {err:?}"),
    }
}

/// Every key, page by page of `page` keys.
async fn list(s3: &Client, prefix: Option<&str>, page: i32) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let answer = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .set_prefix(prefix.map(str::to_owned))
            .max_keys(page)
            .set_continuation_token(token)
            .send()
            .await
            .expect("lists");
        assert!(answer.contents().len() <= usize::try_from(page).expect("positive"));
        keys.extend(
            answer
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = answer.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            assert_eq!(answer.is_truncated(), Some(false));
            return keys;
        }
    }
}

async fn create_upload(s3: &Client, key: &str) -> String {
    s3.create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("creates the upload")
        .upload_id()
        .expect("an upload ID")
        .to_owned()
}

/// Uploads `parts` as parts 1, 2, … and returns them as CompleteMultipartUpload lists them.
async fn upload_parts(s3: &Client, key: &str, id: &str, parts: &[Vec<u8>]) -> Vec<CompletedPart> {
    let mut completed = Vec::new();
    for (number, part) in (1..).zip(parts) {
        let answer = s3
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(id)
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .expect("uploads the part");
        assert_eq!(
            answer.e_tag(),
            Some(format!("\"{}\"", hex::encode(md5(part))).as_str())
        );
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(answer.e_tag().map(str::to_owned))
                .build(),
        );
    }
    completed
}

fn listing(parts: Vec<CompletedPart>) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(parts))
        .build()
}

async fn upload_ids(s3: &Client) -> Vec<String> {
    s3.list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .expect("lists uploads")
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn keys_s3_accepts_are_stored_and_listed_in_byte_order() {
    let (wasabi, s3) = started().await;
    let long_part = format!("photos/{}/a.jpg", "p".repeat(300));
    let odd = "trip (2024)/Zürich: 100% + more/ä b.jpg".to_owned();
    let mut longest = "long/été ".to_owned();
    while longest.len() < 1024 {
        longest.push('k');
    }
    assert_eq!(longest.len(), 1024);
    let keys = [
        long_part.clone(),
        "zebra".to_owned(),
        odd.clone(),
        "ärger".to_owned(),
        longest.clone(),
    ];
    for key in &keys {
        put(&s3, key, key.as_bytes()).await.expect("stores the key");
    }
    for key in &keys {
        assert_eq!(read(&s3, key).await.as_deref(), Some(key.as_bytes()));
    }
    let in_byte_order = vec![
        longest,
        long_part.clone(),
        odd,
        "zebra".into(),
        "ärger".into(),
    ];
    assert_eq!(list(&s3, None, 1000).await, in_byte_order);
    assert_eq!(list(&s3, None, 2).await, in_byte_order);
    assert_eq!(list(&s3, Some("photos/"), 1).await, vec![long_part]);
    assert_eq!(list(&s3, Some("photos/q"), 1).await, Vec::<String>::new());
    wasabi.stop().await;
}

#[tokio::test]
async fn a_key_over_1024_bytes_is_refused() {
    let (wasabi, s3) = started().await;
    let key = "k".repeat(1025);
    assert_eq!(
        refusal(put(&s3, &key, b"too long").await),
        refused(400, "KeyTooLongError")
    );
    assert_eq!(wasabi.writes(&key), 0);
    assert_eq!(list(&s3, None, 1000).await, Vec::<String>::new());
    wasabi.stop().await;
}

#[tokio::test]
async fn of_two_conditional_writers_exactly_one_wins() {
    let (wasabi, s3) = started().await;
    for round in 0..10 {
        let key = format!("race/{round}");
        let (first, second) = tokio::join!(
            put_if_absent(&s3, &key, b"first"),
            put_if_absent(&s3, &key, b"second")
        );
        let (winner, loser): (&[u8], _) = match (first, second) {
            (Ok(_), Err(lost)) => (b"first", lost),
            (Err(lost), Ok(_)) => (b"second", lost),
            other => panic!("not exactly one winner: {other:?}"),
        };
        assert_eq!(
            refusal::<(), _>(Err(loser)),
            refused(412, "PreconditionFailed")
        );
        assert_eq!(read(&s3, &key).await.as_deref(), Some(winner));
        assert_eq!(wasabi.writes(&key), 1);
    }
    wasabi.stop().await;
}

#[tokio::test]
async fn ignored_conditional_writes_let_the_later_writer_replace_the_object() {
    let (wasabi, s3) = started().await;
    wasabi.set_conditional_writes(ConditionalWrites::Ignored);
    let (first, second) = tokio::join!(
        put_if_absent(&s3, "race", b"first"),
        put_if_absent(&s3, "race", b"second")
    );
    first.expect("the first writer is answered 200");
    second.expect("the second writer is answered 200");
    assert_eq!(wasabi.writes("race"), 2);
    let stored = read(&s3, "race").await.expect("stored");
    assert!(stored == b"first" || stored == b"second", "{stored:?}");

    put_if_absent(&s3, "race", b"third")
        .await
        .expect("the later writer is answered 200");
    assert_eq!(
        read(&s3, "race").await.as_deref(),
        Some(b"third".as_slice())
    );
    assert_eq!(wasabi.writes("race"), 3);

    wasabi.set_conditional_writes(ConditionalWrites::Honoured);
    assert_eq!(
        refusal(put_if_absent(&s3, "race", b"fourth").await),
        refused(412, "PreconditionFailed")
    );
    assert_eq!(
        read(&s3, "race").await.as_deref(),
        Some(b"third".as_slice())
    );
    wasabi.stop().await;
}

#[tokio::test]
async fn a_wrong_content_md5_stores_nothing() {
    let (wasabi, s3) = started().await;
    let wrong = s3
        .put_object()
        .bucket(BUCKET)
        .key("photo.jpg")
        .content_md5(STANDARD.encode(md5(b"other bytes")))
        .body(ByteStream::from_static(b"the bytes"))
        .send()
        .await;
    assert_eq!(refusal(wrong), refused(400, "BadDigest"));
    assert!(!exists(&s3, "photo.jpg").await);
    assert_eq!(wasabi.writes("photo.jpg"), 0);

    let right = s3
        .put_object()
        .bucket(BUCKET)
        .key("photo.jpg")
        .content_md5(STANDARD.encode(md5(b"the bytes")))
        .body(ByteStream::from_static(b"the bytes"))
        .send()
        .await
        .expect("stores it");
    let e_tag = format!("\"{}\"", hex::encode(md5(b"the bytes")));
    assert_eq!(right.e_tag(), Some(e_tag.as_str()));
    assert_eq!(
        read(&s3, "photo.jpg").await.as_deref(),
        Some(b"the bytes".as_slice())
    );

    let over_it = s3
        .put_object()
        .bucket(BUCKET)
        .key("photo.jpg")
        .content_md5(STANDARD.encode(md5(b"other bytes")))
        .body(ByteStream::from_static(b"new bytes"))
        .send()
        .await;
    assert_eq!(refusal(over_it), refused(400, "BadDigest"));
    assert_eq!(
        read(&s3, "photo.jpg").await.as_deref(),
        Some(b"the bytes".as_slice())
    );
    assert_eq!(wasabi.writes("photo.jpg"), 1);
    wasabi.stop().await;
}

#[tokio::test]
async fn a_wrong_sha256_checksum_stores_nothing() {
    let (wasabi, s3) = started().await;
    let wrong = s3
        .put_object()
        .bucket(BUCKET)
        .key("photo.jpg")
        .checksum_sha256(sha256_base64(b"other bytes"))
        .body(ByteStream::from_static(b"the bytes"))
        .send()
        .await;
    assert_eq!(refusal(wrong), refused(400, "BadDigest"));
    assert!(!exists(&s3, "photo.jpg").await);
    assert_eq!(wasabi.writes("photo.jpg"), 0);

    s3.put_object()
        .bucket(BUCKET)
        .key("photo.jpg")
        .checksum_sha256(sha256_base64(b"the bytes"))
        .body(ByteStream::from_static(b"the bytes"))
        .send()
        .await
        .expect("stores it");
    assert_eq!(
        read(&s3, "photo.jpg").await.as_deref(),
        Some(b"the bytes".as_slice())
    );
    wasabi.stop().await;
}

#[tokio::test]
async fn other_checksum_algorithms_are_refused() {
    let (wasabi, s3) = started().await;
    let crc32 = s3
        .put_object()
        .bucket(BUCKET)
        .key("photo.jpg")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"the bytes"))
        .send()
        .await;
    assert_eq!(refusal(crc32), refused(501, "NotImplemented"));
    assert!(!exists(&s3, "photo.jpg").await);
    wasabi.stop().await;
}

#[tokio::test]
async fn ranges_are_served_as_s3_serves_them() {
    let (wasabi, s3) = started().await;
    put(&s3, "digits", b"0123456789").await.expect("stores");
    for (range, bytes, content_range) in [
        ("bytes=2-5", "2345", "bytes 2-5/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=-3", "789", "bytes 7-9/10"),
        ("bytes=8-20", "89", "bytes 8-9/10"),
        ("bytes=0-0", "0", "bytes 0-0/10"),
    ] {
        let answer = s3
            .get_object()
            .bucket(BUCKET)
            .key("digits")
            .range(range)
            .send()
            .await
            .expect("serves the range");
        assert_eq!(answer.content_range(), Some(content_range), "{range}");
        assert_eq!(answer.content_length(), Some(bytes.len() as i64), "{range}");
        let body = answer.body.collect().await.expect("reads").to_vec();
        assert_eq!(String::from_utf8(body).expect("digits"), bytes, "{range}");
    }
    for unsatisfiable in ["bytes=10-", "bytes=-0", "bytes=12-15"] {
        let answer = s3
            .get_object()
            .bucket(BUCKET)
            .key("digits")
            .range(unsatisfiable)
            .send()
            .await;
        assert_eq!(
            refusal(answer),
            refused(416, "InvalidRange"),
            "{unsatisfiable}"
        );
    }
    wasabi.stop().await;
}

#[tokio::test]
async fn a_multipart_upload_completes_with_the_multipart_etag() {
    let (wasabi, s3) = started().await;
    let key = "big/photo.heic";
    let parts = vec![vec![1u8; 5 * MIB], vec![2u8; 5 * MIB], vec![3u8]];
    let id = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .content_type("image/heic")
        .metadata("sha256", "feed")
        .send()
        .await
        .expect("creates the upload")
        .upload_id()
        .expect("an upload ID")
        .to_owned();
    let completed = upload_parts(&s3, key, &id, &parts).await;
    assert_eq!(upload_ids(&s3).await, vec![id.clone()]);
    let listed = s3
        .list_parts()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&id)
        .send()
        .await
        .expect("lists the parts");
    let sizes: Vec<_> = listed
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.size()))
        .collect();
    let five = Some(5 * MIB as i64);
    assert_eq!(
        sizes,
        vec![(Some(1), five), (Some(2), five), (Some(3), Some(1))]
    );
    assert!(!exists(&s3, key).await, "no object before it is completed");

    let done = s3
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&id)
        .multipart_upload(listing(completed))
        .send()
        .await
        .expect("completes");
    let part_md5s: Vec<u8> = parts.iter().flat_map(|p| md5(p)).collect();
    let e_tag = format!("\"{}-3\"", hex::encode(md5(&part_md5s)));
    assert_eq!(done.e_tag(), Some(e_tag.as_str()));

    let object = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("reads it");
    assert_eq!(object.e_tag(), Some(e_tag.as_str()));
    assert_eq!(object.content_type(), Some("image/heic"));
    assert_eq!(
        object
            .metadata()
            .and_then(|m| m.get("sha256"))
            .map(String::as_str),
        Some("feed")
    );
    assert_eq!(object.parts_count(), Some(3));
    let bytes = object.body.collect().await.expect("reads").to_vec();
    assert_eq!(bytes, parts.concat());
    assert_eq!(wasabi.writes(key), 1);
    assert_eq!(wasabi.incomplete_uploads(), 0);
    assert_eq!(upload_ids(&s3).await, Vec::<String>::new());
    let gone = s3
        .list_parts()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&id)
        .send()
        .await;
    assert_eq!(refusal(gone), refused(404, "NoSuchUpload"));
    wasabi.stop().await;
}

#[tokio::test]
async fn a_part_under_5_mib_before_the_last_is_refused() {
    let (wasabi, s3) = started().await;
    let id = create_upload(&s3, "small").await;
    let completed = upload_parts(&s3, "small", &id, &[vec![1u8; 5 * MIB - 1], vec![2u8]]).await;
    let answer = s3
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("small")
        .upload_id(&id)
        .multipart_upload(listing(completed))
        .send()
        .await;
    assert_eq!(refusal(answer), refused(400, "EntityTooSmall"));
    assert!(!exists(&s3, "small").await);
    assert_eq!(wasabi.writes("small"), 0);
    assert_eq!(
        wasabi.incomplete_uploads(),
        1,
        "the upload stays, to be aborted"
    );
    wasabi.stop().await;
}

#[tokio::test]
async fn completed_parts_must_exist_in_order_with_their_etags() {
    let (wasabi, s3) = started().await;
    let id = create_upload(&s3, "parts").await;
    let completed = upload_parts(&s3, "parts", &id, &[vec![1u8; 5 * MIB], vec![2u8]]).await;
    let complete = |parts: Vec<CompletedPart>| {
        s3.complete_multipart_upload()
            .bucket(BUCKET)
            .key("parts")
            .upload_id(&id)
            .multipart_upload(listing(parts))
            .send()
    };
    let reversed = vec![completed[1].clone(), completed[0].clone()];
    assert_eq!(
        refusal(complete(reversed).await),
        refused(400, "InvalidPartOrder")
    );
    let wrong_e_tag = vec![
        completed[0].clone(),
        CompletedPart::builder()
            .part_number(2)
            .e_tag(format!("\"{}\"", hex::encode(md5(b"other"))))
            .build(),
    ];
    assert_eq!(
        refusal(complete(wrong_e_tag).await),
        refused(400, "InvalidPart")
    );
    let missing = vec![
        completed[0].clone(),
        CompletedPart::builder()
            .part_number(3)
            .set_e_tag(completed[1].e_tag().map(str::to_owned))
            .build(),
    ];
    assert_eq!(
        refusal(complete(missing).await),
        refused(400, "InvalidPart")
    );
    assert!(!exists(&s3, "parts").await);

    complete(completed)
        .await
        .expect("completes with the right list");
    assert_eq!(read(&s3, "parts").await.map(|b| b.len()), Some(5 * MIB + 1));
    wasabi.stop().await;
}

#[tokio::test]
async fn a_part_with_a_wrong_digest_is_refused() {
    let (wasabi, s3) = started().await;
    let id = create_upload(&s3, "digest").await;
    let part = |number: i32| {
        s3.upload_part()
            .bucket(BUCKET)
            .key("digest")
            .upload_id(&id)
            .part_number(number)
            .body(ByteStream::from_static(b"part bytes"))
    };
    let md5_wrong = part(1)
        .content_md5(STANDARD.encode(md5(b"other")))
        .send()
        .await;
    assert_eq!(refusal(md5_wrong), refused(400, "BadDigest"));
    let sha_wrong = part(1)
        .checksum_sha256(sha256_base64(b"other"))
        .send()
        .await;
    assert_eq!(refusal(sha_wrong), refused(400, "BadDigest"));
    let out_of_range = part(10_001).send().await;
    assert_eq!(refusal(out_of_range), refused(400, "InvalidArgument"));
    let parts = s3
        .list_parts()
        .bucket(BUCKET)
        .key("digest")
        .upload_id(&id)
        .send()
        .await
        .expect("lists the parts");
    assert!(parts.parts().is_empty(), "{:?}", parts.parts());

    part(1)
        .checksum_sha256(sha256_base64(b"part bytes"))
        .send()
        .await
        .expect("a part with the right checksum is taken");
    wasabi.stop().await;
}

#[tokio::test]
async fn an_aborted_upload_is_gone() {
    let (wasabi, s3) = started().await;
    let id = create_upload(&s3, "aborted").await;
    upload_parts(&s3, "aborted", &id, &[vec![7u8; 1000]]).await;
    assert_eq!(upload_ids(&s3).await, vec![id.clone()]);
    assert_eq!(wasabi.incomplete_uploads(), 1);

    s3.abort_multipart_upload()
        .bucket(BUCKET)
        .key("aborted")
        .upload_id(&id)
        .send()
        .await
        .expect("aborts");
    assert_eq!(wasabi.incomplete_uploads(), 0);
    assert_eq!(upload_ids(&s3).await, Vec::<String>::new());
    let late_part = s3
        .upload_part()
        .bucket(BUCKET)
        .key("aborted")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await;
    assert_eq!(refusal(late_part), refused(404, "NoSuchUpload"));
    let again = s3
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key("aborted")
        .upload_id(&id)
        .send()
        .await;
    assert_eq!(refusal(again), refused(404, "NoSuchUpload"));
    assert!(!exists(&s3, "aborted").await);
    wasabi.stop().await;
}

#[tokio::test]
async fn a_conditional_complete_loses_to_an_existing_object() {
    let (wasabi, s3) = started().await;
    put(&s3, "taken", b"already here").await.expect("stores");
    let id = create_upload(&s3, "taken").await;
    let completed = upload_parts(&s3, "taken", &id, &[b"from parts".to_vec()]).await;
    let complete = || {
        s3.complete_multipart_upload()
            .bucket(BUCKET)
            .key("taken")
            .upload_id(&id)
            .if_none_match("*")
            .multipart_upload(listing(completed.clone()))
            .send()
    };
    assert_eq!(
        refusal(complete().await),
        refused(412, "PreconditionFailed")
    );
    assert_eq!(
        read(&s3, "taken").await.as_deref(),
        Some(b"already here".as_slice())
    );
    assert_eq!(
        wasabi.incomplete_uploads(),
        1,
        "the upload stays, to be aborted"
    );

    wasabi.set_conditional_writes(ConditionalWrites::Ignored);
    complete().await.expect("completes over the object");
    assert_eq!(
        read(&s3, "taken").await.as_deref(),
        Some(b"from parts".as_slice())
    );
    assert_eq!(wasabi.writes("taken"), 2);
    assert_eq!(wasabi.incomplete_uploads(), 0);
    wasabi.stop().await;
}

#[tokio::test]
async fn metadata_over_2_kb_is_refused() {
    let (wasabi, s3) = started().await;
    let with_metadata = |key: &str, value: String| {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .metadata("m", value)
            .body(ByteStream::from_static(b"bytes"))
            .send()
    };
    with_metadata("at-limit", "v".repeat(2047))
        .await
        .expect("2048 bytes of metadata are taken");
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("at-limit")
        .send()
        .await
        .expect("heads");
    assert_eq!(
        head.metadata().and_then(|m| m.get("m")).map(String::len),
        Some(2047)
    );
    let over = with_metadata("over-limit", "v".repeat(2048)).await;
    assert_eq!(refusal(over), refused(400, "MetadataTooLarge"));
    assert!(!exists(&s3, "over-limit").await);
    let upload = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("over-limit")
        .metadata("m", "v".repeat(2048))
        .send()
        .await;
    assert_eq!(refusal(upload), refused(400, "MetadataTooLarge"));
    assert_eq!(wasabi.incomplete_uploads(), 0);
    wasabi.stop().await;
}

#[tokio::test]
async fn writes_and_requests_are_counted() {
    let (wasabi, s3) = started().await;
    put(&s3, "twice", b"1").await.expect("stores");
    put(&s3, "twice", b"2").await.expect("stores");
    put(&s3, "once", b"1").await.expect("stores");
    let bad = s3
        .put_object()
        .bucket(BUCKET)
        .key("never")
        .content_md5(STANDARD.encode(md5(b"other")))
        .body(ByteStream::from_static(b"bytes"))
        .send()
        .await;
    assert_eq!(refusal(bad), refused(400, "BadDigest"));
    assert!(exists(&s3, "twice").await);
    assert_eq!(read(&s3, "once").await.as_deref(), Some(b"1".as_slice()));
    assert_eq!(read(&s3, "never").await, None);

    assert_eq!(
        (
            wasabi.writes("twice"),
            wasabi.writes("once"),
            wasabi.writes("never")
        ),
        (2, 1, 0)
    );
    let expected: BTreeMap<String, u64> = [
        ("CreateBucket", 1),
        ("PutObject", 4),
        ("HeadObject", 1),
        ("GetObject", 2),
    ]
    .into_iter()
    .map(|(op, n)| (op.to_owned(), n))
    .collect();
    assert_eq!(wasabi.requests(), expected);
    wasabi.stop().await;
}

#[tokio::test]
async fn a_request_signed_with_other_credentials_is_refused() {
    let (wasabi, _) = started().await;
    let stranger = client(&wasabi, &wasabi.access_key, "not-the-secret");
    assert_eq!(
        refusal(put(&stranger, "photo.jpg", b"bytes").await),
        refused(403, "SignatureDoesNotMatch")
    );
    assert_eq!(wasabi.writes("photo.jpg"), 0);
    assert_eq!(wasabi.requests().get("PutObject"), None);
    wasabi.stop().await;
}

#[tokio::test]
async fn the_read_only_key_reads_and_every_write_it_signs_is_refused() {
    let (wasabi, s3) = started().await;
    put(&s3, "photo.jpg", b"archived")
        .await
        .expect("the write key writes");
    let writer_upload = create_upload(&s3, "big.jpg").await;
    let reader = client(&wasabi, &wasabi.read_access_key, &wasabi.read_secret_key);

    assert_eq!(
        read(&reader, "photo.jpg").await.as_deref(),
        Some(b"archived".as_slice())
    );
    assert!(exists(&reader, "photo.jpg").await);
    assert_eq!(list(&reader, None, 10).await, vec!["photo.jpg".to_owned()]);
    reader
        .head_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("HeadBucket");

    let denied = refused(403, "AccessDenied");
    assert_eq!(refusal(put(&reader, "photo.jpg", b"other").await), denied);
    assert_eq!(refusal(put(&reader, "new.jpg", b"new").await), denied);
    assert_eq!(
        refusal(put_if_absent(&reader, "new.jpg", b"new").await),
        denied
    );
    let create = reader
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("new.jpg")
        .send()
        .await;
    assert_eq!(refusal(create), denied);
    let part = reader
        .upload_part()
        .bucket(BUCKET)
        .key("big.jpg")
        .upload_id(&writer_upload)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await;
    assert_eq!(refusal(part), denied);
    let complete = reader
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("big.jpg")
        .upload_id(&writer_upload)
        .multipart_upload(listing(Vec::new()))
        .send()
        .await;
    assert_eq!(refusal(complete), denied);
    let abort = reader
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key("big.jpg")
        .upload_id(&writer_upload)
        .send()
        .await;
    assert_eq!(refusal(abort), denied);
    let uploads = reader.list_multipart_uploads().bucket(BUCKET).send().await;
    assert_eq!(refusal(uploads), denied);
    let delete = reader
        .delete_object()
        .bucket(BUCKET)
        .key("photo.jpg")
        .send()
        .await;
    assert_eq!(refusal(delete), denied);
    let copy = reader
        .copy_object()
        .bucket(BUCKET)
        .key("copy.jpg")
        .copy_source(format!("{BUCKET}/photo.jpg"))
        .send()
        .await;
    assert_eq!(refusal(copy), denied);
    let bucket = reader.create_bucket().bucket("another").send().await;
    assert_eq!(refusal(bucket), denied);

    // Nothing the reader signed changed anything.
    assert_eq!(
        read(&s3, "photo.jpg").await.as_deref(),
        Some(b"archived".as_slice())
    );
    assert_eq!(
        (wasabi.writes("photo.jpg"), wasabi.writes("new.jpg")),
        (1, 0)
    );
    assert_eq!(list(&s3, None, 10).await, vec!["photo.jpg".to_owned()]);
    assert_eq!(upload_ids(&s3).await, vec![writer_upload]);
    wasabi.stop().await;
}

#[tokio::test]
async fn fault_switches_answer_503() {
    let (wasabi, s3) = started().await;
    let listing = || s3.list_objects_v2().bucket(BUCKET).send();
    wasabi.fail_next_requests(2);
    assert_eq!(refusal(listing().await), refused(503, "SlowDown"));
    assert_eq!(refusal(listing().await), refused(503, "SlowDown"));
    listing().await.expect("served after two SlowDowns");

    wasabi.go_down_for(Duration::from_millis(300));
    assert_eq!(refusal(listing().await), refused(503, "ServiceUnavailable"));
    assert_eq!(refusal(listing().await), refused(503, "ServiceUnavailable"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    listing().await.expect("served once it is back up");
    assert_eq!(wasabi.requests().get("ListObjectsV2"), Some(&2));
    wasabi.stop().await;
}

#[tokio::test]
async fn an_object_appears_whole_once_its_body_is_in_while_other_requests_are_served() {
    let (wasabi, s3) = started().await;
    let (mut sender, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
    let writer = s3.clone();
    let upload = tokio::spawn(async move {
        writer
            .put_object()
            .bucket(BUCKET)
            .key("slow.jpg")
            .content_length(10)
            .metadata("sha256", "cafe")
            .body(ByteStream::from_body_1_x(body))
            .send()
            .await
    });
    sender
        .send_data(Bytes::from_static(b"first"))
        .await
        .expect("sends the first half");
    let started = tokio::time::Instant::now();
    while !wasabi.requests().contains_key("PutObject") {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the upload never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Served while the upload is under way, and not shown a part of it.
    let meanwhile = tokio::time::timeout(Duration::from_secs(5), async {
        (exists(&s3, "slow.jpg").await, list(&s3, None, 1000).await)
    })
    .await
    .expect("other requests are served while an upload is under way");
    assert_eq!(meanwhile, (false, Vec::new()));

    sender
        .send_data(Bytes::from_static(b"-half"))
        .await
        .expect("sends the second half");
    drop(sender);
    upload.await.expect("joins").expect("stores");
    let object = s3
        .get_object()
        .bucket(BUCKET)
        .key("slow.jpg")
        .send()
        .await
        .expect("reads");
    assert_eq!(
        object
            .metadata()
            .and_then(|m| m.get("sha256"))
            .map(String::as_str),
        Some("cafe")
    );
    let bytes = object.body.collect().await.expect("reads").to_vec();
    assert_eq!(bytes, b"first-half");
    wasabi.stop().await;
}
