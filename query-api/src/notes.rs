//! Reading notes: one note (with `ETag` and `If-None-Match`) and pages of
//! the owner's notes with filters.

use crate::error::QueryError;
use anote_domain::values::{Subject, Tag};
use anote_http::extract::{Auth, NotePath, QueryParams};
use anote_http::{Problem, Rejection};
use anote_read_store::{ListCursor, NoteFilter, NoteSort, NoteView};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::cache::{Cached, Entry, Key, NoteJson};
use crate::consistency::{wait_for_min_position, MinPositionHeader};
use crate::documents::DocumentBody;
use crate::history::{self, AsOf, PastNote};
use crate::QueryState;

/// A note.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NoteBody {
    /// The note's id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// Its Markdown body (left out of lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The start of the body as plain text.
    pub snippet: String,
    /// Its subject.
    pub subject: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Pinned to the top.
    pub pinned: bool,
    /// In the archive.
    pub archived: bool,
    /// In the trash.
    pub trashed: bool,
    /// The due date of an assignment (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    /// Whether the assignment is done.
    pub done: bool,
    /// Its version (also the `ETag`; send it as `If-Match` to change it).
    pub version: u64,
    /// When it was created (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Its documents, pending and attached, oldest first.
    pub documents: Vec<DocumentBody>,
}

impl NoteBody {
    /// The JSON form of a view, with or without the body.
    pub fn from_view(view: NoteView, with_body: bool) -> Self {
        Self {
            id: view.id.uuid(),
            title: view.title,
            body: with_body.then_some(view.body),
            snippet: view.snippet,
            subject: view.subject,
            tags: view.tags,
            pinned: view.pinned,
            archived: view.archived,
            trashed: view.trashed,
            due_at: view.due_at,
            done: view.done,
            version: view.version,
            created_at: view.created_at,
            updated_at: view.updated_at,
            documents: view.documents.into_iter().map(DocumentBody::from).collect(),
        }
    }
}

/// A note now, or as it was at a `version` or instant (`at`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum NoteOrPast {
    /// The note now, with its body.
    Current(NoteBody),
    /// The note as it was.
    Past(PastNote),
}

/// One note; with `version` or `at`, the note as it was then (folded from
/// the log).
#[utoipa::path(get, path = "/v1/notes/{id}", tag = "notes",
    params(("id" = Uuid, Path), AsOf, ("If-None-Match" = Option<String>, Header), MinPositionHeader),
    responses((status = 200, body = NoteOrPast, description = "The note now (`NoteBody`), or with `version` or `at` as it was then (`PastNote`)"),
        (status = 304), (status = 404, body = Problem),
        (status = 503, body = Problem, description = "projection_behind: Anote-Min-Position not reached in time; Retry-After and Anote-Projection-Position set")),
    security(("bearer" = [])))]
pub async fn get_note(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    NotePath(id): NotePath,
    QueryParams(as_of): QueryParams<AsOf>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    // Checked for a past state too, which the log answers exactly: the
    // header means the same on every read that takes it.
    let wanted = wait_for_min_position(&state, &headers).await?;
    if as_of.is_past() {
        let past = history::as_of(&state, &auth, id, &as_of).await?;
        return Ok(Json(NoteOrPast::Past(past)).into_response());
    }
    let key = Key::Note(auth.user, id);
    let note = match state.cache.get(&key, wanted).map(|c| c.value.clone()) {
        Some(Entry::Note(note)) => note,
        _ => {
            let started = state.cache.generation(auth.user);
            let as_of = state.checkpoint.seen();
            let note = match state.reads.note(auth.user, id).await? {
                Some(view) => Some(NoteJson {
                    version: view.version,
                    body: serde_json::to_vec(&NoteOrPast::Current(NoteBody::from_view(view, true)))
                        .map_err(|e| QueryError::Internal(e.to_string()))?
                        .into(),
                }),
                None => None,
            };
            let cached = Cached {
                value: Entry::Note(note.clone()),
                as_of,
            };
            state.cache.insert(key, cached, started);
            note
        }
    };
    let note = note.ok_or(QueryError::NoteNotFound)?;
    let etag = format!("\"{}\"", note.version);
    let etag_value =
        HeaderValue::from_str(&etag).map_err(|e| QueryError::Internal(e.to_string()))?;
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_bytes(note.body)
    };
    response.headers_mut().insert(header::ETAG, etag_value);
    Ok(response)
}

/// Filters and paging of a list of notes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this subject.
    pub subject: Option<String>,
    /// Only notes with this tag.
    pub tag: Option<String>,
    /// Only pinned (true) or unpinned (false) notes.
    pub pinned: Option<bool>,
    /// Archived notes (true) or the others (false, the default).
    pub archived: Option<bool>,
    /// The trash (true) or the others (false, the default).
    pub trashed: Option<bool>,
    /// Only notes due before this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub due_before: Option<OffsetDateTime>,
    /// Only notes due after this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub due_after: Option<OffsetDateTime>,
    /// `updated` (default: last changed first), `created` (newest first),
    /// `title` (A to Z) or `due` (soonest first; only notes with a due date).
    #[param(value_type = Option<String>, pattern = "^(updated|created|title|due)$")]
    pub sort: Option<NoteSort>,
    /// The `next_cursor` of the previous page (of the same sort); any other
    /// value is 400 `invalid_query`.
    pub cursor: Option<String>,
    /// Notes per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// A page of notes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotePage {
    /// The notes, most recently updated first, without their bodies.
    pub items: Vec<NoteBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The caller's notes, in the chosen order.
#[utoipa::path(get, path = "/v1/notes", tag = "notes", params(ListParams, MinPositionHeader),
    responses((status = 200, body = NotePage), (status = 400, body = Problem),
        (status = 422, body = Problem, description = "validation_failed: a subject or tag that no note could carry"),
        (status = 503, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_notes(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    QueryParams(params): QueryParams<ListParams>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Rejection::InvalidQuery("limit must be 1 to 100".to_owned()).into());
    }
    let sort = params.sort.unwrap_or_default();
    let after = params
        .cursor
        .as_deref()
        .map(|c| {
            ListCursor::decode(c)
                .filter(|cursor| cursor.sort == sort)
                .ok_or_else(|| Rejection::InvalidQuery("unknown cursor for this sort".to_owned()))
        })
        .transpose()?;
    // Filters obey the rules of what they match, so no value a store
    // cannot hold reaches it.
    let filter = NoteFilter {
        subject: params
            .subject
            .as_deref()
            .map(Subject::parse)
            .transpose()?
            .map(String::from),
        tag: params
            .tag
            .as_deref()
            .map(Tag::parse)
            .transpose()?
            .map(String::from),
        pinned: params.pinned,
        archived: Some(params.archived.unwrap_or(false)),
        trashed: Some(params.trashed.unwrap_or(false)),
        due_before: params.due_before,
        due_after: params.due_after,
        sort,
    };
    let wanted = wait_for_min_position(&state, &headers).await?;
    let key = Key::Page(auth.user, raw_query.unwrap_or_default());
    if let Some(Entry::Page(page)) = state.cache.get(&key, wanted).map(|c| c.value.clone()) {
        return Ok(json_bytes(page));
    }
    let started = state.cache.generation(auth.user);
    let as_of = state.checkpoint.seen();
    // One more than asked tells whether another page follows.
    let mut views = state
        .reads
        .list(auth.user, &filter, after, limit + 1)
        .await?;
    let next_cursor = if views.len() > limit as usize {
        views.truncate(limit as usize);
        views.last().map(|v| ListCursor::after(v, sort).encode())
    } else {
        None
    };
    let items = views
        .into_iter()
        .map(|v| NoteBody::from_view(v, false))
        .collect();
    let page: Bytes = serde_json::to_vec(&NotePage { items, next_cursor })
        .map_err(|e| QueryError::Internal(e.to_string()))?
        .into();
    let cached = Cached {
        value: Entry::Page(page.clone()),
        as_of,
    };
    state.cache.insert(key, cached, started);
    Ok(json_bytes(page))
}

/// A JSON reply from bytes serialised before.
fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
