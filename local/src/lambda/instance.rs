//! One instance of a function: a process at a time, started with the environment Lambda
//! gives a function (`AWS_LAMBDA_RUNTIME_API` naming the process's own Runtime API, the
//! memory size, the function's settings), and held to the function's limits by a watchdog
//! while an invocation runs: it reads the process's peak resident memory every
//! [`memory::POLL`] and kills the process (SIGKILL) once it exceeds the memory size
//! (`Runtime.OutOfMemory`) or once the invocation overruns the timeout (`Sandbox.Timedout`).
//! A process that dies on its own fails its invocation as `Runtime.ExitError`. Whichever way
//! a process ends, a fresh one, with a Runtime API of its own, takes its place.
//!
//! Every process has its own Runtime API so that nothing a replaced process sent can reach
//! its successor; and the invocation is taken from a process, and the process marked ended,
//! under the lock its Runtime API answers under, before it is killed: a late response is
//! refused, and a killed process is never handed another invocation.

use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::Child;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::report::{End, Running};
use super::{Function, FunctionSpec, memory, runtime_api, stopped};
use crate::server::{self, Server};

/// How long a dead process's place stays empty (so that one dying at start-up does not
/// spin), and how long between attempts when a process cannot be started.
const RESTART_PAUSE: Duration = Duration::from_millis(200);
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A running instance: the task that keeps a process running.
#[derive(Debug)]
pub(super) struct Instance {
    supervisor: JoinHandle<()>,
}

/// One process, as its Runtime API and its watchdog share it.
#[derive(Debug)]
pub(super) struct Process {
    pub(super) pid: u32,
    /// The invocation it is working on.
    running: Mutex<Option<Running>>,
    /// Told when the process is handed an invocation, for the watchdog to watch it.
    pub(super) started: Notify,
    /// Turns true when the process is being replaced; from then on its Runtime API accepts
    /// nothing from it. Set with [`Process::lock`] held.
    pub(super) ended: watch::Sender<bool>,
}

impl Process {
    fn new(pid: u32) -> Self {
        Self {
            pid,
            running: Mutex::new(None),
            started: Notify::new(),
            ended: watch::Sender::new(false),
        }
    }

    /// The process's current invocation, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the process is being replaced.
    pub(super) fn is_ended(&self) -> bool {
        *self.ended.borrow()
    }

    /// Resolves once the process is marked ended.
    pub(super) async fn until_ended(&self) {
        let _ = self.ended.subscribe().wait_for(|ended| *ended).await;
    }
}

/// A process with its Runtime API.
#[derive(Debug)]
struct Generation {
    process: Arc<Process>,
    child: Child,
    runtime_api: Server,
}

impl Instance {
    /// Starts the instance's first process (the `index`th of the function's) and keeps one
    /// running until `stop` turns true.
    pub(super) async fn start(
        function: Arc<Function>,
        index: usize,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let first = launch(&function, index, &stop).await?;
        let supervisor = tokio::spawn(supervise(function, index, first, stop));
        Ok(Self { supervisor })
    }

    /// Waits for the process to be killed (the host's stop has turned true) and its Runtime
    /// API to stop.
    pub(super) async fn stop(self) {
        let _ = self.supervisor.await;
    }
}

/// Keeps a process running: watches each until it is gone, then starts the next.
async fn supervise(
    function: Arc<Function>,
    index: usize,
    mut generation: Generation,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stopping = watch_process(&function, &mut generation, &mut stop).await;
        if stopping {
            generation.runtime_api.stop().await;
            return;
        }
        // The dead process's Runtime API stops without waiting: there is nobody to answer.
        drop(generation.runtime_api);
        let mut pause = RESTART_PAUSE;
        generation = loop {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stopped(&mut stop) => return,
            }
            match launch(&function, index, &stop).await {
                Ok(next) => break next,
                Err(error) => {
                    function.log_line(&format!(
                        "local Lambda host: cannot start a new process: {error:#}\n"
                    ));
                    pause = RETRY_PAUSE;
                }
            }
        };
    }
}

/// Watches one process until it is gone (dead and reaped), killing it when its invocation
/// overruns the timeout or its memory goes over the memory size, or when its Runtime API
/// has ended it. True if the host is stopping.
async fn watch_process(
    function: &Function,
    generation: &mut Generation,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let process = Arc::clone(&generation.process);
    let child = &mut generation.child;
    let limit_kb = u64::from(function.spec.memory_mb) * 1024;
    loop {
        // While an invocation runs: the next look at its memory, or its deadline if sooner.
        let wake = process
            .lock()
            .as_ref()
            .map(|running| running.deadline.min(Instant::now() + memory::POLL));
        tokio::select! {
            status = child.wait() => {
                let reason = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                let mut running = process.lock();
                process.ended.send_replace(true);
                if let Some(running) = running.take() {
                    let end = End::Exited(format!("Runtime exited with error: {reason}"));
                    running.finish(function, end);
                }
                return false;
            }
            // Its Runtime API found it over its memory when it answered.
            () = process.until_ended() => {
                let _ = child.kill().await;
                return false;
            }
            () = process.started.notified(), if wake.is_none() => {}
            () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now).into()), if wake.is_some() => {
                let peak = memory::peak_kb(process.pid);
                {
                    let mut running = process.lock();
                    let Some(current) = running.as_mut() else {
                        continue;
                    };
                    current.peak_kb = current.peak_kb.max(peak.unwrap_or(0));
                    let end = if current.peak_kb > limit_kb {
                        End::OutOfMemory
                    } else if Instant::now() >= current.deadline {
                        End::Timeout
                    } else {
                        continue;
                    };
                    // Under the lock its Runtime API answers under: its answer is refused
                    // from here on, and SIGKILL is sent before that refusal can reach it.
                    process.ended.send_replace(true);
                    let _ = child.start_kill();
                    if let Some(current) = running.take() {
                        current.finish(function, end);
                    }
                }
                let _ = child.wait().await;
                return false;
            }
            () = stopped(stop) => {
                let _ = child.kill().await;
                return true;
            }
        }
    }
}

/// Starts one process of `function` with a Runtime API of its own.
async fn launch(
    function: &Arc<Function>,
    index: usize,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Generation> {
    // The port is bound first: the process connects to it, and waits in its backlog until
    // the Runtime API, which needs the process's id, serves it.
    let listener = server::loopback().await?;
    let address = listener.local_addr()?.to_string();
    let child = spawn(&function.spec, index, &address, &function.log)?;
    let pid = child.id().context("the new process has no id")?;
    let process = Arc::new(Process::new(pid));
    function
        .processes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::clone(&process));
    let runtime_api = runtime_api::serve(
        listener,
        Arc::clone(function),
        Arc::clone(&process),
        stop.clone(),
    )?;
    Ok(Generation {
        process,
        child,
        runtime_api,
    })
}

/// Starts one process of `spec`, talking to the Runtime API at `runtime_api`.
fn spawn(
    spec: &FunctionSpec,
    index: usize,
    runtime_api: &str,
    log: &std::fs::File,
) -> anyhow::Result<Child> {
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
