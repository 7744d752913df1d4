//! The SQLite database of the embedded default: a file in the data folder,
//! in WAL mode, with one writer connection and several readers.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use time::OffsetDateTime;

use crate::error::StoreError;
use sqlx::migrate::Migrator;

/// The embedded database.
#[derive(Clone, Debug)]
pub struct SqliteDatabase {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteDatabase {
    /// Opens (creating if needed) the database file at `path`; every commit
    /// is on disk before it returns (the event log's durability).
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteSynchronous::Full).await
    }

    /// Opens a database that can be rebuilt from the log (read models):
    /// commits reach the disk at WAL checkpoints, not one by one. A power
    /// loss can take the last commits back, projector checkpoint included,
    /// so the projector applies those events again; a crash of the process
    /// loses nothing.
    pub async fn open_rebuildable(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteSynchronous::Normal).await
    }

    async fn open_with(path: &Path, synchronous: SqliteSynchronous) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(10))
            // Deleted and overwritten content (a purged note) is zeroed in
            // the file, not left in free pages.
            .pragma("secure_delete", "ON")
            .foreign_keys(true);
        // One writer: transactions queue for it instead of failing with BUSY,
        // and the row order of the log is its commit order.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }

    /// Applies the migrations of `migrator` that have not run yet, leaving
    /// alone those of a newer release (see `PgDatabase::migrate`).
    pub async fn migrate(&self, mut migrator: Migrator) -> Result<(), StoreError> {
        migrator.set_ignore_missing(true).run(&self.writer).await?;
        Ok(())
    }

    /// Copies the write-ahead log into the database file and truncates it
    /// to nothing, waiting (up to the busy timeout) for readers to leave old
    /// snapshots. Run after a transaction that erased something (freed
    /// pages are zeroed in the file by `secure_delete`, but the log keeps
    /// the frames that held the content until they are overwritten) and at
    /// shutdown. A failure is logged, not returned: the erasure itself is
    /// committed, and the next checkpoint empties the log.
    pub async fn truncate_wal(&self) {
        let checkpoint: Result<(i64, i64, i64), _> =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.writer)
                .await;
        match checkpoint {
            Ok((0, _, _)) => {}
            Ok((_, frames, copied)) => tracing::warn!(
                frames,
                copied,
                "the write-ahead log was not emptied: readers kept it busy"
            ),
            Err(err) => tracing::warn!(error = %err, "could not empty the write-ahead log"),
        }
    }

    /// The single writer connection's pool.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The pool of read-only connections.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

/// Microseconds since the Unix epoch, as SQLite stores times.
pub fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The time that `micros` stored.
pub fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).map_err(StoreError::corrupt)
}
