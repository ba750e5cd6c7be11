//! `photopipe status KEY`: one photo's whole story. Its versions in the dropbox (uploaded
//! when, how big, the outcome tag cleanup put on each), the executions whose input names it
//! (found by describing the runs started since its first upload), each step of each run
//! from the history (attempts, the error and cause of each failure, caught or not, a redrive
//! between), where its thumbnails and archive copy are, its quarantine reason if rejected,
//! and whether a failed run can be redriven and why not.

use std::io::Write;
use std::time::{Duration, SystemTime};

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use aws_smithy_types::DateTime;
use photopipe::event::SourceObject;
use photopipe::s3::keys;
use photopipe::settings::{PHOTOS_PREFIX, outcome_tag};

use crate::deployment::Deployment;
use crate::executions::{self, Filter, Run, timestamp};
use crate::failure::api;
use crate::redrive;

/// Runs can start a little before the upload's LastModified says (clock skew).
const SKEW: Duration = Duration::from_secs(300);

/// One version of the key in the dropbox.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionStory {
    pub version_id: String,
    pub uploaded: Option<DateTime>,
    pub size: i64,
    pub current: bool,
    /// `archived`, `quarantined`, or none yet.
    pub outcome: Option<String>,
    /// For a quarantined version: its `rejected/…` reason, as JSON.
    pub quarantine_reason: Option<serde_json::Value>,
}

/// One state of a run, as entered once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub state: String,
    pub attempts: u32,
    /// Each failed attempt's error and cause.
    pub failures: Vec<(String, String)>,
    pub result: StepResult,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    Succeeded,
    /// It failed, and a Catch moved the run on (to Quarantine, or a Succeed state).
    Caught,
    /// The run failed here.
    Failed,
    /// Not over yet (or ended by a Fail or Succeed state, which has no attempts).
    Open,
}

/// One execution about the photo.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStory {
    pub run: Run,
    pub steps: Vec<Step>,
    /// Why it cannot be redriven, when it ended without succeeding; `None` if it can.
    pub redrive_refusal: Option<String>,
    /// Thumbnails written (`bucket/key`), from the Thumbnail step's result.
    pub thumbnails: Vec<String>,
    /// Renditions skipped, and why.
    pub skipped: Vec<String>,
    /// The archive copy (`bucket/key`), from the Archive step's result.
    pub archive: Option<String>,
}

/// The whole story.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    pub key: String,
    pub versions: Vec<VersionStory>,
    pub runs: Vec<RunStory>,
}

/// `photos/` is added to a key that lacks it.
pub fn photo_key(key: &str) -> String {
    if key.starts_with(PHOTOS_PREFIX) {
        key.to_owned()
    } else {
        format!("{PHOTOS_PREFIX}{}", key.trim_start_matches('/'))
    }
}

/// Reads the story of `key`.
pub async fn story(deployment: &Deployment, key: &str) -> anyhow::Result<Story> {
    let key = photo_key(key);
    let dropbox = deployment.dropbox()?;
    let versions = versions(deployment, dropbox, &key).await?;
    let first_upload = versions
        .iter()
        .filter_map(|v| v.uploaded)
        .filter_map(|d| SystemTime::try_from(d).ok())
        .min();
    let mut runs = Vec::new();
    if let Some(first) = first_upload {
        let filter = Filter {
            since: Some(first.checked_sub(SKEW).unwrap_or(first)),
            ..Filter::default()
        };
        let state_machine = deployment.state_machine_arn()?;
        let rejections = redrive::rejection_errors()?;
        let described = executions::runs(&deployment.sfn, state_machine, &filter).await?;
        for run in described
            .into_iter()
            .filter(|r| r.key.as_deref() == Some(&key))
        {
            runs.push(run_story(&deployment.sfn, run, &rejections).await?);
        }
    }
    Ok(Story {
        key,
        versions,
        runs,
    })
}

async fn versions(
    deployment: &Deployment,
    dropbox: &str,
    key: &str,
) -> anyhow::Result<Vec<VersionStory>> {
    let mut found = Vec::new();
    let mut hidden = false;
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = deployment
            .s3
            .list_object_versions()
            .bucket(dropbox)
            .prefix(key)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(api("ListObjectVersions"))?;
        hidden |= page
            .delete_markers()
            .iter()
            .any(|m| m.key() == Some(key) && m.is_latest() == Some(true));
        for version in page.versions().iter().filter(|v| v.key() == Some(key)) {
            found.push(VersionStory {
                version_id: version.version_id().unwrap_or("null").to_owned(),
                uploaded: version.last_modified().copied(),
                size: version.size().unwrap_or(0),
                current: version.is_latest() == Some(true),
                outcome: None,
                quarantine_reason: None,
            });
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    for version in &mut found {
        version.current &= !hidden;
        let source = SourceObject {
            bucket: dropbox.to_owned(),
            key: key.to_owned(),
            version_id: Some(version.version_id.clone()),
        };
        let tags = deployment
            .s3
            .get_object_tagging()
            .bucket(dropbox)
            .key(key)
            .version_id(&version.version_id)
            .send()
            .await
            .map_err(api("GetObjectTagging"))?;
        version.outcome = tags
            .tag_set()
            .iter()
            .find(|t| t.key() == outcome_tag::KEY)
            .map(|t| t.value().to_owned());
        if version.outcome.as_deref() == Some(outcome_tag::QUARANTINED) {
            let (_, reason) = keys::quarantine_keys(&source);
            version.quarantine_reason = read_json(deployment, dropbox, &reason).await?;
        }
    }
    Ok(found)
}

async fn read_json(
    deployment: &Deployment,
    bucket: &str,
    key: &str,
) -> anyhow::Result<Option<serde_json::Value>> {
    match deployment
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(object) => {
            let bytes = object.body.collect().await?.into_bytes();
            Ok(serde_json::from_slice(&bytes).ok())
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
        Err(err) => Err(api("GetObject")(err).into()),
    }
}

async fn run_story(
    sfn: &aws_sdk_sfn::Client,
    run: Run,
    rejections: &[String],
) -> anyhow::Result<RunStory> {
    let mut steps: Vec<Step> = Vec::new();
    let mut last_output: Option<serde_json::Value> = None;
    let mut pages = sfn
        .get_execution_history()
        .execution_arn(&run.arn)
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("GetExecutionHistory"))?;
        for event in page.events() {
            let current = steps.last_mut();
            match event.r#type() {
                HistoryEventType::TaskStateEntered => {
                    let name = event
                        .state_entered_event_details()
                        .map(|d| d.name().to_owned())
                        .unwrap_or_default();
                    steps.push(Step {
                        state: name,
                        attempts: 0,
                        failures: Vec::new(),
                        result: StepResult::Open,
                    });
                }
                HistoryEventType::LambdaFunctionScheduled => {
                    if let Some(step) = current {
                        step.attempts += 1;
                    }
                }
                HistoryEventType::LambdaFunctionSucceeded => {
                    if let Some(step) = current {
                        step.result = StepResult::Succeeded;
                    }
                }
                HistoryEventType::LambdaFunctionFailed
                | HistoryEventType::LambdaFunctionTimedOut => {
                    let (error, cause) = event
                        .lambda_function_failed_event_details()
                        .map(|d| (d.error(), d.cause()))
                        .or_else(|| {
                            event
                                .lambda_function_timed_out_event_details()
                                .map(|d| (d.error(), d.cause()))
                        })
                        .unwrap_or_default();
                    if let Some(step) = current {
                        step.failures.push((
                            error.unwrap_or("-").to_owned(),
                            cause
                                .map(photopipe::model::lambda_error_message)
                                .unwrap_or_default(),
                        ));
                        step.result = StepResult::Failed;
                    }
                }
                HistoryEventType::TaskStateExited => {
                    if let Some(step) = current
                        && step.result == StepResult::Failed
                    {
                        step.result = StepResult::Caught;
                    }
                    last_output = event
                        .state_exited_event_details()
                        .and_then(|d| d.output())
                        .and_then(|o| serde_json::from_str(o).ok())
                        .or(last_output);
                }
                _ => {}
            }
        }
    }
    let output = run
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
        .or(last_output)
        .unwrap_or_default();
    let object_path =
        |v: &serde_json::Value| Some(format!("{}/{}", v["bucket"].as_str()?, v["key"].as_str()?));
    let rendered = output["thumbnails"].as_array().cloned().unwrap_or_default();
    let thumbnails = rendered.iter().filter_map(object_path).collect();
    let skipped = rendered
        .iter()
        .filter_map(|t| {
            Some(format!(
                "{}: {}",
                t["rendition"].as_str()?,
                t["skipped"].as_str()?
            ))
        })
        .collect();
    let archive = object_path(&output["archive"]);
    let redrive_refusal = if executions::is_unsuccessful(&run.status) {
        redrive::refusal(&run, rejections, SystemTime::now())
    } else {
        None
    };
    Ok(RunStory {
        run,
        steps,
        redrive_refusal,
        thumbnails,
        skipped,
        archive,
    })
}

/// A cause cut to a line or two (`executions --json` has it whole).
fn shorten(cause: &str) -> String {
    const LONGEST: usize = 200;
    match cause.char_indices().nth(LONGEST) {
        Some((at, _)) => format!("{}…", &cause[..at]),
        None => cause.to_owned(),
    }
}

/// Prints the story.
pub fn write_story(out: &mut dyn Write, story: &Story) -> anyhow::Result<()> {
    writeln!(out, "{}", story.key)?;
    if story.versions.is_empty() {
        writeln!(out, "  no version of it in the dropbox")?;
    }
    for version in &story.versions {
        let uploaded = version
            .uploaded
            .as_ref()
            .map_or_else(|| "?".into(), timestamp);
        let place = if version.current {
            "current under photos/"
        } else {
            "removed from photos/ (kept as a noncurrent version)"
        };
        let outcome = version.outcome.as_deref().unwrap_or("not settled yet");
        writeln!(
            out,
            "  version {} uploaded {uploaded}, {} bytes, {place}: {outcome}",
            version.version_id, version.size
        )?;
        if let Some(reason) = &version.quarantine_reason {
            writeln!(
                out,
                "    rejected: {} {}",
                reason["error"].as_str().unwrap_or("?"),
                reason["cause"].as_str().unwrap_or("")
            )?;
        }
    }
    if story.runs.is_empty() {
        writeln!(
            out,
            "  no execution names it: it was never processed (`photopipe backfill --prefix {}`)",
            story.key
        )?;
    }
    for story in &story.runs {
        let run = &story.run;
        let redriven = match run.redrive_count {
            0 => String::new(),
            1 => ", redriven once".to_owned(),
            n => format!(", redriven {n} times"),
        };
        writeln!(
            out,
            "  execution {} (version {}): {}{redriven}, started {}{}",
            run.name,
            run.version_id.as_deref().unwrap_or("-"),
            run.status,
            timestamp(&run.started),
            run.stopped
                .as_ref()
                .map(|s| format!(", ended {}", timestamp(s)))
                .unwrap_or_default()
        )?;
        for step in &story.steps {
            let result = match step.result {
                StepResult::Succeeded => "succeeded",
                StepResult::Caught => "failed, caught",
                StepResult::Failed => "FAILED",
                StepResult::Open => "running",
            };
            let attempts = if step.attempts == 1 {
                String::new()
            } else {
                format!(" after {} attempts", step.attempts)
            };
            writeln!(out, "    {:<10} {result}{attempts}", step.state)?;
            if let Some((error, cause)) = step.failures.last() {
                writeln!(out, "               {error}: {}", shorten(cause))?;
            }
        }
        // The run's own error, unless a step above already showed it.
        let shown = story.steps.iter().any(|s| !s.failures.is_empty());
        if let (Some(error), ExecutionStatus::Failed, false) = (&run.error, &run.status, shown) {
            writeln!(
                out,
                "    error      {error}: {}",
                run.cause.as_deref().unwrap_or("")
            )?;
        }
        for thumbnail in &story.thumbnails {
            writeln!(out, "    thumbnail  {thumbnail}")?;
        }
        for skipped in &story.skipped {
            writeln!(out, "    skipped    {skipped}")?;
        }
        if let Some(archive) = &story.archive {
            writeln!(out, "    archive    {archive}")?;
        }
        if executions::is_unsuccessful(&run.status) {
            match &story.redrive_refusal {
                None => writeln!(out, "    redrivable: yes, `photopipe redrive {}`", run.arn)?,
                Some(why) => writeln!(out, "    redrivable: no, {why}")?,
            }
        }
    }
    Ok(())
}
