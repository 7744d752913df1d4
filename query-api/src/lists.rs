//! Search, subjects, tags and upcoming assignments.

use crate::error::QueryError;
use anote_domain::text::{self, Lines};
use anote_http::extract::{Auth, QueryParams};
use anote_http::{Problem, Rejection};
use anote_read_store::Count;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

use crate::consistency::{wait_for_min_position, MinPositionHeader};
use crate::notes::NoteBody;
use crate::QueryState;

/// The most results one search or list returns.
const MAX_LIMIT: u32 = 100;

fn limit(asked: Option<u32>, default: u32) -> Result<u32, QueryError> {
    let limit = asked.unwrap_or(default);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Rejection::InvalidQuery(format!("limit must be 1 to {MAX_LIMIT}")).into())
    }
}

/// A search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The words to find (all of them), in titles and bodies: 1 to 500
    /// characters, not all white space.
    #[param(min_length = 1, max_length = 500, pattern = "\\S")]
    pub q: String,
    /// Results, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One search result.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    /// The note, without its body.
    pub note: NoteBody,
    /// Relevance; higher is better, comparable within one search.
    pub rank: f64,
    /// Body fragments with the matches between `<mark>` and `</mark>`; the
    /// rest is the note's own text, not escaped.
    pub highlight: String,
}

/// Search results, best first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    /// The matches.
    pub items: Vec<SearchResult>,
}

/// Full-text search over the caller's notes (trashed ones left out).
#[utoipa::path(get, path = "/v1/search", tag = "notes", params(SearchParams, MinPositionHeader),
    responses((status = 200, body = SearchResults), (status = 400, body = Problem),
        (status = 422, body = Problem, description = "validation_failed: q holds characters no note can hold")),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    QueryParams(params): QueryParams<SearchParams>,
    headers: HeaderMap,
) -> Result<Json<SearchResults>, QueryError> {
    let limit = limit(params.limit, 20)?;
    if params.q.trim().is_empty() || params.q.chars().count() > 500 {
        return Err(Rejection::InvalidQuery("q must have 1 to 500 characters".to_owned()).into());
    }
    text::check("q", &params.q, Lines::One)?;
    wait_for_min_position(&state, &headers).await?;
    let hits = state.reads.search(auth.user, &params.q, limit).await?;
    let items = hits
        .into_iter()
        .map(|hit| SearchResult {
            note: NoteBody::from_view(hit.view, false),
            rank: hit.rank,
            highlight: hit.highlight,
        })
        .collect();
    Ok(Json(SearchResults { items }))
}

/// A subject or tag with its number of notes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NameCount {
    /// The subject or tag.
    pub name: String,
    /// How many of the caller's notes (not trashed) carry it.
    pub notes: u64,
}

/// Names with counts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NameCounts {
    /// By name.
    pub items: Vec<NameCount>,
}

fn name_counts(counts: Vec<Count>) -> Json<NameCounts> {
    Json(NameCounts {
        items: counts
            .into_iter()
            .map(|c| NameCount {
                name: c.name,
                notes: c.notes,
            })
            .collect(),
    })
}

/// The caller's subjects and how many notes each has.
#[utoipa::path(get, path = "/v1/subjects", tag = "notes", params(MinPositionHeader),
    responses((status = 200, body = NameCounts)), security(("bearer" = [])))]
pub async fn subjects(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    headers: HeaderMap,
) -> Result<Json<NameCounts>, QueryError> {
    wait_for_min_position(&state, &headers).await?;
    Ok(name_counts(state.reads.subjects(auth.user).await?))
}

/// The caller's tags and how many notes each has.
#[utoipa::path(get, path = "/v1/tags", tag = "notes", params(MinPositionHeader),
    responses((status = 200, body = NameCounts)), security(("bearer" = [])))]
pub async fn tags(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    headers: HeaderMap,
) -> Result<Json<NameCounts>, QueryError> {
    wait_for_min_position(&state, &headers).await?;
    Ok(name_counts(state.reads.tags(auth.user).await?))
}

/// How many upcoming assignments to show.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UpcomingParams {
    /// Assignments, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Upcoming assignments.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Assignments {
    /// Due and not done, soonest first (overdue ones included).
    pub items: Vec<NoteBody>,
}

/// The caller's assignments that are due and not done, soonest first.
#[utoipa::path(get, path = "/v1/assignments/upcoming", tag = "notes", params(UpcomingParams, MinPositionHeader),
    responses((status = 200, body = Assignments), (status = 400, body = Problem)), security(("bearer" = [])))]
pub async fn upcoming(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    QueryParams(params): QueryParams<UpcomingParams>,
    headers: HeaderMap,
) -> Result<Json<Assignments>, QueryError> {
    let limit = limit(params.limit, 20)?;
    wait_for_min_position(&state, &headers).await?;
    let views = state.reads.upcoming(auth.user, limit).await?;
    Ok(Json(Assignments {
        items: views
            .into_iter()
            .map(|v| NoteBody::from_view(v, false))
            .collect(),
    }))
}
