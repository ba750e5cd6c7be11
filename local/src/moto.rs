//! moto server as AWS (S3, Secrets Manager, Step Functions, EventBridge, SQS), started from
//! the project's venv and told to execute state machines, sending Lambda tasks to our
//! Invoke API.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The running moto server.
#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    child: tokio::process::Child,
}

impl Moto {
    /// Starts `moto_server` on a free port; Lambda invocations go to `invoke_port`.
    pub async fn start(moto_server: &Path, invoke_port: u16, log: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            moto_server.is_file(),
            "{} is missing: create the venv with `python3 -m venv .venv && .venv/bin/pip install -r local/requirements.txt`",
            moto_server.display()
        );
        let port = free_port()?;
        let log = std::fs::File::create(log)?;
        let child = tokio::process::Command::new(moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // moto's Step Functions interpreter invokes Lambda at localhost:$MOTO_PORT.
            .env("MOTO_PORT", invoke_port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", moto_server.display()))?;
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
                        anyhow::bail!("moto_server exited at start ({status})");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => return Err(err.context("moto_server did not start within 60 s")),
            }
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
