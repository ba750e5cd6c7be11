//! The host against a function that misbehaves on demand: this test binary itself, run
//! as a Lambda process (a two-line `bootstrap` script execs it with only
//! [`misbehaving_function`] selected), polling the host's Runtime API with the real
//! `lambda_runtime`. Every invocation goes through the Invoke API over HTTP.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

use super::{FunctionSpec, InvocationReport, InvocationStatus, LambdaHost};
use crate::server;

const NAME: &str = "misbehave";

/// The function the tests host, run only as a Lambda process (the host sets
/// `AWS_LAMBDA_RUNTIME_API`). By payload: `{"sleep_ms": N}` sleeps, `{"allocate_mb": N}`
/// allocates and touches N MB (freed when it answers), `{"exit": code}` exits,
/// `{"fail": message}` returns an error; then it answers `{"echo": <the payload's echo>,
/// "pid": <its process id>}`.
#[tokio::test]
#[ignore = "a Lambda function for the other tests, not a test"]
async fn misbehaving_function() {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return;
    }
    let _ = lambda_runtime::run(service_fn(misbehave)).await;
}

async fn misbehave(event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    let payload = event.payload;
    if let Some(ms) = payload["sleep_ms"].as_u64() {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(mb) = payload["allocate_mb"].as_u64() {
        let mut memory = vec![0_u8; usize::try_from(mb)? << 20];
        for page in memory.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(&mut memory);
    }
    if let Some(code) = payload["exit"].as_i64() {
        std::process::exit(i32::try_from(code)?);
    }
    if let Some(message) = payload["fail"].as_str() {
        return Err(message.into());
    }
    Ok(json!({"echo": payload["echo"], "pid": std::process::id()}))
}

/// A host running [`misbehaving_function`] as `misbehave`, one instance.
struct Hosted {
    host: LambdaHost,
    address: String,
    logs: tempfile::TempDir,
    _bin: tempfile::TempDir,
}

impl Hosted {
    async fn start(memory_mb: u32, timeout: Duration) -> Self {
        let bin = tempfile::tempdir().expect("temp dir");
        let bootstrap = bin.path().join("bootstrap");
        let exe = std::env::current_exe().expect("test binary");
        std::fs::write(
            &bootstrap,
            format!(
                "#!/bin/sh\nexec '{}' --exact lambda::tests::misbehaving_function --ignored --nocapture -q\n",
                exe.display()
            ),
        )
        .expect("writes bootstrap");
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let logs = tempfile::tempdir().expect("temp dir");
        let spec = FunctionSpec {
            name: NAME.into(),
            binary: bootstrap,
            env: Vec::new(),
            memory_mb,
            timeout,
            instances: 1,
        };
        // Another test forking while this one wrote its bootstrap holds it open for writing
        // for a moment, and exec fails with ETXTBSY: try again.
        let mut attempts = 0;
        let (host, address) = loop {
            let listener = server::loopback().await.expect("binds");
            let address = listener.local_addr().expect("address").to_string();
            match LambdaHost::start(listener, vec![spec.clone()], logs.path().to_path_buf()).await {
                Ok(host) => break (host, address),
                Err(error) if attempts < 20 && format!("{error:#}").contains("busy") => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("host starts: {error:#}"),
            }
        };
        Self {
            host,
            address,
            logs,
            _bin: bin,
        }
    }

    async fn invoke(&self, payload: &Value) -> Invoked {
        let stream = tokio::net::TcpStream::connect(&self.address)
            .await
            .expect("connects");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let request = Request::post(format!("/2015-03-31/functions/{NAME}/invocations"))
            .header("host", &self.address)
            .body(Full::new(Bytes::from(payload.to_string())))
            .expect("request");
        let response = sender.send_request(request).await.expect("answered");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let (function_error, request_id) = (
            header("x-amz-function-error"),
            header("x-amzn-requestid").expect("a request id"),
        );
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Invoked {
            status,
            function_error,
            request_id,
            body: serde_json::from_slice(&body).expect("a JSON body"),
        }
    }

    /// The one report of invocation `id`.
    fn report(&self, id: &str) -> InvocationReport {
        let reports: Vec<_> = self
            .host
            .reports()
            .into_iter()
            .filter(|report| report.request_id == id)
            .collect();
        assert_eq!(reports.len(), 1, "one report for {id}: {reports:?}");
        reports.into_iter().next().expect("one report")
    }

    /// The function's log's `REPORT` lines for invocation `id`.
    fn report_lines(&self, id: &str) -> Vec<String> {
        let log = std::fs::read_to_string(self.log_path()).expect("the function's log");
        let prefix = format!("REPORT RequestId: {id}\t");
        log.lines()
            .filter(|line| line.starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    }

    fn log_path(&self) -> PathBuf {
        self.logs.path().join(format!("{NAME}.log"))
    }

    /// Invokes `{"echo": ...}` and returns the answering process's id.
    async fn echo_pid(&self) -> u32 {
        let echoed = self.invoke(&json!({"echo": "ping"})).await;
        assert_eq!(
            (echoed.status, echoed.function_error.as_deref()),
            (200, None),
            "{:?}",
            echoed.body
        );
        assert_eq!(echoed.body["echo"], "ping");
        u32::try_from(echoed.body["pid"].as_u64().expect("a pid")).expect("a pid")
    }
}

#[derive(Debug)]
struct Invoked {
    status: u16,
    function_error: Option<String>,
    request_id: String,
    body: Value,
}

impl Invoked {
    fn assert_failed(&self, error_type: &str) {
        assert_eq!(self.status, 200, "function errors are HTTP 200");
        assert_eq!(self.function_error.as_deref(), Some("Unhandled"));
        assert_eq!(self.body["errorType"], error_type, "{:?}", self.body);
    }
}

/// The fields of a `REPORT` line.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split('\t')
        .map(|field| {
            let (name, value) = field.split_once(": ").expect("name: value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn is_running(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn a_normal_invocation_has_one_report_in_the_log_and_in_memory() {
    let hosted = Hosted::start(512, Duration::from_secs(10)).await;
    let payload = json!({"echo": "hello", "key": "dropbox/2024/IMG_0001.HEIC"});
    let invoked = hosted.invoke(&payload).await;
    assert_eq!(
        (invoked.status, invoked.function_error.as_deref()),
        (200, None)
    );
    assert_eq!(invoked.body["echo"], "hello");

    let report = hosted.report(&invoked.request_id);
    assert_eq!(report.function, NAME);
    assert_eq!(report.status, InvocationStatus::Success);
    assert_eq!(report.error_type, None);
    assert_eq!(
        report.payload, payload,
        "the input, to attribute it to its photo"
    );
    assert!(report.duration_ms > 0.0, "{report:?}");
    let billed = report.billed_ms as f64;
    assert!(
        billed >= report.duration_ms && billed < report.duration_ms + 1.0,
        "billed is the duration rounded up: {report:?}"
    );
    assert_eq!(report.memory_mb, 512);
    assert!(
        report.max_memory_used_mb > 0 && report.max_memory_used_mb < 512,
        "{report:?}"
    );

    let lines = hosted.report_lines(&invoked.request_id);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        fields(&lines[0]),
        [
            ("REPORT RequestId", invoked.request_id.clone()),
            ("Duration", format!("{:.2} ms", report.duration_ms)),
            ("Billed Duration", format!("{} ms", report.billed_ms)),
            ("Memory Size", "512 MB".to_owned()),
            (
                "Max Memory Used",
                format!("{} MB", report.max_memory_used_mb)
            ),
        ]
        .map(|(name, value)| (name.to_owned(), value))
    );
    let log = std::fs::read_to_string(hosted.log_path()).expect("log");
    let start = format!("START RequestId: {} Version: $LATEST", invoked.request_id);
    let end = format!("END RequestId: {}", invoked.request_id);
    assert!(log.contains(&start) && log.contains(&end), "{log}");

    // A function's own error is a completed invocation: no Status in its REPORT.
    let failed = hosted.invoke(&json!({"fail": "not a photo"})).await;
    assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(failed.body["errorMessage"], "not a photo");
    let report = hosted.report(&failed.request_id);
    assert_eq!(report.status, InvocationStatus::Error);
    assert_eq!(
        report.error_type.as_deref(),
        failed.body["errorType"].as_str()
    );
    let lines = hosted.report_lines(&failed.request_id);
    assert_eq!(lines.len(), 1);
    assert!(!lines[0].contains("Status"), "{}", lines[0]);
    assert_eq!(hosted.host.reports().len(), 2);
    hosted.host.stop().await;
}

#[tokio::test]
async fn an_invocation_over_the_memory_size_fails_out_of_memory_and_a_new_process_serves_the_next()
{
    let hosted = Hosted::start(128, Duration::from_secs(30)).await;
    let first = hosted.echo_pid().await;

    let invoked = hosted.invoke(&json!({"allocate_mb": 300})).await;
    invoked.assert_failed("Runtime.OutOfMemory");
    assert_eq!(
        invoked.body["errorMessage"],
        format!(
            "RequestId: {} Error: Runtime exited with error: signal: killed",
            invoked.request_id
        )
    );
    let report = hosted.report(&invoked.request_id);
    assert_eq!(report.status, InvocationStatus::OutOfMemory);
    assert_eq!(report.memory_mb, 128);
    assert!(
        report.max_memory_used_mb > 128 && report.max_memory_used_mb < 300,
        "killed once over 128 MB, before it had its 300: {report:?}"
    );
    let lines = hosted.report_lines(&invoked.request_id);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].ends_with("\tStatus: error\tError Type: Runtime.OutOfMemory"),
        "{}",
        lines[0]
    );

    let second = hosted.echo_pid().await;
    assert_ne!(first, second, "a fresh process");
    assert!(!is_running(first), "the process over its memory was killed");
    hosted.host.stop().await;
}

#[tokio::test]
async fn memory_used_is_each_invocations_own_peak() {
    let hosted = Hosted::start(256, Duration::from_secs(30)).await;
    let big = hosted.invoke(&json!({"allocate_mb": 100})).await;
    assert_eq!(big.function_error, None, "{:?}", big.body);
    let small = hosted.invoke(&json!({"echo": "small"})).await;
    assert_eq!(small.function_error, None, "{:?}", small.body);
    assert_eq!(big.body["pid"], small.body["pid"], "the same process");
    let (big, small) = (
        hosted.report(&big.request_id),
        hosted.report(&small.request_id),
    );
    assert!(
        (100..256).contains(&big.max_memory_used_mb),
        "100 MB touched: {big:?}"
    );
    assert!(
        small.max_memory_used_mb + 50 < big.max_memory_used_mb,
        "the peak was reset for the next invocation: {small:?} after {big:?}"
    );
    hosted.host.stop().await;
}

#[tokio::test]
async fn an_invocation_past_its_timeout_fails_sandbox_timedout_and_its_process_is_replaced() {
    let hosted = Hosted::start(256, Duration::from_secs(1)).await;
    let first = hosted.echo_pid().await;

    let began = Instant::now();
    // It would answer at 3 s, had it not been killed at 1 s.
    let invoked = hosted.invoke(&json!({"sleep_ms": 3000})).await;
    let waited = began.elapsed();
    invoked.assert_failed("Sandbox.Timedout");
    assert_eq!(
        invoked.body["errorMessage"],
        format!(
            "RequestId: {} Error: Task timed out after 1.00 seconds",
            invoked.request_id
        )
    );
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(2),
        "failed at the timeout: {waited:?}"
    );
    let report = hosted.report(&invoked.request_id);
    assert_eq!(report.status, InvocationStatus::Timeout);
    assert!(
        report.duration_ms >= 1000.0 && report.duration_ms < 1500.0,
        "{report:?}"
    );
    let lines = hosted.report_lines(&invoked.request_id);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].ends_with("\tStatus: timeout"), "{}", lines[0]);

    let second = hosted.echo_pid().await;
    assert_ne!(first, second, "a fresh process");
    assert!(!is_running(first), "the timed-out process was killed");
    // Past the moment the killed process would have answered: still the one report.
    tokio::time::sleep_until((began + Duration::from_millis(3300)).into()).await;
    assert_eq!(
        hosted.report(&invoked.request_id).status,
        InvocationStatus::Timeout
    );
    hosted.host.stop().await;
}

#[tokio::test]
async fn a_process_that_exits_fails_its_invocation_as_runtime_exit_error() {
    let hosted = Hosted::start(256, Duration::from_secs(10)).await;
    let invoked = hosted.invoke(&json!({"exit": 3})).await;
    invoked.assert_failed("Runtime.ExitError");
    assert_eq!(
        invoked.body["errorMessage"],
        format!(
            "RequestId: {} Error: Runtime exited with error: exit status: 3",
            invoked.request_id
        )
    );
    let report = hosted.report(&invoked.request_id);
    assert_eq!(report.status, InvocationStatus::Error);
    assert_eq!(report.error_type.as_deref(), Some("Runtime.ExitError"));
    let lines = hosted.report_lines(&invoked.request_id);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].ends_with("\tStatus: error\tError Type: Runtime.ExitError"),
        "{}",
        lines[0]
    );
    hosted.echo_pid().await;
    hosted.host.stop().await;
}
