//! The document ledger: which blob objects exist or may exist, and how many
//! bytes each user holds. It lives beside the log: its writes are side writes
//! of the note events that cause them, so it never disagrees with the log;
//! the sweeper reads it to find objects to delete.

mod postgres;
mod sql;
mod sqlite;

use anote_domain::{NoteId, UserId};
use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::StoreError;

pub(crate) use postgres::apply as apply_pg;
pub use postgres::PgDocumentLedger;
pub(crate) use sqlite::apply as apply_sqlite;
pub use sqlite::SqliteDocumentLedger;

/// A change to the ledger, made in the transaction of a note's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerWrite {
    /// Upload URLs are handed out: count the bytes against the owner's quota
    /// (the append fails with `QuotaExceeded` if they do not fit).
    Reserve {
        /// The document.
        document: Uuid,
        /// Its note.
        note: NoteId,
        /// The note's owner.
        owner: UserId,
        /// The declared size.
        size: u64,
        /// The most bytes the owner may hold.
        quota: u64,
        /// The blob store's multipart upload, if any.
        multipart_upload: Option<String>,
        /// When an upload still pending counts as abandoned.
        abandon_after: OffsetDateTime,
    },
    /// The object was checked and attached.
    Attach {
        /// The document.
        document: Uuid,
    },
    /// Every document of a user goes (account deletion): free the bytes and
    /// leave the objects to the sweeper.
    ReleaseOwner {
        /// The user.
        owner: UserId,
    },
    /// The documents are gone from their note: free their bytes and leave
    /// their objects to the sweeper.
    Release {
        /// Their owner.
        owner: UserId,
        /// The documents.
        documents: Vec<Uuid>,
    },
}

/// An entry the sweeper acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The document.
    pub document: Uuid,
    /// Its note.
    pub note: NoteId,
    /// The note's owner.
    pub owner: UserId,
    /// The blob store's multipart upload, if any.
    pub multipart_upload: Option<String>,
}

/// An entry in a row of either backend.
fn entry<R: sqlx::Row>(row: &R) -> Result<LedgerEntry, StoreError>
where
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    Ok(LedgerEntry {
        document: row.try_get("document_id")?,
        note: NoteId::from_uuid(row.try_get("note_id")?),
        owner: UserId::from_uuid(row.try_get("owner_id")?),
        multipart_upload: row.try_get("multipart_upload")?,
    })
}

/// Reads of the ledger.
#[async_trait]
pub trait DocumentLedger: Send + Sync {
    /// Uploads still pending after their `abandon_after`, oldest first.
    async fn abandoned(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Released documents whose objects may still exist and whose upload
    /// URLs have expired (before then a client could upload the object
    /// again after it was deleted).
    async fn released(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Forgets a released document once its object is deleted.
    async fn forget(&self, document: Uuid) -> Result<(), StoreError>;

    /// The bytes a user holds in pending and attached documents.
    async fn usage(&self, owner: UserId) -> Result<u64, StoreError>;
}
