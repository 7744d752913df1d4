//! The event log's statements that are the same on both backends (sqlx
//! binds `$1…` on SQLite too). What differs stays with each backend: how
//! events are inserted and sealed, positions (PostgreSQL orders by the
//! writing transaction's xid8), and the account lock of a new note key.

/// The events of a stream after a version, in order, following the
/// backend's `SELECT_EVENT`: `$1` stream, `$2` version.
pub(super) const STREAM_EVENTS: &str =
    "WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version";

/// Whether an account is open (it has credentials): `$1` user.
pub(super) const ACCOUNT_OPEN: &str =
    "SELECT EXISTS (SELECT 1 FROM credentials WHERE user_id = $1)";

/// Claims a username: `$1` username, `$2` user.
pub(super) const CLAIM_USERNAME: &str = "INSERT INTO usernames (username, user_id) VALUES ($1, $2)";

/// Frees a user's username: `$1` user.
pub(super) const RELEASE_USERNAME: &str = "DELETE FROM usernames WHERE user_id = $1";

/// Stores or replaces a password hash: `$1` user, `$2` PHC string.
pub(super) const SET_PASSWORD_HASH: &str = "
INSERT INTO credentials (user_id, password_hash) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash";

/// Forgets a password hash: `$1` user.
pub(super) const DELETE_CREDENTIALS: &str = "DELETE FROM credentials WHERE user_id = $1";

/// Stores an account's data key: `$1` user, `$2` key.
pub(super) const CREATE_USER_KEY: &str = "INSERT INTO user_keys (user_id, key) VALUES ($1, $2)";

/// Destroys an account's data key: `$1` user.
pub(super) const DESTROY_USER_KEY: &str = "DELETE FROM user_keys WHERE user_id = $1";

/// Destroys a note's data key: `$1` note.
pub(super) const DESTROY_NOTE_KEY: &str = "DELETE FROM note_keys WHERE note_id = $1";

/// Destroys the data keys of a user's notes: `$1` owner.
pub(super) const DESTROY_OWNER_KEYS: &str = "DELETE FROM note_keys WHERE owner_id = $1";

/// An account's data key: `$1` user.
pub(super) const USER_KEY: &str = "SELECT key FROM user_keys WHERE user_id = $1";

/// A remembered reply: `$1` user, `$2` idempotency key.
pub(super) const FIND_REPLY: &str =
    "SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// The global sequence number of the newest event (0 for an empty log).
pub(super) const NEWEST: &str = "SELECT COALESCE(max(position), 0) FROM events";

/// The last event written before seals existed, if recorded.
pub(super) const UNSEALED_THROUGH: &str = "SELECT max(unsealed_through) FROM sealing_start";

/// Whether the database answers.
pub(super) const PING: &str = "SELECT 1";
