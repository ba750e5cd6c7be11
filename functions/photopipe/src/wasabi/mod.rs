//! The archive at Wasabi (or any S3-compatible provider): an S3 client with its own endpoint
//! and region, path-style addressing, checksums only when an operation requires them (the
//! SDK's default CRC32 trailers have stalled uploads there), and credentials from a Secrets
//! Manager secret that refresh themselves after Wasabi refuses them ([`credentials`]).

pub mod credentials;

use aws_config::SdkConfig;
use aws_sdk_s3::config::{
    IdentityCache, ProvideCredentials, Region, RequestChecksumCalculation,
    ResponseChecksumValidation,
};

use crate::Result;
use crate::settings::WasabiSettings;
use credentials::{ForgetOnRefusal, SecretCredentials};

/// The archive bucket and the client that reaches it, built once per Lambda instance.
#[derive(Debug, Clone)]
pub struct Wasabi {
    /// The archive bucket's name.
    pub bucket: String,
    client: aws_sdk_s3::Client,
    credentials: SecretCredentials,
}

impl Wasabi {
    /// A client whose credentials come from the secret `settings.secret_name`.
    pub fn new(settings: &WasabiSettings, sdk_config: &SdkConfig) -> Self {
        let credentials = SecretCredentials::new(
            aws_sdk_secretsmanager::Client::new(sdk_config),
            settings.secret_name.clone(),
        );
        let config = builder(sdk_config, settings)
            .credentials_provider(credentials.clone())
            // Every request asks the provider, which caches the secret itself and forgets it
            // when Wasabi refuses it; the SDK's own cache would keep a refused key for
            // minutes.
            .identity_cache(IdentityCache::no_cache())
            .interceptor(ForgetOnRefusal::new(credentials.clone()))
            .build();
        Self {
            bucket: settings.bucket.clone(),
            client: aws_sdk_s3::Client::from_conf(config),
            credentials,
        }
    }

    /// The client, once the credentials are read: a missing or malformed secret is
    /// `Photo.Configuration` here rather than a failed request later.
    pub async fn client(&self) -> Result<&aws_sdk_s3::Client> {
        self.credentials.load().await?;
        Ok(&self.client)
    }
}

/// An S3 client for an S3-compatible provider with fixed credentials (the local stack's
/// stand-in, tools). Explicit endpoint and region: the `AWS_ENDPOINT_URL*` variables that
/// point AWS clients elsewhere do not reach it.
pub fn client_for(
    sdk_config: &SdkConfig,
    settings: &WasabiSettings,
    credentials: impl ProvideCredentials + 'static,
) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        builder(sdk_config, settings)
            .credentials_provider(credentials)
            .build(),
    )
}

fn builder(sdk_config: &SdkConfig, settings: &WasabiSettings) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::from(sdk_config)
        .endpoint_url(&settings.endpoint)
        .region(Region::new(settings.region.clone()))
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
}
