//! Migrated databases for the event log and the read models, a wait for
//! the log to settle, and the split services' read models beside a rebuild
//! from the log.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anote_domain::NoteId;
use anote_projector::Projector;
use anote_read_store::{NoteView, PgReadStore, ProjectionStore, ReadModels};
use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_store::event_store::{EventStore, PgEventStore, Position};

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

/// The split services' read models of `schema` in the database at `url`,
/// once their projector has reached `last`, next to the same notes rebuilt
/// from the log into fresh tables (`<schema>_rebuilt`); both by their
/// content (`NoteView::content`), sorted by id.
/// A test asserts they are equal: the read models are what the log says.
pub async fn live_and_rebuilt_views(
    url: &str,
    schema: &str,
    notes: &[NoteId],
    last: Position,
    within: Duration,
) -> (Vec<NoteView>, Vec<NoteView>) {
    let connect = |schema: String| async move {
        PgDatabase::connect(url, Some(&schema), 4)
            .await
            .expect("PostgreSQL answers")
    };
    let live = PgReadStore::new(connect(format!("{schema}_read")).await);
    let deadline = Instant::now() + within;
    while live.checkpoint("note_views").await.expect("reads") < last {
        assert!(Instant::now() < deadline, "the projector never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rebuilt_db = connect(format!("{schema}_rebuilt")).await;
    rebuilt_db
        .migrate(anote_read_store::migrations::postgres())
        .await
        .expect("migrates");
    let rebuilt = Arc::new(PgReadStore::new(rebuilt_db));
    let log = Arc::new(PgEventStore::new(connect(schema.to_owned()).await));
    let rebuild = Projector::new("rebuild", log, rebuilt.clone(), 1_000);
    let mut after = Position::START;
    while let Some(next) = rebuild.step(after).await.expect("rebuilds") {
        after = next;
    }
    let content = |views: Vec<NoteView>| {
        let mut views: Vec<NoteView> = views.into_iter().map(NoteView::content).collect();
        views.sort_by_key(|v| v.id);
        views
    };
    let expected = content(rebuilt.views(notes).await.expect("reads"));
    let actual = content(live.views(notes).await.expect("reads"));
    (actual, expected)
}
