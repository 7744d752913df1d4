//! Which event log an offline command (`anote audit`, `anote replay`) works
//! on: PostgreSQL when `ANOTE_DATABASE_URL` is set, else the embedded data
//! folder.

use std::path::PathBuf;
use std::sync::Arc;

use anote_tokens::Secret;

use crate::config::with_password;
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

/// Opens the event log `target` names.
pub async fn open(target: &Target) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(match target.postgres()? {
        Some(url) => {
            let db = PgDatabase::connect(url.expose(), target.database_schema.as_deref(), 4)
                .await
                .context("connecting to PostgreSQL (ANOTE_DATABASE_URL)")?;
            Arc::new(PgEventStore::new(db))
        }
        None => {
            let path = target.data_dir.join("anote.sqlite3");
            anyhow::ensure!(path.exists(), "no event log at {}", path.display());
            Arc::new(SqliteEventStore::new(SqliteDatabase::open(&path).await?))
        }
    })
}
