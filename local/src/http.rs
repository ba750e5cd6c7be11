//! Just enough HTTP for the local servers' handlers: replies, request bodies, a handler as a
//! service for [`crate::server::Server`]; and a one-shot POST for moto's control API.

use std::convert::Infallible;
use std::future::Future;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The response type of every local server.
pub type Reply = Response<Full<Bytes>>;

/// A reply with a status, headers and a body.
pub fn reply(status: StatusCode, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Reads a whole request body.
pub async fn body_bytes(request: Request<Incoming>) -> Bytes {
    request
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default()
}

/// A service for [`crate::server::Server`] from a handler that answers every request (its
/// failures are replies too).
pub fn service<H, F>(
    handler: H,
) -> impl Service<Request<Incoming>, Response = Reply, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ 'static
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    hyper::service::service_fn(move |request| {
        let reply = handler(request);
        async move { Ok(reply.await) }
    })
}

/// POSTs `body` to `http://{address}{path}` and returns the status and body.
pub async fn post(address: &str, path: &str, body: &str) -> anyhow::Result<(u16, Bytes)> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::post(path)
        .header("host", address)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}
