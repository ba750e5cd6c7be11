//! Chaos: the sample photos with 30 % of the functions' requests to both S3 endpoints
//! failing at random (503 SlowDown, 500 InternalError, connections reset). The SDK's retries
//! and the state machine's absorb it: every photo succeeds, one archive copy each, and the
//! invariant holds.

use aws_sdk_sfn::types::ExecutionStatus;
use photopipe_local::run::photos_in;
use photopipe_local::stack::{ARCHIVE, DROPBOX, workspace_root};

use crate::{archive_key, assert_nothing_lost, keys, process, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_of_requests_failing_loses_nothing() {
    let stack = stack("chaos", 2).await;
    let mut uploads = Vec::new();
    for (key, path) in photos_in(&workspace_root().join("samples/photos")).expect("samples") {
        if !key.ends_with("not-a-photo.jpg") {
            uploads.push((key, std::fs::read(path).expect("sample")));
        }
    }
    let mut expected: Vec<String> = uploads.iter().map(|(k, b)| archive_key(k, b)).collect();
    expected.sort();
    stack.aws_faults.fail_fraction(0.3);
    stack.wasabi_faults.fail_fraction(0.3);
    let results = process(&stack, uploads).await;
    stack.aws_faults.heal();
    stack.wasabi_faults.heal();
    for (started, finished) in &results {
        assert_eq!(
            finished.status,
            ExecutionStatus::Succeeded,
            "{}: {:?} {:?}",
            started.key,
            finished.error,
            finished.cause
        );
    }
    let (aws_forwarded, aws_injected) = stack.aws_faults.counts();
    let (wasabi_forwarded, wasabi_injected) = stack.wasabi_faults.counts();
    eprintln!(
        "chaos: {} photos; S3 {aws_injected} faults / {aws_forwarded} forwarded, Wasabi \
         {wasabi_injected} / {wasabi_forwarded}",
        results.len()
    );
    assert!(
        aws_injected > 5 && wasabi_injected > 5,
        "faults were injected: {aws_injected} at S3, {wasabi_injected} at Wasabi"
    );
    let mut archived = keys(&stack.wasabi_s3, ARCHIVE).await;
    archived.sort();
    assert_eq!(archived, expected, "one archive copy per photo");
    assert!(keys(&stack.s3, DROPBOX).await.is_empty());
    assert_nothing_lost(&stack).await;
    stack.stop().await;
}
