//! Read models in PostgreSQL (their own schema, or their own database).

use std::sync::LazyLock;

use anote_domain::{NoteId, UserId};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::sql::{
    self, CHECKPOINT, INSERT_DOCUMENT, OPEN_SHARE, PARK, PING, REVOKE_SHARE, SAVE_CHECKPOINT,
    SHARE_LINKS, SUBJECTS, UPSERT_VIEW, USAGE,
};
use super::{
    document_from_row, parked_from_row, share_link_from_row, status_name, Applied, ChangesPage,
    Count, DocumentEntry, DocumentView, ListCursor, NoteFilter, NoteReads, NoteSort, NoteView,
    ParkedStream, ProjectionBatch, ProjectionStore, ReadModels, SearchHit, ShardProgress,
    ShareChange, ShareLink, SortKey, Usage, NOTE_COLUMNS,
};
use anote_store::db::{from_i64, micros, to_i64, PgDatabase, Time};
use anote_store::error::StoreError;
use anote_store::event_store::Position;
use sqlx::types::Json;
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

/// The oldest transaction still running anywhere in the cluster (or the
/// next to start): every transaction before it has ended.
const OLDEST_RUNNING: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// The changes feed, with the oldest transaction still running: only the
/// views stored before it are listed (xid8 ordering: see `apply`; SQLite
/// has one writer).
static CHANGES: LazyLock<String> = LazyLock::new(|| {
    sql::changes(", pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon")
});

/// A search: `$1` the owner, `$2` the words, `$3` the limit. The text
/// vector holds the owner's lexeme too (migration `0010_search_by_owner.sql`),
/// so the index yields this owner's matches only; a query without words
/// matches nothing, as on SQLite.
static SEARCH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {NOTE_COLUMNS}, ts_rank(search, q)::float8 AS rank,
                ts_headline('simple', body, q,
                    'StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MaxWords=20, MinWords=5') AS highlight
         FROM note_views, websearch_to_tsquery('simple', $2) AS q
         WHERE owner_id = $1 AND NOT purged AND NOT trashed AND numnode(q) > 0
           AND search @@ (q && ('''~' || $1::text || '''')::tsquery)
         ORDER BY rank DESC, updated_at DESC, id DESC
         LIMIT $3"
    )
});

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
        due_at: row.try_get::<Option<Time>, _>("due_at")?.map(|t| t.0),
        done: row.try_get("done")?,
        version: from_i64(row.try_get("version")?)?,
        created_at: row.try_get::<Time, _>("created_at")?.0,
        updated_at: row.try_get::<Time, _>("updated_at")?.0,
        changed: Position::new(
            from_i64(row.try_get("changed_tx")?)?,
            from_i64(row.try_get("changed_seq")?)?,
        ),
        documents: row.try_get::<Json<Vec<DocumentView>>, _>("documents")?.0,
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
    // One array of ids (SQLite: view by view).
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
impl ReadModels for PgReadStore {
    async fn checkpoint(&self, projector: &str) -> Result<Position, StoreError> {
        let row = sqlx::query(CHECKPOINT)
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

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(PING).execute(self.db.pool()).await?;
        Ok(())
    }
}

#[async_trait]
impl ProjectionStore for PgReadStore {
    async fn views(&self, ids: &[NoteId]) -> Result<Vec<NoteView>, StoreError> {
        // One array of ids (SQLite: a JSON array).
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
        // PostgreSQL only: its schemas are switched while projectors run (a
        // SQLite file is switched above the store).
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
        // The changes feed goes by this transaction, not by the log: the
        // projectors of two shards commit their batches out of log order,
        // and a device past a later change would never see an earlier one
        // that committed after it. `CHANGES` lists a transaction's views
        // once every transaction before it has ended.
        let feed_tx: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
            .fetch_one(&mut *tx)
            .await?;
        let mut stored_views = Vec::new();
        for (place, view) in (1_i64..).zip(&batch.upserts) {
            let stored = sqlx::query(UPSERT_VIEW)
                .bind(view.id.uuid())
                .bind(view.owner.uuid())
                .bind(&view.title)
                .bind(&view.body)
                .bind(&view.snippet)
                .bind(&view.subject)
                // `text[]` (SQLite: a JSON array).
                .bind(&view.tags)
                .bind(view.pinned)
                .bind(view.archived)
                .bind(view.trashed)
                .bind(view.purged)
                .bind(view.due_at.map(Time))
                .bind(view.done)
                .bind(to_i64(view.version)?)
                .bind(Time(view.created_at))
                .bind(Time(view.updated_at))
                .bind(feed_tx)
                .bind(place)
                .bind(Json(&view.documents))
                .fetch_optional(&mut *tx)
                .await?;
            if stored.is_some() {
                stored_views.push(view);
            }
        }
        replace_documents(&mut tx, &stored_views).await?;
        if !batch.erased_owners.is_empty() {
            // One array of owners (SQLite: owner by owner; tags are a JSON
            // array there).
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
        // One array of streams (SQLite: stream by stream).
        if !batch.unparked.is_empty() {
            sqlx::query("DELETE FROM parked_streams WHERE stream_id = ANY($1)")
                .bind(&batch.unparked)
                .execute(&mut *tx)
                .await?;
        }
        match &batch.shard {
            None => {
                sqlx::query(SAVE_CHECKPOINT)
                    .bind(projector)
                    .bind(to_i64(batch.checkpoint.tx())?)
                    .bind(to_i64(batch.checkpoint.seq())?)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(progress) => save_shard_progress(&mut tx, projector, progress).await?,
        }
        // PostgreSQL only: SQLite has no notifications.
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
        // An array of streams (SQLite: a JSON array).
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
}

#[async_trait]
impl NoteReads for PgReadStore {
    async fn note(&self, owner: UserId, id: NoteId) -> Result<Option<NoteView>, StoreError> {
        let row = sqlx::query(&sql::note())
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
        // Typed cursor and filters, tags in an array, and titles ordered
        // byte by byte as SQLite's `lower()` does.
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
            .bind(filter.due_before.map(Time))
            .bind(filter.due_after.map(Time));
        let query = match after.as_ref().map(|c| &c.key) {
            Some(SortKey::Time(t)) => query.bind(Some(Time(*t))),
            Some(SortKey::Text(text)) => query.bind(Some(text.clone())),
            None if filter.sort == NoteSort::Title => query.bind(None::<String>),
            None => query.bind(None::<Time>),
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
        // PostgreSQL's full-text search (SQLite: FTS5).
        let rows = sqlx::query(&SEARCH)
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
        counts(self, SUBJECTS, owner).await
    }

    async fn tags(&self, owner: UserId) -> Result<Vec<Count>, StoreError> {
        // Tags in an array (SQLite: a JSON array).
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
        let rows = sqlx::query(&sql::upcoming())
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
    ) -> Result<ChangesPage, StoreError> {
        let rows = sqlx::query(&CHANGES)
            .bind(owner.uuid())
            .bind(to_i64(since.tx())?)
            .bind(to_i64(since.seq())?)
            .bind(i64::from(limit))
            .fetch_all(self.db.pool())
            .await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            let horizon = from_i64(row.try_get("horizon")?)?;
            let view = decode(row)?;
            // Rows go by transaction: the ones held back come last.
            if view.changed.tx() >= horizon {
                return Ok(ChangesPage {
                    views,
                    held_back: true,
                });
            }
            views.push(view);
        }
        Ok(ChangesPage {
            views,
            held_back: false,
        })
    }

    async fn changes_now(&self) -> Result<Position, StoreError> {
        let xmin: i64 = sqlx::query_scalar(OLDEST_RUNNING)
            .fetch_one(self.db.pool())
            .await?;
        Ok(Position::new(from_i64(xmin)?, 0))
    }

    async fn share_links(&self, owner: UserId, note: NoteId) -> Result<Vec<ShareLink>, StoreError> {
        let rows = sqlx::query(SHARE_LINKS)
            .bind(owner.uuid())
            .bind(note.uuid())
            .fetch_all(self.db.pool())
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
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn document(&self, owner: UserId, id: Uuid) -> Result<Option<DocumentEntry>, StoreError> {
        let row = sqlx::query(&sql::document())
            .bind(id)
            .bind(owner.uuid())
            .fetch_optional(self.db.pool())
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
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(document_from_row).collect()
    }

    async fn usage(&self, owner: UserId) -> Result<Usage, StoreError> {
        let row = sqlx::query(USAGE)
            .bind(owner.uuid())
            .fetch_one(self.db.pool())
            .await?;
        Ok(Usage {
            documents: from_i64(row.try_get("documents")?)?,
            bytes: from_i64(row.try_get("bytes")?)?,
        })
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{PgReadStore, SEARCH};
    use crate::test_views::view;
    use crate::{NoteReads, ProjectionBatch, ProjectionStore};
    use anote_domain::UserId;
    use anote_store::db::PgDatabase;
    use anote_testkit::env::{database_url, fresh_schema};
    use serde_json::Value;
    use uuid::Uuid;

    #[tokio::test]
    async fn a_change_is_listed_only_once_no_earlier_transaction_can_commit() {
        let schema = fresh_schema();
        let db = PgDatabase::connect(&database_url(), Some(&schema), 2)
            .await
            .expect("PostgreSQL answers (run the README's test command)");
        db.migrate(crate::migrations::postgres())
            .await
            .expect("migrates");
        let store = PgReadStore::new(db.clone());
        let owner = UserId::new();
        // A transaction that began first and is still running, as another
        // shard's projector batch would be.
        let mut earlier = db.pool().begin().await.expect("begins");
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut *earlier)
            .await
            .expect("takes an id");
        let start = store.changes_now().await.expect("the feed's end");
        let batch = ProjectionBatch {
            upserts: vec![view(owner, "later")],
            ..ProjectionBatch::default()
        };
        store.apply("p", &batch).await.expect("applies");
        let held = store.changes(owner, start, 10).await.expect("reads");
        assert_eq!(
            (held.views.len(), held.held_back),
            (0, true),
            "held back while the earlier transaction runs"
        );
        earlier.commit().await.expect("commits");
        // Other tests' transactions hold the horizon back for moments.
        let deadline = Instant::now() + Duration::from_secs(10);
        let listed = loop {
            let page = store.changes(owner, start, 10).await.expect("reads");
            if !page.held_back || Instant::now() > deadline {
                break page.views;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let titles: Vec<&str> = listed.iter().map(|v| v.title.as_str()).collect();
        assert_eq!(titles, ["later"]);
        let after = store
            .changes(owner, listed[0].changed, 10)
            .await
            .expect("reads");
        assert!(after.views.is_empty());
        assert!(store.changes_now().await.expect("the end") > start);
    }

    /// The most rows any step of `plan` produced or threw away.
    fn most_rows(plan: &Value) -> u64 {
        let own = [
            "Actual Rows",
            "Rows Removed by Filter",
            "Rows Removed by Index Recheck",
        ]
        .iter()
        .filter_map(|k| plan[k].as_u64())
        .max()
        .unwrap_or(0);
        let children = plan["Plans"]
            .as_array()
            .map_or(0, |steps| steps.iter().map(most_rows).max().unwrap_or(0));
        own.max(children)
    }

    #[tokio::test]
    async fn a_search_touches_only_the_searching_students_notes() {
        let schema = fresh_schema();
        let db = PgDatabase::connect(&database_url(), Some(&schema), 1)
            .await
            .expect("PostgreSQL answers (run the README's test command)");
        db.migrate(crate::migrations::postgres())
            .await
            .expect("migrates");
        // Every note has the word; 5 are the student's, 3,000 belong to 10
        // other students.
        let student = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO note_views (id, owner_id, title, body, snippet, tags, pinned, archived,
                 trashed, purged, done, version, created_at, updated_at)
             SELECT gen_random_uuid(),
                    CASE WHEN n <= 5 THEN $1 ELSE md5((n % 10)::text)::uuid END,
                    'notes', 'series convergence ' || n, '', '{}', false, false, false, false,
                    false, 1, now(), now()
             FROM generate_series(1, 3005) AS n",
        )
        .bind(student)
        .execute(db.pool())
        .await
        .expect("fills");
        sqlx::query("ANALYZE note_views")
            .execute(db.pool())
            .await
            .expect("analyzes");
        // The plan a prepared statement gets after a few runs (generic) and
        // the one for these values (custom); with the owner's indexes, and
        // without them, where only the text index can spare reading every note.
        for mode in ["force_generic_plan", "force_custom_plan"] {
            for owner_indexes in [true, false] {
                let mut tx = db.pool().begin().await.expect("begins");
                if !owner_indexes {
                    // Every index but the text index and the key, until the rollback.
                    sqlx::query(
                        "DO $$ DECLARE i text; BEGIN
                             FOR i IN SELECT indexname FROM pg_indexes
                                 WHERE schemaname = current_schema() AND tablename = 'note_views'
                                   AND indexname NOT IN ('note_views_pkey', 'note_views_search')
                             LOOP EXECUTE format('DROP INDEX %I', i); END LOOP;
                         END $$",
                    )
                    .execute(&mut *tx)
                    .await
                    .expect("drops the indexes");
                    // And no reading of the whole table, as a small one would be.
                    sqlx::query("SET LOCAL enable_seqscan = off")
                        .execute(&mut *tx)
                        .await
                        .expect("turns sequential scans off");
                }
                sqlx::query(&format!("SET LOCAL plan_cache_mode = {mode}"))
                    .execute(&mut *tx)
                    .await
                    .expect("sets the plan mode");
                let (plan,): (Value,) =
                    sqlx::query_as(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", *SEARCH))
                        .bind(student)
                        .bind("convergence")
                        .bind(20_i64)
                        .fetch_one(&mut *tx)
                        .await
                        .expect("explains");
                let plan = &plan[0]["Plan"];
                let case = format!("{mode}, owner indexes {owner_indexes}");
                assert_eq!(plan["Actual Rows"], 5, "{case}: {plan:#}");
                assert!(most_rows(plan) <= 5, "{case}: {plan:#}");
            }
        }
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(db.pool())
            .await
            .expect("drops the schema");
    }
}
