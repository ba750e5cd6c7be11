//! The reconciler Lambda, run on a schedule: builds its dependencies once, then on each
//! invocation starts the originals under `photos/` that no run covers and publishes the age
//! of the oldest one waiting.

use std::time::SystemTime;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use photopipe::backlog::Backlog;

use reconcile::handler::{self, Dependencies, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    photopipe::init_logging();
    let settings = Settings::from_env()?;
    let config = aws_config::load_from_env().await;
    let dependencies = Dependencies {
        backlog: Backlog::new(
            aws_sdk_s3::Client::new(&config),
            aws_sdk_sfn::Client::new(&config),
            settings.dropbox_bucket,
            settings.state_machine_arn,
        )?,
        cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
        after: settings.after,
    };
    // The scheduled event carries nothing the reconciler needs.
    run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        handler::handle(&dependencies, SystemTime::now())
    }))
    .await
}
