//! The Lambda Invoke API, `POST /2015-03-31/functions/{name or ARN}/invocations`, with AWS's
//! semantics: a function error is HTTP 200 with `X-Amz-Function-Error` and the function's
//! `{errorType, errorMessage}` body (the platform's own for an invocation whose process
//! was killed or died: `Sandbox.Timedout`, `Runtime.OutOfMemory`, `Runtime.ExitError`); an
//! unknown function is a 404 `ResourceNotFoundException`. The request id is in
//! `x-amzn-RequestId`. An invocation waits in its function's queue until an instance is
//! free (where Lambda would start another instance, or throttle); its timeout, which the
//! instance enforces, runs from when an instance takes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Function, Invocation, Outcome, error_body};
use crate::http::{self, Reply};
use crate::server::Server;

/// The functions by name, and the next request id.
#[derive(Debug)]
struct InvokeApi {
    functions: HashMap<String, Arc<Function>>,
    next_id: AtomicU64,
}

/// Serves the Invoke API for `functions` (by name) on `listener`.
pub(super) fn serve(
    listener: TcpListener,
    functions: HashMap<String, Arc<Function>>,
) -> anyhow::Result<Server> {
    let api = Arc::new(InvokeApi {
        functions,
        next_id: AtomicU64::new(1),
    });
    Server::serve(
        listener,
        http::service(move |request| Arc::clone(&api).invoke(request)),
    )
}

impl InvokeApi {
    /// One invocation: queued for the function's instances, answered with its outcome.
    async fn invoke(self: Arc<Self>, request: Request<Incoming>) -> Reply {
        let path = request.uri().path().to_owned();
        let name = path
            .strip_prefix("/2015-03-31/functions/")
            .and_then(|rest| rest.strip_suffix("/invocations"))
            .map(|encoded| {
                percent_encoding::percent_decode_str(encoded)
                    .decode_utf8_lossy()
                    .into_owned()
            });
        let Some(name) = name.filter(|_| request.method() == Method::POST) else {
            return http::reply(StatusCode::NOT_FOUND, &[], "unknown route");
        };
        // A full ARN, possibly with a qualifier, or a bare name.
        let bare = name
            .split_once(":function:")
            .map_or(name.as_str(), |(_, rest)| rest);
        let bare = bare.split(':').next().unwrap_or(bare);
        let Some(function) = self.functions.get(bare) else {
            let message = format!("Function not found: {name}");
            let body = serde_json::json!({"Type": "User", "message": message}).to_string();
            return http::reply(
                StatusCode::NOT_FOUND,
                &[("x-amzn-ErrorType", "ResourceNotFoundException")],
                body,
            );
        };
        let payload = http::body_bytes(request).await;
        let id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let (reply, outcome) = oneshot::channel();
        let invocation = Invocation {
            id: id.clone(),
            payload,
            reply,
        };
        if function.queue.send(invocation).await.is_err() {
            return http::reply(
                StatusCode::SERVICE_UNAVAILABLE,
                &[("x-amzn-ErrorType", "ServiceException")],
                "host stopping",
            );
        }
        let ok = [
            ("X-Amz-Executed-Version", "$LATEST"),
            ("x-amzn-RequestId", id.as_str()),
        ];
        let unhandled = [
            ("X-Amz-Function-Error", "Unhandled"),
            ("X-Amz-Executed-Version", "$LATEST"),
            ("x-amzn-RequestId", id.as_str()),
        ];
        // The instance always answers: with the function's outcome, or with the platform's
        // error once it has killed the process or seen it die.
        match outcome.await {
            Ok(Outcome::Response(body)) => http::reply(StatusCode::OK, &ok, body),
            Ok(Outcome::Error(body)) => http::reply(StatusCode::OK, &unhandled, body),
            // The host stopped with the invocation queued or running.
            Err(_) => http::reply(
                StatusCode::OK,
                &unhandled,
                error_body(
                    "Runtime.ExitError",
                    &format!("RequestId: {id} Error: Runtime exited without a response"),
                ),
            ),
        }
    }
}
