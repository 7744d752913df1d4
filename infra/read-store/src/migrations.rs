//! The read models' tables (note views, lists, checkpoints) as migrations,
//! one set per backend, embedded in the binary. They live in their own
//! schema (PostgreSQL) or file (SQLite), so read models can move elsewhere.

use sqlx::migrate::Migrator;

/// The read models' migrations for PostgreSQL.
pub fn postgres() -> Migrator {
    sqlx::migrate!("./migrations/postgres")
}

/// The read models' migrations for SQLite.
pub fn sqlite() -> Migrator {
    sqlx::migrate!("./migrations/sqlite")
}
