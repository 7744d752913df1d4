//! `anote replay --until`: builds the read models as of a past point of the
//! log (a position or a time) into a new schema or file, for an audit,
//! without touching the live read models.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use anote_infra::config::Secret;
use anote_infra::db::{PgDatabase, SqliteDatabase, Tables};
use anote_infra::event_store::until::{LogUntil, Until};
use anote_infra::event_store::Position;
use anote_infra::read_store::{PgReadStore, ReadStore, SqliteReadStore};
use anote_projector::Projector;
use anyhow::Context;
use clap::Args;

use crate::log_target::{open, Target};
use crate::serve::{NOTE_PROJECTOR, PROJECTOR_BATCH};

/// What to replay and where to.
#[derive(Args, Debug)]
pub struct Replay {
    #[command(flatten)]
    target: Target,
    /// The past point: a log position (`<tx>-<seq>`, as in `Anote-Position`)
    /// or an RFC 3339 time (the log up to the first event recorded after it).
    #[arg(long)]
    until: Until,
    /// Where the read models go: a new PostgreSQL schema in the read-model
    /// database, or (embedded) a new file `<into>.sqlite3` in the data folder.
    #[arg(long)]
    into: String,
    /// The read-model database (default: the event log's).
    #[arg(long, env = "ANOTE_READ_DATABASE_URL", hide_env_values = true)]
    read_database_url: Option<Secret<String>>,
    /// The live read models' schema, which a replay never writes to.
    #[arg(long, env = "ANOTE_READ_DATABASE_SCHEMA", default_value = "anote_read")]
    read_database_schema: String,
}

/// Opens the new, empty read store `replay.into` names.
async fn fresh_read_store(replay: &Replay) -> anyhow::Result<Arc<dyn ReadStore>> {
    let into = &replay.into;
    anyhow::ensure!(
        !into.is_empty()
            && into.len() <= 60
            && into
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--into takes 1 to 60 characters of a-z, 0-9 and _"
    );
    let store: Arc<dyn ReadStore> = match &replay.target.database_url {
        Some(log_url) => {
            anyhow::ensure!(
                *into != replay.read_database_schema,
                "--into names the live read models"
            );
            let url = replay.read_database_url.as_ref().unwrap_or(log_url);
            let db = PgDatabase::connect(url.expose(), Some(into), 4)
                .await
                .context("connecting to the read-model database")?;
            db.migrate(Tables::ReadModels).await?;
            Arc::new(PgReadStore::new(db))
        }
        None => {
            let path = replay.target.data_dir.join(format!("{into}.sqlite3"));
            anyhow::ensure!(
                into != "read-models" && into != "anote" && !path.exists(),
                "{} exists already",
                path.display()
            );
            let db = SqliteDatabase::open(&path).await?;
            db.migrate(Tables::ReadModels).await?;
            Arc::new(SqliteReadStore::new(db))
        }
    };
    anyhow::ensure!(
        store.checkpoint(NOTE_PROJECTOR).await? == Position::START,
        "--into {into} holds read models already; name a new one"
    );
    Ok(store)
}

/// A progress line on a terminal: events applied, events/s and, when the
/// end is a position, how far along and the time left.
struct Progress {
    terminal: Option<std::io::Stderr>,
    target: Option<u64>,
    shown: Instant,
}

impl Progress {
    fn new(until: Until) -> Self {
        let stderr = std::io::stderr();
        Self {
            terminal: stderr.is_terminal().then_some(stderr),
            target: match until {
                Until::Position(p) => Some(p.seq()),
                Until::Time(_) => None,
            },
            shown: Instant::now(),
        }
    }

    fn show(&mut self, at: Position, started: Instant) {
        let Some(terminal) = &self.terminal else {
            return;
        };
        if self.shown.elapsed().as_millis() < 250 {
            return;
        }
        self.shown = Instant::now();
        // Log positions count events (with rare gaps), which is close enough.
        let done = at.seq();
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let mut line = format!("\r{done} events, {rate:.0} events/s");
        if let Some(target) = self.target.filter(|t| *t > 0) {
            let share = (done as f64 / target as f64).min(1.0);
            let filled = (share * 30.0) as usize;
            let left = target.saturating_sub(done) as f64 / rate.max(1.0);
            line = format!(
                "\r[{}{}] {:>3.0}% {done} events, {rate:.0} events/s, ETA {left:.0} s",
                "#".repeat(filled),
                " ".repeat(30 - filled),
                share * 100.0
            );
        }
        let _ = write!(terminal.lock(), "{line}  ");
    }

    fn done(&self) {
        if let Some(terminal) = &self.terminal {
            let _ = writeln!(terminal.lock());
        }
    }
}

/// Runs the replay to its end.
pub async fn run(replay: Replay) -> anyhow::Result<()> {
    let log = Arc::new(LogUntil::new(open(&replay.target).await?, replay.until));
    let reads = fresh_read_store(&replay).await?;
    let projector = Projector::new(NOTE_PROJECTOR, log, reads, PROJECTOR_BATCH);
    let started = Instant::now();
    let mut progress = Progress::new(replay.until);
    let mut after = Position::START;
    while let Some(next) = projector.step(after).await? {
        after = next;
        progress.show(after, started);
    }
    progress.done();
    tracing::info!(
        until = %replay.until,
        into = %replay.into,
        reached = %after,
        seconds = started.elapsed().as_secs_f64(),
        "read models as of the past point are built"
    );
    Ok(())
}
