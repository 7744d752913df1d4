//! Read models in PostgreSQL (their own schema, or their own database).

use anote_domain::{NoteId, UserId};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::{
    documents_json, parked_from_row, qualified_columns, status_from_name, status_name, Applied,
    Count, DocumentEntry, DocumentView, ListCursor, NoteFilter, NoteSort, NoteView, ParkedStream,
    ProjectionBatch, ReadStore, SearchHit, ShardProgress, ShareChange, ShareLink, SortKey, Usage,
    DOCUMENT_COLUMNS, NOTE_COLUMNS, PARK,
};
use anote_store::db::{from_i64, micros, to_i64, PgDatabase};
use anote_store::error::StoreError;
use anote_store::event_store::Position;
use time::OffsetDateTime;

/// Titles lower-cased in ASCII only and compared byte by byte, exactly as
/// SQLite's `lower()` and the cursor's key do.
const TITLE_KEY: &str =
    "translate(title, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') COLLATE \"C\"";

/// The channel on which a projector announces its new checkpoint.
pub const PROJECTION_CHANNEL: &str = "anote_projection";

/// The advisory lock of the live read-model schema named by the SQL
/// expression `schema`: live projector batches hold it shared (naming
/// `current_schema()`), a switch to a new build exclusively.
pub(super) fn switch_lock_key(schema: &str) -> String {
    format!("hashtextextended('anote-read-switch:' || {schema}, 0)")
}

/// The read models in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgReadStore {
    db: PgDatabase,
}

impl PgReadStore {
    /// A read store over this database.
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }
}

fn decode(row: &PgRow) -> Result<NoteView, StoreError> {
    Ok(NoteView {
        id: NoteId::from_uuid(row.try_get("id")?),
        owner: UserId::from_uuid(row.try_get("owner_id")?),
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        snippet: row.try_get("snippet")?,
        subject: row.try_get("subject")?,
        tags: row.try_get("tags")?,
        pinned: row.try_get("pinned")?,
        archived: row.try_get("archived")?,
        trashed: row.try_get("trashed")?,
        purged: row.try_get("purged")?,
        due_at: row.try_get("due_at")?,
        done: row.try_get("done")?,
        version: from_i64(row.try_get("version")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        changed: Position::new(
            from_i64(row.try_get("changed_tx")?)?,
            from_i64(row.try_get("changed_seq")?)?,
        ),
        documents: row
            .try_get::<sqlx::types::Json<Vec<DocumentView>>, _>("documents")?
            .0,
    })
}

fn decode_document(row: &PgRow) -> Result<DocumentEntry, StoreError> {
    Ok(DocumentEntry {
        note_id: NoteId::from_uuid(row.try_get("note_id")?),
        note_title: row.try_get("note_title")?,
        note_trashed: row.try_get("note_trashed")?,
        document: DocumentView {
            id: row.try_get("document_id")?,
            file_name: row.try_get("file_name")?,
            content_type: row.try_get("content_type")?,
            size: from_i64(row.try_get("size")?)?,
            status: status_from_name(row.try_get("status")?)?,
            submitted_at: row.try_get("submitted_at")?,
            sha256: row.try_get("sha256")?,
        },
    })
}

/// Rewrites the document rows of the views that were just stored.
async fn replace_documents(
    conn: &mut sqlx::PgConnection,
    views: &[&NoteView],
) -> Result<(), StoreError> {
    if views.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = views.iter().map(|v| v.id.uuid()).collect();
    sqlx::query("DELETE FROM document_views WHERE note_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    let rows: Vec<(&NoteView, &DocumentView)> = views
        .iter()
        .filter(|v| !v.purged)
        .flat_map(|v| v.documents.iter().map(move |d| (*v, d)))
        .collect();
    for (view, document) in rows {
        sqlx::query(
            "INSERT INTO document_views (document_id, note_id, owner_id, file_name,
                 content_type, size, status, submitted_at, sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(document.id)
        .bind(view.id.uuid())
        .bind(view.owner.uuid())
        .bind(&document.file_name)
        .bind(&document.content_type)
        .bind(to_i64(document.size)?)
        .bind(status_name(document.status))
        .bind(document.submitted_at)
        .bind(&document.sha256)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl ReadStore for PgReadStore {
    async fn checkpoint(&self, projector: &str) -> Result<Position, StoreError> {
        let row = sqlx::query("SELECT tx, seq FROM projector_checkpoints WHERE name = $1")
            .bind(projector)
            .fetch_optional(self.db.pool())
            .await?;
        row.map_or(Ok(Position::START), |row| {
            Ok(Position::new(
                from_i64(row.try_get("tx")?)?,
                from_i64(row.try_get("seq")?)?,
            ))
        })
    }

    async fn views(&self, ids: &[NoteId]) -> Result<Vec<NoteView>, StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|id| id.uuid()).collect();
        let rows = sqlx::query(&format!(
            "SELECT {NOTE_COLUMNS} FROM note_views WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn generation(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT n FROM read_generation")
            .fetch_one(self.db.pool())
            .await?;
        from_i64(n)
    }

    async fn apply(&self, projector: &str, batch: &ProjectionBatch) -> Result<(), StoreError> {
        let mut tx = self.db.pool().begin().await?;
        if let Some(generation) = batch.generation {
            // Shared with every live batch; a switch holds it exclusively,
            // briefly: a batch that waits longer fails and is retried.
            sqlx::query("SET LOCAL lock_timeout = '10s'")
                .execute(&mut *tx)
                .await?;
            let key = switch_lock_key("current_schema()");
            sqlx::query(&format!("SELECT pg_advisory_xact_lock_shared({key})"))
                .execute(&mut *tx)
                .await?;
            let now: i64 = sqlx::query_scalar("SELECT n FROM read_generation")
                .fetch_one(&mut *tx)
                .await?;
            if from_i64(now)? != generation {
                return Err(StoreError::Switched);
            }
        }
        let mut stored_views = Vec::new();
        for view in &batch.upserts {
            let stored = sqlx::query(&format!(
                "INSERT INTO note_views ({NOTE_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                         $19::jsonb)
                 ON CONFLICT (id) DO UPDATE SET
                   title = EXCLUDED.title, body = EXCLUDED.body, snippet = EXCLUDED.snippet,
                   subject = EXCLUDED.subject, tags = EXCLUDED.tags, pinned = EXCLUDED.pinned,
                   archived = EXCLUDED.archived, trashed = EXCLUDED.trashed,
                   purged = EXCLUDED.purged, due_at = EXCLUDED.due_at, done = EXCLUDED.done,
                   version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
                   changed_tx = EXCLUDED.changed_tx, changed_seq = EXCLUDED.changed_seq,
                   documents = EXCLUDED.documents
                 WHERE note_views.version < EXCLUDED.version
                 RETURNING id"
            ))
            .bind(view.id.uuid())
            .bind(view.owner.uuid())
            .bind(&view.title)
            .bind(&view.body)
            .bind(&view.snippet)
            .bind(&view.subject)
            .bind(&view.tags)
            .bind(view.pinned)
            .bind(view.archived)
            .bind(view.trashed)
            .bind(view.purged)
            .bind(view.due_at)
            .bind(view.done)
            .bind(to_i64(view.version)?)
            .bind(view.created_at)
            .bind(view.updated_at)
            .bind(to_i64(view.changed.tx())?)
            .bind(to_i64(view.changed.seq())?)
            .bind(documents_json(view)?)
            .fetch_optional(&mut *tx)
            .await?;
            if stored.is_some() {
                stored_views.push(view);
            }
        }
        replace_documents(&mut tx, &stored_views).await?;
        if !batch.erased_owners.is_empty() {
            let owners: Vec<Uuid> = batch.erased_owners.iter().map(|o| o.uuid()).collect();
            for sql in [
                "UPDATE note_views SET purged = TRUE, title = '', body = '', snippet = '',
                     subject = NULL, tags = '{}', documents = '[]' WHERE owner_id = ANY($1)",
                "DELETE FROM document_views WHERE owner_id = ANY($1)",
                "DELETE FROM share_links WHERE owner_id = ANY($1)",
            ] {
                sqlx::query(sql).bind(&owners).execute(&mut *tx).await?;
            }
        }
        for change in &batch.shares {
            match change {
                ShareChange::Opened(link) => {
                    sqlx::query(
                        "INSERT INTO share_links (id, note_id, owner_id, expires_at, created_at)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(link.id)
                    .bind(link.note_id.uuid())
                    .bind(link.owner.uuid())
                    .bind(link.expires_at)
                    .bind(link.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                ShareChange::Revoked(id) => {
                    sqlx::query("DELETE FROM share_links WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
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
        if !batch.unparked.is_empty() {
            sqlx::query("DELETE FROM parked_streams WHERE stream_id = ANY($1)")
                .bind(&batch.unparked)
                .execute(&mut *tx)
                .await?;
        }
        match &batch.shard {
            None => {
                sqlx::query(
                    "INSERT INTO projector_checkpoints (name, tx, seq) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET tx = EXCLUDED.tx, seq = EXCLUDED.seq
                     WHERE (projector_checkpoints.tx, projector_checkpoints.seq) < (EXCLUDED.tx, EXCLUDED.seq)",
                )
                .bind(projector)
                .bind(to_i64(batch.checkpoint.tx())?)
                .bind(to_i64(batch.checkpoint.seq())?)
                .execute(&mut *tx)
                .await?;
            }
            Some(progress) => save_shard_progress(&mut tx, projector, progress).await?,
        }
        let notice = serde_json::to_string(&Applied::of(batch)).map_err(StoreError::corrupt)?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(PROJECTION_CHANNEL)
            .bind(notice)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn parked(&self, streams: Option<&[String]>) -> Result<Vec<ParkedStream>, StoreError> {
        let rows = sqlx::query(
            "SELECT stream_id, tx, seq, stream_version, error, parked_at FROM parked_streams
             WHERE $1::text[] IS NULL OR stream_id = ANY($1)
             ORDER BY parked_at, stream_id",
        )
        .bind(streams)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(parked_from_row).collect()
    }

    async fn note(&self, owner: UserId, id: NoteId) -> Result<Option<NoteView>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {NOTE_COLUMNS} FROM note_views WHERE id = $1 AND owner_id = $2 AND NOT purged"
        ))
        .bind(id.uuid())
        .bind(owner.uuid())
        .fetch_optional(self.db.pool())
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
        let (key, cast, op, order) = match filter.sort {
            NoteSort::Updated => ("updated_at", "timestamptz", "<", "DESC"),
            NoteSort::Created => ("created_at", "timestamptz", "<", "DESC"),
            NoteSort::Title => (TITLE_KEY, "text COLLATE \"C\"", ">", "ASC"),
            NoteSort::Due => ("due_at", "timestamptz", ">", "ASC"),
        };
        let due_only = if filter.sort == NoteSort::Due {
            "AND due_at IS NOT NULL"
        } else {
            ""
        };
        let query = format!(
            "SELECT {NOTE_COLUMNS} FROM note_views
             WHERE owner_id = $1 AND NOT purged {due_only}
               AND ($2::text IS NULL OR subject = $2)
               AND ($3::text IS NULL OR $3 = ANY(tags))
               AND ($4::boolean IS NULL OR pinned = $4)
               AND ($5::boolean IS NULL OR archived = $5)
               AND ($6::boolean IS NULL OR trashed = $6)
               AND ($7::timestamptz IS NULL OR due_at < $7)
               AND ($8::timestamptz IS NULL OR due_at > $8)
               AND ($9::{cast} IS NULL OR ({key}, id) {op} ($9::{cast}, $10))
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
            .bind(filter.due_before)
            .bind(filter.due_after);
        let query = match after.as_ref().map(|c| &c.key) {
            Some(SortKey::Time(t)) => query.bind(Some(*t)),
            Some(SortKey::Text(text)) => query.bind(Some(text.clone())),
            None if filter.sort == NoteSort::Title => query.bind(None::<String>),
            None => query.bind(None::<OffsetDateTime>),
        };
        let rows = query
            .bind(after.map(|c| c.id.uuid()))
            .bind(i64::from(limit))
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn search(
        &self,
        owner: UserId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {NOTE_COLUMNS}, ts_rank(search, q)::float8 AS rank,
                    ts_headline('simple', body, q,
                        'StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MaxWords=20, MinWords=5') AS highlight
             FROM note_views, websearch_to_tsquery('simple', $2) AS q
             WHERE owner_id = $1 AND NOT purged AND NOT trashed AND search @@ q
             ORDER BY rank DESC, updated_at DESC, id DESC
             LIMIT $3"
        ))
        .bind(owner.uuid())
        .bind(query)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
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
        counts(
            self,
            "SELECT subject AS name, count(*) AS notes FROM note_views
             WHERE owner_id = $1 AND NOT purged AND NOT trashed AND subject IS NOT NULL
             GROUP BY subject ORDER BY subject",
            owner,
        )
        .await
    }

    async fn tags(&self, owner: UserId) -> Result<Vec<Count>, StoreError> {
        counts(
            self,
            "SELECT tag AS name, count(*) AS notes FROM note_views, unnest(tags) AS tag
             WHERE owner_id = $1 AND NOT purged AND NOT trashed
             GROUP BY tag ORDER BY tag",
            owner,
        )
        .await
    }

    async fn upcoming(&self, owner: UserId, limit: u32) -> Result<Vec<NoteView>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {NOTE_COLUMNS} FROM note_views
             WHERE owner_id = $1 AND due_at IS NOT NULL AND NOT done
               AND NOT purged AND NOT trashed AND NOT archived
             ORDER BY due_at, id LIMIT $2"
        ))
        .bind(owner.uuid())
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn changes(
        &self,
        owner: UserId,
        since: Position,
        limit: u32,
    ) -> Result<Vec<NoteView>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {NOTE_COLUMNS} FROM note_views
             WHERE owner_id = $1 AND (changed_tx, changed_seq) > ($2, $3)
             ORDER BY changed_tx, changed_seq LIMIT $4"
        ))
        .bind(owner.uuid())
        .bind(to_i64(since.tx())?)
        .bind(to_i64(since.seq())?)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn share_links(&self, owner: UserId, note: NoteId) -> Result<Vec<ShareLink>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, note_id, owner_id, expires_at, created_at FROM share_links
             WHERE owner_id = $1 AND note_id = $2 ORDER BY created_at, id",
        )
        .bind(owner.uuid())
        .bind(note.uuid())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ShareLink {
                    id: row.try_get("id")?,
                    note_id: NoteId::from_uuid(row.try_get("note_id")?),
                    owner: UserId::from_uuid(row.try_get("owner_id")?),
                    expires_at: row.try_get("expires_at")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn shared_note(
        &self,
        share_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<NoteView>, StoreError> {
        let columns = qualified_columns("v");
        let row = sqlx::query(&format!(
            "SELECT {columns} FROM share_links s JOIN note_views v ON v.id = s.note_id
             WHERE s.id = $1 AND (s.expires_at IS NULL OR s.expires_at > $2)
               AND NOT v.purged AND NOT v.trashed"
        ))
        .bind(share_id)
        .bind(now)
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn document(&self, owner: UserId, id: Uuid) -> Result<Option<DocumentEntry>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM document_views d JOIN note_views n ON n.id = d.note_id
             WHERE d.document_id = $1 AND d.owner_id = $2 AND NOT n.purged"
        ))
        .bind(id)
        .bind(owner.uuid())
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(decode_document).transpose()
    }

    async fn documents(
        &self,
        owner: UserId,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DocumentEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM document_views d JOIN note_views n ON n.id = d.note_id
             WHERE d.owner_id = $1 AND NOT n.purged AND ($2::uuid IS NULL OR d.document_id > $2)
             ORDER BY d.document_id LIMIT $3"
        ))
        .bind(owner.uuid())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(decode_document).collect()
    }

    async fn usage(&self, owner: UserId) -> Result<Usage, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS documents, COALESCE(SUM(size), 0)::bigint AS bytes
             FROM document_views WHERE owner_id = $1",
        )
        .bind(owner.uuid())
        .fetch_one(self.db.pool())
        .await?;
        Ok(Usage {
            documents: from_i64(row.try_get("documents")?)?,
            bytes: from_i64(row.try_get("bytes")?)?,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.db.pool()).await?;
        Ok(())
    }
}

/// Runs a `name, notes` query for one owner.
async fn counts(store: &PgReadStore, sql: &str, owner: UserId) -> Result<Vec<Count>, StoreError> {
    let rows = sqlx::query(sql)
        .bind(owner.uuid())
        .fetch_all(store.db.pool())
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

/// Relays the projectors' notices on this database to `notices` until the
/// receivers are gone. After a lost connection it reconnects and sends an
/// "anyone" notice, since notices may have been missed meanwhile.
pub async fn listen_applied(db: PgDatabase, notices: tokio::sync::broadcast::Sender<Applied>) {
    let anyone = |checkpoint| Applied {
        checkpoint,
        owners: None,
    };
    while notices.receiver_count() > 0 {
        let mut listener = match sqlx::postgres::PgListener::connect_with(db.pool()).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for projection notices; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(PROJECTION_CHANNEL).await {
            tracing::warn!(error = %err, "cannot listen for projection notices; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        let _ = notices.send(anyone(Position::START));
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let notice = serde_json::from_str(notification.payload())
                        .unwrap_or_else(|_| anyone(Position::START));
                    if notices.send(notice).is_err() {
                        return;
                    }
                }
                // The connection dropped: reconnect, and assume anything changed.
                Ok(None) => {
                    let _ = notices.send(anyone(Position::START));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "projection notices interrupted");
                    break;
                }
            }
        }
    }
}

/// Moves a shard's checkpoint and watermark, fenced by its lease, and the
/// projector's checkpoint to the lowest watermark of the stream's unfinished
/// shards (it never moves back).
async fn save_shard_progress(
    tx: &mut sqlx::PgConnection,
    projector: &str,
    progress: &ShardProgress,
) -> Result<(), StoreError> {
    let caught_up = progress.caught_up_to.unwrap_or(Position::START);
    let held = sqlx::query(
        "UPDATE kinesis_leases SET
            sequence = COALESCE($4, sequence),
            (watermark_tx, watermark_seq) = (
                SELECT t, s FROM (VALUES (watermark_tx, watermark_seq), ($5::bigint, $6::bigint)) AS w (t, s)
                ORDER BY t DESC, s DESC LIMIT 1),
            finished = finished OR $7
         WHERE stream = $1 AND shard_id = $2 AND owner = $3 AND expires_at > now()",
    )
    .bind(&progress.stream)
    .bind(&progress.shard_id)
    .bind(&progress.owner)
    .bind(&progress.sequence)
    .bind(to_i64(caught_up.tx())?)
    .bind(to_i64(caught_up.seq())?)
    .bind(progress.finished)
    .execute(&mut *tx)
    .await?;
    if held.rows_affected() == 0 {
        return Err(StoreError::LeaseLost(progress.shard_id.clone()));
    }
    sqlx::query(
        "INSERT INTO projector_checkpoints (name, tx, seq)
         SELECT $1, watermark_tx, watermark_seq FROM kinesis_leases
         WHERE stream = $2 AND NOT finished
         ORDER BY watermark_tx, watermark_seq LIMIT 1
         ON CONFLICT (name) DO UPDATE SET tx = EXCLUDED.tx, seq = EXCLUDED.seq
         WHERE (projector_checkpoints.tx, projector_checkpoints.seq) < (EXCLUDED.tx, EXCLUDED.seq)",
    )
    .bind(projector)
    .bind(&progress.stream)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
