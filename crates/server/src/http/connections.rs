//! Accepting and serving connections (HTTP/1.1) with the limits `axum::serve` does not
//! offer: a deadline for the request head (slowloris), a pace for request bodies (idle
//! timeout and minimum rate, `body_pace`), a cap on connections served at once and one
//! per client address (`per_address`: an address over it is closed at once), and a
//! bounded request head (431).
//! Shutdown is graceful: in-flight requests finish, idle connections close.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use super::body_pace::Pace;
use super::{Metrics, PerAddress};
use crate::config::HttpLimits;

/// How long a shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Turns off Nagle's algorithm on an accepted connection, so responses go out as they
/// are written: with it, a response whose head and body leave in two writes (every
/// download) waited for the client's delayed acknowledgement, 40 ms on Linux.
fn send_without_delay(stream: &tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not turn off Nagle's algorithm");
    }
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: super::App,
    limits: HttpLimits,
    per_address: Arc<PerAddress>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: excess clients queue in the backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(address_slot) = per_address.admit(peer.ip()) else {
            // Closed before anything is read; the global slot is free again at once.
            metrics.connection_refused();
            tracing::debug!(peer = %peer.ip(), "connection refused: too many from its address");
            drop(stream);
            continue;
        };
        send_without_delay(&stream);
        let app = app.clone();
        let pace = Pace::new(&limits);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(|body| axum::body::Body::new(pace.wrap(body)));
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop((slot, address_slot));
        });
    }
    drop(listener);
    // In-flight requests get a while to finish; a client that reads a response at a
    // trickle does not get to hold the shutdown forever.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_without_waiting_for_acknowledgements() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (_client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(address), listener.accept());
        let (stream, _) = accepted.unwrap();
        assert!(
            !stream.nodelay().unwrap(),
            "accepted sockets start with Nagle's algorithm on"
        );
        send_without_delay(&stream);
        assert!(stream.nodelay().unwrap());
    }
}
