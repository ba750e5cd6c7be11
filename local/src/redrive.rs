//! Redriving failed runs as an operator would once a fault is over: `RedriveExecution` of
//! every run that failed for a reason a redrive can cure, round after round while rounds make
//! progress. A rejected photo (its run failed with an error `contract/errors.json` handles by
//! quarantine, e.g. `Photo.InvalidImage`) is never redriven: its run would only reject it
//! again.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;

use crate::contract;
use crate::run::{self, Tracked};
use crate::stack::LocalStack;

/// The rules of which runs a redrive may finish, shared with `photopipe redrive`.
pub use photopipe_cli::redrive::{is_rejection, wants_redrive};

/// Redrive rounds: how many there were and how many redrives they made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rounds {
    pub rounds: u32,
    pub redrives: u32,
}

/// Redrives every run of `executions` that [`wants_redrive`], not before `not_before` (the
/// end of an outage), waits for each (up to `within`) and goes again; it stops when a round
/// redrives nothing (none left, or `RedriveExecution` refused them all) or none of a round's
/// runs succeeds.
pub async fn until_done(
    stack: &LocalStack,
    executions: &mut [Tracked],
    not_before: Instant,
    within: Duration,
) -> anyhow::Result<Rounds> {
    let rejections = contract::rejection_errors()?;
    let mut done = Rounds::default();
    loop {
        let due: Vec<usize> = (0..executions.len())
            .filter(|&i| {
                let finished = &executions[i].finished;
                wants_redrive(&finished.status, finished.error.as_deref(), &rejections)
            })
            .collect();
        if due.is_empty() {
            return Ok(done);
        }
        let now = Instant::now();
        if not_before > now {
            eprintln!(
                "{} failed runs: redriving them once the outage is over, in {:.0} s",
                due.len(),
                (not_before - now).as_secs_f64()
            );
            tokio::time::sleep(not_before - now).await;
        }
        let mut redriven = Vec::new();
        for i in due {
            let execution = &executions[i];
            match stack
                .sfn
                .redrive_execution()
                .execution_arn(&execution.started.execution_arn)
                .send()
                .await
            {
                Ok(_) => redriven.push(i),
                Err(err) => eprintln!(
                    "{}: not redriven: {}",
                    execution.started.key,
                    aws_sdk_sfn::error::DisplayErrorContext(&err)
                ),
            }
        }
        if redriven.is_empty() {
            return Ok(done);
        }
        done.rounds += 1;
        done.redrives += u32::try_from(redriven.len()).unwrap_or(u32::MAX);
        let mut succeeded = 0;
        for &i in &redriven {
            let finished = run::wait(stack, &executions[i].started.execution_arn, within).await?;
            succeeded += usize::from(finished.status == ExecutionStatus::Succeeded);
            executions[i].finished = finished;
        }
        eprintln!(
            "redrive round {}: {} redriven, {succeeded} succeeded",
            done.rounds,
            redriven.len()
        );
        if succeeded == 0 {
            return Ok(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_photos_are_not_redriven_and_the_rest_are() {
        let rejections = crate::contract::rejection_errors().expect("contract");
        for name in [
            "Photo.InvalidImage",
            "Photo.UnsupportedFormat",
            "Photo.KeyTooLong",
        ] {
            assert!(
                rejections.iter().any(|r| r == name),
                "{name}: {rejections:?}"
            );
            assert!(is_rejection(
                &ExecutionStatus::Failed,
                Some(name),
                &rejections
            ));
            assert!(!wants_redrive(
                &ExecutionStatus::Failed,
                Some(name),
                &rejections
            ));
        }
        for (status, error) in [
            (ExecutionStatus::Failed, Some("Photo.Transient")),
            (ExecutionStatus::Failed, Some("Runtime.ExitError")),
            (ExecutionStatus::Failed, None),
            (ExecutionStatus::TimedOut, None),
            (ExecutionStatus::Aborted, None),
        ] {
            assert!(
                wants_redrive(&status, error, &rejections),
                "{status:?} {error:?}"
            );
            assert!(!is_rejection(&status, error, &rejections));
        }
        assert!(!wants_redrive(
            &ExecutionStatus::Succeeded,
            None,
            &rejections
        ));
        assert!(!wants_redrive(&ExecutionStatus::Running, None, &rejections));
    }
}
