//! The accounts port: password hashes and refresh-token sessions, which live
//! beside the log and never in it. Writes that must go with a user event
//! (claiming a username, setting a hash) are side writes of the append.

mod postgres;
mod sqlite;

use anote_domain::UserId;
use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::StoreError;

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

    /// Revokes one session of a user.
    async fn revoke_session(
        &self,
        user: UserId,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

pub use postgres::PgAccountStore;
pub use sqlite::SqliteAccountStore;
