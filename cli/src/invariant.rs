//! The nothing-lost invariant, checked across the buckets and the executions: every version
//! ever uploaded under `photos/` is in exactly one of three states.
//!
//! - **archived**: its copy at Wasabi, under the key unique to its bytes, reads back with its
//!   SHA-256; its version is tagged `archived` and no longer current in `photos/`; and, if it
//!   is its key's latest upload, every rendition's thumbnail was made from its bytes, or its
//!   run's output names the rendition skipped (too big to decode within the function);
//! - **quarantined**: its bytes under its own `rejected/…~<version>` key with the reason
//!   beside it; its version tagged `quarantined` and no longer current;
//! - **pending**: untagged, still in the dropbox, with an execution of its own that is
//!   running or failed (and so can be redriven).
//!
//! Empty folder markers are not uploads. Anything else is a violation, listed with what is
//! wrong and what kind of wrong it is. The checker is given its clients and bucket names
//! ([`Scope`]), so the same code checks the local stack (every end-to-end test ends with it,
//! through `photopipe_local::invariant`) and a deployment (`photopipe audit`).

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_s3::Client;
use aws_sdk_sfn::types::ExecutionStatus;
use photopipe::event::{ObjectCreatedEvent, SourceObject};
use photopipe::s3::{keys, meta, sha256_hex};
use photopipe::settings::{PHOTOS_PREFIX, Rendition, outcome_tag};

/// What the checker reads, and where.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// A client for the dropbox and thumbnails buckets.
    pub s3: &'a Client,
    /// A client for the archive (Wasabi).
    pub archive: &'a Client,
    pub sfn: &'a aws_sdk_sfn::Client,
    pub dropbox: &'a str,
    pub thumbnails: &'a str,
    pub archive_bucket: &'a str,
    pub state_machine_arn: &'a str,
    /// The renditions the thumbnail function makes.
    pub renditions: &'a [Rendition],
}

/// One uploaded version that is in none of the three states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub key: String,
    pub version_id: String,
    pub kind: ViolationKind,
    pub problem: String,
}

/// What sort of violation, for what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// Untagged, and no execution of its own is running or failed: it was never processed
    /// (uploaded before the stack, a disabled rule, an event lost).
    NoExecution,
    /// Tagged archived, but the copy at Wasabi is missing or holds other bytes.
    ArchiveMismatch,
    /// The key's latest upload, archived, but a rendition's thumbnail is missing or was made
    /// from other bytes.
    ThumbnailMissing,
    /// Tagged archived or quarantined, yet still the current object under `photos/`.
    StillCurrent,
    /// Tagged quarantined, but its copy or reason under `rejected/` is missing.
    QuarantineIncomplete,
    /// An outcome tag the pipeline does not write.
    UnknownTag,
}

/// Where one version stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Archived,
    /// With its `rejected/…` reason object's key.
    Quarantined {
        reason_key: String,
    },
    /// Its own execution is still running.
    Running {
        execution_arn: String,
    },
    /// Its own execution failed (timed out, was aborted): it can be redriven.
    Failed {
        execution_arn: String,
    },
    Violation(Violation),
}

/// One uploaded version and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surveyed {
    pub key: String,
    pub version_id: String,
    pub standing: Standing,
}

/// One version of an upload, as the dropbox lists it.
#[derive(Debug)]
struct Version {
    source: SourceObject,
    size: i64,
    /// The current object under its key (not hidden by a delete marker or a newer upload).
    current: bool,
    /// The newest version under its key that is not a delete marker.
    latest_upload: bool,
}

/// Every version under `photos/` that is not archived, quarantined or pending.
pub async fn check(scope: &Scope<'_>) -> anyhow::Result<Vec<Violation>> {
    Ok(survey(scope)
        .await?
        .into_iter()
        .filter_map(|surveyed| match surveyed.standing {
            Standing::Violation(violation) => Some(violation),
            _ => None,
        })
        .collect())
}

/// Every version under `photos/` and where it stands.
pub async fn survey(scope: &Scope<'_>) -> anyhow::Result<Vec<Surveyed>> {
    let versions = uploaded_versions(scope.s3, scope.dropbox).await?;
    let Executions { open, skipped } = executions(scope).await?;
    let mut surveyed = Vec::new();
    for version in versions {
        let source = &version.source;
        if source.is_folder_key() && version.size == 0 {
            continue;
        }
        let version_id = source.version_id.clone().unwrap_or_default();
        let id = (source.key.clone(), version_id.clone());
        let bytes = read(
            scope.s3,
            scope.dropbox,
            &source.key,
            source.version_id.as_deref(),
        )
        .await?
        .context("a listed version is unreadable")?;
        let sha256 = sha256_hex(&bytes);
        let outcome = outcome_of(scope.s3, source).await?;
        let found = match outcome.as_deref() {
            Some(outcome_tag::ARCHIVED) => {
                let skipped = skipped.get(&id);
                let renditions: Vec<Rendition> = scope
                    .renditions
                    .iter()
                    .filter(|r| skipped.is_none_or(|names| !names.contains(&r.to_string())))
                    .copied()
                    .collect();
                archived(scope, &version, &sha256, &bytes, &renditions)
                    .await?
                    .map_or(Ok(Standing::Archived), Err)
            }
            Some(outcome_tag::QUARANTINED) => quarantined(scope, &version, &bytes).await?,
            None => match open.get(&id) {
                Some((execution_arn, ExecutionStatus::Running)) => Ok(Standing::Running {
                    execution_arn: execution_arn.clone(),
                }),
                Some((execution_arn, _)) => Ok(Standing::Failed {
                    execution_arn: execution_arn.clone(),
                }),
                None => Err((
                    ViolationKind::NoExecution,
                    "neither archived nor quarantined, and no running or failed execution of its own"
                        .to_owned(),
                )),
            },
            Some(other) => Err((
                ViolationKind::UnknownTag,
                format!("unknown outcome tag {other:?}"),
            )),
        };
        let standing = found.unwrap_or_else(|(kind, problem)| {
            Standing::Violation(Violation {
                key: id.0.clone(),
                version_id: id.1.clone(),
                kind,
                problem,
            })
        });
        surveyed.push(Surveyed {
            key: id.0,
            version_id: id.1,
            standing,
        });
    }
    Ok(surveyed)
}

/// A violation found, with its kind.
type Found = (ViolationKind, String);

/// What is wrong with a version tagged archived, if anything.
async fn archived(
    scope: &Scope<'_>,
    version: &Version,
    sha256: &str,
    bytes: &[u8],
    renditions: &[Rendition],
) -> anyhow::Result<Option<Found>> {
    let source = &version.source;
    if version.current {
        return Ok(Some((
            ViolationKind::StillCurrent,
            "archived but still current under photos/".into(),
        )));
    }
    let key = keys::archive_key(source, sha256)?;
    let archive = scope.archive_bucket;
    match read(scope.archive, archive, &key, None).await? {
        None => {
            return Ok(Some((
                ViolationKind::ArchiveMismatch,
                format!("tagged archived, but {archive}/{key} is missing"),
            )));
        }
        Some(copy) if copy != bytes => {
            return Ok(Some((
                ViolationKind::ArchiveMismatch,
                format!("{archive}/{key} holds other bytes"),
            )));
        }
        Some(_) => {}
    }
    if version.latest_upload {
        let thumbnails = scope.thumbnails;
        for rendition in renditions {
            let thumbnail = keys::thumbnail_key(source, rendition)?;
            let made_from = photopipe::s3::head(scope.s3, thumbnails, &thumbnail)
                .await?
                .and_then(|head| meta::get(&head, meta::SOURCE_SHA256).map(str::to_owned));
            if made_from.as_deref() != Some(sha256) {
                return Ok(Some((
                    ViolationKind::ThumbnailMissing,
                    format!(
                        "the latest upload, but {thumbnails}/{thumbnail} was not made from it \
                         ({made_from:?})"
                    ),
                )));
            }
        }
    }
    Ok(None)
}

/// Where a version tagged quarantined stands: quarantined, or what is wrong.
async fn quarantined(
    scope: &Scope<'_>,
    version: &Version,
    bytes: &[u8],
) -> anyhow::Result<Result<Standing, Found>> {
    if version.current {
        return Ok(Err((
            ViolationKind::StillCurrent,
            "quarantined but still current under photos/".into(),
        )));
    }
    let (object, reason) = keys::quarantine_keys(&version.source);
    if read(scope.s3, scope.dropbox, &object, None)
        .await?
        .as_deref()
        != Some(bytes)
    {
        return Ok(Err((
            ViolationKind::QuarantineIncomplete,
            format!("tagged quarantined, but {object} does not hold its bytes"),
        )));
    }
    if read(scope.s3, scope.dropbox, &reason, None)
        .await?
        .is_none()
    {
        return Ok(Err((
            ViolationKind::QuarantineIncomplete,
            format!("quarantined without its reason {reason}"),
        )));
    }
    Ok(Ok(Standing::Quarantined { reason_key: reason }))
}

/// Every version under `photos/`, newest first within a key, as S3 lists them.
async fn uploaded_versions(s3: &Client, dropbox: &str) -> anyhow::Result<Vec<Version>> {
    let mut versions = Vec::new();
    // Per key: whether a delete marker is the latest, and whether a newer upload was seen.
    let mut hidden: HashMap<String, bool> = HashMap::new();
    let mut seen_upload: HashMap<String, bool> = HashMap::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(dropbox)
            .prefix(PHOTOS_PREFIX)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .context("listing the dropbox's versions")?;
        for marker in page.delete_markers() {
            if marker.is_latest() == Some(true) {
                hidden.insert(marker.key().unwrap_or_default().to_owned(), true);
            }
        }
        for version in page.versions() {
            let key = version.key().unwrap_or_default().to_owned();
            let latest_upload = !seen_upload.insert(key.clone(), true).unwrap_or(false);
            versions.push(Version {
                source: SourceObject {
                    bucket: dropbox.to_owned(),
                    key: key.clone(),
                    version_id: version.version_id().map(str::to_owned),
                },
                size: version.size().unwrap_or(0),
                current: version.is_latest() == Some(true),
                latest_upload,
            });
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    // A delete marker listed on a later page still hides the key's latest version.
    for version in &mut versions {
        if hidden.contains_key(&version.source.key) {
            version.current = false;
        }
    }
    Ok(versions)
}

/// What the executions say, by the (key, version) of their input.
#[derive(Debug, Default)]
struct Executions {
    /// Running or failed (so redrivable) executions: the newest of each version's.
    open: HashMap<(String, String), (String, ExecutionStatus)>,
    /// The renditions a succeeded execution's thumbnail step skipped, by name.
    skipped: HashMap<(String, String), Vec<String>>,
}

async fn executions(scope: &Scope<'_>) -> anyhow::Result<Executions> {
    let mut found = Executions::default();
    let mut pages = scope
        .sfn
        .list_executions()
        .state_machine_arn(scope.state_machine_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for execution in page.context("listing executions")?.executions() {
            let status = execution.status().clone();
            let described = scope
                .sfn
                .describe_execution()
                .execution_arn(execution.execution_arn())
                .send()
                .await
                .context("describing an execution")?;
            let Some(source) = described
                .input()
                .and_then(|input| serde_json::from_str::<ObjectCreatedEvent>(input).ok())
                .and_then(|event| event.source_object().ok())
            else {
                continue;
            };
            let id = (source.key, source.version_id.unwrap_or_default());
            match status {
                ExecutionStatus::Running | ExecutionStatus::Failed => {
                    // Newest first: an older run of the same version does not replace it.
                    found
                        .open
                        .entry(id)
                        .or_insert_with(|| (execution.execution_arn().to_owned(), status));
                }
                ExecutionStatus::Succeeded => {
                    let output: serde_json::Value = described
                        .output()
                        .and_then(|o| serde_json::from_str(o).ok())
                        .unwrap_or_default();
                    let skipped: Vec<String> = output["thumbnails"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|t| t.get("skipped").is_some())
                        .filter_map(|t| t["rendition"].as_str().map(str::to_owned))
                        .collect();
                    if !skipped.is_empty() {
                        found.skipped.insert(id, skipped);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(found)
}

/// The `photopipe-outcome` tag of one exact version.
async fn outcome_of(s3: &Client, source: &SourceObject) -> anyhow::Result<Option<String>> {
    let tags = s3
        .get_object_tagging()
        .bucket(&source.bucket)
        .key(&source.key)
        .set_version_id(source.version_id.clone())
        .send()
        .await
        .with_context(|| format!("GetObjectTagging {}", source.describe()))?;
    Ok(tags
        .tag_set()
        .iter()
        .find(|tag| tag.key() == outcome_tag::KEY)
        .map(|tag| tag.value().to_owned()))
}

/// An object's bytes, `None` when there is no such object.
async fn read(
    s3: &Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> anyhow::Result<Option<Vec<u8>>> {
    let answer = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await;
    match answer {
        Ok(object) => Ok(Some(object.body.collect().await?.into_bytes().to_vec())),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
        Err(err) => Err(anyhow::Error::new(err).context(format!("GetObject {bucket}/{key}"))),
    }
}
