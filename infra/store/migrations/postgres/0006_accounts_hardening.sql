-- Login attempts per key (a keyed digest of the username or the client
-- address): reserved before a password is checked, so every instance
-- shares one count of the attempts checked or in flight in the window.
CREATE TABLE login_attempts (
    key          bytea PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     integer NOT NULL CHECK (attempts >= 0)
);
CREATE INDEX login_attempts_window ON login_attempts (window_start);

-- Access tokens refused before they expire: a logged-out or otherwise
-- revoked session's (session_id set), or every token of a deleted account
-- (session_id NULL). Kept until the last token they cover has expired;
-- instances load them and are told of new ones on the channel
-- anote_revocations.
CREATE TABLE token_revocations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid NOT NULL,
    session_id uuid,
    expires_at timestamptz NOT NULL
);
CREATE INDEX token_revocations_user ON token_revocations (user_id);
CREATE INDEX token_revocations_expiry ON token_revocations (expires_at);

-- Each account's data key (crypto-shredding of its personal fields:
-- username and display name in UserRegistered): written with the
-- registration, deleted in the account deletion's transaction.
CREATE TABLE user_keys (
    user_id uuid PRIMARY KEY,
    key     bytea NOT NULL
);
