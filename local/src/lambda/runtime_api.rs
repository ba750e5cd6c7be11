//! The Runtime API (2018-06-01) one process's `lambda_runtime` talks to: it long-polls
//! `invocation/next` for the function's next queued invocation (from then on the
//! invocation's timeout runs, and the process's memory peak counts from there), then posts
//! the invocation's `response` or `error`, which goes back to the waiting Invoke API call.
//! Once the process is ended (killed, or being killed), nothing it posts is accepted.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hyper::Request;
use hyper::StatusCode;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::instance::Process;
use super::report::{End, Running};
use super::{Function, memory, stopped};
use crate::http::{self, Reply};
use crate::server::Server;

/// One process's Runtime API: its function's queue, the process, and the host's stop
/// (which ends a waiting `invocation/next`).
#[derive(Debug)]
struct RuntimeApi {
    function: Arc<Function>,
    process: Arc<Process>,
    stop: watch::Receiver<bool>,
}

/// Serves a Runtime API for one process of `function` on `listener`.
pub(super) fn serve(
    listener: TcpListener,
    function: Arc<Function>,
    process: Arc<Process>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Server> {
    let api = Arc::new(RuntimeApi {
        function,
        process,
        stop,
    });
    Server::serve(
        listener,
        http::service(move |request| Arc::clone(&api).call(request)),
    )
}

impl RuntimeApi {
    async fn call(self: Arc<Self>, request: Request<Incoming>) -> Reply {
        let path = request.uri().path().to_owned();
        if path == "/2018-06-01/runtime/invocation/next" {
            return self.next().await;
        }
        if path == "/2018-06-01/runtime/init/error" {
            return accepted();
        }
        let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") else {
            return http::reply(StatusCode::NOT_FOUND, &[], "unknown route");
        };
        let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
        let (id, kind) = (id.to_owned(), kind.to_owned());
        if kind != "response" && kind != "error" {
            return http::reply(StatusCode::NOT_FOUND, &[], "unknown route");
        }
        let body = http::body_bytes(request).await;
        let peak = memory::peak_kb(self.process.pid);
        let mut running = self.process.lock();
        if self.process.is_ended() {
            return gone();
        }
        let mut current = match running.take() {
            Some(current) if current.id == id => current,
            other => {
                *running = other;
                return http::reply(StatusCode::BAD_REQUEST, &[], "not the current invocation");
            }
        };
        current.peak_kb = current.peak_kb.max(peak.unwrap_or(0));
        // The watchdog looks every few milliseconds; the answer is where a peak between two
        // looks, or a deadline passed since the last, is caught.
        let over = if current.peak_kb > u64::from(self.function.spec.memory_mb) * 1024 {
            Some(End::OutOfMemory)
        } else if Instant::now() >= current.deadline {
            Some(End::Timeout)
        } else {
            None
        };
        if let Some(end) = over {
            // The watchdog kills it.
            self.process.ended.send_replace(true);
            current.finish(&self.function, end);
            return gone();
        }
        let end = if kind == "error" {
            End::FunctionError(body)
        } else {
            End::Response(body)
        };
        current.finish(&self.function, end);
        accepted()
    }

    /// `GET invocation/next`: waits for the function's next invocation and makes it the
    /// process's current one.
    async fn next(&self) -> Reply {
        let mut stop = self.stop.clone();
        // Cancel-safe: a stop or an end while waiting takes nothing from the queue.
        let next = async { self.function.pending.lock().await.recv().await };
        let invocation = tokio::select! {
            invocation = next => invocation,
            () = stopped(&mut stop) => None,
            () = self.process.until_ended() => None,
        };
        let Some(invocation) = invocation else {
            return gone();
        };
        // The invocation's memory peak starts from what the process holds now. Should the
        // kernel refuse (before Linux 4.0), the peak stays the process's lifetime peak.
        let _ = memory::reset_peak(self.process.pid);
        let timeout = self.function.spec.timeout;
        let deadline_ms = (SystemTime::now() + timeout)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            .to_string();
        let started = Instant::now();
        {
            let mut running = self.process.lock();
            if self.process.is_ended() {
                // Ended while the invocation was on its way: it goes back to the queue for
                // another process (if the queue is full, it fails as `Runtime.ExitError`).
                drop(running);
                let _ = self.function.queue.try_send(invocation);
                return gone();
            }
            if let Some(abandoned) = running.take() {
                let reason = "Runtime asked for the next invocation without answering this one";
                abandoned.finish(&self.function, End::Exited(reason.to_owned()));
            }
            self.function.log_line(&format!(
                "START RequestId: {} Version: $LATEST\n",
                invocation.id
            ));
            *running = Some(Running {
                id: invocation.id.clone(),
                payload: invocation.payload.clone(),
                reply: invocation.reply,
                started,
                deadline: started + timeout,
                peak_kb: 0,
            });
        }
        self.process.started.notify_one();
        http::reply(
            StatusCode::OK,
            &[
                ("content-type", "application/json"),
                ("lambda-runtime-aws-request-id", &invocation.id),
                ("lambda-runtime-deadline-ms", &deadline_ms),
                ("lambda-runtime-invoked-function-arn", &self.function.arn),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0",
                ),
            ],
            invocation.payload,
        )
    }
}

fn accepted() -> Reply {
    http::reply(StatusCode::ACCEPTED, &[], r#"{"status":"OK"}"#)
}

/// What a process that is stopping, or being replaced, gets.
fn gone() -> Reply {
    http::reply(StatusCode::GONE, &[], "stopping")
}
