//! The backlog: originals still under `photos/` that no execution is working on, and starting
//! them. An original stays under `photos/` until its run archives or quarantines it, so one
//! that is there is being processed (a RUNNING execution), waits for an operator (a failed,
//! timed-out or aborted execution that can still be redriven), or was lost: its event never
//! arrived, or the rule was disabled. The reconciler (a scheduled Lambda) and the operator
//! CLI's `backfill` share this module: [`Backlog::scan`] tells the three apart and
//! [`Backlog::start`] starts the lost ones, each under a name derived from the exact object
//! version ([`execution_name`]) and with the very event the rule would have delivered
//! ([`execution_input`]), so a second start of the same original is refused by Step
//! Functions itself and the state machine cannot tell a reconciled run from a real one.
//!
//! What it reads, and why (each call costs; see the README's "Reconciler"):
//! - ListObjectsV2 of the prefix (paginated), which gives each current object's key, size
//!   and last-modified time, but not its version id.
//! - HeadObject of each original older than the age asked for (none of the others), for its
//!   current version id and ETag. Not ListObjectVersions: the dropbox keeps every archived
//!   original as a noncurrent version behind a delete marker for `noncurrentVersionDays`
//!   (30 by default), so listing versions pages through two entries per photo of the last
//!   month on every run (about 600 pages every 15 minutes at 10,000 photos a day), where the
//!   current objects are only the few in flight. A HEAD also names the version that is
//!   current now, not when the page was listed; an object removed in between (404) has been
//!   archived or quarantined meanwhile and is skipped.
//! - Only when some original is that old: ListExecutions of the state machine by status
//!   (RUNNING, then FAILED, TIMED_OUT and ABORTED, paginated) and DescribeExecution of each
//!   RUNNING one and each closed one still inside the redrive window, for its input, parsed
//!   as the pipeline parses it ([`crate::event`]). In steady state (nothing old under
//!   `photos/`) a scan is one LIST request.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_sfn::types::{ExecutionRedriveStatus, ExecutionStatus};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{PipelineError, Result};
use crate::event::{ObjectCreatedEvent, SourceObject, encode_event_key};
use crate::settings::PHOTOS_PREFIX;

/// What every name [`execution_name`] makes starts with: tells a reconciled or backfilled run
/// from one the rule started (those have random UUIDs) in the console and in `executions`.
pub const EXECUTION_NAME_PREFIX: &str = "backlog-";

/// How long after an execution stopped Step Functions still lets it be redriven (AWS:
/// "Redriving executions": 14 days). A failed run inside it covers its original: an operator
/// redrives it; one outside it covers nothing, and its original is started again.
pub const REDRIVE_WINDOW: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// How many StartExecution (and DescribeExecution) calls are in flight at once. StartExecution's
/// token bucket is 1,300 with 150-300 refilled a second, DescribeExecution's 250 with 15-20 a
/// second; ten at a time, each a round trip of tens of milliseconds, stays near those rates,
/// and the SDK's standard retry backs off from a throttle.
pub const CONCURRENCY: usize = 10;

/// The execution name of one exact object version: [`EXECUTION_NAME_PREFIX`] and the
/// SHA-256, in hex, of the bucket, the key and the version id (each length-prefixed, so no
/// two triples hash the same bytes). 8 + 64 = 72 characters of `[a-z0-9-]`, within Step
/// Functions' 80 and its character rules, whatever the key holds.
///
/// Why two originals never share a name: two different versions (or keys, or buckets) give
/// two different names unless SHA-256 collides, which nobody has ever made happen. The same
/// version always gives the same name, and Step Functions refuses a second execution of a
/// name for 90 days after the first closed (`ExecutionAlreadyExists`; a start of a name that
/// is still running, with the same input, returns that execution), so an original is never
/// started twice by the reconciler, the CLI, or both at once. The other side of that: one
/// whose reconciled run failed and was not redriven within 14 days cannot be started again
/// under this name for the rest of those 90 days; [`Backlog::start`] reports it as already
/// started, and it shows in the waiting-original metric until someone looks.
pub fn execution_name(source: &SourceObject) -> String {
    format!(
        "{EXECUTION_NAME_PREFIX}{}",
        hex::encode(source_digest(source))
    )
}

/// SHA-256 of the bucket, key and version id, each preceded by its length in bytes (an
/// unversioned object's version as `null`, as S3 names it).
fn source_digest(source: &SourceObject) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [
        source.bucket.as_str(),
        source.key.as_str(),
        source.version_id.as_deref().unwrap_or("null"),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// Where the state machine lives, read from its ARN (`arn:<partition>:states:<region>:
/// <account>:stateMachine:<name>`): the event's `account`, `region` and `resources` name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOrigin {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl EventOrigin {
    /// `Photo.Configuration` unless `state_machine_arn` is a state machine's ARN.
    pub fn from_state_machine_arn(state_machine_arn: &str) -> Result<Self> {
        match state_machine_arn.split(':').collect::<Vec<_>>()[..] {
            [
                "arn",
                partition,
                "states",
                region,
                account,
                "stateMachine",
                name,
                ..,
            ] if !partition.is_empty()
                && !region.is_empty()
                && !account.is_empty()
                && !name.is_empty() =>
            {
                Ok(Self {
                    partition: partition.into(),
                    region: region.into(),
                    account: account.into(),
                })
            }
            _ => Err(PipelineError::Configuration(format!(
                "{state_machine_arn:?} is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)"
            ))),
        }
    }
}

/// The input that starts an original's run: the EventBridge "Object Created" event the
/// dropbox's rule delivers for an upload, field for field (`version`, `id`, `detail-type`,
/// `source`, `account`, `time`, `region`, `resources`, and `detail` with `version`,
/// `bucket.name`, `object` with `key` URL-encoded as S3 encodes it, `size`, `etag`,
/// `version-id`, then `request-id`, `requester`, `reason`), so the state machine cannot tell
/// a reconciled run from one the rule started. Two fields describe the upload request itself
/// and are left out rather than made up: `detail.object.sequencer` and
/// `detail.source-ip-address` (the pipeline reads neither). Everything in it is derived from
/// the version (the `id` and `request-id` from its digest, `time` from its last-modified
/// time), so two starts of one original send the same input, which Step Functions requires
/// for an idempotent start.
pub fn execution_input(original: &Original, origin: &EventOrigin) -> String {
    let digest = hex::encode(source_digest(&original.source));
    let id = format!(
        "{}-{}-{}-{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    );
    let mut object = serde_json::json!({
        "key": encode_event_key(&original.source.key),
        "size": original.size,
        "etag": original.etag,
    });
    if let Some(version) = &original.source.version_id {
        object["version-id"] = version.as_str().into();
    }
    let event = serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": origin.account,
        "time": whole_seconds(&original.last_modified),
        "region": origin.region,
        "resources": [format!("arn:{}:s3:::{}", origin.partition, original.source.bucket)],
        "detail": {
            "version": "0",
            "bucket": {"name": original.source.bucket},
            "object": object,
            "request-id": digest[32..48].to_ascii_uppercase(),
            "requester": origin.account,
            "reason": "PutObject",
        },
    });
    event.to_string()
}

/// `2026-12-02T13:05:09Z`, as EventBridge writes `time`.
fn whole_seconds(time: &DateTime) -> String {
    DateTime::from_secs(time.secs())
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

/// An object listed under the prefix, younger than the age asked for: not looked at further.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// How long it has been there.
    #[serde(rename = "age_seconds", serialize_with = "whole_secs")]
    pub age: Duration,
}

/// One original older than the age asked for, its version read by HeadObject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Original {
    pub source: SourceObject,
    pub size: u64,
    /// The ETag without its quotes, as S3 writes it into events.
    pub etag: String,
    #[serde(skip)]
    pub last_modified: DateTime,
    /// How long it has been there (now less its last-modified time).
    #[serde(rename = "age_seconds", serialize_with = "whole_secs")]
    pub age: Duration,
}

/// An original some execution covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Covered {
    pub original: Original,
    pub execution_arn: String,
    /// `RUNNING`, or `FAILED`, `TIMED_OUT`, `ABORTED` for a run still redrivable.
    pub status: String,
}

/// What [`Backlog::scan`] found under the prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scan {
    /// Older than the age asked for, and no execution covers them: what [`Backlog::start`]
    /// starts. Oldest first.
    pub waiting: Vec<Original>,
    /// Older than the age asked for, and a RUNNING or still redrivable execution covers them.
    pub covered: Vec<Covered>,
    /// Younger than the age asked for (their event may still be on its way): not examined.
    pub recent: Vec<Listed>,
    /// Zero-byte keys ending in `/` (folder markers): not photos, skipped.
    pub folder_markers: usize,
}

impl Scan {
    /// How long the oldest original still under the prefix has waited there, whatever covers
    /// it (a failed run waiting for a redrive is waiting all the same): the
    /// `OldestWaitingOriginalSeconds` metric. Zero when there is none.
    pub fn oldest_age(&self) -> Duration {
        let waiting = self.waiting.iter().map(|o| o.age);
        let covered = self.covered.iter().map(|c| c.original.age);
        let recent = self.recent.iter().map(|l| l.age);
        waiting
            .chain(covered)
            .chain(recent)
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

/// What became of one original [`Backlog::start`] was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum StartOutcome {
    /// StartExecution began this execution (or found it running under this name with this
    /// input, which Step Functions answers the same way).
    Started { execution_arn: String },
    /// An execution of this name exists already, closed (`ExecutionAlreadyExists`): started
    /// before, by the reconciler or a backfill.
    AlreadyStarted,
    /// Nothing was called (a dry run).
    WouldStart,
    /// StartExecution failed (after the SDK's retries); the next run tries again.
    Failed {
        error: String,
        #[serde(skip)]
        cause: PipelineError,
    },
}

/// One original [`Backlog::start`] was given, the name it was started under, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Start {
    pub source: SourceObject,
    pub execution_name: String,
    #[serde(flatten)]
    pub outcome: StartOutcome,
}

/// The dropbox and the state machine whose backlog this is.
#[derive(Debug, Clone)]
pub struct Backlog {
    s3: aws_sdk_s3::Client,
    sfn: aws_sdk_sfn::Client,
    bucket: String,
    state_machine_arn: String,
    origin: EventOrigin,
}

impl Backlog {
    /// `Photo.Configuration` if `state_machine_arn` is not a state machine's ARN.
    pub fn new(
        s3: aws_sdk_s3::Client,
        sfn: aws_sdk_sfn::Client,
        bucket: impl Into<String>,
        state_machine_arn: impl Into<String>,
    ) -> Result<Self> {
        let state_machine_arn = state_machine_arn.into();
        let origin = EventOrigin::from_state_machine_arn(&state_machine_arn)?;
        Ok(Self {
            s3,
            sfn,
            bucket: bucket.into(),
            state_machine_arn,
            origin,
        })
    }

    /// Lists the current objects under `prefix` (which must be `photos/` or below it), skips
    /// folder markers, and sorts the originals older than `older_than` (at `now`) into
    /// waiting and covered; the others are `recent`. With `older_than` zero (a backfill),
    /// every original is examined.
    pub async fn scan(&self, prefix: &str, older_than: Duration, now: SystemTime) -> Result<Scan> {
        if !prefix.starts_with(PHOTOS_PREFIX) {
            return Err(PipelineError::Configuration(format!(
                "the backlog's prefix {prefix:?} is not under {PHOTOS_PREFIX}"
            )));
        }
        let mut scan = Scan::default();
        let mut old = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| {
                PipelineError::from_sdk(
                    &format!("ListObjectsV2 s3://{}/{prefix}", self.bucket),
                    err,
                )
            })?;
            for object in page.contents() {
                let key = object.key().unwrap_or_default();
                let size = object.size().unwrap_or(0).max(0) as u64;
                if key.ends_with('/') && size == 0 {
                    scan.folder_markers += 1;
                    continue;
                }
                let age = object
                    .last_modified()
                    .map(|modified| age_at(modified, now))
                    .unwrap_or(Duration::ZERO);
                if age >= older_than {
                    old.push(key.to_owned());
                } else {
                    scan.recent.push(Listed {
                        key: key.to_owned(),
                        size,
                        age,
                    });
                }
            }
        }
        if old.is_empty() {
            return Ok(scan);
        }
        let originals = futures_util::stream::iter(old)
            .map(|key| self.head(key, now))
            .buffered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut coverage = self.coverage(now).await?;
        for original in originals {
            let Some(original) = original? else { continue };
            match coverage.remove(&Self::identity(&original.source)) {
                Some((execution_arn, status)) => scan.covered.push(Covered {
                    original,
                    execution_arn,
                    status,
                }),
                None => scan.waiting.push(original),
            }
        }
        scan.waiting
            .sort_by_key(|original| std::cmp::Reverse(original.age));
        Ok(scan)
    }

    /// The current version of `key`; `None` if it is gone (archived or quarantined since it
    /// was listed).
    async fn head(&self, key: String, now: SystemTime) -> Result<Option<Original>> {
        let output = match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Ok(None);
            }
            Err(err) => {
                return Err(PipelineError::from_sdk(
                    &format!("HeadObject s3://{}/{key}", self.bucket),
                    err,
                ));
            }
        };
        let last_modified = output
            .last_modified()
            .copied()
            .unwrap_or_else(|| DateTime::from(now));
        Ok(Some(Original {
            source: SourceObject {
                bucket: self.bucket.clone(),
                key,
                version_id: output
                    .version_id()
                    .filter(|v| !v.is_empty() && *v != "null")
                    .map(str::to_owned),
            },
            size: output.content_length().unwrap_or(0).max(0) as u64,
            etag: output
                .e_tag()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
            age: age_at(&last_modified, now),
            last_modified,
        }))
    }

    /// The originals that a RUNNING execution, or a closed one still redrivable, is about:
    /// (bucket, key, version) → (execution ARN, status).
    async fn coverage(&self, now: SystemTime) -> Result<HashMap<Identity, (String, String)>> {
        let mut candidates = Vec::new();
        for status in [
            ExecutionStatus::Running,
            ExecutionStatus::Failed,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
        ] {
            let mut pages = self
                .sfn
                .list_executions()
                .state_machine_arn(&self.state_machine_arn)
                .status_filter(status.clone())
                .into_paginator()
                .items()
                .send();
            while let Some(execution) = pages.next().await {
                let execution = execution.map_err(|err| {
                    PipelineError::from_sdk(
                        &format!("ListExecutions {} {status}", self.state_machine_arn),
                        err,
                    )
                })?;
                let in_window = match execution.stop_date() {
                    None => true,
                    Some(stopped) => age_at(stopped, now) < REDRIVE_WINDOW,
                };
                if status == ExecutionStatus::Running || in_window {
                    candidates.push((execution.execution_arn().to_owned(), status.clone()));
                }
            }
        }
        let described = futures_util::stream::iter(candidates)
            .map(|(arn, status)| async move {
                let covers = self.covers(&arn, &status).await?;
                Ok::<_, PipelineError>(covers.map(|source| (source, arn, status)))
            })
            .buffered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut coverage = HashMap::new();
        for entry in described {
            if let Some((source, arn, status)) = entry? {
                coverage
                    .entry(Self::identity(&source))
                    .or_insert((arn, status.to_string()));
            }
        }
        Ok(coverage)
    }

    /// The original an execution is about, if it covers one: its input parsed as the pipeline
    /// parses it; `None` for an input that is not an upload event, or a closed execution that
    /// Step Functions says cannot be redriven.
    async fn covers(&self, arn: &str, status: &ExecutionStatus) -> Result<Option<SourceObject>> {
        let described = match self
            .sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
        {
            Ok(described) => described,
            // Gone since it was listed (past Step Functions' 90 days): covers nothing.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_execution_does_not_exist()) =>
            {
                return Ok(None);
            }
            Err(err) => {
                return Err(PipelineError::from_sdk(
                    &format!("DescribeExecution {arn}"),
                    err,
                ));
            }
        };
        if *status != ExecutionStatus::Running
            && described.redrive_status() == Some(&ExecutionRedriveStatus::NotRedrivable)
        {
            return Ok(None);
        }
        let source = described
            .input()
            .and_then(|input| serde_json::from_str::<ObjectCreatedEvent>(input).ok())
            .and_then(|event| event.source_object().ok());
        if source.is_none() {
            tracing::warn!(execution = arn, "execution input is not an upload event");
        }
        Ok(source)
    }

    fn identity(source: &SourceObject) -> Identity {
        (
            source.bucket.clone(),
            source.key.clone(),
            source.version_id.clone(),
        )
    }

    /// Starts each original under its [`execution_name`] with its [`execution_input`],
    /// [`CONCURRENCY`] at a time, in the order given; `ExecutionAlreadyExists` is
    /// [`StartOutcome::AlreadyStarted`], not an error. With `dry_run`, nothing is called and
    /// each is [`StartOutcome::WouldStart`]. A failed start is reported in its [`Start`] and
    /// the others go on.
    pub async fn start(&self, waiting: &[Original], dry_run: bool) -> Vec<Start> {
        futures_util::stream::iter(waiting)
            .map(|original| self.start_one(original, dry_run))
            .buffered(CONCURRENCY)
            .collect()
            .await
    }

    async fn start_one(&self, original: &Original, dry_run: bool) -> Start {
        let name = execution_name(&original.source);
        let outcome = if dry_run {
            StartOutcome::WouldStart
        } else {
            match self
                .sfn
                .start_execution()
                .state_machine_arn(&self.state_machine_arn)
                .name(&name)
                .input(execution_input(original, &self.origin))
                .send()
                .await
            {
                Ok(started) => StartOutcome::Started {
                    execution_arn: started.execution_arn().to_owned(),
                },
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_execution_already_exists()) =>
                {
                    StartOutcome::AlreadyStarted
                }
                Err(err) => {
                    let cause = PipelineError::from_sdk(
                        &format!("StartExecution {name} for {}", original.source.describe()),
                        err,
                    );
                    StartOutcome::Failed {
                        error: cause.to_string(),
                        cause,
                    }
                }
            }
        };
        Start {
            source: original.source.clone(),
            execution_name: name,
            outcome,
        }
    }
}

/// (bucket, key, version id): what an execution's input and a listed original are matched on.
type Identity = (String, String, Option<String>);

/// A duration as whole seconds, in JSON.
fn whole_secs<S: serde::Serializer>(age: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(age.as_secs())
}

/// How long before `now` `time` was (zero if it is in the future: clocks differ).
fn age_at(time: &DateTime, now: SystemTime) -> Duration {
    SystemTime::try_from(*time)
        .ok()
        .and_then(|time| now.duration_since(time).ok())
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_sdk_s3::types::Object;
    use aws_sdk_s3::types::error::NotFound;
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
    use aws_sdk_sfn::operation::list_executions::ListExecutionsOutput;
    use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
    use aws_sdk_sfn::types::ExecutionListItem;
    use aws_sdk_sfn::types::error::ExecutionAlreadyExists;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:photopipe";
    /// The clock of every test: 2026-12-02T12:00:00Z.
    const NOW_SECS: i64 = 1_796_212_800;
    const MINUTE: i64 = 60;
    const DAY: i64 = 24 * 60 * MINUTE;

    fn now() -> SystemTime {
        SystemTime::try_from(DateTime::from_secs(NOW_SECS)).expect("time")
    }

    fn ago(secs: i64) -> DateTime {
        DateTime::from_secs(NOW_SECS - secs)
    }

    fn source(key: &str, version: &str) -> SourceObject {
        SourceObject {
            bucket: "drop".into(),
            key: key.into(),
            version_id: Some(version.into()),
        }
    }

    fn original(key: &str, version: &str, age_secs: i64) -> Original {
        Original {
            source: source(key, version),
            size: 1234,
            etag: "0123abcd".into(),
            last_modified: ago(age_secs),
            age: Duration::from_secs(age_secs as u64),
        }
    }

    fn listed(key: &str, size: i64, age_secs: i64) -> Object {
        Object::builder()
            .key(key)
            .size(size)
            .last_modified(ago(age_secs))
            .build()
    }

    /// Page `token` (None for the first) of the listing, leading to `next`.
    fn page(token: Option<&'static str>, next: Option<&'static str>, objects: Vec<Object>) -> Rule {
        mock!(aws_sdk_s3::Client::list_objects_v2)
            .match_requests(move |r| {
                r.bucket() == Some("drop")
                    && r.prefix() == Some("photos/")
                    && r.continuation_token() == token
            })
            .then_output(move || {
                ListObjectsV2Output::builder()
                    .set_contents(Some(objects.clone()))
                    .is_truncated(next.is_some())
                    .set_next_continuation_token(next.map(str::to_owned))
                    .build()
            })
    }

    /// HeadObject of `key` (no version asked: the current one), answering `version`.
    fn head(key: &'static str, version: &'static str, age_secs: i64) -> Rule {
        mock!(aws_sdk_s3::Client::head_object)
            .match_requests(move |r| r.key() == Some(key) && r.version_id().is_none())
            .then_output(move || {
                HeadObjectOutput::builder()
                    .version_id(version)
                    .e_tag("\"0123abcd\"")
                    .content_length(1234)
                    .last_modified(ago(age_secs))
                    .build()
            })
    }

    fn execution(
        arn: &str,
        status: ExecutionStatus,
        stopped_ago: Option<i64>,
    ) -> ExecutionListItem {
        ExecutionListItem::builder()
            .execution_arn(arn)
            .state_machine_arn(MACHINE)
            .name(arn.rsplit(':').next().unwrap_or(arn))
            .status(status)
            .start_date(ago(stopped_ago.unwrap_or(0) + 10 * MINUTE))
            .set_stop_date(stopped_ago.map(ago))
            .build()
            .expect("execution")
    }

    /// ListExecutions of the machine with `status`, in one page.
    fn executions(status: ExecutionStatus, items: Vec<ExecutionListItem>) -> Rule {
        mock!(aws_sdk_sfn::Client::list_executions)
            .match_requests(move |r| {
                r.state_machine_arn() == Some(MACHINE) && r.status_filter() == Some(&status)
            })
            .then_output(move || {
                ListExecutionsOutput::builder()
                    .set_executions(Some(items.clone()))
                    .build()
                    .expect("list")
            })
    }

    /// DescribeExecution of `arn`, whose input is the upload event of `source`.
    fn describe(arn: &'static str, source: SourceObject) -> Rule {
        let input = execution_input(
            &Original {
                source,
                size: 1,
                etag: "e".into(),
                last_modified: ago(DAY),
                age: Duration::ZERO,
            },
            &EventOrigin::from_state_machine_arn(MACHINE).expect("arn"),
        );
        mock!(aws_sdk_sfn::Client::describe_execution)
            .match_requests(move |r| r.execution_arn() == Some(arn))
            .then_output(move || {
                DescribeExecutionOutput::builder()
                    .execution_arn(arn)
                    .state_machine_arn(MACHINE)
                    .status(ExecutionStatus::Running)
                    .start_date(ago(DAY))
                    .input(input.clone())
                    .build()
                    .expect("describe")
            })
    }

    fn backlog(s3: aws_sdk_s3::Client, sfn: aws_sdk_sfn::Client) -> Backlog {
        Backlog::new(s3, sfn, "drop", MACHINE).expect("backlog")
    }

    #[test]
    fn names_are_deterministic_valid_and_differ_by_bucket_key_and_version() {
        let name = execution_name(&source("photos/My Trip/été: 1+1?.jpg", "v1"));
        assert_eq!(
            name,
            execution_name(&source("photos/My Trip/été: 1+1?.jpg", "v1"))
        );
        assert!(name.starts_with(EXECUTION_NAME_PREFIX));
        assert_eq!(name.len(), 72);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{name}"
        );
        let long = execution_name(&source(&format!("photos/{}", "x".repeat(1000)), "v1"));
        assert_eq!(long.len(), 72);
        let others = [
            execution_name(&source("photos/My Trip/été: 1+1?.jpg", "v2")),
            execution_name(&SourceObject {
                bucket: "drop2".into(),
                ..source("photos/My Trip/été: 1+1?.jpg", "v1")
            }),
            execution_name(&SourceObject {
                version_id: None,
                ..source("photos/My Trip/été: 1+1?.jpg", "v1")
            }),
        ];
        assert!(others.iter().all(|other| *other != name));
        // Length prefixes: moving bytes between the key and the version changes the name.
        assert_ne!(
            execution_name(&source("photos/ab", "c")),
            execution_name(&source("photos/a", "bc"))
        );
    }

    #[test]
    fn the_input_is_the_rules_event_and_decodes_back_to_the_original() {
        let origin = EventOrigin::from_state_machine_arn(MACHINE).expect("arn");
        for key in [
            "photos/My Trip/a b.jpg",
            "photos/1+1=2.jpg",
            "photos/100% sure.png",
            "photos/été/Ærø ødø 日本.webp",
            "photos/a%2Bb+c d.jpg",
        ] {
            let original = original(key, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", 45 * MINUTE);
            let input = execution_input(&original, &origin);
            let event: ObjectCreatedEvent = serde_json::from_str(&input).expect("event");
            assert_eq!(event.source_object(), Ok(original.source.clone()), "{key}");
            assert_eq!(input, execution_input(&original, &origin), "deterministic");
            let json: serde_json::Value = serde_json::from_str(&input).expect("json");
            assert!(
                !json["detail"]["object"]["key"]
                    .as_str()
                    .expect("key")
                    .contains(' ')
            );
        }
        let input = execution_input(&original("photos/a b.jpg", "v1", 90), &origin);
        let json: serde_json::Value = serde_json::from_str(&input).expect("json");
        assert_eq!(json["account"], "123456789012");
        assert_eq!(json["region"], "eu-west-1");
        assert_eq!(json["resources"], serde_json::json!(["arn:aws:s3:::drop"]));
        assert_eq!(json["time"], "2026-12-02T11:58:30Z");
        assert_eq!(json["detail"]["object"]["key"], "photos/a+b.jpg");
        assert_eq!(json["detail"]["object"]["size"], 1234);
        assert_eq!(json["detail"]["object"]["etag"], "0123abcd");
        assert_eq!(json["detail"]["object"]["version-id"], "v1");
        assert_eq!(json["detail"]["reason"], "PutObject");
        assert_eq!(json["detail"]["requester"], "123456789012");
        let id = json["id"].as_str().expect("id");
        assert_eq!(
            id.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
    }

    #[test]
    fn only_a_state_machine_arn_is_accepted() {
        for arn in [
            "photopipe",
            "arn:aws:states:eu-west-1:123456789012:execution:photopipe:x",
            "arn:aws:states::123456789012:stateMachine:photopipe",
        ] {
            assert!(
                matches!(
                    EventOrigin::from_state_machine_arn(arn),
                    Err(PipelineError::Configuration(_))
                ),
                "{arn}"
            );
        }
        let origin = EventOrigin::from_state_machine_arn(
            "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:p",
        )
        .expect("arn");
        assert_eq!(
            (origin.partition.as_str(), origin.region.as_str()),
            ("aws-cn", "cn-north-1")
        );
    }

    #[tokio::test]
    async fn scan_pages_through_the_listing_and_sorts_originals_by_what_covers_them() {
        let old = 45 * MINUTE;
        let pages = [
            page(
                None,
                Some("t2"),
                vec![
                    listed("photos/", 0, DAY),
                    listed("photos/lost.jpg", 1234, 2 * old),
                    listed("photos/young.jpg", 1234, 5 * MINUTE),
                ],
            ),
            page(
                Some("t2"),
                Some("t3"),
                vec![
                    listed("photos/trip/", 0, DAY),
                    listed("photos/running.jpg", 1234, old),
                ],
            ),
            page(
                Some("t3"),
                None,
                vec![
                    listed("photos/failed.jpg", 1234, old),
                    listed("photos/failed long ago.jpg", 1234, 20 * DAY),
                    listed("photos/superseded.jpg", 1234, old),
                    listed("photos/gone.jpg", 1234, old),
                ],
            ),
        ];
        let heads = [
            head("photos/lost.jpg", "v1", 2 * old),
            head("photos/running.jpg", "v1", old),
            head("photos/failed.jpg", "v1", old),
            head("photos/failed long ago.jpg", "v1", 20 * DAY),
            // A run for v1 is running, but v2 was uploaded since and lost its event.
            head("photos/superseded.jpg", "v2", old),
        ];
        let gone = mock!(aws_sdk_s3::Client::head_object)
            .match_requests(|r| r.key() == Some("photos/gone.jpg"))
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [
                &pages[0], &pages[1], &pages[2], &heads[0], &heads[1], &heads[2], &heads[3],
                &heads[4], &gone
            ]
        );

        let running = executions(
            ExecutionStatus::Running,
            vec![
                execution("arn:run", ExecutionStatus::Running, None),
                execution("arn:run-old-version", ExecutionStatus::Running, None),
                execution("arn:not-ours", ExecutionStatus::Running, None),
            ],
        );
        let failed = executions(
            ExecutionStatus::Failed,
            vec![
                execution("arn:failed", ExecutionStatus::Failed, Some(3 * DAY)),
                execution(
                    "arn:failed-15-days-ago",
                    ExecutionStatus::Failed,
                    Some(15 * DAY),
                ),
            ],
        );
        let timed_out = executions(ExecutionStatus::TimedOut, vec![]);
        let aborted = executions(ExecutionStatus::Aborted, vec![]);
        let described = [
            describe("arn:run", source("photos/running.jpg", "v1")),
            describe("arn:run-old-version", source("photos/superseded.jpg", "v1")),
            describe("arn:failed", source("photos/failed.jpg", "v1")),
            describe(
                "arn:failed-15-days-ago",
                source("photos/failed long ago.jpg", "v1"),
            ),
        ];
        let not_ours = mock!(aws_sdk_sfn::Client::describe_execution)
            .match_requests(|r| r.execution_arn() == Some("arn:not-ours"))
            .then_output(|| {
                DescribeExecutionOutput::builder()
                    .execution_arn("arn:not-ours")
                    .state_machine_arn(MACHINE)
                    .status(ExecutionStatus::Running)
                    .start_date(ago(DAY))
                    .input(r#"{"hello": "world"}"#)
                    .build()
                    .expect("describe")
            });
        let sfn = mock_client!(
            aws_sdk_sfn,
            RuleMode::MatchAny,
            [
                &running,
                &failed,
                &timed_out,
                &aborted,
                &described[0],
                &described[1],
                &described[2],
                &described[3],
                &not_ours
            ]
        );

        let scan = backlog(s3, sfn)
            .scan("photos/", Duration::from_secs(30 * 60), now())
            .await
            .expect("scan");

        let keys = |originals: &[Original]| -> Vec<(String, Option<String>)> {
            originals
                .iter()
                .map(|o| (o.source.key.clone(), o.source.version_id.clone()))
                .collect()
        };
        let v = |key: &str, version: &str| (key.to_owned(), Some(version.to_owned()));
        assert_eq!(
            keys(&scan.waiting),
            [
                v("photos/failed long ago.jpg", "v1"),
                v("photos/lost.jpg", "v1"),
                v("photos/superseded.jpg", "v2"),
            ],
            "oldest first"
        );
        let covered: Vec<_> = scan
            .covered
            .iter()
            .map(|c| {
                (
                    c.original.source.key.as_str(),
                    c.execution_arn.as_str(),
                    c.status.as_str(),
                )
            })
            .collect();
        assert_eq!(
            covered,
            [
                ("photos/running.jpg", "arn:run", "RUNNING"),
                ("photos/failed.jpg", "arn:failed", "FAILED"),
            ]
        );
        assert_eq!(
            scan.recent,
            [Listed {
                key: "photos/young.jpg".into(),
                size: 1234,
                age: Duration::from_secs(5 * 60),
            }]
        );
        assert_eq!(scan.folder_markers, 2);
        assert_eq!(scan.oldest_age(), Duration::from_secs(20 * DAY as u64));
        assert_eq!(scan.waiting[1].etag, "0123abcd", "quotes stripped");
        assert_eq!(
            [
                pages[0].num_calls(),
                pages[1].num_calls(),
                pages[2].num_calls()
            ],
            [1, 1, 1]
        );
        assert_eq!(
            described[3].num_calls(),
            0,
            "a run whose redrive window closed is not even described"
        );
        assert_eq!(gone.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_scan_with_nothing_old_lists_no_executions_and_a_closed_window_covers_nothing() {
        let young = page(None, None, vec![listed("photos/a.jpg", 5, 60)]);
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&young]);
        let any_list = mock!(aws_sdk_sfn::Client::list_executions).then_output(|| {
            ListExecutionsOutput::builder()
                .set_executions(Some(vec![]))
                .build()
                .expect("list")
        });
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&any_list]);
        let scan = backlog(s3, sfn)
            .scan("photos/", Duration::from_secs(30 * 60), now())
            .await
            .expect("scan");
        assert!(scan.waiting.is_empty() && scan.covered.is_empty());
        assert_eq!(scan.oldest_age(), Duration::from_secs(60));
        assert_eq!(any_list.num_calls(), 0, "one LIST request and nothing else");

        // Inside 14 days by its stop date, but Step Functions says it cannot be redriven.
        let listing = page(None, None, vec![listed("photos/a.jpg", 5, DAY)]);
        let head_a = head("photos/a.jpg", "v1", DAY);
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&listing, &head_a]);
        let failed = executions(
            ExecutionStatus::Failed,
            vec![execution("arn:f", ExecutionStatus::Failed, Some(DAY))],
        );
        let none = mock!(aws_sdk_sfn::Client::list_executions).then_output(|| {
            ListExecutionsOutput::builder()
                .set_executions(Some(vec![]))
                .build()
                .expect("list")
        });
        let not_redrivable = mock!(aws_sdk_sfn::Client::describe_execution).then_output(|| {
            DescribeExecutionOutput::builder()
                .execution_arn("arn:f")
                .state_machine_arn(MACHINE)
                .status(ExecutionStatus::Failed)
                .start_date(ago(DAY))
                .redrive_status(ExecutionRedriveStatus::NotRedrivable)
                .input(execution_input(
                    &original("photos/a.jpg", "v1", DAY),
                    &EventOrigin::from_state_machine_arn(MACHINE).expect("arn"),
                ))
                .build()
                .expect("describe")
        });
        let sfn = mock_client!(
            aws_sdk_sfn,
            RuleMode::MatchAny,
            [&failed, &none, &not_redrivable]
        );
        let scan = backlog(s3, sfn)
            .scan("photos/", Duration::ZERO, now())
            .await
            .expect("scan");
        assert_eq!(scan.waiting.len(), 1);
        assert_eq!(not_redrivable.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_prefix_outside_photos_is_refused() {
        let s3 = mock_client!(aws_sdk_s3, []);
        let sfn = mock_client!(aws_sdk_sfn, []);
        let refused = backlog(s3, sfn)
            .scan("rejected/", Duration::ZERO, now())
            .await;
        assert!(matches!(refused, Err(PipelineError::Configuration(_))));
    }

    #[tokio::test]
    async fn start_uses_the_deterministic_name_and_treats_an_existing_execution_as_started() {
        let new = original("photos/new one.jpg", "v1", DAY);
        let old = original("photos/started before.jpg", "v1", DAY);
        let origin = EventOrigin::from_state_machine_arn(MACHINE).expect("arn");
        let (new_name, new_input) = (execution_name(&new.source), execution_input(&new, &origin));
        let old_name = execution_name(&old.source);
        let starts = mock!(aws_sdk_sfn::Client::start_execution)
            .match_requests(move |r| {
                r.state_machine_arn() == Some(MACHINE)
                    && r.name() == Some(new_name.as_str())
                    && r.input() == Some(new_input.as_str())
            })
            .then_output(|| {
                StartExecutionOutput::builder()
                    .execution_arn("arn:started")
                    .start_date(ago(0))
                    .build()
                    .expect("start")
            });
        let exists = mock!(aws_sdk_sfn::Client::start_execution)
            .match_requests(move |r| r.name() == Some(old_name.as_str()))
            .then_error(|| {
                StartExecutionError::ExecutionAlreadyExists(
                    ExecutionAlreadyExists::builder().message("exists").build(),
                )
            });
        let s3 = mock_client!(aws_sdk_s3, []);
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&starts, &exists]);
        let backlog = backlog(s3, sfn);
        let waiting = [new.clone(), old.clone()];

        let outcomes: Vec<_> = backlog
            .start(&waiting, false)
            .await
            .into_iter()
            .map(|s| (s.source.key, s.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                (
                    new.source.key.clone(),
                    StartOutcome::Started {
                        execution_arn: "arn:started".into()
                    }
                ),
                (old.source.key.clone(), StartOutcome::AlreadyStarted),
            ]
        );

        let dry: Vec<_> = backlog
            .start(&waiting, true)
            .await
            .into_iter()
            .map(|s| s.outcome)
            .collect();
        assert_eq!(dry, [StartOutcome::WouldStart, StartOutcome::WouldStart]);
        assert_eq!(
            (starts.num_calls(), exists.num_calls()),
            (1, 1),
            "a dry run calls nothing"
        );
    }

    #[tokio::test]
    async fn a_start_that_fails_is_reported_and_the_others_go_on() {
        let throttled = mock!(aws_sdk_sfn::Client::start_execution)
            .match_requests(|r| {
                r.name() == Some(execution_name(&source("photos/a.jpg", "v1")).as_str())
            })
            .then_http_response(|| {
                aws_smithy_runtime_api::http::Response::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
                    aws_smithy_types::body::SdkBody::from(
                        r#"{"__type":"InvalidExecutionInput","message":"bad"}"#,
                    ),
                )
            });
        let fine = mock!(aws_sdk_sfn::Client::start_execution).then_output(|| {
            StartExecutionOutput::builder()
                .execution_arn("arn:b")
                .start_date(ago(0))
                .build()
                .expect("start")
        });
        let s3 = mock_client!(aws_sdk_s3, []);
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&throttled, &fine]);
        let starts = backlog(s3, sfn)
            .start(
                &[
                    original("photos/a.jpg", "v1", DAY),
                    original("photos/b.jpg", "v1", DAY),
                ],
                false,
            )
            .await;
        assert!(matches!(
            &starts[0].outcome,
            StartOutcome::Failed {
                cause: PipelineError::Configuration(_),
                ..
            }
        ));
        assert_eq!(
            starts[1].outcome,
            StartOutcome::Started {
                execution_arn: "arn:b".into()
            }
        );
    }
}
