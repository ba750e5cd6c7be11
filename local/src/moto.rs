//! moto server as AWS (S3, Secrets Manager, Step Functions, EventBridge, SQS), started from
//! the project's venv and told to execute state machines, sending Lambda tasks to our
//! Invoke API. moto runs with the local stack's extension loaded (`local/moto_redrive/`,
//! through the launcher `local/moto_server.py`): Step Functions' RedriveExecution, which moto
//! lacks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The launcher: moto's server, as `moto_server` runs it, after installing `moto_redrive`.
pub const LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/moto_server.py");

/// The running moto server.
#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    child: tokio::process::Child,
}

impl Moto {
    /// Starts moto on a free port, with the venv's Python (the `python` beside
    /// `moto_server`) running [`LAUNCHER`] with `moto_server`'s arguments; Lambda
    /// invocations go to `invoke_port`.
    pub async fn start(moto_server: &Path, invoke_port: u16, log: &Path) -> anyhow::Result<Self> {
        const SETUP: &str = "create the venv with `python3 -m venv .venv && .venv/bin/pip install -r local/requirements.txt`";
        anyhow::ensure!(
            moto_server.is_file(),
            "{} is missing: {SETUP}",
            moto_server.display()
        );
        let python = venv_python(moto_server);
        anyhow::ensure!(
            python.is_file(),
            "{} is missing (moto's launcher runs with the Python of {}'s venv): {SETUP}",
            python.display(),
            moto_server.display()
        );
        let launcher = Path::new(LAUNCHER);
        anyhow::ensure!(
            launcher.is_file(),
            "{} is missing: moto's launcher (with the RedriveExecution extension in local/moto_redrive/) belongs to this checkout",
            launcher.display()
        );
        let port = free_port()?;
        let log_path = log;
        let log = std::fs::File::create(log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = tokio::process::Command::new(&python)
            .arg(launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // moto's Step Functions interpreter invokes Lambda at localhost:$MOTO_PORT.
            .env("MOTO_PORT", invoke_port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), launcher.display()))?;
        let address = format!("127.0.0.1:{port}");
        let mut moto = Self {
            endpoint: format!("http://{address}"),
            child,
        };
        let started = Instant::now();
        let config =
            r#"{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}"#;
        loop {
            match crate::http::post(&address, "/moto-api/config", config).await {
                Ok((200..=299, _)) => return Ok(moto),
                Ok((status, body)) => anyhow::bail!(
                    "moto refused its configuration ({status}): {}",
                    String::from_utf8_lossy(&body)
                ),
                Err(_) if started.elapsed() < Duration::from_secs(60) => {
                    if let Some(status) = moto.child.try_wait()? {
                        anyhow::bail!(
                            "moto exited at start ({status}); the end of {}:\n{}",
                            log_path.display(),
                            log_tail(log_path)
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => {
                    return Err(err.context(format!(
                        "moto did not start within 60 s (its output is in {})",
                        log_path.display()
                    )));
                }
            }
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The venv's Python: the `python` in the folder holding `moto_server`.
fn venv_python(moto_server: &Path) -> PathBuf {
    moto_server.with_file_name("python")
}

/// The last lines of moto's log (a Python traceback, say), for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
