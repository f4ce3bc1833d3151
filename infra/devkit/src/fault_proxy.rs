//! A TCP proxy on 127.0.0.1 that can stall or refuse: what `warmstart local chaos` puts
//! between the functions and the embedded S3/DynamoDB to make a dependency misbehave at the
//! wire, where the AWS SDK sees it (its timeouts, retries and connection pool included).
//!
//! Hand-written (about 150 lines of tokio) because what exists does not fit: toxiproxy is a
//! separate Go server (not installable here, and a second process to supervise), and the Rust
//! proxy crates forward without a runtime switch to pause bytes or close the listening socket.
//!
//! - [`Fault::None`]: bytes flow both ways;
//! - [`Fault::Stall`]: connections are accepted (and kept) but no byte moves in either direction
//!   until the fault ends, as a store that stopped answering;
//! - [`Fault::Refuse`]: the listening socket is closed, so new connections are refused
//!   (`ECONNREFUSED`), and open ones are reset; the same port is bound again when it ends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How the proxy misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Stall,
    Refuse,
}

/// A running proxy; stops on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    fault: watch::Sender<Fault>,
    connections: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy on a free 127.0.0.1 port forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (fault, faults) = watch::channel(Fault::None);
        let connections = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            addr,
            upstream,
            faults,
            connections.clone(),
        ));
        Ok(FaultProxy {
            addr,
            fault,
            connections,
            task,
        })
    }

    /// `http://127.0.0.1:<port>`: the endpoint to give a client instead of the upstream's.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the fault; takes effect at once for new and open connections.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    pub fn fault(&self) -> Fault {
        *self.fault.borrow()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

/// The upstream of an `http://host:port` endpoint.
pub fn endpoint_addr(endpoint: &str) -> Option<SocketAddr> {
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .ok()
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut faults: watch::Receiver<Fault>,
    connections: Arc<AtomicU64>,
) {
    let mut listener = Some(listener);
    loop {
        let fault = *faults.borrow_and_update();
        match (fault, &listener) {
            (Fault::Refuse, Some(_)) => {
                // Closing the socket is what makes connect(2) fail with ECONNREFUSED.
                listener = None;
                continue;
            }
            (Fault::Refuse, None) => {
                if faults.changed().await.is_err() {
                    return;
                }
                continue;
            }
            (_, None) => {
                // Same port again; SO_REUSEADDR (tokio's default) lets it rebind at once.
                let mut tries = 0;
                loop {
                    match TcpListener::bind(addr).await {
                        Ok(l) => {
                            listener = Some(l);
                            break;
                        }
                        Err(e) if tries < 50 => {
                            tries += 1;
                            let _ = e;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => {
                            eprintln!("[fault-proxy] cannot listen on {addr} again: {e}");
                            return;
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        let l = listener.as_ref().expect("listening");
        tokio::select! {
            accepted = l.accept() => {
                let Ok((client, _)) = accepted else { continue };
                connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(proxy(client, upstream, faults.clone()));
            }
            changed = faults.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// One connection: waits out a stall before connecting, then copies both ways until either
/// side closes or a refusal resets it.
async fn proxy(client: TcpStream, upstream: SocketAddr, mut faults: watch::Receiver<Fault>) {
    let _ = client.set_nodelay(true);
    if !wait_flowing(&mut faults).await {
        reset(client);
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        reset(client);
        return;
    };
    let _ = server.set_nodelay(true);
    let faults_copy = faults.clone();
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let refused = async {
        loop {
            let fault = *faults.borrow_and_update();
            if fault == Fault::Refuse {
                return;
            }
            if faults.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let was_refused = {
        let up = pump(&mut cr, &mut sw, faults_copy.clone());
        let down = pump(&mut sr, &mut cw, faults_copy.clone());
        tokio::select! {
            _ = async { tokio::join!(up, down) } => false,
            _ = refused => true,
        }
    };
    if was_refused {
        // Reset, not a clean close: a refused endpoint's open connections break.
        if let Ok(c) = cr.reunite(cw) {
            reset(c);
        }
    }
}

/// Waits while stalled; false when the fault became a refusal.
async fn wait_flowing(faults: &mut watch::Receiver<Fault>) -> bool {
    loop {
        let fault = *faults.borrow_and_update();
        match fault {
            Fault::None => return true,
            Fault::Refuse => return false,
            Fault::Stall => {
                if faults.changed().await.is_err() {
                    return false;
                }
            }
        }
    }
}

async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    mut faults: watch::Receiver<Fault>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !wait_flowing(&mut faults).await {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        // Bytes read just as a stall began are held until it ends.
        if !wait_flowing(&mut faults).await {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn reset(stream: TcpStream) {
    // Linger 0: close(2) sends RST instead of FIN. (Deprecated because a non-zero linger
    // blocks the thread on drop; a zero one does not.)
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream, msg: &[u8], within: Duration) -> Option<Vec<u8>> {
        s.write_all(msg).await.ok()?;
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(within, s.read_exact(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some(buf)
    }

    #[tokio::test]
    async fn forwards_stalls_and_refuses_on_command() {
        let upstream = echo_server().await;
        let proxy = FaultProxy::start(upstream).await.unwrap();
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        let second = Duration::from_secs(1);
        assert_eq!(
            round_trip(&mut open, b"hello", second).await.as_deref(),
            Some(&b"hello"[..])
        );

        // Stalled: nothing comes back, on the open connection or a new one; then it all flows.
        proxy.set(Fault::Stall);
        let short = Duration::from_millis(200);
        assert_eq!(round_trip(&mut open, b"held", short).await, None);
        let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut fresh, b"new", short).await, None);
        proxy.set(Fault::None);
        let mut buf = [0u8; 4];
        tokio::time::timeout(second, open.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"held");
        let mut buf = [0u8; 3];
        tokio::time::timeout(second, fresh.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"new");

        // Refused: connect fails, open connections break; afterwards the same port serves.
        proxy.set(Fault::Refuse);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let err = TcpStream::connect(proxy.addr()).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(round_trip(&mut open, b"x", short).await, None);
        proxy.set(Fault::None);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut again, b"back", second).await.as_deref(),
            Some(&b"back"[..])
        );
        assert!(proxy.connections() >= 3);
        assert_eq!(
            endpoint_addr(&proxy.endpoint()),
            Some(proxy.addr()),
            "endpoint round trip"
        );
    }
}
