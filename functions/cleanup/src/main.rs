//! The cleanup Lambda: builds its dependencies once (the Wasabi client signing with the
//! read-only key: cleanup only reads the archived copy back), then serves invocations
//! (removing archived originals, or quarantining rejected ones).

mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use photopipe::model::CleanupRequest;
use photopipe::settings::{self, WasabiKey, WasabiSettings, env};
use photopipe::wasabi::Wasabi;

#[tokio::main]
async fn main() -> Result<(), Error> {
    photopipe::init_logging();
    let config = aws_config::load_from_env().await;
    let dependencies = handler::Dependencies {
        s3: aws_sdk_s3::Client::new(&config),
        wasabi: Wasabi::new(&WasabiSettings::from_env(WasabiKey::Read)?, &config),
        thumbnails_bucket: settings::required(env::THUMBNAILS_BUCKET)?,
    };
    run(service_fn(|event: LambdaEvent<CleanupRequest>| {
        handler::handle(&dependencies, event.payload)
    }))
    .await
}
