//! Read models in SQLite, for the embedded default (a file of their own).

use anote_domain::{NoteId, UserId};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::sql::{
    self, CHECKPOINT, INSERT_DOCUMENT, OPEN_SHARE, PARK, PING, REVOKE_SHARE, SAVE_CHECKPOINT,
    SHARE_LINKS, SUBJECTS, UPSERT_VIEW, USAGE,
};
use super::{
    document_from_row, documents_from_json, fts5_query, parked_from_row, qualified_columns,
    share_link_from_row, status_name, Count, DocumentEntry, ListCursor, NoteFilter, NoteReads,
    NoteSort, NoteView, ParkedStream, ProjectionBatch, ProjectionStore, ReadModels, SearchHit,
    ShareChange, ShareLink, SortKey, Usage, NOTE_COLUMNS,
};
use anote_store::db::{from_i64, micros, to_i64, SqliteDatabase, Time};
use anote_store::error::StoreError;
use anote_store::event_store::Position;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// The read models in the embedded SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteReadStore {
    db: SqliteDatabase,
}

impl SqliteReadStore {
    /// A read store over this database.
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }
}

fn decode(row: &SqliteRow) -> Result<NoteView, StoreError> {
    let tags: String = row.try_get("tags")?;
    Ok(NoteView {
        id: NoteId::from_uuid(row.try_get("id")?),
        owner: UserId::from_uuid(row.try_get("owner_id")?),
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        snippet: row.try_get("snippet")?,
        subject: row.try_get("subject")?,
        tags: serde_json::from_str(&tags).map_err(StoreError::corrupt)?,
        pinned: row.try_get("pinned")?,
        archived: row.try_get("archived")?,
        trashed: row.try_get("trashed")?,
        purged: row.try_get("purged")?,
        due_at: row.try_get::<Option<Time>, _>("due_at")?.map(|t| t.0),
        done: row.try_get("done")?,
        version: from_i64(row.try_get("version")?)?,
        created_at: row.try_get::<Time, _>("created_at")?.0,
        updated_at: row.try_get::<Time, _>("updated_at")?.0,
        changed: Position::new(
            from_i64(row.try_get("changed_tx")?)?,
            from_i64(row.try_get("changed_seq")?)?,
        ),
        documents: documents_from_json(row.try_get("documents")?)?,
    })
}

/// Rewrites the document rows of a view that was just stored.
async fn replace_documents(
    conn: &mut sqlx::SqliteConnection,
    view: &NoteView,
) -> Result<(), StoreError> {
    // View by view (PostgreSQL: one array of ids).
    sqlx::query("DELETE FROM document_views WHERE note_id = $1")
        .bind(view.id.uuid())
        .execute(&mut *conn)
        .await?;
    let documents = if view.purged {
        &[][..]
    } else {
        &view.documents
    };
    for document in documents {
        sqlx::query(INSERT_DOCUMENT)
            .bind(document.id)
            .bind(view.id.uuid())
            .bind(view.owner.uuid())
            .bind(&document.file_name)
            .bind(&document.content_type)
            .bind(to_i64(document.size)?)
            .bind(status_name(document.status))
            .bind(document.submitted_at.map(Time))
            .bind(&document.sha256)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl ReadModels for SqliteReadStore {
    async fn checkpoint(&self, projector: &str) -> Result<Position, StoreError> {
        let row = sqlx::query(CHECKPOINT)
            .bind(projector)
            .fetch_optional(self.db.reader())
            .await?;
        row.map_or(Ok(Position::START), |row| {
            Ok(Position::new(
                from_i64(row.try_get("tx")?)?,
                from_i64(row.try_get("seq")?)?,
            ))
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(PING).execute(self.db.reader()).await?;
        Ok(())
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.db.truncate_wal().await;
        Ok(())
    }
}

#[async_trait]
impl ProjectionStore for SqliteReadStore {
    async fn views(&self, ids: &[NoteId]) -> Result<Vec<NoteView>, StoreError> {
        // One by one (PostgreSQL: one array of ids).
        let mut views = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(&format!(
                "SELECT {NOTE_COLUMNS} FROM note_views WHERE id = $1"
            ))
            .bind(id.uuid())
            .fetch_optional(self.db.reader())
            .await?;
            if let Some(row) = row {
                views.push(decode(&row)?);
            }
        }
        Ok(views)
    }

    /// A file is one build, always generation 0: switching between builds
    /// is done above it, by [`SwitchableReads`](super::SwitchableReads).
    async fn generation(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn apply(&self, projector: &str, batch: &ProjectionBatch) -> Result<(), StoreError> {
        if batch.shard.is_some() {
            return Err(StoreError::Invalid(
                "the embedded read store does not read Kinesis",
            ));
        }
        let mut tx = self.db.writer().begin().await?;
        for view in &batch.upserts {
            let stored = sqlx::query(UPSERT_VIEW)
                .bind(view.id.uuid())
                .bind(view.owner.uuid())
                .bind(&view.title)
                .bind(&view.body)
                .bind(&view.snippet)
                .bind(&view.subject)
                // A JSON array (PostgreSQL: `text[]`).
                .bind(Json(&view.tags))
                .bind(view.pinned)
                .bind(view.archived)
                .bind(view.trashed)
                .bind(view.purged)
                .bind(view.due_at.map(Time))
                .bind(view.done)
                .bind(to_i64(view.version)?)
                .bind(Time(view.created_at))
                .bind(Time(view.updated_at))
                .bind(to_i64(view.changed.tx())?)
                .bind(to_i64(view.changed.seq())?)
                .bind(Json(&view.documents))
                .fetch_optional(&mut *tx)
                .await?;
            if stored.is_some() {
                replace_documents(&mut tx, view).await?;
            }
        }
        // Owner by owner (PostgreSQL: one array; tags are `text[]` there).
        for owner in &batch.erased_owners {
            for sql in [
                "UPDATE note_views SET purged = 1, title = '', body = '', snippet = '',
                     subject = NULL, tags = '[]', documents = '[]' WHERE owner_id = $1",
                "DELETE FROM document_views WHERE owner_id = $1",
                "DELETE FROM share_links WHERE owner_id = $1",
            ] {
                sqlx::query(sql)
                    .bind(owner.uuid())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let erasing = batch.upserts.iter().any(|v| v.purged) || !batch.erased_owners.is_empty();
        if erasing {
            // The full-text index keeps the terms of replaced rows until its
            // segments merge: merge them now, so a purged note's words are
            // gone from the file too.
            sqlx::query("INSERT INTO note_search (note_search) VALUES ('optimize')")
                .execute(&mut *tx)
                .await?;
        }
        for change in &batch.shares {
            match change {
                ShareChange::Opened(link) => {
                    sqlx::query(OPEN_SHARE)
                        .bind(link.id)
                        .bind(link.note_id.uuid())
                        .bind(link.owner.uuid())
                        .bind(link.expires_at.map(Time))
                        .bind(Time(link.created_at))
                        .execute(&mut *tx)
                        .await?;
                }
                ShareChange::Revoked(id) => {
                    sqlx::query(REVOKE_SHARE).bind(id).execute(&mut *tx).await?;
                }
            }
        }
        for parked in &batch.parked {
            sqlx::query(PARK)
                .bind(&parked.stream_id)
                .bind(to_i64(parked.position.tx())?)
                .bind(to_i64(parked.position.seq())?)
                .bind(to_i64(parked.stream_version)?)
                .bind(&parked.error)
                .bind(micros(parked.parked_at))
                .execute(&mut *tx)
                .await?;
        }
        // Stream by stream (PostgreSQL: one array).
        for stream in &batch.unparked {
            sqlx::query("DELETE FROM parked_streams WHERE stream_id = $1")
                .bind(stream)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(SAVE_CHECKPOINT)
            .bind(projector)
            .bind(to_i64(batch.checkpoint.tx())?)
            .bind(to_i64(batch.checkpoint.seq())?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if erasing {
            // Old log frames still hold the erased content.
            self.db.truncate_wal().await;
        }
        Ok(())
    }

    async fn parked(&self, streams: Option<&[String]>) -> Result<Vec<ParkedStream>, StoreError> {
        let streams = streams
            .map(serde_json::to_string)
            .transpose()
            .map_err(StoreError::corrupt)?;
        // A JSON array of streams (PostgreSQL: an array).
        let rows = sqlx::query(
            "SELECT stream_id, tx, seq, stream_version, error, parked_at FROM parked_streams
             WHERE $1 IS NULL OR stream_id IN (SELECT value FROM json_each($1))
             ORDER BY parked_at, stream_id",
        )
        .bind(streams)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(parked_from_row).collect()
    }
}

#[async_trait]
impl NoteReads for SqliteReadStore {
    async fn note(&self, owner: UserId, id: NoteId) -> Result<Option<NoteView>, StoreError> {
        let row = sqlx::query(&sql::note())
            .bind(id.uuid())
            .bind(owner.uuid())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn list(
        &self,
        owner: UserId,
        filter: &NoteFilter,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<NoteView>, StoreError> {
        // Untyped cursor and filters, tags in a JSON array, and titles by
        // `lower()` (see the PostgreSQL store).
        let (key, op, order) = match filter.sort {
            NoteSort::Updated => ("updated_at", "<", "DESC"),
            NoteSort::Created => ("created_at", "<", "DESC"),
            NoteSort::Title => ("lower(title)", ">", "ASC"),
            NoteSort::Due => ("due_at", ">", "ASC"),
        };
        let due_only = if filter.sort == NoteSort::Due {
            "AND due_at IS NOT NULL"
        } else {
            ""
        };
        let query = format!(
            "SELECT {NOTE_COLUMNS} FROM note_views
             WHERE owner_id = $1 AND NOT purged {due_only}
               AND ($2 IS NULL OR subject = $2)
               AND ($3 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = $3))
               AND ($4 IS NULL OR pinned = $4)
               AND ($5 IS NULL OR archived = $5)
               AND ($6 IS NULL OR trashed = $6)
               AND ($7 IS NULL OR due_at < $7)
               AND ($8 IS NULL OR due_at > $8)
               AND ($9 IS NULL OR ({key}, id) {op} ($9, $10))
             ORDER BY {key} {order}, id {order}
             LIMIT $11"
        );
        let query = sqlx::query(&query)
            .bind(owner.uuid())
            .bind(&filter.subject)
            .bind(&filter.tag)
            .bind(filter.pinned)
            .bind(filter.archived)
            .bind(filter.trashed)
            .bind(filter.due_before.map(Time))
            .bind(filter.due_after.map(Time));
        let query = match after.as_ref().map(|c| &c.key) {
            Some(SortKey::Time(t)) => query.bind(Some(Time(*t))),
            Some(SortKey::Text(text)) => query.bind(Some(text.clone())),
            None => query.bind(None::<Time>),
        };
        let rows = query
            .bind(after.map(|c| c.id.uuid()))
            .bind(i64::from(limit))
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn search(
        &self,
        owner: UserId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let Some(matching) = fts5_query(query) else {
            return Ok(Vec::new());
        };
        // FTS5 (PostgreSQL: its own full-text search).
        let columns = qualified_columns("v");
        let rows = sqlx::query(&format!(
            "SELECT {columns}, -bm25(note_search, 4.0, 1.0) AS rank,
                    snippet(note_search, 1, '<mark>', '</mark>', '…', 20) AS highlight
             FROM note_search JOIN note_views v ON v.rowid = note_search.rowid
             WHERE note_search MATCH $1 AND v.owner_id = $2 AND NOT v.purged AND NOT v.trashed
             ORDER BY rank DESC, v.updated_at DESC, v.id DESC
             LIMIT $3"
        ))
        .bind(matching)
        .bind(owner.uuid())
        .bind(i64::from(limit))
        .fetch_all(self.db.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SearchHit {
                    view: decode(row)?,
                    rank: row.try_get("rank")?,
                    highlight: row.try_get("highlight")?,
                })
            })
            .collect()
    }

    async fn subjects(&self, owner: UserId) -> Result<Vec<Count>, StoreError> {
        counts(self, SUBJECTS, owner).await
    }

    async fn tags(&self, owner: UserId) -> Result<Vec<Count>, StoreError> {
        // Tags in a JSON array (PostgreSQL: an array).
        counts(
            self,
            "SELECT t.value AS name, count(*) AS notes FROM note_views, json_each(note_views.tags) AS t
             WHERE owner_id = $1 AND NOT purged AND NOT trashed
             GROUP BY t.value ORDER BY t.value",
            owner,
        )
        .await
    }

    async fn upcoming(&self, owner: UserId, limit: u32) -> Result<Vec<NoteView>, StoreError> {
        let rows = sqlx::query(&sql::upcoming())
            .bind(owner.uuid())
            .bind(i64::from(limit))
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn changes(
        &self,
        owner: UserId,
        since: Position,
        limit: u32,
    ) -> Result<Vec<NoteView>, StoreError> {
        let rows = sqlx::query(&sql::changes())
            .bind(owner.uuid())
            .bind(to_i64(since.tx())?)
            .bind(to_i64(since.seq())?)
            .bind(i64::from(limit))
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn share_links(&self, owner: UserId, note: NoteId) -> Result<Vec<ShareLink>, StoreError> {
        let rows = sqlx::query(SHARE_LINKS)
            .bind(owner.uuid())
            .bind(note.uuid())
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(share_link_from_row).collect()
    }

    async fn shared_note(
        &self,
        share_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<NoteView>, StoreError> {
        let row = sqlx::query(&sql::shared_note())
            .bind(share_id)
            .bind(Time(now))
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn document(&self, owner: UserId, id: Uuid) -> Result<Option<DocumentEntry>, StoreError> {
        let row = sqlx::query(&sql::document())
            .bind(id)
            .bind(owner.uuid())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    async fn documents(
        &self,
        owner: UserId,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DocumentEntry>, StoreError> {
        let rows = sqlx::query(&sql::documents())
            .bind(owner.uuid())
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(document_from_row).collect()
    }

    async fn usage(&self, owner: UserId) -> Result<Usage, StoreError> {
        let row = sqlx::query(USAGE)
            .bind(owner.uuid())
            .fetch_one(self.db.reader())
            .await?;
        Ok(Usage {
            documents: from_i64(row.try_get("documents")?)?,
            bytes: from_i64(row.try_get("bytes")?)?,
        })
    }
}

/// Runs a `name, notes` query for one owner.
async fn counts(
    store: &SqliteReadStore,
    sql: &str,
    owner: UserId,
) -> Result<Vec<Count>, StoreError> {
    let rows = sqlx::query(sql)
        .bind(owner.uuid())
        .fetch_all(store.db.reader())
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Count {
                name: row.try_get("name")?,
                notes: from_i64(row.try_get("notes")?)?,
            })
        })
        .collect()
}
