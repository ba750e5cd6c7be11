//! The Wasabi bucket provider Lambda (the `onEventHandler` of CDK's custom resource Provider
//! framework): builds the Wasabi client signing with the setup key once, then answers
//! CloudFormation's Create, Update and Delete events for the archive bucket.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use photopipe::settings::{WasabiKey, WasabiSettings};
use photopipe::wasabi::Wasabi;
use wasabi_bucket::event::ProviderEvent;
use wasabi_bucket::handler::{self, Dependencies};

#[tokio::main]
async fn main() -> Result<(), Error> {
    photopipe::init_logging();
    let config = aws_config::load_from_env().await;
    let settings = WasabiSettings::from_env(WasabiKey::Setup)?;
    let dependencies = Dependencies {
        region: settings.region.clone(),
        wasabi: Wasabi::new(&settings, &config),
    };
    run(service_fn(|event: LambdaEvent<ProviderEvent>| {
        handler::handle(&dependencies, event.payload)
    }))
    .await
}
