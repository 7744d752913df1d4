//! Every failure of the APIs as `application/problem+json` (RFC 9457) with a
//! stable `code`.

use std::time::Duration;

use crate::StoreError;
use anote_domain::{DomainError, ValidationError};
use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
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

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A value broke its rules.
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
    /// A PATCH that names no field.
    #[error("name at least one field to change")]
    EmptyPatch,
    /// No valid access token.
    #[error("a valid bearer access token is required")]
    Unauthorized,
    /// Unknown user or wrong password: deliberately the same answer.
    #[error("the username or password is wrong")]
    InvalidCredentials,
    /// The current password given to change it is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// The refresh token is unknown, used, revoked or expired.
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    /// Too many failed logins.
    #[error("too many failed logins; try again later")]
    TooManyLoginAttempts {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// The access token's session was ended or its account deleted.
    #[error("this access token was revoked: its session ended or its account was deleted")]
    TokenRevoked,
    /// Missing, or someone else's.
    #[error("no such note")]
    NoteNotFound,
    /// The account is gone.
    #[error("no such account")]
    AccountNotFound,
    /// No route has this path.
    #[error("no route for this path")]
    RouteNotFound,
    /// The route does not take this method.
    #[error("this method is not allowed on this route")]
    MethodNotAllowed,
    /// A change without `If-Match`.
    #[error("send If-Match with the version you last saw, as \"<version>\"")]
    PreconditionRequired,
    /// `If-Match` is not a quoted version.
    #[error("If-Match must be a version in quotes, such as \"7\"")]
    BadIfMatch,
    /// The note moved on since the client read it.
    #[error("the note is at version {current}, not the one in If-Match")]
    VersionMismatch {
        /// The note's version now.
        current: u64,
    },
    /// The username belongs to someone else.
    #[error("the username is taken")]
    UsernameTaken,
    /// A business rule refused the command.
    #[error("{0}")]
    Rule(DomainError),
    /// An `Idempotency-Key` that is too long or not printable.
    #[error("Idempotency-Key must be 1 to 200 visible ASCII characters")]
    BadIdempotencyKey,
    /// The same `Idempotency-Key` with another request.
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// A query string that does not parse.
    #[error("invalid query parameters: {0}")]
    InvalidQuery(String),
    /// An `Anote-Min-Position` that is not a position from a command reply.
    #[error("Anote-Min-Position must be a position from a command reply, such as 0-42")]
    InvalidMinPosition,
    /// An `Anote-Min-Position` that no event of the log has: waiting would
    /// never end.
    #[error(
        "no event of the log is at this Anote-Min-Position; send a position from a command reply"
    )]
    UnreachableMinPosition,
    /// A share link that is unknown, revoked or expired: one answer for all.
    #[error("this link does not exist or no longer works")]
    ShareLinkGone,
    /// An expiry that is not in the future.
    #[error("expires_at must be in the future")]
    ExpiryInPast,
    /// The read models did not reach `Anote-Min-Position` in time.
    #[error("the read models have not caught up with the requested position yet; retry shortly")]
    ProjectionBehind {
        /// How far they have come.
        reached: String,
    },
    /// Another request with the same `Idempotency-Key` committed first.
    #[error("a request with this Idempotency-Key was processed at the same time; retry to get its reply")]
    IdempotencyKeyInUse,
    /// The request took longer than the configured timeout.
    #[error("the request took too long")]
    Timeout,
    /// Too many requests are being served; this one was shed.
    #[error("the server is busy")]
    Overloaded,
    /// The database cannot be reached.
    #[error("the service is not ready")]
    NotReady,
    /// Other writers kept changing the note while a command without
    /// `If-Match` was decided again; nothing was changed.
    #[error(
        "the note is being changed by other requests at the same time; nothing was changed, retry"
    )]
    WriteContention,
    /// Missing, or on someone else's note.
    #[error("no such document")]
    DocumentNotFound,
    /// The note never had this version (or had no content at that time).
    #[error("the note has no such version")]
    VersionNotFound,
    /// A document larger than the per-file limit.
    #[error("a document may be at most {max} bytes")]
    DocumentTooLarge {
        /// The limit in bytes.
        max: u64,
    },
    /// A media type outside the allowed list.
    #[error("documents of type {0} are not accepted")]
    ContentTypeNotAllowed(String),
    /// The document would take the user past their storage quota.
    #[error("the document does not fit in your storage quota; see GET /v1/account/usage")]
    QuotaExceeded,
    /// `complete` before the object was uploaded.
    #[error("the upload has not arrived yet; upload it, then complete again")]
    UploadMissing,
    /// The stored object is not what was declared; it was deleted.
    #[error("the uploaded object does not match the declared {0}; it was discarded")]
    UploadMismatch(&'static str),
    /// A blob URL whose signature does not match its request.
    #[error("the URL's signature does not match this request")]
    SignatureMismatch,
    /// A blob URL past its expiry.
    #[error("the URL has expired; ask for a new one")]
    UrlExpired,
    /// An upload to an object that was already uploaded: its bytes are
    /// never replaced.
    #[error("this document was already uploaded; its bytes cannot be replaced")]
    AlreadyUploaded,
    /// The request body did not arrive within the time allowed.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// The blob store failed.
    #[error("the document store is not available")]
    BlobStoreUnavailable(String),
    /// Anything else: logged once, never shown to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UsernameTaken => Self::UsernameTaken,
            StoreError::IdempotencyKeyTaken => Self::IdempotencyKeyInUse,
            StoreError::QuotaExceeded => Self::QuotaExceeded,
            // A race lost more often than the command retried: nothing was
            // written, and the client may try again.
            StoreError::Conflict { .. } => Self::WriteContention,
            StoreError::AccountClosed => Self::TokenRevoked,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::blob::BlobError> for ApiError {
    fn from(err: crate::blob::BlobError) -> Self {
        Self::BlobStoreUnavailable(err.to_string())
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::NotFound => Self::NoteNotFound,
            other => Self::Rule(other),
        }
    }
}

impl From<JsonRejection> for ApiError {
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

impl ApiError {
    /// The status, stable code and title of this error.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::Validation(_) => (
                S::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Invalid value",
            ),
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
            Self::EmptyPatch => (S::UNPROCESSABLE_ENTITY, "empty_patch", "Nothing to change"),
            Self::Unauthorized => (S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::InvalidCredentials => (
                S::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            ),
            Self::WrongPassword => (S::FORBIDDEN, "wrong_password", "Wrong password"),
            Self::InvalidRefreshToken => (
                S::UNAUTHORIZED,
                "invalid_refresh_token",
                "Invalid refresh token",
            ),
            Self::TooManyLoginAttempts { .. } => (
                S::TOO_MANY_REQUESTS,
                "too_many_login_attempts",
                "Too many login attempts",
            ),
            Self::TokenRevoked => (S::UNAUTHORIZED, "token_revoked", "Token revoked"),
            Self::NoteNotFound => (S::NOT_FOUND, "note_not_found", "Note not found"),
            Self::AccountNotFound => (S::NOT_FOUND, "account_not_found", "Account not found"),
            Self::RouteNotFound => (S::NOT_FOUND, "route_not_found", "Not found"),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::PreconditionRequired => (
                S::PRECONDITION_REQUIRED,
                "precondition_required",
                "If-Match required",
            ),
            Self::BadIfMatch => (S::BAD_REQUEST, "invalid_if_match", "Invalid If-Match"),
            Self::VersionMismatch { .. } => (
                S::PRECONDITION_FAILED,
                "version_mismatch",
                "Version mismatch",
            ),
            Self::UsernameTaken => (S::CONFLICT, "username_taken", "Username taken"),
            Self::Rule(DomainError::NoteTrashed) => {
                (S::CONFLICT, "note_trashed", "Note is in the trash")
            }
            Self::Rule(DomainError::NotInTrash) => {
                (S::CONFLICT, "note_not_in_trash", "Note is not in the trash")
            }
            Self::Rule(DomainError::NotAnAssignment) => {
                (S::CONFLICT, "not_an_assignment", "Not an assignment")
            }
            Self::Rule(DomainError::AlreadyExists) => {
                (S::CONFLICT, "already_exists", "Already exists")
            }
            Self::Rule(DomainError::ShareNotFound) => {
                (S::NOT_FOUND, "share_not_found", "Share link not found")
            }
            Self::Rule(DomainError::TooManyShares) => {
                (S::CONFLICT, "too_many_shares", "Too many share links")
            }
            Self::Rule(DomainError::NotFound) => (S::NOT_FOUND, "note_not_found", "Note not found"),
            Self::BadIdempotencyKey => (
                S::BAD_REQUEST,
                "invalid_idempotency_key",
                "Invalid Idempotency-Key",
            ),
            Self::IdempotencyKeyReused => (
                S::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency-Key reused",
            ),
            Self::ShareLinkGone => (S::NOT_FOUND, "shared_note_not_found", "Not found"),
            Self::ExpiryInPast => (
                S::UNPROCESSABLE_ENTITY,
                "expiry_in_past",
                "Expiry in the past",
            ),
            Self::InvalidQuery(_) => (S::BAD_REQUEST, "invalid_query", "Invalid query"),
            Self::InvalidMinPosition => (
                S::BAD_REQUEST,
                "invalid_min_position",
                "Invalid Anote-Min-Position",
            ),
            Self::UnreachableMinPosition => (
                S::BAD_REQUEST,
                "unreachable_min_position",
                "Unreachable Anote-Min-Position",
            ),
            Self::ProjectionBehind { .. } => (
                S::SERVICE_UNAVAILABLE,
                "projection_behind",
                "Read models behind",
            ),
            Self::IdempotencyKeyInUse => (
                S::CONFLICT,
                "idempotency_key_in_use",
                "Idempotency-Key in use",
            ),
            Self::Timeout => (
                S::SERVICE_UNAVAILABLE,
                "request_timeout",
                "Request timed out",
            ),
            Self::Overloaded => (S::SERVICE_UNAVAILABLE, "overloaded", "Server busy"),
            Self::NotReady => (S::SERVICE_UNAVAILABLE, "not_ready", "Not ready"),
            Self::WriteContention => (S::SERVICE_UNAVAILABLE, "write_contention", "Note busy"),
            Self::VersionNotFound => (S::NOT_FOUND, "version_not_found", "Version not found"),
            Self::DocumentNotFound | Self::Rule(DomainError::DocumentNotFound) => {
                (S::NOT_FOUND, "document_not_found", "Document not found")
            }
            Self::Rule(DomainError::TooManyDocuments) => {
                (S::CONFLICT, "too_many_documents", "Too many documents")
            }
            Self::Rule(DomainError::UploadIncomplete) => {
                (S::CONFLICT, "upload_incomplete", "Upload not complete")
            }
            Self::DocumentTooLarge { .. } => (
                S::PAYLOAD_TOO_LARGE,
                "document_too_large",
                "Document too large",
            ),
            Self::ContentTypeNotAllowed(_) => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "content_type_not_allowed",
                "Content type not allowed",
            ),
            Self::QuotaExceeded => (
                S::INSUFFICIENT_STORAGE,
                "quota_exceeded",
                "Storage quota exceeded",
            ),
            Self::UploadMissing => (S::CONFLICT, "upload_missing", "Upload missing"),
            Self::UploadMismatch(_) => (
                S::UNPROCESSABLE_ENTITY,
                "upload_mismatch",
                "Upload does not match",
            ),
            Self::SignatureMismatch => (
                S::FORBIDDEN,
                "signature_mismatch",
                "Signature does not match",
            ),
            Self::UrlExpired => (S::FORBIDDEN, "url_expired", "URL expired"),
            Self::AlreadyUploaded => (S::CONFLICT, "already_uploaded", "Already uploaded"),
            Self::BodyTimeout => (S::REQUEST_TIMEOUT, "body_timeout", "Body too slow"),
            Self::BlobStoreUnavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "blob_store_unavailable",
                "Document store unavailable",
            ),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (status, code, title) = self.parts();
        let detail = match self {
            Self::Internal(_) | Self::BlobStoreUnavailable(_) => None,
            other => Some(other.to_string()),
        };
        Problem {
            kind: format!("https://anote.dev/problems/{code}"),
            title,
            status: status.as_u16(),
            code,
            detail,
            field: match self {
                Self::Validation(e) => Some(e.field()),
                _ => None,
            },
            current_version: match self {
                Self::VersionMismatch { current } => Some(*current),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) | Self::BlobStoreUnavailable(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            Self::TooManyLoginAttempts { retry_after } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs().max(1)),
                );
            }
            Self::VersionMismatch { current } => {
                if let Ok(etag) = HeaderValue::from_str(&format!("\"{current}\"")) {
                    headers.insert(header::ETAG, etag);
                }
            }
            Self::Timeout | Self::Overloaded | Self::WriteContention => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::ProjectionBehind { reached } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                if let Ok(reached) = HeaderValue::from_str(&reached) {
                    headers.insert(super::PROJECTION_POSITION_HEADER, reached);
                }
            }
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_client() {
        let problem = ApiError::Internal("password=hunter2 at db".into()).problem();
        assert_eq!(problem.status, 500);
        assert_eq!(problem.detail, None);
    }

    #[test]
    fn a_version_mismatch_carries_the_current_version() {
        let problem = ApiError::VersionMismatch { current: 8 }.problem();
        assert_eq!(
            (problem.status, problem.code, problem.current_version),
            (412, "version_mismatch", Some(8))
        );
    }

    #[test]
    fn a_lost_race_is_retryable_never_internal() {
        let conflict = StoreError::Conflict {
            stream: anote_domain::UserId::from_uuid(uuid::Uuid::nil()).stream(),
            expected: 3,
        };
        let problem = ApiError::from(conflict).problem();
        assert_eq!((problem.status, problem.code), (503, "write_contention"));
    }

    #[test]
    fn validation_names_the_field() {
        let err = anote_domain::values::Title::parse(&"x".repeat(201)).expect_err("too long");
        let problem = ApiError::from(err).problem();
        assert_eq!((problem.status, problem.field), (422, Some("title")));
    }
}
