//! Blue/green rebuilds of the note views: a new build is projected from the
//! log beside the live one, then takes its place without a failed request.
//!
//! On PostgreSQL the build goes into the schema `<live>_next`; holding the
//! live schema's switch lock it takes the last events, then the schemas swap
//! names in one transaction and the old one is dropped
//! ([`rebuild_postgres`]). Embedded, the build is a new SQLite file that
//! `read-models.current` then names ([`rebuild_embedded`]); the running
//! server sees it, takes the last events and switches ([`follow_builds`]);
//! a stopped one opens it at its next start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anote_read_store::builds::{
    current_build, make_current, new_build, open_build, remove_old_builds,
};
use anote_read_store::{
    drop_schema, Applied, PgReadStore, ProjectionStore, ReadStore, RebuildLock, SwitchLock,
    SwitchableReads, NOTE_VIEWS,
};
use anote_store::db::PgDatabase;
use anote_store::event_store::{EventStore, Position};
use anote_store::StoreError;
use tokio::sync::{broadcast, watch};

use crate::{Projector, ProjectorError, BATCH};

/// The longest live schema name a rebuild takes (PostgreSQL names have at
/// most 63 bytes, and the scratch schemas add 5).
const LONGEST_LIVE: usize = 58;

/// How often a server looks at its data folder for a new build.
const POLL: Duration = Duration::from_millis(250);

/// How long after a failed switch it is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// Why a rebuild stopped.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Projecting the build failed.
    #[error(transparent)]
    Projector(#[from] ProjectorError),
    /// The read models could not be reached or changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The live schema's name leaves no room for the scratch schemas.
    #[error("a rebuild takes read-model schema names of at most {LONGEST_LIVE} bytes")]
    NameTooLong,
    /// Another rebuild holds the live schema.
    #[error("another replay is rebuilding {0}")]
    Busy(String),
}

/// The schemas a rebuild of schema `live` works in: the new build, and the
/// old one between the switch and its removal.
pub fn scratch_schemas(live: &str) -> [String; 2] {
    [format!("{live}_next"), format!("{live}_old")]
}

/// The note-view projector building `store`, which is not live yet, from
/// `log`.
pub fn builder(log: Arc<dyn EventStore>, store: Arc<dyn ProjectionStore>) -> Projector {
    Projector::new(NOTE_VIEWS, log, store, BATCH).building()
}

/// Names each stream a build parked (one of its events keeps failing): the
/// rest of the log was built without it; `anote parked` lists and retries
/// them once the build is live.
pub async fn report_parked(projector: &Projector) -> Result<(), ProjectorError> {
    for parked in projector.parked().await? {
        tracing::warn!(
            stream = %parked.stream_id,
            version = parked.stream_version,
            error = %parked.error,
            "a stream was parked in the build: the rest went on without it"
        );
    }
    Ok(())
}

/// Builds the note views of `log` into a fresh schema beside `live` (in the
/// database at `url`), then swaps them; `progress` hears of each batch of
/// the first pass. Returns the position the switched-to build reached.
pub async fn rebuild_postgres(
    log: Arc<dyn EventStore>,
    url: &str,
    live: &str,
    progress: impl FnMut(Position),
) -> Result<Position, RebuildError> {
    if live.len() > LONGEST_LIVE {
        return Err(RebuildError::NameTooLong);
    }
    let live_db = PgDatabase::connect(url, Some(live), 2).await?;
    live_db
        .migrate(anote_read_store::migrations::postgres())
        .await?;
    let Some(_only) = RebuildLock::try_acquire(&live_db, live).await? else {
        return Err(RebuildError::Busy(live.to_owned()));
    };
    let [next, old] = scratch_schemas(live);
    // Left by a replay that was interrupted.
    drop_schema(&live_db, &next).await?;
    drop_schema(&live_db, &old).await?;
    let next_db = PgDatabase::connect(url, Some(&next), 4).await?;
    next_db
        .migrate(anote_read_store::migrations::postgres())
        .await?;
    let projector = builder(log, Arc::new(PgReadStore::new(next_db)));
    projector.catch_up(progress).await?;
    let lock = SwitchLock::acquire(&live_db, live).await?;
    let reached = projector.catch_up(|_| {}).await?;
    report_parked(&projector).await?;
    lock.switch(&next, &old).await?;
    tracing::info!(schema = live, %reached, "switched to the new read models");
    if let Err(err) = drop_schema(&live_db, &old).await {
        tracing::warn!(schema = old, error = %err, "the old read models could not be dropped; drop them by hand");
    }
    Ok(reached)
}

/// Builds the note views of `log` into a new SQLite file in `data_dir` and
/// names it the current build; `progress` hears of each batch. Returns the
/// build's file and the position it reached.
pub async fn rebuild_embedded(
    log: Arc<dyn EventStore>,
    data_dir: &Path,
    progress: impl FnMut(Position),
) -> Result<(PathBuf, Position), RebuildError> {
    let path = new_build(data_dir);
    let projector = builder(log, open_build(&path).await?);
    let reached = projector.catch_up(progress).await?;
    report_parked(&projector).await?;
    make_current(data_dir, &path)?;
    Ok((path, reached))
}

/// Switches `reads` (opened from the build `serving`) to each new build
/// named in `data_dir` until `stop`; tells the cache (through `notices`)
/// that anything may have changed.
pub async fn follow_builds(
    data_dir: PathBuf,
    mut serving: PathBuf,
    reads: Arc<SwitchableReads>,
    events: Arc<dyn EventStore>,
    notices: broadcast::Sender<Applied>,
    mut stop: watch::Receiver<bool>,
) {
    remove_older(&data_dir, &serving);
    let mut pause = POLL;
    while !*stop.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => continue,
        }
        pause = POLL;
        let named = match current_build(&data_dir) {
            Ok(named) if named != serving => named,
            Ok(_) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "cannot tell the current read-model build");
                continue;
            }
        };
        match switch(&named, &reads, &events).await {
            Ok((old, reached)) => {
                tracing::info!(build = %named.display(), %reached, "switched to the new read models");
                let _ = notices.send(Applied {
                    checkpoint: reached,
                    owners: None,
                });
                tokio::spawn(retire(old, data_dir.clone(), named.clone()));
                serving = named;
            }
            Err(err) => {
                tracing::error!(build = %named.display(), error = %err, "cannot switch to the new read models; trying again shortly");
                pause = RETRY;
            }
        }
    }
}

/// Catches the build at `path` up, then switches to it holding off live
/// batches for the last events; returns the replaced build and the
/// position the new one reached.
async fn switch(
    path: &Path,
    reads: &SwitchableReads,
    events: &Arc<dyn EventStore>,
) -> Result<(Arc<dyn ReadStore>, Position), RebuildError> {
    let next = open_build(path).await?;
    let projector = builder(events.clone(), next.clone());
    projector.catch_up(|_| {}).await?;
    let guard = reads.lock().await;
    let reached = projector.catch_up(|_| {}).await?;
    Ok((guard.switch(next), reached))
}

/// Deletes the replaced build once the last request reading it is done
/// (with any build older than `serving`, the one now in use).
async fn retire(old: Arc<dyn ReadStore>, data_dir: PathBuf, serving: PathBuf) {
    while Arc::strong_count(&old) > 1 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(old);
    remove_older(&data_dir, &serving);
}

/// Deletes the builds older than `serving`, logging a failure.
fn remove_older(data_dir: &Path, serving: &Path) {
    if let Err(err) = remove_old_builds(data_dir, serving) {
        tracing::warn!(error = %err, "old read-model builds could not be removed");
    }
}
