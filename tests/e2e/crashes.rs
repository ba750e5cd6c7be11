//! Crashes: a function's process killed at each point that matters, its request applied and
//! its answer held at the fault injector until the process is gone. After the thumbnail is
//! written; after the archive copy is written and before it is read back; after both copies
//! are verified and the version tagged, before the delete marker; and in the middle of a
//! multipart upload. Each time the state machine retries the crash (`Runtime.ExitError`)
//! and the run completes; the upload the crashed attempt left at Wasabi is aborted, and
//! nothing is lost.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use hyper::Method;
use photopipe_local::fault_proxy::{FaultProxy, Held};
use photopipe_local::run;
use photopipe_local::stack::{ARCHIVE, LocalStack, workspace_root};

use crate::{archive_key, assert_nothing_lost, failed_attempts, keys, stack};

/// A PNG of noise over 16 MiB: archived in parts.
fn big_png() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let image = image::RgbImage::from_fn(2400, 2400, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [r, g, b, ..] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    assert!(png.len() > 16 << 20, "{} bytes", png.len());
    png
}

/// Uploads `bytes` at `key`, waits for `held` (set on `proxy`) to catch the request, crashes
/// `function`, and returns once the run has ended, checking it succeeded after retrying the
/// crash.
async fn crash_at(
    stack: &LocalStack,
    key: &str,
    bytes: Vec<u8>,
    function: &str,
    held: Held,
    proxy: &FaultProxy,
) {
    run::upload(stack, key, bytes).await.expect("upload");
    let started = stack
        .starter
        .start(1, Duration::from_secs(60))
        .await
        .expect("started")
        .remove(0);
    tokio::time::timeout(Duration::from_secs(120), held.applied())
        .await
        .unwrap_or_else(|_| panic!("{key}: the {function} request never came"));
    assert_eq!(
        stack.crash(function).expect("killed"),
        1,
        "{key}: {function}"
    );
    held.release();
    proxy.heal();
    let done = run::wait(stack, &started.execution_arn, Duration::from_secs(180))
        .await
        .expect("finishes");
    assert_eq!(
        done.status,
        ExecutionStatus::Succeeded,
        "{key}: {:?} {:?}",
        done.error,
        done.cause
    );
    let crashes = failed_attempts(stack, &started.execution_arn)
        .await
        .iter()
        .filter(|error| *error == "Runtime.ExitError")
        .count();
    assert_eq!(crashes, 1, "{key}: the crash was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_point_is_retried_to_completion() {
    let stack = stack("crashes", 1).await;
    let samples = workspace_root().join("samples/photos");
    let sample = |name: &str| std::fs::read(samples.join(name)).expect("sample");
    let put_to = |bucket: &'static str, also: fn(&str) -> bool| {
        move |method: &Method, target: &str| {
            method == Method::PUT && target.starts_with(bucket) && also(target)
        }
    };

    let held = stack
        .aws_faults
        .hold_answer(put_to("/photopipe-thumbnails/", |_| true));
    crash_at(
        &stack,
        "photos/crash/thumbnail.png",
        sample("chelsea.png"),
        "thumbnail",
        held,
        &stack.aws_faults,
    )
    .await;

    let held = stack
        .wasabi_faults
        .hold_answer(put_to("/photopipe-archive/", |t| !t.contains("uploadId")));
    crash_at(
        &stack,
        "photos/crash/archive.webp",
        sample("lake.webp"),
        "archive",
        held,
        &stack.wasabi_faults,
    )
    .await;

    let held = stack
        .aws_faults
        .hold_answer(put_to("/photopipe-dropbox/photos/", |t| {
            t.contains("tagging")
        }));
    crash_at(
        &stack,
        "photos/crash/cleanup.jpg",
        sample("hopper-rotated.jpg"),
        "cleanup",
        held,
        &stack.aws_faults,
    )
    .await;

    let big = big_png();
    let big_key = "photos/crash/multipart.png";
    let held = stack
        .wasabi_faults
        .hold_answer(put_to("/photopipe-archive/", |t| {
            t.contains("partNumber=2")
        }));
    crash_at(
        &stack,
        big_key,
        big.clone(),
        "archive",
        held,
        &stack.wasabi_faults,
    )
    .await;
    let archive = archive_key(big_key, &big);
    assert!(keys(&stack.wasabi_s3, ARCHIVE).await.contains(&archive));
    assert_eq!(
        stack.wasabi.incomplete_uploads(),
        0,
        "the crashed attempt's upload was aborted"
    );
    assert_nothing_lost(&stack).await;
    stack.stop().await;
}
