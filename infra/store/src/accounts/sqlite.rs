//! Credentials and sessions in the embedded SQLite database.

use std::time::Duration;

use anote_domain::UserId;
use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AccountStore, Credentials, LoginSlot, NewSession, SessionOwner};
use crate::db::{from_micros, micros, SqliteDatabase};
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

/// Reads the credentials columns of a row, if there was one.
fn credentials(row: Option<sqlx::sqlite::SqliteRow>) -> Result<Option<Credentials>, StoreError> {
    row.map(|row| {
        Ok(Credentials {
            user_id: UserId::from_uuid(row.try_get("user_id")?),
            password_hash: row.try_get("password_hash")?,
        })
    })
    .transpose()
}

#[async_trait]
impl AccountStore for SqliteAccountStore {
    async fn credentials_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(
            "SELECT c.user_id, c.password_hash FROM usernames u
             JOIN credentials c ON c.user_id = u.user_id WHERE u.username = ?",
        )
        .bind(username)
        .fetch_optional(self.db.reader())
        .await?;
        credentials(row)
    }

    async fn credentials_by_user(&self, user: UserId) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query("SELECT user_id, password_hash FROM credentials WHERE user_id = ?")
            .bind(user.uuid())
            .fetch_optional(self.db.reader())
            .await?;
        credentials(row)
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, refresh_hash, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(session.id)
        .bind(session.user_id.uuid())
        .bind(&session.refresh_hash)
        .bind(micros(session.created_at))
        .bind(micros(session.expires_at))
        .execute(self.db.writer())
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
            "UPDATE sessions SET refresh_hash = ?, expires_at = ?
             WHERE refresh_hash = ? AND revoked_at IS NULL AND expires_at > ?
             RETURNING id, user_id",
        )
        .bind(new_hash)
        .bind(micros(expires_at))
        .bind(old_hash)
        .bind(micros(now))
        .fetch_optional(self.db.writer())
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
        let mut tx = self.db.writer().begin().await?;
        sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL")
            .bind(micros(now))
            .bind(session_id)
            .bind(user.uuid())
            .execute(&mut *tx)
            .await?;
        revoke_tokens(&mut tx, user, Some(session_id), tokens_until, micros(now)).await?;
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
        let reserved: Option<i64> = sqlx::query_scalar(
            "INSERT INTO login_attempts (key, window_start, attempts) VALUES (?1, ?2, 1)
             ON CONFLICT (key) DO UPDATE SET
                 window_start = CASE WHEN login_attempts.window_start <= ?3
                                     THEN excluded.window_start ELSE login_attempts.window_start END,
                 attempts = CASE WHEN login_attempts.window_start <= ?3
                                 THEN 1 ELSE login_attempts.attempts + 1 END
             WHERE login_attempts.window_start <= ?3 OR login_attempts.attempts < ?4
             RETURNING window_start",
        )
        .bind(key)
        .bind(micros(now))
        .bind(micros(now - window))
        .bind(i64::from(limit))
        .fetch_optional(self.db.writer())
        .await?;
        if let Some(start) = reserved {
            return Ok(LoginSlot::Reserved(from_micros(start)?));
        }
        let start: Option<i64> =
            sqlx::query_scalar("SELECT window_start FROM login_attempts WHERE key = ?")
                .bind(key)
                .fetch_optional(self.db.writer())
                .await?;
        let start = start.map(from_micros).transpose()?;
        Ok(LoginSlot::Refused(super::window_left(start, window, now)))
    }

    async fn release_login_attempt(
        &self,
        key: &[u8],
        window_start: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE login_attempts SET attempts = attempts - 1
             WHERE key = ? AND window_start = ? AND attempts > 0",
        )
        .bind(key)
        .bind(micros(window_start))
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn forget_login_attempts(&self, before: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_attempts WHERE window_start < ?")
            .bind(micros(before))
            .execute(self.db.writer())
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
             WHERE expires_at > ?1 AND (?2 IS NULL OR user_id = ?2)",
        )
        .bind(micros(now))
        .bind(user.map(|u| u.uuid()))
        .fetch_all(self.db.reader())
        .await?
        .iter()
        .map(|row| {
            Ok(Revocation {
                user: UserId::from_uuid(row.try_get("user_id")?),
                session: row.try_get("session_id")?,
                expires_at: from_micros(row.try_get("expires_at")?)?,
            })
        })
        .collect()
    }
}

/// Refuses the access tokens of one session (or, without one, of the whole
/// account) until `until` and forgets revocations no longer needed (`now`
/// in microseconds), in the caller's transaction.
pub(crate) async fn revoke_tokens(
    conn: &mut SqliteConnection,
    user: UserId,
    session: Option<Uuid>,
    until: OffsetDateTime,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO token_revocations (user_id, session_id, expires_at) VALUES (?, ?, ?)")
        .bind(user.uuid())
        .bind(session)
        .bind(micros(until))
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM token_revocations WHERE expires_at < ?")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}
