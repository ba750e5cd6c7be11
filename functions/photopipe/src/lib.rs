//! photopipe's domain, shared by every Lambda and the local runner: the start event and the
//! records passed between states, the error enum and its Step Functions names, settings,
//! S3 and archive helpers, and the imaging engine.

pub mod config;
pub mod error;
pub mod event;
mod heif;
pub mod imaging;
mod jpeg_reduced;
pub mod model;
pub mod s3;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wasabi;
mod webp;

pub use error::{PipelineError, Result};

/// Logging for a Lambda: JSON lines that CloudWatch Logs Insights can query.
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}
