//! The handler against mocked Wasabi answers: each refusal, and what is sent when.

use aws_sdk_s3::operation::create_bucket::{CreateBucketError, CreateBucketOutput};
use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
use aws_sdk_s3::operation::get_object_lock_configuration::GetObjectLockConfigurationOutput;
use aws_sdk_s3::operation::head_bucket::{HeadBucketError, HeadBucketOutput};
use aws_sdk_s3::operation::put_object_lock_configuration::PutObjectLockConfigurationOutput;
use aws_sdk_s3::types::ObjectLockRetentionMode;
use aws_sdk_s3::types::error::{BucketAlreadyExists, BucketAlreadyOwnedByYou, NotFound};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::*;

const BUCKET: &str = "photopipe-archive";

fn spec(days: u32) -> BucketSpec {
    BucketSpec {
        bucket: BUCKET.into(),
        mode: ObjectLockRetentionMode::Governance,
        retention_days: days,
    }
}

/// An S3 error answer of `status` with `code` (no body for a HEAD).
fn answer(status: u16, code: Option<&str>) -> Response<SdkBody> {
    let body = code.map_or_else(SdkBody::empty, |code| {
        SdkBody::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>refused</Message></Error>"
        ))
    });
    Response::new(StatusCode::try_from(status).expect("status"), body)
}

fn head_missing() -> Rule {
    mock!(Client::head_bucket).then_error(|| HeadBucketError::NotFound(NotFound::builder().build()))
}

fn head_ours() -> Rule {
    mock!(Client::head_bucket).then_output(|| HeadBucketOutput::builder().build())
}

fn head_403() -> Rule {
    mock!(Client::head_bucket).then_http_response(|| answer(403, None))
}

fn create() -> Rule {
    mock!(Client::create_bucket)
        .match_requests(|r| {
            r.bucket() == Some(BUCKET)
                && r.object_lock_enabled_for_bucket() == Some(true)
                && r.create_bucket_configuration()
                    .and_then(|c| c.location_constraint())
                    .map(|l| l.as_str())
                    == Some("eu-central-2")
        })
        .then_output(|| CreateBucketOutput::builder().build())
}

fn put_retention(days: i32) -> Rule {
    mock!(Client::put_object_lock_configuration)
        .match_requests(move |r| {
            let retention = r
                .object_lock_configuration()
                .and_then(|c| c.rule())
                .and_then(|rule| rule.default_retention());
            r.bucket() == Some(BUCKET)
                && r.object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    == Some(&ObjectLockEnabled::Enabled)
                && retention.and_then(|d| d.mode()) == Some(&ObjectLockRetentionMode::Governance)
                && retention.and_then(|d| d.days()) == Some(days)
        })
        .then_output(|| PutObjectLockConfigurationOutput::builder().build())
}

fn versioning(status: Option<BucketVersioningStatus>) -> Rule {
    mock!(Client::get_bucket_versioning).then_output(move || {
        GetBucketVersioningOutput::builder()
            .set_status(status.clone())
            .build()
    })
}

fn versioning_refused(code: &'static str) -> Rule {
    mock!(Client::get_bucket_versioning).then_http_response(move || answer(403, Some(code)))
}

fn lock(days: Option<i32>) -> Rule {
    mock!(Client::get_object_lock_configuration).then_output(move || {
        let mut config =
            ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled);
        if let Some(days) = days {
            config = config.rule(
                ObjectLockRule::builder()
                    .default_retention(
                        DefaultRetention::builder()
                            .mode(ObjectLockRetentionMode::Governance)
                            .days(days)
                            .build(),
                    )
                    .build(),
            );
        }
        GetObjectLockConfigurationOutput::builder()
            .object_lock_configuration(config.build())
            .build()
    })
}

fn no_lock() -> Rule {
    mock!(Client::get_object_lock_configuration)
        .then_http_response(|| answer(404, Some("ObjectLockConfigurationNotFoundError")))
}

#[tokio::test]
async fn a_missing_bucket_is_created_with_object_lock_and_its_default_retention() {
    let (head, create, put, versioning, lock) = (
        head_missing(),
        create(),
        put_retention(90),
        versioning(Some(BucketVersioningStatus::Enabled)),
        lock(Some(90)),
    );
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&head, &create, &put, &versioning, &lock]
    );
    let found = ensure(&client, "eu-central-2", &spec(90))
        .await
        .expect("made");
    assert!(found.created);
    assert_eq!(
        [
            head.num_calls(),
            create.num_calls(),
            put.num_calls(),
            versioning.num_calls(),
            lock.num_calls()
        ],
        [1, 1, 1, 1, 1]
    );
    let data = found.data(&spec(90));
    assert_eq!(
        data,
        BTreeMap::from(
            [
                ("BucketName", BUCKET),
                ("Created", "true"),
                ("Versioning", "Enabled"),
                ("ObjectLock", "Enabled"),
                ("DefaultRetention", "GOVERNANCE 90 days"),
                ("RetentionAsConfigured", "true"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        )
    );
}

#[tokio::test]
async fn zero_retention_days_create_the_bucket_with_object_lock_and_no_default_retention() {
    let (head, create, put, versioning, lock) = (
        head_missing(),
        create(),
        put_retention(0),
        versioning(Some(BucketVersioningStatus::Enabled)),
        lock(None),
    );
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&head, &create, &put, &versioning, &lock]
    );
    let found = ensure(&client, "eu-central-2", &spec(0))
        .await
        .expect("made");
    assert_eq!(put.num_calls(), 0, "no PutObjectLockConfiguration");
    assert_eq!(create.num_calls(), 1);
    let data = found.data(&spec(0));
    assert_eq!(data["DefaultRetention"], "none");
    assert_eq!(data["RetentionAsConfigured"], "true");
}

#[tokio::test]
async fn us_east_1_creates_without_a_location_constraint() {
    let head = head_missing();
    let create = mock!(Client::create_bucket)
        .match_requests(|r| r.create_bucket_configuration().is_none())
        .then_output(|| CreateBucketOutput::builder().build());
    let versioning = versioning(Some(BucketVersioningStatus::Enabled));
    let lock = lock(None);
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&head, &create, &versioning, &lock]
    );
    ensure(&client, "us-east-1", &spec(0)).await.expect("made");
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn an_existing_versioned_bucket_is_checked_and_its_retention_left_alone() {
    let (head, create, put, versioning, lock) = (
        head_ours(),
        create(),
        put_retention(30),
        versioning(Some(BucketVersioningStatus::Enabled)),
        no_lock(),
    );
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&head, &create, &put, &versioning, &lock]
    );
    let found = ensure(&client, "eu-central-2", &spec(30))
        .await
        .expect("checked");
    assert!(!found.created);
    assert_eq!(
        (create.num_calls(), put.num_calls()),
        (0, 0),
        "nothing changed"
    );
    let data = found.data(&spec(30));
    assert_eq!(
        (
            data["Created"].as_str(),
            data["ObjectLock"].as_str(),
            data["DefaultRetention"].as_str(),
            data["RetentionAsConfigured"].as_str()
        ),
        ("false", "Disabled", "none", "false")
    );
}

#[tokio::test]
async fn a_bucket_made_meanwhile_by_us_is_checked_as_an_existing_one() {
    let head = head_missing();
    let create = mock!(Client::create_bucket).then_error(|| {
        CreateBucketError::BucketAlreadyOwnedByYou(BucketAlreadyOwnedByYou::builder().build())
    });
    let put = put_retention(90);
    let versioning = versioning(Some(BucketVersioningStatus::Enabled));
    let lock = lock(Some(90));
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&head, &create, &put, &versioning, &lock]
    );
    let found = ensure(&client, "eu-central-2", &spec(90))
        .await
        .expect("checked");
    assert!(!found.created);
    assert_eq!(put.num_calls(), 0);
}

#[tokio::test]
async fn versioning_off_or_suspended_fails_the_deploy() {
    for (status, said) in [
        (None, "off (never enabled)"),
        (Some(BucketVersioningStatus::Suspended), "Suspended"),
    ] {
        let (head, versioning, lock) = (head_ours(), versioning(status), no_lock());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &versioning, &lock]);
        let err = ensure(&client, "eu-central-2", &spec(0))
            .await
            .expect_err("refused");
        assert_eq!(
            err,
            BucketError::VersioningOff {
                bucket: BUCKET.into(),
                status: said.into()
            }
        );
        assert!(err.to_string().contains("enable versioning"), "{err}");
        assert_eq!(
            Diagnostic::from(err).error_type,
            "WasabiBucket.VersioningOff"
        );
    }
}

#[tokio::test]
async fn a_key_wasabi_does_not_accept_fails_the_deploy_as_wrong_credentials() {
    for code in ["InvalidAccessKeyId", "SignatureDoesNotMatch"] {
        let (head, versioning) = (head_403(), versioning_refused(code));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &versioning]);
        let err = ensure(&client, "eu-central-2", &spec(0))
            .await
            .expect_err("refused");
        assert!(
            matches!(&err, BucketError::WrongCredentials(detail) if detail.contains(code)),
            "{err}"
        );
        assert!(err.to_string().contains("wasabiSetupSecretName"), "{err}");
        assert_eq!(
            Diagnostic::from(err).error_type,
            "WasabiBucket.WrongCredentials"
        );
    }
}

#[tokio::test]
async fn a_bucket_of_another_account_fails_the_deploy_as_not_ours() {
    let (head, versioning) = (head_403(), versioning_refused("AccessDenied"));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &versioning]);
    let err = ensure(&client, "eu-central-2", &spec(0))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, BucketError::NotOurs { bucket, .. } if bucket == BUCKET),
        "{err}"
    );
    assert!(err.to_string().contains("choose another"), "{err}");

    // …and when CreateBucket finds the name taken.
    let head = head_missing();
    let create = mock!(Client::create_bucket).then_error(|| {
        CreateBucketError::BucketAlreadyExists(BucketAlreadyExists::builder().build())
    });
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &create]);
    let err = ensure(&client, "eu-central-2", &spec(0))
        .await
        .expect_err("refused");
    assert_eq!(
        err,
        BucketError::NotOurs {
            bucket: BUCKET.into(),
            detail: "CreateBucket: BucketAlreadyExists".into()
        }
    );
    assert_eq!(Diagnostic::from(err).error_type, "WasabiBucket.NotOurs");
}

#[tokio::test]
async fn a_bucket_in_another_region_is_named_as_such() {
    let head = mock!(Client::head_bucket).then_http_response(|| answer(301, None));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head]);
    let err = ensure(&client, "eu-central-2", &spec(0))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("another region"), "{err}");
}

#[tokio::test]
async fn delete_retains_the_bucket_without_a_request_even_with_bad_properties() {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let settings = photopipe::settings::WasabiSettings {
        // Nothing listens there: a request would fail the test.
        endpoint: "http://127.0.0.1:1".into(),
        region: "eu-central-2".into(),
        bucket: BUCKET.into(),
        secret_name: "demo/wasabi/setup".into(),
    };
    let dependencies = Dependencies {
        wasabi: Wasabi::new(&settings, &sdk),
        region: "eu-central-2".into(),
    };
    let event: ProviderEvent = serde_json::from_value(serde_json::json!({
        "RequestType": "Delete",
        "PhysicalResourceId": BUCKET,
        "ResourceProperties": { "BucketName": BUCKET, "RetentionDays": "not a number" }
    }))
    .expect("event");
    let response = handle(&dependencies, event).await.expect("deleted");
    assert_eq!(response.physical_resource_id, BUCKET);
    assert_eq!(response.data["Retained"], "true");
    assert_eq!(
        serde_json::to_value(&response).expect("JSON")["PhysicalResourceId"],
        BUCKET
    );
}
