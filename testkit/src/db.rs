//! Migrated databases for the event log and the read models, and a wait
//! for the log to settle.

use std::path::Path;
use std::time::{Duration, Instant};

use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_store::event_store::{EventStore, Position};

use crate::env::database_url;

/// A pool of `connections` on `schema` of the tests' PostgreSQL (the schema
/// created if missing), not migrated.
pub async fn pg(schema: &str, connections: u32) -> PgDatabase {
    PgDatabase::connect(&database_url(), Some(schema), connections)
        .await
        .expect("PostgreSQL answers (run the README's test command)")
}

/// An event log (with the account tables and the document ledger) in
/// `schema`, migrated.
pub async fn pg_event_log(schema: &str, connections: u32) -> PgDatabase {
    let db = pg(schema, connections).await;
    db.migrate(anote_store::migrations::postgres())
        .await
        .expect("the event log migrates");
    db
}

/// Read models in `schema`, migrated.
pub async fn pg_read_models(schema: &str, connections: u32) -> PgDatabase {
    let db = pg(schema, connections).await;
    db.migrate(anote_read_store::migrations::postgres())
        .await
        .expect("the read models migrate");
    db
}

/// An event log in the SQLite file `path`, migrated.
pub async fn sqlite_event_log(path: &Path) -> SqliteDatabase {
    let db = SqliteDatabase::open(path).await.expect("SQLite opens");
    db.migrate(anote_store::migrations::sqlite())
        .await
        .expect("the event log migrates");
    db
}

/// Read models in the SQLite file `path`, migrated.
pub async fn sqlite_read_models(path: &Path) -> SqliteDatabase {
    let db = SqliteDatabase::open(path).await.expect("SQLite opens");
    db.migrate(anote_read_store::migrations::sqlite())
        .await
        .expect("the read models migrate");
    db
}

/// Waits until every event of the log is readable in commit order (on
/// PostgreSQL, other tests' open transactions hold newer commits back for a
/// moment); returns the position of the last one.
pub async fn settled(events: &dyn EventStore) -> Position {
    let newest = events.newest().await.expect("reads");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = events
            .read_all(Position::START, 100_000)
            .await
            .expect("reads");
        if all.iter().map(|e| e.position.seq()).max().unwrap_or(0) >= newest {
            return all.last().map_or(Position::START, |e| e.position);
        }
        assert!(Instant::now() < deadline, "the log never settled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
