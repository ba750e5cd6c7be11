//! The provider against a moto server standing in for Wasabi's bucket API (CreateBucket with
//! Object Lock, Put/GetObjectLockConfiguration, GetBucketVersioning, which the
//! credential-checking stand-in does not implement), with the setup key read from moto's
//! Secrets Manager as in a deploy, and the local stack's fault proxy between the provider and
//! moto's S3 recording every request the provider sent. moto is started here rather than by
//! `photopipe_local::moto` because its GetBucketVersioning answer needs the fix in
//! `tests/moto_wasabi.py`.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_s3::types::{BucketVersioningStatus, ObjectLockEnabled, ObjectLockRetentionMode};
use photopipe::settings::{WasabiKey, WasabiSettings};
use photopipe::wasabi::Wasabi;
use photopipe_local::fault_proxy::FaultProxy;
use photopipe_local::moto::free_port;
use photopipe_local::stack::workspace_root;
use wasabi_bucket::event::{ProviderEvent, ProviderResponse};
use wasabi_bucket::handler::{self, BucketError, Dependencies};

const REGION: &str = "eu-central-2";

/// moto's server, run by the venv's Python through `tests/moto_wasabi.py` (moto_server with
/// GetBucketVersioning answered as S3 answers it).
struct MotoServer {
    endpoint: String,
    _child: tokio::process::Child,
}

impl MotoServer {
    async fn start(log: &std::path::Path) -> anyhow::Result<Self> {
        let moto_server = std::env::var_os("PHOTOPIPE_MOTO_SERVER").map_or_else(
            || workspace_root().join(".venv/bin/moto_server"),
            std::path::PathBuf::from,
        );
        let python = moto_server.with_file_name("python");
        anyhow::ensure!(
            python.is_file(),
            "{} is missing: create the venv (scripts/env.sh ensure_venv)",
            python.display()
        );
        let port = free_port()?;
        let log = std::fs::File::create(log)?;
        let child = tokio::process::Command::new(&python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/moto_wasabi.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting moto")?;
        let address = format!("127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while photopipe_local::http::post(&address, "/moto-api/reset", "")
            .await
            .is_err()
        {
            anyhow::ensure!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "moto did not start within 60 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Ok(Self {
            endpoint: format!("http://{address}"),
            _child: child,
        })
    }
}

/// moto, the fault proxy in front of its S3, the provider's dependencies, and a client that
/// looks at moto directly.
struct Setup {
    _moto: MotoServer,
    proxy: FaultProxy,
    dependencies: Dependencies,
    s3: aws_sdk_s3::Client,
    _logs: tempfile::TempDir,
}

async fn setup() -> anyhow::Result<Setup> {
    let logs = tempfile::tempdir()?;
    let moto = MotoServer::start(&logs.path().join("moto.log")).await?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let secret = WasabiKey::Setup.default_secret_name();
    aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name(secret)
        .secret_string(r#"{"WASABI_ACCESS":"SETUPKEY","WASABI_SECRET":"setup-secret"}"#)
        .send()
        .await
        .context("creating the setup key's secret")?;
    let proxy = FaultProxy::start(&moto.endpoint, 0x5eed_b0c7).await?;
    let settings = WasabiSettings {
        endpoint: proxy.endpoint.clone(),
        region: REGION.into(),
        bucket: "unused-by-the-provider".into(),
        secret_name: secret.into(),
    };
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws)
            .force_path_style(true)
            .build(),
    );
    Ok(Setup {
        dependencies: Dependencies {
            wasabi: Wasabi::new(&settings, &aws),
            region: REGION.into(),
        },
        _moto: moto,
        proxy,
        s3,
        _logs: logs,
    })
}

fn event(request: &str, bucket: &str, mode: &str, days: &str) -> ProviderEvent {
    serde_json::from_value(serde_json::json!({
        "RequestType": request,
        "RequestId": "0f6b5c3e",
        "LogicalResourceId": "ArchiveBucket",
        "PhysicalResourceId": (request != "Create").then_some(bucket),
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:eu-central-2:123456789012:function:provider",
            "BucketName": bucket, "ObjectLockMode": mode, "RetentionDays": days
        }
    }))
    .expect("an event")
}

async fn send(setup: &Setup, event: ProviderEvent) -> Result<ProviderResponse, BucketError> {
    handler::handle(&setup.dependencies, event).await
}

/// The S3 requests (by HTTP method) the proxy forwarded since `before`.
fn sent_since(proxy: &FaultProxy, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    proxy
        .requests()
        .into_iter()
        .map(|(method, n)| {
            let earlier = before.get(&method).copied().unwrap_or(0);
            (method, n - earlier)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

#[tokio::test]
async fn the_provider_makes_the_bucket_once_checks_it_after_and_refuses_an_unversioned_one() {
    let setup = setup().await.expect("moto and the proxy start");

    // Create: HeadBucket (404), CreateBucket with Object Lock, PutObjectLockConfiguration,
    // then the checks (GetBucketVersioning, GetObjectLockConfiguration).
    let before = setup.proxy.requests();
    let made = send(&setup, event("Create", "archive-made", "GOVERNANCE", "30"))
        .await
        .expect("created");
    assert_eq!(made.physical_resource_id, "archive-made");
    assert_eq!(
        (
            made.data["Created"].as_str(),
            made.data["ObjectLock"].as_str(),
            made.data["DefaultRetention"].as_str(),
            made.data["RetentionAsConfigured"].as_str()
        ),
        ("true", "Enabled", "GOVERNANCE 30 days", "true")
    );
    assert_eq!(
        sent_since(&setup.proxy, &before),
        counts(&[("HEAD", 1), ("PUT", 2), ("GET", 2)])
    );
    // What moto holds: versioning on (Object Lock turned it on), the default retention.
    let versioning = setup
        .s3
        .get_bucket_versioning()
        .bucket("archive-made")
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let lock = setup
        .s3
        .get_object_lock_configuration()
        .bucket("archive-made")
        .send()
        .await
        .expect("lock")
        .object_lock_configuration
        .expect("a lock configuration");
    assert_eq!(
        lock.object_lock_enabled(),
        Some(&ObjectLockEnabled::Enabled)
    );
    let retention = lock
        .rule()
        .and_then(|r| r.default_retention())
        .expect("a default retention");
    assert_eq!(
        (retention.mode(), retention.days()),
        (Some(&ObjectLockRetentionMode::Governance), Some(30))
    );

    // A second Create, and an Update with another retention: checks only, nothing written,
    // the retention left as it was.
    for (request, days) in [("Create", "30"), ("Update", "365")] {
        let before = setup.proxy.requests();
        let again = send(&setup, event(request, "archive-made", "GOVERNANCE", days))
            .await
            .expect("checked");
        assert_eq!(
            sent_since(&setup.proxy, &before),
            counts(&[("HEAD", 1), ("GET", 2)]),
            "{request}"
        );
        assert_eq!(again.data["Created"], "false");
        assert_eq!(again.data["DefaultRetention"], "GOVERNANCE 30 days");
        assert_eq!(
            again.data["RetentionAsConfigured"],
            (days == "30").to_string()
        );
    }

    // No retention: Object Lock on, no PutObjectLockConfiguration.
    let before = setup.proxy.requests();
    let unlocked = send(
        &setup,
        event("Create", "archive-no-retention", "COMPLIANCE", "0"),
    )
    .await
    .expect("created");
    assert_eq!(
        (
            unlocked.data["ObjectLock"].as_str(),
            unlocked.data["DefaultRetention"].as_str()
        ),
        ("Enabled", "none")
    );
    assert_eq!(
        sent_since(&setup.proxy, &before),
        counts(&[("HEAD", 1), ("PUT", 1), ("GET", 2)])
    );

    // A bucket made by hand without versioning fails the deploy, and is left as it is.
    setup
        .s3
        .create_bucket()
        .bucket("archive-by-hand")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(REGION.into())
                .build(),
        )
        .send()
        .await
        .expect("made by hand");
    let before = setup.proxy.requests();
    let err = send(
        &setup,
        event("Create", "archive-by-hand", "GOVERNANCE", "30"),
    )
    .await
    .expect_err("refused");
    assert_eq!(
        err,
        BucketError::VersioningOff {
            bucket: "archive-by-hand".into(),
            status: "off (never enabled)".into()
        }
    );
    assert_eq!(
        sent_since(&setup.proxy, &before),
        counts(&[("HEAD", 1), ("GET", 1)])
    );

    // Delete: nothing sent, the bucket retained.
    let before = setup.proxy.requests();
    let deleted = send(&setup, event("Delete", "archive-made", "GOVERNANCE", "30"))
        .await
        .expect("deleted");
    assert_eq!(deleted.data["Retained"], "true");
    assert_eq!(sent_since(&setup.proxy, &before), BTreeMap::new());
    setup
        .s3
        .head_bucket()
        .bucket("archive-made")
        .send()
        .await
        .expect("still there");

    setup.proxy.stop().await;
}
