//! Read-your-writes: a read carrying `Anote-Min-Position` is answered only
//! once the read models have passed that position, or told it timed out.
//!
//! One task per process follows the projector's checkpoint (read again from
//! the read models whenever a projector announces a batch, and every 100 ms
//! regardless) and publishes it; waiting reads share that one query instead
//! of each polling the database.

use std::sync::Arc;
use std::time::Duration;

use crate::error::QueryError;
use anote_http::MIN_POSITION_HEADER;
use anote_read_store::{Applied, NoteReads, NOTE_VIEWS};
use anote_store::event_store::Position;
use axum::http::HeaderMap;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use utoipa::IntoParams;

use crate::QueryState;

/// How often the checkpoint is read when no notice comes.
const REFRESH: Duration = Duration::from_millis(100);

/// The projector's checkpoint as this process last read it: never ahead of
/// the real one.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    seen: watch::Receiver<Position>,
}

impl Checkpoint {
    /// Follows projector `projector`'s checkpoint in `reads`, read again on
    /// each of `notices`, until every copy of the result is dropped.
    pub fn follow(
        reads: Arc<dyn NoteReads>,
        projector: &'static str,
        mut notices: broadcast::Receiver<Applied>,
    ) -> Self {
        let (publish, seen) = watch::channel(Position::START);
        tokio::spawn(async move {
            let mut listening = true;
            while !publish.is_closed() {
                match reads.checkpoint(projector).await {
                    Ok(now) => {
                        publish.send_if_modified(|seen| {
                            let newer = now > *seen;
                            if newer {
                                *seen = now;
                            }
                            newer
                        });
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the projector's checkpoint")
                    }
                }
                tokio::select! {
                    notice = notices.recv(), if listening => {
                        listening = !matches!(notice, Err(broadcast::error::RecvError::Closed));
                        // One read covers every notice already queued.
                        while notices.try_recv().is_ok() {}
                    }
                    _ = tokio::time::sleep(REFRESH) => {}
                }
            }
        });
        Self { seen }
    }

    /// The newest checkpoint read so far.
    pub fn seen(&self) -> Position {
        *self.seen.borrow()
    }

    /// Waits until the checkpoint reaches `wanted`, at most until `deadline`;
    /// whether it did.
    async fn reached(&self, wanted: Position, deadline: Instant) -> bool {
        let mut seen = self.seen.clone();
        let waited = tokio::time::timeout_at(deadline, seen.wait_for(|p| *p >= wanted)).await;
        matches!(waited, Ok(Ok(_)))
    }
}

/// The header of a read that waits to see a write (documented on every
/// read that honours it).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct MinPositionHeader {
    /// Answer only once the read models include this position from a
    /// command reply (waiting up to `ANOTE_MIN_POSITION_TIMEOUT_MS`).
    #[param(rename = "Anote-Min-Position")]
    pub min_position: Option<String>,
}

/// Waits until the projector has applied the position in
/// `Anote-Min-Position`, if the request sent one; returns that position.
/// A position at which the log has no event is refused at once.
pub async fn wait_for_min_position(
    state: &QueryState,
    headers: &HeaderMap,
) -> Result<Option<Position>, QueryError> {
    let Some(value) = headers.get(MIN_POSITION_HEADER) else {
        return Ok(None);
    };
    let wanted: Position = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or(QueryError::InvalidMinPosition)?;
    if state.checkpoint.seen() >= wanted {
        return Ok(Some(wanted));
    }
    // A position no event has would be waited for in vain.
    if !state.events.has_position(wanted).await? {
        return Err(QueryError::UnreachableMinPosition);
    }
    let deadline = Instant::now() + state.min_position_timeout;
    if state.checkpoint.reached(wanted, deadline).await {
        return Ok(Some(wanted));
    }
    // The last word is the read models' own.
    let reached = state.reads.checkpoint(NOTE_VIEWS).await?;
    if reached >= wanted {
        return Ok(Some(wanted));
    }
    Err(QueryError::ProjectionBehind {
        reached: reached.to_string(),
    })
}
