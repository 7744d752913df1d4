//! The accounts port: password hashes, refresh-token sessions, login
//! attempts and token revocations, which live beside the log and never in
//! it. Writes that must go with a user event (claiming a username, setting a
//! hash) are side writes of the append.

mod postgres;
mod sql;
mod sqlite;

use std::time::Duration;

use anote_domain::UserId;
use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::Time;
use crate::error::StoreError;
use crate::revocations::Revocation;

/// The answer to a login attempt's reservation against one limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginSlot {
    /// The attempt is counted in the window that started then; release it
    /// if it must not count.
    Reserved(OffsetDateTime),
    /// The limit is reached: the window ends after this long.
    Refused(Duration),
}

/// A login's stored credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The account.
    pub user_id: UserId,
    /// The PHC string of the password hash.
    pub password_hash: String,
}

/// A new refresh-token session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// The session's id, carried by its access tokens.
    pub id: Uuid,
    /// The account.
    pub user_id: UserId,
    /// SHA-256 of the refresh token.
    pub refresh_hash: Vec<u8>,
    /// When it was opened.
    pub created_at: OffsetDateTime,
    /// When the refresh token stops working.
    pub expires_at: OffsetDateTime,
}

/// A session found by its refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOwner {
    /// The session's id.
    pub session_id: Uuid,
    /// The account.
    pub user_id: UserId,
}

/// Credentials and sessions.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// The credentials of the account with this (folded) username.
    async fn credentials_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Credentials>, StoreError>;

    /// The credentials of this account.
    async fn credentials_by_user(&self, user: UserId) -> Result<Option<Credentials>, StoreError>;

    /// Stores a new session.
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// Swaps a live refresh token for a new one, atomically: the old token
    /// works once. Returns the session, or `None` if the old token is unknown,
    /// revoked or expired.
    async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Option<SessionOwner>, StoreError>;

    /// Revokes one session of a user and refuses its access tokens until
    /// `tokens_until` (when the last of them has expired).
    async fn revoke_session(
        &self,
        user: UserId,
        session_id: Uuid,
        now: OffsetDateTime,
        tokens_until: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Counts one login attempt under `key` in one atomic statement, unless
    /// `limit` attempts are already counted in the current window of
    /// `window` (a window ends `window` after its first attempt). Every
    /// instance sharing the database shares the count.
    async fn reserve_login_attempt(
        &self,
        key: &[u8],
        limit: u32,
        window: Duration,
        now: OffsetDateTime,
    ) -> Result<LoginSlot, StoreError>;

    /// Uncounts an attempt reserved in the window that started at
    /// `window_start` (nothing if that window is over).
    async fn release_login_attempt(
        &self,
        key: &[u8],
        window_start: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Forgets the login attempts of windows that started before `before`.
    async fn forget_login_attempts(&self, before: OffsetDateTime) -> Result<(), StoreError>;

    /// The token revocations still in force at `now`: every one, or those
    /// of one account.
    async fn token_revocations(
        &self,
        user: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError>;
}

/// The credentials in a row of either backend, if there was one.
fn credentials<R: sqlx::Row>(row: Option<R>) -> Result<Option<Credentials>, StoreError>
where
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    row.map(|row| {
        Ok(Credentials {
            user_id: UserId::from_uuid(row.try_get("user_id")?),
            password_hash: row.try_get("password_hash")?,
        })
    })
    .transpose()
}

/// The session in a row of either backend (`id`, `user_id`), if there was one.
fn session_owner<R: sqlx::Row>(row: Option<R>) -> Result<Option<SessionOwner>, StoreError>
where
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    row.map(|row| {
        Ok(SessionOwner {
            session_id: row.try_get("id")?,
            user_id: UserId::from_uuid(row.try_get("user_id")?),
        })
    })
    .transpose()
}

/// A revocation in a row of either backend.
fn revocation<R: sqlx::Row>(row: &R) -> Result<Revocation, StoreError>
where
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Time: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    Ok(Revocation {
        user: UserId::from_uuid(row.try_get("user_id")?),
        session: row.try_get("session_id")?,
        expires_at: row.try_get::<Time, _>("expires_at")?.0,
    })
}

/// How long is left of a window that started at `start` (at least a
/// second, so a client told to wait is never told zero).
fn window_left(start: Option<OffsetDateTime>, window: Duration, now: OffsetDateTime) -> Duration {
    let left = start.map_or(Duration::ZERO, |start| {
        Duration::try_from(start + window - now).unwrap_or(Duration::ZERO)
    });
    left.max(Duration::from_secs(1))
}

pub use postgres::PgAccountStore;
pub(crate) use postgres::{notify_revoked, revoke_tokens as pg_revoke_tokens};
pub(crate) use sqlite::revoke_tokens as sqlite_revoke_tokens;
pub use sqlite::SqliteAccountStore;
