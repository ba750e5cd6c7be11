//! What an execution's history says: how many of its Lambda attempts failed and were
//! retried, and how many state transitions Step Functions bills for it.
//!
//! A `Retry` shows in the history as a failed attempt (`LambdaFunctionFailed`, or
//! `LambdaFunctionTimedOut` for a Task's own `TimeoutSeconds`) followed by the next attempt's
//! `LambdaFunctionScheduled`, with no state entered or exited in between. A failure caught
//! into another state, or one that fails the run (and that a redrive later resumes), is not
//! a retry. Standard workflows bill a transition for each state entered and for each retry.

use anyhow::Context;

/// The type of every event in an execution's history (`TaskStateEntered`,
/// `LambdaFunctionFailed`, …), oldest first.
pub async fn event_types(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> anyhow::Result<Vec<String>> {
    let mut types = Vec::new();
    let mut pages = sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("the history of {execution_arn}"))?;
        types.extend(page.events().iter().map(|e| e.r#type().as_str().to_owned()));
    }
    Ok(types)
}

/// How many failed Lambda attempts were retried: each one followed by another attempt of
/// the same state.
pub fn retried_attempts<S: AsRef<str>>(types: &[S]) -> u32 {
    let mut retried = 0;
    for (at, event) in types.iter().enumerate() {
        if !is_failed_attempt(event.as_ref()) {
            continue;
        }
        let next = types[at + 1..]
            .iter()
            .map(AsRef::as_ref)
            .find(|t| *t == "LambdaFunctionScheduled" || is_state_or_execution_event(t));
        if next == Some("LambdaFunctionScheduled") {
            retried += 1;
        }
    }
    retried
}

/// The state transitions Step Functions bills for this history: every state entered (a
/// redriven run entering its failed state again included) and every retry.
pub fn state_transitions<S: AsRef<str>>(types: &[S]) -> u32 {
    let entered = types
        .iter()
        .filter(|t| t.as_ref().ends_with("StateEntered"))
        .count();
    u32::try_from(entered).unwrap_or(u32::MAX) + retried_attempts(types)
}

fn is_failed_attempt(event: &str) -> bool {
    matches!(event, "LambdaFunctionFailed" | "LambdaFunctionTimedOut")
}

/// An event that ends a state's attempts: a state entered or exited, or the run itself
/// ending, being aborted or redriven.
fn is_state_or_execution_event(event: &str) -> bool {
    event.ends_with("StateEntered")
        || event.ends_with("StateExited")
        || event.starts_with("Execution")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose Validate failed once and was retried, whose Archive timed out once and was
    /// retried, then failed for good; redriven, Archive then succeeded.
    const REDRIVEN: &[&str] = &[
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionFailed",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionTimedOut",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionFailed",
        "ExecutionFailed",
        "ExecutionRedriven",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ];

    #[test]
    fn a_failure_is_retried_only_when_the_same_state_tries_again() {
        // Validate's failure and Archive's time-out were retried; Archive's last failure
        // ended the run, and the redrive entered Archive afresh.
        assert_eq!(retried_attempts(REDRIVEN), 2);
        // Validate, Thumbnail, Archive, Archive again after the redrive, Cleanup; two retries.
        assert_eq!(state_transitions(REDRIVEN), 5 + 2);
    }

    #[test]
    fn a_caught_failure_is_no_retry() {
        let quarantined = [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionFailed",
            "TaskStateExited",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "FailStateEntered",
            "ExecutionFailed",
        ];
        assert_eq!(retried_attempts(&quarantined), 0);
        assert_eq!(state_transitions(&quarantined), 3);
        assert_eq!(retried_attempts::<&str>(&[]), 0);
    }
}
