//! Anote's read models: note views per owner, written by projectors in
//! batches with their checkpoint, read by the query API.
//!
//! # Layout
//! - this file: the port and the rows it deals in: [`ProjectionStore`]
//!   (what the projector writes), [`NoteReads`] (what the query API reads),
//!   both on [`ReadModels`] (checkpoints, health); [`ReadStore`] is both.
//! - `postgres`, `sqlite`: the port on each backend (their SQL differs in
//!   full-text search, lists of ids, tags and in how a batch is locked).
//! - `sql`: the statements that are the same on both.
//! - `postgres_switch`, `switchable`: blue/green builds that a running
//!   service switches between.
//! - [`builds`]: where the read models live (PostgreSQL, or one SQLite file
//!   per build in the embedded data folder).
//! - [`migrations`]: the read models' tables, per backend.

pub mod builds;
pub mod migrations;
mod postgres;
mod postgres_switch;
mod sql;
mod sqlite;
mod switchable;
#[cfg(test)]
mod test_views;

use anote_domain::document::DocumentStatus;
use anote_domain::{NoteId, StreamId, UserId};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use anote_store::db::{from_i64, from_micros, Time};
use anote_store::error::StoreError;
use anote_store::event_store::Position;

/// The checkpoint name of the note views' projector: what
/// `Anote-Min-Position` waits for.
pub const NOTE_VIEWS: &str = "note_views";

/// The columns of a note view, in the order both backends decode them.
const NOTE_COLUMNS: &str = "id, owner_id, title, body, snippet, subject, tags, pinned, archived,
    trashed, purged, due_at, done, version, created_at, updated_at, changed_tx, changed_seq,
    documents";

/// The columns of a document entry, in the order both backends decode them.
const DOCUMENT_COLUMNS: &str = "d.document_id, d.note_id, n.title AS note_title, d.file_name,
    d.content_type, d.size, d.status, d.submitted_at, n.trashed AS note_trashed, d.sha256";

/// The note-view columns qualified by a table alias, for joins.
fn qualified_columns(alias: &str) -> String {
    NOTE_COLUMNS
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub use postgres::{listen_applied, PgReadStore};
pub use postgres_switch::{drop_schema, RebuildLock, SwitchLock};
pub use sqlite::SqliteReadStore;
pub use switchable::{SwitchGuard, SwitchableReads};

/// A note as the query API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteView {
    /// The note.
    pub id: NoteId,
    /// Its owner.
    pub owner: UserId,
    /// Its title.
    pub title: String,
    /// Its Markdown body.
    pub body: String,
    /// The start of the body as plain text, for lists.
    pub snippet: String,
    /// Its subject.
    pub subject: Option<String>,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// Pinned to the top.
    pub pinned: bool,
    /// In the archive.
    pub archived: bool,
    /// In the trash.
    pub trashed: bool,
    /// Purged: a tombstone whose content was cleared.
    pub purged: bool,
    /// The due date of an assignment.
    pub due_at: Option<OffsetDateTime>,
    /// Whether the assignment is done.
    pub done: bool,
    /// The version of the last event applied.
    pub version: u64,
    /// When the note was created.
    pub created_at: OffsetDateTime,
    /// When its last event was recorded.
    pub updated_at: OffsetDateTime,
    /// Where the view is in the changes feed, set when it is stored: the
    /// log position of its last event on SQLite (one projector writes, in
    /// log order); on PostgreSQL the read-model transaction that stored it
    /// and its place in it, because projectors of different shards commit
    /// out of log order (see [`NoteReads::changes`]).
    pub changed: Position,
    /// Its documents, pending and attached, in the order they were added.
    pub documents: Vec<DocumentView>,
}

impl NoteView {
    /// The view without its place in the changes feed, which depends on
    /// when and by which transaction it was stored: for comparing read
    /// models built apart (live and rebuilt) by their content.
    pub fn content(mut self) -> Self {
        self.changed = Position::START;
        self
    }
}

/// A page of the changes feed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangesPage {
    /// The changed notes, in feed order.
    pub views: Vec<NoteView>,
    /// A change after them is stored but waits for a transaction that began
    /// before it to end (PostgreSQL): asking again shortly lists it.
    pub held_back: bool,
}

/// A document as a note view lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentView {
    /// The document.
    pub id: Uuid,
    /// Its (sanitised) file name.
    pub file_name: String,
    /// Its media type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Pending (not uploaded and checked yet) or attached.
    pub status: DocumentStatus,
    /// When it was handed in, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    /// The SHA-256 of its bytes in hexadecimal, once attached (absent for
    /// documents attached before digests were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A document with the note it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentEntry {
    /// The note.
    pub note_id: NoteId,
    /// The note's title.
    pub note_title: String,
    /// Whether the note is in the trash.
    pub note_trashed: bool,
    /// The document.
    pub document: DocumentView,
}

/// How much a user stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Pending and attached documents.
    pub documents: u64,
    /// Their declared bytes.
    pub bytes: u64,
}

/// A view's documents read back from their stored form.
fn documents_from_json(json: &str) -> Result<Vec<DocumentView>, StoreError> {
    serde_json::from_str(json).map_err(StoreError::corrupt)
}

/// A document status as stored in the document table.
fn status_name(status: DocumentStatus) -> &'static str {
    match status {
        DocumentStatus::Pending => "pending",
        DocumentStatus::Attached => "attached",
    }
}

/// A document status read back from the document table.
fn status_from_name(name: &str) -> Result<DocumentStatus, StoreError> {
    match name {
        "pending" => Ok(DocumentStatus::Pending),
        "attached" => Ok(DocumentStatus::Attached),
        other => Err(StoreError::corrupt(format!("document status {other}"))),
    }
}

/// A live share link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareLink {
    /// The link's id.
    pub id: Uuid,
    /// The shared note.
    pub note_id: NoteId,
    /// The note's owner.
    pub owner: UserId,
    /// When the link stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was opened.
    pub created_at: OffsetDateTime,
}

/// A change to the share links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareChange {
    /// A link was opened.
    Opened(ShareLink),
    /// A link was closed.
    Revoked(Uuid),
}

/// Read-model changes and the log position they bring a projector to; applied
/// in one transaction.
#[derive(Clone, Debug, Default)]
pub struct ProjectionBatch {
    /// Views to insert or replace.
    pub upserts: Vec<NoteView>,
    /// Share-link changes, in order.
    pub shares: Vec<ShareChange>,
    /// Users whose accounts were deleted: every view of theirs becomes a
    /// tombstone without content, their documents and share links go.
    /// Applied after the upserts.
    pub erased_owners: Vec<UserId>,
    /// The position of the last event the batch covers.
    pub checkpoint: Position,
    /// The generation of the read models the batch was computed from (see
    /// [`ReadStore::generation`]): if they were switched since, the batch is
    /// refused with [`StoreError::Switched`]. `None` for a build that is not
    /// live yet.
    pub generation: Option<u64>,
    /// Streams to set aside, with why (see [`ParkedStream`]).
    pub parked: Vec<ParkedStream>,
    /// Streams no longer set aside: their views are projected again.
    pub unparked: Vec<String>,
    /// For a batch read from a Kinesis shard: the shard's progress, written
    /// only while this projector still holds the shard's lease. The
    /// projector's checkpoint then becomes the lowest watermark of the
    /// stream's unfinished shards instead of `checkpoint`.
    pub shard: Option<ShardProgress>,
}

/// A stream the projector set aside because one of its events keeps failing;
/// its later events are skipped until an operator retries it, while every
/// other stream goes on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParkedStream {
    /// The stream, such as `note-<uuid>`.
    pub stream_id: String,
    /// The log position of the event that failed.
    pub position: Position,
    /// That event's version in its stream.
    pub stream_version: u64,
    /// What went wrong, for the operator.
    pub error: String,
    /// When it was set aside.
    #[serde(with = "time::serde::rfc3339")]
    pub parked_at: OffsetDateTime,
}

impl ParkedStream {
    /// The most characters of an error kept with a parked stream.
    const MAX_ERROR: usize = 1_000;

    /// Parks `stream` at the event at `position` and `stream_version`
    /// because of `error`: the error's text is kept to one line of printable
    /// characters, at most 1,000 of them.
    pub fn new(
        stream: &StreamId,
        position: Position,
        stream_version: u64,
        error: &dyn std::fmt::Display,
    ) -> Self {
        let text = error.to_string().chars().take(Self::MAX_ERROR).collect();
        Self {
            stream_id: stream.to_string(),
            position,
            stream_version,
            error: anote_domain::text::repair(text, anote_domain::text::Lines::One),
            parked_at: OffsetDateTime::now_utc(),
        }
    }
}

/// A parked stream read back from either backend's `parked_streams` row.
fn parked_from_row<R: sqlx::Row>(row: &R) -> Result<ParkedStream, StoreError>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    Ok(ParkedStream {
        stream_id: row.try_get("stream_id")?,
        position: Position::new(
            from_i64(row.try_get("tx")?)?,
            from_i64(row.try_get("seq")?)?,
        ),
        stream_version: from_i64(row.try_get("stream_version")?)?,
        error: row.try_get("error")?,
        parked_at: from_micros(row.try_get("parked_at")?)?,
    })
}

/// A document entry read back from either backend's row (the columns of
/// `DOCUMENT_COLUMNS`).
fn document_from_row<R: sqlx::Row>(row: &R) -> Result<DocumentEntry, StoreError>
where
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Time: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    Ok(DocumentEntry {
        note_id: NoteId::from_uuid(row.try_get("note_id")?),
        note_title: row.try_get("note_title")?,
        note_trashed: row.try_get("note_trashed")?,
        document: DocumentView {
            id: row.try_get("document_id")?,
            file_name: row.try_get("file_name")?,
            content_type: row.try_get("content_type")?,
            size: from_i64(row.try_get("size")?)?,
            status: status_from_name(&row.try_get::<String, _>("status")?)?,
            submitted_at: row.try_get::<Option<Time>, _>("submitted_at")?.map(|t| t.0),
            sha256: row.try_get("sha256")?,
        },
    })
}

/// A share link read back from either backend's `share_links` row.
fn share_link_from_row<R: sqlx::Row>(row: &R) -> Result<ShareLink, StoreError>
where
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Time: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    Ok(ShareLink {
        id: row.try_get("id")?,
        note_id: NoteId::from_uuid(row.try_get("note_id")?),
        owner: UserId::from_uuid(row.try_get("owner_id")?),
        expires_at: row.try_get::<Option<Time>, _>("expires_at")?.map(|t| t.0),
        created_at: row.try_get::<Time, _>("created_at")?.0,
    })
}

/// How far a projector got in one Kinesis shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardProgress {
    /// The Kinesis stream.
    pub stream: String,
    /// The shard.
    pub shard_id: String,
    /// The lease holder writing it.
    pub owner: String,
    /// The sequence number of the last record applied, if any was.
    pub sequence: Option<String>,
    /// Set when the shard had nothing more to give: every event the relay
    /// had published up to this position (read before the shard was read)
    /// is applied.
    pub caught_up_to: Option<Position>,
    /// The shard was closed and is fully read.
    pub finished: bool,
}

/// What one applied batch changed, announced to readers so they can drop
/// cached answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The projector's checkpoint after the batch.
    pub checkpoint: Position,
    /// The owners whose notes changed; `None` means "anyone" (too many to list).
    pub owners: Option<Vec<UserId>>,
}

impl Applied {
    /// The most owners a notice lists before it says "anyone" (PostgreSQL
    /// notifications carry at most 8,000 bytes).
    pub const MAX_OWNERS: usize = 150;

    /// The notice for a batch.
    pub fn of(batch: &ProjectionBatch) -> Self {
        let mut owners: Vec<UserId> = batch.upserts.iter().map(|v| v.owner).collect();
        owners.extend(batch.erased_owners.iter().copied());
        owners.sort();
        owners.dedup();
        Self {
            checkpoint: batch.checkpoint,
            owners: (owners.len() <= Self::MAX_OWNERS).then_some(owners),
        }
    }

    /// Whether the notice concerns this owner.
    pub fn touches(&self, owner: UserId) -> bool {
        self.owners
            .as_ref()
            .is_none_or(|o| o.binary_search(&owner).is_ok())
    }
}

/// Which notes a list shows. `None` means "either".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoteFilter {
    /// Only this subject.
    pub subject: Option<String>,
    /// Only notes with this tag.
    pub tag: Option<String>,
    /// Only pinned (or unpinned) notes.
    pub pinned: Option<bool>,
    /// Only archived (or unarchived) notes.
    pub archived: Option<bool>,
    /// Only trashed (or untrashed) notes.
    pub trashed: Option<bool>,
    /// Only notes due before this instant.
    pub due_before: Option<OffsetDateTime>,
    /// Only notes due after this instant.
    pub due_after: Option<OffsetDateTime>,
    /// The order.
    pub sort: NoteSort,
}

/// The order of a list of notes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoteSort {
    /// Most recently changed first.
    #[default]
    Updated,
    /// Most recently created first.
    Created,
    /// By title, A to Z (ignoring the case of ASCII letters).
    Title,
    /// Soonest due first; only notes with a due date.
    Due,
}

impl NoteSort {
    fn name(self) -> &'static str {
        match self {
            Self::Updated => "updated",
            Self::Created => "created",
            Self::Title => "title",
            Self::Due => "due",
        }
    }

    /// The key of a view in this order.
    fn key(self, view: &NoteView) -> SortKey {
        match self {
            Self::Updated => SortKey::Time(view.updated_at),
            Self::Created => SortKey::Time(view.created_at),
            Self::Title => SortKey::Text(view.title.to_ascii_lowercase()),
            Self::Due => SortKey::Time(view.due_at.unwrap_or(OffsetDateTime::UNIX_EPOCH)),
        }
    }
}

/// The value a list is ordered by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// A time (updated, created, due).
    Time(OffsetDateTime),
    /// A title with its ASCII letters lower-cased.
    Text(String),
}

/// Where a page of a list starts: after the note with this key and id, in
/// the order the cursor was made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListCursor {
    /// The order of the list.
    pub sort: NoteSort,
    /// The last note's key in that order.
    pub key: SortKey,
    /// The last note's id.
    pub id: NoteId,
}

impl ListCursor {
    /// The cursor after this view in this order.
    pub fn after(view: &NoteView, sort: NoteSort) -> Self {
        Self {
            sort,
            key: sort.key(view),
            id: view.id,
        }
    }

    /// The opaque text form given to clients.
    pub fn encode(&self) -> String {
        let key = match &self.key {
            SortKey::Time(t) => (t.unix_timestamp_nanos() / 1_000).to_string(),
            SortKey::Text(text) => text.clone(),
        };
        URL_SAFE_NO_PAD.encode(format!("{}|{}|{key}", self.sort.name(), self.id))
    }

    /// Parses what `encode` gave out.
    pub fn decode(text: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let mut parts = raw.splitn(3, '|');
        let sort = match parts.next()? {
            "updated" => NoteSort::Updated,
            "created" => NoteSort::Created,
            "title" => NoteSort::Title,
            "due" => NoteSort::Due,
            _ => return None,
        };
        let id = NoteId::from_uuid(Uuid::parse_str(parts.next()?).ok()?);
        let key = parts.next()?;
        // Keys are titles or numbers: nothing a store could refuse.
        anote_domain::text::check("cursor", key, anote_domain::text::Lines::One).ok()?;
        let key = if sort == NoteSort::Title {
            SortKey::Text(key.to_owned())
        } else {
            let nanos = key.parse::<i128>().ok()?.checked_mul(1_000)?;
            SortKey::Time(OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?)
        };
        Some(Self { sort, key, id })
    }
}

/// A note found by a search.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    /// The note.
    pub view: NoteView,
    /// How well it matches; higher is better (comparable within one search).
    pub rank: f64,
    /// Fragments of the body with the matched words between `<mark>` and
    /// `</mark>`; the rest is the note's text as written.
    pub highlight: String,
}

/// A name (subject or tag) and how many of the owner's notes carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    /// The subject or tag.
    pub name: String,
    /// Live, untrashed notes that carry it.
    pub notes: u64,
}

/// The words of a search, each quoted for an FTS5 query (all must match);
/// `None` when there is no word at all.
pub fn fts5_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// What every side of the read models shares: the projectors' checkpoints,
/// the database's health, a clean shutdown.
#[async_trait]
pub trait ReadModels: Send + Sync {
    /// How far the named projector has applied the log.
    async fn checkpoint(&self, projector: &str) -> Result<Position, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Leaves the database's files clean at shutdown: an embedded database
    /// empties its write-ahead log into the database file.
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// What a projector writes, and reads back to write: note views in
/// batches with its checkpoint, and the streams it parked.
#[async_trait]
pub trait ProjectionStore: ReadModels {
    /// The stored views of these notes (purged ones included), for a projector.
    async fn views(&self, ids: &[NoteId]) -> Result<Vec<NoteView>, StoreError>;

    /// Which build of the read models this is; it changes when `anote replay`
    /// switches to a new one (a PostgreSQL schema counts its builds; a
    /// SQLite file is always 0 and [`SwitchableReads`] counts its own).
    async fn generation(&self) -> Result<u64, StoreError>;

    /// Applies a batch and moves the projector's checkpoint (never back),
    /// atomically, unless the read models were switched since the batch's
    /// generation.
    async fn apply(&self, projector: &str, batch: &ProjectionBatch) -> Result<(), StoreError>;

    /// The parked streams, oldest first; only those among `streams` when
    /// given.
    async fn parked(&self, streams: Option<&[String]>) -> Result<Vec<ParkedStream>, StoreError>;
}

/// What the query API reads: one owner's notes, lists, links and
/// documents, and the public view behind a share link.
#[async_trait]
pub trait NoteReads: ReadModels {
    /// One live (not purged) note of this owner.
    async fn note(&self, owner: UserId, id: NoteId) -> Result<Option<NoteView>, StoreError>;

    /// A page of the owner's live notes in the filter's order.
    async fn list(
        &self,
        owner: UserId,
        filter: &NoteFilter,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<NoteView>, StoreError>;

    /// The owner's live, untrashed notes matching `query` (every word), best
    /// first.
    async fn search(
        &self,
        owner: UserId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// The owner's subjects with their note counts, by name.
    async fn subjects(&self, owner: UserId) -> Result<Vec<Count>, StoreError>;

    /// The owner's tags with their note counts, by name.
    async fn tags(&self, owner: UserId) -> Result<Vec<Count>, StoreError>;

    /// The owner's assignments that are due and not done (not trashed, not
    /// archived), soonest first.
    async fn upcoming(&self, owner: UserId, limit: u32) -> Result<Vec<NoteView>, StoreError>;

    /// The owner's notes (purged tombstones included) changed after
    /// cursor `since`, in the order of their last change. A change is
    /// listed only once no change before it can still be committed, so a
    /// client that goes on from the last one it got never skips one; the
    /// page says when a stored change was held back for that reason.
    async fn changes(
        &self,
        owner: UserId,
        since: Position,
        limit: u32,
    ) -> Result<ChangesPage, StoreError>;

    /// The cursor of the changes feed's end now: every change after it is
    /// still to be listed (a device that has just read its notes starts here).
    async fn changes_now(&self) -> Result<Position, StoreError>;

    /// The live share links of the owner's note, oldest first.
    async fn share_links(&self, owner: UserId, note: NoteId) -> Result<Vec<ShareLink>, StoreError>;

    /// The note behind a live, unexpired share link, unless it is trashed or
    /// purged.
    async fn shared_note(
        &self,
        share_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<NoteView>, StoreError>;

    /// One document of the owner's live (not purged) notes.
    async fn document(&self, owner: UserId, id: Uuid) -> Result<Option<DocumentEntry>, StoreError>;

    /// A page of the owner's documents, by id, after `after`.
    async fn documents(
        &self,
        owner: UserId,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DocumentEntry>, StoreError>;

    /// How much the owner stores.
    async fn usage(&self, owner: UserId) -> Result<Usage, StoreError>;
}

/// Both sides of the read models: what each backend implements, and what a
/// process that projects and serves holds. The projector takes it as a
/// [`ProjectionStore`], the query API as [`NoteReads`].
pub trait ReadStore: ProjectionStore + NoteReads {}

impl<T: ProjectionStore + NoteReads + ?Sized> ReadStore for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_are_quoted_and_operators_ignored() {
        assert_eq!(
            fts5_query("limits OR \"series*"),
            Some("\"limits\" \"OR\" \"series\"".to_owned())
        );
        assert_eq!(fts5_query("  -- ** "), None);
        assert_eq!(
            fts5_query("Ableitung über"),
            Some("\"Ableitung\" \"über\"".to_owned())
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let time = ListCursor {
            sort: NoteSort::Due,
            key: SortKey::Time(time::macros::datetime!(2026-11-26 10:00:00.123456 UTC)),
            id: NoteId::new(),
        };
        assert_eq!(ListCursor::decode(&time.encode()), Some(time));
        let text = ListCursor {
            sort: NoteSort::Title,
            key: SortKey::Text("a|b: ü".into()),
            id: NoteId::new(),
        };
        assert_eq!(ListCursor::decode(&text.encode()), Some(text));
        assert_eq!(ListCursor::decode("not a cursor"), None);
        let nul = URL_SAFE_NO_PAD.encode(format!("title|{}|a\u{0}b", NoteId::new()));
        assert_eq!(ListCursor::decode(&nul), None);
        assert_eq!(
            ListCursor::decode(&URL_SAFE_NO_PAD.encode("updated|zz|12")),
            None
        );
    }
}
