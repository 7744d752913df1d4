//! Documents of a note: hand out upload URLs, check and attach what was
//! uploaded, remove, and hand in. The bytes go straight between the client
//! and the blob store; this service only signs, checks and records.

use std::collections::BTreeMap;

use crate::error::CommandError;
use anote_blob::{self as blob, BlobError, BlobKey, FileInfo, SignedRequest};
use anote_domain::document::{
    ContentDigest, ContentType, DocumentSpec, DocumentStatus, FileName, UploadFailure,
};
use anote_domain::note::{NoteAction, NoteCommand};
use anote_domain::values::Timestamp;
use anote_domain::NoteId;
use anote_http::extract::{JsonBody, NotePath};
use anote_http::{Problem, Rejection};
use anote_store::event_store::Metadata;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::{Caller, IfMatch};
use crate::note_commands::Outcome;
use crate::notes::with_version_headers;
use crate::AppState;

/// A document about to be uploaded.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The file's name, for display (sanitised; never a storage key).
    pub file_name: String,
    /// Its media type; see `ANOTE_DOCUMENT_TYPES`.
    pub content_type: String,
    /// Its exact size in bytes.
    pub size: u64,
}

/// One part of a multipart upload.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadPart {
    /// The part's number, from 1.
    pub number: u32,
    /// Its exact size in bytes: the file's bytes from `(number - 1) * part_size`.
    pub size: u64,
    /// Where to `PUT` it.
    pub url: String,
    /// Headers to send with these values.
    pub headers: BTreeMap<String, String>,
}

/// Where and how to upload a new document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadReply {
    /// The document.
    pub id: Uuid,
    /// For files up to 16 MiB: `PUT` the whole file here …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
    /// … with exactly these headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_headers: Option<BTreeMap<String, String>>,
    /// For larger files: `PUT` each part to its URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<UploadPart>,
    /// When the URLs stop working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The note's version after the request.
    pub version: u64,
    /// The log position of the request's event.
    pub position: String,
}

/// The reply to a document command.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentReply {
    /// The document.
    pub id: Uuid,
    /// Its note.
    pub note_id: Uuid,
    /// The note's version after the command.
    pub version: u64,
    /// The log position of the command's last event.
    pub position: String,
}

fn reply(status: StatusCode, document: Uuid, outcome: Outcome) -> Response {
    let position = outcome.position.to_string();
    let body = DocumentReply {
        id: document,
        note_id: outcome.id.uuid(),
        version: outcome.version,
        position: position.clone(),
    };
    with_version_headers(
        (status, Json(body)).into_response(),
        outcome.version,
        &position,
    )
}

/// Runs a document command for the caller.
async fn run(
    app: &AppState,
    caller: &Caller,
    note: NoteId,
    expected: Option<u64>,
    action: NoteAction,
) -> Result<Outcome, CommandError> {
    let command = NoteCommand {
        actor: caller.user,
        action,
    };
    let metadata = Metadata::for_request(Some(caller.user), caller.request_id);
    app.notes
        .execute(note, expected, command, metadata, None)
        .await
}

/// The note and document ids of a document route.
fn ids(note: &str, document: &str) -> Result<(NoteId, Uuid), CommandError> {
    let note = Uuid::parse_str(note).map_err(|_| CommandError::NoteNotFound)?;
    let document = Uuid::parse_str(document).map_err(|_| CommandError::DocumentNotFound)?;
    Ok((NoteId::from_uuid(note), document))
}

/// Ask to upload a document to a note: checks the limits, then signs
/// upload URLs (a single `PUT`, or parts above 16 MiB).
#[utoipa::path(post, path = "/v1/notes/{id}/documents", tag = "documents", request_body = UploadRequest,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 201, body = UploadReply), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "note_trashed, too_many_documents"),
        (status = 413, body = Problem, description = "document_too_large"),
        (status = 415, body = Problem, description = "content_type_not_allowed"),
        (status = 507, body = Problem, description = "quota_exceeded")),
    security(("bearer" = [])))]
pub async fn request_upload(
    State(app): State<AppState>,
    caller: Caller,
    NotePath(note): NotePath,
    if_match: IfMatch,
    JsonBody(req): JsonBody<UploadRequest>,
) -> Result<Response, CommandError> {
    let limits = &app.documents;
    let file_name = FileName::parse(&req.file_name)?;
    let content_type = ContentType::parse(&req.content_type)?;
    if !limits.allows(content_type.essence()) {
        return Err(CommandError::ContentTypeNotAllowed(
            content_type.essence().to_owned(),
        ));
    }
    if req.size == 0 {
        return Err(Rejection::InvalidBody("size must be at least 1 byte".into()).into());
    }
    if req.size > limits.max_bytes {
        return Err(CommandError::DocumentTooLarge {
            max: limits.max_bytes,
        });
    }
    // A first look, so that no multipart upload is started in vain; the
    // reservation in the append is the check that holds under concurrency.
    let used = app.storage.documents.usage(caller.user).await?;
    if used.saturating_add(req.size) > limits.quota_bytes {
        return Err(CommandError::QuotaExceeded);
    }
    let document = Uuid::new_v4();
    let key = BlobKey::document(note, document);
    let file = FileInfo {
        file_name: file_name.as_str(),
        content_type: content_type.as_str(),
    };
    let store = &app.blobs.store;
    let multipart_upload = if req.size > blob::MULTIPART_THRESHOLD {
        Some(store.start_multipart(&key, file).await?)
    } else {
        None
    };
    let spec = DocumentSpec {
        file_name: file_name.clone(),
        content_type: content_type.clone(),
        size: req.size,
        multipart_upload: multipart_upload.clone(),
    };
    let action = NoteAction::RequestUpload {
        document_id: document,
        spec,
    };
    let outcome = match run(&app, &caller, note, if_match.0, action).await {
        Ok(outcome) => outcome,
        Err(err) => {
            if let Some(upload) = &multipart_upload {
                if let Err(abort) = store.abort_multipart(&key, upload).await {
                    tracing::warn!(error = %abort, "could not abort a multipart upload");
                }
            }
            return Err(err);
        }
    };
    let ttl = limits.upload_url_ttl;
    let (single, parts, expires_at) = match &multipart_upload {
        None => {
            let signed = store.presign_put(&key, file, req.size, ttl).await?;
            let expires_at = signed.expires_at;
            (Some(signed), Vec::new(), expires_at)
        }
        Some(upload) => {
            let mut parts = Vec::new();
            // The earliest expiry of the parts' URLs.
            let mut expires_at = OffsetDateTime::now_utc() + ttl;
            for (number, size) in blob::parts(req.size) {
                let signed = store.presign_part(&key, upload, number, size, ttl).await?;
                expires_at = expires_at.min(signed.expires_at);
                parts.push(UploadPart {
                    number,
                    size,
                    url: signed.url,
                    headers: signed.headers,
                });
            }
            (None, parts, expires_at)
        }
    };
    let (upload_url, upload_headers) = match single {
        Some(SignedRequest { url, headers, .. }) => (Some(url), Some(headers)),
        None => (None, None),
    };
    let body = UploadReply {
        id: document,
        upload_url,
        upload_headers,
        parts,
        expires_at,
        version: outcome.version,
        position: outcome.position.to_string(),
    };
    let mut response = with_version_headers(
        (StatusCode::CREATED, Json(body)).into_response(),
        outcome.version,
        &outcome.position.to_string(),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/documents/{document}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Complete an upload: the stored object must exist with the declared size
/// and type; one that lies is deleted and the document dropped. The
/// object's SHA-256 is recorded with the attachment; the object can no
/// longer be replaced.
#[utoipa::path(post, path = "/v1/notes/{id}/documents/{document_id}/complete", tag = "documents",
    params(("id" = Uuid, Path), ("document_id" = Uuid, Path)),
    responses((status = 200, body = DocumentReply), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "upload_missing: upload first"),
        (status = 422, body = Problem, description = "upload_mismatch: size or type differ; discarded")),
    security(("bearer" = [])))]
pub async fn complete(
    State(app): State<AppState>,
    caller: Caller,
    Path((note, document)): Path<(String, String)>,
) -> Result<Response, CommandError> {
    let (note, document) = ids(&note, &document)?;
    let data = app.notes.current(note, caller.user).await?;
    let declared = data
        .documents()
        .get(&document)
        .ok_or(CommandError::DocumentNotFound)?;
    let key = BlobKey::document(note, document);
    let store = &app.blobs.store;
    if declared.status == DocumentStatus::Pending {
        if let Some(upload) = &declared.spec.multipart_upload {
            match store.finish_multipart(&key, upload).await {
                // Finished by an earlier attempt, or never uploaded: the
                // head below tells which.
                Ok(()) | Err(BlobError::NoSuchUpload) => {}
                Err(BlobError::BadParts(detail)) => {
                    tracing::info!(%detail, "discarding an upload whose parts do not fit");
                    // The sweeper aborts it again later if this fails.
                    if let Err(e) = store.abort_multipart(&key, upload).await {
                        tracing::warn!(error = %e, "could not abort a multipart upload");
                    }
                    return reject(&app, &caller, note, document, "parts").await;
                }
                Err(other) => return Err(other.into()),
            }
        }
        let stored = store.head(&key).await?.ok_or(CommandError::UploadMissing)?;
        let essence = |t: &str| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        };
        let lie = if stored.size != declared.spec.size {
            Some("size")
        } else if stored.content_type.as_deref().map(essence)
            != Some(declared.spec.content_type.essence().to_owned())
        {
            Some("content type")
        } else {
            None
        };
        if let Some(what) = lie {
            store.delete(&key).await?;
            return reject(&app, &caller, note, document, what).await;
        }
    }
    // The object cannot change any more (a second upload is refused): its
    // digest is the one of every download.
    let digest = store
        .sha256(&key)
        .await?
        .ok_or(CommandError::UploadMissing)?;
    let action = NoteAction::AttachDocument {
        document_id: document,
        sha256: ContentDigest::from_bytes(digest),
    };
    let outcome = run(&app, &caller, note, None, action).await?;
    Ok(reply(StatusCode::OK, document, outcome))
}

/// Drops a document whose upload did not match its declaration (its object
/// is already deleted) and answers `upload_mismatch`.
async fn reject(
    app: &AppState,
    caller: &Caller,
    note: NoteId,
    document: Uuid,
    what: &'static str,
) -> Result<Response, CommandError> {
    let action = NoteAction::FailUpload {
        document_id: document,
        reason: UploadFailure::Mismatch,
    };
    run(app, caller, note, None, action).await?;
    Err(CommandError::UploadMismatch(what))
}

/// Remove a document from its note; its bytes are deleted by the next
/// sweep (`If-Match` optional).
#[utoipa::path(delete, path = "/v1/notes/{id}/documents/{document_id}", tag = "documents",
    params(("id" = Uuid, Path), ("document_id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = DocumentReply), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path((note, document)): Path<(String, String)>,
    if_match: IfMatch,
) -> Result<Response, CommandError> {
    let (note, document) = ids(&note, &document)?;
    let action = NoteAction::RemoveDocument {
        document_id: document,
    };
    let outcome = run(&app, &caller, note, if_match.0, action).await?;
    Ok(reply(StatusCode::OK, document, outcome))
}

/// Hand an attached document in for the assignment (once; `If-Match`
/// optional).
#[utoipa::path(post, path = "/v1/notes/{id}/documents/{document_id}/submit", tag = "documents",
    params(("id" = Uuid, Path), ("document_id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = DocumentReply), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "upload_incomplete, not_an_assignment, note_trashed")),
    security(("bearer" = [])))]
pub async fn submit(
    State(app): State<AppState>,
    caller: Caller,
    Path((note, document)): Path<(String, String)>,
    if_match: IfMatch,
) -> Result<Response, CommandError> {
    let (note, document) = ids(&note, &document)?;
    let action = NoteAction::SubmitDocument {
        document_id: document,
        at: Timestamp::new(OffsetDateTime::now_utc()),
    };
    let outcome = run(&app, &caller, note, if_match.0, action).await?;
    Ok(reply(StatusCode::OK, document, outcome))
}
