//! The one way the local servers listen: bind a loopback port, serve a hyper service on it
//! (HTTP/1 or HTTP/2, through hyper-util's auto builder), and stop gracefully: no new
//! connections, in-flight requests finish, and what is still open after a short grace
//! period is cut off. The Lambda Invoke API, every instance's Runtime API and the Wasabi
//! stand-in all use it.

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// How long a stopping server waits for its open connections to finish.
const GRACE: Duration = Duration::from_secs(5);

/// A free port on 127.0.0.1, bound: where every local server listens. Its address can be
/// passed on before the service exists (moto learns the Invoke API's port this way).
pub async fn loopback() -> std::io::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0").await
}

/// A running server. Dropping it stops it too, without waiting.
#[derive(Debug)]
pub struct Server {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `service` on `listener` (from [`loopback`]) until stopped.
    pub fn serve<S, B>(listener: TcpListener, service: S) -> anyhow::Result<Self>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn Error + Send + Sync>>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn Error + Send + Sync>>,
    {
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept(listener, service, stopped));
        Ok(Self {
            address,
            stop,
            task,
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, lets in-flight requests finish (for at most [`GRACE`]) and closes
    /// every connection.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Accepts connections until `stopped` resolves (a stop, or the [`Server`] dropped), then
/// shuts them down gracefully.
async fn accept<S, B>(listener: TcpListener, service: S, mut stopped: oneshot::Receiver<()>)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    // Owns every connection's task: whatever outlasts the grace period is aborted with it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else {
                    // Out of file descriptors, say: give the open connections a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let connection = builder
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                connections.spawn(graceful.watch(connection));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(GRACE, graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http_body_util::Full;

    use super::*;

    fn text(body: &'static str) -> Response<Full<Bytes>> {
        Response::new(Full::new(Bytes::from_static(body.as_bytes())))
    }

    #[tokio::test]
    async fn serves_then_stops_listening() {
        let hello = hyper::service::service_fn(|_| async { Ok::<_, Infallible>(text("hello")) });
        let server = Server::serve(loopback().await.expect("binds"), hello).expect("starts");
        let address = server.address().to_string();
        let (status, body) = crate::http::post(&address, "/", "{}")
            .await
            .expect("answers");
        assert_eq!((status, body.as_ref()), (200, b"hello".as_slice()));
        server.stop().await;
        assert!(crate::http::post(&address, "/", "{}").await.is_err());
    }

    #[tokio::test]
    async fn an_in_flight_request_finishes_before_it_stops() {
        let (entered, inside) = oneshot::channel::<()>();
        let entered = Arc::new(Mutex::new(Some(entered)));
        let slow = hyper::service::service_fn(move |_| {
            let entered = entered.lock().ok().and_then(|mut e| e.take());
            async move {
                if let Some(entered) = entered {
                    let _ = entered.send(());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, Infallible>(text("done"))
            }
        });
        let server = Server::serve(loopback().await.expect("binds"), slow).expect("starts");
        let address = server.address().to_string();
        let request = tokio::spawn(async move { crate::http::post(&address, "/", "{}").await });
        inside.await.expect("the request arrives");
        server.stop().await;
        let (status, body) = request.await.expect("joins").expect("answered");
        assert_eq!((status, body.as_ref()), (200, b"done".as_slice()));
    }
}
