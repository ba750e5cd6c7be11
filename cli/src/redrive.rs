//! Redriving failed runs, and the rules of which may be: Step Functions redrives a failed,
//! timed-out or aborted STANDARD execution within 14 days of its closing; a run that
//! rejected its photo (its error is one `contract/errors.json` handles by quarantine, e.g.
//! `Photo.InvalidImage`) is never redriven, because it would only reject it again. The local
//! runner's `--redrive` uses the same rules (`photopipe_local::redrive`). Calls are paced
//! (`--rate` per second), and a call throttled despite the SDK's retries waits and is tried
//! again.

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_sdk_sfn::types::{ExecutionRedriveStatus, ExecutionStatus};
use serde::Deserialize;

use crate::executions::Run;
use crate::failure::{ApiError, Trouble};

/// `contract/errors.json`, compiled in.
const ERRORS_JSON: &str = include_str!("../../contract/errors.json");

/// How long after closing Step Functions still redrives an execution.
pub const REDRIVABLE_FOR: Duration = Duration::from_secs(14 * 86_400);

/// How many times a throttled RedriveExecution is tried again, each after twice the wait.
const THROTTLED_TRIES: u32 = 4;

/// The error names a run fails with when it rejected its photo (those `contract/errors.json`
/// handles by quarantine).
pub fn rejection_errors() -> anyhow::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct ErrorName {
        name: String,
        handling: String,
    }
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorName>,
    }
    let contract: Errors =
        serde_json::from_str(ERRORS_JSON).context("contract/errors.json is not valid")?;
    Ok(contract
        .errors
        .into_iter()
        .filter(|e| e.handling == "quarantine")
        .map(|e| e.name)
        .collect())
}

/// Whether a run that ended with `status` and `error` rejected its photo.
pub fn is_rejection(status: &ExecutionStatus, error: Option<&str>, rejections: &[String]) -> bool {
    *status == ExecutionStatus::Failed && error.is_some_and(|e| rejections.iter().any(|r| r == e))
}

/// Whether a redrive may finish a run that ended with `status` and `error`: it failed, timed
/// out or was aborted, and did not reject its photo.
pub fn wants_redrive(status: &ExecutionStatus, error: Option<&str>, rejections: &[String]) -> bool {
    matches!(
        status,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
    ) && !is_rejection(status, error, rejections)
}

/// Why a run cannot be redriven, or `None` when it can.
pub fn refusal(run: &Run, rejections: &[String], now: SystemTime) -> Option<String> {
    match &run.status {
        ExecutionStatus::Succeeded => return Some("it succeeded: nothing to redrive".into()),
        ExecutionStatus::Running => return Some("it is still running".into()),
        ExecutionStatus::PendingRedrive => {
            return Some("it is being redriven already".into());
        }
        _ => {}
    }
    if is_rejection(&run.status, run.error.as_deref(), rejections) {
        return Some(format!(
            "it rejected its photo ({}): a redrive would only reject it again; the original is \
             kept under rejected/ with its reason (fix the file and upload it again)",
            run.error.as_deref().unwrap_or_default()
        ));
    }
    if let Some(stopped) = run.stopped.and_then(|s| SystemTime::try_from(s).ok()) {
        let age = now.duration_since(stopped).unwrap_or_default();
        if age > REDRIVABLE_FOR {
            return Some(format!(
                "it closed {} days ago, and Step Functions redrives only within 14 days of \
                 closing: start a new run for the photo with `photopipe backfill`",
                age.as_secs() / 86_400
            ));
        }
    }
    if run.redrive_status == Some(ExecutionRedriveStatus::NotRedrivable) {
        return Some(format!(
            "Step Functions says it is not redrivable: {}",
            run.redrive_status_reason
                .as_deref()
                .unwrap_or("no reason given")
        ));
    }
    None
}

/// What happened to one execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Redriven,
    /// Would be redriven (`--dry-run`).
    WouldRedrive,
    /// Not redriven, and why.
    Refused(String),
    /// RedriveExecution failed, and how.
    Failed(String),
}

/// One line of the redrive report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub arn: String,
    pub key: Option<String>,
    pub error: Option<String>,
    pub outcome: Outcome,
}

/// Redrives each run that may be, one call every `interval`; reports every run.
pub async fn redrive(
    sfn: &aws_sdk_sfn::Client,
    runs: &[Run],
    dry_run: bool,
    interval: Duration,
) -> anyhow::Result<Vec<Redrive>> {
    let rejections = rejection_errors()?;
    let now = SystemTime::now();
    let mut report = Vec::new();
    let mut first = true;
    for run in runs {
        let outcome = match refusal(run, &rejections, now) {
            Some(why) => Outcome::Refused(why),
            None if dry_run => Outcome::WouldRedrive,
            None => {
                if !first {
                    tokio::time::sleep(interval).await;
                }
                first = false;
                redrive_one(sfn, &run.arn, interval).await
            }
        };
        report.push(Redrive {
            arn: run.arn.clone(),
            key: run.key.clone(),
            error: run.error.clone(),
            outcome,
        });
    }
    Ok(report)
}

async fn redrive_one(sfn: &aws_sdk_sfn::Client, arn: &str, interval: Duration) -> Outcome {
    let mut wait = interval.max(Duration::from_millis(100));
    for _ in 0..THROTTLED_TRIES {
        let answer = sfn.redrive_execution().execution_arn(arn).send().await;
        let err = match answer {
            Ok(_) => return Outcome::Redriven,
            Err(err) => err,
        };
        let not_redrivable = err
            .as_service_error()
            .is_some_and(|e| e.is_execution_not_redrivable());
        let err = ApiError::from_sdk("RedriveExecution", err);
        if not_redrivable {
            return Outcome::Refused(format!("Step Functions refused: {err}"));
        }
        if err.trouble != Trouble::Throttled {
            let hint = err
                .trouble
                .hint()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Outcome::Failed(format!("{err}{hint}"));
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    Outcome::Failed(format!(
        "RedriveExecution throttled {THROTTLED_TRIES} times: {}",
        Trouble::Throttled.hint().unwrap_or_default()
    ))
}

/// Prints the report: a line per run, then the totals.
pub fn write_report(out: &mut dyn Write, report: &[Redrive], dry_run: bool) -> anyhow::Result<()> {
    for line in report {
        let what = line.key.as_deref().unwrap_or(&line.arn);
        let error = line.error.as_deref().unwrap_or("-");
        match &line.outcome {
            Outcome::Redriven => writeln!(out, "redriven        {what} ({error})")?,
            Outcome::WouldRedrive => writeln!(out, "would redrive   {what} ({error})")?,
            Outcome::Refused(why) => writeln!(out, "not redriven    {what}: {why}")?,
            Outcome::Failed(why) => writeln!(out, "FAILED          {what}: {why}")?,
        }
    }
    let count = |wanted: fn(&Outcome) -> bool| report.iter().filter(|l| wanted(&l.outcome)).count();
    let done = count(|o| matches!(o, Outcome::Redriven | Outcome::WouldRedrive));
    writeln!(
        out,
        "{done} {}, {} not redrivable, {} failed",
        if dry_run {
            "would be redriven"
        } else {
            "redriven"
        },
        count(|o| matches!(o, Outcome::Refused(_))),
        count(|o| matches!(o, Outcome::Failed(_)))
    )?;
    Ok(())
}

/// Whether every redrive that was due went through.
pub fn all_done(report: &[Redrive]) -> bool {
    !report
        .iter()
        .any(|l| matches!(l.outcome, Outcome::Failed(_)))
}

/// An execution's ARN from its ARN or its name (an execution of `state_machine_arn`).
pub fn execution_arn(state_machine_arn: &str, execution: &str) -> String {
    if execution.starts_with("arn:") {
        return execution.to_owned();
    }
    format!(
        "{}:{execution}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::Client;
    use aws_sdk_sfn::error::ErrorMetadata;
    use aws_sdk_sfn::operation::redrive_execution::{
        RedriveExecutionError, RedriveExecutionOutput,
    };
    use aws_sdk_sfn::types::error::ExecutionNotRedrivable;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::DateTime;

    const ARN: &str = "arn:aws:states:eu-west-1:123456789012:execution:photopipe:a";

    fn run(status: ExecutionStatus, error: Option<&str>, closed_days_ago: u64) -> Run {
        let stopped = SystemTime::now() - Duration::from_secs(closed_days_ago * 86_400 + 60);
        Run {
            arn: ARN.into(),
            name: "a".into(),
            status,
            started: DateTime::from(stopped - Duration::from_secs(60)),
            stopped: Some(DateTime::from(stopped)),
            key: Some("photos/a.jpg".into()),
            version_id: Some("v1".into()),
            error: error.map(str::to_owned),
            cause: None,
            output: None,
            redrive_count: 0,
            redrive_status: Some(ExecutionRedriveStatus::Redrivable),
            redrive_status_reason: None,
        }
    }

    fn redriven() -> RedriveExecutionOutput {
        RedriveExecutionOutput::builder()
            .redrive_date(DateTime::from_secs(0))
            .build()
            .expect("output")
    }

    fn throttled() -> RedriveExecutionError {
        RedriveExecutionError::generic(ErrorMetadata::builder().code("ThrottlingException").build())
    }

    #[test]
    fn only_failures_a_redrive_can_cure_within_14_days_are_redriven() {
        let rejections = rejection_errors().expect("contract");
        let now = SystemTime::now();
        let refusal = |run: Run| refusal(&run, &rejections, now);
        assert_eq!(
            refusal(run(ExecutionStatus::Failed, Some("Photo.Transient"), 13)),
            None
        );
        assert_eq!(refusal(run(ExecutionStatus::TimedOut, None, 0)), None);
        let old = refusal(run(ExecutionStatus::Failed, Some("Photo.Transient"), 15));
        assert!(
            old.as_deref()
                .is_some_and(|why| why.contains("closed 15 days ago")),
            "{old:?}"
        );
        for name in [
            "Photo.InvalidImage",
            "Photo.UnsupportedFormat",
            "Photo.KeyTooLong",
        ] {
            let why = refusal(run(ExecutionStatus::Failed, Some(name), 1));
            assert!(
                why.is_some_and(|w| w.contains("rejected its photo")),
                "{name}"
            );
        }
        let succeeded = refusal(run(ExecutionStatus::Succeeded, None, 1));
        assert!(succeeded.is_some_and(|w| w.contains("succeeded")));
        let mut not_redrivable = run(ExecutionStatus::Failed, Some("Photo.Internal"), 1);
        not_redrivable.redrive_status = Some(ExecutionRedriveStatus::NotRedrivable);
        not_redrivable.redrive_status_reason =
            Some("Execution history event limit exceeded".into());
        assert!(refusal(not_redrivable).is_some_and(|w| w.contains("event limit")));
    }

    #[tokio::test]
    async fn an_execution_older_than_14_days_is_refused_without_calling_aws() {
        let call = mock!(Client::redrive_execution).then_output(redriven);
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&call]);
        let runs = [run(ExecutionStatus::Failed, Some("Photo.Transient"), 20)];
        let report = redrive(&sfn, &runs, false, Duration::ZERO)
            .await
            .expect("report");
        assert!(matches!(&report[0].outcome, Outcome::Refused(why) if why.contains("14 days")));
        assert_eq!(call.num_calls(), 0);
    }

    #[tokio::test]
    async fn step_functions_refusing_a_redrive_is_reported_as_not_redrivable() {
        let call = mock!(Client::redrive_execution).then_error(|| {
            RedriveExecutionError::ExecutionNotRedrivable(
                ExecutionNotRedrivable::builder()
                    .message("Execution can no longer be redriven")
                    .build(),
            )
        });
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&call]);
        let runs = [run(ExecutionStatus::Failed, Some("Photo.Transient"), 1)];
        let report = redrive(&sfn, &runs, false, Duration::ZERO)
            .await
            .expect("report");
        assert!(
            matches!(&report[0].outcome, Outcome::Refused(why) if why.contains("no longer be redriven")),
            "{report:?}"
        );
        assert!(all_done(&report), "a refusal is no failure of the command");
    }

    #[tokio::test]
    async fn a_throttled_redrive_waits_and_goes_through() {
        let call = mock!(Client::redrive_execution)
            .sequence()
            .error(throttled)
            .times(6)
            .output(redriven)
            .build();
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&call]);
        let runs = [run(ExecutionStatus::Failed, Some("Photo.Transient"), 1)];
        let report = redrive(&sfn, &runs, false, Duration::from_millis(1))
            .await
            .expect("report");
        assert_eq!(report[0].outcome, Outcome::Redriven, "{report:?}");
    }

    #[tokio::test]
    async fn a_redrive_throttled_for_good_fails_with_the_hint() {
        let call = mock!(Client::redrive_execution)
            .sequence()
            .error(throttled)
            .repeatedly()
            .build();
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&call]);
        let runs = [
            run(ExecutionStatus::Failed, Some("Photo.Transient"), 1),
            run(ExecutionStatus::Succeeded, None, 1),
        ];
        let report = redrive(&sfn, &runs, false, Duration::from_millis(1))
            .await
            .expect("report");
        assert!(
            matches!(&report[0].outcome, Outcome::Failed(why) if why.contains("throttled")),
            "{report:?}"
        );
        assert!(matches!(&report[1].outcome, Outcome::Refused(_)));
        assert!(!all_done(&report));
    }

    #[test]
    fn executions_are_named_by_arn_or_by_name() {
        let machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:photopipe";
        assert_eq!(
            execution_arn(machine, "a"),
            "arn:aws:states:eu-west-1:123456789012:execution:photopipe:a"
        );
        assert_eq!(execution_arn(machine, ARN), ARN);
    }
}
