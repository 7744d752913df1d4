//! `anote replay`: rebuilds the live read models from the log and switches
//! to them with no downtime; with `--until`, builds the read models as of a
//! past point of the log (a position or a time) into a new schema or file,
//! for an audit, without touching the live ones.

use std::sync::Arc;
use std::time::Instant;

use crate::config::ReadDatabaseConfig;
use anote_read_store::{PgReadStore, ReadStore, SqliteReadStore};
use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_store::event_store::until::{LogUntil, Until};
use anote_store::event_store::{EventStore, Position};
use anyhow::Context;
use clap::Args;

use crate::log_target::{open, Target};
use crate::progress::Progress;
use crate::rebuild;
use anote_read_store::NOTE_VIEWS;

/// What to replay and where to.
#[derive(Args, Debug)]
pub struct Replay {
    #[command(flatten)]
    target: Target,
    /// The past point: a log position (`<tx>-<seq>`, as in `Anote-Position`)
    /// or an RFC 3339 time (the log up to the first event recorded after it).
    /// Without it, the live read models are rebuilt and switched to.
    #[arg(long, requires = "into")]
    until: Option<Until>,
    /// Where the read models as of `--until` go: a new PostgreSQL schema in
    /// the read-model database, or (embedded) a new file `<into>.sqlite3` in
    /// the data folder.
    #[arg(long, requires = "until")]
    into: Option<String>,
    /// The read-model database; with `--until`, its live schema is never
    /// written to.
    #[command(flatten)]
    reads: ReadDatabaseConfig,
}

/// Opens the new, empty read store `into` names.
async fn fresh_read_store(replay: &Replay, into: &str) -> anyhow::Result<Arc<dyn ReadStore>> {
    anyhow::ensure!(
        !into.is_empty()
            && into.len() <= 60
            && into
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--into takes 1 to 60 characters of a-z, 0-9 and _"
    );
    let store: Arc<dyn ReadStore> = match replay.target.postgres()? {
        Some(log_url) => {
            let live = &replay.reads.read_database_schema;
            anyhow::ensure!(
                into != live
                    && !anote_projector::rebuild::scratch_schemas(live).contains(&into.to_owned()),
                "--into names the live read models or a rebuild's"
            );
            let url = replay.reads.url(&log_url).map_err(anyhow::Error::msg)?;
            let db = PgDatabase::connect(url.expose(), Some(into), 4)
                .await
                .context("connecting to the read-model database")?;
            db.migrate(anote_read_store::migrations::postgres()).await?;
            Arc::new(PgReadStore::new(db))
        }
        None => {
            let path = replay.target.data_dir.join(format!("{into}.sqlite3"));
            anyhow::ensure!(
                into != "read-models" && into != "anote" && !path.exists(),
                "{} exists already",
                path.display()
            );
            let db = SqliteDatabase::open_rebuildable(&path).await?;
            db.migrate(anote_read_store::migrations::sqlite()).await?;
            Arc::new(SqliteReadStore::new(db))
        }
    };
    anyhow::ensure!(
        store.checkpoint(NOTE_VIEWS).await? == Position::START,
        "--into {into} holds read models already; name a new one"
    );
    Ok(store)
}

/// Runs the replay to its end: a blue/green rebuild of the live read
/// models, or (with `--until`) read models as of a past point.
pub async fn run(replay: Replay) -> anyhow::Result<()> {
    let (Some(until), Some(into)) = (replay.until, replay.into.as_deref()) else {
        return rebuild::run(&replay.target, &replay.reads).await;
    };
    let log = Arc::new(LogUntil::new(open(&replay.target).await?, until));
    let reads = fresh_read_store(&replay, into).await?;
    let mut progress = Progress::new(log.newest().await?);
    let projector = anote_projector::rebuild::builder(log, reads);
    let started = Instant::now();
    let reached = projector.catch_up(|at| progress.show(at)).await?;
    progress.done();
    anote_projector::rebuild::report_parked(&projector).await?;
    tracing::info!(
        %until,
        into,
        %reached,
        seconds = started.elapsed().as_secs_f64(),
        "read models as of the past point are built"
    );
    Ok(())
}
