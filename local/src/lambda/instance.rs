//! One instance of a function: its process, started with the environment Lambda gives a
//! function (`AWS_LAMBDA_RUNTIME_API` naming the instance's own Runtime API, the memory size,
//! the function's settings), and kept running: when the process dies, the invocation it was
//! working on fails as `Runtime.ExitError` and a new process takes its place.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::runtime_api::{self, Current};
use super::{Function, FunctionSpec, Outcome, error_body, stopped};
use crate::server::Server;

/// A running instance: its Runtime API and the task that keeps its process running.
#[derive(Debug)]
pub(super) struct Instance {
    runtime_api: Server,
    supervisor: JoinHandle<()>,
}

impl Instance {
    /// Serves the instance's Runtime API and starts its process (the `index`th of the
    /// function's, output to `log`), until `stop` turns true.
    pub(super) async fn start(
        function: Arc<Function>,
        index: usize,
        log: std::fs::File,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let current: Current = Arc::new(Mutex::new(None));
        let runtime_api =
            runtime_api::serve(Arc::clone(&function), Arc::clone(&current), stop.clone()).await?;
        let address = runtime_api.address().to_string();
        let mut child = spawn(&function.spec, index, &address, &log)?;
        let supervisor = tokio::spawn(async move {
            loop {
                tokio::select! {
                    status = child.wait() => {
                        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                        if let Some((id, reply)) = current.lock().await.take() {
                            let message =
                                format!("RequestId: {id} Error: Runtime exited with error: {status}");
                            let body = error_body("Runtime.ExitError", &message);
                            let _ = reply.send(Outcome::Error(body));
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        match spawn(&function.spec, index, &address, &log) {
                            Ok(next) => child = next,
                            Err(_) => break,
                        }
                    }
                    () = stopped(&mut stop) => {
                        let _ = child.kill().await;
                        break;
                    }
                }
            }
        });
        Ok(Self {
            runtime_api,
            supervisor,
        })
    }

    /// Waits for the process to be killed (the host's stop has turned true), then stops the
    /// Runtime API.
    pub(super) async fn stop(self) {
        let _ = self.supervisor.await;
        self.runtime_api.stop().await;
    }
}

/// Starts one process of `spec`, talking to the Runtime API at `runtime_api`.
fn spawn(
    spec: &FunctionSpec,
    index: usize,
    runtime_api: &str,
    log: &std::fs::File,
) -> anyhow::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(&spec.binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        )
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{index}"))
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .kill_on_drop(true);
    for passed in ["RUST_LOG", "RUST_BACKTRACE"] {
        if let Ok(value) = std::env::var(passed) {
            command.env(passed, value);
        }
    }
    command
        .spawn()
        .with_context(|| format!("starting {}", spec.binary.display()))
}
