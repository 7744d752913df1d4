//! The errors of every storage adapter.

use anote_domain::StreamId;
use thiserror::Error;

/// What can go wrong when reading or writing storage.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The stream is not at the expected version: someone else wrote first.
    #[error("stream {stream} is not at version {expected}")]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// The version the writer expected.
        expected: u64,
    },
    /// The username belongs to another account.
    #[error("the username is taken")]
    UsernameTaken,
    /// A reply for this idempotency key was stored by a concurrent request.
    #[error("the idempotency key was used concurrently")]
    IdempotencyKeyTaken,
    /// The acting account was deleted.
    #[error("the account is closed")]
    AccountClosed,
    /// The documents would exceed their owner's storage quota.
    #[error("the storage quota would be exceeded")]
    QuotaExceeded,
    /// The shard lease is no longer held by this projector.
    #[error("the lease of shard {0} was lost")]
    LeaseLost(String),
    /// The read models were switched to a new build since the batch read
    /// its views: the projector must start again from the new checkpoint.
    #[error("the read models were switched to a new build")]
    Switched,
    /// The caller broke the port's contract.
    #[error("invalid request to the store: {0}")]
    Invalid(&'static str),
    /// Stored data that cannot be read back.
    #[error("corrupt data in the store: {0}")]
    Corrupt(String),
    /// A service the store reads through (Kinesis) failed or could not be
    /// reached; trying again later may succeed.
    #[error("{0} unavailable: {1}")]
    Unavailable(&'static str, String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Turns a stored JSON or id problem into a `Corrupt` error.
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }

    /// Whether the database is away, overloaded or refusing for the moment
    /// (no connection in time, a connection lost or its conversation cut
    /// off, a server shutting down or
    /// starting, a statement cancelled by its timeout, a lock or
    /// serialization conflict, SQLite busy): the same request can succeed
    /// later, so clients get 503 with `Retry-After`, not 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(..) => true,
            Self::Database(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            Self::Database(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|c| unavailable_code(&c))
            }
            _ => false,
        }
    }

    /// Whether the error is about the data read or written, so the same data
    /// fails the same way every time (a value a column cannot hold, content
    /// that does not decode), rather than about the database being away,
    /// busy or switched.
    pub fn is_about_data(&self) -> bool {
        match self {
            Self::Corrupt(_) => true,
            Self::Database(sqlx::Error::Database(db)) => db.code().is_some_and(|c| data_code(&c)),
            Self::Database(
                sqlx::Error::Encode(_) | sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. },
            ) => true,
            _ => false,
        }
    }
}

/// Whether a database error code says the data was at fault. PostgreSQL's
/// codes are five characters (classes 22 data exception, 23 integrity
/// constraint, 54 program limit such as a too long search vector); SQLite's
/// are numbers whose low byte is the primary code (18 too big, 19
/// constraint, 20 type mismatch, 25 out of range).
fn data_code(code: &str) -> bool {
    if code.len() == 5 {
        return matches!(code.get(..2), Some("22" | "23" | "54"));
    }
    code.parse::<u32>()
        .is_ok_and(|c| matches!(c & 0xff, 18 | 19 | 20 | 25))
}

/// Whether a database error code says the server cannot serve now: on
/// PostgreSQL class 08 (connection exception), 53 (insufficient resources,
/// such as too many connections), 57P01–57P03 (shutting down, crashed,
/// starting), 57014 (cancelled by `statement_timeout`), 55P03 (lock not
/// available), 40001 and 40P01 (serialization failure, deadlock); on SQLite
/// 5 and 6 (busy, locked).
fn unavailable_code(code: &str) -> bool {
    if code.len() == 5 {
        return matches!(code.get(..2), Some("08" | "53"))
            || matches!(
                code,
                "57P01" | "57P02" | "57P03" | "57014" | "55P03" | "40001" | "40P01"
            );
    }
    code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
}

/// The name of the unique constraint that was violated, if that is the error
/// (PostgreSQL names the constraint; SQLite names the table and columns).
fn unique_violation(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(
            db.constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned()),
        ),
        _ => None,
    }
}

/// Maps a failed append to the error its unique violation means.
pub(crate) fn append_error(err: sqlx::Error, stream: &StreamId, expected: u64) -> StoreError {
    match unique_violation(&err) {
        Some(name) if name.contains("usernames") => StoreError::UsernameTaken,
        Some(name) if name.contains("idempotency") => StoreError::IdempotencyKeyTaken,
        Some(name) if name.contains("stream") => StoreError::Conflict {
            stream: stream.clone(),
            expected,
        },
        _ => StoreError::Database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_that_say_the_database_cannot_serve_now_are_told_from_data_faults() {
        for code in [
            "08006", "53300", "57P01", "57P03", "57014", "40001", "40P01", "5", "517", "6",
        ] {
            assert!(unavailable_code(code), "{code}");
            assert!(!data_code(code), "{code}");
        }
        for code in ["23505", "22001", "42P01", "19", "2067", "1"] {
            assert!(!unavailable_code(code), "{code}");
        }
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StoreError::corrupt("x").is_unavailable());
    }
}
