//! Read models in SQLite, for the embedded default (a file of their own).

use std::sync::LazyLock;

use anote_domain::{NoteId, UserId};
use async_trait::async_trait;
use sqlx::Row as _;

use super::sql::{
    self, CHECKPOINT, INSERT_DOCUMENT, OPEN_SHARE, PARK, PING, REVOKE_SHARE, SAVE_CHECKPOINT,
    SHARE_LINKS, SUBJECTS, UPSERT_VIEW, USAGE,
};
use super::{
    document_from_row, documents_from_json, fts5_query, parked_from_row, qualified_columns,
    share_link_from_row, status_name, ChangesPage, Count, DocumentEntry, ListCursor, NoteFilter,
    NoteReads, NoteSort, NoteView, ParkedStream, ProjectionBatch, ProjectionStore, ReadModels,
    SearchHit, ShareChange, ShareLink, SortKey, Usage, NOTE_COLUMNS,
};
use anote_store::db::{direct, from_i64, from_micros, micros, to_i64, SqliteDatabase};
use anote_store::error::StoreError;
use anote_store::event_store::Position;
use rusqlite::types::Value;
use rusqlite::{Connection, Row, TransactionBehavior};
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

/// The shared upsert, with the rowid a new view takes: the next in its
/// owner's range (migration `0008_search_by_owner.sql` says why). An update
/// keeps the row's rowid.
static UPSERT_VIEW_IN_OWNER_RANGE: LazyLock<String> = LazyLock::new(|| {
    const NEXT_IN_RANGE: &str = "(SELECT coalesce(
            (SELECT v.rowid FROM note_views v
             WHERE v.rowid BETWEEN o.number << 32 AND (o.number << 32) + 4294967295
             ORDER BY v.rowid DESC LIMIT 1),
            o.number << 32) + 1
         FROM note_owners o WHERE o.owner_id = $2)";
    UPSERT_VIEW
        .replacen(
            "INSERT INTO note_views (",
            "INSERT INTO note_views (rowid, ",
            1,
        )
        .replacen("VALUES (", &format!("VALUES ({NEXT_IN_RANGE}, "), 1)
});

/// A search: `$1` the FTS5 query, `$2` the owner, `$3` the limit. The
/// index is asked for the owner's rowid range only (see
/// `UPSERT_VIEW_IN_OWNER_RANGE`), so it seeks past other owners' entries.
/// The rank counts the query's words in the title (weight 4) and the body
/// (weight 1), each saturating as BM25's term frequency does, from
/// `highlight()` marks; FTS5's `bm25()` is not used because it counts every
/// matching note of every owner for its document frequencies (PostgreSQL's
/// `ts_rank` has none either).
static SEARCH: LazyLock<String> = LazyLock::new(|| {
    let columns = qualified_columns("v");
    format!(
        "WITH hits AS (
             SELECT note_search.rowid AS hit,
                    highlight(note_search, 0, char(1), '') AS marked_title,
                    highlight(note_search, 1, char(1), '') AS marked_body,
                    snippet(note_search, 1, '<mark>', '</mark>', '…', 20) AS highlight
             FROM note_owners o
             JOIN note_search ON note_search.rowid BETWEEN o.number << 32
                                                       AND (o.number << 32) + 4294967295
             WHERE o.owner_id = $2 AND note_search MATCH $1
         ), counted AS (
             SELECT hit, highlight,
                    length(marked_title) - length(replace(marked_title, char(1), '')) AS in_title,
                    length(marked_body) - length(replace(marked_body, char(1), '')) AS in_body
             FROM hits
         )
         SELECT {columns}, 4.0 * in_title / (in_title + 1.2) + 1.0 * in_body / (in_body + 1.2) AS rank,
                h.highlight
         FROM counted h JOIN note_views v ON v.rowid = h.hit
         WHERE v.owner_id = $2 AND NOT v.purged AND NOT v.trashed
         ORDER BY rank DESC, v.updated_at DESC, v.id DESC
         LIMIT $3"
    )
});

/// A note view from the first columns of a row (`NOTE_COLUMNS`, in order).
fn decode(row: &Row<'_>) -> Result<NoteView, StoreError> {
    let tags: String = row.get(6)?;
    let documents: String = row.get(18)?;
    Ok(NoteView {
        id: NoteId::from_uuid(row.get(0)?),
        owner: UserId::from_uuid(row.get(1)?),
        title: row.get(2)?,
        body: row.get(3)?,
        snippet: row.get(4)?,
        subject: row.get(5)?,
        tags: serde_json::from_str(&tags).map_err(StoreError::corrupt)?,
        pinned: row.get(7)?,
        archived: row.get(8)?,
        trashed: row.get(9)?,
        purged: row.get(10)?,
        due_at: row
            .get::<_, Option<i64>>(11)?
            .map(from_micros)
            .transpose()?,
        done: row.get(12)?,
        version: from_i64(row.get(13)?)?,
        created_at: from_micros(row.get(14)?)?,
        updated_at: from_micros(row.get(15)?)?,
        changed: Position::new(from_i64(row.get(16)?)?, from_i64(row.get(17)?)?),
        documents: documents_from_json(&documents)?,
    })
}

/// The views of a JSON array of ids in hex (PostgreSQL: an array of uuids).
static VIEWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {NOTE_COLUMNS} FROM note_views
         WHERE id IN (SELECT unhex(value) FROM json_each($1))"
    )
});

/// Rewrites the document rows of a view that was just stored.
fn replace_documents(conn: &Connection, view: &NoteView) -> Result<(), StoreError> {
    // View by view (PostgreSQL: one array of ids).
    direct::execute(
        conn,
        "DELETE FROM document_views WHERE note_id = $1",
        &[&view.id.uuid()],
    )?;
    let documents = if view.purged {
        &[][..]
    } else {
        &view.documents
    };
    for document in documents {
        direct::execute(
            conn,
            INSERT_DOCUMENT,
            &[
                &document.id,
                &view.id.uuid(),
                &view.owner.uuid(),
                &document.file_name,
                &document.content_type,
                &to_i64(document.size)?,
                &status_name(document.status),
                &document.submitted_at.map(micros),
                &document.sha256,
            ],
        )?;
    }
    Ok(())
}

/// Stores a view in its owner's range, and its document rows when it was
/// stored (not older than the stored one).
fn upsert_view(conn: &Connection, view: &NoteView) -> Result<(), StoreError> {
    // Tags and documents as JSON arrays (PostgreSQL: `text[]` and JSON).
    let tags = serde_json::to_string(&view.tags).map_err(StoreError::corrupt)?;
    let documents = serde_json::to_string(&view.documents).map_err(StoreError::corrupt)?;
    let stored: Option<Uuid> = direct::optional(
        conn,
        &UPSERT_VIEW_IN_OWNER_RANGE,
        &[
            &view.id.uuid(),
            &view.owner.uuid(),
            &view.title,
            &view.body,
            &view.snippet,
            &view.subject,
            &tags,
            &view.pinned,
            &view.archived,
            &view.trashed,
            &view.purged,
            &view.due_at.map(micros),
            &view.done,
            &to_i64(view.version)?,
            &micros(view.created_at),
            &micros(view.updated_at),
            &to_i64(view.changed.tx())?,
            &to_i64(view.changed.seq())?,
            &documents,
        ],
    )?;
    if stored.is_some() {
        replace_documents(conn, view)?;
    }
    Ok(())
}

/// Applies a batch in one transaction; whether it erased something.
fn apply_batch(
    conn: &mut Connection,
    projector: &str,
    batch: &ProjectionBatch,
) -> Result<bool, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Each owner numbered once a batch, before their views take rowids.
    let owners: std::collections::BTreeSet<Uuid> =
        batch.upserts.iter().map(|v| v.owner.uuid()).collect();
    for owner in owners {
        direct::execute(
            &tx,
            "INSERT INTO note_owners (owner_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&owner],
        )?;
    }
    for view in &batch.upserts {
        upsert_view(&tx, view)?;
    }
    // Owner by owner (PostgreSQL: one array; tags are `text[]` there).
    for owner in &batch.erased_owners {
        for sql in [
            "UPDATE note_views SET purged = 1, title = '', body = '', snippet = '',
                 subject = NULL, tags = '[]', documents = '[]' WHERE owner_id = $1",
            "DELETE FROM document_views WHERE owner_id = $1",
            "DELETE FROM share_links WHERE owner_id = $1",
        ] {
            direct::execute(&tx, sql, &[&owner.uuid()])?;
        }
    }
    let erasing = batch.upserts.iter().any(|v| v.purged) || !batch.erased_owners.is_empty();
    if erasing {
        // The full-text index keeps the terms of replaced rows until its
        // segments merge: merge them now, so a purged note's words are
        // gone from the file too.
        direct::execute(
            &tx,
            "INSERT INTO note_search (note_search) VALUES ('optimize')",
            &[],
        )?;
    }
    for change in &batch.shares {
        match change {
            ShareChange::Opened(link) => {
                direct::execute(
                    &tx,
                    OPEN_SHARE,
                    &[
                        &link.id,
                        &link.note_id.uuid(),
                        &link.owner.uuid(),
                        &link.expires_at.map(micros),
                        &micros(link.created_at),
                    ],
                )?;
            }
            ShareChange::Revoked(id) => {
                direct::execute(&tx, REVOKE_SHARE, &[id])?;
            }
        }
    }
    for parked in &batch.parked {
        direct::execute(
            &tx,
            PARK,
            &[
                &parked.stream_id,
                &to_i64(parked.position.tx())?,
                &to_i64(parked.position.seq())?,
                &to_i64(parked.stream_version)?,
                &parked.error,
                &micros(parked.parked_at),
            ],
        )?;
    }
    // Stream by stream (PostgreSQL: one array).
    for stream in &batch.unparked {
        direct::execute(
            &tx,
            "DELETE FROM parked_streams WHERE stream_id = $1",
            &[stream],
        )?;
    }
    direct::execute(
        &tx,
        SAVE_CHECKPOINT,
        &[
            &projector,
            &to_i64(batch.checkpoint.tx())?,
            &to_i64(batch.checkpoint.seq())?,
        ],
    )?;
    tx.commit()?;
    Ok(erasing)
}

#[async_trait]
impl ReadModels for SqliteReadStore {
    async fn checkpoint(&self, projector: &str) -> Result<Position, StoreError> {
        let row = sqlx::query(CHECKPOINT)
            .bind(projector)
            .fetch_optional(&mut *self.db.reader().await?)
            .await?;
        row.map_or(Ok(Position::START), |row| {
            Ok(Position::new(
                from_i64(row.try_get("tx")?)?,
                from_i64(row.try_get("seq")?)?,
            ))
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(PING)
            .execute(&mut *self.db.reader().await?)
            .await?;
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
        // Through the writer's connection, which only the projector uses, so
        // that it never waits behind client reads; ids as a JSON array of hex
        // (PostgreSQL: an array of uuids).
        let ids: Vec<String> = ids
            .iter()
            .map(|id| id.uuid().simple().to_string())
            .collect();
        let ids = serde_json::to_string(&ids).map_err(StoreError::corrupt)?;
        self.db
            .write_in_place(move |conn| direct::rows(conn, &VIEWS, &[&ids], decode))
            .await
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
        let (projector, batch) = (projector.to_owned(), batch.clone());
        let erasing = self
            .db
            .write_in_place(move |conn| apply_batch(conn, &projector, &batch))
            .await?;
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
        .fetch_all(&mut *self.db.reader().await?)
        .await?;
        rows.iter().map(parked_from_row).collect()
    }
}

#[async_trait]
impl NoteReads for SqliteReadStore {
    async fn note(&self, owner: UserId, id: NoteId) -> Result<Option<NoteView>, StoreError> {
        self.db
            .read_in_place(|conn| {
                direct::first_row(conn, &sql::note(), &[&id.uuid(), &owner.uuid()], decode)
            })
            .await
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
        let cursor = match after.as_ref().map(|c| &c.key) {
            Some(SortKey::Time(t)) => Value::Integer(micros(*t)),
            Some(SortKey::Text(text)) => Value::Text(text.clone()),
            None => Value::Null,
        };
        self.db
            .read_in_place(|conn| {
                direct::rows(
                    conn,
                    &query,
                    &[
                        &owner.uuid(),
                        &filter.subject,
                        &filter.tag,
                        &filter.pinned,
                        &filter.archived,
                        &filter.trashed,
                        &filter.due_before.map(micros),
                        &filter.due_after.map(micros),
                        &cursor,
                        &after.map(|c| c.id.uuid()),
                        &i64::from(limit),
                    ],
                    decode,
                )
            })
            .await
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
        self.db
            .read_in_place(|conn| {
                direct::rows(
                    conn,
                    &SEARCH,
                    &[&matching, &owner.uuid(), &i64::from(limit)],
                    |row| {
                        Ok(SearchHit {
                            view: decode(row)?,
                            rank: row.get(19)?,
                            highlight: row.get(20)?,
                        })
                    },
                )
            })
            .await
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
        self.db
            .read_in_place(|conn| {
                direct::rows(
                    conn,
                    &sql::upcoming(),
                    &[&owner.uuid(), &i64::from(limit)],
                    decode,
                )
            })
            .await
    }

    async fn changes(
        &self,
        owner: UserId,
        since: Position,
        limit: u32,
    ) -> Result<ChangesPage, StoreError> {
        let (tx, seq) = (to_i64(since.tx())?, to_i64(since.seq())?);
        let views = self
            .db
            .read_in_place(|conn| {
                direct::rows(
                    conn,
                    &sql::changes(""),
                    &[&owner.uuid(), &tx, &seq, &i64::from(limit)],
                    decode,
                )
            })
            .await?;
        // One writer commits in feed order: nothing is ever held back.
        Ok(ChangesPage {
            views,
            held_back: false,
        })
    }

    async fn changes_now(&self) -> Result<Position, StoreError> {
        // One projector writes views in log order: its checkpoint is the end.
        self.checkpoint(crate::NOTE_VIEWS).await
    }

    async fn share_links(&self, owner: UserId, note: NoteId) -> Result<Vec<ShareLink>, StoreError> {
        let rows = sqlx::query(SHARE_LINKS)
            .bind(owner.uuid())
            .bind(note.uuid())
            .fetch_all(&mut *self.db.reader().await?)
            .await?;
        rows.iter().map(share_link_from_row).collect()
    }

    async fn shared_note(
        &self,
        share_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<NoteView>, StoreError> {
        self.db
            .read_in_place(|conn| {
                direct::first_row(
                    conn,
                    &sql::shared_note(),
                    &[&share_id, &micros(now)],
                    decode,
                )
            })
            .await
    }

    async fn document(&self, owner: UserId, id: Uuid) -> Result<Option<DocumentEntry>, StoreError> {
        let row = sqlx::query(&sql::document())
            .bind(id)
            .bind(owner.uuid())
            .fetch_optional(&mut *self.db.reader().await?)
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
            .fetch_all(&mut *self.db.reader().await?)
            .await?;
        rows.iter().map(document_from_row).collect()
    }

    async fn usage(&self, owner: UserId) -> Result<Usage, StoreError> {
        let row = sqlx::query(USAGE)
            .bind(owner.uuid())
            .fetch_one(&mut *self.db.reader().await?)
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
        .fetch_all(&mut *store.db.reader().await?)
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::migrations;
    use crate::test_views::view;
    use anote_store::db::SqliteDatabase;

    async fn apply(store: &SqliteReadStore, views: Vec<NoteView>) {
        let batch = ProjectionBatch {
            upserts: views,
            checkpoint: Position::new(0, 1),
            ..ProjectionBatch::default()
        };
        store.apply("p", &batch).await.expect("applies");
    }

    /// Checks that every view's rowid lies in its owner's range.
    async fn each_view_is_in_its_owners_range(db: &SqliteDatabase) {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT v.title, v.rowid >> 32, o.number FROM note_views v
             JOIN note_owners o ON o.owner_id = v.owner_id ORDER BY v.title",
        )
        .fetch_all(&mut *db.reader().await.expect("a reader"))
        .await
        .expect("reads");
        for (title, range, number) in rows {
            assert_eq!(range, number, "{title}");
        }
    }

    /// Read models in a temporary folder (kept while the first is held).
    async fn migrated() -> (tempfile::TempDir, SqliteDatabase, SqliteReadStore) {
        let dir = tempfile::tempdir().expect("a folder");
        let db = SqliteDatabase::open_rebuildable(&dir.path().join("r.db"))
            .await
            .expect("opens");
        db.migrate(migrations::sqlite()).await.expect("migrates");
        let store = SqliteReadStore::new(db.clone());
        (dir, db, store)
    }

    async fn search(store: &SqliteReadStore, owner: UserId, words: &str) -> Vec<SearchHit> {
        store.search(owner, words, 10).await.expect("searches")
    }

    #[tokio::test]
    async fn each_owners_notes_lie_in_their_own_range_and_searches_ask_for_it() {
        let (_dir, db, store) = migrated().await;
        let (ada, eve) = (UserId::new(), UserId::new());
        apply(
            &store,
            vec![view(ada, "a1"), view(eve, "e1"), view(ada, "a2")],
        )
        .await;
        apply(&store, vec![view(eve, "e2")]).await;
        each_view_is_in_its_owners_range(&db).await;
        let found = search(&store, ada, "convergence").await;
        let mut titles: Vec<&str> = found.iter().map(|h| h.view.title.as_str()).collect();
        titles.sort_unstable();
        assert_eq!(titles, ["a1", "a2"]);

        // The plan: the owner's number first, then the index with the
        // text and a rowid range (FTS5 writes them as M, > and <).
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", *SEARCH))
                .bind("\"convergence\"")
                .bind(ada.uuid())
                .bind(10_i64)
                .fetch_all(&mut *db.reader().await.expect("a reader"))
                .await
                .expect("explains");
        let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
        assert!(steps[0].starts_with("SEARCH o USING"), "{steps:?}");
        let index = steps[1]
            .strip_prefix("SCAN note_search VIRTUAL TABLE INDEX 0:")
            .unwrap_or_else(|| panic!("{steps:?}"));
        assert!(
            index.contains('M') && index.contains('>') && index.contains('<'),
            "{steps:?}"
        );
    }

    #[tokio::test]
    async fn views_stored_before_owners_had_ranges_move_into_them() {
        let dir = tempfile::tempdir().expect("a folder");
        let db = SqliteDatabase::open_rebuildable(&dir.path().join("r.db"))
            .await
            .expect("opens");
        let mut before = migrations::sqlite();
        before.migrations = Cow::Owned(
            before
                .migrations
                .iter()
                .filter(|m| m.version < 8)
                .cloned()
                .collect(),
        );
        db.migrate(before).await.expect("migrates to 7");
        let (ada, eve) = (UserId::new(), UserId::new());
        for (owner, title) in [(ada, "a1"), (eve, "e1"), (ada, "a2")] {
            sqlx::query(
                "INSERT INTO note_views (id, owner_id, title, body, snippet, tags, pinned,
                     archived, trashed, purged, done, version, created_at, updated_at)
                 VALUES ($1, $2, $3, 'chapter on convergence', '', '[]', 0, 0, 0, 0, 0, 1, 0, 0)",
            )
            .bind(NoteId::new().uuid())
            .bind(owner.uuid())
            .bind(title)
            .execute(&mut *db.writer().await.expect("the writer"))
            .await
            .expect("stores an old view");
        }
        db.migrate(migrations::sqlite()).await.expect("migrates");
        let store = SqliteReadStore::new(db.clone());
        apply(&store, vec![view(ada, "a3")]).await;
        each_view_is_in_its_owners_range(&db).await;
        assert_eq!(search(&store, ada, "convergence").await.len(), 3);
        assert_eq!(search(&store, eve, "chapter").await.len(), 1);
    }

    #[tokio::test]
    async fn the_projector_does_not_wait_for_the_readers() {
        let (_dir, db, store) = migrated().await;
        let first = view(UserId::new(), "a1");
        apply(&store, vec![first.clone()]).await;
        // Client reads hold every read connection.
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(db.reader().await.expect("a reader"));
        }
        let projecting = async {
            let stored = store.views(&[first.id]).await.expect("reads the views");
            let mut next = stored[0].clone();
            next.version = 2;
            apply(&store, vec![next]).await;
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), projecting)
            .await
            .expect("the projector goes on while the readers are busy");
        drop(held);
        let found = store.views(&[first.id]).await.expect("reads");
        assert_eq!(found[0].version, 2);
    }
}
