//! The SQLite database of the embedded default: a file in the data folder,
//! in WAL mode, with one writer connection and several readers.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection};
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::StoreError;
use sqlx::migrate::Migrator;

/// How much of a database file each connection maps into memory (256 MiB;
/// the pages are shared with the operating system's cache).
const MMAP_BYTES: &str = "268435456";

/// How long a caller waits for a connection before it is told the
/// database is busy (a passing condition: `StoreError::is_unavailable`).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The embedded database.
#[derive(Clone, Debug)]
pub struct SqliteDatabase {
    writer: Connections,
    reader: Connections,
}

/// Connections kept open and lent one caller at a time.
///
/// Not sqlx's pool: that one tests every connection when it comes back
/// (a round trip to the connection's thread, as long as the query itself),
/// which doubled the cost of each short read. A lent connection whose
/// caller gave up mid-query finishes that query on its own thread before
/// it runs the next one, so it is never left half-way.
#[derive(Clone, Debug)]
struct Connections {
    idle: Arc<Mutex<Vec<SqliteConnection>>>,
    permits: Arc<Semaphore>,
}

impl Connections {
    async fn open(options: &SqliteConnectOptions, count: usize) -> Result<Self, StoreError> {
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            idle.push(options.connect().await?);
        }
        Ok(Self {
            idle: Arc::new(Mutex::new(idle)),
            permits: Arc::new(Semaphore::new(count)),
        })
    }

    async fn lend(&self) -> Result<Lent, StoreError> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let conn = self.lock().pop().ok_or(sqlx::Error::PoolClosed)?;
        Ok(Lent {
            conn: Some(conn),
            home: self.clone(),
            _permit: permit,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SqliteConnection>> {
        // A panic while the list was held cannot leave it inconsistent.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A connection lent by [`SqliteDatabase::reader`] or
/// [`SqliteDatabase::writer`]; it goes back when dropped. Use it as
/// `&mut *conn` where sqlx wants an executor.
pub struct Lent {
    conn: Option<SqliteConnection>,
    home: Connections,
    _permit: OwnedSemaphorePermit,
}

impl Deref for Lent {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .expect("a lent connection is there until dropped")
    }
}

impl DerefMut for Lent {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a lent connection is there until dropped")
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.home.lock().push(conn);
        }
    }
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
            // Reads map the file instead of copying its pages: every commit
            // empties each connection's page cache (WAL mode), and a search
            // after a projector commit would otherwise read its pages again.
            .pragma("mmap_size", MMAP_BYTES)
            .foreign_keys(true);
        // One writer: transactions queue for it instead of failing with BUSY,
        // and the row order of the log is its commit order.
        let writer = Connections::open(&options, 1).await?;
        let reader = Connections::open(&options.read_only(true), 4).await?;
        Ok(Self { writer, reader })
    }

    /// Applies the migrations of `migrator` that have not run yet, leaving
    /// alone those of a newer release (see `PgDatabase::migrate`).
    pub async fn migrate(&self, mut migrator: Migrator) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        migrator
            .set_ignore_missing(true)
            .run_direct(&mut *writer)
            .await?;
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
        let checkpoint: Result<(i64, i64, i64), StoreError> = async {
            Ok(sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *self.writer().await?)
                .await?)
        }
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

    /// The single writer connection, once no one else holds it.
    pub async fn writer(&self) -> Result<Lent, StoreError> {
        self.writer.lend().await
    }

    /// One of the read-only connections.
    pub async fn reader(&self) -> Result<Lent, StoreError> {
        self.reader.lend().await
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
