//! The sync feed: everything that changed for the caller since a cursor,
//! deletions included, so another device can catch up without reloading.

use crate::error::QueryError;
use anote_http::extract::{Auth, QueryParams};
use anote_http::{Problem, Rejection};
use anote_read_store::NoteView;
use anote_store::event_store::Position;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::consistency::{wait_for_min_position, MinPositionHeader};
use crate::notes::NoteBody;
use crate::QueryState;

/// Where to start.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesParams {
    /// The `next_cursor` of the previous answer; from the beginning if
    /// absent; `now` for no changes and a cursor at the read models' current
    /// position (a new device that has just loaded its notes).
    #[param(pattern = "^([0-9]{1,19}-[0-9]{1,19}|now)$")]
    pub since: Option<String>,
    /// Changes per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// One changed note.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// The note.
    pub id: Uuid,
    /// The note was purged: drop it.
    pub deleted: bool,
    /// The note as it is now (with its body), unless deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<NoteBody>,
}

impl Change {
    /// The change a view of the feed stands for.
    pub fn of(view: NoteView) -> Self {
        Self {
            id: view.id.uuid(),
            deleted: view.purged,
            note: (!view.purged).then(|| NoteBody::from_view(view, true)),
        }
    }
}

/// A page of changes, oldest change first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Changes {
    /// Each changed note once, in its latest state.
    pub items: Vec<Change>,
    /// Send as `since` next time.
    pub next_cursor: String,
    /// Whether more changes are waiting right now.
    pub has_more: bool,
}

/// The cursor of the feed's current end.
const NOW: &str = "now";

/// The position a `since` cursor names: the beginning when absent, `None`
/// for `now` (the read models' current position).
pub fn parse_since(since: Option<&str>) -> Result<Option<Position>, QueryError> {
    match since {
        None => Ok(Some(Position::START)),
        Some(NOW) => Ok(None),
        Some(cursor) => cursor
            .parse()
            .map(Some)
            .map_err(|_| Rejection::InvalidQuery("unknown cursor".to_owned()).into()),
    }
}

/// What changed for the caller since a cursor.
#[utoipa::path(get, path = "/v1/changes", tag = "sync", params(ChangesParams, MinPositionHeader),
    responses((status = 200, body = Changes), (status = 400, body = Problem)), security(("bearer" = [])))]
pub async fn changes(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    QueryParams(params): QueryParams<ChangesParams>,
    headers: HeaderMap,
) -> Result<Json<Changes>, QueryError> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Rejection::InvalidQuery("limit must be 1 to 500".to_owned()).into());
    }
    let since = parse_since(params.since.as_deref())?;
    wait_for_min_position(&state, &headers).await?;
    // Every change before the feed's end is in the notes the device has read.
    let Some(since) = since else {
        return Ok(Json(Changes {
            items: Vec::new(),
            next_cursor: state.reads.changes_now().await?.to_string(),
            has_more: false,
        }));
    };
    // A change held back now is listed on the device's next ask.
    let mut views = state
        .reads
        .changes(auth.user, since, limit + 1)
        .await?
        .views;
    let has_more = views.len() > limit as usize;
    views.truncate(limit as usize);
    let next_cursor = views.last().map_or(since, |v| v.changed).to_string();
    let items = views.into_iter().map(Change::of).collect();
    Ok(Json(Changes {
        items,
        next_cursor,
        has_more,
    }))
}
