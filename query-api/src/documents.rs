//! Documents on the read side: the caller's documents, their storage usage,
//! and downloads — a redirect to a short-lived URL of the blob store, after
//! the authorization check (the owner's token, or a live share link).

use crate::error::QueryError;
use anote_blob::{BlobKey, FileInfo};
use anote_domain::document::DocumentStatus;
use anote_domain::NoteId;
use anote_http::extract::{accepts, Auth, QueryParams};
use anote_http::{Problem, Rejection};
use anote_read_store::DocumentView;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::consistency::{wait_for_min_position, MinPositionHeader};
use crate::QueryState;

/// A document of a note.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentBody {
    /// The document.
    pub id: Uuid,
    /// Its file name.
    pub file_name: String,
    /// Its media type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// `pending` (upload not completed) or `attached`.
    #[schema(value_type = String, example = "attached")]
    pub status: DocumentStatus,
    /// When it was handed in, if it was (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    /// The SHA-256 of its bytes (64 hexadecimal digits), recorded when the
    /// upload was completed: every download has exactly these bytes. Absent
    /// while pending (and for documents attached before digests were
    /// recorded).
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub sha256: Option<String>,
}

impl From<DocumentView> for DocumentBody {
    fn from(view: DocumentView) -> Self {
        Self {
            id: view.id,
            file_name: view.file_name,
            content_type: view.content_type,
            size: view.size,
            status: view.status,
            submitted_at: view.submitted_at,
            sha256: view.sha256,
        }
    }
}

/// A document with its note.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentItem {
    /// The note.
    pub note_id: Uuid,
    /// The note's title.
    pub note_title: String,
    /// Whether the note is in the trash.
    pub note_trashed: bool,
    /// The document.
    #[serde(flatten)]
    pub document: DocumentBody,
}

/// A page of the caller's documents.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentPage {
    /// By id.
    pub items: Vec<DocumentItem>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Uuid>,
}

/// Paging of the document list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DocumentQuery {
    /// The `next` of the previous page.
    pub after: Option<Uuid>,
    /// Documents per page, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The caller's documents, each with its note (live notes, trash included).
#[utoipa::path(get, path = "/v1/documents", tag = "documents", params(DocumentQuery, MinPositionHeader),
    responses((status = 200, body = DocumentPage), (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    headers: HeaderMap,
    QueryParams(query): QueryParams<DocumentQuery>,
) -> Result<Json<DocumentPage>, QueryError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Rejection::InvalidQuery("limit must be 1 to 100".into()).into());
    }
    wait_for_min_position(&state, &headers).await?;
    let entries = state.reads.documents(auth.user, query.after, limit).await?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.document.id))
        .flatten();
    let items = entries
        .into_iter()
        .map(|e| DocumentItem {
            note_id: e.note_id.uuid(),
            note_title: e.note_title,
            note_trashed: e.note_trashed,
            document: e.document.into(),
        })
        .collect();
    Ok(Json(DocumentPage { items, next }))
}

/// A short-lived download URL, for a client that cannot follow a redirect
/// with its token (a web page navigates to `url` instead).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DownloadLink {
    /// The download URL (its reply is an `attachment` with the original
    /// file name).
    pub url: String,
    /// When it stops working (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Download one of the caller's documents: a redirect to a short-lived URL,
/// or, with `Accept: application/json`, that URL in a JSON body.
#[utoipa::path(get, path = "/v1/documents/{id}", tag = "documents", params(("id" = Uuid, Path), MinPositionHeader),
    responses((status = 302, description = "`Location` is the download URL (the default)"),
        (status = 200, body = DownloadLink, description = "With `Accept: application/json`: the download URL and when it expires"),
        (status = 404, body = Problem, description = "document_not_found (also while its upload is pending)")),
    security(("bearer" = [])))]
pub async fn download(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let id = Uuid::parse_str(&id).map_err(|_| QueryError::DocumentNotFound)?;
    wait_for_min_position(&state, &headers).await?;
    let entry = state
        .reads
        .document(auth.user, id)
        .await?
        .ok_or(QueryError::DocumentNotFound)?;
    let link = download_link(&state, entry.note_id, &entry.document).await?;
    if accepts(&headers, header::ACCEPT, "application/json") {
        let mut response = Json(link).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(response);
    }
    redirect(&link.url)
}

/// Download a document of a shared note, through its share link.
#[utoipa::path(get, path = "/v1/shared/{token}/documents/{id}", tag = "shares",
    params(("token" = String, Path), ("id" = Uuid, Path)),
    responses((status = 302, description = "`Location` is the download URL"),
        (status = 404, body = Problem, description = "shared_note_not_found, document_not_found")))]
pub async fn shared_download(
    State(state): State<Arc<QueryState>>,
    Path((token, id)): Path<(String, String)>,
) -> Result<Response, QueryError> {
    let share_id = state
        .signer
        .verify_share_token(&token)
        .ok_or(QueryError::ShareLinkGone)?;
    let view = state
        .reads
        .shared_note(share_id, OffsetDateTime::now_utc())
        .await?
        .ok_or(QueryError::ShareLinkGone)?;
    let document = view
        .documents
        .iter()
        .find(|d| Uuid::parse_str(&id).is_ok_and(|id| d.id == id))
        .ok_or(QueryError::DocumentNotFound)?;
    redirect(&download_link(&state, view.id, document).await?.url)
}

/// A download URL of an attached document.
async fn download_link(
    state: &QueryState,
    note: NoteId,
    document: &DocumentView,
) -> Result<DownloadLink, QueryError> {
    if document.status != DocumentStatus::Attached {
        return Err(QueryError::DocumentNotFound);
    }
    let file = FileInfo {
        file_name: &document.file_name,
        content_type: &document.content_type,
    };
    let ttl = state.documents.download_url_ttl;
    let expires_at = OffsetDateTime::now_utc() + ttl;
    let url = state
        .blobs
        .store
        .presign_get(
            &BlobKey::document(note, document.id),
            file,
            document.sha256.as_deref(),
            ttl,
        )
        .await?;
    Ok(DownloadLink { url, expires_at })
}

/// A redirect to a download URL, kept by no cache.
fn redirect(url: &str) -> Result<Response, QueryError> {
    let location = HeaderValue::from_str(url).map_err(|e| QueryError::Internal(e.to_string()))?;
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// How much the caller stores, and the limits.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageBody {
    /// Pending and attached documents.
    pub documents: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The most bytes the caller may hold.
    pub quota_bytes: u64,
    /// The largest document accepted.
    pub max_document_bytes: u64,
}

/// The caller's storage usage and limits.
#[utoipa::path(get, path = "/v1/account/usage", tag = "documents", params(MinPositionHeader),
    responses((status = 200, body = UsageBody)), security(("bearer" = [])))]
pub async fn usage(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    headers: HeaderMap,
) -> Result<Json<UsageBody>, QueryError> {
    wait_for_min_position(&state, &headers).await?;
    let usage = state.reads.usage(auth.user).await?;
    Ok(Json(UsageBody {
        documents: usage.documents,
        bytes: usage.bytes,
        quota_bytes: state.documents.quota_bytes,
        max_document_bytes: state.documents.max_bytes,
    }))
}
