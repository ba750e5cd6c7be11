//! One reconcile: scan `photos/` of the dropbox ([`photopipe::backlog`]), start every
//! original that has waited longer than the configured age with no running or redrivable run
//! (its event was lost, or the rule was off), and publish how long the oldest original still
//! under `photos/` has waited (`OldestWaitingOriginalSeconds`, namespace `photopipe`, no
//! dimensions, 0 when none waits), which the Operations construct's alarm watches. The names
//! here are `contract/settings.json`'s `reconciler` (the tests below hold them to it).

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::types::{MetricDatum, StandardUnit};
use photopipe::backlog::{Backlog, StartOutcome};
use photopipe::settings::PHOTOS_PREFIX;
use photopipe::{PipelineError, Result};
use serde::Serialize;

/// The environment variables the reconciler reads (`reconciler.environment` of the contract).
pub mod env {
    pub const DROPBOX_BUCKET: &str = "DROPBOX_BUCKET";
    pub const STATE_MACHINE_ARN: &str = "STATE_MACHINE_ARN";
    /// Minutes an original waits under `photos/`, its event presumed lost, before it is started.
    pub const AFTER_MINUTES: &str = "RECONCILE_AFTER_MINUTES";
}

/// The metric's namespace and name (`reconciler.metric` of the contract).
pub const METRIC_NAMESPACE: &str = "photopipe";
pub const METRIC_NAME: &str = "OldestWaitingOriginalSeconds";

/// What the reconciler is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub dropbox_bucket: String,
    pub state_machine_arn: String,
    /// How long an original may wait before it is started.
    pub after: Duration,
}

impl Settings {
    /// From the function's environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` of each variable's name: `Photo.Configuration` if one is missing or
    /// empty, or the minutes are not a whole number.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |name: &str| {
            lookup(name)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| {
                    PipelineError::Configuration(format!("environment variable {name} is not set"))
                })
        };
        let minutes = required(env::AFTER_MINUTES)?;
        let minutes: u64 = minutes.parse().map_err(|_| {
            PipelineError::Configuration(format!(
                "environment variable {}={minutes:?} is not a whole number of minutes",
                env::AFTER_MINUTES
            ))
        })?;
        Ok(Self {
            dropbox_bucket: required(env::DROPBOX_BUCKET)?,
            state_machine_arn: required(env::STATE_MACHINE_ARN)?,
            after: Duration::from_secs(minutes * 60),
        })
    }
}

/// What one reconcile works with.
#[derive(Debug)]
pub struct Dependencies {
    pub backlog: Backlog,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Originals younger than this are left alone: their event may still be on its way.
    pub after: Duration,
}

/// What one reconcile did, returned as the invocation's result and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Originals older than the age that no run covered.
    pub waiting: usize,
    /// Of those, started now.
    pub started: usize,
    /// Of those, whose execution name was taken already (started before).
    pub already_started: usize,
    /// Of those, whose start failed (the invocation then fails, after publishing the metric).
    pub failed: usize,
    /// Originals older than the age with a running or redrivable run.
    pub covered: usize,
    /// Originals younger than the age.
    pub recent: usize,
    /// The published metric: the oldest original under `photos/`, in seconds.
    pub oldest_waiting_seconds: u64,
}

/// Scans, starts what waits, publishes the metric. Fails with the first failed start's error
/// (so the function's Errors alarm sees it) once the metric is published.
pub async fn handle(dependencies: &Dependencies, now: SystemTime) -> Result<Summary> {
    let Dependencies {
        backlog,
        cloudwatch,
        after,
    } = dependencies;
    let scan = backlog.scan(PHOTOS_PREFIX, *after, now).await?;
    let starts = backlog.start(&scan.waiting, false).await;
    let count =
        |wanted: fn(&StartOutcome) -> bool| starts.iter().filter(|s| wanted(&s.outcome)).count();
    let summary = Summary {
        waiting: scan.waiting.len(),
        started: count(|o| matches!(o, StartOutcome::Started { .. })),
        already_started: count(|o| matches!(o, StartOutcome::AlreadyStarted)),
        failed: count(|o| matches!(o, StartOutcome::Failed { .. })),
        covered: scan.covered.len(),
        recent: scan.recent.len(),
        oldest_waiting_seconds: scan.oldest_age().as_secs(),
    };
    for start in &starts {
        tracing::info!(
            key = start.source.key,
            version = start.source.version_id,
            execution = start.execution_name,
            outcome = ?start.outcome,
            "started a waiting original"
        );
    }
    publish(cloudwatch, summary.oldest_waiting_seconds, now).await?;
    tracing::info!(?summary, "reconciled");
    match starts.into_iter().find_map(|s| match s.outcome {
        StartOutcome::Failed { cause, .. } => Some(cause),
        _ => None,
    }) {
        Some(cause) => Err(cause),
        None => Ok(summary),
    }
}

/// PutMetricData of the oldest waiting age: no dimensions, unit Seconds.
async fn publish(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    seconds: u64,
    now: SystemTime,
) -> Result<()> {
    let datum = MetricDatum::builder()
        .metric_name(METRIC_NAME)
        .value(seconds as f64)
        .unit(StandardUnit::Seconds)
        .timestamp(aws_smithy_types::DateTime::from(now))
        .build();
    cloudwatch
        .put_metric_data()
        .namespace(METRIC_NAMESPACE)
        .metric_data(datum)
        .send()
        .await
        .map(|_| ())
        .map_err(|err| {
            PipelineError::from_sdk(
                &format!("PutMetricData {METRIC_NAMESPACE}/{METRIC_NAME}"),
                err,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataOutput;
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_sdk_s3::types::Object;
    use aws_sdk_sfn::operation::list_executions::ListExecutionsOutput;
    use aws_sdk_sfn::operation::start_execution::StartExecutionOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::DateTime;
    use photopipe::backlog::execution_name;
    use photopipe::event::SourceObject;

    const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:photopipe";
    const NOW_SECS: i64 = 1_796_212_800;

    fn contract() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../contract/settings.json"))
            .expect("contract/settings.json is JSON")
    }

    #[test]
    fn names_are_the_contracts() {
        let reconciler = &contract()["reconciler"];
        let environment = &reconciler["environment"];
        assert_eq!(environment["dropboxBucket"], env::DROPBOX_BUCKET);
        assert_eq!(environment["stateMachineArn"], env::STATE_MACHINE_ARN);
        assert_eq!(environment["afterMinutes"], env::AFTER_MINUTES);
        assert_eq!(reconciler["metric"]["namespace"], METRIC_NAMESPACE);
        assert_eq!(reconciler["metric"]["name"], METRIC_NAME);
        assert_eq!(reconciler["metric"]["unit"], StandardUnit::Seconds.as_str());
    }

    /// A dropbox with `photos/lost.jpg` (v1), an hour old, and `photos/new.jpg`, a minute old.
    fn dropbox() -> aws_sdk_s3::Client {
        let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| {
            let object = |key: &str, age: i64| {
                Object::builder()
                    .key(key)
                    .size(10)
                    .last_modified(DateTime::from_secs(NOW_SECS - age))
                    .build()
            };
            ListObjectsV2Output::builder()
                .contents(object("photos/lost.jpg", 3600))
                .contents(object("photos/new.jpg", 60))
                .build()
        });
        let head = mock!(aws_sdk_s3::Client::head_object)
            .match_requests(|r| r.key() == Some("photos/lost.jpg"))
            .then_output(|| {
                HeadObjectOutput::builder()
                    .version_id("v1")
                    .e_tag("\"e\"")
                    .content_length(10)
                    .last_modified(DateTime::from_secs(NOW_SECS - 3600))
                    .build()
            });
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list, &head])
    }

    #[tokio::test]
    async fn starts_what_waited_longer_than_the_age_and_publishes_the_oldest_age() {
        let none = mock!(aws_sdk_sfn::Client::list_executions).then_output(|| {
            ListExecutionsOutput::builder()
                .set_executions(Some(Vec::new()))
                .build()
                .expect("list")
        });
        let lost = execution_name(&SourceObject {
            bucket: "drop".into(),
            key: "photos/lost.jpg".into(),
            version_id: Some("v1".into()),
        });
        let start = mock!(aws_sdk_sfn::Client::start_execution)
            .match_requests(move |r| r.name() == Some(lost.as_str()))
            .then_output(|| {
                StartExecutionOutput::builder()
                    .execution_arn("arn:started")
                    .start_date(DateTime::from_secs(NOW_SECS))
                    .build()
                    .expect("start")
            });
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&none, &start]);
        let put = mock!(aws_sdk_cloudwatch::Client::put_metric_data)
            .match_requests(|r| {
                let data = r.metric_data();
                r.namespace() == Some("photopipe")
                    && data.len() == 1
                    && data[0].metric_name() == Some("OldestWaitingOriginalSeconds")
                    && data[0].dimensions().is_empty()
                    && data[0].unit() == Some(&StandardUnit::Seconds)
                    && data[0].value() == Some(3600.0)
            })
            .then_output(|| PutMetricDataOutput::builder().build());
        let cloudwatch = mock_client!(aws_sdk_cloudwatch, [&put]);
        let dependencies = Dependencies {
            backlog: Backlog::new(dropbox(), sfn, "drop", MACHINE).expect("backlog"),
            cloudwatch,
            after: Duration::from_secs(30 * 60),
        };
        let now = SystemTime::try_from(DateTime::from_secs(NOW_SECS)).expect("now");
        let summary = handle(&dependencies, now).await.expect("reconciled");
        assert_eq!(
            summary,
            Summary {
                waiting: 1,
                started: 1,
                already_started: 0,
                failed: 0,
                covered: 0,
                recent: 1,
                oldest_waiting_seconds: 3600,
            }
        );
        assert_eq!((start.num_calls(), put.num_calls()), (1, 1));
    }

    #[test]
    fn settings_come_from_the_environment() {
        let read = |minutes: &'static str| {
            Settings::from_lookup(move |name| {
                let value = match name {
                    env::DROPBOX_BUCKET => "drop",
                    env::STATE_MACHINE_ARN => MACHINE,
                    env::AFTER_MINUTES => minutes,
                    _ => return None,
                };
                Some(value.to_owned())
            })
        };
        assert_eq!(
            read("30"),
            Ok(Settings {
                dropbox_bucket: "drop".into(),
                state_machine_arn: MACHINE.into(),
                after: Duration::from_secs(1800),
            })
        );
        for bad in ["half an hour", "-5", ""] {
            assert!(
                matches!(read(bad), Err(PipelineError::Configuration(_))),
                "{bad:?}"
            );
        }
    }
}
