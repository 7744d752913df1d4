//! Serving a router until SIGTERM or SIGINT, then draining requests.
//!
//! Connections are accepted here rather than by `axum::serve` so that a
//! slow client cannot hold what others need: its headers must arrive within
//! `ANOTE_HEADER_TIMEOUT_SECS`, and one client address may hold at most
//! `ANOTE_MAX_CONNECTIONS_PER_CLIENT` connections (bodies have their own
//! budget, see `anote_http::middleware::read_body`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::config::HttpConfig;
use anyhow::Context;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;

/// Says on standard output where the service listens, once it does: the
/// line a person opens in a browser, and the proof for a supervisor that
/// this process (not another) holds the port.
fn announce(address: std::net::SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "anote listening on http://{address}");
    let _ = out.flush();
}

/// Serves `app` on the configured address until a shutdown signal.
pub async fn serve_until_signal(app: Router, http: &HttpConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(http.listen)
        .await
        .with_context(|| format!("listening on {}", http.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    announce(address);
    let clients = Clients::new(http.max_connections_per_client);
    let mut connections = hyper::server::conn::http1::Builder::new();
    connections
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_timeout);
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, for example: pause, go on.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = clients.admit(remote.ip()) else {
            anote_metrics::count(
                "anote_http_connections_refused_total",
                "Connections closed because their client address held too many.",
                &[],
                1,
            );
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(remote));
            tower::ServiceExt::oneshot(app.clone(), req)
        });
        let connection = connections.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "a connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    // Requests in progress finish; a client that keeps its connection busy
    // longer than a request may take is cut off.
    let grace = http.request_timeout + http.body_timeout;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period were closed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The open connections of each client address, up to a cap.
#[derive(Clone)]
struct Clients {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    cap: usize,
}

/// One admitted connection; its count is given back when dropped.
struct ClientSlot {
    clients: Clients,
    ip: IpAddr,
}

impl Clients {
    /// Counts for a cap of `cap` connections per address (0: no cap).
    fn new(cap: usize) -> Self {
        Self {
            open: Arc::default(),
            cap: if cap == 0 { usize::MAX } else { cap },
        }
    }

    /// A slot for one more connection from `ip`, unless it holds the cap.
    fn admit(&self, ip: IpAddr) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_default();
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: self.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_holds_at_most_the_cap_and_gets_slots_back() {
        let clients = Clients::new(2);
        let a: IpAddr = "10.0.0.1".parse().expect("address");
        let b: IpAddr = "10.0.0.2".parse().expect("address");
        let first = clients.admit(a).expect("first");
        let _second = clients.admit(a).expect("second");
        assert!(clients.admit(a).is_none(), "a third is refused");
        assert!(clients.admit(b).is_some(), "another address is not");
        drop(first);
        assert!(clients.admit(a).is_some(), "a slot came back");
    }

    #[test]
    fn no_cap_admits_everyone() {
        let clients = Clients::new(0);
        let ip: IpAddr = "10.0.0.1".parse().expect("address");
        let slots: Vec<_> = (0..1000).filter_map(|_| clients.admit(ip)).collect();
        assert_eq!(slots.len(), 1000);
        drop(slots);
        assert!(clients.open.lock().expect("lock").is_empty());
    }
}
