//! Anote's command API: every write, under `/v1`, as JSON.
//!
//! `router(state, &http)` builds the whole service, ready to serve or to test
//! with `oneshot`.
//!
//! # Layout
//! - this file: [`AppState`], [`AuthSettings`], the routes.
//! - [`notes`], [`shares`], [`documents`], [`accounts`]: the handlers.
//! - [`note_commands`]: load → decide → append for notes, with its cache.
//! - [`extract`]: `If-Match`, `Idempotency-Key`, the caller of a command.
//! - [`error`]: [`CommandError`] and its problem documents.
//! - [`transfers`]: the local document store's upload and download URLs.
//! - [`import`]: an archive of Markdown files as notes.
//! - [`passwords`], [`login_limiter`], [`refresh_cookie`]: sign-in pieces.
//! - [`sweeper`]: abandons uploads never completed.
//! - [`openapi`]: the service's OpenAPI document.

pub mod accounts;
pub mod documents;
pub mod error;
pub mod extract;
pub mod import;
pub mod login_limiter;
pub mod note_commands;
pub mod notes;
pub mod openapi;
pub mod passwords;
mod pipeline;
pub mod refresh_cookie;
pub mod shares;
mod stream_locks;
pub mod sweeper;
pub mod transfers;

use std::sync::Arc;
use std::time::Duration;

use anote_blob::{Blobs, DocumentPolicy};
use anote_domain::UserId;
use anote_http::extract::Authenticator;
use anote_http::{readiness, service_routes, HttpSettings, ReadinessCheck};
use anote_store::revocations::Revocations;
use anote_store::Storage;
use anote_tokens::TokenSigner;
use axum::routing::{delete, patch, post, put};
use axum::Router;
use tokio::sync::Semaphore;
use uuid::Uuid;

pub use crate::error::CommandError;
use crate::login_limiter::LoginLimiter;
use crate::note_commands::{LedgerPolicy, NoteCommands};
use crate::passwords::PasswordHasher;

/// Token lifetimes and login throttling.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// How long an access token lives.
    pub access_ttl: Duration,
    /// How long a refresh token lives.
    pub refresh_ttl: Duration,
    /// Failed logins allowed per username within the window.
    pub login_failures_per_user: u32,
    /// Failed logins allowed per client address within the window.
    pub login_failures_per_address: u32,
    /// The window over which failed logins are counted.
    pub login_window: Duration,
    /// Proxies in front of the service that append to `X-Forwarded-For`.
    pub trusted_proxy_hops: usize,
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The event log and the account tables.
    pub storage: Storage,
    /// Signs and checks access tokens.
    pub signer: TokenSigner,
    /// Token lifetimes and login limits.
    pub auth: Arc<AuthSettings>,
    /// The note command path, with its cache of recent states.
    pub notes: NoteCommands,
    /// Throttles logins, with counters shared by every instance.
    pub limiter: LoginLimiter,
    /// The access tokens refused before they expire.
    pub revocations: Revocations,
    /// Hashes passwords off the async workers.
    pub passwords: PasswordHasher,
    /// Where document bytes live.
    pub blobs: Blobs,
    /// Document limits and URL lifetimes.
    pub documents: Arc<DocumentPolicy>,
    /// The places of the imports running at once.
    pub imports: Arc<Semaphore>,
}

impl AppState {
    /// The state for these stores and settings; `revocations` are those of
    /// `storage`, followed by the caller.
    pub fn new(
        storage: Storage,
        signer: TokenSigner,
        auth: AuthSettings,
        blobs: Blobs,
        documents: DocumentPolicy,
        revocations: Revocations,
    ) -> Result<Self, CommandError> {
        let parallel_hashes = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        Ok(Self {
            notes: NoteCommands::new(storage.events.clone(), 100_000, ledger_policy(&documents)),
            limiter: LoginLimiter::new(
                storage.accounts.clone(),
                signer.clone(),
                auth.login_failures_per_user,
                auth.login_failures_per_address,
                auth.login_window,
            ),
            revocations,
            passwords: PasswordHasher::new(parallel_hashes)?,
            storage,
            signer,
            auth: Arc::new(auth),
            blobs,
            documents: Arc::new(documents),
            imports: import::places(),
        })
    }
}

/// How document events change the ledger under these settings: an upload
/// is abandoned once its URLs expired and the grace period passed.
pub fn ledger_policy(documents: &DocumentPolicy) -> LedgerPolicy {
    LedgerPolicy {
        quota: documents.quota_bytes,
        abandon_after: documents.upload_url_ttl + documents.upload_grace,
    }
}

impl Authenticator for AppState {
    fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    fn is_revoked(&self, user: UserId, session: Uuid) -> bool {
        self.revocations.is_revoked(user, session)
    }
}

/// The command API: its routes, health, readiness, metrics, OpenAPI and the
/// shared layers (CORS, body limit, timeout, access log).
pub fn router(state: AppState, http: &HttpSettings) -> Router {
    let service = service_routes(openapi::document(), vec![readiness_check(&state)]);
    let transfers = transfer_routes(&state);
    anote_http::finish_with_transfers(routes(state).merge(service), transfers, None, http)
}

/// The command API's readiness: its event log answers.
pub fn readiness_check(state: &AppState) -> ReadinessCheck {
    let events = state.storage.events.clone();
    readiness("the event log", move || {
        let events = events.clone();
        async move { events.ping().await }
    })
}

/// The routes that take large bodies, outside the API's body limit and
/// request timeout: the import, and the upload route of a local document
/// store (none for S3).
pub fn transfer_routes(state: &AppState) -> Router {
    let uploads = state
        .blobs
        .local()
        .map(|local| transfers::routes(local.clone()))
        .unwrap_or_default();
    uploads.merge(import::routes(state.clone()))
}

/// The `/v1` write routes, without the shared layers.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/v1/accounts", post(accounts::register))
        .route(
            "/v1/sessions",
            post(accounts::login).delete(accounts::logout),
        )
        .route("/v1/sessions/refresh", post(accounts::refresh))
        .route("/v1/account", delete(accounts::delete_account))
        .route("/v1/account/password", put(accounts::change_password))
        .route("/v1/notes", post(notes::create))
        .route("/v1/notes/{id}", patch(notes::edit).delete(notes::purge))
        .route("/v1/notes/{id}/tags", put(notes::set_tags))
        .route("/v1/notes/{id}/subject", put(notes::move_to_subject))
        .route(
            "/v1/notes/{id}/due",
            put(notes::set_due).delete(notes::clear_due),
        )
        .route("/v1/notes/{id}/pin", post(notes::pin))
        .route("/v1/notes/{id}/unpin", post(notes::unpin))
        .route("/v1/notes/{id}/archive", post(notes::archive))
        .route("/v1/notes/{id}/unarchive", post(notes::unarchive))
        .route("/v1/notes/{id}/complete", post(notes::complete))
        .route("/v1/notes/{id}/reopen", post(notes::reopen))
        .route("/v1/notes/{id}/trash", post(notes::trash))
        .route("/v1/notes/{id}/restore", post(notes::restore))
        .route(
            "/v1/notes/{id}/versions/{version}/restore",
            post(notes::restore_version),
        )
        .route("/v1/notes/{id}/shares", post(shares::create))
        .route("/v1/notes/{id}/shares/{share_id}", delete(shares::revoke))
        .route("/v1/notes/{id}/documents", post(documents::request_upload))
        .route(
            "/v1/notes/{id}/documents/{document_id}",
            delete(documents::remove),
        )
        .route(
            "/v1/notes/{id}/documents/{document_id}/complete",
            post(documents::complete),
        )
        .route(
            "/v1/notes/{id}/documents/{document_id}/submit",
            post(documents::submit),
        )
        .with_state(state)
}
