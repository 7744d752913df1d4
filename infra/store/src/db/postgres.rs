//! The PostgreSQL connection pool.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::error::StoreError;
use sqlx::migrate::Migrator;

/// A PostgreSQL database holding the event log and the account tables.
#[derive(Clone, Debug)]
pub struct PgDatabase {
    pool: PgPool,
}

impl PgDatabase {
    /// Connects with up to `max_connections`, optionally in one schema (which
    /// is created if missing), without touching the tables.
    pub async fn connect(
        url: &str,
        schema: Option<&str>,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let mut options: PgConnectOptions = url.parse()?;
        if let Some(schema) = schema {
            let admin = PgPoolOptions::new()
                .max_connections(1)
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
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Applies the migrations of `migrator` that have not run yet. Migrations
    /// the database has and this binary does not know (a newer release's,
    /// after a rollback) are left alone: migrations only add, so an older
    /// binary works on a newer schema.
    pub async fn migrate(&self, mut migrator: Migrator) -> Result<(), StoreError> {
        migrator.set_ignore_missing(true).run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for the adapters.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
