-- Login attempts per key (a keyed digest of the username or the client
-- address): reserved before a password is checked.
CREATE TABLE login_attempts (
    key          BLOB PRIMARY KEY,
    window_start INTEGER NOT NULL, -- microseconds since the Unix epoch
    attempts     INTEGER NOT NULL CHECK (attempts >= 0)
);
CREATE INDEX login_attempts_window ON login_attempts (window_start);

-- Access tokens refused before they expire: a revoked session's
-- (session_id set), or every token of a deleted account (session_id NULL).
CREATE TABLE token_revocations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BLOB NOT NULL,
    session_id BLOB,
    expires_at INTEGER NOT NULL -- microseconds since the Unix epoch
);
CREATE INDEX token_revocations_user ON token_revocations (user_id);
CREATE INDEX token_revocations_expiry ON token_revocations (expires_at);

-- Each account's data key (crypto-shredding of its personal fields),
-- deleted in the account deletion's transaction.
CREATE TABLE user_keys (
    user_id BLOB PRIMARY KEY,
    key     BLOB NOT NULL
);
