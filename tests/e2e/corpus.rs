//! Real photos go through: the committed samples (a HEIC among them) and, where it is beside
//! the checkout, `../shared/corpus`. Every one succeeds with a thumbnail that fits the box upright, a
//! byte-identical archive copy, and an empty dropbox.

use std::collections::HashMap;
use std::path::Path;

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe_imaging::fit_inside;
use photopipe_local::run::photos_in;
use photopipe_local::stack::{ARCHIVE, DROPBOX, THUMBNAILS, workspace_root};

use crate::{assert_nothing_lost, keys, process, read, stack};

/// Upright dimensions from the corpus manifest (`dimensions`, `exif_orientation` columns).
fn manifest(corpus: &Path) -> HashMap<String, (u32, u32)> {
    let Ok(text) = std::fs::read_to_string(corpus.join("MANIFEST.tsv")) else {
        return HashMap::new();
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .expect("manifest column")
    };
    let (file, dimensions, orientation) = (
        column("file"),
        column("dimensions"),
        column("exif_orientation"),
    );
    lines
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            let (w, h) = cells.get(dimensions)?.split_once('x')?;
            let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
            let turned = matches!(cells.get(orientation).copied(), Some("5" | "6" | "7" | "8"));
            Some((
                cells.get(file)?.to_string(),
                if turned { (h, w) } else { (w, h) },
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_photos_are_thumbnailed_archived_and_removed() {
    let corpus = workspace_root().join("../shared/corpus");
    let sizes = manifest(&corpus);
    let mut uploads = Vec::new();
    for (key, path) in photos_in(&workspace_root().join("samples/photos")).expect("samples") {
        if !key.ends_with("not-a-photo.jpg") {
            uploads.push((key, std::fs::read(path).expect("sample")));
        }
    }
    for name in sizes.keys() {
        uploads.push((
            format!("photos/corpus/{name}"),
            std::fs::read(corpus.join(name)).expect("corpus photo"),
        ));
    }
    assert!(uploads.len() >= 6, "samples are missing");
    let originals: HashMap<String, Vec<u8>> = uploads.iter().cloned().collect();

    let stack = stack("corpus", 2).await;
    let results = process(&stack, uploads).await;
    for (started, finished) in &results {
        assert_eq!(
            finished.status,
            ExecutionStatus::Succeeded,
            "{}: {:?} {:?}",
            started.key,
            finished.error,
            finished.cause
        );
        let output = finished.output.as_ref().expect("output");
        let (width, height) = (
            output["thumbnails"][0]["width"].as_u64().expect("width"),
            output["thumbnails"][0]["height"].as_u64().expect("height"),
        );
        assert!(
            width <= 256 && height <= 256 && width > 0 && height > 0,
            "{}: {width}x{height}",
            started.key
        );
        let thumbnail = read(
            &stack.s3,
            THUMBNAILS,
            output["thumbnails"][0]["key"].as_str().expect("key"),
        )
        .await;
        let decoded = image::load_from_memory_with_format(&thumbnail, image::ImageFormat::Jpeg)
            .expect("thumbnail is a JPEG");
        assert_eq!(
            (u64::from(decoded.width()), u64::from(decoded.height())),
            (width, height)
        );
        // The HEIC sample is stored sideways with `irot` (and EXIF 6) like an iPhone's: it
        // must come out 600×400 upright, turned once.
        let upright = if started.key.ends_with("coffee-iphone.heic") {
            Some((600, 400))
        } else {
            started
                .key
                .strip_prefix("photos/corpus/")
                .and_then(|name| sizes.get(name).copied())
        };
        if let Some((w, h)) = upright {
            assert_eq!(
                fit_inside(w, h, 256, 256),
                (decoded.width(), decoded.height()),
                "{}: upright fit",
                started.key
            );
        }
        let archived = read(
            &stack.wasabi_s3,
            ARCHIVE,
            output["archive"]["key"].as_str().expect("key"),
        )
        .await;
        assert!(
            archived == originals[&started.key],
            "{}: archive copy differs",
            started.key
        );
    }
    let left: Vec<String> = keys(&stack.s3, DROPBOX).await;
    assert!(left.is_empty(), "the dropbox still holds {left:?}");
    assert_eq!(keys(&stack.s3, THUMBNAILS).await.len(), results.len());
    assert_eq!(keys(&stack.wasabi_s3, ARCHIVE).await.len(), results.len());
    assert_nothing_lost(&stack).await;
    stack.stop().await;
}
