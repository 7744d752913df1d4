//! `anote serve`: the whole backend in one process on embedded storage — the
//! command and query routes on one port, and the projector tailing the log.

use std::sync::Arc;

use anote_blob::Blobs;
use anote_command_api::sweeper::Sweeper;
use anote_command_api::AppState;
use anote_http::service_routes;
use anote_projector::Projector;
use anote_query_api::{QueryParts, QueryState};
use anote_read_store::builds::embedded_read_models;
use anote_read_store::{ReadModels, SwitchableReads, NOTE_VIEWS};
use anote_store::revocations::Revocations;
use anote_store::Storage;
use anote_tokens::TokenSigner;
use anyhow::Context;
use tokio::sync::{broadcast, watch};

use super::serve_metrics;
use crate::config::{
    AnchorConfig, AuthConfig, DocumentConfig, EmbeddedConfig, HttpConfig, MetricsConfig,
    ProjectionConfig,
};
use crate::http_server::serve_until_signal;

/// The embedded backend's settings.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    embedded: EmbeddedConfig,
    #[command(flatten)]
    http: HttpConfig,
    #[command(flatten)]
    auth: AuthConfig,
    #[command(flatten)]
    projection: ProjectionConfig,
    #[command(flatten)]
    documents: DocumentConfig,
    #[command(flatten)]
    metrics: MetricsConfig,
    #[command(flatten)]
    anchors: AnchorConfig,
}

/// Runs the embedded backend until SIGTERM or SIGINT.
pub async fn run_serve(args: Args) -> anyhow::Result<()> {
    serve_metrics(&args.metrics, "serve", axum::Router::new()).await?;
    let Args {
        embedded,
        http,
        auth,
        projection,
        documents,
        metrics: _,
        anchors,
    } = args;
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
    let store = documents
        .store(Some(&dir.join("blobs")), &format!("http://{}", http.listen))
        .context("no document store")?;
    let blobs = Blobs::open(&store, signer.clone())
        .await
        .context("opening the document store")?;
    tracing::info!(data_dir = %dir.display(), "embedded storage ready");

    // The projector in this process tells the query side what changed.
    let (notices, _) = broadcast::channel(1024);
    // One process: every revocation is committed here and loaded at once.
    let revocations = Revocations::load(storage.accounts.clone())
        .await
        .context("loading the token revocations")?;
    let query = QueryState::start(
        QueryParts {
            reads: reads.clone(),
            events: storage.events.clone(),
            signer: signer.clone(),
            revocations: revocations.clone(),
            blobs: blobs.clone(),
            documents: documents.policy(),
            settings: projection.query_settings(),
        },
        &notices,
    );
    super::close_streams_on_signal(query.streams().clone());
    let projector = Projector::new(
        NOTE_VIEWS,
        storage.events.clone(),
        reads.clone(),
        anote_projector::BATCH,
    )
    .with_notices(notices.clone());
    let (stop, stopped) = watch::channel(false);
    let idle = projection.projector_idle;
    let projecting = tokio::spawn(async move { projector.run_log_tail(idle, stopped).await });
    let switching = tokio::spawn(anote_projector::rebuild::follow_builds(
        dir.clone(),
        build_path,
        reads.clone(),
        storage.events.clone(),
        notices,
        stop.subscribe(),
    ));
    let anchoring = crate::anchors::start(
        &anchors,
        storage.events.clone(),
        documents.s3_endpoint.as_deref(),
        stop.subscribe(),
    )
    .await;
    let events = storage.events.clone();
    let ledger = storage.documents.clone();
    let command = AppState::new(
        storage,
        signer,
        auth.settings(),
        blobs.clone(),
        documents.policy(),
        revocations,
    )?;
    let sweeper = Sweeper::new(command.notes.clone(), ledger, blobs.store.clone());
    let sweeping = tokio::spawn(sweeper.run(documents.sweep_interval, stop.subscribe()));
    let app = embedded_router(command, query, &blobs, &http).await?;
    let served = serve_until_signal(app, &http).await;
    let _ = stop.send(true);
    projecting.await.context("the projector task failed")?;
    switching.await.context("the read-model switcher failed")?;
    sweeping.await.context("the sweeper failed")?;
    if let Some(anchoring) = anchoring {
        anchoring.await.context("the anchoring task failed")?;
    }
    // Nothing writes any more: what was erased leaves the write-ahead logs.
    events.close().await.context("closing the event log")?;
    reads.close().await.context("closing the read models")?;
    served
}

/// Both APIs' routes on one router, with the service routes, the local
/// store's transfer routes and the web app.
async fn embedded_router(
    command: AppState,
    query: QueryState,
    blobs: &Blobs,
    http: &HttpConfig,
) -> anyhow::Result<axum::Router> {
    let checks = vec![
        anote_command_api::readiness_check(&command),
        anote_query_api::readiness_check(&query),
    ];
    let service = service_routes(crate::openapi::document(), checks);
    let transfers =
        anote_command_api::transfer_routes(&command).merge(anote_query_api::transfer_routes(blobs));
    let app = anote_command_api::routes(command)
        .merge(anote_query_api::routes(query))
        .merge(service);
    let pages = crate::pages::pages(blobs).await?;
    Ok(anote_http::finish_with_transfers(
        app,
        transfers,
        Some(pages),
        &http.settings(),
    ))
}
