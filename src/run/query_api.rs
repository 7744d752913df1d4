//! `anote query-api`: every read, from the PostgreSQL read models.

use std::sync::Arc;

use anote_query_api::{QueryParts, QueryState};
use anote_read_store::builds::postgres_read_models;
use anote_read_store::listen_applied;
use anote_store::accounts::PgAccountStore;
use anote_store::event_store::PgEventStore;
use anote_tokens::TokenSigner;
use tokio::sync::broadcast;

use super::{api_blobs, connect, connect_reads, follow_revocations, serve_metrics};
use crate::config::{
    AuthConfig, DocumentConfig, HttpConfig, MetricsConfig, PostgresConfig, ProjectionConfig,
    ReadDatabaseConfig,
};
use crate::http_server::serve_until_signal;

/// The query API's settings.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    postgres: PostgresConfig,
    #[command(flatten)]
    reads: ReadDatabaseConfig,
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
}

/// Runs the query API until SIGTERM or SIGINT; the projectors' notices
/// reach it through PostgreSQL's `LISTEN`.
pub async fn run_query_api(args: Args) -> anyhow::Result<()> {
    serve_metrics(&args.metrics, "query-api", axum::Router::new()).await?;
    let signer = TokenSigner::new(args.auth.signing_key().map_err(anyhow::Error::msg)?);
    let blobs = api_blobs(&args.documents, &args.http, &signer).await?;
    let read_db = connect_reads(&args.postgres, &args.reads).await?;
    let reads = postgres_read_models(read_db.clone(), true).await?;
    let log = connect(&args.postgres).await?;
    let accounts = Arc::new(PgAccountStore::new(log.clone()));
    let revocations = follow_revocations(accounts, log.clone(), &args.auth).await?;
    let (notices, _) = broadcast::channel(1024);
    let parts = QueryParts {
        reads,
        events: Arc::new(PgEventStore::new(log)),
        signer,
        revocations,
        blobs,
        documents: args.documents.policy(),
        settings: args.projection.query_settings(),
    };
    let state = QueryState::start(parts, &notices);
    super::close_streams_on_signal(state.streams().clone());
    tokio::spawn(listen_applied(read_db, notices));
    let pages = crate::pages::pages(state.blobs()).await?;
    let router = anote_query_api::router(state, &args.http.settings(), Some(pages));
    serve_until_signal(router, &args.http).await
}
