//! The note routes: one per command, each replying `{id, version, position}`
//! with the version as `ETag` and the position as `Anote-Position`.

use anote_domain::note::{NewNote, Note, NoteAction, NoteCommand};
use anote_domain::values::{Body, DueAt, Subject, Tags, Title};
use anote_domain::{DomainError, NoteId};
use anote_http::POSITION_HEADER;
use anote_store::event_store::codec::note_events;
use anote_store::event_store::{Metadata, StoredReply};
use anote_tokens::TokenSigner;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::CommandError;
use crate::extract::{Caller, IfMatch};
use crate::note_commands::Outcome;
use crate::AppState;
use anote_http::extract::{JsonBody, NotePath};

/// A new note.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNoteRequest {
    /// Up to 200 characters.
    pub title: String,
    /// Markdown, up to 512 KiB.
    pub body: String,
    /// Up to 80 characters.
    #[serde(default)]
    pub subject: Option<String>,
    /// Up to 20 tags of 1–40 characters.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// A due date (RFC 3339) makes the note an assignment.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
}

/// A change of title and/or body.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditNoteRequest {
    /// The new title.
    #[serde(default)]
    pub title: Option<String>,
    /// The new body.
    #[serde(default)]
    pub body: Option<String>,
}

/// The note's new tags.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTagsRequest {
    /// Replaces every tag.
    pub tags: Vec<String>,
}

/// The note's new subject.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveToSubjectRequest {
    /// The subject, or null for none.
    pub subject: Option<String>,
}

/// The assignment's due date.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDueRequest {
    /// RFC 3339; stored in UTC, whole seconds.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
}

/// The reply to every note command.
#[derive(Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
pub struct NoteReply {
    /// The note.
    pub id: Uuid,
    /// Its version after the command (also the `ETag`).
    pub version: u64,
    /// The log position of its last event (also `Anote-Position`); send it
    /// back as `Anote-Min-Position` to read your own write.
    pub position: String,
}

/// A reply with its status and headers.
struct Reply {
    status: StatusCode,
    body: NoteReply,
    replayed: bool,
}

/// Sets `ETag` to a note's version and `Anote-Position` to a command's position.
pub fn with_version_headers(mut response: Response, version: u64, position: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(position) = HeaderValue::from_str(position) {
        headers.insert(POSITION_HEADER, position);
    }
    response
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let (version, position) = (self.body.version, self.body.position.clone());
        let location = HeaderValue::from_str(&format!("/v1/notes/{}", self.body.id));
        let response = (self.status, axum::Json(self.body)).into_response();
        let mut response = with_version_headers(response, version, &position);
        let headers = response.headers_mut();
        if self.status == StatusCode::CREATED {
            if let Ok(location) = location {
                headers.insert(header::LOCATION, location);
            }
        }
        if self.replayed {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}

impl From<Outcome> for NoteReply {
    fn from(o: Outcome) -> Self {
        Self {
            id: o.id.uuid(),
            version: o.version,
            position: o.position.to_string(),
        }
    }
}

/// Runs one note command for the caller: replays a remembered reply for a
/// known `Idempotency-Key`, otherwise decides and appends. A command that
/// loses its race (a version mismatch, a key in use) looks for the reply
/// again: the winner may have been an earlier attempt of the same request,
/// whose reply the client never got, and it gets that reply, not a 412.
async fn run(
    app: &AppState,
    caller: Caller,
    id: NoteId,
    expected: Option<u64>,
    action: NoteAction,
    request: impl Serialize,
) -> Result<Reply, CommandError> {
    let status = if matches!(action, NoteAction::Create(_)) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let remember = match caller.idempotency_key {
        None => None,
        Some(key) => {
            let target = if status == StatusCode::CREATED {
                Uuid::nil()
            } else {
                id.uuid()
            };
            let request_hash = request_fingerprint(
                &app.signer,
                status,
                target,
                action_name(&action),
                &serde_json::to_vec(&request).unwrap_or_default(),
            );
            let stored = StoredReply {
                user_id: caller.user,
                key,
                request_hash,
                status: status.as_u16(),
                body: serde_json::json!({ "id": id.uuid() }),
            };
            if let Some(reply) = replay(app, &stored).await? {
                return Ok(reply);
            }
            Some(stored)
        }
    };
    let command = NoteCommand {
        actor: caller.user,
        action,
    };
    let metadata = Metadata::for_request(Some(caller.user), caller.request_id);
    match app
        .notes
        .execute(id, expected, command, metadata, remember.clone())
        .await
    {
        Ok(outcome) => Ok(Reply {
            status,
            body: outcome.into(),
            replayed: false,
        }),
        Err(
            lost @ (CommandError::VersionMismatch { .. }
            | CommandError::IdempotencyKeyInUse
            | CommandError::Rule(DomainError::AlreadyExists)),
        ) => match &remember {
            Some(stored) => replay(app, stored).await?.ok_or(lost),
            None => Err(lost),
        },
        Err(other) => Err(other),
    }
}

/// The reply remembered for `request`'s user and key, if there is one;
/// `idempotency_key_reused` when the key was used for another request.
async fn replay(app: &AppState, request: &StoredReply) -> Result<Option<Reply>, CommandError> {
    let Some(stored) = app
        .storage
        .events
        .find_reply(request.user_id, &request.key)
        .await?
    else {
        return Ok(None);
    };
    if stored.request_hash != request.request_hash {
        return Err(CommandError::IdempotencyKeyReused);
    }
    let body = serde_json::from_value(stored.body)
        .map_err(|e| CommandError::Internal(format!("stored reply: {e}")))?;
    Ok(Some(Reply {
        status: StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK),
        body,
        replayed: true,
    }))
}

/// The fingerprint of an idempotent request, stored to refuse its key for
/// another request: keyed with the server's secret, so that a stored
/// fingerprint cannot confirm a guess of a purged note's text to someone
/// who reads the database.
fn request_fingerprint(
    signer: &TokenSigner,
    status: StatusCode,
    target: Uuid,
    action: &str,
    request: &[u8],
) -> Vec<u8> {
    signer.keyed_digest(
        "idempotent-request",
        &[
            status.as_str().as_bytes(),
            target.as_bytes(),
            action.as_bytes(),
            request,
        ],
    )
}

/// A stable name per action, part of an idempotent request's fingerprint.
fn action_name(action: &NoteAction) -> &'static str {
    match action {
        NoteAction::Create(_) => "create",
        NoteAction::Import(_) => "import",
        NoteAction::Edit { .. } => "edit",
        NoteAction::SetTags(_) => "tags",
        NoteAction::MoveToSubject(_) => "subject",
        NoteAction::Pin => "pin",
        NoteAction::Unpin => "unpin",
        NoteAction::Archive => "archive",
        NoteAction::Unarchive => "unarchive",
        NoteAction::SetDue(_) => "due",
        NoteAction::ClearDue => "clear-due",
        NoteAction::Complete => "complete",
        NoteAction::Reopen => "reopen",
        NoteAction::Trash => "trash",
        NoteAction::Restore => "restore",
        NoteAction::Purge => "purge",
        NoteAction::Share { .. } => "share",
        NoteAction::RevokeShare { .. } => "revoke-share",
        NoteAction::RestoreContent { .. } => "restore-content",
        NoteAction::RequestUpload { .. } => "request-upload",
        NoteAction::AttachDocument { .. } => "attach-document",
        NoteAction::FailUpload { .. } => "fail-upload",
        NoteAction::RemoveDocument { .. } => "remove-document",
        NoteAction::SubmitDocument { .. } => "submit-document",
    }
}

/// Create a note.
#[utoipa::path(post, path = "/v1/notes", tag = "notes",
    request_body = CreateNoteRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeats return the first reply")),
    responses(
        (status = 201, body = NoteReply, description = "Created; `Location`, `ETag` and `Anote-Position` set"),
        (status = 401, body = anote_http::problem::Problem), (status = 422, body = anote_http::problem::Problem),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateNoteRequest>,
) -> Result<Response, CommandError> {
    let new = NewNote {
        title: Title::parse(&req.title)?,
        body: Body::parse(&req.body)?,
        subject: req.subject.as_deref().map(Subject::parse).transpose()?,
        tags: Tags::parse(req.tags.as_deref().unwrap_or_default())?,
        due_at: req.due_at.map(DueAt::new),
    };
    Ok(run(
        &app,
        caller,
        NoteId::new(),
        None,
        NoteAction::Create(new),
        &req,
    )
    .await?
    .into_response())
}

/// Change a note's title and/or body.
#[utoipa::path(patch, path = "/v1/notes/{id}", tag = "notes",
    request_body = EditNoteRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header, description = "\"<version>\"")),
    responses(
        (status = 200, body = NoteReply), (status = 404, body = anote_http::problem::Problem),
        (status = 412, body = anote_http::problem::Problem), (status = 428, body = anote_http::problem::Problem),
    ),
    security(("bearer" = [])))]
pub async fn edit(
    State(app): State<AppState>,
    caller: Caller,
    NotePath(id): NotePath,
    if_match: IfMatch,
    JsonBody(req): JsonBody<EditNoteRequest>,
) -> Result<Response, CommandError> {
    let expected = if_match.required()?;
    if req.title.is_none() && req.body.is_none() {
        return Err(CommandError::EmptyPatch);
    }
    let action = NoteAction::Edit {
        title: req.title.as_deref().map(Title::parse).transpose()?,
        body: req.body.as_deref().map(Body::parse).transpose()?,
    };
    Ok(run(&app, caller, id, Some(expected), action, &req)
        .await?
        .into_response())
}

/// Replace a note's tags.
#[utoipa::path(put, path = "/v1/notes/{id}/tags", tag = "notes",
    request_body = SetTagsRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = NoteReply), (status = 412, body = anote_http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn set_tags(
    State(app): State<AppState>,
    caller: Caller,
    NotePath(id): NotePath,
    if_match: IfMatch,
    JsonBody(req): JsonBody<SetTagsRequest>,
) -> Result<Response, CommandError> {
    let expected = if_match.required()?;
    let action = NoteAction::SetTags(Tags::parse(&req.tags)?);
    Ok(run(&app, caller, id, Some(expected), action, &req)
        .await?
        .into_response())
}

/// Move a note to a subject (or to none).
#[utoipa::path(put, path = "/v1/notes/{id}/subject", tag = "notes",
    request_body = MoveToSubjectRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = NoteReply), (status = 412, body = anote_http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn move_to_subject(
    State(app): State<AppState>,
    caller: Caller,
    NotePath(id): NotePath,
    if_match: IfMatch,
    JsonBody(req): JsonBody<MoveToSubjectRequest>,
) -> Result<Response, CommandError> {
    let expected = if_match.required()?;
    let action = NoteAction::MoveToSubject(req.subject.as_deref().map(Subject::parse).transpose()?);
    Ok(run(&app, caller, id, Some(expected), action, &req)
        .await?
        .into_response())
}

/// Set a due date, making the note an assignment.
#[utoipa::path(put, path = "/v1/notes/{id}/due", tag = "notes",
    request_body = SetDueRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = NoteReply), (status = 412, body = anote_http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn set_due(
    State(app): State<AppState>,
    caller: Caller,
    NotePath(id): NotePath,
    if_match: IfMatch,
    JsonBody(req): JsonBody<SetDueRequest>,
) -> Result<Response, CommandError> {
    let expected = if_match.required()?;
    let action = NoteAction::SetDue(DueAt::new(req.due_at));
    Ok(run(&app, caller, id, Some(expected), action, &req)
        .await?
        .into_response())
}

/// Defines a route for a command that takes no body.
macro_rules! bodyless_command {
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal, $action:expr) => {
        $(#[$doc])*
        #[utoipa::path($method, path = $path, tag = "notes",
            params(("id" = Uuid, Path), ("If-Match" = String, Header, description = "\"<version>\"")),
            responses(
                (status = 200, body = NoteReply), (status = 404, body = anote_http::problem::Problem),
                (status = 409, body = anote_http::problem::Problem), (status = 412, body = anote_http::problem::Problem),
                (status = 428, body = anote_http::problem::Problem),
            ),
            security(("bearer" = [])))]
        pub async fn $name(
            State(app): State<AppState>,
            caller: Caller,
            NotePath(id): NotePath,
            if_match: IfMatch,
        ) -> Result<Response, CommandError> {
            let expected = if_match.required()?;
            Ok(run(&app, caller, id, Some(expected), $action, ()).await?.into_response())
        }
    };
}

bodyless_command!(/// Clear the due date.
    clear_due, delete, "/v1/notes/{id}/due", NoteAction::ClearDue);
bodyless_command!(/// Pin the note.
    pin, post, "/v1/notes/{id}/pin", NoteAction::Pin);
bodyless_command!(/// Unpin the note.
    unpin, post, "/v1/notes/{id}/unpin", NoteAction::Unpin);
bodyless_command!(/// Archive the note.
    archive, post, "/v1/notes/{id}/archive", NoteAction::Archive);
bodyless_command!(/// Bring the note back from the archive.
    unarchive, post, "/v1/notes/{id}/unarchive", NoteAction::Unarchive);
bodyless_command!(/// Mark the assignment done.
    complete, post, "/v1/notes/{id}/complete", NoteAction::Complete);
bodyless_command!(/// Mark the assignment not done.
    reopen, post, "/v1/notes/{id}/reopen", NoteAction::Reopen);
bodyless_command!(/// Move the note to the trash.
    trash, post, "/v1/notes/{id}/trash", NoteAction::Trash);
bodyless_command!(/// Take the note back from the trash.
    restore, post, "/v1/notes/{id}/restore", NoteAction::Restore);
bodyless_command!(/// Delete the note for good (only from the trash).
    purge, delete, "/v1/notes/{id}", NoteAction::Purge);

/// Make an earlier version's content (title, body, subject, tags) current
/// again, as a new event; the history is kept.
#[utoipa::path(post, path = "/v1/notes/{id}/versions/{version}/restore", tag = "notes",
    params(("id" = Uuid, Path), ("version" = u64, Path), ("If-Match" = String, Header, description = "\"<version>\"")),
    responses(
        (status = 200, body = NoteReply), (status = 404, body = anote_http::problem::Problem, description = "note_not_found, version_not_found"),
        (status = 412, body = anote_http::problem::Problem), (status = 428, body = anote_http::problem::Problem),
    ),
    security(("bearer" = [])))]
pub async fn restore_version(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, version)): Path<(String, String)>,
    if_match: IfMatch,
) -> Result<Response, CommandError> {
    let id = Uuid::parse_str(&id).map_err(|_| CommandError::NoteNotFound)?;
    let id = NoteId::from_uuid(id);
    let version: u64 = version.parse().map_err(|_| CommandError::VersionNotFound)?;
    let expected = if_match.required()?;
    let events = note_events(&*app.storage.events, id).await?;
    let now = Note::fold(events.iter().map(|r| &r.event));
    if now.live().is_none_or(|n| n.owner() != caller.user) {
        return Err(CommandError::NoteNotFound);
    }
    let then = Note::fold(
        events
            .iter()
            .take_while(|r| r.recorded.stream_version <= version)
            .map(|r| &r.event),
    );
    let content = match then.live() {
        Some(note) if version >= 1 && version <= events.len() as u64 => note.content(),
        _ => return Err(CommandError::VersionNotFound),
    };
    let action = NoteAction::RestoreContent {
        from_version: version,
        content,
    };
    let request = serde_json::json!({ "restore": version });
    Ok(run(&app, caller, id, Some(expected), action, request)
        .await?
        .into_response())
}
