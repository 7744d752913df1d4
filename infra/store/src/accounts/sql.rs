//! The accounts statements that are the same on both backends (sqlx binds
//! `$1…` on SQLite too; times are bound as [`crate::db::Time`]).

/// The credentials of a (folded) username: `$1` username.
pub(super) const CREDENTIALS_BY_USERNAME: &str = "
SELECT c.user_id, c.password_hash FROM usernames u
JOIN credentials c ON c.user_id = u.user_id WHERE u.username = $1";

/// The credentials of an account: `$1` user.
pub(super) const CREDENTIALS_BY_USER: &str =
    "SELECT user_id, password_hash FROM credentials WHERE user_id = $1";

/// Stores a session: `$1` id, `$2` user, `$3` refresh hash, `$4` created,
/// `$5` expires.
pub(super) const CREATE_SESSION: &str = "
INSERT INTO sessions (id, user_id, refresh_hash, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5)";

/// Swaps a live refresh token: `$1` old hash, `$2` new hash, `$3` now, `$4`
/// new expiry.
pub(super) const ROTATE_REFRESH: &str = "
UPDATE sessions SET refresh_hash = $2, expires_at = $4
WHERE refresh_hash = $1 AND revoked_at IS NULL AND expires_at > $3
RETURNING id, user_id";

/// Revokes one session of a user: `$1` session, `$2` user, `$3` now.
pub(super) const REVOKE_SESSION: &str = "
UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL";

/// Counts a login attempt unless the window's limit is reached, starting a
/// new window when the last one is over: `$1` key, `$2` now, `$3` the start
/// of the oldest window still running, `$4` limit. Returns the window's
/// start, or no row when refused.
pub(super) const RESERVE_LOGIN_ATTEMPT: &str = "
INSERT INTO login_attempts AS a (key, window_start, attempts) VALUES ($1, $2, 1)
ON CONFLICT (key) DO UPDATE SET
    window_start = CASE WHEN a.window_start <= $3
                        THEN excluded.window_start ELSE a.window_start END,
    attempts = CASE WHEN a.window_start <= $3 THEN 1 ELSE a.attempts + 1 END
WHERE a.window_start <= $3 OR a.attempts < $4
RETURNING window_start";

/// When the current window of a key started: `$1` key.
pub(super) const LOGIN_WINDOW: &str = "SELECT window_start FROM login_attempts WHERE key = $1";

/// Uncounts an attempt of a window still running: `$1` key, `$2` window start.
pub(super) const RELEASE_LOGIN_ATTEMPT: &str = "
UPDATE login_attempts SET attempts = attempts - 1
WHERE key = $1 AND window_start = $2 AND attempts > 0";

/// Forgets windows that started before `$1`.
pub(super) const FORGET_LOGIN_ATTEMPTS: &str = "DELETE FROM login_attempts WHERE window_start < $1";

/// The revocations in force: `$1` now, `$2` one user or NULL for all.
pub(super) const TOKEN_REVOCATIONS: &str = "
SELECT user_id, session_id, expires_at FROM token_revocations
WHERE expires_at > $1 AND ($2 IS NULL OR user_id = $2)";

/// Refuses access tokens until a time: `$1` user, `$2` session or NULL for
/// the whole account, `$3` until.
pub(crate) const REVOKE_TOKENS: &str =
    "INSERT INTO token_revocations (user_id, session_id, expires_at) VALUES ($1, $2, $3)";
