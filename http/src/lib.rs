//! The HTTP vocabulary Anote's APIs share: problem documents, extractors,
//! the layers every service wraps its routes in, and the service routes.
//! Nothing here knows a backend: readiness checks come in as closures.
//!
//! # Layout
//! - this file: [`HttpSettings`], [`finish`] (the layers around an API's
//!   routes), CORS, the service routes (`/openapi.json`, `/healthz`,
//!   `/readyz`, `/metrics`) and the protocol's own headers.
//! - [`problem`]: [`Problem`] documents and [`Rejection`], the kit's own
//!   failures.
//! - [`extract`]: JSON bodies, query strings, the caller ([`extract::Auth`]),
//!   note paths, request ids, client addresses.
//! - [`middleware`]: request ids and spans, the access log, the body budget,
//!   the timeout, load shedding, unknown routes.
//! - [`readiness`]: named checks of the backends, for `/readyz`.
//! - [`openapi`]: security scheme and shared problem responses for the
//!   OpenAPI documents.

pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod readiness;

pub use openapi::{BearerAuth, ProblemResponses};
pub use problem::{Problem, Rejection};
pub use readiness::{readiness, NotReady, ReadinessCheck};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::{Json, Router};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};

use std::sync::Arc;
use std::time::Duration;

/// How an API guards its routes (the listener's own settings stay with the
/// server that binds it).
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// How long a request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// The largest request body in bytes.
    pub body_limit: usize,
    /// Requests served at once; beyond, requests are shed with 503.
    pub max_in_flight: usize,
    /// How long an API request's body may take to arrive (408 beyond).
    pub body_timeout: Duration,
}

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
/// request's span and access log (see [`middleware::access_log`]), CORS and
/// `X-Content-Type-Options: nosniff`.
pub fn finish(routes: Router, http: &HttpSettings) -> Router {
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
    http: &HttpSettings,
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
        // Around everything above: the request's span covers the handlers
        // and their errors' replies, the body budget, the timeout, shedding
        // and the fallbacks. Only CORS preflights, answered below it, go
        // unlogged.
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
        anote_metrics::render(),
    )
}

/// A router with only `/metrics` and `/healthz`: the metrics listener
/// (`ANOTE_METRICS_LISTEN`), kept off the API's public port.
pub fn metrics_router() -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/healthz", axum::routing::get(healthz))
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
    Router::new()
        .route("/openapi.json", axum::routing::get(openapi))
        .route("/healthz", axum::routing::get(healthz))
        .merge(readiness_route(checks))
}

/// `/readyz`: ready when every check passes, else 503 `not_ready` naming
/// each backend that failed (an API's, or on the metrics listener of a
/// service without an API: the relay, the projector).
pub fn readiness_route(checks: Vec<ReadinessCheck>) -> Router {
    let checks = Arc::new(checks);
    let ready = move || {
        let checks = checks.clone();
        async move { readiness::ready(&checks).await }
    };
    Router::new().route("/readyz", axum::routing::get(ready))
}

/// Liveness: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Logs a failure of the service itself once, with its chain of sources:
/// called where an API's error becomes its reply, inside the request's span.
pub fn log_failure(error: &(dyn std::error::Error + 'static)) {
    let mut sources = String::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if !sources.is_empty() {
            sources.push_str(": ");
        }
        sources.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %error, %sources, "request failed");
}
