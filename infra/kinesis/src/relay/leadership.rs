//! One active relay: leadership is a PostgreSQL advisory lock held on a
//! dedicated connection. If the leader dies its connection closes, the lock
//! is released, and a standby takes over.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Row};
use tokio::sync::watch;

use super::RelayError;
use anote_store::db::{from_i64, to_i64, PgDatabase};
use anote_store::error::StoreError;
use anote_store::event_store::Position;

/// The lock key of a relay name.
const LOCK_KEY: &str = "hashtextextended('anote-relay:' || $1, 0)";

/// The held lock, with the connection that holds it.
pub struct Leadership {
    conn: PoolConnection<Postgres>,
}

impl Leadership {
    /// Waits until this process holds the lock of relay `name`, trying every
    /// second; `None` if `stop` turned true first.
    pub async fn acquire(
        db: &PgDatabase,
        name: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<Self>, StoreError> {
        let mut conn = db.pool().acquire().await?;
        loop {
            let locked: bool =
                sqlx::query_scalar(&format!("SELECT pg_try_advisory_lock({LOCK_KEY})"))
                    .bind(name)
                    .fetch_one(&mut *conn)
                    .await?;
            if locked {
                // The lock lives and dies with this connection: keep it out
                // of the pool so it is never handed to anyone else.
                return Ok(Some(Self { conn }));
            }
            if *stop.borrow() {
                return Ok(None);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Moves the checkpoint, through the lock's connection: if the lock was
    /// lost with its connection, this fails instead of writing.
    pub async fn save_checkpoint(
        &mut self,
        name: &str,
        position: Position,
    ) -> Result<(), RelayError> {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid())",
        )
        .fetch_one(&mut *self.conn)
        .await
        .map_err(|e| RelayError::Store(e.into()))?;
        if !held {
            return Err(RelayError::LostLeadership);
        }
        sqlx::query(
            "INSERT INTO relay_checkpoints (name, tx, seq) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET tx = EXCLUDED.tx, seq = EXCLUDED.seq",
        )
        .bind(name)
        .bind(to_i64(position.tx())?)
        .bind(to_i64(position.seq())?)
        .execute(&mut *self.conn)
        .await
        .map_err(|e| RelayError::Store(e.into()))?;
        Ok(())
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // Closing the connection releases the lock at once.
        self.conn.close_on_drop();
    }
}

/// How far relay `name` has published.
pub async fn checkpoint(db: &PgDatabase, name: &str) -> Result<Position, StoreError> {
    let row = sqlx::query("SELECT tx, seq FROM relay_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    row.map_or(Ok(Position::START), |row| {
        Ok(Position::new(
            from_i64(row.try_get("tx")?)?,
            from_i64(row.try_get("seq")?)?,
        ))
    })
}
