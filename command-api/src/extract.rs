//! The command API's own extractors: `If-Match`, `Idempotency-Key`, the
//! caller of a command, and the client address the login limits count.

use crate::error::CommandError;
use anote_domain::UserId;
use anote_http::extract::{client_address, Auth, RequestId};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::AppState;

/// The version in `If-Match`, if the header was sent.
#[derive(Clone, Copy, Debug)]
pub struct IfMatch(pub Option<u64>);

impl IfMatch {
    /// The version, or 428 when the header is missing.
    pub fn required(self) -> Result<u64, CommandError> {
        self.0.ok_or(CommandError::PreconditionRequired)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = CommandError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(Self(None));
        };
        let text = value.to_str().map_err(|_| CommandError::BadIfMatch)?.trim();
        let version = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text)
            .parse()
            .map_err(|_| CommandError::BadIfMatch)?;
        Ok(Self(Some(version)))
    }
}

/// The `Idempotency-Key` header, if sent.
#[derive(Clone, Debug)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = CommandError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let key = value
            .to_str()
            .map_err(|_| CommandError::BadIdempotencyKey)?;
        if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CommandError::BadIdempotencyKey);
        }
        Ok(Self(Some(key.to_owned())))
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
    type Rejection = CommandError;

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

/// The client's address as the login limits count it: the TCP peer, or the
/// address the outermost of `ANOTE_TRUSTED_PROXY_HOPS` proxies saw.
#[derive(Clone, Debug)]
pub struct LoginAddress(pub String);

impl FromRequestParts<AppState> for LoginAddress {
    type Rejection = CommandError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(parts, state.auth.trusted_proxy_hops)))
    }
}
