//! The archive Lambda: builds its dropbox client and the Wasabi client holder once, then
//! serves invocations.

mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use photopipe::model::PhotoRequest;
use photopipe::settings::WasabiSettings;
use photopipe::wasabi::Archive;

#[tokio::main]
async fn main() -> Result<(), Error> {
    photopipe::init_logging();
    let config = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let archive = Archive::new(WasabiSettings::from_env()?, &config);
    run(service_fn(|event: LambdaEvent<PhotoRequest>| {
        handler::archive(&s3, &archive, event.payload)
    }))
    .await
}
