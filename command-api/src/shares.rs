//! Share links: open and revoke read-only links to a note. A link's token is
//! derived from its id with the server's key, so it is never stored; the
//! public view is served by the query API at `/v1/shared/{token}`.

use crate::error::CommandError;
use anote_domain::note::{NoteAction, NoteCommand};
use anote_domain::values::Timestamp;
use anote_http::extract::{JsonBody, NotePath};
use anote_http::Problem;
use anote_store::event_store::Metadata;
use anote_tokens::share_url;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::{Caller, IfMatch};
use crate::notes::with_version_headers;
use crate::AppState;

/// A new share link.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShareRequest {
    /// When the link stops working (RFC 3339, in the future); never if absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// The link that was opened.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShareReply {
    /// The link's id (to revoke it).
    pub id: Uuid,
    /// The secret part of the link (at least 128 bits).
    pub token: String,
    /// The web app's public, read-only page of the shared note,
    /// `/s/<token>` (relative to the app's origin; the API reads it at
    /// `/v1/shared/{token}`).
    #[schema(example = "/s/AbC123")]
    pub url: String,
    /// The note's version after the command.
    pub version: u64,
    /// The log position of the command's event.
    pub position: String,
}

/// Open a read-only share link to a note (`If-Match` optional).
#[utoipa::path(post, path = "/v1/notes/{id}/shares", tag = "shares", request_body = CreateShareRequest,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 201, body = ShareReply), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "note_trashed, too_many_shares"),
        (status = 422, body = Problem, description = "expiry_in_past")),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    NotePath(id): NotePath,
    if_match: IfMatch,
    JsonBody(req): JsonBody<CreateShareRequest>,
) -> Result<Response, CommandError> {
    let expires_at = req.expires_at.map(Timestamp::new);
    if expires_at.is_some_and(|e| e.instant() <= OffsetDateTime::now_utc()) {
        return Err(CommandError::ExpiryInPast);
    }
    let share_id = Uuid::new_v4();
    let command = NoteCommand {
        actor: caller.user,
        action: NoteAction::Share {
            share_id,
            expires_at,
        },
    };
    let metadata = Metadata::for_request(Some(caller.user), caller.request_id);
    let outcome = app
        .notes
        .execute(id, if_match.0, command, metadata, None)
        .await?;
    let token = app.signer.share_token(share_id);
    let reply = ShareReply {
        id: share_id,
        url: share_url(&token),
        token,
        version: outcome.version,
        position: outcome.position.to_string(),
    };
    let response = (StatusCode::CREATED, Json(reply)).into_response();
    Ok(with_version_headers(
        response,
        outcome.version,
        &outcome.position.to_string(),
    ))
}

/// The reply to a revocation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokeReply {
    /// The note.
    pub id: Uuid,
    /// Its version after the command.
    pub version: u64,
    /// The log position of the command's event.
    pub position: String,
}

/// Revoke a share link (`If-Match` optional).
#[utoipa::path(delete, path = "/v1/notes/{id}/shares/{share_id}", tag = "shares",
    params(("id" = Uuid, Path), ("share_id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = RevokeReply), (status = 404, body = Problem, description = "note_not_found, share_not_found")),
    security(("bearer" = [])))]
pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, share_id)): Path<(String, String)>,
    if_match: IfMatch,
) -> Result<Response, CommandError> {
    let id = Uuid::parse_str(&id).map_err(|_| CommandError::NoteNotFound)?;
    let share_id = Uuid::parse_str(&share_id)
        .map_err(|_| CommandError::Rule(anote_domain::DomainError::ShareNotFound))?;
    let command = NoteCommand {
        actor: caller.user,
        action: NoteAction::RevokeShare { share_id },
    };
    let metadata = Metadata::for_request(Some(caller.user), caller.request_id);
    let note = anote_domain::NoteId::from_uuid(id);
    let outcome = app
        .notes
        .execute(note, if_match.0, command, metadata, None)
        .await?;
    let reply = RevokeReply {
        id,
        version: outcome.version,
        position: outcome.position.to_string(),
    };
    Ok(with_version_headers(
        Json(reply).into_response(),
        outcome.version,
        &outcome.position.to_string(),
    ))
}
