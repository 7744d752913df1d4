//! The storage a service runs on: the event log, the account tables and the
//! document ledger of one backend, opened and migrated together.

use std::path::Path;
use std::sync::Arc;

use crate::accounts::{AccountStore, PgAccountStore, SqliteAccountStore};
use crate::db::{PgDatabase, SqliteDatabase};
use crate::documents::{DocumentLedger, PgDocumentLedger, SqliteDocumentLedger};
use crate::error::StoreError;
use crate::event_store::{EventStore, PgEventStore, SqliteEventStore};

/// The ports of one backend.
#[derive(Clone)]
pub struct Storage {
    /// The event log.
    pub events: Arc<dyn EventStore>,
    /// Credentials and sessions.
    pub accounts: Arc<dyn AccountStore>,
    /// Which document objects exist and how many bytes each user holds.
    pub documents: Arc<dyn DocumentLedger>,
}

impl Storage {
    /// PostgreSQL storage; migrations are applied when `migrate` is set.
    pub async fn postgres(db: PgDatabase, migrate: bool) -> Result<Self, StoreError> {
        if migrate {
            db.migrate(crate::migrations::postgres()).await?;
        }
        Ok(Self {
            events: Arc::new(PgEventStore::new(db.clone())),
            accounts: Arc::new(PgAccountStore::new(db.clone())),
            documents: Arc::new(PgDocumentLedger::new(db)),
        })
    }

    /// The embedded storage in `data_dir` (created if missing), migrated.
    pub async fn embedded(data_dir: &Path) -> Result<Self, StoreError> {
        create_dir(data_dir)?;
        let db = SqliteDatabase::open(&data_dir.join("anote.sqlite3")).await?;
        db.migrate(crate::migrations::sqlite()).await?;
        Ok(Self {
            events: Arc::new(SqliteEventStore::new(db.clone())),
            accounts: Arc::new(SqliteAccountStore::new(db.clone())),
            documents: Arc::new(SqliteDocumentLedger::new(db)),
        })
    }
}

/// Creates `dir` (and its parents) if missing.
pub fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", dir.display())))
}
