//! `anote replay` without `--until`: rebuilds every read model from the log
//! beside the live ones (blue/green) and switches to the new build once it
//! has caught up, without a failed request (see `anote_projector::rebuild`).

use std::time::Instant;

use anote_projector::rebuild::{rebuild_embedded, rebuild_postgres};

use crate::config::ReadDatabaseConfig;
use crate::log_target::{open, Target};
use crate::progress::Progress;

/// Rebuilds the live read models of `target` and switches to them.
pub async fn run(target: &Target, reads: &ReadDatabaseConfig) -> anyhow::Result<()> {
    let log = open(target).await?;
    let started = Instant::now();
    let total = log.newest().await?;
    let mut progress = Progress::new(total);
    match target.postgres()? {
        Some(log_url) => {
            let url = reads.url(&log_url).map_err(anyhow::Error::msg)?;
            let live = &reads.read_database_schema;
            rebuild_postgres(log, url.expose(), live, |at| progress.show(at)).await?;
            progress.done();
        }
        None => {
            let (build, reached) =
                rebuild_embedded(log, &target.data_dir, |at| progress.show(at)).await?;
            progress.done();
            tracing::info!(
                build = %build.display(),
                %reached,
                "new read models built; a running server switches to them within a second"
            );
        }
    }
    tracing::info!(
        events = total,
        seconds = started.elapsed().as_secs_f64(),
        "read models rebuilt and switched to"
    );
    Ok(())
}
