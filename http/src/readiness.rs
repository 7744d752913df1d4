//! Readiness: `/readyz` asks each backend a service needs, all at once and
//! each within [`CHECK_TIMEOUT`], and names every one that failed or did
//! not answer (the errors themselves go to the log).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;

use crate::Rejection;

/// How long one backend may take to answer a readiness check: a stalled
/// connection makes the service not ready, it does not hang the probe.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a readiness check failed.
pub type NotReady = Box<dyn std::error::Error + Send + Sync>;

type Ping =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), NotReady>> + Send>> + Send + Sync>;

/// A named readiness check: resolves once its backend has answered.
#[derive(Clone)]
pub struct ReadinessCheck {
    name: &'static str,
    ping: Ping,
}

/// A readiness check of the backend `name` (such as "the event log") that
/// calls `ping` (one round trip to it) each time.
pub fn readiness<F, Fut, E>(name: &'static str, ping: F) -> ReadinessCheck
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<NotReady>,
{
    ReadinessCheck {
        name,
        ping: Arc::new(move || {
            let pinged = ping();
            Box::pin(async move { pinged.await.map_err(Into::into) })
        }),
    }
}

impl ReadinessCheck {
    /// Why the backend is not ready, or `None` when it answered in time.
    async fn failure(&self) -> Option<String> {
        match tokio::time::timeout(CHECK_TIMEOUT, (self.ping)()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                // The error may name hosts or users: it goes to the log,
                // the public answer names the backend only.
                tracing::warn!(backend = self.name, error = %e, "a readiness check failed");
                Some(format!("{}: failed", self.name))
            }
            Err(_) => Some(format!(
                "{}: no answer within {} s",
                self.name,
                CHECK_TIMEOUT.as_secs()
            )),
        }
    }
}

/// `/readyz`: ready when every check passes; otherwise 503 `not_ready`
/// whose detail names each backend that failed and why.
pub async fn ready(checks: &[ReadinessCheck]) -> Result<Json<serde_json::Value>, Rejection> {
    let failures: Vec<String> = futures_util::future::join_all(checks.iter().map(|c| c.failure()))
        .await
        .into_iter()
        .flatten()
        .collect();
    if failures.is_empty() {
        return Ok(Json(serde_json::json!({ "status": "ready" })));
    }
    let reason = failures.join("; ");
    tracing::warn!(%reason, "not ready");
    Err(Rejection::NotReady(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn every_backend_that_fails_or_stalls_is_named() {
        let ok = readiness("the event log", || async { Ok::<_, std::io::Error>(()) });
        let refused = readiness("the read models", || async {
            Err(std::io::Error::other("connection refused"))
        });
        let stalled = readiness("the document store", || async {
            std::future::pending::<Result<(), std::io::Error>>().await
        });
        assert!(ready(std::slice::from_ref(&ok)).await.is_ok());
        let Err(Rejection::NotReady(reason)) = ready(&[ok, refused, stalled]).await else {
            panic!("not ready");
        };
        assert_eq!(
            reason,
            "the read models: failed; the document store: no answer within 2 s"
        );
    }
}
