//! What the HTTP APIs share: problem documents, extractors, and the layers
//! every service wraps its routes in.

pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod problem;

pub use openapi::{BearerAuth, ProblemResponses};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::{Json, Router};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::HttpConfig;
use crate::event_store::EventStore;
use crate::read_store::ReadStore;
use crate::StoreError;
use problem::ApiError;

/// The header that carries the log position of a command's last event.
pub const POSITION_HEADER: HeaderName = HeaderName::from_static("anote-position");

/// The header a read sends to see its own write: the position from a command
/// reply.
pub const MIN_POSITION_HEADER: HeaderName = HeaderName::from_static("anote-min-position");

/// The header that says how far the read models have come, on a read that
/// timed out waiting for `Anote-Min-Position`.
pub const PROJECTION_POSITION_HEADER: HeaderName =
    HeaderName::from_static("anote-projection-position");

/// Wraps a service's routes in what every route gets: problem documents for
/// unknown routes and methods, the body read under its own size and time
/// budget, the request timeout, load shedding beyond `max_in_flight`, the
/// access log, CORS and `X-Content-Type-Options: nosniff`.
pub fn finish(routes: Router, http: &HttpConfig) -> Router {
    finish_with_transfers(routes, Router::new(), None, http)
}

/// Like [`finish`], with `transfers` (routes that move document bytes,
/// which bound their own time) kept out of the body budget, the request
/// timeout and the in-flight limit: a slow upload takes no slot an API
/// request needs; and with `pages` (the web app), which answer every `GET`
/// and `HEAD` no route takes, except under the API's own paths (see
/// [`is_api_path`]), which keep their problem document 404.
pub fn finish_with_transfers(
    routes: Router,
    transfers: Router,
    pages: Option<Router>,
    http: &HttpConfig,
) -> Router {
    let body = middleware::BodyBudget {
        limit: http.body_limit,
        timeout: http.body_timeout,
    };
    routes
        .layer(DefaultBodyLimit::max(http.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            http.request_timeout,
            middleware::timeout,
        ))
        // A slot is taken only once the body is in.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(Semaphore::new(http.max_in_flight.max(1))),
            middleware::shed,
        ))
        .layer(axum::middleware::from_fn_with_state(
            body,
            middleware::read_body,
        ))
        .merge(transfers)
        .fallback(move |request: Request| middleware::not_found_or_page(pages.clone(), request))
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn(middleware::access_log))
        .layer(cors(&http.cors_origins))
        .layer(axum::middleware::map_response(middleware::nosniff))
}

/// Whether `path` belongs to the API and the service routes (`/v1/…`,
/// `/openapi.json`, `/healthz`, `/readyz`, `/metrics`) rather than to the
/// web app.
pub fn is_api_path(path: &str) -> bool {
    path == "/v1"
        || path.starts_with("/v1/")
        || matches!(path, "/openapi.json" | "/healthz" | "/readyz" | "/metrics")
}

/// CORS for the web app's origins, exposing the headers a client needs.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            MIN_POSITION_HEADER,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            POSITION_HEADER,
            PROJECTION_POSITION_HEADER,
            middleware::REQUEST_ID_HEADER,
        ])
}

/// The process's metrics in the Prometheus text format.
pub async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
}

/// A router with only `/metrics` and `/healthz`: the metrics listener
/// (`ANOTE_METRICS_LISTEN`), kept off the API's public port.
pub fn metrics_router() -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/healthz", axum::routing::get(healthz))
}

/// A readiness check: resolves once its dependency has answered.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>> + Send + Sync>;

/// The readiness check of an event log.
pub fn event_log_ready(events: Arc<dyn EventStore>) -> ReadinessCheck {
    Arc::new(move || {
        let events = events.clone();
        Box::pin(async move { events.ping().await })
    })
}

/// The readiness check of a read-model store.
pub fn read_models_ready(reads: Arc<dyn ReadStore>) -> ReadinessCheck {
    Arc::new(move || {
        let reads = reads.clone();
        Box::pin(async move { reads.ping().await })
    })
}

/// The routes every API service has: `/openapi.json` (this document),
/// `/healthz` and `/readyz` (every check passes). `/metrics` is not among
/// them: it is served on its own listener.
pub fn service_routes(doc: utoipa::openapi::OpenApi, checks: Vec<ReadinessCheck>) -> Router {
    let doc = Arc::new(doc);
    let openapi = move || {
        let doc = doc.clone();
        async move { Json(doc.as_ref().clone()) }
    };
    let ready = move || {
        let checks = checks.clone();
        async move {
            for check in checks {
                check().await.map_err(|e| {
                    tracing::warn!(error = %e, "a database is not reachable");
                    ApiError::NotReady
                })?;
            }
            Ok::<_, ApiError>(Json(serde_json::json!({ "status": "ready" })))
        }
    };
    Router::new()
        .route("/openapi.json", axum::routing::get(openapi))
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(ready))
}

/// Liveness: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
