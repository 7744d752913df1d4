//! The read-model statements that are the same on both backends (sqlx binds
//! `$1…` on SQLite too; times are bound as [`anote_store::db::Time`], JSON
//! as [`sqlx::types::Json`]). What differs stays with each backend, saying
//! why: lists of ids (PostgreSQL binds arrays, SQLite goes one by one or
//! through `json_each`), tags (`text[]` or a JSON array), full-text search,
//! the title order and the batch's lock.

use crate::{qualified_columns, DOCUMENT_COLUMNS, NOTE_COLUMNS};

/// A projector's checkpoint: `$1` projector.
pub(crate) const CHECKPOINT: &str = "SELECT tx, seq FROM projector_checkpoints WHERE name = $1";

/// Moves a projector's checkpoint, never back: `$1` projector, `$2` tx,
/// `$3` seq.
pub(crate) const SAVE_CHECKPOINT: &str = "
INSERT INTO projector_checkpoints (name, tx, seq) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, seq = excluded.seq
WHERE (projector_checkpoints.tx, projector_checkpoints.seq) < (excluded.tx, excluded.seq)";

/// Stores a note view unless a newer version is stored: the columns of
/// `NOTE_COLUMNS` in order, `$1` to `$19`. Returns the id when stored.
pub(crate) const UPSERT_VIEW: &str = include_str!("sql/upsert_view.sql");

/// Stores a document row of a view: `$1` document, `$2` note, `$3` owner,
/// `$4` file name, `$5` media type, `$6` size, `$7` status, `$8` handed in,
/// `$9` SHA-256.
pub(crate) const INSERT_DOCUMENT: &str = "
INSERT INTO document_views (document_id, note_id, owner_id, file_name,
    content_type, size, status, submitted_at, sha256)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Opens a share link (again: a replayed event changes nothing): `$1` id,
/// `$2` note, `$3` owner, `$4` expires, `$5` created.
pub(crate) const OPEN_SHARE: &str = "
INSERT INTO share_links (id, note_id, owner_id, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING";

/// Closes a share link: `$1` id.
pub(crate) const REVOKE_SHARE: &str = "DELETE FROM share_links WHERE id = $1";

/// Parks a stream, or records its newest failure: `$1` stream, `$2` tx,
/// `$3` seq, `$4` stream version, `$5` error, `$6` when (microseconds on
/// both backends).
pub(crate) const PARK: &str = "
INSERT INTO parked_streams (stream_id, tx, seq, stream_version, error, parked_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (stream_id) DO UPDATE SET tx = excluded.tx, seq = excluded.seq,
    stream_version = excluded.stream_version, error = excluded.error,
    parked_at = excluded.parked_at";

/// An owner's subjects with their note counts: `$1` owner.
pub(crate) const SUBJECTS: &str = "
SELECT subject AS name, count(*) AS notes FROM note_views
WHERE owner_id = $1 AND NOT purged AND NOT trashed AND subject IS NOT NULL
GROUP BY subject ORDER BY subject";

/// The live share links of a note: `$1` owner, `$2` note.
pub(crate) const SHARE_LINKS: &str = "
SELECT id, note_id, owner_id, expires_at, created_at FROM share_links
WHERE owner_id = $1 AND note_id = $2 ORDER BY created_at, id";

/// How much an owner stores: `$1` owner.
pub(crate) const USAGE: &str = "
SELECT COUNT(*) AS documents, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes
FROM document_views WHERE owner_id = $1";

/// Whether the database answers.
pub(crate) const PING: &str = "SELECT 1";

/// One live note of an owner: `$1` note, `$2` owner.
pub(crate) fn note() -> String {
    format!("SELECT {NOTE_COLUMNS} FROM note_views WHERE id = $1 AND owner_id = $2 AND NOT purged")
}

/// An owner's assignments due and not done, soonest first: `$1` owner, `$2`
/// limit.
pub(crate) fn upcoming() -> String {
    format!(
        "SELECT {NOTE_COLUMNS} FROM note_views
         WHERE owner_id = $1 AND due_at IS NOT NULL AND NOT done
           AND NOT purged AND NOT trashed AND NOT archived
         ORDER BY due_at, id LIMIT $2"
    )
}

/// An owner's notes changed after a cursor: `$1` owner, `$2` tx, `$3`
/// seq, `$4` limit; `extra` adds the backend's columns (PostgreSQL: the
/// horizon of what may be listed; none on SQLite, where one writer commits
/// in feed order).
pub(crate) fn changes(extra: &str) -> String {
    format!(
        "SELECT {NOTE_COLUMNS}{extra} FROM note_views
         WHERE owner_id = $1 AND (changed_tx, changed_seq) > ($2, $3)
         ORDER BY changed_tx, changed_seq LIMIT $4"
    )
}

/// The note behind a live share link: `$1` link, `$2` now.
pub(crate) fn shared_note() -> String {
    let columns = qualified_columns("v");
    format!(
        "SELECT {columns} FROM share_links s JOIN note_views v ON v.id = s.note_id
         WHERE s.id = $1 AND (s.expires_at IS NULL OR s.expires_at > $2)
           AND NOT v.purged AND NOT v.trashed"
    )
}

/// One document of an owner's live notes: `$1` document, `$2` owner.
pub(crate) fn document() -> String {
    format!(
        "SELECT {DOCUMENT_COLUMNS} FROM document_views d JOIN note_views n ON n.id = d.note_id
         WHERE d.document_id = $1 AND d.owner_id = $2 AND NOT n.purged"
    )
}

/// A page of an owner's documents: `$1` owner, `$2` after this document or
/// NULL, `$3` limit.
pub(crate) fn documents() -> String {
    format!(
        "SELECT {DOCUMENT_COLUMNS} FROM document_views d JOIN note_views n ON n.id = d.note_id
         WHERE d.owner_id = $1 AND NOT n.purged AND ($2 IS NULL OR d.document_id > $2)
         ORDER BY d.document_id LIMIT $3"
    )
}

#[cfg(test)]
mod tests {
    use super::{NOTE_COLUMNS, UPSERT_VIEW};

    #[test]
    fn the_upsert_stores_the_columns_views_are_read_with() {
        let words = |sql: &str| sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let columns = format!("INSERT INTO note_views ({})", words(NOTE_COLUMNS));
        assert!(words(UPSERT_VIEW).starts_with(&columns));
    }
}
