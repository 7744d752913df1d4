//! `anote migrate`: apply the PostgreSQL migrations and exit.

use anyhow::Context;

use super::{connect, connect_reads};
use crate::config::{PostgresConfig, ReadDatabaseConfig};

/// The databases to migrate.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    postgres: PostgresConfig,
    #[command(flatten)]
    reads: ReadDatabaseConfig,
}

/// Applies the event log's and the read models' migrations.
pub async fn run_migrate(args: Args) -> anyhow::Result<()> {
    connect(&args.postgres)
        .await?
        .migrate(anote_store::migrations::postgres())
        .await
        .context("migrating the event log")?;
    connect_reads(&args.postgres, &args.reads)
        .await?
        .migrate(anote_read_store::migrations::postgres())
        .await
        .context("migrating the read models")?;
    tracing::info!("migrations applied");
    Ok(())
}
