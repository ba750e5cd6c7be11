//! The cleanup Lambda: builds its clients once, then serves invocations (removing archived
//! originals, or quarantining rejected ones).

mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use photopipe::model::CleanupRequest;
use photopipe::settings::{self, WasabiSettings};
use photopipe::wasabi::Archive;

#[tokio::main]
async fn main() -> Result<(), Error> {
    photopipe::init_logging();
    let config = aws_config::load_from_env().await;
    let clients = handler::Clients {
        s3: aws_sdk_s3::Client::new(&config),
        archive: Archive::new(WasabiSettings::from_env()?, &config),
        thumbnails_bucket: settings::required("THUMBNAILS_BUCKET")?,
    };
    run(service_fn(|event: LambdaEvent<CleanupRequest>| {
        handler::cleanup(&clients, event.payload)
    }))
    .await
}
