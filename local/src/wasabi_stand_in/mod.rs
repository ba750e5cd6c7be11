//! The Wasabi stand-in: an S3-compatible server on a loopback port that keeps its objects in
//! memory ([`store`]) and checks SigV4 signatures against its own two access keys, so a call
//! signed with AWS credentials fails as it would at Wasabi. One key may do anything (archive's
//! write key); the other only read (cleanup's read key): every write signed with it (PUT,
//! multipart, DELETE, copy, bucket changes) is refused with 403 AccessDenied, as Wasabi refuses
//! what a key's policy does not allow.
//!
//! It is meant to be at least as strict as the real provider: requests are served
//! concurrently, an object appears whole (bytes and metadata together) only once its body is
//! in and checked, and a second `If-None-Match: *` writer is refused at the moment the object
//! would be put in place. Switches make it misbehave as a provider may: answer the next
//! requests with 503 SlowDown, be down for a while, or ignore `If-None-Match` altogether.

mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::Request;
use hyper::body::Incoming;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

use crate::server::{self, Server};
pub use store::ConditionalWrites;
use store::Store;

/// The running stand-in.
#[derive(Debug)]
pub struct WasabiStandIn {
    pub endpoint: String,
    /// The key that may do anything.
    pub access_key: String,
    pub secret_key: String,
    /// The key that may only read (GetObject, HeadObject, HeadBucket, listing objects).
    pub read_access_key: String,
    pub read_secret_key: String,
    store: Store,
    faults: Arc<Faults>,
    server: Server,
}

impl WasabiStandIn {
    /// Serves an empty store on a free loopback port, to requests signed with the first
    /// credentials (anything) or the second (reads only).
    pub async fn start(
        (access_key, secret_key): (&str, &str),
        (read_access_key, read_secret_key): (&str, &str),
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            access_key != read_access_key,
            "the stand-in's two keys must differ"
        );
        let store = Store::default();
        store.set_reader(read_access_key);
        let mut auth = SimpleAuth::from_single(access_key, secret_key);
        auth.register(read_access_key.to_owned(), read_secret_key.into());
        let mut builder = S3ServiceBuilder::new(store.clone());
        builder.set_auth(auth);
        builder.set_access(store.clone());
        let service = builder.build();
        let faults = Arc::new(Faults::default());
        let refusing = Arc::clone(&faults);
        let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
            let (service, faults) = (service.clone(), Arc::clone(&refusing));
            async move {
                if let Some(refusal) = faults.refusal() {
                    return Ok(refusal);
                }
                hyper::service::Service::call(&service, request).await
            }
        });
        let server = Server::serve(server::loopback().await?, handler)?;
        Ok(Self {
            endpoint: format!("http://{}", server.address()),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            read_access_key: read_access_key.to_owned(),
            read_secret_key: read_secret_key.to_owned(),
            store,
            faults,
            server,
        })
    }

    /// Answers the next `requests` requests with 503 SlowDown.
    pub fn fail_next_requests(&self, requests: u32) {
        self.faults.slow_downs.store(requests, Ordering::SeqCst);
    }

    /// Answers every request with 503 ServiceUnavailable for `duration` from now.
    pub fn go_down_for(&self, duration: Duration) {
        *self.faults.down_until() = Some(Instant::now() + duration);
    }

    /// Whether `If-None-Match` is honoured (the default) or ignored, as a provider that does
    /// not document it may: then a later writer silently replaces the object.
    pub fn set_conditional_writes(&self, mode: ConditionalWrites) {
        self.store.set_conditional_writes(mode);
    }

    /// How many times an object was successfully written under `key` (PutObject and
    /// CompleteMultipartUpload, in any bucket).
    pub fn writes(&self, key: &str) -> u32 {
        self.store.writes(key)
    }

    /// The requests that reached the store, by operation name (`PutObject`, `HeadObject`,
    /// …): those refused for their signature or by a fault switch are not among them.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.store.requests()
    }

    /// Multipart uploads created and neither completed nor aborted.
    pub fn incomplete_uploads(&self) -> usize {
        self.store.incomplete_uploads()
    }

    /// Stops serving, once the requests in flight are answered.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// The fault switches, consulted before a request reaches s3s.
#[derive(Debug, Default)]
struct Faults {
    /// Requests still to be answered with 503 SlowDown.
    slow_downs: AtomicU32,
    /// Until when every request is answered with 503 ServiceUnavailable.
    down_until: Mutex<Option<Instant>>,
}

impl Faults {
    fn down_until(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer a switch gives instead of serving the request, if any.
    fn refusal(&self) -> Option<s3s::HttpResponse> {
        if self
            .down_until()
            .is_some_and(|until| Instant::now() < until)
        {
            return Some(unavailable(
                "ServiceUnavailable",
                "The service is unavailable. Please retry.",
            ));
        }
        let slow_down = self
            .slow_downs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        slow_down.then(|| unavailable("SlowDown", "Please reduce your request rate."))
    }
}

/// A 503 with an S3 error document.
fn unavailable(code: &str, message: &str) -> s3s::HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut response = s3s::HttpResponse::new(s3s::Body::from(body));
    *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    response
}
