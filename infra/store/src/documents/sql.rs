//! The ledger statements that are the same on both backends (sqlx binds
//! `$1…` on SQLite too; times are bound as [`crate::db::Time`]). Reserving
//! and releasing differ: PostgreSQL does each in one statement, locking the
//! owner's usage row; SQLite, with one writer, in several.

/// Entries in a state whose `abandon_after` has passed, oldest first: `$1`
/// state, `$2` now, `$3` limit.
pub(super) const PAST_DUE: &str = "
SELECT document_id, note_id, owner_id, multipart_upload FROM document_objects
WHERE state = $1 AND abandon_after < $2 ORDER BY abandon_after LIMIT $3";

/// Marks a pending document attached: `$1` document.
pub(super) const ATTACH: &str =
    "UPDATE document_objects SET state = 'attached' WHERE document_id = $1 AND state = 'pending'";

/// Releases every document of an owner: `$1` owner.
pub(super) const RELEASE_OWNER: &str =
    "UPDATE document_objects SET state = 'released' WHERE owner_id = $1 AND state <> 'released'";

/// Forgets an owner's usage: `$1` owner.
pub(super) const FORGET_USAGE: &str = "DELETE FROM document_usage WHERE owner_id = $1";

/// Forgets a released document: `$1` document.
pub(super) const FORGET: &str =
    "DELETE FROM document_objects WHERE document_id = $1 AND state = 'released'";

/// The bytes an owner holds: `$1` owner.
pub(super) const USAGE: &str = "SELECT bytes FROM document_usage WHERE owner_id = $1";
