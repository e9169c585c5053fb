//! Serving the axum router over TCP, or over TLS when the server has a certificate.
//!
//! [`TlsListener`] hands axum only connections whose handshake finished. Handshakes run in
//! their own tasks, so one slow or silent client never holds up the others, and a failed
//! handshake (a plain-HTTP client, a client that distrusts our certificate) costs a debug
//! line, not the listener.
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::HANDSHAKE_TIMEOUT;

/// Serves `router` on `listener` until `shutdown` resolves, over TLS when `tls` is set.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    match tls {
        // Both listeners record each connection's peer address (`ConnectInfo<SocketAddr>`),
        // which the login limits key on.
        Some(config) => {
            let listener = TlsListener::new(listener, config).tap_io(|_| ());
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            let listener = listener.tap_io(|tcp: &mut TcpStream| no_delay(tcp));
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// Turns Nagle's algorithm off on an accepted connection: a small write (a response's last
/// part, an SSE event, a run-task) must not wait for the peer's acknowledgement of the one
/// before. Failing is only slower, not wrong, so the connection is kept.
pub(crate) fn no_delay(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot turn Nagle's algorithm off for a connection");
    }
}

type Handshake = (
    Result<io::Result<TlsStream<TcpStream>>, tokio::time::error::Elapsed>,
    SocketAddr,
);

/// A TCP listener whose connections come out TLS-terminated.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Handshake>,
}

impl TlsListener {
    /// Terminates TLS with `config` on every connection `tcp` accepts.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    // Cancel-safe, as axum needs (it races accept against shutdown): both awaited futures
    // are, and a connection is either still in `handshakes` or returned.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        no_delay(&stream);
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            (tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await, peer)
                        });
                    }
                    Err(e) => accept_error(e).await,
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => match done {
                    Ok((Ok(Ok(stream)), peer)) => return (stream, peer),
                    Ok((Ok(Err(e)), peer)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Ok((Err(_), peer)) => tracing::debug!(%peer, "TLS handshake timed out"),
                    Err(e) => tracing::warn!(error = %e, "TLS handshake task failed"),
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// What axum does for plain TCP: a client that gave up is nothing; anything else (out of
/// file descriptors) is logged and retried after a pause instead of spinning.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept an HTTPS connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
