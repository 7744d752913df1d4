//! Connections to the two databases: PostgreSQL in production, SQLite in the
//! embedded default. Each applies the migrations it is given: the event
//! log's (see [`crate::migrations`]) or the read models' (their own crate).
//! Statements written once for both bind times as [`Time`].

pub mod direct;
mod postgres;
mod sql;
mod sqlite;

pub use postgres::{PgDatabase, PoolSettings};
pub use sql::Time;
pub use sqlite::{from_micros, micros};
pub use sqlite::{Lent, SqliteDatabase};

use crate::error::StoreError;

/// A stored count or position, which is never negative.
pub fn from_i64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(StoreError::corrupt)
}

/// A count or position for a database column.
pub fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid("number out of range"))
}
