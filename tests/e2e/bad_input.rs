//! Bad input, each through the whole pipeline: an empty file; text, HTML, SVG and PDF named
//! `.jpg`/`.png`; truncated and corrupted JPEGs; a PNG header claiming 60000×60000; a phone
//! video, 3 MB and 200 MB, dropped into `photos/` (refused on its first 256 KiB); a 100 MP
//! 16-bit RGBA PNG (archived, its thumbnail skipped by name: it cannot be decoded within the
//! thumbnail function's memory, which the local host enforces); and real photos under keys
//! with spaces, `+`, `%`, `:`, parentheses, non-ASCII letters, and near S3's 1024-byte limit.
//! Each run succeeds or ends with a named error and a human message; no function crashes (no
//! `Runtime.*` or `Sandbox.*` failure in any history); nothing is lost.

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe_local::stack::workspace_root;

use crate::{assert_nothing_lost, failed_attempts, process, stack};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("samples/photos").join(name)).expect("sample")
}

/// A PNG whose header claims `width`×`height`, with one real pixel behind it.
fn claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = Vec::new();
    image::RgbImage::new(1, 1)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    png
}

/// The start of an MP4 as phones write it (`ftyp` with the `isom`/`mp42` brands), padded to
/// `bytes`.
fn video(bytes: usize) -> Vec<u8> {
    let mut mp4 = 24u32.to_be_bytes().to_vec();
    mp4.extend_from_slice(b"ftypmp42\0\0\0\0isommp42");
    mp4.resize(bytes, 0x42);
    mp4
}

/// A 10000×10000 16-bit RGBA PNG (100 MP, at the pixel limit), written row by row: its
/// 800 MB of samples compress to under a MB.
fn huge_png() -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 10_000, 10_000);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    let mut writer = encoder.write_header().expect("header");
    let mut rows = writer.stream_writer().expect("rows");
    let row = vec![0u8; 10_000 * 8];
    for _ in 0..10_000 {
        rows.write_all(&row).expect("row");
    }
    rows.finish().expect("image data");
    drop(writer);
    out
}

/// What a run must end as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Succeeds,
    /// Fails with this error, its message containing the text.
    Fails(&'static str, &'static str),
    /// Either succeeds or is rejected as `Photo.InvalidImage` (a decoder may make something of
    /// a damaged file): what matters is a named outcome.
    SucceedsOrRejected,
    /// Succeeds, archived, with its thumbnail skipped by name: too big to decode within the
    /// thumbnail function's memory.
    SucceedsThumbnailSkipped,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_named_outcome_and_nothing_crashes() {
    let stack = stack("bad-input", 2).await;
    let jpeg = sample("hopper-rotated.jpg");
    let mut corrupted = jpeg.clone();
    let middle = corrupted.len() / 2;
    for byte in &mut corrupted[middle..middle + 64] {
        *byte ^= 0x5a;
    }
    let not_an_image = (
        "Photo.InvalidImage",
        "not a JPEG, PNG, WebP, GIF or HEIC image",
    );
    let near_limit = format!("photos/{}.jpg", "n".repeat(1003));
    let cases: Vec<(String, Vec<u8>, Expect)> = vec![
        ("photos/bad/empty.jpg".into(), Vec::new(), Expect::Fails("Photo.InvalidImage", "empty file")),
        ("photos/bad/diary.jpg".into(), b"Dear diary, no photos today.".to_vec(), Expect::Fails(not_an_image.0, not_an_image.1)),
        ("photos/bad/page.png".into(), b"<!DOCTYPE html><html><body>hi</body></html>".to_vec(), Expect::Fails(not_an_image.0, not_an_image.1)),
        ("photos/bad/logo.jpg".into(), br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#.to_vec(), Expect::Fails(not_an_image.0, not_an_image.1)),
        ("photos/bad/scan.png".into(), b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF".to_vec(), Expect::Fails(not_an_image.0, not_an_image.1)),
        ("photos/bad/truncated.jpg".into(), jpeg[..jpeg.len() / 3].to_vec(), Expect::SucceedsOrRejected),
        ("photos/bad/corrupted.jpg".into(), corrupted, Expect::SucceedsOrRejected),
        ("photos/bad/huge-claim.png".into(), claiming(60000, 60000), Expect::Fails("Photo.InvalidImage", "60000×60000")),
        ("photos/bad/100mp-16bit.png".into(), huge_png(), Expect::SucceedsThumbnailSkipped),
        ("photos/bad/IMG_0042.MOV.jpg".into(), video(3 << 20), Expect::Fails(not_an_image.0, not_an_image.1)),
        ("photos/bad/holiday.mp4".into(), video(200 << 20), Expect::Fails("Photo.InvalidImage", "a video such as MP4")),
        ("photos/keys/a b+c%d:e(f) été Ærø 東京.jpg".into(), jpeg.clone(), Expect::Succeeds),
        (near_limit.clone(), jpeg.clone(), Expect::Succeeds),
    ];
    assert_eq!(near_limit.len(), 1014);
    let uploads = cases
        .iter()
        .map(|(k, b, _)| (k.clone(), b.clone()))
        .collect();
    let results = process(&stack, uploads).await;
    for (key, _, expect) in &cases {
        let (started, finished) = results.iter().find(|(s, _)| &s.key == key).expect("ran");
        let outcome = (finished.status.clone(), finished.error.as_deref());
        match expect {
            Expect::Succeeds => assert_eq!(
                outcome,
                (ExecutionStatus::Succeeded, None),
                "{key}: {:?}",
                finished.cause
            ),
            Expect::Fails(error, message) => {
                assert_eq!(outcome, (ExecutionStatus::Failed, Some(*error)), "{key}");
                let cause = finished.cause.as_deref().unwrap_or_default();
                assert!(cause.contains(message), "{key}: {cause}");
            }
            Expect::SucceedsThumbnailSkipped => {
                assert_eq!(
                    outcome,
                    (ExecutionStatus::Succeeded, None),
                    "{key}: {:?}",
                    finished.cause
                );
                let output = finished.output.as_ref().expect("output");
                let skipped = output["thumbnails"][0]["skipped"]
                    .as_str()
                    .unwrap_or_default();
                assert!(skipped.contains("MB"), "{key}: {output}");
            }
            Expect::SucceedsOrRejected => assert!(
                outcome == (ExecutionStatus::Succeeded, None)
                    || (outcome == (ExecutionStatus::Failed, Some("Photo.InvalidImage"))
                        && finished.cause.as_deref().is_some_and(|c| !c.is_empty())),
                "{key}: {outcome:?} {:?}",
                finished.cause
            ),
        }
        let crashes: Vec<String> = failed_attempts(&stack, &started.execution_arn)
            .await
            .into_iter()
            .filter(|error| !error.starts_with("Photo."))
            .collect();
        assert!(crashes.is_empty(), "{key}: a function crashed: {crashes:?}");
    }
    assert_nothing_lost(&stack).await;
    stack.stop().await;
}
