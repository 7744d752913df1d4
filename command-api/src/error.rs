//! [`CommandError`]: every way a command can fail, as a problem document
//! with a stable code. Client mistakes and lost races are 4xx or a
//! retryable 503; only a failure of the service itself is a 500, logged
//! once (inside the request's span) with its sources and never shown.

use std::time::Duration;

use anote_blob::local::TransferError;
use anote_blob::BlobError;
use anote_domain::{DomainError, ValidationError};
use anote_http::problem::{retry_after, BACKEND_RETRY_AFTER};
use anote_http::{Problem, Rejection};
use anote_store::StoreError;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::import::archive::ArchiveError;

/// Why a command was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Refused by the shared extractors and layers.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// A business rule refused the command.
    #[error("{0}")]
    Rule(DomainError),
    /// A PATCH that names no field.
    #[error("name at least one field to change")]
    EmptyPatch,
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
    /// Missing, or someone else's.
    #[error("no such note")]
    NoteNotFound,
    /// The account is gone.
    #[error("no such account")]
    AccountNotFound,
    /// The username belongs to someone else.
    #[error("the username is taken")]
    UsernameTaken,
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
    /// The note never had this version (or had no content at that time).
    #[error("the note has no such version")]
    VersionNotFound,
    /// Other writers kept changing the note or account while a command
    /// without `If-Match` was decided again; nothing was changed.
    #[error(
        "the note or account is being changed by other requests at the same time; nothing was changed, retry"
    )]
    WriteContention,
    /// An `Idempotency-Key` that is too long or not printable.
    #[error("Idempotency-Key must be 1 to 200 visible ASCII characters")]
    BadIdempotencyKey,
    /// The same `Idempotency-Key` with another request.
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// Another request with the same `Idempotency-Key` committed first.
    #[error("a request with this Idempotency-Key was processed at the same time; retry to get its reply")]
    IdempotencyKeyInUse,
    /// An expiry that is not in the future.
    #[error("expires_at must be in the future")]
    ExpiryInPast,
    /// Missing, or on someone else's note.
    #[error("no such document")]
    DocumentNotFound,
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
    /// A transfer URL of the local store was refused.
    #[error(transparent)]
    Transfer(TransferError),
    /// The document store failed.
    #[error("the document store is not available")]
    BlobStoreUnavailable(#[source] BlobError),
    /// An import's upload is sent as something other than a zip.
    #[error("send the archive as application/zip")]
    NotAZip,
    /// An import's upload is not an archive it can read.
    #[error(transparent)]
    InvalidArchive(ArchiveError),
    /// The process runs as many imports as it may at once.
    #[error("as many imports as this service runs at once are running; retry shortly")]
    ImportsBusy,
    /// The event log or account tables failed.
    #[error("the store failed")]
    Store(#[source] StoreError),
    /// Anything else that is the service's fault.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for CommandError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UsernameTaken => Self::UsernameTaken,
            StoreError::IdempotencyKeyTaken => Self::IdempotencyKeyInUse,
            StoreError::QuotaExceeded => Self::QuotaExceeded,
            // A race lost more often than the command retried: nothing was
            // written, and the client may try again.
            StoreError::Conflict { .. } => Self::WriteContention,
            StoreError::AccountClosed => Self::Rejected(Rejection::TokenRevoked),
            other => Self::Store(other),
        }
    }
}

impl From<ValidationError> for CommandError {
    fn from(err: ValidationError) -> Self {
        Self::Rejected(err.into())
    }
}

impl From<BlobError> for CommandError {
    fn from(err: BlobError) -> Self {
        Self::BlobStoreUnavailable(err)
    }
}

impl From<TransferError> for CommandError {
    fn from(err: TransferError) -> Self {
        match err {
            TransferError::NotFound => Self::DocumentNotFound,
            TransferError::SizeMismatch => Self::UploadMismatch("size"),
            TransferError::BodyTimeout => Self::Rejected(Rejection::BodyTimeout),
            TransferError::InvalidBody(e) => Self::Rejected(Rejection::InvalidBody(e)),
            TransferError::Store(e) => Self::BlobStoreUnavailable(e),
            other => Self::Transfer(other),
        }
    }
}

impl From<DomainError> for CommandError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::NotFound => Self::NoteNotFound,
            other => Self::Rule(other),
        }
    }
}

impl CommandError {
    /// The status, stable code and title of this error.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::Rejected(rejection) => {
                let problem = rejection.problem();
                let status = S::from_u16(problem.status).unwrap_or(S::BAD_REQUEST);
                (status, problem.code, problem.title)
            }
            Self::Rule(rule) => rule_parts(rule),
            Self::EmptyPatch => (S::UNPROCESSABLE_ENTITY, "empty_patch", "Nothing to change"),
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
            Self::NoteNotFound => (S::NOT_FOUND, "note_not_found", "Note not found"),
            Self::AccountNotFound => (S::NOT_FOUND, "account_not_found", "Account not found"),
            Self::UsernameTaken => (S::CONFLICT, "username_taken", "Username taken"),
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
            Self::VersionNotFound => (S::NOT_FOUND, "version_not_found", "Version not found"),
            Self::WriteContention => (S::SERVICE_UNAVAILABLE, "write_contention", "Note busy"),
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
            Self::IdempotencyKeyInUse => (
                S::CONFLICT,
                "idempotency_key_in_use",
                "Idempotency-Key in use",
            ),
            Self::ExpiryInPast => (
                S::UNPROCESSABLE_ENTITY,
                "expiry_in_past",
                "Expiry in the past",
            ),
            Self::DocumentNotFound => (S::NOT_FOUND, "document_not_found", "Document not found"),
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
            Self::Transfer(TransferError::SignatureMismatch) => (
                S::FORBIDDEN,
                "signature_mismatch",
                "Signature does not match",
            ),
            Self::Transfer(TransferError::UrlExpired) => {
                (S::FORBIDDEN, "url_expired", "URL expired")
            }
            Self::Transfer(TransferError::AlreadyUploaded) => {
                (S::CONFLICT, "already_uploaded", "Already uploaded")
            }
            Self::BlobStoreUnavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "blob_store_unavailable",
                "Document store unavailable",
            ),
            Self::NotAZip => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::InvalidArchive(_) => (
                S::UNPROCESSABLE_ENTITY,
                "invalid_archive",
                "Not an archive that can be imported",
            ),
            Self::ImportsBusy => (S::SERVICE_UNAVAILABLE, "imports_busy", "Imports busy"),
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
            && !matches!(self, Self::WriteContention | Self::ImportsBusy)
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        if let Self::Rejected(rejection) = self {
            return rejection.problem();
        }
        let (status, code, title) = self.parts();
        let mut problem = Problem::new(status, code, title);
        if !self.is_internal() {
            problem = problem.detail(self);
        }
        match self {
            Self::VersionMismatch { current } => problem.current_version(*current),
            _ => problem,
        }
    }

    /// The headers that go with this error's reply.
    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        match self {
            Self::Rejected(rejection) => rejection.headers(),
            Self::TooManyLoginAttempts { retry_after: after } => vec![retry_after(*after)],
            Self::VersionMismatch { current } => HeaderValue::from_str(&format!("\"{current}\""))
                .map(|etag| vec![(header::ETAG, etag)])
                .unwrap_or_default(),
            Self::WriteContention => vec![retry_after(Duration::from_secs(1))],
            Self::ImportsBusy => vec![retry_after(Duration::from_secs(10))],
            Self::Store(e) if e.is_unavailable() => vec![retry_after(BACKEND_RETRY_AFTER)],
            Self::BlobStoreUnavailable(_) => vec![retry_after(BACKEND_RETRY_AFTER)],
            _ => Vec::new(),
        }
    }
}

/// The status, code and title of a business rule's refusal.
fn rule_parts(rule: &DomainError) -> (StatusCode, &'static str, &'static str) {
    use StatusCode as S;
    match rule {
        DomainError::NoteTrashed => (S::CONFLICT, "note_trashed", "Note is in the trash"),
        DomainError::NotInTrash => (S::CONFLICT, "note_not_in_trash", "Note is not in the trash"),
        DomainError::NotAnAssignment => (S::CONFLICT, "not_an_assignment", "Not an assignment"),
        DomainError::AlreadyExists => (S::CONFLICT, "already_exists", "Already exists"),
        DomainError::ShareNotFound => (S::NOT_FOUND, "share_not_found", "Share link not found"),
        DomainError::TooManyShares => (S::CONFLICT, "too_many_shares", "Too many share links"),
        DomainError::NotFound => (S::NOT_FOUND, "note_not_found", "Note not found"),
        DomainError::DocumentNotFound => (S::NOT_FOUND, "document_not_found", "Document not found"),
        DomainError::TooManyDocuments => (S::CONFLICT, "too_many_documents", "Too many documents"),
        DomainError::UploadIncomplete => (S::CONFLICT, "upload_incomplete", "Upload not complete"),
    }
}

impl IntoResponse for CommandError {
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
        let error = CommandError::from(Rejection::Unauthorized);
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let problem = CommandError::Internal("password=hunter2 at db".into()).problem();
        assert_eq!(problem.status, 500);
        assert_eq!(problem.detail, None);
    }

    #[test]
    fn a_version_mismatch_carries_the_current_version() {
        let problem = CommandError::VersionMismatch { current: 8 }.problem();
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
        let error = CommandError::from(conflict);
        let problem = error.problem();
        assert_eq!((problem.status, problem.code), (503, "write_contention"));
        assert!(problem.detail.is_some(), "the client is told to retry");
        let response = error.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn client_caused_store_conditions_are_never_internal() {
        for (err, code) in [
            (StoreError::UsernameTaken, "username_taken"),
            (StoreError::IdempotencyKeyTaken, "idempotency_key_in_use"),
            (StoreError::QuotaExceeded, "quota_exceeded"),
            (StoreError::AccountClosed, "token_revoked"),
        ] {
            let problem = CommandError::from(err).problem();
            assert!(problem.status < 500 || problem.status == 507, "{code}");
            assert_eq!(problem.code, code);
        }
    }

    #[test]
    fn a_refused_transfer_url_is_forbidden_not_internal() {
        let problem = CommandError::from(TransferError::UrlExpired).problem();
        assert_eq!((problem.status, problem.code), (403, "url_expired"));
        let problem = CommandError::from(TransferError::SizeMismatch).problem();
        assert_eq!((problem.status, problem.code), (422, "upload_mismatch"));
    }
}
