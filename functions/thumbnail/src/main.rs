//! The thumbnail Lambda: builds its dependencies once, then serves invocations.

mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use photopipe::model::PhotoRequest;
use photopipe::settings::{self, InputLimits, ThumbnailSettings, env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    photopipe::init_logging();
    let config = aws_config::load_from_env().await;
    let dependencies = handler::Dependencies {
        s3: aws_sdk_s3::Client::new(&config),
        bucket: settings::required(env::THUMBNAILS_BUCKET)?,
        settings: ThumbnailSettings::from_env()?,
        limits: InputLimits::from_env()?,
    };
    run(service_fn(|event: LambdaEvent<PhotoRequest>| {
        handler::handle(&dependencies, event.payload)
    }))
    .await
}
