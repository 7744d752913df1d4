//! The embedded server's side of a rebuild: it watches which build of the
//! read models `read-models.current` names and, when `anote replay` names a
//! new one, brings it up to the log's head and switches to it while serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anote_read_store::builds::{current_build, open_build, remove_old_builds};
use anote_read_store::{Applied, ReadStore, SwitchableReads};
use anote_store::event_store::{EventStore, Position};
use tokio::sync::{broadcast, watch};

use crate::rebuild::builder;

/// How often the data folder is looked at.
const POLL: Duration = Duration::from_millis(250);

/// How long after a failed switch it is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// Switches `reads` (opened from the build `serving`) to each new build
/// named in `data_dir` until `stop`; tells the cache (through `notices`)
/// that anything may have changed.
pub async fn follow(
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
) -> anyhow::Result<(Arc<dyn ReadStore>, Position)> {
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
