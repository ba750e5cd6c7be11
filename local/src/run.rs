//! One local run: upload a folder of photos to the dropbox, let the events start the
//! executions, wait for every one, and write the report and the buckets' final contents.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_sfn::types::ExecutionStatus;
use serde::Serialize;

use crate::stack::{ARCHIVE, DROPBOX, LocalStack, THUMBNAILS};
use crate::starter::Started;

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub photos: Vec<PhotoReport>,
}

/// One photo's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PhotoReport {
    pub key: String,
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub sha256: String,
    pub thumbnail: Option<ThumbnailReport>,
    pub archive: Option<ArchiveReport>,
    pub execution: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThumbnailReport {
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    pub key: String,
    pub sha256: String,
}

/// A finished execution.
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: ExecutionStatus,
    pub error: Option<String>,
    /// The error message (a Lambda error's `errorMessage`).
    pub cause: Option<String>,
    pub output: Option<serde_json::Value>,
    pub seconds: f64,
}

/// Every file under `dir`, as (key under `photos/`, path), in a stable order.
pub fn photos_in(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.is_file() {
                let relative = path.strip_prefix(dir)?;
                let parts: Vec<_> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                found.push((
                    format!("{}{}", photopipe::settings::PHOTOS_PREFIX, parts.join("/")),
                    path,
                ));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Uploads `bytes` to the dropbox at `key`.
pub async fn upload(stack: &LocalStack, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
    stack
        .s3
        .put_object()
        .bucket(DROPBOX)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .with_context(|| format!("uploading {key}"))?;
    Ok(())
}

/// Waits for an execution to finish.
pub async fn wait(
    stack: &LocalStack,
    execution_arn: &str,
    within: Duration,
) -> anyhow::Result<Finished> {
    let begin = Instant::now();
    loop {
        let execution = stack
            .sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await?;
        if execution.status != ExecutionStatus::Running {
            let seconds = match execution.stop_date {
                Some(stop) => (stop.as_secs_f64() - execution.start_date.as_secs_f64()).max(0.0),
                None => begin.elapsed().as_secs_f64(),
            };
            return Ok(Finished {
                status: execution.status,
                error: execution.error,
                cause: execution
                    .cause
                    .as_deref()
                    .map(photopipe::model::lambda_error_message),
                output: execution
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str(o).ok()),
                seconds,
            });
        }
        anyhow::ensure!(
            begin.elapsed() < within,
            "{execution_arn} still running after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs every photo under `photos` through the pipeline and writes the report and the
/// buckets' contents to `out`.
pub async fn run(stack: &LocalStack, photos: &Path, out: &Path) -> anyhow::Result<Report> {
    let files = photos_in(photos)?;
    anyhow::ensure!(!files.is_empty(), "no files under {}", photos.display());
    let mut checksums = std::collections::HashMap::new();
    for (key, path) in &files {
        let bytes = std::fs::read(path)?;
        checksums.insert(key.clone(), photopipe::s3::sha256_hex(&bytes));
        upload(stack, key, bytes).await?;
    }
    let mut started = stack
        .starter
        .start(files.len(), Duration::from_secs(60))
        .await?;
    started.sort_by(|a, b| a.key.cmp(&b.key));
    let mut photos = Vec::new();
    for Started {
        key,
        execution_arn,
        name,
        ..
    } in started
    {
        let finished = wait(stack, &execution_arn, Duration::from_secs(600)).await?;
        photos.push(photo_report(
            key.clone(),
            checksums.get(&key).cloned().unwrap_or_default(),
            name,
            finished,
        ));
    }
    let report = Report { photos };
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    export(&stack.s3, THUMBNAILS, &out.join("thumbnails")).await?;
    export(&stack.wasabi_s3, ARCHIVE, &out.join("archive")).await?;
    export(&stack.s3, DROPBOX, &out.join("dropbox")).await?;
    Ok(report)
}

fn photo_report(key: String, sha256: String, execution: String, finished: Finished) -> PhotoReport {
    let output = finished.output.unwrap_or_default();
    // The first rendition is the thumbnail.
    let thumbnail = output.pointer("/thumbnails/0").and_then(|t| {
        Some(ThumbnailReport {
            key: t.get("key")?.as_str()?.to_owned(),
            width: u32::try_from(t.get("width")?.as_u64()?).ok()?,
            height: u32::try_from(t.get("height")?.as_u64()?).ok()?,
            bytes: t.get("bytes")?.as_u64()?,
        })
    });
    let archive = output.get("archive").and_then(|a| {
        Some(ArchiveReport {
            key: a.get("key")?.as_str()?.to_owned(),
            sha256: a.get("sha256")?.as_str()?.to_owned(),
        })
    });
    PhotoReport {
        key,
        status: finished.status.as_str().to_owned(),
        error: finished.error,
        cause: finished.cause,
        sha256,
        thumbnail,
        archive,
        execution,
        seconds: (finished.seconds * 1000.0).round() / 1000.0,
    }
}

/// Writes every current object of `bucket` to `dir/<key>`, replacing what `dir` held.
pub async fn export(s3: &aws_sdk_s3::Client, bucket: &str, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for key in list_keys(s3, bucket).await? {
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .with_context(|| format!("reading {bucket}/{key}"))?;
        let bytes = object.body.collect().await?.into_bytes();
        let path = dir.join(&key);
        anyhow::ensure!(
            !key.split('/').any(|part| part == ".." || part.is_empty()),
            "refusing to write key {key:?}"
        );
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// The keys of every current object in `bucket`.
pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        keys.extend(
            page.with_context(|| format!("listing {bucket}"))?
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    Ok(keys)
}
