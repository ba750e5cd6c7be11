//! The provider's handler: Create and Update make sure the bucket exists as the archive needs
//! it; Delete leaves it (and the archive in it) alone.
//!
//! - Missing (HeadBucket 404): CreateBucket with Object Lock enabled, which turns versioning
//!   on (Object Lock can only be enabled at creation), then the default retention
//!   (PutObjectLockConfiguration, the mode and days of the properties) unless the days are 0.
//! - Ours (HeadBucket 200, or BucketAlreadyOwnedByYou): versioning must be Enabled
//!   (GetBucketVersioning), or the deploy fails; Object Lock and its default retention are
//!   read (GetObjectLockConfiguration) and reported in `Data`, never changed: retention is
//!   set once, when the deploy creates the bucket (a COMPLIANCE retention cannot be shortened
//!   anyway), and a mismatch is logged and reported as `RetentionAsConfigured: false`.
//! - Another account's (BucketAlreadyExists, or 403 AccessDenied) and a key Wasabi does not
//!   accept (403 InvalidAccessKeyId or SignatureDoesNotMatch) fail the deploy, each with its
//!   own message. HeadBucket's 403 has no body to say which: the versioning read that follows
//!   tells them apart by its error code.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, DefaultRetention,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRule,
};
use lambda_runtime::Diagnostic;
use photopipe::wasabi::Wasabi;

use crate::event::{BucketSpec, ProviderEvent, ProviderResponse, RequestType};

/// The region whose CreateBucket takes no location constraint (S3's rule, which Wasabi
/// follows: `s3.wasabisys.com` is us-east-1).
const DEFAULT_REGION: &str = "us-east-1";

/// What the provider works with.
#[derive(Debug)]
pub struct Dependencies {
    /// The Wasabi client, signing with the setup key.
    pub wasabi: Wasabi,
    /// The Wasabi region a new bucket is created in (`WASABI_REGION`).
    pub region: String,
}

/// Why the deploy fails; the message is the reason CloudFormation shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum BucketError {
    #[strum(serialize = "WasabiBucket.Properties")]
    #[error("the Wasabi bucket resource's properties are not valid: {0}")]
    Properties(String),
    #[strum(serialize = "WasabiBucket.Secret")]
    #[error("the Wasabi setup key cannot be read (wasabiSetupSecretName): {0}")]
    Secret(String),
    #[strum(serialize = "WasabiBucket.WrongCredentials")]
    #[error(
        "Wasabi does not accept the setup key ({0}): the secret named by wasabiSetupSecretName \
         must hold the access key and secret of an active Wasabi key"
    )]
    WrongCredentials(String),
    #[strum(serialize = "WasabiBucket.NotOurs")]
    #[error(
        "the Wasabi bucket {bucket:?} belongs to another account, or the setup key's policy \
         does not reach it ({detail}): bucket names are global at Wasabi, choose another \
         wasabiBucket (or allow the setup key on this one)"
    )]
    NotOurs { bucket: String, detail: String },
    #[strum(serialize = "WasabiBucket.VersioningOff")]
    #[error(
        "versioning of the Wasabi bucket {bucket:?} is {status}: the archive relies on it (a \
         second write of a key must add a version, never replace the archived one); enable \
         versioning on the bucket, then deploy again"
    )]
    VersioningOff { bucket: String, status: String },
    #[strum(serialize = "WasabiBucket.Failed")]
    #[error("{0}")]
    Failed(String),
}

impl From<BucketError> for Diagnostic {
    fn from(error: BucketError) -> Self {
        Diagnostic {
            error_type: <&str>::from(&error).to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Answers one lifecycle event.
pub async fn handle(
    dependencies: &Dependencies,
    event: ProviderEvent,
) -> Result<ProviderResponse, BucketError> {
    if event.request_type == RequestType::Delete {
        // Never refused and never sent to Wasabi: a stack must delete (or roll back) even with
        // bad properties or the setup key deactivated.
        let bucket = event
            .resource_properties
            .get("BucketName")
            .and_then(|name| name.as_str())
            .unwrap_or_default()
            .to_owned();
        tracing::info!(%bucket, "stack deletion: the Wasabi bucket and the archive in it are retained");
        return Ok(ProviderResponse {
            physical_resource_id: event.physical_resource_id.unwrap_or_else(|| bucket.clone()),
            data: BTreeMap::from([
                ("BucketName".to_owned(), bucket),
                ("Retained".to_owned(), "true".to_owned()),
            ]),
        });
    }
    let spec = BucketSpec::from_properties(&event.resource_properties)?;
    let client = dependencies
        .wasabi
        .client()
        .await
        .map_err(|err| BucketError::Secret(err.to_string()))?;
    let found = ensure(client, &dependencies.region, &spec).await?;
    let data = found.data(&spec);
    tracing::info!(?data, "the Wasabi bucket is ready");
    Ok(ProviderResponse {
        physical_resource_id: spec.bucket,
        data,
    })
}

/// What the bucket is like once [`ensure`] is done.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// This request created it.
    pub created: bool,
    /// Its Object Lock configuration; `None` when Object Lock is not enabled.
    pub object_lock: Option<ObjectLockConfiguration>,
}

impl Found {
    /// The default retention, as `GOVERNANCE 90 days` (or `none`).
    fn retention(&self) -> String {
        let retention = self
            .object_lock
            .as_ref()
            .and_then(|lock| lock.rule())
            .and_then(|rule| rule.default_retention());
        let Some(retention) = retention else {
            return "none".to_owned();
        };
        let mode = retention.mode().map_or("", |mode| mode.as_str());
        match (retention.days(), retention.years()) {
            (Some(days), _) => format!("{mode} {days} days"),
            (None, Some(years)) => format!("{mode} {years} years"),
            (None, None) => "none".to_owned(),
        }
    }

    /// Object Lock is on with the default retention `spec` asks for.
    fn as_configured(&self, spec: &BucketSpec) -> bool {
        let wanted = if spec.retention_days == 0 {
            "none".to_owned()
        } else {
            format!("{} {} days", spec.mode.as_str(), spec.retention_days)
        };
        self.object_lock_enabled() && self.retention() == wanted
    }

    fn object_lock_enabled(&self) -> bool {
        self.object_lock
            .as_ref()
            .and_then(|lock| lock.object_lock_enabled())
            == Some(&ObjectLockEnabled::Enabled)
    }

    /// The custom resource's attributes.
    pub fn data(&self, spec: &BucketSpec) -> BTreeMap<String, String> {
        let as_configured = self.as_configured(spec);
        if !as_configured {
            tracing::warn!(
                bucket = %spec.bucket,
                object_lock = self.object_lock_enabled(),
                retention = %self.retention(),
                wanted_days = spec.retention_days,
                "the bucket's Object Lock differs from the settings: the deploy never changes an \
                 existing bucket's retention (Object Lock can only be enabled at creation)"
            );
        }
        let enabled = if self.object_lock_enabled() {
            "Enabled"
        } else {
            "Disabled"
        };
        BTreeMap::from([
            ("BucketName".to_owned(), spec.bucket.clone()),
            ("Created".to_owned(), self.created.to_string()),
            ("Versioning".to_owned(), "Enabled".to_owned()),
            ("ObjectLock".to_owned(), enabled.to_owned()),
            ("DefaultRetention".to_owned(), self.retention()),
            (
                "RetentionAsConfigured".to_owned(),
                as_configured.to_string(),
            ),
        ])
    }
}

/// Creates the bucket if it is missing, then checks it.
pub async fn ensure(
    client: &Client,
    region: &str,
    spec: &BucketSpec,
) -> Result<Found, BucketError> {
    let bucket = spec.bucket.as_str();
    let created = match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => false,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
            create(client, region, spec).await?
        }
        // No body to say why: the versioning read below tells a wrong key from a bucket
        // that is not ours.
        Err(err) if status(&err) == Some(403) => false,
        Err(err) if status(&err) == Some(301) => {
            return Err(BucketError::Failed(format!(
                "the Wasabi bucket {bucket:?} is in another region than wasabiRegion {region:?} \
                 (HeadBucket answered 301): set wasabiRegion and wasabiEndpoint to its region"
            )));
        }
        Err(err) => return Err(refusal("HeadBucket", bucket, err)),
    };
    let versioning = client
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|err| refusal("GetBucketVersioning", bucket, err))?;
    match versioning.status() {
        Some(BucketVersioningStatus::Enabled) => {}
        status => {
            return Err(BucketError::VersioningOff {
                bucket: bucket.to_owned(),
                status: status
                    .map_or("off (never enabled)", |s| s.as_str())
                    .to_owned(),
            });
        }
    }
    let object_lock = match client
        .get_object_lock_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(output) => output.object_lock_configuration,
        Err(err) if err.code() == Some("ObjectLockConfigurationNotFoundError") => None,
        Err(err) => return Err(refusal("GetObjectLockConfiguration", bucket, err)),
    };
    Ok(Found {
        created,
        object_lock,
    })
}

/// CreateBucket with Object Lock, then its default retention; `false` when the bucket turns
/// out to be ours already.
async fn create(client: &Client, region: &str, spec: &BucketSpec) -> Result<bool, BucketError> {
    let bucket = spec.bucket.as_str();
    let mut request = client
        .create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true);
    if region != DEFAULT_REGION {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => tracing::info!(%bucket, %region, "created the Wasabi bucket with Object Lock"),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            return Ok(false);
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_exists()) =>
        {
            return Err(BucketError::NotOurs {
                bucket: bucket.to_owned(),
                detail: "CreateBucket: BucketAlreadyExists".to_owned(),
            });
        }
        Err(err) => return Err(refusal("CreateBucket", bucket, err)),
    }
    if spec.retention_days > 0 {
        let days = i32::try_from(spec.retention_days)
            .map_err(|_| BucketError::Properties("RetentionDays is too large".to_owned()))?;
        client
            .put_object_lock_configuration()
            .bucket(bucket)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(spec.mode.clone())
                                    .days(days)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|err| refusal("PutObjectLockConfiguration", bucket, err))?;
    }
    Ok(true)
}

fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response()
        .map(|response| response.status().as_u16())
}

/// A failed request as the deploy's reason: the key refused, the bucket not ours, or
/// anything else with its code.
fn refusal<E>(what: &str, bucket: &str, err: SdkError<E, HttpResponse>) -> BucketError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = status(&err);
    let detail = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{what}: {code}: {message}"),
        (Some(code), None) => format!("{what}: {code}"),
        _ => format!(
            "{what}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&err)
        ),
    };
    match (err.code(), status) {
        (Some("InvalidAccessKeyId" | "SignatureDoesNotMatch"), _) => {
            BucketError::WrongCredentials(detail)
        }
        (Some("AccessDenied"), _) | (None, Some(403)) => BucketError::NotOurs {
            bucket: bucket.to_owned(),
            detail,
        },
        _ => BucketError::Failed(format!(
            "{what} of the Wasabi bucket {bucket:?} failed: {detail}"
        )),
    }
}

#[cfg(test)]
mod tests;
