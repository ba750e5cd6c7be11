//! A transient fault is retried to success: with Wasabi answering 503 SlowDown for longer
//! than the SDK's own retries last, the archive step fails with `Photo.Transient`, the state
//! machine's `Retry` runs it again, and the photo is archived.

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe_local::stack::{ARCHIVE, DROPBOX};

use crate::{archive_key, assert_nothing_lost, failed_attempts, keys, process, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasabi_unavailable_at_first_is_retried_to_success() {
    let stack = stack("faults", 1).await;
    let photo =
        std::fs::read(photopipe_local::stack::workspace_root().join("samples/photos/lake.webp"))
            .expect("sample");
    // The SDK makes 3 attempts per call: 4 refusals outlast them.
    stack
        .wasabi_faults
        .fail_next(4, photopipe_local::fault_proxy::Fault::SlowDown);
    let archived = archive_key("photos/lake.webp", &photo);
    let results = process(&stack, vec![("photos/lake.webp".into(), photo)]).await;
    let (started, finished) = &results[0];
    assert_eq!(
        finished.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        finished.error,
        finished.cause
    );
    let failures = failed_attempts(&stack, &started.execution_arn).await;
    assert!(
        failures.iter().any(|error| error == "Photo.Transient"),
        "no Photo.Transient failure was retried: {failures:?}"
    );
    assert_eq!(keys(&stack.wasabi_s3, ARCHIVE).await, vec![archived]);
    assert!(keys(&stack.s3, DROPBOX).await.is_empty());
    assert_nothing_lost(&stack).await;
    stack.stop().await;
}
