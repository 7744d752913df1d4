//! Connections to the two databases: PostgreSQL in production, SQLite in the
//! embedded default. Each applies its own migrations.

mod postgres;
mod sqlite;

pub use postgres::PgDatabase;
pub use sqlite::SqliteDatabase;
pub(crate) use sqlite::{from_micros, micros};

use crate::error::StoreError;

/// Which set of tables a migration run is for. Each set lives in its own
/// schema (PostgreSQL) or file (SQLite), so read models can move elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tables {
    /// The event log and the account tables.
    EventLog,
    /// The read models and their projector checkpoints.
    ReadModels,
}

/// A stored count or position, which is never negative.
pub(crate) fn from_i64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(StoreError::corrupt)
}

/// A count or position for a database column.
pub(crate) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid("number out of range"))
}
