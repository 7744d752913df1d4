//! [`TestApp`]: the embedded backend in the test's own process, as `anote
//! serve` builds it (both APIs' routes, the service routes and the local
//! store's transfer routes behind the same layers, a projector tailing the
//! log), on a temporary folder; requests go through
//! `tower::ServiceExt::oneshot`, with no socket and no process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::events::Events;
use anote_blob::clock::ManualClock;
use anote_blob::local::LocalBlobs;
use anote_blob::{Blobs, DocumentPolicy};
use anote_command_api::sweeper::{Sweeper, Swept};
use anote_command_api::{AppState, AuthSettings};
use anote_http::{service_routes, HttpSettings};
use anote_projector::Projector;
use anote_query_api::{QueryParts, QuerySettings, QueryState, StreamSettings};
use anote_read_store::builds::embedded_read_models;
use anote_read_store::{ReadStore, NOTE_VIEWS};
use anote_store::revocations::Revocations;
use anote_store::Storage;
use anote_tokens::{Secret, TokenSigner};
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};
use tower::ServiceExt;

use crate::{Account, PASSWORD};

/// The origin of the local store's URLs in a [`TestApp`]; [`TestApp::call`]
/// takes absolute URLs of it too.
pub const ORIGIN: &str = "http://anote.test";

/// The address requests come from unless [`Call::from`] says otherwise.
const PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40_000);

/// The media types `anote serve` accepts for documents by default.
const DOCUMENT_TYPES: [&str; 20] = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/svg+xml",
    "text/plain",
    "text/markdown",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/rtf",
    "application/zip",
];

/// What a [`TestApp`] runs with: the defaults of `anote serve`, to be
/// changed before [`TestApp::with`].
#[derive(Clone, Debug)]
pub struct Settings {
    /// The API layers' limits.
    pub http: HttpSettings,
    /// Tokens, sessions and login throttling.
    pub auth: AuthSettings,
    /// Document limits and URL lifetimes.
    pub documents: DocumentPolicy,
    /// The query API's cache and read-your-writes wait.
    pub query: QuerySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings {
                cors_origins: Vec::new(),
                request_timeout: Duration::from_secs(10),
                body_limit: 2 * 1024 * 1024,
                max_in_flight: 512,
                body_timeout: Duration::from_secs(10),
            },
            auth: AuthSettings {
                access_ttl: Duration::from_secs(900),
                refresh_ttl: Duration::from_secs(2_592_000),
                login_failures_per_user: 5,
                login_failures_per_address: 20,
                login_window: Duration::from_secs(900),
                trusted_proxy_hops: 0,
            },
            documents: DocumentPolicy {
                max_bytes: 50 * 1024 * 1024,
                quota_bytes: 1024 * 1024 * 1024,
                types: DOCUMENT_TYPES.map(str::to_owned).to_vec(),
                upload_url_ttl: Duration::from_secs(900),
                download_url_ttl: Duration::from_secs(300),
                upload_grace: Duration::from_secs(600),
            },
            query: QuerySettings {
                min_position_timeout: Duration::from_secs(2),
                cache_max_bytes: 64 * 1024 * 1024,
                cache_ttl: Duration::from_secs(5),
                streams: StreamSettings::DEFAULT,
            },
        }
    }
}

/// The embedded backend in process on a temporary folder.
pub struct TestApp {
    router: Router,
    /// The event log, the account tables and the document ledger.
    pub storage: Storage,
    /// The read models.
    pub reads: Arc<dyn ReadStore>,
    /// The time the document store and the sweeper go by; move it with
    /// [`ManualClock::advance`] instead of sleeping.
    pub clock: Arc<ManualClock>,
    sweeper: Sweeper,
    stop: watch::Sender<bool>,
    dir: tempfile::TempDir,
}

impl TestApp {
    /// A backend with the defaults of `anote serve`.
    pub async fn new() -> Self {
        Self::with(Settings::default()).await
    }

    /// A backend with these settings.
    pub async fn with(settings: Settings) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let storage = Storage::embedded(dir.path())
            .await
            .expect("the embedded storage opens");
        let (reads, _) = embedded_read_models(dir.path())
            .await
            .expect("the read models open");
        let signer = TokenSigner::new(Secret::new(vec![7; 32]));
        let clock = Arc::new(ManualClock::new());
        let local = LocalBlobs::open(&dir.path().join("blobs"), ORIGIN, signer.clone())
            .expect("the local store opens")
            .with_clock(clock.clone());
        let blobs = Blobs::local_store(local);
        let (notices, _) = broadcast::channel(1024);
        let revocations = Revocations::load(storage.accounts.clone())
            .await
            .expect("the revocations load");
        let query = QueryState::start(
            QueryParts {
                reads: reads.clone(),
                events: storage.events.clone(),
                signer: signer.clone(),
                revocations: revocations.clone(),
                blobs: blobs.clone(),
                documents: settings.documents.clone(),
                settings: settings.query,
            },
            &notices,
        );
        let projector = Projector::new(
            NOTE_VIEWS,
            storage.events.clone(),
            reads.clone(),
            anote_projector::BATCH,
        )
        .with_notices(notices);
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            projector
                .run_log_tail(Duration::from_millis(10), stopped)
                .await;
        });
        let command = AppState::new(
            storage.clone(),
            signer,
            settings.auth,
            blobs.clone(),
            settings.documents,
            revocations,
        )
        .expect("the command API starts");
        let sweeper = Sweeper::new(
            command.notes.clone(),
            storage.documents.clone(),
            blobs.store.clone(),
        )
        .with_clock(clock.clone());
        let router = router(command, query, &blobs, &settings.http);
        Self {
            router,
            storage,
            reads,
            clock,
            sweeper,
            stop,
            dir,
        }
    }

    /// The temporary data folder (the local store is its `blobs`).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Sweeps the document store once, at the time of [`TestApp::clock`].
    pub async fn sweep(&self) -> Swept {
        self.sweeper.sweep().await.expect("the sweep succeeds")
    }

    /// A request to `path` (or an absolute URL of [`ORIGIN`]).
    pub fn call(&self, method: Method, path: &str) -> Call<'_> {
        let path = path.strip_prefix(ORIGIN).unwrap_or(path);
        Call {
            app: self,
            request: Request::builder().method(method).uri(path),
            body: Body::empty(),
            peer: PEER,
        }
    }

    /// A `GET` of `path`.
    pub fn get(&self, path: &str) -> Call<'_> {
        self.call(Method::GET, path)
    }

    /// A `POST` to `path`.
    pub fn post(&self, path: &str) -> Call<'_> {
        self.call(Method::POST, path)
    }

    /// A request with the account's bearer token.
    pub fn as_user(&self, account: &Account, method: Method, path: &str) -> Call<'_> {
        self.call(method, path).bearer(&account.access)
    }

    /// Registers `name` (with [`PASSWORD`]) and logs in.
    pub async fn user(&self, name: &str) -> Account {
        let r = self
            .post("/v1/accounts")
            .json(&json!({ "username": name, "password": PASSWORD, "display_name": name }))
            .send()
            .await;
        assert_eq!(r.status, 201, "register {name}: {}", r.json());
        assert!(r.json()["id"].is_string());
        let (status, tokens) = self.login(name, PASSWORD).await;
        assert_eq!(status, 200, "log in {name}: {tokens}");
        Account {
            access: tokens["access_token"].as_str().expect("token").to_owned(),
            refresh: tokens["refresh_token"].as_str().expect("token").to_owned(),
        }
    }

    /// Logs in; returns the status and the body.
    pub async fn login(&self, name: &str, password: &str) -> (u16, Value) {
        let r = self
            .post("/v1/sessions")
            .json(&json!({ "username": name, "password": password }))
            .send()
            .await;
        (r.status, r.json())
    }

    /// Creates a note; returns its id and the position of the command.
    pub async fn create_note(&self, account: &Account, fields: Value) -> (String, String) {
        let r = self
            .as_user(account, Method::POST, "/v1/notes")
            .json(&fields)
            .send()
            .await;
        assert_eq!(r.status, 201, "create a note: {}", r.json());
        let created = r.json();
        let field = |name: &str| created[name].as_str().expect(name).to_owned();
        (field("id"), field("position"))
    }

    /// Creates a note; returns its id.
    pub async fn note(&self, account: &Account, fields: Value) -> String {
        self.create_note(account, fields).await.0
    }

    /// Sends a command that must succeed (with `If-Match` when `version` is
    /// given); returns its reply body.
    pub async fn command(
        &self,
        account: &Account,
        method: Method,
        path: &str,
        version: Option<u64>,
        payload: Option<Value>,
    ) -> Value {
        let mut call = self.as_user(account, method, path);
        if let Some(v) = version {
            call = call.header("if-match", &format!("\"{v}\""));
        }
        if let Some(p) = payload {
            call = call.json(&p);
        }
        let r = call.send().await;
        assert!(
            (200..300).contains(&r.status),
            "{path}: {} {}",
            r.status,
            r.json()
        );
        r.json()
    }

    /// A read of `path` that waits for `position`; returns the status and
    /// the body.
    pub async fn read(&self, account: &Account, path: &str, position: &str) -> (u16, Value) {
        let r = self
            .as_user(account, Method::GET, path)
            .header("anote-min-position", position)
            .send()
            .await;
        (r.status, r.json())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Both APIs' routes with the service routes and the local store's
/// transfer routes, behind the layers of `anote serve` (without the web
/// app's pages).
fn router(command: AppState, query: QueryState, blobs: &Blobs, http: &HttpSettings) -> Router {
    let checks = vec![
        anote_command_api::readiness_check(&command),
        anote_query_api::readiness_check(&query),
    ];
    let mut document = anote_command_api::openapi::document();
    document.merge(anote_query_api::openapi::document());
    document.info.title = "Anote".to_owned();
    let transfers =
        anote_command_api::transfer_routes(&command).merge(anote_query_api::transfer_routes(blobs));
    let app = anote_command_api::routes(command)
        .merge(anote_query_api::routes(query))
        .merge(service_routes(document, checks));
    anote_http::finish_with_transfers(app, transfers, None, http)
}

/// A request being built; [`Call::send`] sends it.
pub struct Call<'a> {
    app: &'a TestApp,
    request: axum::http::request::Builder,
    body: Body,
    peer: SocketAddr,
}

impl Call<'_> {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).expect("a header name");
        let value = HeaderValue::try_from(value).expect("a header value");
        self.request = self.request.header(name, value);
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A JSON body.
    pub fn json(self, value: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    /// A body as it is.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Body::from(body.into());
        self
    }

    /// The request comes from `peer` (the address the listener saw).
    pub fn from(mut self, peer: SocketAddr) -> Self {
        self.peer = peer;
        self
    }

    /// Sends the request through the router and reads the whole reply.
    pub async fn send(self) -> Reply {
        let (parts, body) = self.respond().await.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the reply's body");
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

impl Call<'_> {
    /// Sends the request through the router; the reply's body is still to come.
    async fn respond(self) -> axum::response::Response {
        let mut request = self.request.body(self.body).expect("a request");
        if let Some(length) = http_body_length(&request) {
            request
                .headers_mut()
                .entry(header::CONTENT_LENGTH)
                .or_insert(HeaderValue::from(length));
        }
        request.extensions_mut().insert(ConnectInfo(self.peer));
        self.app
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers")
    }

    /// Sends the request and reads its reply as Server-Sent Events, as
    /// they come; a reply that is not a stream is read whole.
    pub async fn open(self) -> Opened {
        let response = self.respond().await;
        let streaming = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|kind| kind == "text/event-stream");
        let (parts, body) = response.into_parts();
        if !streaming {
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .expect("the reply's body");
            return Opened::Refused(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            });
        }
        Opened::Stream(Events::of(body.into_data_stream()))
    }
}

/// What [`Call::open`] got.
pub enum Opened {
    /// A stream of events.
    Stream(Events),
    /// A reply that is not a stream (a problem document, say).
    Refused(Reply),
}

impl Opened {
    /// The stream, which it must be.
    pub fn stream(self) -> Events {
        match self {
            Self::Stream(events) => events,
            Self::Refused(reply) => panic!(
                "not a stream: {} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            ),
        }
    }

    /// The refusal, which it must be.
    pub fn refused(self) -> Reply {
        match self {
            Self::Stream(_) => panic!("a stream was opened"),
            Self::Refused(reply) => reply,
        }
    }
}

/// The exact length of a request's body, as a client would send it in
/// `Content-Length`.
fn http_body_length(request: &Request<Body>) -> Option<u64> {
    use axum::body::HttpBody;
    request.body().size_hint().exact()
}

/// A whole reply.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).expect("a JSON body")
        }
    }

    /// The value of header `name`, which must be there.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("a {name} header"))
            .to_str()
            .expect("an ASCII header")
    }

    /// The `code` of a problem document, after checking that it is one.
    pub fn code(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            "application/problem+json",
            "{} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        self.json()["code"].as_str().expect("a code").to_owned()
    }
}
