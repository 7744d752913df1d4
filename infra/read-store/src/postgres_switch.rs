//! Switching the live PostgreSQL read-model schema to a new build.
//!
//! The new build lives in a schema of its own beside the live one. Holding
//! the live schema's switch lock (no live projector batch commits while it is
//! held), the caller brings the build up to the log's head; then one
//! transaction copies the Kinesis shard leases across, gives the build the
//! next generation and swaps the two schema names. Connections resolve table
//! names again after a rename, so the next statement of every service reads
//! the new build, and statements already running finish on the old one. A
//! projector batch computed from the old build is refused by its generation
//! and done again from the new build's checkpoint.

use sqlx::PgConnection;

use super::postgres::{switch_lock_key, PROJECTION_CHANNEL};
use super::Applied;
use anote_store::db::PgDatabase;
use anote_store::error::StoreError;
use anote_store::event_store::Position;

/// The switch lock of a live schema, held on a connection of its own that
/// closes (releasing the lock) if the lock is dropped without switching.
pub struct SwitchLock {
    conn: PgConnection,
    live: String,
}

/// A schema name quoted for SQL.
fn quoted(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

impl SwitchLock {
    /// Waits for the live batches in flight on schema `live` and holds off
    /// new ones until the lock switches or is dropped.
    pub async fn acquire(db: &PgDatabase, live: &str) -> Result<Self, StoreError> {
        let mut conn = db.pool().acquire().await?.detach();
        sqlx::query(&format!(
            "SELECT pg_advisory_lock({})",
            switch_lock_key("$1")
        ))
        .bind(live)
        .execute(&mut conn)
        .await?;
        Ok(Self {
            conn,
            live: live.to_owned(),
        })
    }

    /// Makes schema `next` the live one and renames the live one (which
    /// must exist, migrated) to `retired`, in one transaction, closing the
    /// lock's connection after. Query caches are told that anything may
    /// have changed.
    pub async fn switch(mut self, next: &str, retired: &str) -> Result<(), StoreError> {
        let (live, next_q, retired_q) = (quoted(&self.live), quoted(next), quoted(retired));
        let mut steps = vec![
            // Lease renewals and claims wait, then land in the new schema.
            format!("LOCK TABLE {live}.kinesis_leases, {live}.kinesis_consumers IN EXCLUSIVE MODE"),
        ];
        for (table, columns) in [
            (
                "kinesis_leases",
                "stream, shard_id, parents, owner, expires_at, sequence, watermark_tx, watermark_seq, finished",
            ),
            ("kinesis_consumers", "stream, owner, seen_at"),
            ("projector_checkpoints", "name, tx, seq"),
        ] {
            steps.push(format!(
                "INSERT INTO {next_q}.{table} ({columns}) SELECT {columns} FROM {live}.{table}
                 ON CONFLICT DO NOTHING"
            ));
        }
        steps.push(format!(
            "UPDATE {next_q}.read_generation SET n = (SELECT max(n) + 1 FROM {live}.read_generation)"
        ));
        steps.push(format!("ALTER SCHEMA {live} RENAME TO {retired_q}"));
        steps.push(format!("ALTER SCHEMA {next_q} RENAME TO {live}"));
        let anything = Applied {
            checkpoint: Position::START,
            owners: None,
        };
        let notice = serde_json::to_string(&anything).map_err(StoreError::corrupt)?;
        let mut tx = sqlx::Connection::begin(&mut self.conn).await?;
        for step in &steps {
            sqlx::query(step).execute(&mut *tx).await?;
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(PROJECTION_CHANNEL)
            .bind(notice)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // Closing the connection releases the lock; the switch is done
        // whether or not the goodbye reaches the server.
        let _ = sqlx::Connection::close(self.conn).await;
        Ok(())
    }
}

/// Held by the one replay that rebuilds a live schema, on a connection of
/// its own (closing it releases the lock).
pub struct RebuildLock {
    _conn: PgConnection,
}

impl RebuildLock {
    /// The lock for rebuilding schema `live`, unless another replay has it.
    pub async fn try_acquire(db: &PgDatabase, live: &str) -> Result<Option<Self>, StoreError> {
        let mut conn = db.pool().acquire().await?.detach();
        let held: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_lock(hashtextextended('anote-rebuild:' || $1, 0))",
        )
        .bind(live)
        .fetch_one(&mut conn)
        .await?;
        Ok(held.then_some(Self { _conn: conn }))
    }
}

/// Drops a schema that is no longer live, waiting (briefly each time, so as
/// not to hold up anyone queued behind it) for statements still reading it.
pub async fn drop_schema(db: &PgDatabase, schema: &str) -> Result<(), StoreError> {
    let mut conn = db.pool().acquire().await?;
    sqlx::query("SET lock_timeout = '1s'")
        .execute(&mut *conn)
        .await?;
    let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted(schema));
    let mut attempts = 0;
    loop {
        match sqlx::query(&drop).execute(&mut *conn).await {
            Ok(_) => break,
            // 55P03: lock_not_available.
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("55P03") && attempts < 30 =>
            {
                attempts += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    sqlx::query("RESET lock_timeout")
        .execute(&mut *conn)
        .await?;
    Ok(())
}
