//! `GET /v1/account/export`: the caller's notes to take elsewhere, as a zip
//! of Markdown files with front matter, a folder per subject, the attached
//! documents beside their notes and a JSON manifest; streamed as it is
//! written, so an account of any size costs the same memory.
//!
//! # Layout
//! - this file: the route, and the pipe from the zip writer's thread to
//!   the reply's body.
//! - [`archive`]: the zip (and `anote export`'s, into a file).
//! - [`markdown`]: a note as Markdown, and safe file names.

pub mod archive;
pub mod markdown;

use std::io::Write;
use std::sync::Arc;

use anote_http::extract::Auth;
use anote_http::Problem;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};

use crate::consistency::{wait_for_min_position, MinPositionHeader};
use crate::error::QueryError;
use crate::QueryState;

/// Exports written at once by one process: each holds a thread and reads
/// every note and document of an account.
pub const EXPORTS_AT_ONCE: usize = 4;

/// The bytes handed to the reply at a time.
const CHUNK: usize = 64 * 1024;

/// The running exports' places.
pub(crate) fn places() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(EXPORTS_AT_ONCE))
}

/// The caller's notes and documents as a zip.
///
/// Every note (trashed and archived ones too, each marked in its front
/// matter) as `<subject>/<title>.md`, notes without a subject in `No
/// subject/`; attached documents in `<subject>/<title> files/`;
/// `manifest.json` lists them all with their ids, dates and digests. A
/// failure midway cuts the reply off, so a partial archive is never taken
/// for a whole one.
#[utoipa::path(get, path = "/v1/account/export", tag = "account", params(MinPositionHeader),
    responses(
        (status = 200, description = "A zip archive (streamed)", content_type = "application/zip", body = Vec<u8>),
        (status = 503, description = "Too many exports are being written (`exports_busy`)", body = Problem)),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    wait_for_min_position(&state, &headers).await?;
    let place = state
        .exports
        .clone()
        .try_acquire_owned()
        .map_err(|_| QueryError::ExportsBusy)?;
    let (chunks, body) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let reads = state.reads.clone();
    let store = state.blobs.store.clone();
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        let out = Pipe {
            chunks: chunks.clone(),
            buffer: Vec::with_capacity(CHUNK),
            handle: handle.clone(),
        };
        let written = archive::write_archive(&handle, &*reads, &*store, auth.user, out);
        drop(place);
        match written {
            Ok(manifest) => tracing::info!(notes = manifest.notes.len(), "an account was exported"),
            Err(err) => {
                tracing::warn!(error = %err, "an export stopped");
                // Cuts the reply off; a client that took nothing for a
                // minute has no room for it, and the reply ends anyway.
                let _ = chunks.try_send(Err(std::io::Error::other(err.to_string())));
            }
        }
    });
    let stream = futures_util::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (chunk, body))
    });
    let name = format!(
        "attachment; filename=\"anote-export-{}.zip\"",
        OffsetDateTime::now_utc().date()
    );
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(name) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, name);
    }
    Ok(response)
}

/// The zip writer's output: bytes gathered into chunks and sent to the
/// reply, waiting while the client is slower than the writer (so at most a
/// few chunks are in memory); a client that went away, or took nothing for
/// [`STALLED`], fails the write and gives its export's place back.
struct Pipe {
    chunks: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
    handle: Handle,
}

/// How long a client may take no bytes of its export.
const STALLED: std::time::Duration = std::time::Duration::from_secs(60);

impl Pipe {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        let sent = self
            .handle
            .block_on(tokio::time::timeout(STALLED, self.chunks.send(Ok(chunk))));
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the client went away",
            )),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took nothing for a minute",
            )),
        }
    }
}

impl Write for Pipe {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
