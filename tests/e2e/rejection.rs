//! Bad input is named, quarantined with its reason and never lost: a text file named
//! `.jpg`, an empty file and a decompression bomb each fail with `Photo.InvalidImage`, an
//! AVIF with `Photo.UnsupportedFormat`, and their bytes wait under `rejected/` beside a JSON
//! reason.

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe::model::QuarantineReason;
use photopipe_local::stack::{ARCHIVE, DROPBOX, THUMBNAILS};

use photopipe_local::starter::Started;

use crate::{assert_nothing_lost, keys, process, read, stack};

/// The start of an AVIF: an `ftyp` box with AV1 brands (no AV1 decoder is built).
fn avif() -> Vec<u8> {
    let mut avif = 28u32.to_be_bytes().to_vec();
    avif.extend_from_slice(b"ftypavif\0\0\0\0avifmif1miaf");
    avif.extend_from_slice(&[0; 64]);
    avif
}

/// A PNG whose header claims 30000×30000 pixels, with no image data behind it.
fn bomb() -> Vec<u8> {
    let image = image::RgbImage::new(1, 1);
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    png[16..20].copy_from_slice(&30000u32.to_be_bytes());
    png[20..24].copy_from_slice(&30000u32.to_be_bytes());
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_quarantined_with_its_reason() {
    let stack = stack("rejection", 1).await;
    let cases = [
        (
            "photos/holiday/not a photo.jpg",
            b"Dear diary, today I took no photos.".to_vec(),
            "Photo.InvalidImage",
            "not a JPEG, PNG, WebP, GIF or HEIC image",
        ),
        (
            "photos/empty.png",
            Vec::new(),
            "Photo.InvalidImage",
            "empty file",
        ),
        (
            "photos/bomb.png",
            bomb(),
            "Photo.InvalidImage",
            "PNG header claims 30000×30000 = 900 MP, limit 100 MP",
        ),
        (
            "photos/phone/IMG_0001.avif",
            avif(),
            "Photo.UnsupportedFormat",
            "AVIF images are not supported",
        ),
    ];
    let uploads = cases
        .iter()
        .map(|(key, bytes, _, _)| ((*key).to_owned(), bytes.clone()))
        .collect();
    let results = process(&stack, uploads).await;
    for (key, bytes, error, message) in cases {
        let (_, finished) = results.iter().find(|(s, _)| s.key == key).expect("ran");
        assert_eq!(finished.status, ExecutionStatus::Failed, "{key}");
        assert_eq!(finished.error.as_deref(), Some(error), "{key}");
        assert!(
            finished
                .cause
                .as_deref()
                .is_some_and(|c| c.contains(message)),
            "{key}: {:?}",
            finished.cause
        );
        let (_, finished_version) = version_of(&results, key);
        let quarantined = format!(
            "rejected/{}~{finished_version}",
            key.strip_prefix("photos/").expect("prefix")
        );
        assert_eq!(
            read(&stack.s3, DROPBOX, &quarantined).await,
            bytes,
            "{key} kept byte for byte"
        );
        let reason: QuarantineReason = serde_json::from_slice(
            &read(&stack.s3, DROPBOX, &format!("{quarantined}.reason.json")).await,
        )
        .expect("reason JSON");
        assert_eq!(
            (reason.source_key.as_str(), reason.error.as_str()),
            (key, error)
        );
        assert!(reason.cause.contains(message), "{}", reason.cause);
    }
    let left = keys(&stack.s3, DROPBOX).await;
    assert!(
        left.iter().all(|k| k.starts_with("rejected/")),
        "originals left under photos/: {left:?}"
    );
    assert!(keys(&stack.s3, THUMBNAILS).await.is_empty());
    assert!(keys(&stack.wasabi_s3, ARCHIVE).await.is_empty());
    assert_nothing_lost(&stack).await;
    stack.stop().await;
}

/// The execution of `key` and the version its event names.
fn version_of<'a>(
    results: &'a [(Started, photopipe_local::run::Finished)],
    key: &str,
) -> (&'a Started, String) {
    let (started, _) = results.iter().find(|(s, _)| s.key == key).expect("ran");
    let event: photopipe::event::ObjectCreatedEvent =
        serde_json::from_str(&started.input).expect("event");
    let version = event
        .source_object()
        .expect("source")
        .version_id
        .expect("versioned dropbox");
    (started, version)
}
