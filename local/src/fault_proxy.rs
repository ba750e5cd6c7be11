//! A fault injector: an HTTP proxy in front of an S3 endpoint (moto's S3, or the Wasabi
//! stand-in) that the functions talk to instead, and that tests program to misbehave as
//! providers do on a bad day: the next N requests or a fraction of them answered 503
//! SlowDown or 500 InternalError or cut off (the connection closed without an answer), added
//! latency, the endpoint down for a while, a write applied upstream whose answer is lost, or
//! one chosen request applied and its answer held, so a test can crash the function that
//! sent it at exactly that point.
//!
//! Requests are forwarded unchanged (the `Host` header too, so SigV4 signatures made for the
//! proxy's address still verify upstream). Only S3 requests are touched: on moto's endpoint
//! the other services' JSON calls (`X-Amz-Target`: Secrets Manager, Step Functions) pass
//! through untouched, so a fault is always one a function's S3 client sees.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::server::{self, Server};

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// One way a request can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 SlowDown, as S3 and Wasabi throttle.
    SlowDown,
    /// 500 InternalError.
    InternalError,
    /// The connection closed with no answer.
    Reset,
    /// The request is forwarded and applied upstream, and its answer lost: the connection
    /// closes as if it had dropped on the way back.
    LostAnswer,
}

/// Which request a trap catches, by its method and its path and query.
type Matcher = Box<dyn Fn(&hyper::Method, &str) -> bool + Send>;

/// A request to let through and then hold: see [`FaultProxy::hold_answer`].
struct Trap {
    matches: Matcher,
    held: Held,
}

impl std::fmt::Debug for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trap").finish_non_exhaustive()
    }
}

/// The request a trap caught: applied upstream, its answer held until released, so a test
/// can crash the function that sent it at exactly that point.
#[derive(Debug, Clone, Default)]
pub struct Held {
    applied: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

impl Held {
    /// Resolves once the caught request has been applied upstream.
    pub async fn applied(&self) {
        self.applied.notified().await;
    }

    /// Lets the held answer go (to whoever is still there to read it).
    pub fn release(&self) {
        self.release.notify_one();
    }
}

/// What the proxy is told to do.
#[derive(Debug, Default)]
struct Plan {
    /// Requests to hold once applied, each trap catching one.
    traps: Vec<Trap>,
    /// Faults for the next requests, in order.
    next: Vec<Fault>,
    /// The fraction of requests that fail at random (with 503, 500 or a reset).
    fraction: f64,
    /// Every request answered 503 until then.
    down_until: Option<Instant>,
    latency: Duration,
    random: u64,
}

impl Plan {
    /// The fault for the request now arriving, if any.
    fn take(&mut self) -> Option<Fault> {
        if self.down_until.is_some_and(|until| Instant::now() < until) {
            return Some(Fault::SlowDown);
        }
        if !self.next.is_empty() {
            return Some(self.next.remove(0));
        }
        if self.fraction > 0.0 && self.uniform() < self.fraction {
            return Some(match self.uniform() {
                x if x < 0.5 => Fault::SlowDown,
                x if x < 0.75 => Fault::InternalError,
                _ => Fault::Reset,
            });
        }
        None
    }

    /// A number in [0, 1) from a xorshift generator: repeatable for a seed, which is all a
    /// fault plan needs.
    fn uniform(&mut self) -> f64 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The programmable state, shared by the proxy's connections.
#[derive(Debug)]
struct Faults {
    plan: Mutex<Plan>,
    forwarded: AtomicU64,
    injected: AtomicU64,
    /// The requests that reached the upstream: S3's by HTTP method, other services' by
    /// their `X-Amz-Target` (what the load test prices).
    requests: Mutex<BTreeMap<String, u64>>,
}

/// A running fault injector.
#[derive(Debug)]
pub struct FaultProxy {
    /// Where clients go instead of the upstream endpoint.
    pub endpoint: String,
    faults: Arc<Faults>,
    server: Server,
}

impl FaultProxy {
    /// Proxies to `upstream` (`http://host:port`) from a free loopback port, with no faults.
    pub async fn start(upstream: &str, seed: u64) -> anyhow::Result<Self> {
        let upstream: hyper::Uri = upstream.parse()?;
        let faults = Arc::new(Faults {
            plan: Mutex::new(Plan {
                random: seed | 1,
                ..Plan::default()
            }),
            forwarded: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            requests: Mutex::default(),
        });
        let client: Client<HttpConnector, Incoming> =
            Client::builder(TokioExecutor::new()).build_http();
        let shared = Arc::clone(&faults);
        let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
            let (client, faults, upstream) =
                (client.clone(), Arc::clone(&shared), upstream.clone());
            async move { forward(&client, &faults, &upstream, request).await }
        });
        let server = Server::serve(server::loopback().await?, handler)?;
        Ok(Self {
            endpoint: format!("http://{}", server.address()),
            faults,
            server,
        })
    }

    /// The next `count` S3 requests fail with `fault`.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        self.plan().next.extend(std::iter::repeat_n(fault, count));
    }

    /// From now on, each S3 request fails with probability `fraction` (503, 500 or a reset).
    pub fn fail_fraction(&self, fraction: f64) {
        self.plan().fraction = fraction.clamp(0.0, 1.0);
    }

    /// Every S3 request is answered 503 for `duration` from now.
    pub fn down_for(&self, duration: Duration) {
        self.plan().down_until = Some(Instant::now() + duration);
    }

    /// Every S3 request waits `latency` before it is forwarded.
    pub fn add_latency(&self, latency: Duration) {
        self.plan().latency = latency;
    }

    /// The first S3 request for which `matches(method, path and query)` is true is applied
    /// upstream and its answer held until the returned [`Held`] is released.
    pub fn hold_answer(
        &self,
        matches: impl Fn(&hyper::Method, &str) -> bool + Send + 'static,
    ) -> Held {
        let held = Held::default();
        self.plan().traps.push(Trap {
            matches: Box::new(matches),
            held: held.clone(),
        });
        held
    }

    /// No more faults.
    pub fn heal(&self) {
        let mut plan = self.plan();
        plan.next.clear();
        plan.traps.clear();
        plan.fraction = 0.0;
        plan.down_until = None;
        plan.latency = Duration::ZERO;
    }

    /// How many requests reached the upstream, and how many faults were injected.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.faults.forwarded.load(Ordering::SeqCst),
            self.faults.injected.load(Ordering::SeqCst),
        )
    }

    /// The requests that reached the upstream: S3's by HTTP method (`GET`, `PUT`, …), other
    /// services' by their `X-Amz-Target` (`secretsmanager.GetSecretValue`, …).
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.faults
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.faults
            .plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why a connection was cut off on purpose.
#[derive(Debug)]
struct Injected(Fault);

impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fault injected: {:?}", self.0)
    }
}

impl std::error::Error for Injected {}

async fn forward(
    client: &Client<HttpConnector, Incoming>,
    faults: &Faults,
    upstream: &hyper::Uri,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Box<dyn std::error::Error + Send + Sync>> {
    let target = request
        .headers()
        .get("x-amz-target")
        .map(|target| String::from_utf8_lossy(target.as_bytes()).into_owned());
    let is_s3 = target.is_none();
    let kind = target.unwrap_or_else(|| request.method().as_str().to_owned());
    let (fault, latency, held) = if is_s3 {
        let mut plan = faults
            .plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let target = request
            .uri()
            .path_and_query()
            .map_or("/", hyper::http::uri::PathAndQuery::as_str);
        let caught = plan
            .traps
            .iter()
            .position(|trap| (trap.matches)(request.method(), target));
        let held = caught.map(|at| plan.traps.remove(at).held);
        (plan.take(), plan.latency, held)
    } else {
        (None, Duration::ZERO, None)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = fault {
        faults.injected.fetch_add(1, Ordering::SeqCst);
        match fault {
            Fault::SlowDown => {
                return Ok(s3_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    "Please reduce your request rate.",
                ));
            }
            Fault::InternalError => {
                return Ok(s3_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                ));
            }
            Fault::Reset => return Err(Box::new(Injected(fault))),
            Fault::LostAnswer => {}
        }
    }
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    parts.uri = format!(
        "{}://{}{path}",
        upstream.scheme_str().unwrap_or("http"),
        upstream.authority().map_or("", |a| a.as_str())
    )
    .parse()?;
    let answer = client.request(Request::from_parts(parts, body)).await?;
    faults.forwarded.fetch_add(1, Ordering::SeqCst);
    *faults
        .requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(kind)
        .or_default() += 1;
    if let Some(held) = held {
        held.applied.notify_one();
        held.release.notified().await;
    }
    if fault == Some(Fault::LostAnswer) {
        // Applied upstream; the answer never arrives.
        let _ = answer.into_body().collect().await;
        return Err(Box::new(Injected(Fault::LostAnswer)));
    }
    Ok(answer.map(BodyExt::boxed))
}

/// An S3 error answer.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers every request 200 with its path, counting them.
    async fn upstream() -> (Server, Arc<AtomicU64>) {
        let seen = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&seen);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let path = request.uri().path().to_owned();
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(path))))
            }
        });
        let server =
            Server::serve(server::loopback().await.expect("port"), service).expect("upstream");
        (server, seen)
    }

    async fn get(
        endpoint: &str,
        path: &str,
        target: Option<&str>,
    ) -> Result<(u16, String), String> {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut request = Request::get(format!("{endpoint}{path}"));
        if let Some(target) = target {
            request = request.header("x-amz-target", target);
        }
        let answer = client
            .request(request.body(Full::new(Bytes::new())).expect("request"))
            .await
            .map_err(|e| e.to_string())?;
        let status = answer.status().as_u16();
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok((
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        ))
    }

    #[tokio::test]
    async fn injects_each_fault_and_passes_the_rest_through() {
        let (upstream, seen) = upstream().await;
        let proxy = FaultProxy::start(&format!("http://{}", upstream.address()), 7)
            .await
            .expect("proxy");
        let endpoint = proxy.endpoint.clone();
        assert_eq!(get(&endpoint, "/a", None).await, Ok((200, "/a".into())));

        proxy.fail_next(1, Fault::SlowDown);
        proxy.fail_next(1, Fault::InternalError);
        let slow = get(&endpoint, "/b", None).await.expect("answer");
        assert_eq!(slow.0, 503);
        assert!(slow.1.contains("<Code>SlowDown</Code>"), "{}", slow.1);
        assert_eq!(get(&endpoint, "/b", None).await.expect("answer").0, 500);
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1,
            "refused requests never arrive"
        );

        proxy.fail_next(1, Fault::Reset);
        assert!(get(&endpoint, "/c", None).await.is_err(), "reset");
        assert_eq!(seen.load(Ordering::SeqCst), 1);

        proxy.fail_next(1, Fault::LostAnswer);
        assert!(get(&endpoint, "/d", None).await.is_err(), "answer lost");
        assert_eq!(
            seen.load(Ordering::SeqCst),
            2,
            "but the request was applied"
        );

        // Other services' calls on the same endpoint are never touched.
        proxy.down_for(Duration::from_secs(60));
        assert_eq!(
            get(&endpoint, "/e", Some("secretsmanager.GetSecretValue")).await,
            Ok((200, "/e".into()))
        );
        assert_eq!(get(&endpoint, "/e", None).await.expect("answer").0, 503);
        proxy.heal();
        assert_eq!(get(&endpoint, "/f", None).await, Ok((200, "/f".into())));
        assert_eq!(proxy.counts(), (4, 5));
        let by_kind: Vec<(String, u64)> = proxy.requests().into_iter().collect();
        assert_eq!(
            by_kind,
            [
                ("GET".into(), 3),
                ("secretsmanager.GetSecretValue".into(), 1)
            ],
            "the requests that reached the upstream, by method or target"
        );
        proxy.stop().await;
        upstream.stop().await;
    }

    #[tokio::test]
    async fn a_held_answer_comes_only_once_released_and_after_the_request_was_applied() {
        let (upstream, seen) = upstream().await;
        let proxy = FaultProxy::start(&format!("http://{}", upstream.address()), 7)
            .await
            .expect("proxy");
        let held = proxy
            .hold_answer(|method, target| method == hyper::Method::GET && target.contains("hold"));
        let endpoint = proxy.endpoint.clone();
        let request = tokio::spawn(async move { get(&endpoint, "/x/hold?q=1", None).await });
        held.applied().await;
        assert_eq!(seen.load(Ordering::SeqCst), 1, "applied upstream");
        assert!(!request.is_finished(), "its answer is held");
        assert_eq!(
            get(&proxy.endpoint, "/hold", None).await,
            Ok((200, "/hold".into())),
            "one catch per trap"
        );
        held.release();
        assert_eq!(request.await.expect("joined"), Ok((200, "/x/hold".into())));
        proxy.stop().await;
        upstream.stop().await;
    }

    #[tokio::test]
    async fn a_fraction_fails_at_random_and_repeatably() {
        let (upstream, _) = upstream().await;
        let proxy = FaultProxy::start(&format!("http://{}", upstream.address()), 42)
            .await
            .expect("proxy");
        proxy.fail_fraction(0.3);
        let mut failed = 0;
        for i in 0..200 {
            if !matches!(
                get(&proxy.endpoint, &format!("/{i}"), None).await,
                Ok((200, _))
            ) {
                failed += 1;
            }
        }
        assert!(
            (35..=85).contains(&failed),
            "{failed} of 200 failed at 30 %"
        );
        assert_eq!(proxy.counts().1, failed);
        proxy.stop().await;
        upstream.stop().await;
    }
}
