//! Which event log (and accounts, and live read models) an offline command
//! (`anote audit`, `anote replay`, `anote parked`, `anote export`) works on:
//! PostgreSQL when `ANOTE_DATABASE_URL` is set, else the embedded data
//! folder.

use std::path::PathBuf;
use std::sync::Arc;

use anote_tokens::Secret;

use crate::config::{with_password, ReadDatabaseConfig};
use anote_read_store::{builds, PgReadStore, ReadStore};
use anote_store::accounts::{AccountStore, PgAccountStore, SqliteAccountStore};
use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_store::event_store::{EventStore, PgEventStore, SqliteEventStore};
use anyhow::Context;
use clap::Args;

/// Which event log: PostgreSQL, or the embedded data folder.
#[derive(Args, Debug)]
pub struct Target {
    /// PostgreSQL URL of the event log; without it, the embedded data folder.
    #[arg(long, env = "ANOTE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret<String>>,
    /// Password of the event log on PostgreSQL, replacing the URL's.
    #[arg(long, env = "ANOTE_DATABASE_PASSWORD", hide_env_values = true)]
    pub database_password: Option<Secret<String>>,
    /// Schema of the event log on PostgreSQL.
    #[arg(long, env = "ANOTE_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// The embedded data folder.
    #[arg(long, env = "ANOTE_DATA_DIR", default_value = "anote-data")]
    pub data_dir: PathBuf,
}

impl Target {
    /// The PostgreSQL URL of the event log, with its password; `None` for the
    /// embedded data folder.
    pub fn postgres(&self) -> anyhow::Result<Option<Secret<String>>> {
        self.database_url
            .as_ref()
            .map(|url| with_password(url, self.database_password.as_ref()))
            .transpose()
            .map_err(|e| anyhow::anyhow!("ANOTE_DATABASE_URL: {e}"))
    }
}

/// The database of the event log `target` names.
enum LogDatabase {
    Postgres(PgDatabase),
    Sqlite(SqliteDatabase),
}

/// Connects to (or opens) the database of the event log `target` names.
async fn log_database(target: &Target) -> anyhow::Result<LogDatabase> {
    Ok(match target.postgres()? {
        Some(url) => LogDatabase::Postgres(
            PgDatabase::connect(url.expose(), target.database_schema.as_deref(), 4)
                .await
                .context("connecting to PostgreSQL (ANOTE_DATABASE_URL)")?,
        ),
        None => {
            let path = target.data_dir.join("anote.sqlite3");
            anyhow::ensure!(path.exists(), "no event log at {}", path.display());
            LogDatabase::Sqlite(SqliteDatabase::open(&path).await?)
        }
    })
}

/// Opens the event log `target` names.
pub async fn open(target: &Target) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(match log_database(target).await? {
        LogDatabase::Postgres(db) => Arc::new(PgEventStore::new(db)),
        LogDatabase::Sqlite(db) => Arc::new(SqliteEventStore::new(db)),
    })
}

/// The accounts beside the event log `target` names.
pub async fn accounts(target: &Target) -> anyhow::Result<Arc<dyn AccountStore>> {
    Ok(match log_database(target).await? {
        LogDatabase::Postgres(db) => Arc::new(PgAccountStore::new(db)),
        LogDatabase::Sqlite(db) => Arc::new(SqliteAccountStore::new(db)),
    })
}

/// The live read models of `target`: on PostgreSQL in `reads`' database and
/// schema, else the data folder's.
pub async fn read_models(
    target: &Target,
    reads: &ReadDatabaseConfig,
) -> anyhow::Result<Arc<dyn ReadStore>> {
    Ok(match target.postgres()? {
        Some(log_url) => {
            let url = reads.url(&log_url).map_err(anyhow::Error::msg)?;
            let db = PgDatabase::connect(url.expose(), Some(&reads.read_database_schema), 4)
                .await
                .context("connecting to the read-model database")?;
            db.migrate(anote_read_store::migrations::postgres()).await?;
            Arc::new(PgReadStore::new(db))
        }
        None => builds::embedded_read_models(&target.data_dir).await?.0,
    })
}
