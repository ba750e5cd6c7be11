//! At-least-once delivery: the same event delivered again after the photo was processed,
//! and delivered twice at once, gives one thumbnail and one archive copy, and no execution
//! fails.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe_local::run;
use photopipe_local::stack::{ARCHIVE, DROPBOX, THUMBNAILS, workspace_root};

use crate::{archive_key, assert_nothing_lost, keys, process, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_gives_one_thumbnail_and_one_archive_copy() {
    let stack = stack("duplicates", 2).await;
    let samples = workspace_root().join("samples/photos");
    let first = std::fs::read(samples.join("chelsea.png")).expect("sample");
    let second = std::fs::read(samples.join("My Trip/green meadow.jpg")).expect("sample");
    let expected_archive = {
        let mut keys = vec![
            archive_key("photos/cat.png", &first),
            archive_key("photos/meadow.jpg", &second),
        ];
        keys.sort();
        keys
    };

    // Delivered again after the first run removed the original.
    let results = process(&stack, vec![("photos/cat.png".into(), first)]).await;
    let (started, finished) = &results[0];
    assert_eq!(finished.status, ExecutionStatus::Succeeded);
    let again = start(&stack, &started.input, "again-after").await;
    let redelivered = run::wait(&stack, &again, Duration::from_secs(120))
        .await
        .expect("finishes");
    assert_eq!(
        redelivered.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        redelivered.error,
        redelivered.cause
    );

    // Delivered twice at once: both runs race through every step.
    run::upload(&stack, "photos/meadow.jpg", second)
        .await
        .expect("upload");
    let original = stack
        .starter
        .start(1, Duration::from_secs(60))
        .await
        .expect("started")
        .remove(0);
    let twin = start(&stack, &original.input, "twin").await;
    for execution in [&original.execution_arn, &twin] {
        let done = run::wait(&stack, execution, Duration::from_secs(120))
            .await
            .expect("finishes");
        assert_eq!(
            done.status,
            ExecutionStatus::Succeeded,
            "{:?} {:?}",
            done.error,
            done.cause
        );
    }

    let mut archived = keys(&stack.wasabi_s3, ARCHIVE).await;
    archived.sort();
    assert_eq!(archived, expected_archive);
    assert_eq!(keys(&stack.s3, THUMBNAILS).await.len(), 2);
    assert!(keys(&stack.s3, DROPBOX).await.is_empty());
    assert_nothing_lost(&stack).await;
    stack.stop().await;
}

/// Starts another execution with the same input, as a second delivery of the event would.
async fn start(stack: &photopipe_local::stack::LocalStack, input: &str, name: &str) -> String {
    stack
        .sfn
        .start_execution()
        .state_machine_arn(&stack.state_machine_arn)
        .name(name)
        .input(input)
        .send()
        .await
        .expect("second delivery starts")
        .execution_arn
}
