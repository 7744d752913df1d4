//! [`QueryError`]: every way a read can fail, as a problem document with a
//! stable code. Only a failure of the service itself is a 500 (or a 503 for
//! an unavailable document store), logged once inside the request's span
//! with its sources and never shown.

use std::time::Duration;

use anote_blob::local::TransferError;
use anote_blob::BlobError;
use anote_domain::ValidationError;
use anote_http::problem::{retry_after, BACKEND_RETRY_AFTER};
use anote_http::{Problem, Rejection, PROJECTION_POSITION_HEADER};
use anote_store::StoreError;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Why a read was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Refused by the shared extractors and layers.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Missing, or someone else's.
    #[error("no such note")]
    NoteNotFound,
    /// Missing, or on someone else's note.
    #[error("no such document")]
    DocumentNotFound,
    /// The note never had this version (or had no content at that time).
    #[error("the note has no such version")]
    VersionNotFound,
    /// A share link that is unknown, revoked or expired: one answer for all.
    #[error("this link does not exist or no longer works")]
    ShareLinkGone,
    /// An `Anote-Min-Position` that is not a position from a command reply.
    #[error("Anote-Min-Position must be a position from a command reply, such as 0-42")]
    InvalidMinPosition,
    /// An `Anote-Min-Position` that no event of the log has: waiting would
    /// never end.
    #[error(
        "no event of the log is at this Anote-Min-Position; send a position from a command reply"
    )]
    UnreachableMinPosition,
    /// The read models did not reach `Anote-Min-Position` in time.
    #[error("the read models have not caught up with the requested position yet; retry shortly")]
    ProjectionBehind {
        /// How far they have come.
        reached: String,
    },
    /// The account holds as many change streams as it may.
    #[error("this account holds as many change streams as it may; close one, or read /v1/changes")]
    TooManyStreams,
    /// The process holds as many change streams as it may.
    #[error("this service holds as many change streams as it may; retry later")]
    StreamsFull,
    /// The process writes as many exports as it may at once.
    #[error("as many exports as this service writes at once are being written; retry shortly")]
    ExportsBusy,
    /// A download URL of the local store was refused.
    #[error(transparent)]
    Transfer(TransferError),
    /// The document store failed.
    #[error("the document store is not available")]
    BlobStoreUnavailable(#[source] BlobError),
    /// The read models or the event log failed.
    #[error("the store failed")]
    Store(#[from] StoreError),
    /// Anything else that is the service's fault.
    #[error("{0}")]
    Internal(String),
}

impl From<ValidationError> for QueryError {
    fn from(err: ValidationError) -> Self {
        Self::Rejected(err.into())
    }
}

impl From<BlobError> for QueryError {
    fn from(err: BlobError) -> Self {
        Self::BlobStoreUnavailable(err)
    }
}

impl From<TransferError> for QueryError {
    fn from(err: TransferError) -> Self {
        match err {
            TransferError::NotFound => Self::DocumentNotFound,
            TransferError::Store(e) => Self::BlobStoreUnavailable(e),
            other => Self::Transfer(other),
        }
    }
}

impl QueryError {
    /// The status, stable code and title of this error.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::Rejected(rejection) => {
                let problem = rejection.problem();
                let status = S::from_u16(problem.status).unwrap_or(S::BAD_REQUEST);
                (status, problem.code, problem.title)
            }
            Self::NoteNotFound => (S::NOT_FOUND, "note_not_found", "Note not found"),
            Self::DocumentNotFound => (S::NOT_FOUND, "document_not_found", "Document not found"),
            Self::VersionNotFound => (S::NOT_FOUND, "version_not_found", "Version not found"),
            Self::ShareLinkGone => (S::NOT_FOUND, "shared_note_not_found", "Not found"),
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
            Self::TooManyStreams => (S::TOO_MANY_REQUESTS, "too_many_streams", "Too many streams"),
            Self::StreamsFull => (
                S::SERVICE_UNAVAILABLE,
                "streams_full",
                "No room for a stream",
            ),
            Self::ExportsBusy => (S::SERVICE_UNAVAILABLE, "exports_busy", "Exports busy"),
            Self::Transfer(TransferError::SignatureMismatch) => (
                S::FORBIDDEN,
                "signature_mismatch",
                "Signature does not match",
            ),
            Self::Transfer(TransferError::UrlExpired) => {
                (S::FORBIDDEN, "url_expired", "URL expired")
            }
            Self::BlobStoreUnavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "blob_store_unavailable",
                "Document store unavailable",
            ),
            Self::Store(e) if e.is_unavailable() => (
                S::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "Storage unavailable",
            ),
            Self::Transfer(_) | Self::Store(_) | Self::Internal(_) => {
                (S::INTERNAL_SERVER_ERROR, "internal", "Internal error")
            }
        }
    }

    /// Whether this is the service's own failure: logged, never detailed.
    fn is_internal(&self) -> bool {
        self.parts().0.is_server_error()
            && !matches!(
                self,
                Self::ProjectionBehind { .. } | Self::StreamsFull | Self::ExportsBusy
            )
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        if let Self::Rejected(rejection) = self {
            return rejection.problem();
        }
        let (status, code, title) = self.parts();
        let problem = Problem::new(status, code, title);
        if self.is_internal() {
            problem
        } else {
            problem.detail(self)
        }
    }

    /// The headers that go with this error's reply.
    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        match self {
            Self::Rejected(rejection) => rejection.headers(),
            Self::ProjectionBehind { reached } => {
                let mut headers = vec![retry_after(Duration::from_secs(1))];
                if let Ok(reached) = HeaderValue::from_str(reached) {
                    headers.push((PROJECTION_POSITION_HEADER, reached));
                }
                headers
            }
            Self::TooManyStreams | Self::StreamsFull => vec![retry_after(Duration::from_secs(5))],
            Self::ExportsBusy => vec![retry_after(Duration::from_secs(10))],
            Self::Store(e) if e.is_unavailable() => vec![retry_after(BACKEND_RETRY_AFTER)],
            Self::BlobStoreUnavailable(_) => vec![retry_after(BACKEND_RETRY_AFTER)],
            _ => Vec::new(),
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        if self.is_internal() {
            anote_http::log_failure(&self);
        }
        self.problem().respond(&self.headers())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_keeps_its_own_status_and_is_never_internal() {
        let error = QueryError::from(Rejection::Unauthorized);
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }

    #[test]
    fn a_read_behind_the_projection_says_how_far_it_came() {
        let response = QueryError::ProjectionBehind {
            reached: "0-41".into(),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.headers()["anote-projection-position"], "0-41");
    }

    #[test]
    fn store_failures_are_internal_and_undetailed() {
        let problem = QueryError::from(StoreError::Corrupt("secret row".into())).problem();
        assert_eq!(
            (problem.status, problem.code, problem.detail),
            (500, "internal", None)
        );
    }
}
