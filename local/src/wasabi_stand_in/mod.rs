//! The Wasabi stand-in: an S3-compatible server (s3s-fs, objects as files) that checks
//! SigV4 signatures against its own access key, so a call signed with AWS credentials fails
//! as it would at Wasabi. It can be told to answer the next requests with 503 SlowDown, to
//! show that transient faults are retried.
//!
//! It answers one request at a time. At S3 and Wasabi an object appears whole, with its
//! metadata, and a second `If-None-Match: *` writer is refused; s3s-fs checks the condition
//! before it writes, then stores the data and the metadata one after the other, so two
//! concurrent runs could both write, or one could see the other's object without its
//! metadata. Served in turn, it behaves as the real providers do.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hyper::Request;
use hyper::body::Incoming;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

use crate::server::{self, Server};

/// The running stand-in.
#[derive(Debug)]
pub struct WasabiStandIn {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    unavailable: Arc<AtomicU32>,
    server: Server,
}

impl WasabiStandIn {
    /// Serves objects stored under `root` on a free loopback port.
    pub async fn start(root: &Path, access_key: &str, secret_key: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)?;
        let mut builder = S3ServiceBuilder::new(
            s3s_fs::FileSystem::new(root)
                .map_err(|e| anyhow::anyhow!("s3s-fs at {}: {e:?}", root.display()))?,
        );
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let service = builder.build();
        let unavailable = Arc::new(AtomicU32::new(0));
        let faults = Arc::clone(&unavailable);
        let one_at_a_time = Arc::new(tokio::sync::Mutex::new(()));
        let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
            let (service, faults, turn) = (
                service.clone(),
                Arc::clone(&faults),
                Arc::clone(&one_at_a_time),
            );
            async move {
                if take_one(&faults) {
                    return Ok(slow_down());
                }
                let _turn = turn.lock().await;
                hyper::service::Service::call(&service, request).await
            }
        });
        let server = Server::serve(server::loopback().await?, handler)?;
        Ok(Self {
            endpoint: format!("http://{}", server.address()),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            unavailable,
            server,
        })
    }

    /// Answers the next `requests` requests with 503 SlowDown.
    pub fn fail_next_requests(&self, requests: u32) {
        self.unavailable.store(requests, Ordering::SeqCst);
    }

    /// Stops serving, once the requests in flight are answered.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn slow_down() -> s3s::HttpResponse {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    let mut response = s3s::HttpResponse::new(s3s::Body::from(body.to_owned()));
    *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    response
}
