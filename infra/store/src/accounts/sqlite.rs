//! Credentials and sessions in the embedded SQLite database.

use std::time::Duration;

use anote_domain::UserId;
use async_trait::async_trait;
use rusqlite::TransactionBehavior;
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
use crate::db::{direct, micros, SqliteDatabase, Time};
use crate::error::StoreError;
use crate::revocations::Revocation;

/// The accounts tables in SQLite.
#[derive(Clone, Debug)]
pub struct SqliteAccountStore {
    db: SqliteDatabase,
}

impl SqliteAccountStore {
    /// An account store over this database.
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AccountStore for SqliteAccountStore {
    async fn credentials_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(CREDENTIALS_BY_USERNAME)
            .bind(username)
            .fetch_optional(&mut *self.db.reader().await?)
            .await?;
        credentials(row)
    }

    async fn credentials_by_user(&self, user: UserId) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(CREDENTIALS_BY_USER)
            .bind(user.uuid())
            .fetch_optional(&mut *self.db.reader().await?)
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
            .execute(&mut *self.db.writer().await?)
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
            .fetch_optional(&mut *self.db.writer().await?)
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
        self.db
            .write_in_place(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                direct::execute(
                    &tx,
                    REVOKE_SESSION,
                    &[&session_id, &user.uuid(), &micros(now)],
                )?;
                revoke_tokens(&tx, user, Some(session_id), tokens_until, now)?;
                tx.commit()?;
                Ok(())
            })
            .await
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
            .fetch_optional(&mut *self.db.writer().await?)
            .await?;
        if let Some(Time(start)) = reserved {
            return Ok(LoginSlot::Reserved(start));
        }
        let start: Option<Time> = sqlx::query_scalar(LOGIN_WINDOW)
            .bind(key)
            .fetch_optional(&mut *self.db.writer().await?)
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
            .execute(&mut *self.db.writer().await?)
            .await?;
        Ok(())
    }

    async fn forget_login_attempts(&self, before: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(FORGET_LOGIN_ATTEMPTS)
            .bind(Time(before))
            .execute(&mut *self.db.writer().await?)
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
            .fetch_all(&mut *self.db.reader().await?)
            .await?
            .iter()
            .map(revocation)
            .collect()
    }
}

/// Refuses the access tokens of one session (or, without one, of the whole
/// account) until `until` and forgets revocations no longer needed at `now`,
/// in the caller's transaction.
pub(crate) fn revoke_tokens(
    conn: &rusqlite::Connection,
    user: UserId,
    session: Option<Uuid>,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    direct::execute(
        conn,
        REVOKE_TOKENS,
        &[&user.uuid(), &session, &micros(until)],
    )?;
    // The caller's clock (PostgreSQL uses the database's).
    direct::execute(
        conn,
        "DELETE FROM token_revocations WHERE expires_at < $1",
        &[&micros(now)],
    )?;
    Ok(())
}
