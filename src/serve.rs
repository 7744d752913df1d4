//! `anote serve`: the whole backend in one process on embedded storage — the
//! command and query routes on one port, and the projector tailing the log.

use std::sync::Arc;

use anote_command_api::sweeper::Sweeper;
use anote_command_api::AppState;
use anote_infra::blob::Blobs;
use anote_infra::config::{
    AuthConfig, DocumentConfig, EmbeddedConfig, HttpConfig, ProjectionConfig,
};
use anote_infra::http::{event_log_ready, read_models_ready, service_routes};
use anote_infra::read_store::{ReadStore, SwitchableReads};
use anote_infra::revocations::Revocations;
use anote_infra::storage::embedded_read_models;
use anote_infra::tokens::TokenSigner;
use anote_infra::Storage;
use anote_projector::Projector;
use anote_query_api::cache::ReadCache;
use anote_query_api::consistency::Checkpoint;
use anote_query_api::QueryState;
use anyhow::Context;
use tokio::sync::{broadcast, watch};

use crate::http_server::serve_until_signal;
use crate::read_builds;

/// The name of the note-view projector's checkpoint.
pub const NOTE_PROJECTOR: &str = "note_views";

/// Events a projector applies per transaction.
pub const PROJECTOR_BATCH: usize = 1_000;

/// Runs the embedded backend until SIGTERM or SIGINT.
pub async fn run(
    embedded: EmbeddedConfig,
    http: HttpConfig,
    auth: AuthConfig,
    projection: ProjectionConfig,
    documents: DocumentConfig,
) -> anyhow::Result<()> {
    let dir = &embedded.data_dir;
    let storage = Storage::embedded(dir)
        .await
        .with_context(|| format!("opening the data folder {}", dir.display()))?;
    let (build, build_path) = embedded_read_models(dir)
        .await
        .context("opening the read models")?;
    let reads = Arc::new(SwitchableReads::new(build));
    let signer = TokenSigner::new(
        auth.signing_key_or_create(dir)
            .context("reading or creating the token key")?,
    );
    let blobs = Blobs::open(
        &documents,
        Some(&dir.join("blobs")),
        &format!("http://{}", http.listen),
        signer.clone(),
    )
    .await
    .context("opening the document store")?;
    tracing::info!(data_dir = %dir.display(), "embedded storage ready");

    // The projector in this process tells the cache what changed.
    let (notices, _) = broadcast::channel(1024);
    let cache = ReadCache::new(projection.cache_max_bytes, projection.cache_ttl);
    cache.follow(notices.subscribe());
    let checkpoints = notices.subscribe();
    let projector = Projector::new(
        NOTE_PROJECTOR,
        storage.events.clone(),
        reads.clone(),
        PROJECTOR_BATCH,
    )
    .with_notices(notices.clone());
    let (stop, stopped) = watch::channel(false);
    let idle = projection.projector_idle;
    let projecting = tokio::spawn(async move { projector.run_log_tail(idle, stopped).await });
    let switching = tokio::spawn(read_builds::follow(
        dir.clone(),
        build_path,
        reads.clone(),
        storage.events.clone(),
        notices,
        stop.subscribe(),
    ));

    // One process: every revocation is committed here and loaded at once.
    let revocations = Revocations::load(storage.accounts.clone())
        .await
        .context("loading the token revocations")?;
    let query = QueryState {
        reads: reads.clone(),
        events: storage.events.clone(),
        signer: signer.clone(),
        revocations: revocations.clone(),
        projector: NOTE_PROJECTOR.to_owned(),
        min_position_timeout: projection.min_position_timeout,
        checkpoint: Checkpoint::follow(reads.clone(), NOTE_PROJECTOR.to_owned(), checkpoints),
        cache,
        blobs: blobs.clone(),
        documents: Arc::new(documents.clone()),
    };
    let events = storage.events.clone();
    let ledger = storage.documents.clone();
    let sweep_interval = documents.sweep_interval;
    let command = AppState::new(storage, signer, auth, blobs.clone(), documents, revocations)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sweeper = Sweeper::new(command.notes.clone(), ledger, blobs.store.clone());
    let sweeping = tokio::spawn(sweeper.run(sweep_interval, stop.subscribe()));
    let checks = vec![
        event_log_ready(events.clone()),
        read_models_ready(reads.clone()),
    ];
    let service = service_routes(crate::openapi::document(), checks);
    let app = anote_command_api::routes(command)
        .merge(anote_query_api::routes(query))
        .merge(service);
    let pages = crate::pages::pages(&blobs).await?;
    let app = anote_infra::http::finish_with_transfers(app, blobs.routes(), Some(pages), &http);
    let served = serve_until_signal(app, &http).await;
    let _ = stop.send(true);
    projecting.await.context("the projector task failed")?;
    switching.await.context("the read-model switcher failed")?;
    sweeping.await.context("the sweeper failed")?;
    // Nothing writes any more: what was erased leaves the write-ahead logs.
    events.close().await.context("closing the event log")?;
    reads.close().await.context("closing the read models")?;
    served
}
