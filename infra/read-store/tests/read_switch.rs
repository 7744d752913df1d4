//! Switching read models to a new build: on PostgreSQL by swapping schemas
//! under the switch lock, embedded by swapping the store in the process. A
//! live batch computed before the switch is refused (and one waiting for the
//! lock is refused once it gets it), checkpoints never move back, and the
//! embedded builds are named, switched to and cleaned up in order.

use std::sync::Arc;
use std::time::Duration;

use anote_read_store::builds::{current_build, make_current, open_build, remove_old_builds};
use anote_read_store::{
    drop_schema, PgReadStore, ProjectionBatch, ProjectionStore, ReadStore, SwitchLock,
    SwitchableReads,
};
use anote_store::db::PgDatabase;
use anote_store::event_store::Position;
use anote_store::StoreError;

/// An empty batch that moves the checkpoint to `seq`, fenced by `generation`.
fn batch(generation: Option<u64>, seq: u64) -> ProjectionBatch {
    ProjectionBatch {
        checkpoint: Position::new(1, seq),
        generation,
        ..ProjectionBatch::default()
    }
}

async fn seq(store: &dyn ReadStore) -> u64 {
    store.checkpoint("p").await.expect("checkpoint").seq()
}

/// Applies a batch of generation 0 in another task; it has not finished
/// after a moment (it waits for the switch lock).
async fn blocked_batch(
    store: Arc<dyn ReadStore>,
) -> tokio::task::JoinHandle<Result<(), StoreError>> {
    let waiting = tokio::spawn(async move { store.apply("p", &batch(Some(0), 40)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "a live batch waits while a switch holds the lock"
    );
    waiting
}

#[tokio::test]
async fn postgres_swaps_schemas_and_refuses_batches_of_the_old_build() {
    let url = anote_testkit::env::database_url();
    let live = format!("{}_read", anote_testkit::env::fresh_schema());
    let (next, old) = (format!("{live}_next"), format!("{live}_old"));
    let live_db = PgDatabase::connect(&url, Some(&live), 4)
        .await
        .expect("connects");
    live_db
        .migrate(anote_read_store::migrations::postgres())
        .await
        .expect("migrates");
    let store: Arc<dyn ReadStore> = Arc::new(PgReadStore::new(live_db.clone()));
    store
        .apply("p", &batch(Some(0), 10))
        .await
        .expect("applies");
    store.apply("p", &batch(Some(0), 5)).await.expect("applies");
    assert_eq!(
        seq(store.as_ref()).await,
        10,
        "a checkpoint never moves back"
    );

    let next_db = PgDatabase::connect(&url, Some(&next), 2)
        .await
        .expect("connects");
    next_db
        .migrate(anote_read_store::migrations::postgres())
        .await
        .expect("migrates");
    PgReadStore::new(next_db)
        .apply("p", &batch(None, 30))
        .await
        .expect("builds");

    let lock = SwitchLock::acquire(&live_db, &live).await.expect("locks");
    let waiting = blocked_batch(store.clone()).await;
    lock.switch(&next, &old).await.expect("switches");
    assert!(matches!(
        waiting.await.expect("joins"),
        Err(StoreError::Switched)
    ));

    // The same pool now reads the new build.
    assert_eq!(store.generation().await.expect("generation"), 1);
    assert_eq!(seq(store.as_ref()).await, 30);
    assert!(matches!(
        store.apply("p", &batch(Some(0), 50)).await,
        Err(StoreError::Switched)
    ));
    store
        .apply("p", &batch(Some(1), 50))
        .await
        .expect("applies");
    assert_eq!(seq(store.as_ref()).await, 50);

    drop_schema(&live_db, &old)
        .await
        .expect("drops the old build");
    drop_schema(&live_db, &live).await.expect("drops");
}

#[tokio::test]
async fn embedded_swaps_builds_and_refuses_batches_of_the_old_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = dir.path().join("read-models.sqlite3");
    let second = dir.path().join("read-models-1000.sqlite3");
    let newer = dir.path().join("read-models-2000.sqlite3");
    assert_eq!(current_build(dir.path()).expect("current"), first);

    let reads = Arc::new(SwitchableReads::new(
        open_build(&first).await.expect("opens"),
    ));
    reads
        .apply("p", &batch(Some(0), 10))
        .await
        .expect("applies");
    reads.apply("p", &batch(Some(0), 5)).await.expect("applies");
    assert_eq!(
        seq(reads.as_ref()).await,
        10,
        "a checkpoint never moves back"
    );
    let build = open_build(&second).await.expect("opens");
    build.apply("p", &batch(None, 30)).await.expect("builds");
    make_current(dir.path(), &second).expect("names the build");
    assert_eq!(current_build(dir.path()).expect("current"), second);

    let guard = reads.lock().await;
    let waiting = blocked_batch(reads.clone()).await;
    let old = guard.switch(build);
    assert!(matches!(
        waiting.await.expect("joins"),
        Err(StoreError::Switched)
    ));
    assert_eq!(reads.generation().await.expect("generation"), 1);
    assert_eq!(seq(reads.as_ref()).await, 30);
    assert_eq!(
        seq(old.as_ref()).await,
        10,
        "the old build is left as it was"
    );
    reads
        .apply("p", &batch(Some(1), 50))
        .await
        .expect("applies");

    drop(old);
    std::fs::write(&newer, b"").expect("a newer build being written");
    remove_old_builds(dir.path(), &second).expect("removes");
    assert!(!first.exists(), "older builds are removed");
    assert!(
        second.exists() && newer.exists(),
        "the one in use and newer ones stay"
    );
}
