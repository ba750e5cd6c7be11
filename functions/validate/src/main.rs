//! The validate Lambda: builds its S3 client and limits once, then serves invocations.

mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use photopipe::model::ValidateRequest;
use photopipe::settings::InputLimits;

#[tokio::main]
async fn main() -> Result<(), Error> {
    photopipe::init_logging();
    let limits = InputLimits::from_env()?;
    let config = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    run(service_fn(|event: LambdaEvent<ValidateRequest>| {
        handler::validate(&s3, &limits, event.payload)
    }))
    .await
}
