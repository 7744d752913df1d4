//! The storage a service runs on: the event log, the account tables and the
//! document ledger of one backend, opened and migrated together.

use std::path::Path;
use std::sync::Arc;

use crate::accounts::{AccountStore, PgAccountStore, SqliteAccountStore};
use crate::db::{PgDatabase, SqliteDatabase, Tables};
use crate::documents::{DocumentLedger, PgDocumentLedger, SqliteDocumentLedger};
use crate::error::StoreError;
use crate::event_store::{EventStore, PgEventStore, SqliteEventStore};
use crate::read_store::{PgReadStore, ReadStore, SqliteReadStore};

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
            db.migrate(Tables::EventLog).await?;
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
        db.migrate(Tables::EventLog).await?;
        Ok(Self {
            events: Arc::new(SqliteEventStore::new(db.clone())),
            accounts: Arc::new(SqliteAccountStore::new(db.clone())),
            documents: Arc::new(SqliteDocumentLedger::new(db)),
        })
    }
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", dir.display())))
}

/// The read models of the embedded default: their own SQLite file in
/// `data_dir`, migrated.
pub async fn embedded_read_models(data_dir: &Path) -> Result<Arc<dyn ReadStore>, StoreError> {
    create_dir(data_dir)?;
    let db = SqliteDatabase::open(&data_dir.join("read-models.sqlite3")).await?;
    db.migrate(Tables::ReadModels).await?;
    Ok(Arc::new(SqliteReadStore::new(db)))
}

/// Read models in PostgreSQL; migrations are applied when `migrate` is set.
pub async fn postgres_read_models(
    db: PgDatabase,
    migrate: bool,
) -> Result<Arc<dyn ReadStore>, StoreError> {
    if migrate {
        db.migrate(Tables::ReadModels).await?;
    }
    Ok(Arc::new(PgReadStore::new(db)))
}
