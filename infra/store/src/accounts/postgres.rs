//! Credentials and sessions in PostgreSQL.

use std::time::Duration;

use anote_domain::UserId;
use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AccountStore, Credentials, LoginSlot, NewSession, SessionOwner};
use crate::db::PgDatabase;
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

/// Reads the credentials columns of a row, if there was one.
fn credentials(row: Option<sqlx::postgres::PgRow>) -> Result<Option<Credentials>, StoreError> {
    row.map(|row| {
        Ok(Credentials {
            user_id: UserId::from_uuid(row.try_get("user_id")?),
            password_hash: row.try_get("password_hash")?,
        })
    })
    .transpose()
}

#[async_trait]
impl AccountStore for PgAccountStore {
    async fn credentials_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(
            "SELECT c.user_id, c.password_hash FROM usernames u
             JOIN credentials c ON c.user_id = u.user_id WHERE u.username = $1",
        )
        .bind(username)
        .fetch_optional(self.db.pool())
        .await?;
        credentials(row)
    }

    async fn credentials_by_user(&self, user: UserId) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query("SELECT user_id, password_hash FROM credentials WHERE user_id = $1")
            .bind(user.uuid())
            .fetch_optional(self.db.pool())
            .await?;
        credentials(row)
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, refresh_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id)
        .bind(session.user_id.uuid())
        .bind(&session.refresh_hash)
        .bind(session.created_at)
        .bind(session.expires_at)
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
        let row = sqlx::query(
            "UPDATE sessions SET refresh_hash = $2, expires_at = $4
             WHERE refresh_hash = $1 AND revoked_at IS NULL AND expires_at > $3
             RETURNING id, user_id",
        )
        .bind(old_hash)
        .bind(new_hash)
        .bind(now)
        .bind(expires_at)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| {
            Ok(SessionOwner {
                session_id: row.try_get("id")?,
                user_id: UserId::from_uuid(row.try_get("user_id")?),
            })
        })
        .transpose()
    }

    async fn revoke_session(
        &self,
        user: UserId,
        session_id: Uuid,
        now: OffsetDateTime,
        tokens_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(session_id)
            .bind(user.uuid())
            .bind(now)
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
        let over = now - window;
        let reserved: Option<OffsetDateTime> = sqlx::query_scalar(
            "INSERT INTO login_attempts AS a (key, window_start, attempts) VALUES ($1, $2, 1)
             ON CONFLICT (key) DO UPDATE SET
                 window_start = CASE WHEN a.window_start <= $3
                                     THEN EXCLUDED.window_start ELSE a.window_start END,
                 attempts = CASE WHEN a.window_start <= $3 THEN 1 ELSE a.attempts + 1 END
             WHERE a.window_start <= $3 OR a.attempts < $4
             RETURNING window_start",
        )
        .bind(key)
        .bind(now)
        .bind(over)
        .bind(i64::from(limit))
        .fetch_optional(self.db.pool())
        .await?;
        if let Some(start) = reserved {
            return Ok(LoginSlot::Reserved(start));
        }
        let start: Option<OffsetDateTime> =
            sqlx::query_scalar("SELECT window_start FROM login_attempts WHERE key = $1")
                .bind(key)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(LoginSlot::Refused(super::window_left(start, window, now)))
    }

    async fn release_login_attempt(
        &self,
        key: &[u8],
        window_start: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE login_attempts SET attempts = attempts - 1
             WHERE key = $1 AND window_start = $2 AND attempts > 0",
        )
        .bind(key)
        .bind(window_start)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn forget_login_attempts(&self, before: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_attempts WHERE window_start < $1")
            .bind(before)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn token_revocations(
        &self,
        user: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        sqlx::query(
            "SELECT user_id, session_id, expires_at FROM token_revocations
             WHERE expires_at > $1 AND ($2::uuid IS NULL OR user_id = $2)",
        )
        .bind(now)
        .bind(user.map(|u| u.uuid()))
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(Revocation {
                user: UserId::from_uuid(row.try_get("user_id")?),
                session: row.try_get("session_id")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
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
    sqlx::query(
        "INSERT INTO token_revocations (user_id, session_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(user.uuid())
    .bind(session)
    .bind(until)
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
    sqlx::query("DELETE FROM token_revocations WHERE expires_at < now()")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(REVOCATION_CHANNEL)
        .bind(user.uuid().to_string())
        .execute(conn)
        .await?;
    Ok(())
}
