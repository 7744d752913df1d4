//! Share links on the read side: the owner's list, and the public view of a
//! shared note (no login).

use crate::error::QueryError;
use anote_http::extract::{Auth, NotePath};
use anote_http::Problem;
use anote_tokens::share_url;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::consistency::{wait_for_min_position, MinPositionHeader};
use crate::documents::DocumentBody;
use crate::QueryState;
use anote_domain::document::DocumentStatus;

/// A live share link.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShareBody {
    /// The link's id (to revoke it).
    pub id: Uuid,
    /// The secret part of the link.
    pub token: String,
    /// The web app's public, read-only page of the note, `/s/<token>`
    /// (relative to the app's origin; the API reads it at
    /// `/v1/shared/{token}`).
    #[schema(example = "/s/AbC123")]
    pub url: String,
    /// When it stops working, if ever (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was opened (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The live share links of a note.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Shares {
    /// Oldest first.
    pub items: Vec<ShareBody>,
}

/// The live share links of one of the caller's notes.
#[utoipa::path(get, path = "/v1/notes/{id}/shares", tag = "shares", params(("id" = Uuid, Path), MinPositionHeader),
    responses((status = 200, body = Shares), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    NotePath(id): NotePath,
    headers: HeaderMap,
) -> Result<Json<Shares>, QueryError> {
    wait_for_min_position(&state, &headers).await?;
    state
        .reads
        .note(auth.user, id)
        .await?
        .ok_or(QueryError::NoteNotFound)?;
    let links = state.reads.share_links(auth.user, id).await?;
    let items = links
        .into_iter()
        .map(|link| {
            let token = state.signer.share_token(link.id);
            ShareBody {
                id: link.id,
                url: share_url(&token),
                token,
                expires_at: link.expires_at,
                created_at: link.created_at,
            }
        })
        .collect();
    Ok(Json(Shares { items }))
}

/// A shared note as anyone with the link sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SharedNote {
    /// The title.
    pub title: String,
    /// The Markdown body.
    pub body: String,
    /// The subject.
    pub subject: Option<String>,
    /// The tags.
    pub tags: Vec<String>,
    /// The due date of an assignment (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    /// Whether the assignment is done.
    pub done: bool,
    /// When the note last changed (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Its attached documents; download one at
    /// `/v1/shared/{token}/documents/{id}`.
    pub documents: Vec<DocumentBody>,
}

/// The public, read-only view of a shared note. A revoked or expired link
/// gets the same 404 as one that never existed. No answer may be stored by a
/// cache (`Cache-Control: no-store`): a revoked link or an erased note must
/// not live on in a browser or a proxy.
#[utoipa::path(get, path = "/v1/shared/{token}", tag = "shares", params(("token" = String, Path), MinPositionHeader),
    responses((status = 200, body = SharedNote, headers(("Cache-Control" = String, description = "no-store"))),
        (status = 404, body = Problem, description = "shared_note_not_found", headers(("Cache-Control" = String, description = "no-store")))))]
pub async fn shared(
    State(state): State<Arc<QueryState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let note = shared_note(&state, &token, &headers).await.map(Json);
    ([(header::CACHE_CONTROL, "no-store")], note)
}

/// The shared note behind `token`, if the link is live.
async fn shared_note(
    state: &QueryState,
    token: &str,
    headers: &HeaderMap,
) -> Result<SharedNote, QueryError> {
    wait_for_min_position(state, headers).await?;
    let share_id = state
        .signer
        .verify_share_token(token)
        .ok_or(QueryError::ShareLinkGone)?;
    let view = state
        .reads
        .shared_note(share_id, OffsetDateTime::now_utc())
        .await?
        .ok_or(QueryError::ShareLinkGone)?;
    Ok(SharedNote {
        title: view.title,
        body: view.body,
        subject: view.subject,
        tags: view.tags,
        due_at: view.due_at,
        done: view.done,
        updated_at: view.updated_at,
        documents: view
            .documents
            .into_iter()
            .filter(|d| d.status == DocumentStatus::Attached)
            .map(DocumentBody::from)
            .collect(),
    })
}
