//! `anote sweep`: delete orphaned document objects once and exit.

use anote_store::Storage;
use anyhow::Context;

use super::{connect, sweeper};
use crate::config::{DocumentConfig, PostgresConfig};

/// The sweep's settings.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    postgres: PostgresConfig,
    #[command(flatten)]
    documents: DocumentConfig,
}

/// Sweeps once: abandoned uploads, removed documents, purged notes.
pub async fn run_sweep(args: Args) -> anyhow::Result<()> {
    let storage = Storage::postgres(connect(&args.postgres).await?, true).await?;
    let sweeper = sweeper(&storage, &args.documents)
        .await?
        .context("set ANOTE_S3_BUCKET, or ANOTE_BLOB_DIR for a local folder")?;
    let swept = sweeper
        .sweep()
        .await
        .map_err(|e| anyhow::anyhow!("sweeping: {e}"))?;
    tracing::info!(
        abandoned = swept.abandoned,
        deleted = swept.deleted,
        "sweep finished"
    );
    Ok(())
}
