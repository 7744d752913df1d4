//! The refresh-token cookie of the web app: a login that asks for it
//! (`refresh_cookie: true`) gets its refresh token as this cookie instead
//! of in the reply, so a page never holds it where script could read it.
//! The cookie is `HttpOnly`, `SameSite=Strict`, sent only to the refresh
//! route, lives as long as the refresh token, and is `Secure` when the
//! request came over HTTPS (see [`OverHttps`]); a refresh through it sets the
//! next one, and logging out or deleting the account clears it.

use crate::error::CommandError;
use anote_http::extract::forwarded_https;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use std::time::Duration;

use crate::AppState;

/// The cookie's name.
pub const NAME: &str = "anote_refresh";

/// The only path the browser sends it to.
pub const PATH: &str = "/v1/sessions/refresh";

/// Whether the request came over HTTPS: only behind trusted proxies
/// (`ANOTE_TRUSTED_PROXY_HOPS` > 0) whose `X-Forwarded-Proto` says `https`
/// (see `anote_http::extract::forwarded_https`).
#[derive(Clone, Copy, Debug)]
pub struct OverHttps(pub bool);

impl FromRequestParts<AppState> for OverHttps {
    type Rejection = CommandError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(forwarded_https(parts, state.auth.trusted_proxy_hops)))
    }
}

/// The `Set-Cookie` value that hands `token` over for `lifetime`.
pub fn set(token: &str, lifetime: Duration, https: OverHttps) -> Result<HeaderValue, CommandError> {
    cookie(token, lifetime.as_secs(), https)
}

/// The `Set-Cookie` value that makes the browser forget the cookie.
pub fn clear(https: OverHttps) -> Result<HeaderValue, CommandError> {
    cookie("", 0, https)
}

fn cookie(value: &str, max_age: u64, https: OverHttps) -> Result<HeaderValue, CommandError> {
    let secure = if https.0 { "; Secure" } else { "" };
    let cookie = format!(
        "{NAME}={value}; Max-Age={max_age}; Path={PATH}; HttpOnly; SameSite=Strict{secure}"
    );
    HeaderValue::from_str(&cookie).map_err(|e| CommandError::Internal(e.to_string()))
}

/// The refresh token the request's cookie carries, if any.
pub fn read(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_scoped_to_the_refresh_route() {
        let set = set("abc", Duration::from_secs(60), OverHttps(false)).expect("a value");
        assert_eq!(
            set,
            "anote_refresh=abc; Max-Age=60; Path=/v1/sessions/refresh; HttpOnly; SameSite=Strict"
        );
        let clear = clear(OverHttps(true)).expect("a value");
        assert_eq!(
            clear,
            "anote_refresh=; Max-Age=0; Path=/v1/sessions/refresh; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn the_token_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; anote_refresh=tok; b=2"),
        );
        assert_eq!(read(&headers).as_deref(), Some("tok"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("anote_refresh=; x=y"),
        );
        assert_eq!(read(&headers), None);
        assert_eq!(read(&HeaderMap::new()), None);
    }
}
