//! `anote command-api`: every write, against PostgreSQL.

use anote_command_api::AppState;
use anote_store::Storage;
use anote_tokens::TokenSigner;

use super::{api_blobs, connect, follow_revocations, serve_metrics};
use crate::config::{AuthConfig, DocumentConfig, HttpConfig, MetricsConfig, PostgresConfig};
use crate::http_server::serve_until_signal;

/// The command API's settings.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    postgres: PostgresConfig,
    #[command(flatten)]
    http: HttpConfig,
    #[command(flatten)]
    auth: AuthConfig,
    #[command(flatten)]
    documents: DocumentConfig,
    #[command(flatten)]
    metrics: MetricsConfig,
}

/// Runs the command API until SIGTERM or SIGINT.
pub async fn run_command_api(args: Args) -> anyhow::Result<()> {
    serve_metrics(&args.metrics, "command-api", axum::Router::new()).await?;
    let signer = TokenSigner::new(args.auth.signing_key().map_err(anyhow::Error::msg)?);
    let db = connect(&args.postgres).await?;
    let storage = Storage::postgres(db.clone(), true).await?;
    let blobs = api_blobs(&args.documents, &args.http, &signer).await?;
    let revocations = follow_revocations(storage.accounts.clone(), db, &args.auth).await?;
    let state = AppState::new(
        storage,
        signer,
        args.auth.settings(),
        blobs,
        args.documents.policy(),
        revocations,
    )?;
    let router = anote_command_api::router(state, &args.http.settings());
    serve_until_signal(router, &args.http).await
}
