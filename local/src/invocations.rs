//! The Lambda host's `REPORT`s ([`crate::lambda::InvocationReport`]) read per photo and per
//! step: which photo an invocation was for (from its input payload), and each step's
//! duration percentiles and peak memory.

use serde::Serialize;

use crate::lambda::{InvocationReport, InvocationStatus};

/// One uploaded version, as the payloads name it: the key decoded, the version id as S3
/// gave it (`None` for an unversioned object).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhotoId {
    pub key: String,
    pub version_id: Option<String>,
}

/// The photo an invocation's input is about: `{"photo": {bucket, key, version_id, …}}` for
/// thumbnail, archive and cleanup (`"action": "cleanup"`), `{"event": <S3 event>}` for
/// validate and for cleanup's `"action": "quarantine"` (the event's `detail.object.key`
/// URL-encoded, as S3 writes it, beside its `version-id`). `None` for anything else.
pub fn photo_of(payload: &serde_json::Value) -> Option<PhotoId> {
    if let Some(photo) = payload.get("photo") {
        return Some(PhotoId {
            key: photo.get("key")?.as_str()?.to_owned(),
            version_id: version(photo.get("version_id")),
        });
    }
    let object = payload.get("event")?.pointer("/detail/object")?;
    let key = photopipe::event::decode_event_key(object.get("key")?.as_str()?).ok()?;
    Some(PhotoId {
        key,
        version_id: version(object.get("version-id")),
    })
}

/// A version id, `None` for a missing one or S3's `"null"` of an unversioned bucket.
fn version(value: Option<&serde_json::Value>) -> Option<String> {
    value
        .and_then(serde_json::Value::as_str)
        .filter(|v| !v.is_empty() && *v != "null")
        .map(str::to_owned)
}

/// The step a hosted function runs: `photopipe-validate` → `validate` (the local stack
/// names each function `photopipe-<step>`).
pub fn step_of(function: &str) -> &str {
    function.strip_prefix("photopipe-").unwrap_or(function)
}

/// One invocation's `REPORT` figures, as `report.json` lists them under its photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvocationFigures {
    pub step: String,
    pub request_id: String,
    pub duration_ms: f64,
    pub billed_ms: u64,
    pub memory_mb: u32,
    pub max_memory_used_mb: u32,
    pub status: InvocationStatus,
    pub error_type: Option<String>,
}

impl From<&InvocationReport> for InvocationFigures {
    fn from(report: &InvocationReport) -> Self {
        Self {
            step: step_of(&report.function).to_owned(),
            request_id: report.request_id.clone(),
            duration_ms: (report.duration_ms * 100.0).round() / 100.0,
            billed_ms: report.billed_ms,
            memory_mb: report.memory_mb,
            max_memory_used_mb: report.max_memory_used_mb,
            status: report.status,
            error_type: report.error_type.clone(),
        }
    }
}

/// The nearest-rank `p`th percentile (0 < p ≤ 100) of `values`: the smallest value at least
/// `p` % of them do not exceed. `None` for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One step's invocations, summed up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepFigures {
    pub step: String,
    pub invocations: usize,
    /// Invocations that did not succeed (function errors, time-outs, out of memory).
    pub failed: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// The highest `Max Memory Used` of its invocations.
    pub max_memory_used_mb: Option<u32>,
    /// The function's memory size.
    pub memory_mb: Option<u32>,
}

/// The figures of `step`'s invocations among `reports`.
pub fn step_figures(reports: &[InvocationReport], step: &str) -> StepFigures {
    let of_step: Vec<&InvocationReport> = reports
        .iter()
        .filter(|r| step_of(&r.function) == step)
        .collect();
    let durations: Vec<f64> = of_step.iter().map(|r| r.duration_ms).collect();
    let round = |ms: f64| (ms * 10.0).round() / 10.0;
    StepFigures {
        step: step.to_owned(),
        invocations: of_step.len(),
        failed: of_step
            .iter()
            .filter(|r| r.status != InvocationStatus::Success)
            .count(),
        p50_ms: percentile(&durations, 50.0).map(round),
        p95_ms: percentile(&durations, 95.0).map(round),
        max_memory_used_mb: of_step.iter().map(|r| r.max_memory_used_mb).max(),
        memory_mb: of_step.iter().map(|r| r.memory_mb).max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn photo(key: &str, version: &str) -> Option<PhotoId> {
        Some(PhotoId {
            key: key.into(),
            version_id: Some(version.into()),
        })
    }

    #[test]
    fn every_steps_payload_names_its_photo() {
        let event = json!({
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {"bucket": {"name": "dropbox"}, "object": {"key": "photos/My+Trip/a%2Bb.jpg", "version-id": "v1"}}
        });
        let record = json!({"bucket": "dropbox", "key": "photos/My Trip/a+b.jpg", "version_id": "v1", "sha256": "ab"});
        let wanted = photo("photos/My Trip/a+b.jpg", "v1");
        // validate
        assert_eq!(photo_of(&json!({"event": event})), wanted);
        // thumbnail, archive
        assert_eq!(photo_of(&json!({"photo": record})), wanted);
        // cleanup, both actions
        assert_eq!(
            photo_of(
                &json!({"action": "cleanup", "photo": record, "thumbnails": [], "archive": {}})
            ),
            wanted
        );
        assert_eq!(
            photo_of(
                &json!({"action": "quarantine", "event": event, "error": {"Error": "Photo.InvalidImage"}})
            ),
            wanted
        );
    }

    #[test]
    fn unversioned_and_unknown_payloads() {
        let unversioned =
            json!({"photo": {"bucket": "b", "key": "photos/a.jpg", "version_id": null}});
        assert_eq!(
            photo_of(&unversioned),
            Some(PhotoId {
                key: "photos/a.jpg".into(),
                version_id: None
            })
        );
        let null_version =
            json!({"event": {"detail": {"object": {"key": "photos/a.jpg", "version-id": "null"}}}});
        assert_eq!(photo_of(&null_version).and_then(|p| p.version_id), None);
        assert_eq!(photo_of(&json!("not json")), None);
        assert_eq!(photo_of(&json!({"event": {"detail": {}}})), None);
        assert_eq!(photo_of(&serde_json::Value::Null), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&hundred, 50.0), Some(50.0));
        assert_eq!(percentile(&hundred, 95.0), Some(95.0));
        assert_eq!(percentile(&hundred, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0, 4.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0, 4.0], 95.0), Some(4.0));
        assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn step_figures_from_reports() {
        let report = |function: &str, ms: f64, used: u32, status| InvocationReport {
            function: function.into(),
            request_id: "r".into(),
            duration_ms: ms,
            billed_ms: ms.ceil() as u64,
            memory_mb: 1024,
            max_memory_used_mb: used,
            status,
            error_type: None,
            payload: serde_json::Value::Null,
        };
        let reports = [
            report("photopipe-thumbnail", 30.0, 60, InvocationStatus::Success),
            report("photopipe-thumbnail", 10.0, 80, InvocationStatus::Error),
            report("photopipe-thumbnail", 20.0, 70, InvocationStatus::Success),
            report("photopipe-validate", 5.0, 20, InvocationStatus::Success),
        ];
        let thumbnail = step_figures(&reports, "thumbnail");
        assert_eq!(
            (thumbnail.invocations, thumbnail.failed),
            (3, 1),
            "{thumbnail:?}"
        );
        assert_eq!(
            (thumbnail.p50_ms, thumbnail.p95_ms),
            (Some(20.0), Some(30.0))
        );
        assert_eq!(thumbnail.max_memory_used_mb, Some(80));
        assert_eq!(thumbnail.memory_mb, Some(1024));
        let archive = step_figures(&reports, "archive");
        assert_eq!((archive.invocations, archive.p50_ms), (0, None));
    }
}
