//! Credentials and sessions in PostgreSQL.

use std::time::Duration;

use anote_domain::UserId;
use async_trait::async_trait;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::sql::{
    CREATE_SESSION, CREDENTIALS_BY_USER, CREDENTIALS_BY_USERNAME, FORGET_LOGIN_ATTEMPTS,
    LOGIN_WINDOW, RELEASE_LOGIN_ATTEMPT, RESERVE_LOGIN_ATTEMPT, REVOKE_SESSION, REVOKE_TOKENS,
    ROTATE_REFRESH, TOKEN_REVOCATIONS,
};
use super::{
    credentials, revocation, session_owner, AccountStore, Credentials, LoginSlot, NewSession,
    SessionOwner,
};
use crate::db::{PgDatabase, Time};
use crate::error::StoreError;
use crate::revocations::{Revocation, REVOCATION_CHANNEL};

/// The accounts tables in PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgAccountStore {
    db: PgDatabase,
}

impl PgAccountStore {
    /// An account store over this database.
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AccountStore for PgAccountStore {
    async fn credentials_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(CREDENTIALS_BY_USERNAME)
            .bind(username)
            .fetch_optional(self.db.pool())
            .await?;
        credentials(row)
    }

    async fn credentials_by_user(&self, user: UserId) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(CREDENTIALS_BY_USER)
            .bind(user.uuid())
            .fetch_optional(self.db.pool())
            .await?;
        credentials(row)
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        sqlx::query(CREATE_SESSION)
            .bind(session.id)
            .bind(session.user_id.uuid())
            .bind(&session.refresh_hash)
            .bind(Time(session.created_at))
            .bind(Time(session.expires_at))
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Option<SessionOwner>, StoreError> {
        let row = sqlx::query(ROTATE_REFRESH)
            .bind(old_hash)
            .bind(new_hash)
            .bind(Time(now))
            .bind(Time(expires_at))
            .fetch_optional(self.db.pool())
            .await?;
        session_owner(row)
    }

    async fn revoke_session(
        &self,
        user: UserId,
        session_id: Uuid,
        now: OffsetDateTime,
        tokens_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(REVOKE_SESSION)
            .bind(session_id)
            .bind(user.uuid())
            .bind(Time(now))
            .execute(&mut *tx)
            .await?;
        revoke_tokens(&mut tx, user, Some(session_id), tokens_until).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn reserve_login_attempt(
        &self,
        key: &[u8],
        limit: u32,
        window: Duration,
        now: OffsetDateTime,
    ) -> Result<LoginSlot, StoreError> {
        let reserved: Option<Time> = sqlx::query_scalar(RESERVE_LOGIN_ATTEMPT)
            .bind(key)
            .bind(Time(now))
            .bind(Time(now - window))
            .bind(i64::from(limit))
            .fetch_optional(self.db.pool())
            .await?;
        if let Some(Time(start)) = reserved {
            return Ok(LoginSlot::Reserved(start));
        }
        let start: Option<Time> = sqlx::query_scalar(LOGIN_WINDOW)
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?;
        let start = start.map(|Time(start)| start);
        Ok(LoginSlot::Refused(super::window_left(start, window, now)))
    }

    async fn release_login_attempt(
        &self,
        key: &[u8],
        window_start: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(RELEASE_LOGIN_ATTEMPT)
            .bind(key)
            .bind(Time(window_start))
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn forget_login_attempts(&self, before: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(FORGET_LOGIN_ATTEMPTS)
            .bind(Time(before))
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn token_revocations(
        &self,
        user: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        sqlx::query(TOKEN_REVOCATIONS)
            .bind(Time(now))
            .bind(user.map(|u| u.uuid()))
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(revocation)
            .collect()
    }
}

/// Refuses the access tokens of one session (or, without one, of the whole
/// account) until `until`, forgets revocations no longer needed, and tells
/// every listening instance, all in the caller's transaction.
pub(crate) async fn revoke_tokens(
    conn: &mut PgConnection,
    user: UserId,
    session: Option<Uuid>,
    until: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(REVOKE_TOKENS)
        .bind(user.uuid())
        .bind(session)
        .bind(Time(until))
        .execute(&mut *conn)
        .await?;
    notify_revoked(conn, user).await
}

/// Forgets expired revocations and tells every listening instance that
/// `user`'s revocations changed (delivered when the transaction commits).
pub(crate) async fn notify_revoked(
    conn: &mut PgConnection,
    user: UserId,
) -> Result<(), sqlx::Error> {
    // The database's clock: the side writes that call this have no time of
    // their own.
    sqlx::query("DELETE FROM token_revocations WHERE expires_at < now()")
        .execute(&mut *conn)
        .await?;
    // PostgreSQL only: the embedded database has one process to tell.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(REVOCATION_CHANNEL)
        .bind(user.uuid().to_string())
        .execute(conn)
        .await?;
    Ok(())
}
