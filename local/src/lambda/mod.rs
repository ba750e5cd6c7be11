//! Runs the real Lambda binaries as AWS does, in three parts: the [`invoke_api`] callers
//! reach, with AWS's error semantics (so the state machine's `Retry` and `Catch` see our
//! error names); the [`runtime_api`] that the `lambda_runtime` in each process polls
//! (`AWS_LAMBDA_RUNTIME_API`); and the [`instance`]s, processes kept running and held to
//! their function's limits as Lambda holds them: an invocation that overruns the timeout
//! has its process killed and fails as `Sandbox.Timedout`; a process whose resident memory
//! goes over the memory size is killed and its invocation fails as `Runtime.OutOfMemory`
//! (measured by [`memory`]); one that dies on its own fails its invocation as
//! `Runtime.ExitError`. Each time a fresh process takes the dead one's place. Every
//! invocation ends with Lambda's `START`/`END`/`REPORT` lines in the function's log, and
//! its [`InvocationReport`] is kept ([`LambdaHost::reports`]).

mod instance;
mod invoke_api;
mod memory;
mod report;
mod runtime_api;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use crate::server::Server;
use instance::Instance;
pub use report::{InvocationReport, InvocationStatus};

/// One Lambda function to host.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function name callers use (the last part of its ARN).
    pub name: String,
    /// The `bootstrap` binary.
    pub binary: PathBuf,
    /// The function's configuration, as CDK would set it.
    pub env: Vec<(String, String)>,
    /// The memory size: told to the function as `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, and
    /// enforced: a process whose peak resident memory during an invocation exceeds it is
    /// killed, and the invocation fails as `Runtime.OutOfMemory`.
    pub memory_mb: u32,
    /// How long an invocation may run, from the moment its process is handed it: past it
    /// the process is killed and the invocation fails as `Sandbox.Timedout`.
    pub timeout: Duration,
    /// How many instances serve invocations at once.
    pub instances: usize,
}

/// What an invocation produced: the function's response body, or its error body.
#[derive(Debug)]
enum Outcome {
    Response(Bytes),
    Error(Bytes),
}

/// An invocation on its way from the Invoke API to an instance.
#[derive(Debug)]
struct Invocation {
    id: String,
    payload: Bytes,
    reply: oneshot::Sender<Outcome>,
}

/// Every invocation's report, in the order they ended.
type Reports = Arc<std::sync::Mutex<Vec<InvocationReport>>>;

/// A hosted function: the Invoke API queues invocations, its instances take them in turn.
#[derive(Debug)]
struct Function {
    spec: FunctionSpec,
    arn: String,
    queue: mpsc::Sender<Invocation>,
    pending: Mutex<mpsc::Receiver<Invocation>>,
    /// `<log_dir>/<name>.log`, where its processes write too.
    log: std::fs::File,
    reports: Reports,
    /// Its processes, as they were started (ended ones included until they are pruned).
    processes: std::sync::Mutex<Vec<Arc<instance::Process>>>,
}

impl Function {
    /// Appends platform lines (`START`, `END`, `REPORT`, …) to the function's log, in one
    /// write so that they stay whole beside the processes' own output.
    fn log_line(&self, lines: &str) {
        let _ = (&self.log).write_all(lines.as_bytes());
    }
}

/// The running host: an Invoke API in front of every function's instances.
#[derive(Debug)]
pub struct LambdaHost {
    shutdown: watch::Sender<bool>,
    invoke_api: Server,
    instances: Vec<Instance>,
    reports: Reports,
    functions: HashMap<String, Arc<Function>>,
}

impl LambdaHost {
    /// Serves the Invoke API on `invoke_listener` (from [`crate::server::loopback`]) and
    /// starts every instance; their output, and the host's `START`/`END`/`REPORT` lines for
    /// every invocation, go to `log_dir/<name>.log`.
    pub async fn start(
        invoke_listener: TcpListener,
        specs: Vec<FunctionSpec>,
        log_dir: PathBuf,
    ) -> anyhow::Result<Self> {
        let (shutdown, stop) = watch::channel(false);
        tokio::fs::create_dir_all(&log_dir).await?;
        let mut functions = HashMap::new();
        let mut instances = Vec::new();
        let reports = Reports::default();
        for spec in specs {
            anyhow::ensure!(
                spec.binary.is_file(),
                "Lambda binary {} is missing: build it with `cargo build --workspace --bins`",
                spec.binary.display()
            );
            let (queue, receiver) = mpsc::channel(1024);
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_dir.join(format!("{}.log", spec.name)))?;
            let function = Arc::new(Function {
                arn: format!(
                    "arn:aws:lambda:us-east-1:123456789012:function:{}",
                    spec.name
                ),
                spec,
                queue,
                pending: Mutex::new(receiver),
                log,
                reports: Arc::clone(&reports),
                processes: std::sync::Mutex::default(),
            });
            for index in 0..function.spec.instances {
                instances.push(Instance::start(Arc::clone(&function), index, stop.clone()).await?);
            }
            functions.insert(function.spec.name.clone(), function);
        }
        let invoke_api = invoke_api::serve(invoke_listener, functions.clone())?;
        Ok(Self {
            shutdown,
            invoke_api,
            instances,
            reports,
            functions,
        })
    }

    /// Kills (SIGKILL) every process of `function` that is running an invocation, as a
    /// crash would: its invocation fails `Runtime.ExitError` and a fresh process takes its
    /// place. Returns how many were killed.
    pub fn crash(&self, function: &str) -> anyhow::Result<usize> {
        let function = self
            .functions
            .get(function)
            .with_context(|| format!("no function {function}"))?;
        let mut processes = function
            .processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        processes.retain(|process| !process.is_ended());
        let mut killed = 0;
        for process in processes.iter().filter(|p| p.lock().is_some()) {
            let status = std::process::Command::new("kill")
                .args(["-KILL", &process.pid.to_string()])
                .status()
                .context("running kill")?;
            anyhow::ensure!(status.success(), "kill -KILL {} failed", process.pid);
            killed += 1;
        }
        Ok(killed)
    }

    /// Every invocation that has ended so far, in the order they ended.
    pub fn reports(&self) -> Vec<InvocationReport> {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops every instance, then the servers.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for instance in self.instances {
            instance.stop().await;
        }
        self.invoke_api.stop().await;
    }
}

/// A Lambda error body, `{errorType, errorMessage}`.
fn error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string())
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
