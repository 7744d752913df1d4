//! Cross-cutting HTTP layers: request ids, the access log, the request
//! timeout, and problem documents for unknown routes and methods.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::extract::RequestId;
use super::problem::ApiError;

/// The header that carries the request's id back to the client.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Gives each request an id and logs one line when it is answered: method,
/// matched route, status and latency.
pub async fn access_log(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = Uuid::new_v4();
    req.extensions_mut().insert(RequestId(id));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(req).await;
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.as_str()),
        ("route", route.as_str()),
        ("status", status.as_str()),
    ];
    crate::metrics::count(
        "anote_http_requests_total",
        "HTTP requests answered.",
        &labels,
        1,
    );
    crate::metrics::observe(
        "anote_http_request_duration_seconds",
        "Time to answer HTTP requests.",
        &[("route", route.as_str())],
        started.elapsed(),
    );
    tracing::info!(
        target: "anote::access",
        request_id = %id,
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    response
}

/// Answers 503 `request_timeout` when the handler takes longer than allowed.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// The reply for a path no route has.
pub async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// The reply for a method the route does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
