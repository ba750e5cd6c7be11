//! Runs the real Lambda binaries as AWS does: each instance is a process whose
//! `lambda_runtime` talks to a Runtime API we serve (`AWS_LAMBDA_RUNTIME_API`), and callers
//! reach them through an Invoke API with AWS's error semantics: HTTP 200 with
//! `X-Amz-Function-Error` and the function's `{errorType, errorMessage}` body, so the state
//! machine's `Retry` and `Catch` see our error names. An instance that dies is reported as
//! `Runtime.ExitError` and started again; one that overruns its timeout as `Sandbox.Timedout`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use crate::http::{self, Reply};
use crate::server::{self, Server};

/// One Lambda function to host.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function name callers use (the last part of its ARN).
    pub name: String,
    /// The `bootstrap` binary.
    pub binary: PathBuf,
    /// The function's configuration, as CDK would set it.
    pub env: Vec<(String, String)>,
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

#[derive(Debug)]
struct Invocation {
    id: String,
    payload: Bytes,
    deadline_ms: u128,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Debug)]
struct Function {
    spec: FunctionSpec,
    arn: String,
    queue: mpsc::Sender<Invocation>,
    pending: Arc<Mutex<mpsc::Receiver<Invocation>>>,
}

/// The running host: an Invoke API in front of every function's instances.
#[derive(Debug)]
pub struct LambdaHost {
    shutdown: watch::Sender<bool>,
    invoke_api: Server,
    instances: Vec<Instance>,
}

/// One instance: its Runtime API and the task that keeps its process running.
#[derive(Debug)]
struct Instance {
    runtime_api: Server,
    supervisor: tokio::task::JoinHandle<()>,
}

impl LambdaHost {
    /// Serves the Invoke API on `invoke_listener` (from [`server::loopback`]) and starts
    /// every instance; their output goes to `log_dir/<name>.log`.
    pub async fn start(
        invoke_listener: TcpListener,
        specs: Vec<FunctionSpec>,
        log_dir: PathBuf,
    ) -> anyhow::Result<Self> {
        let (shutdown, stop) = watch::channel(false);
        tokio::fs::create_dir_all(&log_dir).await?;
        let mut functions = HashMap::new();
        let mut instances = Vec::new();
        for spec in specs {
            anyhow::ensure!(
                spec.binary.is_file(),
                "Lambda binary {} is missing: build it with `cargo build --workspace --bins`",
                spec.binary.display()
            );
            let (queue, receiver) = mpsc::channel(1024);
            let function = Arc::new(Function {
                arn: format!(
                    "arn:aws:lambda:us-east-1:123456789012:function:{}",
                    spec.name
                ),
                spec,
                queue,
                pending: Arc::new(Mutex::new(receiver)),
            });
            for index in 0..function.spec.instances {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log_dir.join(format!("{}.log", function.spec.name)))?;
                instances
                    .push(start_instance(Arc::clone(&function), index, log, stop.clone()).await?);
            }
            functions.insert(function.spec.name.clone(), function);
        }
        let functions = Arc::new(functions);
        let next_id = Arc::new(AtomicU64::new(1));
        let invoke_api = Server::serve(
            invoke_listener,
            http::service(move |request| {
                invoke(Arc::clone(&functions), Arc::clone(&next_id), request)
            }),
        )?;
        Ok(Self {
            shutdown,
            invoke_api,
            instances,
        })
    }

    /// Stops every instance, then the servers.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for instance in self.instances {
            let _ = instance.supervisor.await;
            instance.runtime_api.stop().await;
        }
        self.invoke_api.stop().await;
    }
}

fn error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string())
}

/// `POST /2015-03-31/functions/{name or ARN}/invocations`.
async fn invoke(
    functions: Arc<HashMap<String, Arc<Function>>>,
    next_id: Arc<AtomicU64>,
    request: Request<Incoming>,
) -> Reply {
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
    let Some(function) = functions.get(bare) else {
        let body =
            serde_json::json!({"Type": "User", "message": format!("Function not found: {name}")})
                .to_string();
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
        next_id.fetch_add(1, Ordering::Relaxed)
    );
    let timeout = function.spec.timeout;
    let deadline_ms = (SystemTime::now() + timeout)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let (reply, outcome) = oneshot::channel();
    let invocation = Invocation {
        id: id.clone(),
        payload,
        deadline_ms,
        reply,
    };
    if function.queue.send(invocation).await.is_err() {
        return http::reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &[("x-amzn-ErrorType", "ServiceException")],
            "host stopping",
        );
    }
    let unhandled = [
        ("X-Amz-Function-Error", "Unhandled"),
        ("X-Amz-Executed-Version", "$LATEST"),
    ];
    match tokio::time::timeout(timeout, outcome).await {
        Ok(Ok(Outcome::Response(body))) => http::reply(
            StatusCode::OK,
            &[("X-Amz-Executed-Version", "$LATEST")],
            body,
        ),
        Ok(Ok(Outcome::Error(body))) => http::reply(StatusCode::OK, &unhandled, body),
        Ok(Err(_)) => http::reply(
            StatusCode::OK,
            &unhandled,
            error_body(
                "Runtime.ExitError",
                &format!("RequestId: {id} Error: Runtime exited without a response"),
            ),
        ),
        Err(_) => http::reply(
            StatusCode::OK,
            &unhandled,
            error_body(
                "Sandbox.Timedout",
                &format!(
                    "RequestId: {id} Error: Task timed out after {:.2} seconds",
                    timeout.as_secs_f64()
                ),
            ),
        ),
    }
}

/// The invocation an instance is working on.
type Current = Arc<Mutex<Option<(String, oneshot::Sender<Outcome>)>>>;

/// Serves one instance's Runtime API and keeps its process running.
async fn start_instance(
    function: Arc<Function>,
    index: usize,
    log: std::fs::File,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Instance> {
    let current: Current = Arc::new(Mutex::new(None));
    let runtime_api = {
        let (function, current, stop) = (Arc::clone(&function), Arc::clone(&current), stop.clone());
        Server::serve(
            server::loopback().await?,
            http::service(move |request| {
                runtime_api_call(
                    Arc::clone(&function),
                    Arc::clone(&current),
                    stop.clone(),
                    request,
                )
            }),
        )?
    };
    let address = runtime_api.address().to_string();
    let mut child = spawn(&function.spec, index, &address, &log)?;
    let supervisor = tokio::spawn(async move {
        loop {
            tokio::select! {
                status = child.wait() => {
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    if let Some((id, reply)) = current.lock().await.take() {
                        let message = format!("RequestId: {id} Error: Runtime exited with error: {status}");
                        let _ = reply.send(Outcome::Error(error_body("Runtime.ExitError", &message)));
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
    Ok(Instance {
        runtime_api,
        supervisor,
    })
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

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
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
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

/// The Runtime API (2018-06-01) as `lambda_runtime` uses it.
async fn runtime_api_call(
    function: Arc<Function>,
    current: Current,
    mut stop: watch::Receiver<bool>,
    request: Request<Incoming>,
) -> Reply {
    let path = request.uri().path().to_owned();
    let accepted = || http::reply(StatusCode::ACCEPTED, &[], r#"{"status":"OK"}"#);
    if path == "/2018-06-01/runtime/invocation/next" {
        let next = async { function.pending.lock().await.recv().await };
        let invocation = tokio::select! {
            invocation = next => invocation,
            () = stopped(&mut stop) => None,
        };
        let Some(invocation) = invocation else {
            return http::reply(StatusCode::GONE, &[], "stopping");
        };
        *current.lock().await = Some((invocation.id.clone(), invocation.reply));
        let deadline = invocation.deadline_ms.to_string();
        return http::reply(
            StatusCode::OK,
            &[
                ("content-type", "application/json"),
                ("lambda-runtime-aws-request-id", &invocation.id),
                ("lambda-runtime-deadline-ms", &deadline),
                ("lambda-runtime-invoked-function-arn", &function.arn),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0",
                ),
            ],
            invocation.payload,
        );
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
    let mut slot = current.lock().await;
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
