//! A note's past, folded from the event log with the domain's own code: its
//! history of changes, and the note as it was at a version or a time.

use crate::error::QueryError;
use anote_domain::note::{self, Note, NoteData, NoteEvent};
use anote_domain::NoteId;
use anote_http::extract::{Auth, NotePath, QueryParams};
use anote_http::{Problem, Rejection};
use anote_store::event_store::codec::{note_events, NoteRecord};
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use similar::TextDiff;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::QueryState;

/// Lines of context around each change of a body diff.
const DIFF_CONTEXT: usize = 2;

/// The longest one body diff may take; past it the diff is coarser (whole
/// blocks replaced) but still correct.
const DIFF_TIMEOUT: Duration = Duration::from_millis(20);

/// One change of a note.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = HistoryChange)]
pub struct Change {
    /// The note's version after the change.
    pub version: u64,
    /// The event type, such as `NoteEdited`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Who made it (absent for the system, such as the document sweeper).
    pub actor: Option<Uuid>,
    /// When it was recorded (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Its position in the log.
    pub position: String,
    /// What the event says changed (its fields).
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    /// For a change of the body: a unified line diff against the body before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_diff: Option<String>,
    /// Set when the note was purged: its content was erased with its key,
    /// and `changes` shows empty values in its place.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

/// The fields of an event, without its type.
fn changes(event: &NoteEvent) -> serde_json::Value {
    let mut fields = serde_json::to_value(event).unwrap_or_default();
    if let Some(fields) = fields.as_object_mut() {
        fields.remove("type");
    }
    fields
}

/// A page of a note's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// Oldest first.
    pub items: Vec<Change>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// Paging of a history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only changes after this version (the `next` of the previous page).
    pub after: Option<u64>,
    /// Changes per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The caller's note's stream (a purged note's too, its content erased).
async fn owned_stream(
    state: &QueryState,
    auth: &Auth,
    id: NoteId,
) -> Result<Vec<NoteRecord>, QueryError> {
    let events = note_events(&*state.events, id).await?;
    let purged = matches!(Note::fold(events.iter().map(|r| &r.event)), Note::Purged);
    match events.first() {
        // A purged note's history is shown only with its content erased
        // (notes written before sealing keep theirs: they stay hidden).
        Some(first) if purged && !first.erased => Err(QueryError::NoteNotFound),
        Some(NoteRecord {
            event: NoteEvent::NoteCreated { owner, .. } | NoteEvent::NoteImported { owner, .. },
            ..
        }) if *owner == auth.user => Ok(events),
        _ => Err(QueryError::NoteNotFound),
    }
}

fn body(state: &Note) -> &str {
    state.live().map_or("", |n| n.body().as_str())
}

/// Every change of one of the caller's notes, with who and when, oldest
/// first; body changes come with a line diff.
#[utoipa::path(get, path = "/v1/notes/{id}/history", tag = "history",
    params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = History), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn history(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    NotePath(id): NotePath,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> Result<Json<History>, QueryError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Rejection::InvalidQuery("limit must be 1 to 200".into()).into());
    }
    let after = query.after.unwrap_or(0);
    // Versions are 64-bit signed in both logs, as the document says.
    if i64::try_from(after).is_err() {
        return Err(Rejection::InvalidQuery("after is not a version".into()).into());
    }
    let events = owned_stream(&state, &auth, id).await?;
    // Diffs are CPU work: off the async workers.
    tokio::task::spawn_blocking(move || page(&events, after, limit))
        .await
        .map_err(|e| QueryError::Internal(e.to_string()))
        .map(Json)
}

/// The changes after version `after`, at most `limit` of them.
fn page(events: &[NoteRecord], after: u64, limit: u32) -> History {
    let mut state = Note::Absent;
    let mut items = Vec::new();
    let mut next = None;
    for NoteRecord {
        recorded,
        event,
        erased,
    } in events
    {
        let old = body(&state).to_owned();
        state = note::evolve(state, event);
        if recorded.stream_version > after {
            if items.len() == limit as usize {
                next = items.last().map(|c: &Change| c.version);
                break;
            }
            let new = body(&state);
            let body_diff = (old != new).then(|| {
                TextDiff::configure()
                    .timeout(DIFF_TIMEOUT)
                    .diff_lines(old.as_str(), new)
                    .unified_diff()
                    .context_radius(DIFF_CONTEXT)
                    .to_string()
            });
            items.push(Change {
                version: recorded.stream_version,
                event_type: recorded.event_type.clone(),
                actor: recorded.metadata.actor.map(|a| a.uuid()),
                at: recorded.recorded_at,
                position: recorded.position.to_string(),
                changes: changes(event),
                body_diff,
                erased: *erased,
            });
        }
    }
    History { items, next }
}

/// Which past state of a note to show.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The note at this version.
    pub version: Option<u64>,
    /// The note as it was at this instant (RFC 3339); not with `version`
    /// (400 `invalid_query`).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub at: Option<OffsetDateTime>,
}

impl AsOf {
    /// Whether a past state was asked for.
    pub fn is_past(&self) -> bool {
        self.version.is_some() || self.at.is_some()
    }
}

/// A note as it was.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PastNote {
    /// The note.
    pub id: Uuid,
    /// Its version then.
    pub version: u64,
    /// When that version was recorded (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// Its title then.
    pub title: String,
    /// Its body then.
    pub body: String,
    /// Its subject then.
    pub subject: Option<String>,
    /// Its tags then.
    pub tags: Vec<String>,
    /// Pinned then.
    pub pinned: bool,
    /// Archived then.
    pub archived: bool,
    /// In the trash then.
    pub trashed: bool,
    /// Its due date then (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    /// Done then.
    pub done: bool,
}

fn past(id: NoteId, version: u64, recorded_at: OffsetDateTime, note: &NoteData) -> PastNote {
    PastNote {
        id: id.uuid(),
        version,
        recorded_at,
        title: note.title().to_string(),
        body: note.body().to_string(),
        subject: note.subject().map(ToString::to_string),
        tags: note.tags().iter().map(ToString::to_string).collect(),
        pinned: note.pinned(),
        archived: note.archived(),
        trashed: note.trashed(),
        due_at: note.due_at().map(|d| d.instant()),
        done: note.done(),
    }
}

/// One of the caller's notes as it was at `as_of`: its events up to that
/// version or instant, folded by the domain.
pub async fn as_of(
    state: &QueryState,
    auth: &Auth,
    id: NoteId,
    as_of: &AsOf,
) -> Result<PastNote, QueryError> {
    if as_of.version.is_some() && as_of.at.is_some() {
        return Err(Rejection::InvalidQuery("ask for a version or a time, not both".into()).into());
    }
    let events = owned_stream(state, auth, id).await?;
    let wanted = events.iter().take_while(|r| {
        as_of.version.is_none_or(|v| r.recorded.stream_version <= v)
            && as_of.at.is_none_or(|at| r.recorded.recorded_at <= at)
    });
    let mut folded = Note::Absent;
    let mut last = None;
    for record in wanted {
        folded = note::evolve(folded, &record.event);
        last = Some(&record.recorded);
    }
    let reached = last.map_or(0, |r| r.stream_version);
    match (folded.live(), last) {
        (Some(note), Some(recorded)) if as_of.version.is_none_or(|v| v == reached) => {
            Ok(past(id, reached, recorded.recorded_at, note))
        }
        _ => Err(QueryError::VersionNotFound),
    }
}
