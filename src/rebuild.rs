//! `anote replay` without `--until`: rebuilds every read model from the log
//! beside the live ones (blue/green) and switches to the new build once it
//! has caught up, without a failed request.
//!
//! On PostgreSQL the build goes into the schema `<live>_next`; holding the
//! live schema's switch lock it takes the last events, then the schemas swap
//! names in one transaction and the old one is dropped. Embedded, the build
//! is a new SQLite file that `read-models.current` then names; the running
//! `anote serve` sees it, takes the last events and switches (see
//! [`crate::read_builds`]); a stopped one opens it at its next start.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::config::ReadDatabaseConfig;
use anote_projector::Projector;
use anote_read_store::builds::{make_current, new_build, open_build};
use anote_read_store::{drop_schema, PgReadStore, ReadStore, RebuildLock, SwitchLock};
use anote_store::db::PgDatabase;
use anote_store::event_store::EventStore;
use anote_tokens::Secret;
use anyhow::Context;

use crate::log_target::{open, Target};
use crate::progress::Progress;

use anote_read_store::NOTE_VIEWS;

/// The longest live schema name a rebuild takes (PostgreSQL names have at
/// most 63 bytes, and the scratch schemas add 5).
const LONGEST_LIVE: usize = 58;

/// The schemas a rebuild of schema `live` works in: the new build, and the
/// old one between the switch and its removal.
pub fn scratch_schemas(live: &str) -> [String; 2] {
    [format!("{live}_next"), format!("{live}_old")]
}

/// Rebuilds the live read models of `target` and switches to them.
pub async fn run(target: &Target, reads: &ReadDatabaseConfig) -> anyhow::Result<()> {
    let log = open(target).await?;
    let started = Instant::now();
    let total = log.newest().await?;
    match target.postgres()? {
        Some(log_url) => {
            let url = reads.url(&log_url).map_err(anyhow::Error::msg)?;
            postgres(log, &url, &reads.read_database_schema).await?;
        }
        None => embedded(log, &target.data_dir).await?,
    }
    tracing::info!(
        events = total,
        seconds = started.elapsed().as_secs_f64(),
        "read models rebuilt and switched to"
    );
    Ok(())
}

/// The note-view projector building `store`, which is not live yet, from
/// `log`.
pub fn builder(log: Arc<dyn EventStore>, store: Arc<dyn ReadStore>) -> Projector {
    Projector::new(NOTE_VIEWS, log, store, anote_projector::BATCH).building()
}

/// Names each stream a build parked (one of its events keeps failing): the
/// rest of the log was built without it; `anote parked` lists and retries
/// them once the build is live.
pub async fn report_parked(projector: &Projector) -> anyhow::Result<()> {
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

/// Builds into a fresh schema beside `live`, then swaps them.
async fn postgres(
    log: Arc<dyn EventStore>,
    url: &Secret<String>,
    live: &str,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        live.len() <= LONGEST_LIVE,
        "a rebuild takes read-model schema names of at most {LONGEST_LIVE} bytes"
    );
    let live_db = PgDatabase::connect(url.expose(), Some(live), 2)
        .await
        .context("connecting to the read-model database")?;
    live_db
        .migrate(anote_read_store::migrations::postgres())
        .await?;
    let Some(_only) = RebuildLock::try_acquire(&live_db, live).await? else {
        anyhow::bail!("another replay is rebuilding {live}");
    };
    let [next, old] = scratch_schemas(live);
    // Left by a replay that was interrupted.
    drop_schema(&live_db, &next).await?;
    drop_schema(&live_db, &old).await?;
    let next_db = PgDatabase::connect(url.expose(), Some(&next), 4).await?;
    next_db
        .migrate(anote_read_store::migrations::postgres())
        .await?;
    let projector = builder(log.clone(), Arc::new(PgReadStore::new(next_db)));
    let mut progress = Progress::new(log.newest().await?);
    projector.catch_up(|at| progress.show(at)).await?;
    progress.done();
    let lock = SwitchLock::acquire(&live_db, live).await?;
    let reached = projector.catch_up(|_| {}).await?;
    report_parked(&projector).await?;
    lock.switch(&next, &old).await?;
    tracing::info!(schema = live, %reached, "switched to the new read models");
    if let Err(err) = drop_schema(&live_db, &old).await {
        tracing::warn!(schema = old, error = %err, "the old read models could not be dropped; drop them by hand");
    }
    Ok(())
}

/// Builds a new SQLite file and names it the current build.
async fn embedded(log: Arc<dyn EventStore>, data_dir: &Path) -> anyhow::Result<()> {
    let path = new_build(data_dir);
    let projector = builder(log.clone(), open_build(&path).await?);
    let mut progress = Progress::new(log.newest().await?);
    let reached = projector.catch_up(|at| progress.show(at)).await?;
    progress.done();
    report_parked(&projector).await?;
    make_current(data_dir, &path)?;
    tracing::info!(
        build = %path.display(),
        %reached,
        "new read models built; a running server switches to them within a second"
    );
    Ok(())
}
