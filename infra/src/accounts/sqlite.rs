//! Credentials and sessions in the embedded SQLite database.

use anote_domain::UserId;
use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AccountStore, Credentials, NewSession, SessionOwner};
use crate::db::{micros, SqliteDatabase};
use crate::error::StoreError;

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
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL")
            .bind(micros(now))
            .bind(session_id)
            .bind(user.uuid())
            .execute(self.db.writer())
            .await?;
        Ok(())
    }
}
