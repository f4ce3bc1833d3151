//! The HTTP/1.1 accept loop shared by the Runtime API emulator, the S3 emulator and the local
//! stack's router.

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves HTTP/1.1 on `listener` until `stop` changes, one `service(peer)` per connection.
///
/// Every connection gets TCP_NODELAY: the AWS SDK writes a request's head and body separately,
/// and without it Nagle's algorithm meeting the client's delayed ACK stalls each small
/// exchange by about 40 ms. When `stop` changes, open connections finish the request in flight
/// and close, idle keep-alive ones at once, so a client sees the server gone (as when a real
/// endpoint goes away) instead of a pooled connection that still answers.
pub async fn serve_http1<S, B>(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    service: impl Fn(SocketAddr) -> S,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = stop.changed() => return,
        };
        let Ok((stream, peer)) = conn else { continue };
        let _ = stream.set_nodelay(true);
        let service = service(peer);
        let mut stopped = stop.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}
