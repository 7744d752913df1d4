//! Request extractors whose failures are problem documents.

use std::net::SocketAddr;

use anote_domain::{NoteId, UserId};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::AppState;

/// A JSON body whose every rejection (syntax, shape, size, media type) is a
/// problem document.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// The caller, proven by a bearer access token.
#[derive(Clone, Copy, Debug)]
pub struct Auth {
    /// The account.
    pub user: UserId,
    /// The session the token belongs to.
    pub session: Uuid,
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        let claims = state
            .signer
            .verify(token.trim(), OffsetDateTime::now_utc())
            .map_err(|_| ApiError::Unauthorized)?;
        Ok(Self {
            user: claims.sub,
            session: claims.sid,
        })
    }
}

/// The version in `If-Match`, if the header was sent.
#[derive(Clone, Copy, Debug)]
pub struct IfMatch(pub Option<u64>);

impl IfMatch {
    /// The version, or 428 when the header is missing.
    pub fn required(self) -> Result<u64, ApiError> {
        self.0.ok_or(ApiError::PreconditionRequired)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(Self(None));
        };
        let text = value.to_str().map_err(|_| ApiError::BadIfMatch)?.trim();
        let version = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text)
            .parse()
            .map_err(|_| ApiError::BadIfMatch)?;
        Ok(Self(Some(version)))
    }
}

/// The `Idempotency-Key` header, if sent.
#[derive(Clone, Debug)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let key = value.to_str().map_err(|_| ApiError::BadIdempotencyKey)?;
        if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::BadIdempotencyKey);
        }
        Ok(Self(Some(key.to_owned())))
    }
}

/// A note id from the path; one that is not a UUID names no note.
#[derive(Clone, Copy, Debug)]
pub struct NotePath(pub NoteId);

impl<S: Send + Sync> FromRequestParts<S> for NotePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NoteNotFound)?;
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NoteNotFound)?;
        Ok(Self(NoteId::from_uuid(id)))
    }
}

/// The id of this request, set by the access-log middleware.
#[derive(Clone, Copy, Debug)]
pub struct RequestId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Self>()
            .copied()
            .unwrap_or(Self(Uuid::new_v4())))
    }
}

/// The client's address: the TCP peer, or `unknown` when not served over TCP.
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |ConnectInfo(a)| a.ip().to_string());
        Ok(Self(addr))
    }
}

/// Who sends a command, with the request's id and idempotency key.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account.
    pub user: UserId,
    /// The session of the access token.
    pub session: Uuid,
    /// The request's id, recorded as correlation and causation.
    pub request_id: Uuid,
    /// The `Idempotency-Key`, if sent.
    pub idempotency_key: Option<String>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let IdempotencyKey(idempotency_key) =
            IdempotencyKey::from_request_parts(parts, state).await?;
        Ok(Self {
            user: auth.user,
            session: auth.session,
            request_id,
            idempotency_key,
        })
    }
}
