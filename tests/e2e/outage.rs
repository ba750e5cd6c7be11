//! Outage and redrive: Wasabi down for longer than the retries last. The runs end FAILED at
//! Archive with `Photo.Transient`, their photos still in the dropbox (thumbnails made);
//! once Wasabi is back, `RedriveExecution` of each failed run resumes at Archive (Validate
//! and Thumbnail are not run again) and completes it, with one write per photo at Wasabi
//! and nothing lost.

use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use photopipe_local::run;
use photopipe_local::stack::{ARCHIVE, DROPBOX, LocalStack, workspace_root};

use crate::{archive_key, assert_nothing_lost, keys, process, stack};

/// How many times a state was entered in an execution's history.
async fn entered(stack: &LocalStack, execution: &str, state: &str) -> usize {
    let history = stack
        .sfn
        .get_execution_history()
        .execution_arn(execution)
        .max_results(1000)
        .send()
        .await
        .expect("history");
    history
        .events()
        .iter()
        .filter(|e| e.r#type() == &HistoryEventType::TaskStateEntered)
        .filter(|e| e.state_entered_event_details().map(|d| d.name()) == Some(state))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wasabi_outage_fails_runs_that_a_redrive_completes() {
    let stack = stack("outage", 2).await;
    let samples = workspace_root().join("samples/photos");
    let uploads: Vec<(String, Vec<u8>)> = ["chelsea.png", "lake.webp", "hopper-rotated.jpg"]
        .iter()
        .map(|name| {
            (
                format!("photos/outage/{name}"),
                std::fs::read(samples.join(name)).expect("sample"),
            )
        })
        .collect();
    stack.wasabi_faults.down_for(Duration::from_secs(3600));
    let results = process(&stack, uploads.clone()).await;
    for (started, finished) in &results {
        assert_eq!(
            (finished.status.clone(), finished.error.as_deref()),
            (ExecutionStatus::Failed, Some("Photo.Transient")),
            "{}",
            started.key
        );
    }
    let mut waiting = keys(&stack.s3, DROPBOX).await;
    waiting.sort();
    let mut uploaded: Vec<String> = uploads.iter().map(|(k, _)| k.clone()).collect();
    uploaded.sort();
    assert_eq!(waiting, uploaded, "the photos wait in the dropbox");
    assert!(keys(&stack.wasabi_s3, ARCHIVE).await.is_empty());
    assert_nothing_lost(&stack).await;

    stack.wasabi_faults.heal();
    for (started, _) in &results {
        stack
            .sfn
            .redrive_execution()
            .execution_arn(&started.execution_arn)
            .send()
            .await
            .expect("redriven");
    }
    for (started, _) in &results {
        let done = run::wait(&stack, &started.execution_arn, Duration::from_secs(120))
            .await
            .expect("finishes");
        assert_eq!(
            done.status,
            ExecutionStatus::Succeeded,
            "{}: {:?} {:?}",
            started.key,
            done.error,
            done.cause
        );
        let described = stack
            .sfn
            .describe_execution()
            .execution_arn(&started.execution_arn)
            .send()
            .await
            .expect("described");
        assert_eq!(described.redrive_count(), Some(1), "{}", started.key);
        for (state, times) in [("Validate", 1), ("Thumbnail", 1), ("Cleanup", 1)] {
            assert_eq!(
                entered(&stack, &started.execution_arn, state).await,
                times,
                "{}: {state}",
                started.key
            );
        }
    }
    for (key, bytes) in &uploads {
        let archive = archive_key(key, bytes);
        assert_eq!(stack.wasabi.writes(&archive), 1, "{archive}: one write");
    }
    assert_eq!(keys(&stack.wasabi_s3, ARCHIVE).await.len(), uploads.len());
    assert!(keys(&stack.s3, DROPBOX).await.is_empty());
    assert_nothing_lost(&stack).await;
    stack.stop().await;
}
