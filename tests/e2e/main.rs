//! End-to-end tests: the real Lambda binaries, the real state machine definition, moto as
//! AWS and the Wasabi stand-in, driven as a user would (uploads to the dropbox). Build the
//! binaries first: `cargo build --workspace --bins` (`scripts/test` does).

mod bad_input;
mod chaos;
mod cli;
mod corpus;
mod crashes;
mod duplicates;
mod faults;
mod losses;
mod outage;
mod races;
mod reconcile;
mod rejection;

use std::time::Duration;

use photopipe_local::run::{self, Finished};
use photopipe_local::stack::{LocalStack, StackOptions};
use photopipe_local::starter::Started;

/// A fresh stack with its logs in the target folder.
async fn stack(name: &str, instances: usize) -> LocalStack {
    let exe = std::env::current_exe().expect("test binary path");
    let logs = exe
        .parent()
        .expect("deps folder")
        .join("e2e-logs")
        .join(name);
    let mut options = StackOptions::for_workspace(logs).expect("options");
    options.instances = instances;
    options.fast_retries = true;
    LocalStack::start(options)
        .await
        .expect("local stack starts")
}

/// Uploads each (key, bytes) and waits for the executions they start.
async fn process(stack: &LocalStack, uploads: Vec<(String, Vec<u8>)>) -> Vec<(Started, Finished)> {
    let count = uploads.len();
    for (key, bytes) in uploads {
        run::upload(stack, &key, bytes).await.expect("upload");
    }
    let mut finished = settle(stack, count).await;
    finished.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    finished
}

/// Starts the executions of `count` uploads already made and waits for each.
async fn settle(stack: &LocalStack, count: usize) -> Vec<(Started, Finished)> {
    let started = stack
        .starter
        .start(count, Duration::from_secs(60))
        .await
        .expect("executions start");
    let mut finished = Vec::new();
    for execution in started {
        let done = run::wait(stack, &execution.execution_arn, Duration::from_secs(300))
            .await
            .expect("finishes");
        finished.push((execution, done));
    }
    finished
}

/// Every current key of a bucket.
async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    run::list_keys(s3, bucket).await.expect("listing")
}

/// The bytes of an object.
async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{bucket}/{key}: {e:?}"));
    object
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// The archive key of `bytes` uploaded at `key`: its path with its hash before the extension.
fn archive_key(key: &str, bytes: &[u8]) -> String {
    let source = photopipe::event::SourceObject {
        bucket: photopipe_local::stack::DROPBOX.into(),
        key: key.into(),
        version_id: None,
    };
    photopipe::s3::keys::archive_key(&source, &photopipe::s3::sha256_hex(bytes)).expect("fits")
}

/// Fails the test with every version that is neither archived, quarantined nor pending.
async fn assert_nothing_lost(stack: &LocalStack) {
    let renditions = photopipe::settings::ThumbnailSettings::default().renditions;
    let violations = photopipe_local::invariant::check(stack, &renditions)
        .await
        .expect("the invariant can be checked");
    assert!(violations.is_empty(), "{violations:#?}");
}

/// The error name of every failed Lambda attempt in an execution's history, in order.
async fn failed_attempts(stack: &LocalStack, execution_arn: &str) -> Vec<String> {
    let history = stack
        .sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .max_results(1000)
        .send()
        .await
        .expect("history");
    history
        .events()
        .iter()
        .filter(|e| e.r#type() == &aws_sdk_sfn::types::HistoryEventType::LambdaFunctionFailed)
        .filter_map(|e| e.lambda_function_failed_event_details()?.error())
        .map(str::to_owned)
        .collect()
}
