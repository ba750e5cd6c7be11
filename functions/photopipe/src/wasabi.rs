//! The archive's S3 client: Wasabi (or any S3-compatible provider) with its own endpoint,
//! path-style addressing, checksums only when an operation requires them, and credentials
//! read from a Secrets Manager secret, cached across invocations.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::{PipelineError, Result};
use crate::settings::WasabiSettings;

/// The secret's JSON, in the format of the old demo.
#[derive(Deserialize)]
struct WasabiSecret {
    #[serde(rename = "WASABI_ACCESS")]
    access: String,
    #[serde(rename = "WASABI_SECRET")]
    secret: String,
}

impl std::fmt::Debug for WasabiSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasabiSecret")
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// Hands out the archive client, reading the secret on first use and again after
/// [`Archive::forget_credentials`] (a rotated secret then takes effect without a redeploy).
#[derive(Debug)]
pub struct Archive {
    pub settings: WasabiSettings,
    sdk_config: SdkConfig,
    secrets: aws_sdk_secretsmanager::Client,
    client: Mutex<Option<aws_sdk_s3::Client>>,
}

impl Archive {
    pub fn new(settings: WasabiSettings, sdk_config: &SdkConfig) -> Self {
        Self {
            settings,
            secrets: aws_sdk_secretsmanager::Client::new(sdk_config),
            sdk_config: sdk_config.clone(),
            client: Mutex::new(None),
        }
    }

    /// The archive bucket's name.
    pub fn bucket(&self) -> &str {
        &self.settings.bucket
    }

    /// The client, built once per Lambda instance.
    pub async fn client(&self) -> Result<aws_sdk_s3::Client> {
        let mut cached = self.client.lock().await;
        if let Some(client) = cached.as_ref() {
            return Ok(client.clone());
        }
        let secret = self.read_secret().await?;
        let client = client_for(
            &self.sdk_config,
            &self.settings,
            &secret.access,
            &secret.secret,
        );
        *cached = Some(client.clone());
        Ok(client)
    }

    /// Drops the cached credentials, after the archive refused them.
    pub async fn forget_credentials(&self) {
        *self.client.lock().await = None;
    }

    async fn read_secret(&self) -> Result<WasabiSecret> {
        let name = &self.settings.secret_name;
        let output = self
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
        serde_json::from_str(text).map_err(|_| {
            PipelineError::Configuration(format!(
                "secret {name:?} must be JSON with WASABI_ACCESS and WASABI_SECRET"
            ))
        })
    }
}

/// An S3 client for an S3-compatible provider. Explicit endpoint and region: the
/// `AWS_ENDPOINT_URL*` variables that point AWS clients elsewhere do not reach it.
pub fn client_for(
    sdk_config: &SdkConfig,
    settings: &WasabiSettings,
    access_key: &str,
    secret_key: &str,
) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk_config)
        .endpoint_url(&settings.endpoint)
        .region(Region::new(settings.region.clone()))
        .credentials_provider(Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "wasabi-secret",
        ))
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
