//! Races, against both ways a provider may treat `If-None-Match: *` at Wasabi (honoured, as
//! S3 does, or ignored, as an S3-compatible store that does not document it may): the same
//! key uploaded twice with different content in quick succession, the same event delivered
//! three times at once, and two keys with identical content. Every run succeeds, both
//! versions of the key are archived and the thumbnail is the newer one's, nothing at Wasabi
//! holds other bytes than its key says (an ignored condition can only rewrite the same
//! bytes), and nothing is lost.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe::s3::meta;
use photopipe_local::run;
use photopipe_local::stack::{ARCHIVE, LocalStack, THUMBNAILS, workspace_root};
use photopipe_local::wasabi_stand_in::ConditionalWrites;

use crate::{archive_key, assert_nothing_lost, keys, read, stack};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("samples/photos").join(name)).expect("sample")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn races_end_in_one_result_whether_wasabi_honours_conditions_or_not() {
    let stack = stack("races", 3).await;
    for (round, mode) in [ConditionalWrites::Honoured, ConditionalWrites::Ignored]
        .into_iter()
        .enumerate()
    {
        stack.wasabi.set_conditional_writes(mode);
        race(&stack, round, mode).await;
    }
    assert_nothing_lost(&stack).await;
    stack.stop().await;
}

async fn race(stack: &LocalStack, round: usize, mode: ConditionalWrites) {
    let (older, newer) = (sample("chelsea.png"), sample("lake.webp"));
    let twin = sample("My Trip/green meadow.jpg");
    let same = format!("photos/race{round}/same.jpg");
    let (left, right) = (
        format!("photos/race{round}/left.jpg"),
        format!("photos/race{round}/right.jpg"),
    );
    for (key, bytes) in [
        (&same, &older),
        (&same, &newer),
        (&left, &twin),
        (&right, &twin),
    ] {
        run::upload(stack, key, bytes.clone())
            .await
            .expect("upload");
    }
    let mut started = stack
        .starter
        .start(4, Duration::from_secs(60))
        .await
        .expect("started");
    // The left one's event delivered twice more, at once.
    let delivered = started
        .iter()
        .find(|s| s.key == left)
        .expect("left started")
        .clone();
    let mut executions: Vec<String> = started.drain(..).map(|s| s.execution_arn).collect();
    for copy in 0..2 {
        let again = stack
            .sfn
            .start_execution()
            .state_machine_arn(&stack.state_machine_arn)
            .name(format!("{}-again-{copy}", delivered.name))
            .input(&delivered.input)
            .send()
            .await
            .expect("redelivered")
            .execution_arn;
        executions.push(again);
    }
    for execution in &executions {
        let done = run::wait(stack, execution, Duration::from_secs(180))
            .await
            .expect("finishes");
        assert_eq!(
            done.status,
            ExecutionStatus::Succeeded,
            "{mode:?}: {:?} {:?}",
            done.error,
            done.cause
        );
    }
    let archived = keys(&stack.wasabi_s3, ARCHIVE).await;
    for (key, bytes) in [
        (&same, &older),
        (&same, &newer),
        (&left, &twin),
        (&right, &twin),
    ] {
        let archive = archive_key(key, bytes);
        assert!(archived.contains(&archive), "{mode:?}: {archive} missing");
        assert_eq!(&read(&stack.wasabi_s3, ARCHIVE, &archive).await, bytes);
        let writes = stack.wasabi.writes(&archive);
        match mode {
            ConditionalWrites::Honoured => assert_eq!(writes, 1, "{mode:?}: {archive}"),
            // Runs of the same bytes may each write when the condition is ignored: the same
            // bytes again, never another photo's.
            ConditionalWrites::Ignored => assert!((1..=3).contains(&writes), "{archive}: {writes}"),
        }
    }
    let head = photopipe::s3::head(
        &stack.s3,
        THUMBNAILS,
        &format!("256x256/race{round}/same.jpg.jpg"),
    )
    .await
    .expect("head")
    .expect("thumbnail");
    assert_eq!(
        meta::get(&head, meta::SOURCE_SHA256),
        Some(photopipe::s3::sha256_hex(&newer).as_str()),
        "{mode:?}: the thumbnail is the newer upload's"
    );
}
