//! The archive Lambda: builds its dependencies (the dropbox client, the Wasabi client signing
//! with the write key, its self-refreshing credentials) once, then serves invocations.

mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use photopipe::model::PhotoRequest;
use photopipe::settings::{WasabiKey, WasabiSettings};
use photopipe::wasabi::Wasabi;

#[tokio::main]
async fn main() -> Result<(), Error> {
    photopipe::init_logging();
    let config = aws_config::load_from_env().await;
    let dependencies = handler::Dependencies {
        s3: aws_sdk_s3::Client::new(&config),
        wasabi: Wasabi::new(&WasabiSettings::from_env(WasabiKey::Write)?, &config),
    };
    run(service_fn(|event: LambdaEvent<PhotoRequest>| {
        handler::handle(&dependencies, event.payload)
    }))
    .await
}
