//! `anote audit`: check the log's hash chains, or export it for a third
//! party, on PostgreSQL (`ANOTE_DATABASE_URL`) or on the embedded data folder.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anote_infra::config::Secret;
use anote_infra::db::{PgDatabase, SqliteDatabase};
use anote_infra::event_store::audit::{verify, ExportLine};
use anote_infra::event_store::{EventStore, PgEventStore, Position, SqliteEventStore};
use anyhow::Context;
use clap::{Args, Subcommand};
use time::OffsetDateTime;

/// Events read per batch.
const BATCH: usize = 5_000;

/// Which log to audit.
#[derive(Args, Debug)]
pub struct Target {
    /// PostgreSQL URL of the event log; without it, the embedded data folder.
    #[arg(long, env = "ANOTE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<Secret<String>>,
    /// Schema of the event log on PostgreSQL.
    #[arg(long, env = "ANOTE_DATABASE_SCHEMA")]
    database_schema: Option<String>,
    /// The embedded data folder.
    #[arg(long, env = "ANOTE_DATA_DIR", default_value = "anote-data")]
    data_dir: PathBuf,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Action {
    /// Check every chain (or one stream's) and name the first broken event
    /// of each; exits with 1 when one is broken.
    Verify {
        #[command(flatten)]
        target: Target,
        /// Only this stream, such as `note-<uuid>`.
        #[arg(long)]
        stream: Option<String>,
    },
    /// Write the log as NDJSON, one event per line with its hashes.
    Export {
        #[command(flatten)]
        target: Target,
        /// Only this stream.
        #[arg(long)]
        stream: Option<String>,
        /// Only events recorded at or after this time (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        since: Option<OffsetDateTime>,
        /// Only events recorded before this time (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        until: Option<OffsetDateTime>,
    },
}

fn rfc3339(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("an RFC 3339 time: {e}"))
}

async fn open(target: &Target) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(match &target.database_url {
        Some(url) => {
            let db = PgDatabase::connect(url.expose(), target.database_schema.as_deref(), 4)
                .await
                .context("connecting to PostgreSQL (ANOTE_DATABASE_URL)")?;
            Arc::new(PgEventStore::new(db))
        }
        None => {
            let path = target.data_dir.join("anote.sqlite3");
            anyhow::ensure!(path.exists(), "no event log at {}", path.display());
            Arc::new(SqliteEventStore::new(SqliteDatabase::open(&path).await?))
        }
    })
}

/// Runs an audit; returns whether the log verified.
pub async fn run(action: Action) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    match action {
        Action::Verify { target, stream } => {
            let store = open(&target).await?;
            let report = verify(&*store, stream.as_deref(), BATCH).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            Ok(report.breaks.is_empty())
        }
        Action::Export {
            target,
            stream,
            since,
            until,
        } => {
            let store = open(&target).await?;
            let mut after = Position::START;
            loop {
                let events = store.read_all(after, BATCH).await?;
                let Some(last) = events.last() else {
                    break;
                };
                after = last.position;
                for event in events.iter().filter(|e| {
                    stream.as_deref().is_none_or(|s| e.stream_id.as_str() == s)
                        && since.is_none_or(|t| e.recorded_at >= t)
                        && until.is_none_or(|t| e.recorded_at < t)
                }) {
                    writeln!(out, "{}", serde_json::to_string(&ExportLine::of(event)?)?)?;
                }
            }
            out.flush()?;
            Ok(true)
        }
    }
}
