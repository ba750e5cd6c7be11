//! What the local stack takes from `contract/`, the files the CDK app deploys with: each
//! function's memory and timeout (`functions.json`), so the local host runs each one as AWS
//! would, the fast retry waits (`settings.json`), and which errors reject a photo
//! (`errors.json`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// `contract/functions.json`, compiled in.
const FUNCTIONS_JSON: &str = include_str!("../../contract/functions.json");
/// `contract/settings.json`, compiled in.
const SETTINGS_JSON: &str = include_str!("../../contract/settings.json");

/// Which errors reject a photo: read from `contract/errors.json` by the operator's CLI,
/// whose redrive rules the local runner's `--redrive` shares.
pub use photopipe_cli::redrive::rejection_errors;

/// The retry waits `--fast-retries` puts in every retrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FastRetries {
    pub interval_seconds: u64,
    pub max_delay_seconds: u64,
}

/// `retries.fast` of `contract/settings.json`.
pub fn fast_retries() -> anyhow::Result<FastRetries> {
    #[derive(Deserialize)]
    struct Retries {
        fast: FastRetries,
    }
    #[derive(Deserialize)]
    struct Settings {
        retries: Retries,
    }
    let settings: Settings =
        serde_json::from_str(SETTINGS_JSON).context("contract/settings.json is not valid")?;
    Ok(settings.retries.fast)
}

/// One function's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSize {
    /// The memory it is configured with, in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    pub memory_mb: u32,
    timeout_seconds: u64,
}

impl FunctionSize {
    /// How long one invocation may run.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }
}

#[derive(Debug, Deserialize)]
struct Contract {
    functions: BTreeMap<String, FunctionSize>,
}

/// The size of the function the contract names `name` (`validate`, `thumbnail`, …).
pub fn function_size(name: &str) -> anyhow::Result<FunctionSize> {
    let contract: Contract =
        serde_json::from_str(FUNCTIONS_JSON).context("contract/functions.json is not valid")?;
    let size = contract
        .functions
        .get(name)
        .copied()
        .with_context(|| format!("contract/functions.json has no function {name:?}"))?;
    anyhow::ensure!(
        size.memory_mb > 0 && size.timeout_seconds > 0,
        "contract/functions.json gives {name:?} no memory or no time: {size:?}"
    );
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_a_positive_memory_size_and_timeout() {
        for name in crate::stack::FUNCTIONS {
            let size = function_size(name).expect(name);
            assert!(size.memory_mb > 0, "{name}: {size:?}");
            assert!(size.timeout() > Duration::ZERO, "{name}: {size:?}");
        }
        assert!(function_size("resize").is_err());
    }
}
