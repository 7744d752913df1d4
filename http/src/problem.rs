//! Problem documents (`application/problem+json`, RFC 9457) with a stable
//! `code`, and [`Rejection`]: the failures this kit's own extractors and
//! layers answer with. Each API has its own error enum that turns into a
//! [`Problem`] the same way.

use std::time::Duration;

use anote_domain::ValidationError;
use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of an error reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary for people.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The stable, machine-readable code.
    pub code: &'static str,
    /// What went wrong with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The field of the request that was wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// The note's current version (for `version_mismatch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

impl Problem {
    /// A problem with this status, stable code and title, and no detail.
    pub fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self {
            kind: format!("https://anote.dev/problems/{code}"),
            title,
            status: status.as_u16(),
            code,
            detail: None,
            field: None,
            current_version: None,
        }
    }

    /// The same problem, saying what went wrong with this request.
    pub fn detail(mut self, detail: impl std::fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    /// The same problem, naming the request's field that was wrong.
    pub fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// The same problem, carrying the note's current version.
    pub fn current_version(mut self, version: u64) -> Self {
        self.current_version = Some(version);
        self
    }

    /// The reply: this document with its status, and `headers` beside the
    /// content type.
    pub fn respond(self, headers: &[(HeaderName, HeaderValue)]) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let map = response.headers_mut();
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (name, value) in headers {
            map.insert(name.clone(), value.clone());
        }
        response
    }
}

/// How long clients are told to wait (`Retry-After`) when a backend a
/// request needs (the database, the document store) is unavailable.
pub const BACKEND_RETRY_AFTER: Duration = Duration::from_secs(2);

/// `Retry-After` for a reply the client should try again after `after`
/// (at least a second).
pub fn retry_after(after: Duration) -> (HeaderName, HeaderValue) {
    (
        header::RETRY_AFTER,
        HeaderValue::from(after.as_secs().max(1)),
    )
}

/// What the kit's extractors and layers refuse, before any handler runs.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// A value of the request broke its rules.
    #[error("{0}")]
    Validation(#[from] ValidationError),
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The JSON does not have the expected shape.
    #[error("the body does not match the expected shape: {0}")]
    InvalidBody(String),
    /// The body is not declared as JSON.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// The body is larger than allowed.
    #[error("the body is too large")]
    PayloadTooLarge,
    /// The request body did not arrive within the time allowed.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// A query string that does not parse.
    #[error("invalid query parameters: {0}")]
    InvalidQuery(String),
    /// No valid access token.
    #[error("a valid bearer access token is required")]
    Unauthorized,
    /// The access token's session was ended or its account deleted.
    #[error("this access token was revoked: its session ended or its account was deleted")]
    TokenRevoked,
    /// A note path that is not a note id: it names no note.
    #[error("no such note")]
    NoteNotFound,
    /// No route has this path.
    #[error("no route for this path")]
    RouteNotFound,
    /// The route does not take this method.
    #[error("this method is not allowed on this route")]
    MethodNotAllowed,
    /// The request took longer than the configured timeout.
    #[error("the request took too long")]
    Timeout,
    /// Too many requests are being served; this one was shed.
    #[error("the server is busy")]
    Overloaded,
    /// A backend the service needs cannot be reached (which, and why).
    #[error("not ready: {0}")]
    NotReady(String),
}

impl From<JsonRejection> for Rejection {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::JsonSyntaxError(e) => Self::MalformedJson(e.body_text()),
            JsonRejection::JsonDataError(e) => Self::InvalidBody(e.body_text()),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            other => Self::MalformedJson(other.body_text()),
        }
    }
}

impl Rejection {
    /// The problem document for this rejection.
    pub fn problem(&self) -> Problem {
        use StatusCode as S;
        let (status, code, title) = match self {
            Self::Validation(e) => {
                return Problem::new(
                    S::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "Invalid value",
                )
                .detail(e)
                .field(e.field());
            }
            Self::MalformedJson(_) => (S::BAD_REQUEST, "malformed_json", "Malformed JSON"),
            Self::InvalidBody(_) => (S::UNPROCESSABLE_ENTITY, "invalid_body", "Invalid body"),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Self::BodyTimeout => (S::REQUEST_TIMEOUT, "body_timeout", "Body too slow"),
            Self::InvalidQuery(_) => (S::BAD_REQUEST, "invalid_query", "Invalid query"),
            Self::Unauthorized => (S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::TokenRevoked => (S::UNAUTHORIZED, "token_revoked", "Token revoked"),
            Self::NoteNotFound => (S::NOT_FOUND, "note_not_found", "Note not found"),
            Self::RouteNotFound => (S::NOT_FOUND, "route_not_found", "Not found"),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::Timeout => (
                S::SERVICE_UNAVAILABLE,
                "request_timeout",
                "Request timed out",
            ),
            Self::Overloaded => (S::SERVICE_UNAVAILABLE, "overloaded", "Server busy"),
            Self::NotReady(_) => (S::SERVICE_UNAVAILABLE, "not_ready", "Not ready"),
        };
        Problem::new(status, code, title).detail(self)
    }

    /// The headers that go with this rejection's reply.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        match self {
            Self::Timeout | Self::Overloaded => {
                vec![retry_after(Duration::from_secs(1))]
            }
            Self::NotReady(_) => vec![retry_after(BACKEND_RETRY_AFTER)],
            Self::Unauthorized => {
                vec![(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))]
            }
            _ => Vec::new(),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.problem().respond(&self.headers())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_names_its_kind_by_its_code() {
        let problem = Problem::new(StatusCode::NOT_FOUND, "note_not_found", "Note not found");
        assert_eq!(problem.kind, "https://anote.dev/problems/note_not_found");
        assert_eq!((problem.status, problem.detail), (404, None));
    }

    #[test]
    fn a_shed_request_is_told_when_to_retry() {
        let response = Rejection::Overloaded.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }

    #[test]
    fn validation_names_the_field() {
        let err = anote_domain::values::Title::parse(&"x".repeat(201)).expect_err("too long");
        let problem = Rejection::from(err).problem();
        assert_eq!((problem.status, problem.field), (422, Some("title")));
    }

    #[test]
    fn an_unauthorized_reply_names_the_scheme() {
        let response = Rejection::Unauthorized.into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
