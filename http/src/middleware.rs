//! Cross-cutting HTTP layers: request ids, the access log, reading the body
//! under its own budget, the request timeout, load shedding, and problem
//! documents for unknown routes and methods.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tracing::Instrument;
use uuid::Uuid;

use super::extract::RequestId;
use super::problem::Rejection;

/// The header that carries the request's id back to the client.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Gives each request an id and serves it inside the `request` span, which
/// carries the id, the method and the matched route (`unmatched` for none):
/// every line logged while the request is served, such as its failure
/// ([`crate::log_failure`]), carries them too. When the request is answered,
/// logs one line in that span with the status and latency.
///
/// Placed outside the body budget, the timeout and load shedding (see
/// [`crate::finish_with_transfers`]), the span covers their replies as well
/// as the handler and the conversion of its error into a reply.
pub async fn access_log(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = Uuid::new_v4();
    req.extensions_mut().insert(RequestId(id));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // At the level of the failures it frames: a filter that keeps only
    // warnings and errors must still join an error to its request.
    let span = tracing::error_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
    );
    let mut response = next.run(req).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.as_str()),
        ("route", route.as_str()),
        ("status", status.as_str()),
    ];
    anote_metrics::count(
        anote_metrics::REQUESTS,
        "HTTP requests answered.",
        &labels,
        1,
    );
    anote_metrics::observe(
        anote_metrics::LATENCY,
        "Time to answer HTTP requests.",
        &[("route", route.as_str())],
        started.elapsed(),
    );
    span.in_scope(|| {
        tracing::info!(
            target: "anote::access",
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1e3,
            "request"
        );
    });
    response
}

/// How much of a request body is read, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct BodyBudget {
    /// The most bytes.
    pub limit: usize,
    /// The longest time the whole body may take to arrive.
    pub timeout: Duration,
}

/// Reads the whole request body before the request goes on: a body that
/// does not arrive within the budget's time is answered with 408
/// `body_timeout`, one beyond its size with 413. Placed outside [`shed`],
/// a slow client waits here without holding a slot others need.
pub async fn read_body(State(budget): State<BodyBudget>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(budget.timeout, axum::body::to_bytes(body, budget.limit));
    match read.await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(err)) => {
            let too_large = err
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            if too_large {
                Rejection::PayloadTooLarge.into_response()
            } else {
                // The client broke off or sent a malformed body.
                Rejection::MalformedJson("the body could not be read".into()).into_response()
            }
        }
        Err(_) => {
            anote_metrics::count(
                "anote_http_body_timeouts_total",
                "Requests whose body did not arrive in time.",
                &[],
                1,
            );
            Rejection::BodyTimeout.into_response()
        }
    }
}

/// Answers 503 `request_timeout` when the handler takes longer than allowed.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => Rejection::Timeout.into_response(),
    }
}

/// Paths that are never shed: an overloaded service must still tell its
/// monitors how it is doing.
const NEVER_SHED: [&str; 3] = ["/metrics", "/healthz", "/readyz"];

/// Sheds the request with 503 `overloaded` and `Retry-After` when every
/// slot is taken, so that a burst beyond capacity is refused at once
/// instead of queueing without bound.
pub async fn shed(State(slots): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    if NEVER_SHED.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match slots.try_acquire() {
        Ok(_slot) => next.run(req).await,
        Err(_) => {
            anote_metrics::count(
                "anote_http_shed_total",
                "Requests refused because the service was at its in-flight limit.",
                &[],
                1,
            );
            Rejection::Overloaded.into_response()
        }
    }
}

/// The reply for a path no route has: the web app's `pages` for a `GET` or
/// `HEAD` outside the API's paths, if the service serves them, else 404
/// `route_not_found`.
pub async fn not_found_or_page(pages: Option<Router>, request: Request) -> Response {
    let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
    match pages {
        Some(pages) if is_read && !super::is_api_path(request.uri().path()) => {
            match pages.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        _ => Rejection::RouteNotFound.into_response(),
    }
}

/// Tells browsers to take every reply for the media type it declares.
pub async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The reply for a method the route does not take.
pub async fn method_not_allowed() -> Rejection {
    Rejection::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::{Body, Bytes};
    use axum::http::{header, Request, StatusCode};
    use axum::routing::{get, post};
    use axum::Router;
    use futures_util::StreamExt;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use crate::HttpSettings;

    /// Settings with one in-flight slot and a short body budget.
    fn one_slot() -> HttpSettings {
        HttpSettings {
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(10),
            body_limit: 1024,
            max_in_flight: 1,
            body_timeout: Duration::from_millis(300),
        }
    }

    #[tokio::test]
    async fn a_body_that_stalls_is_cut_off_without_holding_a_slot() {
        let routes = Router::new().route("/echo", post(|body: String| async move { body }));
        let app = super::super::finish(routes, &one_slot());
        let reading = Arc::new(Notify::new());
        let started = reading.clone();
        // One byte, then nothing, ever.
        let stalled = futures_util::stream::once(async move {
            started.notify_one();
            Ok::<_, std::io::Error>(Bytes::from_static(b"{"))
        })
        .chain(futures_util::stream::pending());
        let request = Request::post("/echo")
            .body(Body::from_stream(stalled))
            .expect("request");
        let slow = tokio::spawn(app.clone().oneshot(request));
        reading.notified().await;
        let normal = Request::post("/echo")
            .body(Body::from("hi"))
            .expect("request");
        let normal = app.clone().oneshot(normal).await.expect("answers");
        assert_eq!(normal.status(), StatusCode::OK, "the slot is free");
        let slow = slow.await.expect("joins").expect("answers");
        assert_eq!(slow.status(), StatusCode::REQUEST_TIMEOUT);
        let body = axum::body::to_bytes(slow.into_body(), 4096)
            .await
            .expect("body");
        let problem: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(problem["code"], "body_timeout");
        let large = Request::post("/echo")
            .body(Body::from(vec![b'a'; 2048]))
            .expect("request");
        let large = app.oneshot(large).await.expect("answers");
        assert_eq!(large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn requests_beyond_the_limit_are_shed_with_retry_after() {
        let release = Arc::new(Notify::new());
        let held = release.clone();
        let routes = Router::new().route(
            "/slow",
            get(move || {
                let held = held.clone();
                async move { held.notified().await }
            }),
        );
        let http = one_slot();
        let routes = routes.route("/healthz", get(|| async { "ok" }));
        let app = super::super::finish(routes, &http);
        let request = || Request::get("/slow").body(Body::empty()).expect("request");
        let first = tokio::spawn(app.clone().oneshot(request()));
        while Arc::strong_count(&release) < 3 {
            // The first request is inside the handler once it holds a clone.
            tokio::task::yield_now().await;
        }
        let health = Request::get("/healthz")
            .body(Body::empty())
            .expect("request");
        let health = app.clone().oneshot(health).await.expect("answers");
        assert_eq!(health.status(), StatusCode::OK, "monitoring is never shed");
        let shed = app.clone().oneshot(request()).await.expect("answers");
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(shed.into_body(), 4096)
            .await
            .expect("body");
        let problem: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(problem["code"], "overloaded");
        release.notify_one();
        let served = first.await.expect("joins").expect("answers");
        assert_eq!(served.status(), StatusCode::OK);
        let again = app.oneshot(request());
        release.notify_one();
        assert_eq!(
            again.await.expect("answers").status(),
            StatusCode::OK,
            "the slot is free again"
        );
    }
}
