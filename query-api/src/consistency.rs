//! Read-your-writes: a read carrying `Anote-Min-Position` is answered only
//! once the read models have passed that position, or told it timed out.

use std::time::Duration;

use anote_infra::event_store::Position;
use anote_infra::http::problem::ApiError;
use anote_infra::http::MIN_POSITION_HEADER;
use axum::http::HeaderMap;
use tokio::time::Instant;

use crate::QueryState;

/// How often the checkpoint is looked at while waiting.
const POLL: Duration = Duration::from_millis(5);

/// Waits until the projector has applied the position in
/// `Anote-Min-Position`, if the request sent one; returns that position.
pub async fn wait_for_min_position(
    state: &QueryState,
    headers: &HeaderMap,
) -> Result<Option<Position>, ApiError> {
    let Some(value) = headers.get(MIN_POSITION_HEADER) else {
        return Ok(None);
    };
    let wanted: Position = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or(ApiError::InvalidMinPosition)?;
    let deadline = Instant::now() + state.min_position_timeout;
    loop {
        let reached = state.reads.checkpoint(&state.projector).await?;
        if reached >= wanted {
            return Ok(Some(wanted));
        }
        if Instant::now() >= deadline {
            return Err(ApiError::ProjectionBehind {
                reached: reached.to_string(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
