//! The event log's tables (log, accounts, document ledger, note keys) as
//! migrations, one set per backend, embedded in the binary.

use sqlx::migrate::Migrator;

/// The event log's migrations for PostgreSQL.
pub fn postgres() -> Migrator {
    sqlx::migrate!("./migrations/postgres")
}

/// The event log's migrations for SQLite.
pub fn sqlite() -> Migrator {
    sqlx::migrate!("./migrations/sqlite")
}
