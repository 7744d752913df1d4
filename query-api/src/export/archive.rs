//! Writes an account's export as a zip into any writer, seekable or not
//! (an HTTP reply, a file): the notes read from the read models a page at
//! a time, each document's bytes read from the store a chunk at a time,
//! the manifest last. Nothing is held whole in memory but the manifest.
//!
//! The zip library writes synchronously, so this runs on a blocking thread
//! and waits there for the reads it needs (`Handle::block_on`).

use std::collections::HashSet;
use std::io::Write;

use anote_blob::{BlobKey, BlobStore};
use anote_domain::document::{ContentDigest, DocumentStatus};
use anote_domain::UserId;
use anote_read_store::{NoteReads, NoteView};
use anote_store::event_store::Position;
use anote_store::StoreError;
use futures_util::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::runtime::Handle;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::markdown::{
    note_file, safe_extension, safe_name, split_extension, timestamp, Names, NO_SUBJECT,
};

/// The manifest's name in the archive.
pub const MANIFEST: &str = "manifest.json";

/// What the manifest says the archive is.
pub const FORMAT: &str = "anote-export";

/// Notes read from the read models at a time.
const PAGE: u32 = 200;

/// How long an export waits, a time, for a held-back change.
const HOLD_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// How many times at most: a transaction left open elsewhere fails the
/// export after ten seconds rather than stalling it, or leaving a note out.
const HOLD_LIMIT: u32 = 500;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The read models failed.
    #[error("reading the notes failed: {0}")]
    Store(#[from] StoreError),
    /// A stored note stayed held back behind a transaction that did not end.
    #[error("a note stayed held back behind a transaction that did not end")]
    HeldBack,
    /// The document store failed, or lost an object.
    #[error("reading a document failed: {0}")]
    Blob(String),
    /// The archive could not be written (the client went away, the disk
    /// is full).
    #[error("writing the archive failed: {0}")]
    Write(String),
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        Self::Write(e.to_string())
    }
}

impl From<zip::result::ZipError> for ExportError {
    fn from(e: zip::result::ZipError) -> Self {
        Self::Write(e.to_string())
    }
}

/// The archive's table of contents (`manifest.json`).
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: &'static str,
    /// The version of the format.
    pub version: u32,
    /// When the export began.
    pub exported_at: String,
    /// Every note, in the order written.
    pub notes: Vec<NoteEntry>,
}

/// A note in the manifest.
#[derive(Debug, Serialize)]
pub struct NoteEntry {
    /// The note's id.
    pub id: String,
    /// Its Markdown file in the archive.
    pub path: String,
    /// Its title.
    pub title: String,
    /// Its subject.
    pub subject: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its due date (RFC 3339).
    pub due_at: Option<String>,
    /// Whether the assignment is done.
    pub done: bool,
    /// Pinned, archived, trashed.
    pub pinned: bool,
    /// In the archive.
    pub archived: bool,
    /// In the trash.
    pub trashed: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Its version.
    pub version: u64,
    /// Its attached documents.
    pub documents: Vec<DocumentEntry>,
}

/// A document in the manifest.
#[derive(Debug, Serialize)]
pub struct DocumentEntry {
    /// The document's id.
    pub id: String,
    /// Its bytes in the archive.
    pub path: String,
    /// Its file name.
    pub file_name: String,
    /// Its media type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, in hexadecimal.
    pub sha256: String,
}

/// Writes `owner`'s notes and attached documents as a zip into `out`;
/// returns the manifest written. Blocking.
pub fn write_archive(
    handle: &Handle,
    reads: &dyn NoteReads,
    store: &dyn BlobStore,
    owner: UserId,
    out: impl Write,
) -> Result<Manifest, ExportError> {
    let mut zip = ZipWriter::new_stream(out);
    let mut manifest = Manifest {
        format: FORMAT,
        version: 1,
        exported_at: timestamp(OffsetDateTime::now_utc()),
        notes: Vec::new(),
    };
    let mut names = Names::default();
    let mut seen = HashSet::new();
    let mut cursor = Position::START;
    let mut held = 0;
    loop {
        let page = handle.block_on(reads.changes(owner, cursor, PAGE))?;
        // A note stored but held back behind a transaction still running
        // is waited for (briefly: transactions end in milliseconds).
        if page.held_back && page.views.is_empty() {
            if held == HOLD_LIMIT {
                return Err(ExportError::HeldBack);
            }
            held += 1;
            std::thread::sleep(HOLD_PAUSE);
            continue;
        }
        let last_page = page.views.len() < PAGE as usize && !page.held_back;
        held = 0;
        for view in page.views {
            cursor = view.changed;
            // A note changed while the export runs comes again: once is enough.
            if view.purged || !seen.insert(view.id) {
                continue;
            }
            let entry = write_note(handle, store, &mut zip, &mut names, view)?;
            manifest.notes.push(entry);
        }
        if last_page {
            break;
        }
    }
    zip.start_file(MANIFEST, deflated())?;
    serde_json::to_writer_pretty(&mut zip, &manifest)
        .map_err(|e| ExportError::Write(e.to_string()))?;
    zip.finish()?.flush()?;
    Ok(manifest)
}

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

/// Writes one note's file and its attached documents' bytes.
fn write_note<W: Write>(
    handle: &Handle,
    store: &dyn BlobStore,
    zip: &mut ZipWriter<zip::write::StreamWriter<W>>,
    names: &mut Names,
    view: NoteView,
) -> Result<NoteEntry, ExportError> {
    let folder = view
        .subject
        .as_deref()
        .map_or_else(|| NO_SUBJECT.to_owned(), |s| safe_name(s, NO_SUBJECT));
    let stem = safe_name(&view.title, "Untitled");
    let path = names.claim(&folder, &stem, ".md");
    // The documents' folder is named after the note's file, suffix and all.
    let documents_folder = format!("{} files", path.strip_suffix(".md").unwrap_or(&path));
    zip.start_file(path.as_str(), deflated())?;
    zip.write_all(note_file(&view).as_bytes())?;
    let mut documents = Vec::new();
    for document in view
        .documents
        .iter()
        .filter(|d| d.status == DocumentStatus::Attached)
    {
        let (name, extension) = split_extension(&document.file_name);
        let (name, extension) = (safe_name(name, "document"), safe_extension(extension));
        let doc_path = names.claim(&documents_folder, &name, &extension);
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(document.size >= u64::from(u32::MAX));
        zip.start_file(doc_path.as_str(), options)?;
        let sha256 = copy_document(handle, store, &BlobKey::document(view.id, document.id), zip)?;
        if document.sha256.as_ref().is_some_and(|want| *want != sha256) {
            return Err(ExportError::Blob(format!(
                "document {} does not have the bytes it was attached with",
                document.id
            )));
        }
        documents.push(DocumentEntry {
            id: document.id.to_string(),
            path: doc_path,
            file_name: document.file_name.clone(),
            content_type: document.content_type.clone(),
            size: document.size,
            sha256,
        });
    }
    Ok(NoteEntry {
        id: view.id.uuid().to_string(),
        path,
        title: view.title,
        subject: view.subject,
        tags: view.tags,
        due_at: view.due_at.map(timestamp),
        done: view.done,
        pinned: view.pinned,
        archived: view.archived,
        trashed: view.trashed,
        created_at: timestamp(view.created_at),
        updated_at: timestamp(view.updated_at),
        version: view.version,
        documents,
    })
}

/// Copies an object's bytes into `out` a chunk at a time; returns their
/// SHA-256 in hexadecimal.
fn copy_document(
    handle: &Handle,
    store: &dyn BlobStore,
    key: &BlobKey,
    out: &mut impl Write,
) -> Result<String, ExportError> {
    let blob = |e: anote_blob::BlobError| ExportError::Blob(e.to_string());
    let mut bytes = handle
        .block_on(store.read(key))
        .map_err(blob)?
        .ok_or_else(|| ExportError::Blob(format!("{} is missing", key.as_str())))?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = handle.block_on(bytes.try_next()).map_err(blob)? {
        hasher.update(&chunk);
        out.write_all(&chunk)?;
    }
    Ok(ContentDigest::from_bytes(hasher.finalize().into())
        .as_str()
        .to_owned())
}
