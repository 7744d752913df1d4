//! Anote's web app, served by Anote itself. `build.rs` embeds the Vite build
//! (`web/dist`) into the crate; [`WebApp::router`] serves it:
//!
//! - `/assets/<file>` (hashed names): cached for a year, `immutable`; an
//!   unknown one is 404 (never the app, which a browser would then try to
//!   run as a script or style).
//! - the other files of the build (`/favicon.svg`, the service worker
//!   `/sw.js`, `/manifest.webmanifest`, …): `no-cache`, so a new build's
//!   worker is found at once.
//! - any other path (`/`, `/notes/<id>`, `/s/<token>`, …): `index.html`,
//!   `no-cache`, so deep links load the app and a new build is seen at once.
//!
//! Text files go out gzip-compressed to clients that accept it (a copy made
//! at build time; `Vary: Accept-Encoding`), every file has a weak `ETag`
//! (`If-None-Match` → 304), `HEAD` answers the headers alone, and every
//! reply carries the Content-Security-Policy and the other security headers
//! of [`WebApp::new`].

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use anote_http::extract::accepts;

/// One file of the built app.
#[derive(Debug)]
pub struct File {
    /// Its URL path, such as `/assets/index-B1x2y3z4.js`.
    pub path: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// The same, gzip-compressed (text files that shrink).
    pub gzip: Option<&'static [u8]>,
    /// Its media type.
    pub content_type: &'static str,
    /// Its weak entity tag, quoted.
    pub etag: &'static str,
}

/// The files of `web/dist`, by path.
pub static FILES: &[File] = include!(concat!(env!("OUT_DIR"), "/files.rs"));

/// Hashed assets never change under their name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Everything else is checked with the server on every use.
const NO_CACHE: &str = "no-cache";

/// The app's files and the headers every reply carries.
#[derive(Clone, Debug)]
pub struct WebApp {
    files: &'static [File],
    policy: HeaderValue,
}

/// A document store origin that cannot go into a Content-Security-Policy.
#[derive(Debug, PartialEq, Eq)]
pub struct BadOrigin(pub String);

impl std::fmt::Display for BadOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not an origin (scheme://host[:port]): {:?}", self.0)
    }
}

impl std::error::Error for BadOrigin {}

impl WebApp {
    /// The embedded app. `document_store` is the origin
    /// (`scheme://host[:port]`) of the presigned URLs of the document store
    /// when it is not this server: the pages may upload to and download from
    /// it (`connect-src`), and nowhere else.
    pub fn new(document_store: Option<&str>) -> Result<Self, BadOrigin> {
        Self::with_files(FILES, document_store)
    }

    /// The app made of `files` (which must hold `/index.html`).
    fn with_files(files: &'static [File], document_store: Option<&str>) -> Result<Self, BadOrigin> {
        let mut connect = "'self'".to_owned();
        if let Some(origin) = document_store {
            if !is_origin(origin) {
                return Err(BadOrigin(origin.to_owned()));
            }
            connect = format!("{connect} {origin}");
        }
        let policy = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; \
             img-src 'self' data: blob:; connect-src {connect}; font-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        let policy = HeaderValue::from_str(&policy).map_err(|_| BadOrigin(connect))?;
        Ok(Self { files, policy })
    }

    /// The Content-Security-Policy of every page.
    pub fn content_security_policy(&self) -> &HeaderValue {
        &self.policy
    }

    /// A router that answers every request with the app (for a fallback:
    /// the caller keeps its own paths, such as the API's, away from it).
    pub fn router(self) -> Router {
        Router::new().fallback(move |request: Request| {
            let app = self.clone();
            async move { app.respond(request.method(), request.uri().path(), request.headers()) }
        })
    }

    /// The reply to `method` on `path`.
    fn respond(&self, method: &Method, path: &str, headers: &HeaderMap) -> Response {
        let mut response = self.file_reply(method, path, headers);
        let set = response.headers_mut();
        set.insert(header::CONTENT_SECURITY_POLICY, self.policy.clone());
        set.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        set.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        set.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    }

    fn file_reply(&self, method: &Method, path: &str, headers: &HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let is_asset = path.starts_with("/assets/");
        let (file, caching) = match self.files.iter().find(|f| f.path == path) {
            Some(file) if is_asset => (file, IMMUTABLE),
            Some(file) => (file, NO_CACHE),
            None if is_asset => {
                let mut response = (StatusCode::NOT_FOUND, "no such asset\n").into_response();
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
                return response;
            }
            None => match self.files.iter().find(|f| f.path == "/index.html") {
                Some(index) => (index, NO_CACHE),
                None => return StatusCode::NOT_FOUND.into_response(),
            },
        };
        let zipped = file
            .gzip
            .filter(|_| accepts(headers, header::ACCEPT_ENCODING, "gzip"));
        let mut response = if matches_etag(headers, file.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let body = zipped.unwrap_or(file.body);
            let length = HeaderValue::from(body.len());
            let body = if method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(body)
            };
            let mut response = Response::new(body);
            let set = response.headers_mut();
            set.insert(header::CONTENT_LENGTH, length);
            set.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            );
            if zipped.is_some() {
                set.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        };
        let set = response.headers_mut();
        set.insert(header::CACHE_CONTROL, HeaderValue::from_static(caching));
        set.insert(header::ETAG, HeaderValue::from_static(file.etag));
        if file.gzip.is_some() {
            set.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        response
    }
}

/// Whether `text` is `scheme://host[:port]` and nothing else.
fn is_origin(text: &str) -> bool {
    let Some((scheme, host)) = text.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric())
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// Whether `If-None-Match` names `etag` (compared weakly) or is `*`.
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let wanted = opaque(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == "*" || opaque(tag) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    static TEST_FILES: &[File] = &[
        File {
            path: "/assets/app-abc123.js",
            body: b"console.log('a long enough script to be worth compressing');",
            gzip: Some(b"zipped script"),
            content_type: "text/javascript; charset=utf-8",
            etag: "W/\"1\"",
        },
        File {
            path: "/favicon.png",
            body: b"png",
            gzip: None,
            content_type: "image/png",
            etag: "W/\"2\"",
        },
        File {
            path: "/index.html",
            body: b"<!doctype html><title>app</title>",
            gzip: Some(b"zipped page"),
            content_type: "text/html; charset=utf-8",
            etag: "W/\"3\"",
        },
    ];

    fn app() -> Router {
        WebApp::with_files(
            TEST_FILES,
            Some("https://docs.example.s3.eu-west-1.amazonaws.com"),
        )
        .expect("an origin")
        .router()
    }

    async fn send(method: Method, path: &str, headers: &[(&str, &str)]) -> (Response, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = app()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("answers");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
        (Response::from_parts(parts, Body::empty()), bytes.to_vec())
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn deep_links_get_the_page_and_assets_are_cached_for_a_year() {
        for path in ["/", "/notes/123", "/s/token", "/index.html", "/account?x=1"] {
            let (response, body) = send(Method::GET, path, &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(body, TEST_FILES[2].body, "{path}");
            assert_eq!(header(&response, "cache-control"), "no-cache");
            assert_eq!(
                header(&response, "content-type"),
                "text/html; charset=utf-8"
            );
        }
        let (response, body) = send(Method::GET, "/assets/app-abc123.js", &[]).await;
        assert_eq!(body, TEST_FILES[0].body);
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(header(&response, "vary"), "accept-encoding");
        let (response, _) = send(Method::GET, "/favicon.png", &[]).await;
        assert_eq!(header(&response, "cache-control"), "no-cache");
        assert_eq!(header(&response, "content-type"), "image/png");
        assert_eq!(header(&response, "vary"), "", "nothing to vary");
    }

    #[tokio::test]
    async fn an_unknown_asset_is_not_found() {
        let (response, body) = send(Method::GET, "/assets/app-old.js", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(!body.starts_with(b"<!doctype"));
    }

    #[tokio::test]
    async fn gzip_goes_to_clients_that_take_it() {
        let (response, body) =
            send(Method::GET, "/", &[("accept-encoding", "br, gzip;q=0.8")]).await;
        assert_eq!(header(&response, "content-encoding"), "gzip");
        assert_eq!(body, b"zipped page");
        assert_eq!(header(&response, "content-length"), "11");
        for refused in ["br", "gzip;q=0", "identity"] {
            let (response, body) = send(Method::GET, "/", &[("accept-encoding", refused)]).await;
            assert_eq!(header(&response, "content-encoding"), "", "{refused}");
            assert_eq!(body, TEST_FILES[2].body);
        }
    }

    #[tokio::test]
    async fn head_has_the_headers_alone_and_etags_revalidate() {
        let (response, body) = send(Method::HEAD, "/assets/app-abc123.js", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(body.is_empty());
        let length = TEST_FILES[0].body.len().to_string();
        assert_eq!(header(&response, "content-length"), length);
        let (response, body) = send(Method::GET, "/notes/1", &[("if-none-match", "\"3\"")]).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        assert_eq!(header(&response, "etag"), "W/\"3\"");
        assert_eq!(header(&response, "cache-control"), "no-cache");
        let (response, _) = send(Method::GET, "/", &[("if-none-match", "W/\"9\"")]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn every_reply_carries_the_security_headers() {
        for path in ["/", "/assets/app-abc123.js", "/assets/gone.css"] {
            let (response, _) = send(Method::GET, path, &[]).await;
            assert_eq!(
                header(&response, "content-security-policy"),
                "default-src 'self'; script-src 'self'; style-src 'self'; \
                 img-src 'self' data: blob:; \
                 connect-src 'self' https://docs.example.s3.eu-west-1.amazonaws.com; \
                 font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                 frame-ancestors 'none'",
                "{path}"
            );
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
            assert_eq!(header(&response, "referrer-policy"), "no-referrer");
            assert_eq!(header(&response, "x-frame-options"), "DENY");
        }
        let (response, _) = send(Method::POST, "/", &[]).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn the_policy_names_only_a_real_origin() {
        let local = WebApp::with_files(TEST_FILES, None).expect("no origin");
        assert!(local
            .content_security_policy()
            .to_str()
            .is_ok_and(|p| p.contains("connect-src 'self';")));
        for bad in ["https://x; script-src *", "x", "https://", "https://a/b"] {
            assert!(WebApp::with_files(TEST_FILES, Some(bad)).is_err(), "{bad}");
        }
        assert!(WebApp::with_files(TEST_FILES, Some("http://127.0.0.1:9000")).is_ok());
    }

    #[tokio::test]
    async fn the_service_worker_and_the_manifest_are_served_to_install_the_app() {
        let app = WebApp::new(None).expect("no origin").router();
        for (path, content_type) in [
            ("/sw.js", "text/javascript; charset=utf-8"),
            ("/manifest.webmanifest", "application/manifest+json"),
            ("/icons/icon-192.png", "image/png"),
            ("/icons/icon-512.png", "image/png"),
            ("/icons/icon-maskable-512.png", "image/png"),
        ] {
            let request = Request::get(path).body(Body::empty()).expect("request");
            let response = app.clone().oneshot(request).await.expect("answers");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&response, "content-type"), content_type, "{path}");
            // A worker kept for long by the HTTP cache would keep an old build alive.
            assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        }
    }

    #[test]
    fn the_build_is_embedded_with_its_page() {
        let index = FILES.iter().find(|f| f.path == "/index.html");
        assert!(index.is_some_and(|f| f.content_type.starts_with("text/html")));
        assert!(FILES.iter().all(|f| f.etag.starts_with("W/\"")));
        for file in FILES.iter().filter(|f| f.content_type.starts_with("text/")) {
            if let Some(zipped) = file.gzip {
                assert!(zipped.starts_with(&[0x1f, 0x8b]), "{} is gzip", file.path);
            }
        }
    }
}
