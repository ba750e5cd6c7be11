//! How an invocation ends, as Lambda records it: the outcome the Invoke API returns, the
//! `START`/`END`/`REPORT` lines in the function's log, and an [`InvocationReport`] the host
//! keeps (see [`super::LambdaHost::reports`]).

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::oneshot;

use super::{Function, Outcome, error_body, memory};

/// One invocation, as Lambda's `REPORT` line describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvocationReport {
    /// The function's name.
    pub function: String,
    pub request_id: String,
    /// From the moment the process was handed the invocation to its answer (or its end).
    pub duration_ms: f64,
    /// The duration rounded up to the next millisecond, as Lambda bills it.
    pub billed_ms: u64,
    /// The function's memory size.
    pub memory_mb: u32,
    /// The process's peak resident memory during the invocation.
    pub max_memory_used_mb: u32,
    pub status: InvocationStatus,
    /// The `errorType` of a failed invocation (the function's own, or the platform's:
    /// `Sandbox.Timedout`, `Runtime.OutOfMemory`, `Runtime.ExitError`).
    pub error_type: Option<String>,
    /// The invocation's input (a string if it was not JSON).
    pub payload: serde_json::Value,
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvocationStatus {
    /// The function answered.
    Success,
    /// The function reported an error, or its process died without answering.
    Error,
    /// It overran the function's timeout; its process was killed.
    Timeout,
    /// Its process went over the function's memory size and was killed.
    OutOfMemory,
}

/// The invocation one process is working on.
#[derive(Debug)]
pub(super) struct Running {
    pub(super) id: String,
    pub(super) payload: Bytes,
    pub(super) reply: oneshot::Sender<Outcome>,
    /// When the process was handed it.
    pub(super) started: Instant,
    /// When it times out.
    pub(super) deadline: Instant,
    /// The process's peak resident memory so far (kB), as last measured.
    pub(super) peak_kb: u64,
}

/// How a [`Running`] invocation ended.
#[derive(Debug)]
pub(super) enum End {
    /// The function posted its `response`.
    Response(Bytes),
    /// The function posted an `error`.
    FunctionError(Bytes),
    /// It overran the function's timeout.
    Timeout,
    /// Its process went over the function's memory size.
    OutOfMemory,
    /// Its process exited without answering (the reason, e.g. `exit status: 3`).
    Exited(String),
}

impl Running {
    /// Ends the invocation: answers the Invoke API, writes `END` and `REPORT` to the
    /// function's log and keeps the report.
    pub(super) fn finish(self, function: &Function, end: End) {
        let duration = self.started.elapsed();
        let id = &self.id;
        let (outcome, status, error_type, failure) = match end {
            End::Response(body) => (
                Outcome::Response(body),
                InvocationStatus::Success,
                None,
                None,
            ),
            End::FunctionError(body) => {
                let error_type = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|error| error["errorType"].as_str().map(str::to_owned));
                (
                    Outcome::Error(body),
                    InvocationStatus::Error,
                    error_type,
                    None,
                )
            }
            End::Timeout => {
                let message = format!(
                    "RequestId: {id} Error: Task timed out after {:.2} seconds",
                    function.spec.timeout.as_secs_f64()
                );
                (
                    Outcome::Error(error_body("Sandbox.Timedout", &message)),
                    InvocationStatus::Timeout,
                    Some("Sandbox.Timedout".to_owned()),
                    Some(message),
                )
            }
            End::OutOfMemory => {
                let message =
                    format!("RequestId: {id} Error: Runtime exited with error: signal: killed");
                (
                    Outcome::Error(error_body("Runtime.OutOfMemory", &message)),
                    InvocationStatus::OutOfMemory,
                    Some("Runtime.OutOfMemory".to_owned()),
                    Some(message),
                )
            }
            End::Exited(reason) => {
                let message = format!("RequestId: {id} Error: {reason}");
                (
                    Outcome::Error(error_body("Runtime.ExitError", &message)),
                    InvocationStatus::Error,
                    Some("Runtime.ExitError".to_owned()),
                    Some(message),
                )
            }
        };
        let report = InvocationReport {
            function: function.spec.name.clone(),
            request_id: self.id.clone(),
            duration_ms: duration.as_secs_f64() * 1000.0,
            billed_ms: billed_ms(duration),
            memory_mb: function.spec.memory_mb,
            max_memory_used_mb: memory::kb_to_mb(self.peak_kb),
            status,
            error_type,
            payload: payload_json(&self.payload),
        };
        let mut lines = String::new();
        if let (Some(message), Some(error_type)) = (failure, &report.error_type) {
            lines.push_str(&format!("{message}\n{error_type}\n"));
        }
        lines.push_str(&format!("END RequestId: {id}\n{}\n", report_line(&report)));
        function.log_line(&lines);
        function
            .reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(report);
        let _ = self.reply.send(outcome);
    }
}

/// Lambda's `REPORT` line for `report` (without the newline).
pub(super) fn report_line(report: &InvocationReport) -> String {
    let mut line = format!(
        "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
        report.request_id,
        report.duration_ms,
        report.billed_ms,
        report.memory_mb,
        report.max_memory_used_mb
    );
    // Lambda adds a status only when the platform ended the invocation; a function's own
    // error is a completed invocation.
    match (report.status, report.error_type.as_deref()) {
        (InvocationStatus::Timeout, _) => line.push_str("\tStatus: timeout"),
        (InvocationStatus::OutOfMemory, _) => {
            line.push_str("\tStatus: error\tError Type: Runtime.OutOfMemory");
        }
        (InvocationStatus::Error, Some(error_type @ "Runtime.ExitError")) => {
            line.push_str(&format!("\tStatus: error\tError Type: {error_type}"));
        }
        _ => {}
    }
    line
}

/// A duration rounded up to whole milliseconds (Lambda's 1 ms billing since December 2020).
fn billed_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(1_000_000))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The payload as JSON, or as a string if it is not JSON.
fn payload_json(payload: &[u8]) -> serde_json::Value {
    if payload.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(payload).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: InvocationStatus, error_type: Option<&str>) -> InvocationReport {
        InvocationReport {
            function: "f".into(),
            request_id: "id-1".into(),
            duration_ms: 12.341,
            billed_ms: 13,
            memory_mb: 512,
            max_memory_used_mb: 37,
            status,
            error_type: error_type.map(str::to_owned),
            payload: serde_json::Value::Null,
        }
    }

    #[test]
    fn report_lines_are_lambdas() {
        let base = "REPORT RequestId: id-1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\tMax Memory Used: 37 MB";
        assert_eq!(report_line(&report(InvocationStatus::Success, None)), base);
        assert_eq!(
            report_line(&report(InvocationStatus::Error, Some("ValidationError"))),
            base
        );
        assert_eq!(
            report_line(&report(InvocationStatus::Timeout, Some("Sandbox.Timedout"))),
            format!("{base}\tStatus: timeout")
        );
        assert_eq!(
            report_line(&report(
                InvocationStatus::OutOfMemory,
                Some("Runtime.OutOfMemory")
            )),
            format!("{base}\tStatus: error\tError Type: Runtime.OutOfMemory")
        );
        assert_eq!(
            report_line(&report(InvocationStatus::Error, Some("Runtime.ExitError"))),
            format!("{base}\tStatus: error\tError Type: Runtime.ExitError")
        );
    }

    #[test]
    fn billing_rounds_up_to_the_millisecond() {
        assert_eq!(billed_ms(Duration::from_micros(12_340)), 13);
        assert_eq!(billed_ms(Duration::from_millis(13)), 13);
        assert_eq!(billed_ms(Duration::from_nanos(1)), 1);
        assert_eq!(billed_ms(Duration::ZERO), 1);
    }

    #[test]
    fn payloads_are_kept_as_json() {
        assert_eq!(
            payload_json(br#"{"key":"a.jpg"}"#),
            serde_json::json!({"key": "a.jpg"})
        );
        assert_eq!(payload_json(b"not json"), serde_json::json!("not json"));
        assert_eq!(payload_json(b""), serde_json::Value::Null);
    }
}
