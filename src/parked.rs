//! `anote parked`: the streams the projector set aside because one of their
//! events keeps failing, listed for an operator and projected again on
//! request, on PostgreSQL (`ANOTE_DATABASE_URL`) or the embedded data folder.

use std::io::Write;

use crate::config::ReadDatabaseConfig;
use anote_projector::{Projector, ProjectorError};
use clap::{Args, Subcommand};

use crate::log_target::{open, read_models, Target};

use anote_read_store::NOTE_VIEWS;

/// Which read models, and what to do with their parked streams.
#[derive(Args, Debug)]
pub struct Parked {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    reads: ReadDatabaseConfig,
    #[command(subcommand)]
    action: Action,
}

/// What to do.
#[derive(Subcommand, Debug)]
enum Action {
    /// Print the parked streams as JSON lines: stream, position, version,
    /// error, when.
    List,
    /// Project parked streams again from the log; a stream whose events now
    /// apply is unparked, the others stay parked with their new error.
    /// Exits with 1 when one stays parked.
    Retry {
        /// The streams, such as `note-<uuid>`.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        streams: Vec<String>,
        /// Every parked stream.
        #[arg(long)]
        all: bool,
    },
}

/// Runs the action; returns whether every retried stream was unparked.
pub async fn run(parked: Parked) -> anyhow::Result<bool> {
    let projector = Projector::new(
        NOTE_VIEWS,
        open(&parked.target).await?,
        read_models(&parked.target, &parked.reads).await?,
        anote_projector::BATCH,
    );
    let mut out = std::io::stdout().lock();
    match parked.action {
        Action::List => {
            for stream in projector.parked().await? {
                writeln!(out, "{}", serde_json::to_string(&stream)?)?;
            }
            Ok(true)
        }
        Action::Retry { streams, all } => {
            let streams = match all {
                true => projector
                    .parked()
                    .await?
                    .into_iter()
                    .map(|p| p.stream_id)
                    .collect(),
                false => streams,
            };
            let mut unparked = true;
            for stream in streams {
                match projector.retry(&stream).await {
                    Ok(()) => writeln!(out, "{stream}: unparked")?,
                    Err(ProjectorError::NotParked(_)) => {
                        unparked = false;
                        writeln!(out, "{stream}: not parked")?;
                    }
                    Err(err) => {
                        unparked = false;
                        writeln!(out, "{stream}: still parked: {err}")?;
                    }
                }
            }
            Ok(unparked)
        }
    }
}
