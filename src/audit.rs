//! `anote audit`: check the log's hash chains, or export it for a third
//! party, on PostgreSQL (`ANOTE_DATABASE_URL`) or on the embedded data folder.

use std::io::Write;

use anote_store::event_store::audit::{verify, ExportLine};
use anote_store::event_store::Position;
use clap::Subcommand;
use time::OffsetDateTime;

use crate::log_target::{open, Target};

/// Events read per batch.
const BATCH: usize = 5_000;

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
