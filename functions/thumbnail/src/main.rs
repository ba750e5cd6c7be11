//! The thumbnail Lambda: builds its S3 client and settings once, then serves invocations.

mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use photopipe::model::PhotoRequest;
use photopipe::settings::{self, InputLimits, ThumbnailSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    photopipe::init_logging();
    let target = handler::Target {
        bucket: settings::required("THUMBNAILS_BUCKET")?,
        settings: ThumbnailSettings::from_env()?,
        limits: InputLimits::from_env()?,
    };
    let config = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    run(service_fn(|event: LambdaEvent<PhotoRequest>| {
        handler::thumbnail(&s3, &target, event.payload)
    }))
    .await
}
