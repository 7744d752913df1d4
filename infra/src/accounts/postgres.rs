//! Credentials and sessions in PostgreSQL.

use anote_domain::UserId;
use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AccountStore, Credentials, NewSession, SessionOwner};
use crate::db::PgDatabase;
use crate::error::StoreError;

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
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(session_id)
            .bind(user.uuid())
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}
