//! photopipe's domain, shared by every Lambda and the local runner: the start event and the
//! records passed between states, the error enum and its Step Functions names, settings,
//! the S3 and Wasabi helpers, and the backlog (originals no run covers) that the reconciler and
//! the operator CLI share. No imaging here: the engine is `photopipe-imaging`, which
//! only the validate and thumbnail functions link.

pub mod backlog;
pub mod error;
pub mod event;
pub mod format;
pub mod model;
pub mod s3;
pub mod settings;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod wasabi;

pub use error::{PipelineError, Result};

/// Logging for a Lambda: JSON lines that CloudWatch Logs Insights can query.
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}
