//! `photopipe audit`: the nothing-lost invariant ([`crate::invariant`]) across the dropbox,
//! the thumbnails, the archive and the executions of a deployment, as findings with what to
//! do about each: originals never processed, failed runs waiting for a redrive, archive
//! copies missing or differing, thumbnails missing, quarantines left half done; and the
//! quarantined originals with their reasons. Anything but archived, quarantined and running
//! needs attention, and the command then exits non-zero.

use std::io::Write;

use photopipe::settings::Rendition;

use crate::deployment::Deployment;
use crate::invariant::{self, Scope, Standing, Surveyed, ViolationKind};

/// The audit of every uploaded version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub surveyed: Vec<Surveyed>,
    /// Each quarantined version's reason (`error: cause`), by (key, version).
    pub reasons: Vec<((String, String), String)>,
}

impl Audit {
    /// How many versions stand so.
    pub fn count(&self, wanted: fn(&Standing) -> bool) -> usize {
        self.surveyed.iter().filter(|s| wanted(&s.standing)).count()
    }

    /// Whether anything needs a person: a violation, or a failed run to redrive.
    pub fn needs_attention(&self) -> bool {
        self.count(|s| matches!(s, Standing::Violation(_) | Standing::Failed { .. })) > 0
    }
}

/// Surveys the deployment, `renditions` being what its thumbnail function makes.
pub async fn audit(deployment: &Deployment, renditions: &[Rendition]) -> anyhow::Result<Audit> {
    let archive = deployment.archive_client().await?;
    let scope = Scope {
        s3: &deployment.s3,
        archive: &archive,
        sfn: &deployment.sfn,
        dropbox: deployment.dropbox()?,
        thumbnails: deployment.thumbnails()?,
        archive_bucket: deployment.archive_bucket(),
        state_machine_arn: deployment.state_machine_arn()?,
        renditions,
    };
    let surveyed = invariant::survey(&scope).await?;
    let mut reasons = Vec::new();
    for version in &surveyed {
        if let Standing::Quarantined { reason_key } = &version.standing {
            let reason = deployment
                .s3
                .get_object()
                .bucket(scope.dropbox)
                .key(reason_key)
                .send()
                .await
                .map_err(crate::failure::api("GetObject"))?;
            let reason: serde_json::Value =
                serde_json::from_slice(&reason.body.collect().await?.into_bytes())
                    .unwrap_or_default();
            reasons.push((
                (version.key.clone(), version.version_id.clone()),
                format!(
                    "{}: {}",
                    reason["error"].as_str().unwrap_or("?"),
                    photopipe::model::lambda_error_message(reason["cause"].as_str().unwrap_or(""))
                ),
            ));
        }
    }
    Ok(Audit { surveyed, reasons })
}

/// What to do about a violation of this kind, for `key` at `version`.
pub fn advice(kind: ViolationKind, key: &str, version: &str) -> String {
    let copy_back = format!(
        "run it again from its kept version: `aws s3api copy-object --bucket DROPBOX --key \
         '{key}' --copy-source 'DROPBOX/{key}?versionId={version}'`"
    );
    match kind {
        ViolationKind::NoExecution => format!(
            "never processed (uploaded before the stack, a disabled rule, a lost event): \
             `photopipe backfill --prefix '{key}'` starts its run"
        ),
        ViolationKind::ArchiveMismatch => format!(
            "do not delete anything; check the archive bucket (who wrote or removed the copy), \
             then {copy_back}"
        ),
        ViolationKind::ThumbnailMissing => format!("its thumbnail is stale or gone: {copy_back}"),
        ViolationKind::StillCurrent | ViolationKind::QuarantineIncomplete => {
            "its cleanup did not finish: find its run with `photopipe status` and redrive it"
                .to_owned()
        }
        ViolationKind::UnknownTag => {
            format!("someone else set its photopipe-outcome tag: remove the tag, then {copy_back}")
        }
    }
}

/// Prints the audit: the totals, then each finding with what to do.
pub fn write_audit(out: &mut dyn Write, audit: &Audit) -> anyhow::Result<()> {
    writeln!(
        out,
        "{} versions under photos/: {} archived, {} quarantined, {} running, {} failed (redrivable), {} problems",
        audit.surveyed.len(),
        audit.count(|s| matches!(s, Standing::Archived)),
        audit.count(|s| matches!(s, Standing::Quarantined { .. })),
        audit.count(|s| matches!(s, Standing::Running { .. })),
        audit.count(|s| matches!(s, Standing::Failed { .. })),
        audit.count(|s| matches!(s, Standing::Violation(_))),
    )?;
    for ((key, version), reason) in &audit.reasons {
        writeln!(out, "quarantined  {key} ({version}): {reason}")?;
    }
    for surveyed in &audit.surveyed {
        let (key, version) = (&surveyed.key, &surveyed.version_id);
        match &surveyed.standing {
            Standing::Failed { execution_arn } => writeln!(
                out,
                "FAILED       {key} ({version}): its run failed; once the cause is fixed, \
                 `photopipe redrive {execution_arn}`"
            )?,
            Standing::Violation(violation) => writeln!(
                out,
                "PROBLEM      {key} ({version}): {}\n             what to do: {}",
                violation.problem,
                advice(violation.kind, key, version)
            )?,
            _ => {}
        }
    }
    if audit.needs_attention() {
        writeln!(out, "needs attention (above)")?;
    } else {
        writeln!(
            out,
            "nothing lost: every uploaded version is archived, quarantined or being processed"
        )?;
    }
    Ok(())
}
