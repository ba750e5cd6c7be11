//! The load test (`photopipe-local load`, `scripts/load`): N photos uploaded at once through
//! the local stack, copies of the sample photos the engine accepts under distinct keys,
//! each JPEG and PNG copy given bytes of its own (a comment: a COM segment after the APPn
//! segments, a tEXt chunk after IHDR), the other formats copied byte for byte (the same bytes
//! under different keys are as legitimate an upload). Every photo must succeed, with one
//! archive write each, and the nothing-lost invariant must hold.
//!
//! It reports photos per minute; each step's p50/p95 duration and peak memory from the
//! `REPORT`s; and the cost per million photos at list prices ([`crate::cost`]). The
//! durations are this machine's, running the functions' host build, not Lambda's arm64.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use crate::cost::{Cost, Prices, Usage};
use crate::invocations::{self, StepFigures};
use crate::run::{self, InvariantReport, Report, RunOptions, Totals};
use crate::stack::{FUNCTIONS, LocalStack};

/// `<out>/load.json`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub photos: usize,
    /// The sample photos the copies were made from (keys under `photos/`).
    pub samples: Vec<String>,
    /// Instances of each function.
    pub instances: usize,
    /// From the first upload until every execution had ended.
    pub seconds: f64,
    pub photos_per_minute: f64,
    pub steps: Vec<StepFigures>,
    pub usage: Usage,
    /// The run's cost at `prices`, in US dollars.
    pub cost: Cost,
    pub cost_per_million_photos: Cost,
    pub prices: Prices,
    /// The requests the Wasabi stand-in served, by operation.
    pub wasabi_requests: BTreeMap<String, u64>,
    pub totals: Totals,
    pub invariant: InvariantReport,
    /// What went wrong: photos that did not succeed, archive copies or writes not one per
    /// photo, violations of the invariant. Empty for a good run.
    pub problems: Vec<String>,
}

/// The sample photos under `dir` that the engine accepts, as (key under `photos/`, bytes):
/// a file it would reject (`not-a-photo.jpg`) is no photo to load the pipeline with.
pub fn samples(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let limits = photopipe::settings::InputLimits::default();
    let mut samples = Vec::new();
    for (key, path) in run::photos_in(dir)? {
        let bytes = std::fs::read(&path)?;
        if photopipe_imaging::inspect(&bytes, &limits).is_ok() {
            samples.push((key, bytes));
        }
    }
    anyhow::ensure!(!samples.is_empty(), "no photos under {}", dir.display());
    Ok(samples)
}

/// `count` uploads made from `samples` in turn: copy `i` of `photos/<path>` at
/// `photos/load/<i>/<path>`, with bytes of its own where its format allows.
pub fn copies(samples: &[(String, Vec<u8>)], count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let (key, bytes) = &samples[i % samples.len()];
            let path = key
                .strip_prefix(photopipe::settings::PHOTOS_PREFIX)
                .unwrap_or(key);
            let tag = format!("photopipe load copy {i}");
            (
                format!("{}load/{i:04}/{path}", photopipe::settings::PHOTOS_PREFIX),
                unique_copy(bytes, &tag),
            )
        })
        .collect()
}

/// `bytes` with `tag` written into a JPEG's or PNG's comment, or `bytes` as they are for
/// any other format.
pub fn unique_copy(bytes: &[u8], tag: &str) -> Vec<u8> {
    jpeg_with_comment(bytes, tag.as_bytes())
        .or_else(|| png_with_text(bytes, "Comment", tag))
        .unwrap_or_else(|| bytes.to_vec())
}

/// A JPEG with a COM segment holding `text`, placed after SOI and the APPn segments (JFIF,
/// EXIF, ICC: readers look for those first). `None` if `bytes` is no JPEG.
fn jpeg_with_comment(bytes: &[u8], text: &[u8]) -> Option<Vec<u8>> {
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return None;
    }
    let mut at = 2;
    while bytes.get(at) == Some(&0xFF)
        && bytes.get(at + 1).is_some_and(|m| (0xE0..=0xEF).contains(m))
    {
        let length = u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]);
        at += 2 + usize::from(length);
    }
    if at > bytes.len() {
        return None;
    }
    let length = u16::try_from(text.len() + 2).ok()?;
    let mut out = Vec::with_capacity(bytes.len() + text.len() + 4);
    out.extend_from_slice(&bytes[..at]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(text);
    out.extend_from_slice(&bytes[at..]);
    Some(out)
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// A PNG with a `tEXt` chunk (`keyword`, `text`) right after its IHDR. `None` if `bytes` is
/// no PNG.
fn png_with_text(bytes: &[u8], keyword: &str, text: &str) -> Option<Vec<u8>> {
    if !bytes.starts_with(&PNG_SIGNATURE) || bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let ihdr_length = u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
    // Length, type, data, CRC.
    let at = PNG_SIGNATURE.len() + 12 + usize::try_from(ihdr_length).ok()?;
    if at > bytes.len() {
        return None;
    }
    let mut chunk = b"tEXt".to_vec();
    chunk.extend_from_slice(keyword.as_bytes());
    chunk.push(0);
    chunk.extend_from_slice(text.as_bytes());
    let length = u32::try_from(chunk.len() - 4).ok()?;
    let mut out = Vec::with_capacity(bytes.len() + chunk.len() + 8);
    out.extend_from_slice(&bytes[..at]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    out.extend_from_slice(&bytes[at..]);
    Some(out)
}

/// The CRC-32 PNG chunks carry (ISO 3309, reflected, polynomial 0xEDB88320).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Runs `count` copies of the samples under `samples_dir` through `stack` (started with
/// `instances` of each function) and sums the run up.
pub async fn run(
    stack: &LocalStack,
    samples_dir: &Path,
    count: usize,
    instances: usize,
) -> anyhow::Result<(LoadReport, Report)> {
    let samples = samples(samples_dir)?;
    let uploads = copies(&samples, count);
    let twins = same_bytes(&uploads);
    eprintln!(
        "uploading {count} copies of {} sample photos",
        samples.len()
    );
    let report = run::process(stack, uploads, &RunOptions::default()).await?;
    let reports = stack.reports();
    let transitions = report
        .photos
        .iter()
        .map(|p| u64::from(p.state_transitions))
        .sum();
    let wasabi_requests = stack.wasabi.requests();
    let usage = Usage::new(
        &reports,
        transitions,
        &stack.aws_faults.requests(),
        wasabi_requests.values().sum(),
    );
    let prices = Prices::list()?;
    let cost = Cost::of(&usage, &prices);
    let photos = report.photos.len();
    let seconds = report.totals.seconds;
    let load = LoadReport {
        photos,
        samples: samples.into_iter().map(|(key, _)| key).collect(),
        instances,
        seconds,
        photos_per_minute: if seconds > 0.0 {
            photos as f64 / seconds * 60.0
        } else {
            0.0
        },
        steps: FUNCTIONS
            .iter()
            .map(|step| invocations::step_figures(&reports, step))
            .collect(),
        cost_per_million_photos: cost.scaled(1e6 / photos.max(1) as f64),
        cost,
        usage,
        prices,
        wasabi_requests,
        totals: report.totals.clone(),
        invariant: report.invariant.clone(),
        problems: problems(&report, &twins),
    };
    Ok((load, report))
}

/// How many uploads share each content, by SHA-256.
fn same_bytes(uploads: &[(String, Vec<u8>)]) -> HashMap<String, u32> {
    let mut twins = HashMap::new();
    for (_, bytes) in uploads {
        *twins.entry(photopipe::s3::sha256_hex(bytes)).or_default() += 1;
    }
    twins
}

/// What a load run got wrong: every photo must succeed with one archive write, the
/// archive must hold one copy per photo (photos with the same bytes each their own), and
/// nothing may be lost.
fn problems(report: &Report, twins: &HashMap<String, u32>) -> Vec<String> {
    let mut problems = Vec::new();
    for photo in &report.photos {
        if photo.status != "SUCCEEDED" {
            problems.push(format!(
                "{}: {} {}",
                photo.key,
                photo.status,
                photo.error.as_deref().unwrap_or_default()
            ));
        }
        if photo.archive_writes != 1 {
            problems.push(format!(
                "{}: {} archive writes",
                photo.key, photo.archive_writes
            ));
        }
        let expected = twins.get(&photo.sha256).copied().unwrap_or(1);
        if photo.archive_copies != expected {
            problems.push(format!(
                "{}: {} archive copies of its bytes, {expected} photos have them",
                photo.key, photo.archive_copies
            ));
        }
    }
    problems.extend(
        report
            .invariant
            .violations
            .iter()
            .map(|v| format!("{} ({}): {}", v.key, v.version_id, v.problem)),
    );
    problems
}

/// Prints the load run's figures.
pub fn print(load: &LoadReport) {
    println!(
        "load: {} photos (copies of {} samples, {} instances per function) in {:.1} s: {:.1} photos/minute",
        load.photos,
        load.samples.len(),
        load.instances,
        load.seconds,
        load.photos_per_minute
    );
    println!(
        "{:<10}  {:>11}  {:>6}  {:>8}  {:>8}  {:>18}",
        "step", "invocations", "failed", "p50 ms", "p95 ms", "max memory used"
    );
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    for step in &load.steps {
        let memory = match (step.max_memory_used_mb, step.memory_mb) {
            (Some(used), Some(size)) => format!("{used} of {size} MB"),
            _ => "-".to_owned(),
        };
        println!(
            "{:<10}  {:>11}  {:>6}  {:>8}  {:>8}  {:>18}",
            step.step,
            step.invocations,
            step.failed,
            ms(step.p50_ms),
            ms(step.p95_ms),
            memory
        );
    }
    let usage = &load.usage;
    let quantities = [
        format!("{:.1} GB-s", usage.lambda_gb_seconds),
        format!("{} invocations", usage.lambda_requests),
        format!("{} transitions", usage.state_transitions),
        format!("{} requests", usage.s3_put_copy_post_list),
        format!("{} requests", usage.s3_get_head),
        format!("{} calls", usage.secrets_manager_calls),
        format!("{} requests", usage.wasabi_requests),
    ];
    println!(
        "cost at list prices (local/prices.json: AWS us-east-1, no free tier), this run and per million photos:"
    );
    let per_million = load.cost_per_million_photos.parts();
    for (((name, usd), quantity), (_, million)) in load
        .cost
        .parts()
        .into_iter()
        .zip(quantities)
        .zip(per_million)
    {
        println!("  {name:<28} {quantity:>18}  ${usd:>10.4}  ${million:>10.2}");
    }
    println!(
        "  {:<28} {:>18}  ${:>10.4}  ${:>10.2}",
        "total", "", load.cost.total, load.cost_per_million_photos.total
    );
    if usage.s3_delete > 0 {
        println!(
            "  (and {} S3 DELETE requests, which are free)",
            usage.s3_delete
        );
    }
    for (call, count) in &usage.unpriced_calls {
        println!("  (and {count} {call} calls, not priced here)");
    }
    let wasabi = &load.prices.wasabi_api_request;
    println!(
        "Wasabi: {} requests, ${:.2}; {}",
        usage.wasabi_requests,
        load.cost.wasabi_requests,
        wasabi.note.as_deref().unwrap_or_default()
    );
    println!(
        "The durations (and so the GB-seconds) are this machine's, running the functions' host build; on Lambda's arm64 they differ."
    );
    if load.invariant.holds {
        println!("nothing lost: every uploaded version is archived, quarantined or pending");
    }
    for problem in &load.problems {
        println!("problem: {problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::workspace_root;

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(workspace_root().join("samples/photos").join(name)).expect("sample")
    }

    /// The copy still decodes to the same picture.
    fn same_picture(original: &[u8], copy: &[u8]) {
        let limits = photopipe::settings::InputLimits::default();
        let before = photopipe_imaging::inspect(original, &limits).expect("original");
        let after = photopipe_imaging::inspect(copy, &limits).expect("copy");
        assert_eq!(
            (before.format, before.width, before.height),
            (after.format, after.width, after.height)
        );
        let renditions = photopipe::settings::ThumbnailSettings::default().renditions;
        let thumbnails = |bytes: &[u8], inspection| {
            photopipe_imaging::make_thumbnails(bytes, inspection, &renditions, &limits)
                .expect("decodes")
                .into_iter()
                .map(|t| (t.width, t.height, t.bytes))
                .collect::<Vec<_>>()
        };
        assert_eq!(thumbnails(original, &before), thumbnails(copy, &after));
    }

    #[test]
    fn the_png_crc_is_iso_3309s() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn jpeg_copies_get_a_comment_after_their_app_segments() {
        let original = sample("hopper-rotated.jpg");
        let copy = unique_copy(&original, "copy 7");
        assert_ne!(copy, original);
        let at = copy
            .windows(2)
            .position(|w| w == [0xFF, 0xFE])
            .expect("a COM segment");
        assert_eq!(&copy[at + 2..at + 4], &[0, 8], "its length");
        assert_eq!(&copy[at + 4..at + 10], b"copy 7");
        assert_eq!(&copy[..at], &original[..at], "SOI and APPn come first");
        assert_eq!(&copy[at + 10..], &original[at..]);
        same_picture(&original, &copy);
        assert_ne!(unique_copy(&original, "copy 8"), copy);
    }

    #[test]
    fn png_copies_get_a_text_chunk_after_ihdr() {
        let original = sample("chelsea.png");
        let copy = unique_copy(&original, "copy 7");
        assert_eq!(&copy[33..37], &[0, 0, 0, 14], "Comment\\0copy 7");
        assert_eq!(&copy[37..41], b"tEXt");
        assert_eq!(&copy[..33], &original[..33]);
        assert_eq!(&copy[33 + 4 + 4 + 14 + 4..], &original[33..]);
        same_picture(&original, &copy);
    }

    #[test]
    fn other_formats_are_copied_as_they_are() {
        let webp = sample("lake.webp");
        assert_eq!(unique_copy(&webp, "copy 1"), webp);
        assert_eq!(unique_copy(b"not an image", "copy 1"), b"not an image");
        assert_eq!(
            unique_copy(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00], "x"),
            [0xFF, 0xD8, 0xFF, 0xE0, 0x00]
        );
    }

    #[test]
    fn copies_take_the_samples_in_turn_under_distinct_keys() {
        let samples = samples(&workspace_root().join("samples/photos")).expect("samples");
        assert!(
            samples
                .iter()
                .all(|(key, _)| !key.ends_with("not-a-photo.jpg")),
            "a file the engine rejects is no sample"
        );
        let uploads = copies(&samples, samples.len() * 2 + 1);
        assert_eq!(
            uploads[0].0,
            format!("photos/load/0000/{}", &samples[0].0["photos/".len()..])
        );
        let keys: std::collections::HashSet<_> = uploads.iter().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), uploads.len(), "distinct keys");
        let twins = same_bytes(&uploads);
        for (key, bytes) in &uploads {
            let shared = twins[&photopipe::s3::sha256_hex(bytes)];
            let unique = key.ends_with(".jpg") || key.ends_with(".png");
            assert_eq!(
                shared == 1,
                unique,
                "{key}: {shared} uploads with its bytes"
            );
        }
    }
}
