//! `anote audit`: check the log's hash chains (and, against an anchor,
//! that nothing was removed or rewritten), anchor it, or export it for a
//! third party, on PostgreSQL (`ANOTE_DATABASE_URL`) or on the embedded
//! data folder.

use std::io::Write;

use anote_store::event_store::anchor;
use anote_store::event_store::audit::{verify, ExportLine};
use anote_store::event_store::Position;
use clap::Subcommand;
use time::OffsetDateTime;

use crate::anchors::{self, Anchors, Location, BATCH};
use crate::config::AnchorRetention;
use crate::log_target::{open, Target};

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Action {
    /// Check every chain (or one stream's) and name the first broken event
    /// of each, and with `--against` compare the log with an anchor; exits
    /// with 1 when a chain is broken or the log does not match the anchor.
    Verify {
        #[command(flatten)]
        target: Target,
        /// Only this stream, such as `note-<uuid>`.
        #[arg(long, conflicts_with = "against")]
        stream: Option<String>,
        /// An anchor (a file, or `s3://bucket/key` of one object): the log
        /// must still hold what it saw at its position.
        #[arg(long)]
        against: Option<Location>,
        /// S3 endpoint to use instead of AWS's (an emulator).
        #[arg(long, env = "ANOTE_S3_ENDPOINT")]
        s3_endpoint: Option<String>,
    },
    /// Anchor the log: write its position, counts and the digest of every
    /// stream's head to a file or to S3 (locked), outside the database, and
    /// print it.
    Anchor {
        #[command(flatten)]
        target: Target,
        /// A new file, a folder, or `s3://bucket/prefix` (a bucket with
        /// Object Lock); an existing anchor is never overwritten.
        #[arg(long)]
        to: Location,
        #[command(flatten)]
        retention: AnchorRetention,
        /// S3 endpoint to use instead of AWS's (an emulator).
        #[arg(long, env = "ANOTE_S3_ENDPOINT")]
        s3_endpoint: Option<String>,
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
        Action::Verify {
            target,
            stream,
            against,
            s3_endpoint,
        } => {
            let against = match against {
                Some(location) => Some(anchors::read(&location, s3_endpoint.as_deref()).await?),
                None => None,
            };
            let store = open(&target).await?;
            let mut report = verify(&*store, stream.as_deref(), BATCH).await?;
            if let Some(against) = against {
                report.anchor = Some(anchor::check(&*store, &against, BATCH).await?);
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            Ok(report.passed())
        }
        Action::Anchor {
            target,
            to,
            retention,
            s3_endpoint,
        } => {
            let anchors = Anchors::open(to, retention.duration(), s3_endpoint.as_deref()).await;
            let store = open(&target).await?;
            let made = anchor::anchor(&*store, BATCH, OffsetDateTime::now_utc()).await?;
            let place = anchors.write(&made).await?;
            tracing::info!(%place, "wrote the anchor");
            writeln!(out, "{}", serde_json::to_string_pretty(&made)?)?;
            Ok(true)
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
