//! Wasabi's access key, read from a Secrets Manager secret (`{"WASABI_ACCESS": …,
//! "WASABI_SECRET": …}`, the old demo's format), cached across invocations, and forgotten
//! the moment Wasabi answers 401 or 403 so that a rotated secret takes effect on the next
//! request without a redeploy and without the handlers having to notice.

use std::sync::{Arc, Mutex, PoisonError};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError};
use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use serde::Deserialize;

use crate::error::{PipelineError, Result};

/// The secret's JSON.
#[derive(Deserialize)]
struct WasabiSecret {
    #[serde(rename = "WASABI_ACCESS")]
    access: String,
    #[serde(rename = "WASABI_SECRET")]
    secret: String,
}

/// Credentials read from the secret on first use and again after [`SecretCredentials::forget`].
#[derive(Debug, Clone)]
pub struct SecretCredentials {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    secrets: aws_sdk_secretsmanager::Client,
    name: String,
    cached: Mutex<Option<Credentials>>,
}

impl SecretCredentials {
    pub fn new(secrets: aws_sdk_secretsmanager::Client, name: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                secrets,
                name,
                cached: Mutex::new(None),
            }),
        }
    }

    /// The cached credentials, or the secret's, read now.
    pub async fn load(&self) -> Result<Credentials> {
        if let Some(credentials) = self.cached().clone() {
            return Ok(credentials);
        }
        let credentials = self.read_secret().await?;
        *self.cached() = Some(credentials.clone());
        Ok(credentials)
    }

    /// Drops the cached credentials: the next request reads the secret again.
    pub fn forget(&self) {
        *self.cached() = None;
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<Credentials>> {
        // The value is replaced whole, so a panic elsewhere cannot leave it half-written.
        self.inner
            .cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn read_secret(&self) -> Result<Credentials> {
        let name = &self.inner.name;
        let output = self
            .inner
            .secrets
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|err| {
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                {
                    PipelineError::Configuration(format!("secret {name:?} does not exist"))
                } else {
                    PipelineError::from_sdk(&format!("GetSecretValue {name}"), err)
                }
            })?;
        let text = output.secret_string().ok_or_else(|| {
            PipelineError::Configuration(format!("secret {name:?} has no string value"))
        })?;
        let secret: WasabiSecret = serde_json::from_str(text).map_err(|_| {
            PipelineError::Configuration(format!(
                "secret {name:?} must be JSON with WASABI_ACCESS and WASABI_SECRET"
            ))
        })?;
        Ok(Credentials::new(
            secret.access,
            secret.secret,
            None,
            None,
            "wasabi-secret",
        ))
    }
}

impl ProvideCredentials for SecretCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.load().await.map_err(CredentialsError::provider_error)
        })
    }
}

/// Forgets the credentials when Wasabi refuses them (401 or 403), whatever the request.
#[derive(Debug)]
pub(crate) struct ForgetOnRefusal(SecretCredentials);

impl ForgetOnRefusal {
    pub(crate) fn new(credentials: SecretCredentials) -> Self {
        Self(credentials)
    }
}

impl Intercept for ForgetOnRefusal {
    fn name(&self) -> &'static str {
        "ForgetWasabiCredentialsOnRefusal"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        if matches!(context.response().status().as_u16(), 401 | 403) {
            tracing::warn!("Wasabi refused the credentials; the secret is read again next time");
            self.0.forget();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::operation::get_secret_value::{
        GetSecretValueError, GetSecretValueOutput,
    };
    use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const SECRET: &str = r#"{"WASABI_ACCESS":"AK1","WASABI_SECRET":"SK1"}"#;

    fn secret(text: &'static str) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some("demo/wasabi/access"))
            .then_output(move || GetSecretValueOutput::builder().secret_string(text).build())
    }

    fn provider(rule: &aws_smithy_mocks::Rule) -> SecretCredentials {
        SecretCredentials::new(
            mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [rule]),
            "demo/wasabi/access".into(),
        )
    }

    #[tokio::test]
    async fn reads_the_secret_once_until_forgotten() {
        let rule = secret(SECRET);
        let credentials = provider(&rule);
        let first = credentials.load().await.expect("loaded");
        assert_eq!(
            (first.access_key_id(), first.secret_access_key()),
            ("AK1", "SK1")
        );
        credentials.load().await.expect("cached");
        assert_eq!(rule.num_calls(), 1);
        credentials.forget();
        credentials.load().await.expect("read again");
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_missing_or_malformed_secret_is_a_configuration_error() {
        let missing = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_error(|| {
            GetSecretValueError::ResourceNotFoundException(
                ResourceNotFoundException::builder().build(),
            )
        });
        let err = provider(&missing).load().await.expect_err("missing");
        assert_eq!(
            err,
            PipelineError::Configuration("secret \"demo/wasabi/access\" does not exist".into())
        );
        let malformed = secret(r#"{"access":"AK1"}"#);
        let err = provider(&malformed).load().await.expect_err("malformed");
        assert_eq!(err.error_name(), "Photo.Configuration");
        assert!(
            err.to_string().contains("WASABI_ACCESS and WASABI_SECRET"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn wasabi_refusing_the_key_makes_the_next_request_read_the_secret_again() {
        let rule = secret(SECRET);
        let credentials = provider(&rule);
        credentials.load().await.expect("loaded");
        let refused = mock!(aws_sdk_s3::Client::head_bucket).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).expect("status"),
                aws_smithy_types::body::SdkBody::empty(),
            )
        });
        let wasabi = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&refused], |config| {
            config.interceptor(ForgetOnRefusal::new(credentials.clone()))
        });
        let answer = wasabi.head_bucket().bucket("arch").send().await;
        assert!(answer.is_err(), "403 is an error");
        assert_eq!(refused.num_calls(), 1);
        credentials.load().await.expect("read again");
        assert_eq!(rule.num_calls(), 2, "the refused key was forgotten");
    }
}
