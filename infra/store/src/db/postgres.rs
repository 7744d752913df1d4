//! The PostgreSQL connection pool.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool};

use crate::error::StoreError;
use sqlx::migrate::Migrator;

/// How long a pooled connection may sit idle before it is pinged when next
/// taken out of the pool.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

/// The size and limits of a connection pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long a caller waits for a connection (a new one included: its
    /// TCP connect and handshake) before the store answers unavailable.
    pub acquire_timeout: Duration,
    /// How long the server lets one statement run before it cancels it
    /// (`statement_timeout`); `None` for no limit.
    pub statement_timeout: Option<Duration>,
}

impl PoolSettings {
    /// A tool's pool (migrations, replays, audits, benchmarks): it waits
    /// five seconds for a connection and lets statements run as long as
    /// they need.
    pub fn tool(max_connections: u32) -> Self {
        Self {
            max_connections,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: None,
        }
    }
}

/// A PostgreSQL database holding the event log and the account tables.
#[derive(Clone, Debug)]
pub struct PgDatabase {
    pool: PgPool,
}

impl PgDatabase {
    /// Connects with up to `max_connections` and the tools' limits
    /// ([`PoolSettings::tool`]), optionally in one schema (which is created
    /// if missing), without touching the tables.
    pub async fn connect(
        url: &str,
        schema: Option<&str>,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        Self::connect_with(url, schema, &PoolSettings::tool(max_connections)).await
    }

    /// Connects with the pool's size and limits in `settings`, optionally in
    /// one schema (which is created if missing), without touching the
    /// tables.
    pub async fn connect_with(
        url: &str,
        schema: Option<&str>,
        settings: &PoolSettings,
    ) -> Result<Self, StoreError> {
        let mut options: PgConnectOptions = url.parse()?;
        if let Some(schema) = schema {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options.clone())
                .await?;
            let create = format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "\"\"")
            );
            sqlx::query(&create).execute(&admin).await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        if let Some(limit) = settings.statement_timeout {
            let millis = limit.as_millis().to_string();
            options = options.options([("statement_timeout", millis.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // sqlx pings a connection when it goes back to the pool; a
            // second ping when it is taken out is only worth its round trip
            // after the connection sat idle long enough to have been cut.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Applies the migrations of `migrator` that have not run yet. Migrations
    /// the database has and this binary does not know (a newer release's,
    /// after a rollback) are left alone: migrations only add, so an older
    /// binary works on a newer schema.
    /// They run on one connection without the pool's statement timeout (an
    /// index on a large table may take minutes).
    pub async fn migrate(&self, mut migrator: Migrator) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        migrator.set_ignore_missing(true).run(&mut *conn).await?;
        sqlx::query("RESET statement_timeout")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The pool, for the adapters.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
