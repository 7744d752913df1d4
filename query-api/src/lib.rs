//! Anote's query API: every read, under `/v1`, served from the read models.
//!
//! `router(state, &http)` builds the whole service; `routes(state)` gives
//! just the `/v1` routes, for `anote serve` to merge with the command API.
//!
//! # Layout
//! - this file: [`QueryState`], the routes.
//! - [`notes`], [`lists`], [`history`], [`shares`], [`documents`],
//!   [`changes`]: the handlers.
//! - [`streams`]: `/v1/changes/stream`, the changes feed as it happens.
//! - [`export`]: `/v1/account/export`, the account's notes as a zip.
//! - [`cache`]: recent note views and list pages, and their invalidation.
//! - [`consistency`]: `Anote-Min-Position`, waiting on the checkpoint.
//! - [`error`]: [`QueryError`] and its problem documents.
//! - [`transfers`]: downloads through the local document store's URLs.
//! - [`openapi`]: the service's OpenAPI document.

pub mod cache;
pub mod changes;
pub mod consistency;
pub mod documents;
pub mod error;
pub mod export;
pub mod history;
pub mod lists;
pub mod notes;
pub mod openapi;
pub mod shares;
pub mod streams;
pub mod transfers;

use std::sync::Arc;
use std::time::Duration;

use anote_blob::{Blobs, DocumentPolicy};
use anote_domain::UserId;
use anote_http::extract::Authenticator;
use anote_http::{readiness, service_routes, HttpSettings, ReadinessCheck};
use anote_read_store::{Applied, NoteReads, NOTE_VIEWS};
use anote_store::event_store::EventStore;
use anote_store::revocations::Revocations;
use anote_tokens::TokenSigner;
use axum::routing::get;
use axum::Router;
use tokio::sync::broadcast;
use uuid::Uuid;

pub use crate::error::QueryError;
use cache::ReadCache;
use consistency::Checkpoint;
pub use streams::{StreamSettings, Streams};

/// What a query service is made of, besides what it starts itself.
pub struct QueryParts {
    /// The read models.
    pub reads: Arc<dyn NoteReads>,
    /// The event log, for history and time travel.
    pub events: Arc<dyn EventStore>,
    /// Checks access tokens (the command API's, without calling it).
    pub signer: TokenSigner,
    /// The access tokens refused before they expire.
    pub revocations: Revocations,
    /// Where document bytes live (downloads are redirected there).
    pub blobs: Blobs,
    /// Document limits and URL lifetimes.
    pub documents: DocumentPolicy,
    /// The cache and read-your-writes settings.
    pub settings: QuerySettings,
}

/// How reads are cached and how long they wait for their own writes.
#[derive(Clone, Copy, Debug)]
pub struct QuerySettings {
    /// How long a read waits for `Anote-Min-Position`.
    pub min_position_timeout: Duration,
    /// The bytes of note views and list pages kept.
    pub cache_max_bytes: u64,
    /// How long a cached entry lives at most.
    pub cache_ttl: Duration,
    /// The change streams' limits and heartbeat.
    pub streams: StreamSettings,
}

/// Everything the handlers share. Built only by [`QueryState::start`], so
/// the cache is always invalidated by the projector's notices and the
/// checkpoint always followed.
#[derive(Clone)]
pub struct QueryState {
    reads: Arc<dyn NoteReads>,
    events: Arc<dyn EventStore>,
    signer: TokenSigner,
    revocations: Revocations,
    min_position_timeout: Duration,
    checkpoint: Checkpoint,
    cache: ReadCache,
    streams: Streams,
    exports: Arc<tokio::sync::Semaphore>,
    blobs: Blobs,
    documents: Arc<DocumentPolicy>,
}

impl QueryState {
    /// The state of a query service, with its followers started: the
    /// cache's invalidation, the change streams' wake-ups and the note
    /// views' checkpoint, all driven by
    /// `notices` (the projector's, in process, or PostgreSQL's `LISTEN`).
    /// They run until the sender is gone.
    pub fn start(parts: QueryParts, notices: &broadcast::Sender<Applied>) -> Self {
        let cache = ReadCache::new(parts.settings.cache_max_bytes, parts.settings.cache_ttl);
        cache.follow(notices.subscribe());
        let streams = Streams::new(parts.settings.streams);
        streams.follow(notices.subscribe());
        let checkpoint = Checkpoint::follow(parts.reads.clone(), NOTE_VIEWS, notices.subscribe());
        Self {
            reads: parts.reads,
            events: parts.events,
            signer: parts.signer,
            revocations: parts.revocations,
            min_position_timeout: parts.settings.min_position_timeout,
            checkpoint,
            cache,
            streams,
            exports: export::places(),
            blobs: parts.blobs,
            documents: Arc::new(parts.documents),
        }
    }

    /// The open change streams ([`Streams::close`] ends them at shutdown).
    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    /// Where document bytes live.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }
}

impl Authenticator for QueryState {
    fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    fn is_revoked(&self, user: UserId, session: Uuid) -> bool {
        self.revocations.is_revoked(user, session)
    }
}

/// The `/v1` read routes, without the shared layers.
pub fn routes(state: QueryState) -> Router {
    Router::new()
        .route("/v1/notes", get(notes::list_notes))
        .route("/v1/notes/{id}", get(notes::get_note))
        .route("/v1/notes/{id}/history", get(history::history))
        .route("/v1/search", get(lists::search))
        .route("/v1/subjects", get(lists::subjects))
        .route("/v1/tags", get(lists::tags))
        .route("/v1/assignments/upcoming", get(lists::upcoming))
        .route("/v1/notes/{id}/shares", get(shares::list))
        .route("/v1/shared/{token}", get(shares::shared))
        .route("/v1/changes", get(changes::changes))
        .route("/v1/changes/stream", get(streams::stream))
        .route("/v1/documents", get(documents::list))
        .route("/v1/documents/{id}", get(documents::download))
        .route(
            "/v1/shared/{token}/documents/{id}",
            get(documents::shared_download),
        )
        .route("/v1/account/usage", get(documents::usage))
        .route("/v1/account/export", get(export::export))
        // Shared, not cloned field by field for each request.
        .with_state(Arc::new(state))
}

/// The query API: its routes, health, readiness, metrics, OpenAPI and the
/// shared layers, and `pages` (the web app) for every other `GET`.
pub fn router(state: QueryState, http: &HttpSettings, pages: Option<Router>) -> Router {
    let service = service_routes(openapi::document(), vec![readiness_check(&state)]);
    let transfers = transfer_routes(&state.blobs);
    anote_http::finish_with_transfers(routes(state).merge(service), transfers, pages, http)
}

/// The query API's readiness: its read models answer.
pub fn readiness_check(state: &QueryState) -> ReadinessCheck {
    let reads = state.reads.clone();
    readiness("the read models", move || {
        let reads = reads.clone();
        async move { reads.ping().await }
    })
}

/// The download route of a local document store (none for S3).
pub fn transfer_routes(blobs: &Blobs) -> Router {
    blobs
        .local()
        .map(|local| transfers::routes(local.clone()))
        .unwrap_or_default()
}
