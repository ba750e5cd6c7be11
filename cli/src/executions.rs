//! The state machine's executions: listed newest first within a window (`--since`) and a
//! set of statuses, each described (the photo it is about, its error and cause, its redrive
//! count and status), shown as a table or JSON, with the failures grouped by error name.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_sfn::types::{ExecutionListItem, ExecutionRedriveStatus, ExecutionStatus};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use photopipe::event::ObjectCreatedEvent;
use serde::Serialize;

use crate::failure::api;

/// How many DescribeExecution calls are in flight at once.
const DESCRIBES_AT_ONCE: usize = 8;

/// A window back from now, written `30s`, `15m`, `24h` or `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since(pub Duration);

impl std::str::FromStr for Since {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("{text:?} has no unit: write e.g. 30m, 24h or 7d"))?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} does not start with a number"))?;
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => {
                return Err(format!(
                    "unknown unit {unit:?} in {text:?}: use s, m, h or d"
                ));
            }
        };
        Ok(Self(Duration::from_secs(number * seconds)))
    }
}

impl Since {
    /// The moment this window starts.
    pub fn start(self) -> SystemTime {
        SystemTime::now()
            .checked_sub(self.0)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// Which executions to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<ExecutionStatus>,
    /// Only those started at or after this moment.
    pub since: Option<SystemTime>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// One execution, described.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub started: DateTime,
    pub stopped: Option<DateTime>,
    /// The photo it is about (from its input), if its input is an S3 event.
    pub key: Option<String>,
    pub version_id: Option<String>,
    pub error: Option<String>,
    /// The cause, the Lambda's message taken out of its JSON.
    pub cause: Option<String>,
    pub output: Option<String>,
    pub redrive_count: i32,
    pub redrive_status: Option<ExecutionRedriveStatus>,
    pub redrive_status_reason: Option<String>,
}

/// The executions `filter` asks for, newest first, as ListExecutions lists them.
pub async fn list(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    filter: &Filter,
) -> anyhow::Result<Vec<ExecutionListItem>> {
    let statuses: Vec<Option<ExecutionStatus>> = if filter.statuses.is_empty() {
        vec![None]
    } else {
        filter.statuses.iter().cloned().map(Some).collect()
    };
    let since = filter.since.map(DateTime::from);
    let mut found = Vec::new();
    for status in statuses {
        let mut pages = sfn
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .set_status_filter(status)
            .into_paginator()
            .send();
        let mut taken = 0;
        'pages: while let Some(page) = pages.next().await {
            let page = page.map_err(api("ListExecutions"))?;
            for item in page.executions() {
                // Newest first: the first one older than the window ends the listing.
                if since.is_some_and(|since| item.start_date() < &since)
                    || filter.limit.is_some_and(|limit| taken >= limit)
                {
                    break 'pages;
                }
                taken += 1;
                found.push(item.clone());
            }
        }
    }
    found.sort_by(|a, b| b.start_date().cmp(a.start_date()));
    if let Some(limit) = filter.limit {
        found.truncate(limit);
    }
    Ok(found)
}

/// One execution, described.
pub async fn describe(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> anyhow::Result<Run> {
    let described = sfn
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .map_err(api("DescribeExecution"))?;
    let source = described
        .input()
        .and_then(|input| serde_json::from_str::<ObjectCreatedEvent>(input).ok())
        .and_then(|event| event.source_object().ok());
    Ok(Run {
        arn: described.execution_arn().to_owned(),
        name: described.name().unwrap_or_default().to_owned(),
        status: described.status().clone(),
        started: *described.start_date(),
        stopped: described.stop_date().copied(),
        key: source.as_ref().map(|s| s.key.clone()),
        version_id: source.and_then(|s| s.version_id),
        error: described.error().map(str::to_owned),
        cause: described
            .cause()
            .map(photopipe::model::lambda_error_message),
        output: described.output().map(str::to_owned),
        redrive_count: described.redrive_count().unwrap_or(0),
        redrive_status: described.redrive_status().cloned(),
        redrive_status_reason: described.redrive_status_reason().map(str::to_owned),
    })
}

/// Every execution `filter` asks for, described, newest first.
pub async fn runs(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    filter: &Filter,
) -> anyhow::Result<Vec<Run>> {
    let items = list(sfn, state_machine_arn, filter).await?;
    describe_all(sfn, items.iter().map(|i| i.execution_arn().to_owned())).await
}

/// Describes each execution, a few at a time, keeping their order.
pub async fn describe_all(
    sfn: &aws_sdk_sfn::Client,
    arns: impl IntoIterator<Item = String>,
) -> anyhow::Result<Vec<Run>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(DESCRIBES_AT_ONCE));
    let mut describing = tokio::task::JoinSet::new();
    for (at, arn) in arns.into_iter().enumerate() {
        let (sfn, gate) = (sfn.clone(), Arc::clone(&gate));
        describing.spawn(async move {
            let _turn = gate.acquire_owned().await?;
            anyhow::Ok((at, describe(&sfn, &arn).await?))
        });
    }
    let mut described = Vec::new();
    while let Some(done) = describing.join_next().await {
        described.push(done??);
    }
    described.sort_by_key(|(at, _)| *at);
    Ok(described.into_iter().map(|(_, run)| run).collect())
}

/// Failed, timed-out and aborted runs by error name (`-` for none), with counts.
pub fn failures_by_error(runs: &[Run]) -> BTreeMap<String, usize> {
    let mut groups = BTreeMap::new();
    for run in runs.iter().filter(|r| is_unsuccessful(&r.status)) {
        let name = run.error.clone().unwrap_or_else(|| run.status.to_string());
        *groups.entry(name).or_insert(0) += 1;
    }
    groups
}

/// Ended without succeeding.
pub fn is_unsuccessful(status: &ExecutionStatus) -> bool {
    matches!(
        status,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
    )
}

/// A run as `executions --json` prints it.
#[derive(Debug, Serialize)]
pub struct RunJson<'a> {
    pub name: &'a str,
    pub arn: &'a str,
    pub status: &'a str,
    pub started: String,
    pub stopped: Option<String>,
    pub key: Option<&'a str>,
    pub version_id: Option<&'a str>,
    pub error: Option<&'a str>,
    pub cause: Option<&'a str>,
    pub redrive_count: i32,
}

/// A moment as RFC 3339.
pub fn timestamp(moment: &DateTime) -> String {
    moment
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| moment.secs().to_string())
}

/// `executions --json`: the runs and the failures by error.
pub fn write_json(out: &mut dyn Write, runs: &[Run]) -> anyhow::Result<()> {
    let rows: Vec<RunJson<'_>> = runs
        .iter()
        .map(|run| RunJson {
            name: &run.name,
            arn: &run.arn,
            status: run.status.as_str(),
            started: timestamp(&run.started),
            stopped: run.stopped.as_ref().map(timestamp),
            key: run.key.as_deref(),
            version_id: run.version_id.as_deref(),
            error: run.error.as_deref(),
            cause: run.cause.as_deref(),
            redrive_count: run.redrive_count,
        })
        .collect();
    let json = serde_json::json!({
        "executions": rows,
        "failuresByError": failures_by_error(runs),
    });
    writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    Ok(())
}

/// `executions`: a table, then the failures by error.
pub fn write_table(out: &mut dyn Write, runs: &[Run]) -> anyhow::Result<()> {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_header(["STARTED", "STATUS", "REDRIVES", "ERROR", "KEY", "NAME"]);
    for run in runs {
        table.add_row([
            timestamp(&DateTime::from_secs(run.started.secs())),
            run.status.to_string(),
            run.redrive_count.to_string(),
            run.error.clone().unwrap_or_else(|| "-".into()),
            run.key.clone().unwrap_or_else(|| "-".into()),
            run.name.clone(),
        ]);
    }
    if runs.is_empty() {
        writeln!(out, "no executions")?;
    } else {
        writeln!(out, "{table}")?;
    }
    let groups = failures_by_error(runs);
    if !groups.is_empty() {
        writeln!(out, "\nfailures by error:")?;
        for (error, count) in &groups {
            writeln!(out, "  {count:>5}  {error}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_read_with_their_unit() {
        let parse = |text: &str| text.parse::<Since>().map(|s| s.0.as_secs());
        assert_eq!(parse("30s"), Ok(30));
        assert_eq!(parse("15m"), Ok(900));
        assert_eq!(parse("24h"), Ok(86_400));
        assert_eq!(parse("14d"), Ok(14 * 86_400));
        assert!(parse("24").is_err());
        assert!(parse("h").is_err());
        assert!(parse("3w").is_err());
    }
}

#[cfg(test)]
mod paging {
    use super::*;
    use aws_sdk_sfn::Client;
    use aws_sdk_sfn::operation::list_executions::ListExecutionsOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn item(name: &str, hours_ago: u64) -> ExecutionListItem {
        let started = SystemTime::now() - Duration::from_secs(hours_ago * 3600);
        ExecutionListItem::builder()
            .execution_arn(format!(
                "arn:aws:states:eu-west-1:1:execution:photopipe:{name}"
            ))
            .state_machine_arn("arn:aws:states:eu-west-1:1:stateMachine:photopipe")
            .name(name)
            .status(ExecutionStatus::Failed)
            .start_date(DateTime::from(started))
            .build()
            .expect("item")
    }

    #[tokio::test]
    async fn every_page_is_read_until_the_window_ends() {
        let first = mock!(Client::list_executions)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| {
                ListExecutionsOutput::builder()
                    .executions(item("a", 1))
                    .executions(item("b", 2))
                    .next_token("page-2")
                    .build()
                    .expect("page")
            });
        let second = mock!(Client::list_executions)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                ListExecutionsOutput::builder()
                    .executions(item("c", 3))
                    .executions(item("d", 30))
                    .next_token("page-3")
                    .build()
                    .expect("page")
            });
        let third = mock!(Client::list_executions)
            .match_requests(|r| r.next_token() == Some("page-3"))
            .then_output(|| {
                ListExecutionsOutput::builder()
                    .executions(item("e", 40))
                    .build()
                    .expect("page")
            });
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&first, &second, &third]);
        let filter = Filter {
            since: Some(Since(Duration::from_secs(24 * 3600)).start()),
            ..Filter::default()
        };
        let listed = list(
            &sfn,
            "arn:aws:states:eu-west-1:1:stateMachine:photopipe",
            &filter,
        )
        .await
        .expect("listed");
        let names: Vec<&str> = listed.iter().map(ExecutionListItem::name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
        assert_eq!(third.num_calls(), 0, "no page past the window is read");

        let everything = list(
            &sfn,
            "arn:aws:states:eu-west-1:1:stateMachine:photopipe",
            &Filter::default(),
        )
        .await
        .expect("listed");
        assert_eq!(everything.len(), 5, "without a window, every page");
    }
}
