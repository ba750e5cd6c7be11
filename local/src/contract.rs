//! The functions' sizes from `contract/functions.json`, the file the CDK app deploys them
//! with: each function's memory and timeout, so the local host runs each one as AWS would.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// `contract/functions.json`, compiled in.
const FUNCTIONS_JSON: &str = include_str!("../../contract/functions.json");

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
