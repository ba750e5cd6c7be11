//! What CDK's custom resource Provider framework passes its `onEventHandler` (the
//! CloudFormation request, `RequestType`, `ResourceProperties`, `PhysicalResourceId`) and what
//! the handler answers (`PhysicalResourceId`, `Data`; the framework tells CloudFormation, and
//! a handler error becomes the deploy's failure reason). The properties are the bucket, its
//! Object Lock mode and default retention days, checked as `contract/settings.json` bounds
//! them (CloudFormation passes every property as a string).

use std::collections::BTreeMap;

use aws_sdk_s3::types::ObjectLockRetentionMode;
use serde::{Deserialize, Serialize};

use crate::handler::BucketError;

/// The most days of default retention (`wasabiRetentionDays`'s `max`: 100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// The lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// The request, as the framework passes it (other fields are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProviderEvent {
    pub request_type: RequestType,
    #[serde(default)]
    pub resource_properties: serde_json::Map<String, serde_json::Value>,
    /// Sent with Update and Delete: the bucket's name, as the handler answered before.
    #[serde(default)]
    pub physical_resource_id: Option<String>,
}

/// The answer: the bucket's name as the resource's physical id, and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProviderResponse {
    pub physical_resource_id: String,
    pub data: BTreeMap<String, String>,
}

/// The bucket the resource describes: its name, and the default retention to give it when
/// it is created (`retention_days` 0: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    pub bucket: String,
    pub mode: ObjectLockRetentionMode,
    pub retention_days: u32,
}

impl BucketSpec {
    /// The spec in `properties` (`BucketName`, `ObjectLockMode`, `RetentionDays`).
    pub fn from_properties(
        properties: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, BucketError> {
        let text = |name: &str| match properties.get(name) {
            Some(serde_json::Value::String(text)) => Ok(text.clone()),
            Some(serde_json::Value::Number(number)) => Ok(number.to_string()),
            _ => Err(BucketError::Properties(format!("{name} is missing"))),
        };
        let bucket = text("BucketName")?;
        let mode = match text("ObjectLockMode")?.as_str() {
            "GOVERNANCE" => ObjectLockRetentionMode::Governance,
            "COMPLIANCE" => ObjectLockRetentionMode::Compliance,
            other => {
                return Err(BucketError::Properties(format!(
                    "ObjectLockMode {other:?} is neither GOVERNANCE nor COMPLIANCE"
                )));
            }
        };
        let days = text("RetentionDays")?;
        let retention_days = days
            .parse::<u32>()
            .ok()
            .filter(|days| *days <= MAX_RETENTION_DAYS)
            .ok_or_else(|| {
                BucketError::Properties(format!(
                    "RetentionDays {days:?} is not a whole number from 0 to {MAX_RETENTION_DAYS}"
                ))
            })?;
        Ok(Self {
            bucket,
            mode,
            retention_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn reads_the_framework_s_event_with_cloudformation_s_string_properties() {
        let event: ProviderEvent = serde_json::from_value(serde_json::json!({
            "RequestType": "Update",
            "ServiceToken": "arn:aws:lambda:eu-central-1:123456789012:function:provider",
            "ResponseURL": "https://example.com/",
            "StackId": "arn:aws:cloudformation:eu-central-1:123456789012:stack/photopipe/1",
            "RequestId": "1",
            "LogicalResourceId": "ArchiveBucket",
            "PhysicalResourceId": "photopipe-archive",
            "ResourceType": "Custom::WasabiBucket",
            "ResourceProperties": {
                "ServiceToken": "arn:aws:lambda:eu-central-1:123456789012:function:provider",
                "BucketName": "photopipe-archive",
                "ObjectLockMode": "COMPLIANCE",
                "RetentionDays": "90"
            },
            "OldResourceProperties": {}
        }))
        .expect("parses");
        assert_eq!(event.request_type, RequestType::Update);
        assert_eq!(
            event.physical_resource_id.as_deref(),
            Some("photopipe-archive")
        );
        assert_eq!(
            BucketSpec::from_properties(&event.resource_properties),
            Ok(BucketSpec {
                bucket: "photopipe-archive".into(),
                mode: ObjectLockRetentionMode::Compliance,
                retention_days: 90,
            })
        );
    }

    #[test]
    fn refuses_properties_out_of_bounds() {
        let spec = |mode: &str, days: serde_json::Value| {
            BucketSpec::from_properties(&properties(serde_json::json!({
                "BucketName": "b", "ObjectLockMode": mode, "RetentionDays": days
            })))
        };
        assert_eq!(
            spec("GOVERNANCE", 0.into()).map(|s| s.retention_days),
            Ok(0)
        );
        assert_eq!(
            spec("GOVERNANCE", "36500".into()).map(|s| s.retention_days),
            Ok(36_500)
        );
        for days in ["36501", "-1", "1.5", ""] {
            let err = spec("GOVERNANCE", days.into()).expect_err(days);
            assert!(
                matches!(&err, BucketError::Properties(why) if why.contains("RetentionDays")),
                "{err}"
            );
        }
        let err = spec("governance", "1".into()).expect_err("lower case");
        assert!(
            err.to_string()
                .contains("neither GOVERNANCE nor COMPLIANCE")
        );
        let err =
            BucketSpec::from_properties(&properties(serde_json::json!({}))).expect_err("no bucket");
        assert_eq!(err, BucketError::Properties("BucketName is missing".into()));
    }

    #[test]
    fn bounds_and_modes_are_the_contract_s() {
        let contract: serde_json::Value =
            serde_json::from_str(include_str!("../../../contract/settings.json")).expect("JSON");
        let days = &contract["settings"]["wasabiRetentionDays"];
        assert_eq!(
            (&days["min"], &days["max"]),
            (&0.into(), &MAX_RETENTION_DAYS.into())
        );
        let modes = &contract["settings"]["wasabiObjectLockMode"];
        assert_eq!(
            modes["allowed"],
            serde_json::json!(["GOVERNANCE", "COMPLIANCE"])
        );
        for mode in modes["allowed"].as_array().expect("modes") {
            let mode = mode.as_str().expect("a mode");
            let spec = BucketSpec::from_properties(&properties(serde_json::json!({
                "BucketName": "b", "ObjectLockMode": mode, "RetentionDays": "1"
            })))
            .expect(mode);
            assert_eq!(spec.mode.as_str(), mode);
        }
    }
}
