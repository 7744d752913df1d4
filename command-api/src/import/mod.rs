//! `POST /v1/account/import`: a zip of Markdown files (an export of Anote,
//! or the folders Obsidian and Joplin write) becomes the caller's notes.
//!
//! Each note is one `NoteImported` event with the file's dates, flags and
//! documents, so an export imported into another account gives the same
//! notes. Its id is derived from the caller and the file (the export's note
//! id, else its path), and its documents' ids from their names and digests:
//! importing the same archive again creates nothing new, and an import cut
//! off midway is finished by sending it again. A bad file is reported with
//! its reason and the others are imported.
//!
//! The archive is received into an unnamed temporary file (gone with the
//! process, whatever happens), then read on a blocking thread; the report
//! is streamed as each file is done, so a long import keeps its connection
//! busy behind a load balancer.
//!
//! # Layout
//! - this file: the route, receiving the upload, the streamed report.
//! - [`archive`]: reading the zip (safe paths, bounded reads).
//! - [`plan`]: which entries are notes, documents, or neither.
//! - [`markdown`]: a Markdown file with front matter as a note.
//! - [`importer`]: storing each note and its documents.

pub mod archive;
mod importer;
pub mod markdown;
pub mod plan;

use std::io::{Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use anote_http::{Problem, Rejection};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::CommandError;
use crate::extract::Caller;
use crate::AppState;

/// The largest archive an import takes.
pub const MAX_ARCHIVE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The media types an upload may be sent as (or none).
const ZIP_TYPES: [&str; 3] = [
    "application/zip",
    "application/x-zip-compressed",
    "application/octet-stream",
];

/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 100_000;

/// The largest Markdown file (front matter and a body of at most 512 KiB).
pub const MAX_NOTE_BYTES: u64 = 1024 * 1024;

/// Imports run at once by one process: each holds a thread and a
/// temporary file as large as its archive.
pub const IMPORTS_AT_ONCE: usize = 2;

/// How long the upload may send nothing, and the client take nothing of
/// the report.
const STALLED: Duration = Duration::from_secs(60);

/// The running imports' places.
pub(crate) fn places() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(IMPORTS_AT_ONCE))
}

/// The import route (outside the API's body limit and request timeout,
/// like the document transfers: an archive is large and takes a while).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/v1/account/import", post(import))
        .with_state(state)
}

/// The bytes of a zip archive, as the request body of an import.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ZipBytes(pub Vec<u8>);

/// What became of one file of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Imported: a new note, or a document of one.
    Imported,
    /// Imported before (the same file of the same archive, or a note of
    /// this account's own export): nothing new was created.
    Exists,
    /// Refused: `code` and `detail` say why.
    Refused,
    /// Not something an import takes (hidden files, stray files).
    Skipped,
}

/// One file of the archive and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportedFile {
    /// Its path in the archive.
    pub path: String,
    /// What became of it.
    pub status: FileStatus,
    /// The note it became, or whose document it became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<Uuid>,
    /// Why it was refused or skipped: a stable code (`unsafe_path`,
    /// `zip_bomb`, `too_large`, `not_utf8`, `invalid_front_matter`,
    /// `validation_failed`, `content_type_not_allowed`, `quota_exceeded`,
    /// `not_a_note`, `hidden`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What was wrong, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The report of an import: every file, then the counts of notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// Every file of the archive but folders and the export's manifest, as
    /// it was done.
    pub files: Vec<ImportedFile>,
    /// Notes created.
    pub imported: u64,
    /// Notes already there.
    pub existing: u64,
    /// Notes refused.
    pub refused: u64,
    /// The log position of the last note created: send it as
    /// `Anote-Min-Position` to read the imported notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// Import notes from a zip.
///
/// The body is the archive (`application/zip`, or sent without a type; at
/// most 2 GiB). Markdown
/// files become notes: title, subject, tags, due date, flags and dates from
/// their front matter; without one, the title from the file name and the
/// subject from the folders. Other files become documents of the note whose
/// `<name> files` folder holds them (or that the export's manifest names).
/// Importing the same archive again creates nothing new. The reply is
/// streamed, a file at a time; a file that is refused is listed with its
/// reason and the others are imported.
#[utoipa::path(post, path = "/v1/account/import", tag = "account",
    request_body(content = ZipBytes, content_type = "application/zip", description = "A zip archive"),
    responses(
        (status = 200, description = "Every file and what became of it", body = ImportReport),
        (status = 400, description = "The upload broke off (`invalid_body`)", body = Problem),
        (status = 408, description = "The upload paused for a minute (`body_timeout`)", body = Problem),
        (status = 413, description = "The archive is larger than 2 GiB (`payload_too_large`)", body = Problem),
        (status = 415, description = "A body that is not a zip (`unsupported_media_type`)", body = Problem),
        (status = 422, description = "Not a zip archive, or too many entries (`invalid_archive`)", body = Problem),
        (status = 503, description = "Too many imports are running (`imports_busy`)", body = Problem)),
    security(("bearer" = [])))]
pub async fn import(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, CommandError> {
    let zip = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| ZIP_TYPES.contains(&v.split(';').next().unwrap_or_default().trim()));
    if !zip {
        return Err(CommandError::NotAZip);
    }
    let place = app
        .imports
        .clone()
        .try_acquire_owned()
        .map_err(|_| CommandError::ImportsBusy)?;
    let file = receive(body).await?;
    let archive = tokio::task::spawn_blocking(move || archive::Archive::open(file, MAX_ENTRIES))
        .await
        .map_err(|e| CommandError::Internal(format!("import: {e}")))?
        .map_err(CommandError::InvalidArchive)?;
    let (lines, reply) = mpsc::channel::<Bytes>(16);
    let handle = Handle::current();
    let importer = importer::Importer::new(app, caller.user, caller.request_id, handle);
    tokio::task::spawn_blocking(move || {
        let report = importer.run(archive, &lines);
        drop(place);
        tracing::info!(
            imported = report.imported,
            existing = report.existing,
            refused = report.refused,
            "an archive was imported"
        );
    });
    let stream = futures_util::stream::unfold(reply, |mut reply| async move {
        reply
            .recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), reply))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The upload, in an unnamed temporary file: at most
/// [`MAX_ARCHIVE_BYTES`], with no pause longer than [`STALLED`].
async fn receive(body: Body) -> Result<std::fs::File, CommandError> {
    let io = |e: std::io::Error| CommandError::Internal(format!("import upload: {e}"));
    let file = tempfile::tempfile().map_err(io)?;
    let mut out = tokio::fs::File::from_std(file);
    let mut body = body.into_data_stream();
    let mut received = 0u64;
    loop {
        let next = tokio::time::timeout(STALLED, body.next())
            .await
            .map_err(|_| Rejection::BodyTimeout)?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| Rejection::InvalidBody(e.to_string()))?;
        received += chunk.len() as u64;
        if received > MAX_ARCHIVE_BYTES {
            return Err(Rejection::PayloadTooLarge.into());
        }
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    let mut file = out.into_std().await;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(file)
}
