//! Anote's query API: every read, under `/v1`, served from the read models.
//!
//! `router(state, &http)` builds the whole service; `routes(state)` gives
//! just the `/v1` routes, for `anote serve` to merge with the command API.

pub mod cache;
pub mod changes;
pub mod consistency;
pub mod documents;
pub mod history;
pub mod lists;
pub mod notes;
pub mod openapi;
pub mod shares;

use std::sync::Arc;
use std::time::Duration;

use anote_infra::blob::Blobs;
use anote_infra::config::{DocumentConfig, HttpConfig};
use anote_infra::event_store::EventStore;
use anote_infra::http::{read_models_ready, service_routes};
use anote_infra::read_store::ReadStore;
use anote_infra::revocations::Revocations;
use anote_infra::tokens::TokenSigner;
use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use cache::ReadCache;
use consistency::Checkpoint;

/// Everything the handlers share.
#[derive(Clone)]
pub struct QueryState {
    /// The read models.
    pub reads: Arc<dyn ReadStore>,
    /// The event log, for history and time travel.
    pub events: Arc<dyn EventStore>,
    /// Checks access tokens (the command API's, without calling it).
    pub signer: TokenSigner,
    /// The access tokens refused before they expire.
    pub revocations: Revocations,
    /// The projector whose checkpoint `Anote-Min-Position` waits for.
    pub projector: String,
    /// How long a read waits for `Anote-Min-Position`.
    pub min_position_timeout: Duration,
    /// That projector's checkpoint, followed.
    pub checkpoint: Checkpoint,
    /// Recent note views and list pages.
    pub cache: ReadCache,
    /// Where document bytes live (downloads are redirected there).
    pub blobs: Blobs,
    /// Document limits and URL lifetimes.
    pub documents: Arc<DocumentConfig>,
}

impl FromRef<QueryState> for TokenSigner {
    fn from_ref(state: &QueryState) -> Self {
        state.signer.clone()
    }
}

impl FromRef<QueryState> for Revocations {
    fn from_ref(state: &QueryState) -> Self {
        state.revocations.clone()
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
        .route("/v1/documents", get(documents::list))
        .route("/v1/documents/{id}", get(documents::download))
        .route(
            "/v1/shared/{token}/documents/{id}",
            get(documents::shared_download),
        )
        .route("/v1/account/usage", get(documents::usage))
        .with_state(state)
}

/// The query API: its routes, health, readiness, metrics, OpenAPI and the
/// shared layers, and `pages` (the web app) for every other `GET`.
pub fn router(state: QueryState, http: &HttpConfig, pages: Option<Router>) -> Router {
    let checks = vec![read_models_ready(state.reads.clone())];
    let service = service_routes(openapi::document(), checks);
    let transfers = state.blobs.routes();
    anote_infra::http::finish_with_transfers(routes(state).merge(service), transfers, pages, http)
}
