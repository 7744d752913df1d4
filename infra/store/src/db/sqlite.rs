//! The SQLite database of the embedded default: a file in the data folder,
//! in WAL mode, with one writer and several readers. Each is a pair: a sqlx
//! connection, and a connection of its own for the hot statements run in
//! place (appends and the projector's batches on a blocking thread, reads
//! on the caller's), since sqlx runs every statement on its connection's
//! thread and each crossing costs two thread switches. A checkpointer
//! thread copies the write-ahead log into the file.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rusqlite::OpenFlags;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection};
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::StoreError;
use sqlx::migrate::Migrator;

/// How long a caller waits for a connection before it is told the
/// database is busy (a passing condition: `StoreError::is_unavailable`).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the write-ahead log is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// How many read-only connections are kept open.
const READERS: usize = 4;

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
    idle: Arc<Mutex<Vec<Paired>>>,
    permits: Arc<Semaphore>,
}

impl Connections {
    fn new(idle: Vec<Paired>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(idle.len())),
            idle: Arc::new(Mutex::new(idle)),
        }
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Paired>> {
        // A panic while the list was held cannot leave it inconsistent.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A reader or the writer: a sqlx connection, and one of its own to the
/// same file for the statements run in place
/// ([`SqliteDatabase::read_in_place`], [`SqliteDatabase::write_in_place`]).
/// Lent together, so that the single writer stays single.
#[derive(Debug)]
struct Paired {
    sqlx: SqliteConnection,
    in_place: rusqlite::Connection,
}

/// A connection lent by [`SqliteDatabase::reader`] or
/// [`SqliteDatabase::writer`]; it goes back when dropped. Use it as
/// `&mut *conn` where sqlx wants an executor.
pub struct Lent {
    conn: Option<Paired>,
    home: Connections,
    _permit: OwnedSemaphorePermit,
}

impl Lent {
    fn held(&mut self) -> &mut Paired {
        self.conn
            .as_mut()
            .expect("a lent connection is there until dropped")
    }
}

impl Deref for Lent {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self
            .conn
            .as_ref()
            .expect("a lent connection is there until dropped")
            .sqlx
    }
}

impl DerefMut for Lent {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.held().sqlx
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
            // Not mapped (`mmap_size`): in WAL mode a connection drops its
            // whole mapping at the first read after any commit, and the
            // unmapping and the page faults after it cost more than copying
            // the few pages a read touches. Checkpoints are the
            // checkpointer's, never a commit's.
            .pragma("wal_autocheckpoint", "0")
            .foreign_keys(true);
        // One writer: transactions queue for it instead of failing with BUSY,
        // and the row order of the log is its commit order.
        let writer = Paired {
            sqlx: options.connect().await?,
            in_place: in_place(path, OpenFlags::SQLITE_OPEN_READ_WRITE, synchronous)?,
        };
        let read_only = options.read_only(true);
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(Paired {
                sqlx: read_only.connect().await?,
                in_place: in_place(path, OpenFlags::SQLITE_OPEN_READ_ONLY, synchronous)?,
            });
        }
        let writer = Connections::new(vec![writer]);
        start_checkpointer(path, synchronous, Arc::downgrade(&writer.idle))?;
        Ok(Self {
            writer,
            reader: Connections::new(readers),
        })
    }

    /// Runs `read` on a reader's in-place connection, on the caller's
    /// thread: reading a few pages the operating system has cached is work
    /// like any other, shorter than two crossings to a connection's thread
    /// and back.
    pub async fn read_in_place<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        read(&self.reader().await?.held().in_place)
    }

    /// Runs `transaction` on the writer's in-place connection, on a thread
    /// that may block, once no one else holds the writer. `transaction`
    /// begins and commits (or rolls back) itself.
    pub async fn write_in_place<T, F>(&self, transaction: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let mut writer = self.writer().await?;
        match tokio::task::spawn_blocking(move || transaction(&mut writer.held().in_place)).await {
            Ok(done) => done,
            // A panic is the caller's, as if the transaction had run here
            // (its rollback already ran as the thread unwound).
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down.
            Err(e) => Err(StoreError::Database(sqlx::Error::Protocol(e.to_string()))),
        }
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

/// Opens an in-place connection to the database at `path` (created and
/// migrated through sqlx), with the settings of its sqlx twin.
fn in_place(
    path: &Path,
    flags: OpenFlags,
    synchronous: SqliteSynchronous,
) -> Result<rusqlite::Connection, StoreError> {
    let conn =
        rusqlite::Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON;
         PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = 0;",
        match synchronous {
            SqliteSynchronous::Full => "FULL",
            _ => "NORMAL",
        }
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Copies the write-ahead log into the database file every
/// [`CHECKPOINT_EVERY`], on a thread and a connection of its own, until the
/// database's writer is dropped. A commit never does it: a checkpoint syncs
/// the file (at times for hundreds of milliseconds), and every writer queued
/// behind that commit would wait as long. The checkpoint is passive, so it
/// runs beside the writer and the readers.
fn start_checkpointer<T: Send + Sync + 'static>(
    path: &Path,
    synchronous: SqliteSynchronous,
    writer: Weak<T>,
) -> Result<(), StoreError> {
    let conn = in_place(path, OpenFlags::SQLITE_OPEN_READ_WRITE, synchronous)?;
    std::thread::Builder::new()
        .name("sqlite-checkpointer".to_owned())
        .spawn(move || {
            while writer.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %err, "could not checkpoint the write-ahead log");
                }
            }
        })
        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    Ok(())
}

/// Microseconds since the Unix epoch, as SQLite stores times.
pub fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The time that `micros` stored.
pub fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).map_err(StoreError::corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_checkpointer_copies_commits_into_the_file() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        let path = dir.path().join("anote.db");
        let db = SqliteDatabase::open(&path).await?;
        let size = || std::fs::metadata(&path).map_or(0, |m| m.len());
        let before = size();
        db.write_in_place(|conn| {
            Ok(conn.execute_batch(
                "CREATE TABLE t (b BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
                 INSERT INTO t SELECT randomblob(1000) FROM n;",
            )?)
        })
        .await?;
        // Commits never checkpoint; only the checkpointer grows the file.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() < before + 1_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the file stayed at {} bytes",
                size()
            );
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_transaction_that_panics_writes_nothing_and_gives_the_writer_back(
    ) -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        let db = SqliteDatabase::open(&dir.path().join("anote.db")).await?;
        db.write_in_place(|conn| Ok(conn.execute_batch("CREATE TABLE t (a INTEGER)")?))
            .await?;
        let panicking = db.clone();
        let outcome = tokio::spawn(async move {
            panicking
                .write_in_place(|conn| -> Result<(), StoreError> {
                    let tx = conn.transaction()?;
                    tx.execute_batch("INSERT INTO t VALUES (1)")?;
                    panic!("halfway")
                })
                .await
        })
        .await;
        assert!(
            outcome.is_err_and(|e| e.is_panic()),
            "the panic reached its caller"
        );
        let rows: i64 = db
            .write_in_place(|conn| Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await?;
        assert_eq!(rows, 0);
        Ok(())
    }
}
