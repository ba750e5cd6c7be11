//! `photopipe backfill [--prefix photos/] [--dry-run]`: starts runs for originals already in
//! the dropbox that no execution is working on (uploaded before the stack existed, or while
//! the rule was disabled, or whose event was lost), with the reconciler's own code
//! ([`photopipe::backlog`]) at age zero: every original under the prefix is examined, one a
//! RUNNING or still-redrivable execution covers is left to it, and each other one is started
//! under a name derived from its exact version, so a repeated backfill starts nothing twice.
//!
//! It lists the prefix and starts at most ten executions at a time from this process: for a
//! backlog of millions, a Step Functions Distributed Map over an S3 inventory manifest is the
//! tool instead (see the README's "Operating it"); it is not built here.

use std::io::Write;
use std::time::{Duration, SystemTime};

use photopipe::backlog::{Backlog, Scan, Start, StartOutcome};

use crate::deployment::Deployment;
use crate::status::photo_key;

/// What a backfill found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backfill {
    pub scan: Scan,
    pub starts: Vec<Start>,
}

impl Backfill {
    /// Whether every start it tried went through (or had been made before).
    pub fn all_started(&self) -> bool {
        !self
            .starts
            .iter()
            .any(|s| matches!(s.outcome, StartOutcome::Failed { .. }))
    }
}

/// Scans `prefix` and starts what waits there (nothing with `dry_run`).
pub async fn backfill(
    deployment: &Deployment,
    prefix: &str,
    dry_run: bool,
) -> anyhow::Result<Backfill> {
    let backlog = Backlog::new(
        deployment.s3.clone(),
        deployment.sfn.clone(),
        deployment.dropbox()?,
        deployment.state_machine_arn()?,
    )?;
    let scan = backlog
        .scan(&photo_key(prefix), Duration::ZERO, SystemTime::now())
        .await?;
    let starts = backlog.start(&scan.waiting, dry_run).await;
    Ok(Backfill { scan, starts })
}

/// Prints a line per original examined, then the totals.
pub fn write_backfill(out: &mut dyn Write, backfill: &Backfill) -> anyhow::Result<()> {
    for covered in &backfill.scan.covered {
        writeln!(
            out,
            "covered        {} by {} ({}): left to it",
            covered.original.source.key, covered.execution_arn, covered.status
        )?;
    }
    for start in &backfill.starts {
        let key = &start.source.key;
        match &start.outcome {
            StartOutcome::Started { execution_arn } => {
                writeln!(out, "started        {key} as {execution_arn}")?;
            }
            StartOutcome::AlreadyStarted => writeln!(
                out,
                "already ran    {key} as {} (a backfill or the reconciler started it before)",
                start.execution_name
            )?,
            StartOutcome::WouldStart => {
                writeln!(out, "would start    {key} as {}", start.execution_name)?;
            }
            StartOutcome::Failed { error, .. } => writeln!(out, "FAILED         {key}: {error}")?,
        }
    }
    let count = |wanted: fn(&StartOutcome) -> bool| {
        backfill
            .starts
            .iter()
            .filter(|s| wanted(&s.outcome))
            .count()
    };
    writeln!(
        out,
        "{} originals waiting: {} started, {} would start, {} had run before, {} failed; {} covered by a run",
        backfill.scan.waiting.len(),
        count(|o| matches!(o, StartOutcome::Started { .. })),
        count(|o| matches!(o, StartOutcome::WouldStart)),
        count(|o| matches!(o, StartOutcome::AlreadyStarted)),
        count(|o| matches!(o, StartOutcome::Failed { .. })),
        backfill.scan.covered.len()
    )?;
    Ok(())
}
