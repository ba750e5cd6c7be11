//! What a local run would cost on AWS at list prices, kept as data in one file
//! (`local/prices.json`, each price with its source and date): Lambda on arm64 from the
//! `REPORT`s (billed duration × memory size, and one request per invocation), Step
//! Functions Standard from the executions' histories (each state entered and each retry a
//! transition), S3 from the requests the fault proxy in front of moto forwarded (by HTTP
//! method: PUT and POST, a COPY among them, at one price, GET and HEAD at another, DELETE
//! free; a LIST is a GET on the bucket and would be priced as a GET here), Secrets
//! Manager from the API calls through the same proxy. Wasabi charges nothing per request;
//! its storage, billed for at least 90 days per object, is not a per-request cost.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::lambda::InvocationReport;

/// `local/prices.json`, compiled in.
const PRICES_JSON: &str = include_str!("../prices.json");

/// One list price: `usd` per `per` units.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Price {
    pub usd: f64,
    pub per: f64,
    pub unit: String,
    /// The page that publishes it.
    pub source: String,
    /// When it was written down.
    pub as_of: String,
    /// What else to know about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Price {
    /// The price of `quantity` units.
    pub fn of(&self, quantity: f64) -> f64 {
        quantity * self.usd / self.per
    }
}

/// Every price a run is priced at.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Prices {
    pub lambda_arm64_gb_second: Price,
    pub lambda_request: Price,
    pub sfn_standard_state_transition: Price,
    pub s3_standard_put_copy_post_list: Price,
    pub s3_standard_get_head: Price,
    pub secrets_manager_api_call: Price,
    pub wasabi_api_request: Price,
}

impl Prices {
    /// The prices in `local/prices.json`.
    pub fn list() -> anyhow::Result<Self> {
        serde_json::from_str(PRICES_JSON).context("local/prices.json is not valid")
    }
}

/// What a run used, in the units it is billed in.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Σ billed duration × memory size, in GB-seconds (memory in MB / 1024).
    pub lambda_gb_seconds: f64,
    /// Invocations, each one request.
    pub lambda_requests: u64,
    pub state_transitions: u64,
    /// S3 PUT and POST requests (PutObject, CopyObject, PutObjectTagging, the multipart
    /// calls).
    pub s3_put_copy_post_list: u64,
    /// S3 GET, HEAD and any other method but DELETE.
    pub s3_get_head: u64,
    /// S3 DELETE requests: free.
    pub s3_delete: u64,
    pub secrets_manager_calls: u64,
    /// Calls to other services through the proxy, by `X-Amz-Target`: not priced here.
    pub unpriced_calls: BTreeMap<String, u64>,
    /// Requests that reached the Wasabi stand-in.
    pub wasabi_requests: u64,
}

impl Usage {
    /// The usage of a run: its invocations' reports, the state transitions of its
    /// executions, the requests the proxy in front of moto forwarded (S3's by method, other
    /// services' by `X-Amz-Target`, as [`crate::fault_proxy::FaultProxy::requests`] counts
    /// them) and the requests Wasabi served.
    pub fn new(
        reports: &[InvocationReport],
        state_transitions: u64,
        aws_requests: &BTreeMap<String, u64>,
        wasabi_requests: u64,
    ) -> Self {
        let mut usage = Self {
            lambda_gb_seconds: reports
                .iter()
                .map(|r| r.billed_ms as f64 / 1000.0 * f64::from(r.memory_mb) / 1024.0)
                .sum(),
            lambda_requests: reports.len() as u64,
            state_transitions,
            wasabi_requests,
            ..Self::default()
        };
        for (kind, &count) in aws_requests {
            match kind.as_str() {
                "PUT" | "POST" => usage.s3_put_copy_post_list += count,
                "DELETE" => usage.s3_delete += count,
                target if target.starts_with("secretsmanager.") => {
                    usage.secrets_manager_calls += count;
                }
                // An `X-Amz-Target` names a service's operation; a method is S3's.
                target if target.contains('.') => {
                    *usage.unpriced_calls.entry(target.to_owned()).or_default() += count;
                }
                _ => usage.s3_get_head += count,
            }
        }
        usage
    }
}

/// A run's cost in US dollars, per service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub lambda_duration: f64,
    pub lambda_requests: f64,
    pub step_functions: f64,
    pub s3_put_copy_post_list: f64,
    pub s3_get_head: f64,
    pub secrets_manager: f64,
    pub wasabi_requests: f64,
    pub total: f64,
}

impl Cost {
    /// `usage` at `prices`.
    pub fn of(usage: &Usage, prices: &Prices) -> Self {
        let mut cost = Self {
            lambda_duration: prices.lambda_arm64_gb_second.of(usage.lambda_gb_seconds),
            lambda_requests: prices.lambda_request.of(usage.lambda_requests as f64),
            step_functions: prices
                .sfn_standard_state_transition
                .of(usage.state_transitions as f64),
            s3_put_copy_post_list: prices
                .s3_standard_put_copy_post_list
                .of(usage.s3_put_copy_post_list as f64),
            s3_get_head: prices.s3_standard_get_head.of(usage.s3_get_head as f64),
            secrets_manager: prices
                .secrets_manager_api_call
                .of(usage.secrets_manager_calls as f64),
            wasabi_requests: prices.wasabi_api_request.of(usage.wasabi_requests as f64),
            total: 0.0,
        };
        cost.total = cost.parts().iter().map(|(_, usd)| usd).sum();
        cost
    }

    /// Every figure times `factor` (`1e6 / photos`: the cost per million photos).
    pub fn scaled(&self, factor: f64) -> Self {
        Self {
            lambda_duration: self.lambda_duration * factor,
            lambda_requests: self.lambda_requests * factor,
            step_functions: self.step_functions * factor,
            s3_put_copy_post_list: self.s3_put_copy_post_list * factor,
            s3_get_head: self.s3_get_head * factor,
            secrets_manager: self.secrets_manager * factor,
            wasabi_requests: self.wasabi_requests * factor,
            total: self.total * factor,
        }
    }

    /// Each part with its name, the total left out.
    pub fn parts(&self) -> [(&'static str, f64); 7] {
        [
            ("Lambda duration (arm64)", self.lambda_duration),
            ("Lambda requests", self.lambda_requests),
            ("Step Functions transitions", self.step_functions),
            ("S3 PUT/COPY/POST/LIST", self.s3_put_copy_post_list),
            ("S3 GET/HEAD", self.s3_get_head),
            ("Secrets Manager API", self.secrets_manager),
            ("Wasabi requests", self.wasabi_requests),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::InvocationStatus;

    fn price(usd: f64, per: f64) -> Price {
        Price {
            usd,
            per,
            unit: "unit".into(),
            source: "https://example.com".into(),
            as_of: "2026-01-01".into(),
            note: None,
        }
    }

    fn report(billed_ms: u64, memory_mb: u32) -> InvocationReport {
        InvocationReport {
            function: "photopipe-thumbnail".into(),
            request_id: "r".into(),
            duration_ms: billed_ms as f64 - 0.5,
            billed_ms,
            memory_mb,
            max_memory_used_mb: 40,
            status: InvocationStatus::Success,
            error_type: None,
            payload: serde_json::Value::Null,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn a_small_run_costs_what_its_counts_say() {
        let prices = Prices {
            lambda_arm64_gb_second: price(0.0000133334, 1.0),
            lambda_request: price(0.20, 1e6),
            sfn_standard_state_transition: price(0.025, 1e3),
            s3_standard_put_copy_post_list: price(0.005, 1e3),
            s3_standard_get_head: price(0.0004, 1e3),
            secrets_manager_api_call: price(0.05, 1e4),
            wasabi_api_request: price(0.0, 1.0),
        };
        // 100 ms at 1024 MB and 300 ms at 512 MB: 0.1 + 0.15 GB-s.
        let reports = [report(100, 1024), report(300, 512)];
        let aws: BTreeMap<String, u64> = [
            ("PUT", 3),
            ("POST", 1),
            ("GET", 4),
            ("HEAD", 2),
            ("DELETE", 5),
            ("secretsmanager.GetSecretValue", 2),
            ("AmazonSQS.SendMessage", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let usage = Usage::new(&reports, 10, &aws, 7);
        assert!(close(usage.lambda_gb_seconds, 0.25), "{usage:?}");
        assert_eq!(
            (
                usage.lambda_requests,
                usage.s3_put_copy_post_list,
                usage.s3_get_head,
                usage.s3_delete,
                usage.secrets_manager_calls,
                usage.wasabi_requests
            ),
            (2, 4, 6, 5, 2, 7)
        );
        assert_eq!(
            usage.unpriced_calls,
            [("AmazonSQS.SendMessage".to_owned(), 1)].into()
        );

        let cost = Cost::of(&usage, &prices);
        let expected = [
            0.25 * 0.0000133334,
            2.0 * 0.20 / 1e6,
            10.0 * 0.025 / 1e3,
            4.0 * 0.005 / 1e3,
            6.0 * 0.0004 / 1e3,
            2.0 * 0.05 / 1e4,
            0.0,
        ];
        for ((name, got), want) in cost.parts().into_iter().zip(expected) {
            assert!(close(got, want), "{name}: {got} != {want}");
        }
        assert!(close(cost.total, expected.iter().sum()), "{cost:?}");
        // Two photos' worth, per million photos.
        let per_million = cost.scaled(1e6 / 2.0);
        assert!(close(per_million.total, cost.total * 500_000.0));
        assert!(close(per_million.step_functions, 125.0));
    }

    #[test]
    fn the_price_list_is_complete_and_sourced() {
        let prices = Prices::list().expect("local/prices.json");
        let all = [
            &prices.lambda_arm64_gb_second,
            &prices.lambda_request,
            &prices.sfn_standard_state_transition,
            &prices.s3_standard_put_copy_post_list,
            &prices.s3_standard_get_head,
            &prices.secrets_manager_api_call,
            &prices.wasabi_api_request,
        ];
        for price in all {
            assert!(price.usd >= 0.0 && price.per > 0.0, "{price:?}");
            assert!(price.source.starts_with("https://"), "{price:?}");
            assert_eq!(price.as_of.len(), "2026-12-02".len(), "{price:?}");
        }
        assert!(prices.wasabi_api_request.note.is_some(), "Wasabi's 90 days");
        assert!(close(prices.lambda_request.of(1e6), 0.20));
        assert!(close(
            prices.sfn_standard_state_transition.of(1000.0),
            0.025
        ));
    }
}
