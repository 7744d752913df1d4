//! Request extractors shared by the APIs; every failure is a problem document.

use std::net::{IpAddr, SocketAddr};

use anote_domain::{NoteId, UserId};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::Json;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use uuid::Uuid;

use super::problem::Rejection;
use anote_tokens::TokenSigner;

/// A JSON object body whose every rejection (syntax, shape, size, media
/// type) is a problem document. Every request body of the APIs is an object:
/// anything else (an array, which serde would read field by field into a
/// struct, a string, a number, `null`) is 422 `invalid_body`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(Rejection::InvalidBody(
                "the body must be a JSON object".to_owned(),
            ));
        }
        let value =
            serde_json::from_value(value).map_err(|e| Rejection::InvalidBody(e.to_string()))?;
        Ok(Self(value))
    }
}

/// What an API's state offers to authenticate callers: the key that signs
/// access tokens, and the sessions ended since their tokens were issued.
pub trait Authenticator {
    /// The signer of access tokens.
    fn signer(&self) -> &TokenSigner;
    /// Whether tokens of this account and session are refused (checked in
    /// memory: the revocations are followed, never queried per request).
    fn is_revoked(&self, user: UserId, session: Uuid) -> bool;
}

/// A state shared behind an [`Arc`] (cloned per request for one count)
/// authenticates as the state itself.
impl<T: Authenticator> Authenticator for std::sync::Arc<T> {
    fn signer(&self) -> &TokenSigner {
        T::signer(self)
    }

    fn is_revoked(&self, user: UserId, session: Uuid) -> bool {
        T::is_revoked(self, user, session)
    }
}

/// The caller, proven by a bearer access token that is signed, unexpired
/// and not revoked (see [`Authenticator`]).
#[derive(Clone, Copy, Debug)]
pub struct Auth {
    /// The account.
    pub user: UserId,
    /// The session the token belongs to.
    pub session: Uuid,
    /// When the token expires, in seconds since the Unix epoch.
    pub expires: i64,
}

impl<S> FromRequestParts<S> for Auth
where
    S: Authenticator + Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Rejection::Unauthorized)?;
        let claims = state
            .signer()
            .verify(token.trim(), OffsetDateTime::now_utc())
            .map_err(|_| Rejection::Unauthorized)?;
        if state.is_revoked(claims.sub, claims.sid) {
            return Err(Rejection::TokenRevoked);
        }
        Ok(Self {
            user: claims.sub,
            session: claims.sid,
            expires: claims.exp,
        })
    }
}

/// A note id from the path; one that is not a UUID names no note.
#[derive(Clone, Copy, Debug)]
pub struct NotePath(pub NoteId);

impl<S: Send + Sync> FromRequestParts<S> for NotePath {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Rejection::NoteNotFound)?;
        let id = Uuid::parse_str(&id).map_err(|_| Rejection::NoteNotFound)?;
        Ok(Self(NoteId::from_uuid(id)))
    }
}

/// The id of this request, set by the access-log middleware.
#[derive(Clone, Copy, Debug)]
pub struct RequestId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Rejection;

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
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(parts, 0)))
    }
}

/// Whether the list header `name` (`Accept`, `Accept-Encoding`, …) names
/// `token` itself, ignoring case and parameters, with a quality above 0.
pub fn accepts(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let named = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            named.eq_ignore_ascii_case(token) && !refused
        })
}

/// The client's address behind `proxy_hops` trusted proxies (load
/// balancers), each of which appends the address it saw to
/// `X-Forwarded-For`: the entry that many places from the right, which the
/// client cannot forge (what it sends itself stays further left). Without
/// proxies, or when the header has fewer entries or a bad one, the TCP
/// peer; `unknown` when not served over TCP.
pub fn client_address(parts: &Parts, proxy_hops: usize) -> String {
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let seen_by_proxy = proxy_hops
        .checked_sub(1)
        .and_then(|skip| forwarded.iter().rev().nth(skip))
        .and_then(|entry| entry.parse::<IpAddr>().ok());
    match seen_by_proxy {
        Some(address) => address.to_string(),
        None => parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |ConnectInfo(a)| a.ip().to_string()),
    }
}

/// Whether the client reached the outermost of `proxy_hops` trusted proxies
/// (load balancers) over HTTPS, as their `X-Forwarded-Proto` says: the entry
/// that many places from the right when each proxy appends one, or the
/// first when there are fewer (a proxy that replaces the header leaves
/// one). Without proxies, never: the service itself speaks plain HTTP.
pub fn forwarded_https(parts: &Parts, proxy_hops: usize) -> bool {
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    proxy_hops
        .checked_sub(1)
        .and_then(|skip| forwarded.iter().rev().nth(skip).or(forwarded.first()))
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Query parameters whose rejection is a problem document.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| Rejection::InvalidQuery(e.body_text()))?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(forwarded: &[&str]) -> Parts {
        with_headers("x-forwarded-for", forwarded)
    }

    fn with_headers(name: &str, values: &[&str]) -> Parts {
        let mut request = axum::http::Request::builder();
        for value in values {
            request = request.header(name, *value);
        }
        let (mut parts, ()) = request.body(()).expect("request").into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 40_000))));
        parts
    }

    #[test]
    fn the_address_is_the_one_the_outermost_trusted_proxy_saw() {
        let forged = parts(&["198.51.100.1, 203.0.113.7"]);
        assert_eq!(client_address(&forged, 0), "10.0.0.1", "no proxy: the peer");
        assert_eq!(client_address(&forged, 1), "203.0.113.7");
        assert_eq!(client_address(&forged, 2), "198.51.100.1");
        assert_eq!(
            client_address(&forged, 3),
            "10.0.0.1",
            "fewer entries than proxies"
        );
        let split = parts(&["198.51.100.1", "2001:db8::1"]);
        assert_eq!(client_address(&split, 1), "2001:db8::1");
        assert_eq!(client_address(&parts(&["garbage"]), 1), "10.0.0.1");
        assert_eq!(client_address(&parts(&[]), 1), "10.0.0.1");
    }

    #[test]
    fn https_is_what_the_outermost_trusted_proxy_saw() {
        let proto = |values: &[&str]| with_headers("x-forwarded-proto", values);
        assert!(!forwarded_https(&proto(&["https"]), 0), "no proxy: never");
        assert!(forwarded_https(&proto(&["https"]), 1));
        assert!(forwarded_https(&proto(&["HTTPS"]), 2), "a replacing proxy");
        assert!(!forwarded_https(&proto(&["http"]), 1));
        assert!(!forwarded_https(&proto(&["https, http"]), 1), "forged");
        assert!(forwarded_https(&proto(&["http", "https"]), 1));
        assert!(forwarded_https(&proto(&["https, http"]), 2));
        assert!(!forwarded_https(&proto(&[]), 1));
    }
}
