//! The document ledger in PostgreSQL.

use anote_domain::UserId;
use async_trait::async_trait;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::sql::{ATTACH, FORGET, FORGET_USAGE, PAST_DUE, RELEASE_OWNER, USAGE};
use super::{entry, DocumentLedger, LedgerEntry, LedgerWrite};
use crate::db::{from_i64, to_i64, PgDatabase, Time};
use crate::error::StoreError;

/// The ledger tables beside the PostgreSQL event log.
#[derive(Clone, Debug)]
pub struct PgDocumentLedger {
    db: PgDatabase,
}

impl PgDocumentLedger {
    /// A ledger over this database.
    pub fn new(db: PgDatabase) -> Self {
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
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(entry)
            .collect()
    }
}

/// Applies a ledger write inside the append's transaction.
pub(crate) async fn apply(conn: &mut PgConnection, write: &LedgerWrite) -> Result<(), StoreError> {
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
            // The usage row is locked by the upsert, so concurrent
            // reservations of one owner are checked one after the other.
            let reserved = sqlx::query(
                "WITH usage AS (
                     INSERT INTO document_usage AS u (owner_id, bytes) VALUES ($3, $4)
                     ON CONFLICT (owner_id) DO UPDATE SET bytes = u.bytes + EXCLUDED.bytes
                     WHERE u.bytes + EXCLUDED.bytes <= $5
                     RETURNING bytes)
                 INSERT INTO document_objects
                     (document_id, note_id, owner_id, size, multipart_upload, state, abandon_after)
                 SELECT $1, $2, $3, $4, $6, 'pending', $7 FROM usage",
            )
            .bind(document)
            .bind(note.uuid())
            .bind(owner.uuid())
            .bind(to_i64(*size)?)
            .bind(to_i64(*quota)?)
            .bind(multipart_upload)
            .bind(Time(*abandon_after))
            .execute(&mut *conn)
            .await?;
            if reserved.rows_affected() == 0 {
                return Err(StoreError::QuotaExceeded);
            }
        }
        LedgerWrite::Attach { document } => {
            sqlx::query(ATTACH)
                .bind(document)
                .execute(&mut *conn)
                .await?;
        }
        LedgerWrite::ReleaseOwner { owner } => {
            sqlx::query(RELEASE_OWNER)
                .bind(owner.uuid())
                .execute(&mut *conn)
                .await?;
            sqlx::query(FORGET_USAGE)
                .bind(owner.uuid())
                .execute(&mut *conn)
                .await?;
        }
        LedgerWrite::Release { owner, documents } => {
            // One statement on an array of ids (SQLite: one by one).
            sqlx::query(
                "WITH gone AS (
                     UPDATE document_objects SET state = 'released'
                     WHERE document_id = ANY($2) AND state <> 'released' RETURNING size)
                 UPDATE document_usage SET bytes = bytes - (SELECT COALESCE(SUM(size), 0) FROM gone)
                 WHERE owner_id = $1",
            )
            .bind(owner.uuid())
            .bind(documents)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

#[async_trait]
impl DocumentLedger for PgDocumentLedger {
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
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn usage(&self, owner: UserId) -> Result<u64, StoreError> {
        let bytes: Option<i64> = sqlx::query_scalar(USAGE)
            .bind(owner.uuid())
            .fetch_optional(self.db.pool())
            .await?;
        from_i64(bytes.unwrap_or(0))
    }
}
