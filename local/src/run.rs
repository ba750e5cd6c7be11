//! One local run: upload photos to the dropbox (a folder of them, or a load test's copies),
//! with faults injected if asked (a fraction of the functions' S3 requests failing, Wasabi
//! down for a while), let the events start the executions, wait for every one, redrive the
//! failed ones if asked ([`crate::redrive`]), and report each photo's outcome with its
//! redrives, retries, archive copies and invocations, and whether the nothing-lost
//! invariant holds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_sfn::types::ExecutionStatus;
use photopipe::event::{ObjectCreatedEvent, SourceObject};
use photopipe::settings::Rendition;
use serde::Serialize;

use crate::history;
use crate::invocations::{self, InvocationFigures, PhotoId};
use crate::redrive;
use crate::stack::{ARCHIVE, DROPBOX, LocalStack, THUMBNAILS};
use crate::starter::Started;

/// How long a run waits for one execution to end: longer than the deployed retries of a Task
/// last (about 20 minutes).
pub const EXECUTION_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Uploads in flight at once.
const UPLOADS_AT_ONCE: usize = 8;

/// How a run is disturbed and finished.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The fraction of the functions' requests to both S3 endpoints that fail at random, for
    /// the whole run.
    pub chaos: f64,
    /// How long the Wasabi side refuses every request, from the start.
    pub wasabi_down: Duration,
    /// Once every execution has ended, redrive the failed ones (after the outage) while
    /// redrives make progress.
    pub redrive: bool,
    /// The renditions the thumbnail function makes (what the invariant checks).
    pub renditions: Vec<Rendition>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            chaos: 0.0,
            wasabi_down: Duration::ZERO,
            redrive: false,
            renditions: photopipe::settings::ThumbnailSettings::default().renditions,
        }
    }
}

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub photos: Vec<PhotoReport>,
    pub totals: Totals,
    pub invariant: InvariantReport,
}

/// One photo's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PhotoReport {
    pub key: String,
    pub version_id: Option<String>,
    /// The execution's status.
    pub status: String,
    /// Whether the run rejected the photo (failed with an error handled by quarantine).
    pub rejected: bool,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub sha256: String,
    pub thumbnail: Option<ThumbnailReport>,
    pub archive: Option<ArchiveReport>,
    pub execution: String,
    pub seconds: f64,
    /// The execution's redrive count.
    pub redrives: u32,
    /// Failed Lambda attempts that its state retried.
    pub retried_attempts: u32,
    /// The state transitions Step Functions bills for it (each state entered, each retry).
    pub state_transitions: u32,
    /// Objects at the Wasabi stand-in that hold its bytes (photos with the same bytes under
    /// other keys have their own copies, and count here too).
    pub archive_copies: u32,
    /// Writes at the Wasabi stand-in under its archive key.
    pub archive_writes: u32,
    /// Its invocations, in the order they ended.
    pub invocations: Vec<InvocationFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThumbnailReport {
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    pub key: String,
    pub sha256: String,
}

/// The run as a whole.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub photos: usize,
    pub succeeded: usize,
    pub rejected: usize,
    /// Neither succeeded nor rejected.
    pub failed: usize,
    /// Faults the injectors in front of the two S3 endpoints injected.
    pub faults_injected: Endpoints,
    /// Requests the injectors forwarded to the endpoints.
    pub requests_forwarded: Endpoints,
    pub redrive_rounds: u32,
    pub redrives: u32,
    /// From the first upload until every execution had ended (redrives included).
    pub seconds: f64,
}

/// A count per S3 endpoint.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Endpoints {
    pub s3: u64,
    pub wasabi: u64,
}

/// The nothing-lost invariant's result ([`crate::invariant::check`]).
#[derive(Debug, Clone, Serialize)]
pub struct InvariantReport {
    pub holds: bool,
    pub violations: Vec<ViolationReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViolationReport {
    pub key: String,
    pub version_id: String,
    pub problem: String,
}

/// A finished execution.
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: ExecutionStatus,
    pub error: Option<String>,
    /// The error message (a Lambda error's `errorMessage`).
    pub cause: Option<String>,
    pub output: Option<serde_json::Value>,
    pub seconds: f64,
}

/// An upload's execution, and how it last ended.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub started: Started,
    pub finished: Finished,
}

/// Every file under `dir`, as (key under `photos/`, path), in a stable order.
pub fn photos_in(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.is_file() {
                let relative = path.strip_prefix(dir)?;
                let parts: Vec<_> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                found.push((
                    format!("{}{}", photopipe::settings::PHOTOS_PREFIX, parts.join("/")),
                    path,
                ));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Uploads `bytes` to the dropbox at `key`.
pub async fn upload(stack: &LocalStack, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
    put(&stack.s3, key, bytes).await
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
    s3.put_object()
        .bucket(DROPBOX)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .with_context(|| format!("uploading {key}"))?;
    Ok(())
}

/// Uploads every (key, bytes), a few at once.
async fn upload_all(
    s3: &aws_sdk_s3::Client,
    uploads: Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    let gate = Arc::new(tokio::sync::Semaphore::new(UPLOADS_AT_ONCE));
    let mut uploading = tokio::task::JoinSet::new();
    for (key, bytes) in uploads {
        let (s3, gate) = (s3.clone(), Arc::clone(&gate));
        uploading.spawn(async move {
            let _turn = gate.acquire_owned().await?;
            put(&s3, &key, bytes).await
        });
    }
    while let Some(uploaded) = uploading.join_next().await {
        uploaded??;
    }
    Ok(())
}

/// Waits for an execution to finish.
pub async fn wait(
    stack: &LocalStack,
    execution_arn: &str,
    within: Duration,
) -> anyhow::Result<Finished> {
    let begin = Instant::now();
    loop {
        let execution = stack
            .sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await?;
        if execution.status != ExecutionStatus::Running {
            let seconds = match execution.stop_date {
                Some(stop) => (stop.as_secs_f64() - execution.start_date.as_secs_f64()).max(0.0),
                None => begin.elapsed().as_secs_f64(),
            };
            return Ok(Finished {
                status: execution.status,
                error: execution.error,
                cause: execution
                    .cause
                    .as_deref()
                    .map(photopipe::model::lambda_error_message),
                output: execution
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str(o).ok()),
                seconds,
            });
        }
        anyhow::ensure!(
            begin.elapsed() < within,
            "{execution_arn} still running after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs every photo under `photos` through the pipeline and writes the report and the
/// buckets' contents to `out`.
pub async fn run(
    stack: &LocalStack,
    photos: &Path,
    out: &Path,
    options: &RunOptions,
) -> anyhow::Result<Report> {
    let files = photos_in(photos)?;
    anyhow::ensure!(!files.is_empty(), "no files under {}", photos.display());
    let mut uploads = Vec::new();
    for (key, path) in files {
        uploads.push((key, std::fs::read(&path)?));
    }
    let report = process(stack, uploads, options).await?;
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    export(&stack.s3, THUMBNAILS, &out.join("thumbnails")).await?;
    export(&stack.wasabi_s3, ARCHIVE, &out.join("archive")).await?;
    export(&stack.s3, DROPBOX, &out.join("dropbox")).await?;
    Ok(report)
}

/// Uploads every (key, bytes) (each key once, a few at a time while the executions start),
/// with the faults `options` asks for, waits for every execution (and redrives, if asked),
/// and reports.
pub async fn process(
    stack: &LocalStack,
    uploads: Vec<(String, Vec<u8>)>,
    options: &RunOptions,
) -> anyhow::Result<Report> {
    anyhow::ensure!(!uploads.is_empty(), "nothing to upload");
    let begin = Instant::now();
    if options.chaos > 0.0 {
        stack.aws_faults.fail_fraction(options.chaos);
        stack.wasabi_faults.fail_fraction(options.chaos);
    }
    let outage_over = Instant::now() + options.wasabi_down;
    if !options.wasabi_down.is_zero() {
        stack.wasabi_faults.down_for(options.wasabi_down);
    }
    let checksums: HashMap<String, String> = uploads
        .iter()
        .map(|(key, bytes)| (key.clone(), photopipe::s3::sha256_hex(bytes)))
        .collect();
    let count = uploads.len();
    // The events are turned into executions while the uploads go on, as the rule would.
    let events_within = Duration::from_secs(60) + Duration::from_millis(200) * count as u32;
    let ((), mut started) = tokio::try_join!(
        upload_all(&stack.s3, uploads),
        stack.starter.start(count, events_within)
    )?;
    started.sort_by(|a, b| a.key.cmp(&b.key));
    let mut tracked = Vec::new();
    for execution in started {
        let finished = wait(stack, &execution.execution_arn, EXECUTION_LIMIT).await?;
        tracked.push(Tracked {
            started: execution,
            finished,
        });
    }
    let rounds = if options.redrive {
        redrive::until_done(stack, &mut tracked, outage_over, EXECUTION_LIMIT).await?
    } else {
        redrive::Rounds::default()
    };
    let seconds = begin.elapsed().as_secs_f64();
    report(stack, tracked, &checksums, rounds, seconds, options).await
}

/// The report of a run whose executions have all ended.
async fn report(
    stack: &LocalStack,
    tracked: Vec<Tracked>,
    checksums: &HashMap<String, String>,
    rounds: redrive::Rounds,
    seconds: f64,
    options: &RunOptions,
) -> anyhow::Result<Report> {
    let rejections = crate::contract::rejection_errors()?;
    let copies = archive_contents(stack).await?;
    let mut photos = Vec::new();
    let mut by_id = HashMap::new();
    for Tracked { started, finished } in tracked {
        let source = source_of(&started);
        let sha256 = checksums.get(&started.key).cloned().unwrap_or_default();
        let described = stack
            .sfn
            .describe_execution()
            .execution_arn(&started.execution_arn)
            .send()
            .await
            .with_context(|| format!("describing {}", started.execution_arn))?;
        let events = history::event_types(&stack.sfn, &started.execution_arn).await?;
        let archive_writes = photopipe::s3::keys::archive_key(&source, &sha256)
            .map_or(0, |key| stack.wasabi.writes(&key));
        let rejected =
            redrive::is_rejection(&finished.status, finished.error.as_deref(), &rejections);
        let mut photo = photo_report(started.key.clone(), sha256, started.name, finished);
        photo.version_id = source.version_id.clone();
        photo.rejected = rejected;
        photo.redrives = described
            .redrive_count()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0);
        photo.retried_attempts = history::retried_attempts(&events);
        photo.state_transitions = history::state_transitions(&events);
        photo.archive_copies = copies.get(&photo.sha256).copied().unwrap_or(0);
        photo.archive_writes = archive_writes;
        by_id.insert(
            PhotoId {
                key: source.key,
                version_id: source.version_id,
            },
            photos.len(),
        );
        photos.push(photo);
    }
    for invocation in stack.reports() {
        let photo = invocations::photo_of(&invocation.payload).and_then(|id| by_id.get(&id));
        if let Some(&at) = photo {
            photos[at]
                .invocations
                .push(InvocationFigures::from(&invocation));
        }
    }
    let violations = crate::invariant::check(stack, &options.renditions)
        .await
        .context("checking the nothing-lost invariant")?;
    let (aws_forwarded, aws_injected) = stack.aws_faults.counts();
    let (wasabi_forwarded, wasabi_injected) = stack.wasabi_faults.counts();
    let succeeded = photos.iter().filter(|p| p.status == "SUCCEEDED").count();
    let rejected = photos.iter().filter(|p| p.rejected).count();
    let totals = Totals {
        photos: photos.len(),
        succeeded,
        rejected,
        failed: photos.len() - succeeded - rejected,
        faults_injected: Endpoints {
            s3: aws_injected,
            wasabi: wasabi_injected,
        },
        requests_forwarded: Endpoints {
            s3: aws_forwarded,
            wasabi: wasabi_forwarded,
        },
        redrive_rounds: rounds.rounds,
        redrives: rounds.redrives,
        seconds: (seconds * 10.0).round() / 10.0,
    };
    Ok(Report {
        photos,
        totals,
        invariant: InvariantReport {
            holds: violations.is_empty(),
            violations: violations
                .into_iter()
                .map(|v| ViolationReport {
                    key: v.key,
                    version_id: v.version_id,
                    problem: v.problem,
                })
                .collect(),
        },
    })
}

/// The object an execution is about, from its input; its key alone if the input does not
/// name one.
fn source_of(started: &Started) -> SourceObject {
    serde_json::from_str::<ObjectCreatedEvent>(&started.input)
        .ok()
        .and_then(|event| event.source_object().ok())
        .unwrap_or_else(|| SourceObject {
            bucket: DROPBOX.to_owned(),
            key: started.key.clone(),
            version_id: None,
        })
}

/// How many objects in the archive bucket at the Wasabi stand-in hold each content, by
/// SHA-256.
async fn archive_contents(stack: &LocalStack) -> anyhow::Result<HashMap<String, u32>> {
    let mut copies = HashMap::new();
    for key in list_keys(&stack.wasabi_s3, ARCHIVE).await? {
        let object = stack
            .wasabi_s3
            .get_object()
            .bucket(ARCHIVE)
            .key(&key)
            .send()
            .await
            .with_context(|| format!("reading {ARCHIVE}/{key}"))?;
        let bytes = object.body.collect().await?.into_bytes();
        *copies.entry(photopipe::s3::sha256_hex(&bytes)).or_default() += 1;
    }
    Ok(copies)
}

fn photo_report(key: String, sha256: String, execution: String, finished: Finished) -> PhotoReport {
    let output = finished.output.unwrap_or_default();
    // The first rendition is the thumbnail.
    let thumbnail = output.pointer("/thumbnails/0").and_then(|t| {
        Some(ThumbnailReport {
            key: t.get("key")?.as_str()?.to_owned(),
            width: u32::try_from(t.get("width")?.as_u64()?).ok()?,
            height: u32::try_from(t.get("height")?.as_u64()?).ok()?,
            bytes: t.get("bytes")?.as_u64()?,
        })
    });
    let archive = output.get("archive").and_then(|a| {
        Some(ArchiveReport {
            key: a.get("key")?.as_str()?.to_owned(),
            sha256: a.get("sha256")?.as_str()?.to_owned(),
        })
    });
    PhotoReport {
        key,
        version_id: None,
        status: finished.status.as_str().to_owned(),
        rejected: false,
        error: finished.error,
        cause: finished.cause,
        sha256,
        thumbnail,
        archive,
        execution,
        seconds: (finished.seconds * 1000.0).round() / 1000.0,
        redrives: 0,
        retried_attempts: 0,
        state_transitions: 0,
        archive_copies: 0,
        archive_writes: 0,
        invocations: Vec::new(),
    }
}

/// Writes every current object of `bucket` to `dir/<key>`, replacing what `dir` held.
pub async fn export(s3: &aws_sdk_s3::Client, bucket: &str, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for key in list_keys(s3, bucket).await? {
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .with_context(|| format!("reading {bucket}/{key}"))?;
        let bytes = object.body.collect().await?.into_bytes();
        let path = dir.join(&key);
        anyhow::ensure!(
            !key.split('/').any(|part| part == ".." || part.is_empty()),
            "refusing to write key {key:?}"
        );
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// The keys of every current object in `bucket`.
pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        keys.extend(
            page.with_context(|| format!("listing {bucket}"))?
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    Ok(keys)
}
