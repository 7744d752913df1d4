//! The document ledger in the embedded SQLite database.

use anote_domain::UserId;
use async_trait::async_trait;
use rusqlite::Connection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::sql::{ATTACH, FORGET, FORGET_USAGE, PAST_DUE, RELEASE_OWNER, USAGE};
use super::{entry, DocumentLedger, LedgerEntry, LedgerWrite};
use crate::db::{direct, from_i64, micros, to_i64, SqliteDatabase, Time};
use crate::error::StoreError;

/// The ledger tables beside the SQLite event log.
#[derive(Clone, Debug)]
pub struct SqliteDocumentLedger {
    db: SqliteDatabase,
}

impl SqliteDocumentLedger {
    /// A ledger over this database.
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }

    /// Entries in `state` whose `abandon_after` has passed, oldest first.
    async fn past_due(
        &self,
        state: &str,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        sqlx::query(PAST_DUE)
            .bind(state)
            .bind(Time(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *self.db.reader().await?)
            .await?
            .iter()
            .map(entry)
            .collect()
    }
}

/// Applies a ledger write inside the append's transaction (on the one writer
/// connection, so reservations are checked one after the other).
pub(crate) fn apply(conn: &Connection, write: &LedgerWrite) -> Result<(), StoreError> {
    match write {
        LedgerWrite::Reserve {
            document,
            note,
            owner,
            size,
            quota,
            multipart_upload,
            abandon_after,
        } => {
            if size > quota {
                return Err(StoreError::QuotaExceeded);
            }
            // Two statements on the one writer (PostgreSQL: one, locking
            // the usage row).
            let reserved: Option<i64> = direct::optional(
                conn,
                "INSERT INTO document_usage (owner_id, bytes) VALUES ($1, $2)
                 ON CONFLICT (owner_id) DO UPDATE SET bytes = bytes + excluded.bytes
                 WHERE bytes + excluded.bytes <= $3
                 RETURNING bytes",
                &[&owner.uuid(), &to_i64(*size)?, &to_i64(*quota)?],
            )?;
            if reserved.is_none() {
                return Err(StoreError::QuotaExceeded);
            }
            direct::execute(
                conn,
                "INSERT INTO document_objects
                     (document_id, note_id, owner_id, size, multipart_upload, state, abandon_after)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
                &[
                    document,
                    &note.uuid(),
                    &owner.uuid(),
                    &to_i64(*size)?,
                    multipart_upload,
                    &micros(*abandon_after),
                ],
            )?;
        }
        LedgerWrite::Attach { document } => {
            direct::execute(conn, ATTACH, &[document])?;
        }
        LedgerWrite::ReleaseOwner { owner } => {
            direct::execute(conn, RELEASE_OWNER, &[&owner.uuid()])?;
            direct::execute(conn, FORGET_USAGE, &[&owner.uuid()])?;
        }
        LedgerWrite::Release { owner, documents } => {
            // Document by document (PostgreSQL: one statement on an array).
            let mut freed = 0;
            for document in documents {
                let size: Option<i64> = direct::optional(
                    conn,
                    "UPDATE document_objects SET state = 'released'
                     WHERE document_id = $1 AND state <> 'released' RETURNING size",
                    &[document],
                )?;
                freed += size.unwrap_or(0);
            }
            direct::execute(
                conn,
                "UPDATE document_usage SET bytes = bytes - $1 WHERE owner_id = $2",
                &[&freed, &owner.uuid()],
            )?;
        }
    }
    Ok(())
}

#[async_trait]
impl DocumentLedger for SqliteDocumentLedger {
    async fn abandoned(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.past_due("pending", now, limit).await
    }

    async fn released(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.past_due("released", now, limit).await
    }

    async fn forget(&self, document: Uuid) -> Result<(), StoreError> {
        sqlx::query(FORGET)
            .bind(document)
            .execute(&mut *self.db.writer().await?)
            .await?;
        Ok(())
    }

    async fn usage(&self, owner: UserId) -> Result<u64, StoreError> {
        let bytes: Option<i64> = sqlx::query_scalar(USAGE)
            .bind(owner.uuid())
            .fetch_optional(&mut *self.db.reader().await?)
            .await?;
        from_i64(bytes.unwrap_or(0))
    }
}
