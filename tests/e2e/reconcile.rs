//! The reconciler's backlog code against the local stack: an upload whose event is lost stays
//! in `photos/`; a scan finds it waiting while another upload's run (held RUNNING by a Wasabi
//! outage) covers its own original; the start runs it under its deterministic name to the
//! archive; a second reconcile finds nothing and starts nothing, a start of the same version
//! after its run closed is `ExecutionAlreadyExists`, and nothing is lost.
//!
//! It drives `photopipe::backlog` (what the reconcile Lambda's handler calls) with the stack's
//! S3 and Step Functions clients; the handler's PutMetricData is covered by its unit tests
//! (the local stack gives no CloudWatch client).

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe::backlog::{Backlog, StartOutcome, execution_name};
use photopipe::settings::PHOTOS_PREFIX;
use photopipe_local::run;
use photopipe_local::stack::{ARCHIVE, DROPBOX, LocalStack, workspace_root};

use crate::{archive_key, assert_nothing_lost, keys, stack};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("samples/photos").join(name)).expect("sample")
}

/// Drops the next event from the rule's queue, as if it had never been delivered.
async fn lose_event(stack: &LocalStack, key: &str) {
    let begin = Instant::now();
    loop {
        let dropped = stack.starter.drop_pending().await.expect("queue");
        if !dropped.is_empty() {
            assert_eq!(dropped, [key]);
            return;
        }
        assert!(
            begin.elapsed() < Duration::from_secs(60),
            "no event for {key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_upload_is_started_once_and_archived() {
    let stack = stack("reconcile", 1).await;
    let backlog = Backlog::new(
        stack.s3.clone(),
        stack.sfn.clone(),
        DROPBOX,
        stack.state_machine_arn.clone(),
    )
    .expect("backlog");
    let (lost_key, lost) = ("photos/lost on the way +1 été.jpg", sample("chelsea.png"));
    run::upload(&stack, lost_key, lost.clone())
        .await
        .expect("upload");
    lose_event(&stack, lost_key).await;

    // Another upload whose run is under way: Wasabi is down, so its archive step retries.
    stack.wasabi_faults.down_for(Duration::from_secs(8));
    let (running_key, running) = ("photos/running.webp", sample("lake.webp"));
    run::upload(&stack, running_key, running.clone())
        .await
        .expect("upload");
    let started = stack
        .starter
        .start(1, Duration::from_secs(60))
        .await
        .expect("its run starts");

    let scan = backlog
        .scan(PHOTOS_PREFIX, Duration::ZERO, SystemTime::now())
        .await
        .expect("scan");
    let waiting: Vec<_> = scan.waiting.iter().map(|o| o.source.key.as_str()).collect();
    assert_eq!(waiting, [lost_key], "the lost upload waits, nothing else");
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
        [(running_key, started[0].execution_arn.as_str(), "RUNNING")],
        "a running run covers its original"
    );
    assert!(scan.oldest_age() > Duration::ZERO);

    let first_waiting = scan.waiting.clone();
    let starts = backlog.start(&first_waiting, false).await;
    let name = execution_name(&scan.waiting[0].source);
    assert_eq!(starts[0].execution_name, name);
    let StartOutcome::Started { execution_arn } = &starts[0].outcome else {
        panic!("not started: {starts:?}");
    };
    // Started again by a second reconciler racing the first: Step Functions has it already.
    let again = backlog.start(&scan.waiting, false).await;
    assert!(
        matches!(
            &again[0].outcome,
            StartOutcome::Started { execution_arn: same } if same == execution_arn
        ) || again[0].outcome == StartOutcome::AlreadyStarted,
        "{again:?}"
    );

    for arn in [execution_arn.as_str(), started[0].execution_arn.as_str()] {
        let finished = run::wait(&stack, arn, Duration::from_secs(300))
            .await
            .expect("finishes");
        assert_eq!(
            (finished.status, finished.error),
            (ExecutionStatus::Succeeded, None),
            "{arn}"
        );
    }
    let archived = keys(&stack.wasabi_s3, ARCHIVE).await;
    assert!(
        archived.contains(&archive_key(lost_key, &lost)),
        "{archived:?}"
    );
    assert!(
        keys(&stack.s3, DROPBOX)
            .await
            .iter()
            .all(|key| !key.starts_with(PHOTOS_PREFIX))
    );

    // Nothing waits now: a second reconcile starts nothing.
    let scan = backlog
        .scan(PHOTOS_PREFIX, Duration::ZERO, SystemTime::now())
        .await
        .expect("scan");
    assert_eq!(
        (scan.waiting.len(), scan.covered.len(), scan.oldest_age()),
        (0, 0, Duration::ZERO)
    );
    assert!(backlog.start(&scan.waiting, false).await.is_empty());
    // Its run closed, its name stays taken: starting that version again is refused.
    let closed = backlog.start(&first_waiting, false).await;
    assert_eq!(closed[0].outcome, StartOutcome::AlreadyStarted);
    assert_nothing_lost(&stack).await;
}
