//! Anote's command API: every write, under `/v1`, as JSON.
//!
//! `router(state, &http)` builds the whole service, ready to serve or to test
//! with `oneshot`.

pub mod accounts;
pub mod documents;
pub mod extract;
pub mod login_limiter;
pub mod note_commands;
pub mod notes;
pub mod openapi;
pub mod passwords;
mod pipeline;
pub mod refresh_cookie;
pub mod shares;
pub mod sweeper;

use std::sync::Arc;

use anote_infra::blob::Blobs;
use anote_infra::config::{AuthConfig, DocumentConfig, HttpConfig};
use anote_infra::http::{event_log_ready, service_routes};
use anote_infra::revocations::Revocations;
use anote_infra::tokens::TokenSigner;
use anote_infra::Storage;
use axum::extract::FromRef;
use axum::routing::{delete, patch, post, put};
use axum::Router;

use crate::login_limiter::LoginLimiter;
use crate::note_commands::{LedgerPolicy, NoteCommands};
use crate::passwords::PasswordHasher;
use anote_infra::http::problem::ApiError;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The event log and the account tables.
    pub storage: Storage,
    /// Signs and checks access tokens.
    pub signer: TokenSigner,
    /// Token lifetimes and login limits.
    pub auth: Arc<AuthConfig>,
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
    pub documents: Arc<DocumentConfig>,
}

impl AppState {
    /// The state for these stores and settings; `revocations` are those of
    /// `storage`, followed by the caller.
    pub fn new(
        storage: Storage,
        signer: TokenSigner,
        auth: AuthConfig,
        blobs: Blobs,
        documents: DocumentConfig,
        revocations: Revocations,
    ) -> Result<Self, ApiError> {
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
        })
    }
}

/// How document events change the ledger under these settings: an upload
/// is abandoned once its URLs expired and the grace period passed.
pub fn ledger_policy(documents: &DocumentConfig) -> LedgerPolicy {
    LedgerPolicy {
        quota: documents.document_quota_bytes,
        abandon_after: documents.upload_url_ttl + documents.upload_grace,
    }
}

impl FromRef<AppState> for TokenSigner {
    fn from_ref(state: &AppState) -> Self {
        state.signer.clone()
    }
}

impl FromRef<AppState> for Revocations {
    fn from_ref(state: &AppState) -> Self {
        state.revocations.clone()
    }
}

/// The command API: its routes, health, readiness, metrics, OpenAPI and the
/// shared layers (CORS, body limit, timeout, access log).
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let checks = vec![event_log_ready(state.storage.events.clone())];
    let service = service_routes(openapi::document(), checks);
    let transfers = state.blobs.routes();
    anote_infra::http::finish_with_transfers(routes(state).merge(service), transfers, None, http)
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
