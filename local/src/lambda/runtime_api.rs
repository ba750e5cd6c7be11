//! The Runtime API (2018-06-01) one instance's `lambda_runtime` talks to: it long-polls
//! `invocation/next` for the function's next queued invocation, then posts the invocation's
//! `response` or `error`, which goes back to the waiting Invoke API call.

use std::sync::Arc;

use hyper::Request;
use hyper::StatusCode;
use hyper::body::Incoming;
use tokio::sync::{Mutex, oneshot, watch};

use super::{Function, Outcome, stopped};
use crate::http::{self, Reply};
use crate::server::{self, Server};

/// The invocation an instance is working on: its id, and where its outcome goes.
pub(super) type Current = Arc<Mutex<Option<(String, oneshot::Sender<Outcome>)>>>;

/// One instance's Runtime API: its function's queue, its current invocation, and the host's
/// stop (which ends a waiting `invocation/next`).
#[derive(Debug)]
struct RuntimeApi {
    function: Arc<Function>,
    current: Current,
    stop: watch::Receiver<bool>,
}

/// Serves a Runtime API for one instance of `function` on a free loopback port.
pub(super) async fn serve(
    function: Arc<Function>,
    current: Current,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Server> {
    let api = Arc::new(RuntimeApi {
        function,
        current,
        stop,
    });
    Server::serve(
        server::loopback().await?,
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
        let body = http::body_bytes(request).await;
        let mut slot = self.current.lock().await;
        match slot.take() {
            Some((current_id, reply)) if current_id == id => {
                let outcome = if kind == "error" {
                    Outcome::Error(body)
                } else {
                    Outcome::Response(body)
                };
                let _ = reply.send(outcome);
                accepted()
            }
            other => {
                *slot = other;
                http::reply(StatusCode::BAD_REQUEST, &[], "not the current invocation")
            }
        }
    }

    /// `GET invocation/next`: waits for the function's next invocation and makes it current.
    async fn next(&self) -> Reply {
        let mut stop = self.stop.clone();
        let next = async { self.function.pending.lock().await.recv().await };
        let invocation = tokio::select! {
            invocation = next => invocation,
            () = stopped(&mut stop) => None,
        };
        let Some(invocation) = invocation else {
            return http::reply(StatusCode::GONE, &[], "stopping");
        };
        *self.current.lock().await = Some((invocation.id.clone(), invocation.reply));
        let deadline = invocation.deadline_ms.to_string();
        http::reply(
            StatusCode::OK,
            &[
                ("content-type", "application/json"),
                ("lambda-runtime-aws-request-id", &invocation.id),
                ("lambda-runtime-deadline-ms", &deadline),
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
