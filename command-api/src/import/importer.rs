//! Storing an archive's notes, one at a time, on a blocking thread: each
//! note's documents go to the blob store first, then the note and its
//! documents are one `NoteImported` event. The report is written to the
//! reply as each file is done; a client that went away stops the import
//! (sending the archive again finishes it).

use anote_blob::{BlobKey, FileInfo};
use anote_domain::document::{ContentDigest, ContentType, DocumentSpec, FileName};
use anote_domain::note::{ImportedDocument, ImportedNote, NoteAction, NoteCommand};
use anote_domain::{DomainError, NoteId, UserId};
use anote_store::event_store::{Metadata, Position};
use axum::body::Bytes;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::archive::{Archive, Entry};
use super::markdown::{parse_note, FileContext, FileProblem, ParsedNote};
use super::plan::{self, Manifest, Outcome, PlannedDocument, PlannedNote};
use super::{FileStatus, ImportedFile, MAX_NOTE_BYTES, STALLED};
use crate::error::CommandError;
use crate::AppState;

/// The namespace of imported notes' ids (a random constant: ids derived in
/// it collide with no other kind).
const NOTES: Uuid = Uuid::from_u128(0x8c1f_3d0a_52b4_4e6f_9a7d_1b2c_3e4f_5a6b);

/// The largest manifest read.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// One import: who, and where to.
pub struct Importer {
    app: AppState,
    owner: UserId,
    request_id: Uuid,
    handle: Handle,
    now: OffsetDateTime,
}

/// How many notes an import created, found already there, or refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Created.
    pub imported: u64,
    /// Already there.
    pub existing: u64,
    /// Refused.
    pub refused: u64,
    /// The log position of the last note created, to read them with.
    pub position: Option<Position>,
}

/// The report as it is written: the files so far and the counts.
struct Report<'a> {
    lines: &'a mpsc::Sender<Bytes>,
    handle: &'a Handle,
    first: bool,
    gone: bool,
    counts: Counts,
}

impl Report<'_> {
    /// Sends a piece of the report; a client that went away, or took
    /// nothing for [`STALLED`], ends the import.
    fn send(&mut self, text: String) {
        if self.gone {
            return;
        }
        let sent = self.handle.block_on(tokio::time::timeout(
            STALLED,
            self.lines.send(Bytes::from(text)),
        ));
        self.gone = !matches!(sent, Ok(Ok(())));
    }

    /// Reports what became of `entry`.
    fn outcome(
        &mut self,
        entry: &Entry,
        status: FileStatus,
        note: Option<NoteId>,
        problem: Option<&FileProblem>,
    ) {
        let file = ImportedFile {
            path: entry.name.clone(),
            status,
            note_id: note.map(NoteId::uuid),
            code: problem.map(|p| p.code.to_owned()),
            detail: problem.map(|p| p.detail.clone()),
        };
        let separator = if std::mem::take(&mut self.first) {
            ""
        } else {
            ","
        };
        let json = serde_json::to_string(&file).unwrap_or_default();
        self.send(format!("{separator}{json}"));
    }
}

impl Importer {
    /// An import by `owner`, recorded with `request_id`, calling the stores
    /// through `handle`.
    pub fn new(app: AppState, owner: UserId, request_id: Uuid, handle: Handle) -> Self {
        Self {
            app,
            owner,
            request_id,
            handle,
            now: OffsetDateTime::now_utc(),
        }
    }

    /// Imports everything `archive` holds, writing the report (JSON, an
    /// [`super::ImportReport`]) to `lines`; returns its counts.
    pub fn run(&self, mut archive: Archive, lines: &mpsc::Sender<Bytes>) -> Counts {
        let mut report = Report {
            lines,
            handle: &self.handle,
            first: true,
            gone: false,
            counts: Counts::default(),
        };
        report.send("{\"files\":[".to_owned());
        let entries = archive.entries();
        let manifest = read_manifest(&mut archive, &entries);
        let plan = plan::plan(entries, &manifest);
        for (entry, outcome) in &plan.others {
            match outcome {
                Outcome::Skipped(p) => report.outcome(entry, FileStatus::Skipped, None, Some(p)),
                Outcome::Refused(p) => report.outcome(entry, FileStatus::Refused, None, Some(p)),
            }
        }
        for note in &plan.notes {
            if report.gone {
                break;
            }
            self.import_note(&mut archive, note, &mut report);
        }
        let counts = &report.counts;
        let position = counts
            .position
            .map(|p| format!(",\"position\":\"{p}\""))
            .unwrap_or_default();
        let end = format!(
            "],\"imported\":{},\"existing\":{},\"refused\":{}{position}}}",
            counts.imported, counts.existing, counts.refused
        );
        report.send(end);
        report.counts
    }

    fn import_note(&self, archive: &mut Archive, planned: &PlannedNote, report: &mut Report<'_>) {
        let refuse = |report: &mut Report<'_>, problem: FileProblem| {
            report.counts.refused += 1;
            report.outcome(&planned.entry, FileStatus::Refused, None, Some(&problem));
            let because =
                FileProblem::new("note_refused", "the note it belongs to was not imported");
            for document in &planned.documents {
                report.outcome(&document.entry, FileStatus::Refused, None, Some(&because));
            }
        };
        let parsed = match self.read_note(archive, planned) {
            Ok(parsed) => parsed,
            Err(problem) => return refuse(report, problem),
        };
        let (id, existing) = match self.note_id(&planned.entry, &parsed) {
            Ok(found) => found,
            Err(error) => return refuse(report, problem_of(&error)),
        };
        if existing {
            report.counts.existing += 1;
            report.outcome(&planned.entry, FileStatus::Exists, Some(id), None);
            for document in &planned.documents {
                report.outcome(&document.entry, FileStatus::Exists, Some(id), None);
            }
            return;
        }
        let mut note = parsed.note;
        let mut stored = Vec::new();
        for document in &planned.documents {
            let pending = note.documents.iter().map(|d| d.spec.size).sum();
            match self.store_document(archive, id, document, pending) {
                Ok(imported)
                    if note
                        .documents
                        .iter()
                        .all(|d| d.document_id != imported.document_id) =>
                {
                    note.documents.push(imported);
                    stored.push(&document.entry);
                }
                Ok(_) => report.outcome(&document.entry, FileStatus::Exists, Some(id), None),
                Err(problem) => report.outcome(
                    &document.entry,
                    FileStatus::Refused,
                    Some(id),
                    Some(&problem),
                ),
            }
        }
        let mut result = self.append(id, note.clone());
        if matches!(result, Err(CommandError::QuotaExceeded)) && !note.documents.is_empty() {
            // The note without the documents that do not fit.
            let problem = problem_of(&CommandError::QuotaExceeded);
            for entry in stored.drain(..) {
                report.outcome(entry, FileStatus::Refused, Some(id), Some(&problem));
            }
            note.documents.clear();
            result = self.append(id, note);
        }
        match result {
            Ok(position) => {
                report.counts.imported += 1;
                report.counts.position = Some(position);
                report.outcome(&planned.entry, FileStatus::Imported, Some(id), None);
                for entry in stored {
                    report.outcome(entry, FileStatus::Imported, Some(id), None);
                }
            }
            Err(CommandError::Rule(DomainError::AlreadyExists)) => {
                report.counts.existing += 1;
                report.outcome(&planned.entry, FileStatus::Exists, Some(id), None);
                for entry in stored {
                    report.outcome(entry, FileStatus::Exists, Some(id), None);
                }
            }
            Err(error) => {
                let problem = problem_of(&error);
                report.counts.refused += 1;
                report.outcome(&planned.entry, FileStatus::Refused, None, Some(&problem));
                for entry in stored {
                    report.outcome(entry, FileStatus::Refused, None, Some(&problem));
                }
            }
        }
    }

    fn read_note(
        &self,
        archive: &mut Archive,
        planned: &PlannedNote,
    ) -> Result<ParsedNote, FileProblem> {
        let entry = &planned.entry;
        let bytes = archive.read(entry.index, MAX_NOTE_BYTES)?;
        let segments = entry.path.as_ref().map_err(Clone::clone)?;
        let (name, folders) = segments.split_last().unwrap_or((&entry.name, &[]));
        let folders: Vec<&str> = if planned.exported {
            Vec::new()
        } else {
            folders.iter().map(String::as_str).collect()
        };
        let stem = name
            .rsplit_once('.')
            .map_or(name.as_str(), |(stem, _)| stem);
        let context = FileContext {
            folders: &folders,
            stem,
            modified: entry.modified,
            now: self.now,
        };
        parse_note(&bytes, context)
    }

    /// The note's id, and whether the caller has it already: the note of
    /// the caller's own export that the front matter names, or the one an
    /// earlier import of this file created.
    fn note_id(&self, entry: &Entry, parsed: &ParsedNote) -> Result<(NoteId, bool), CommandError> {
        if let Some(exported) = parsed.exported_id {
            let id = NoteId::from_uuid(exported);
            if self.exists(id)? {
                return Ok((id, true));
            }
        }
        let source = match parsed.exported_id {
            Some(exported) => format!("{}/id:{exported}", self.owner.uuid()),
            None => format!("{}/path:{}", self.owner.uuid(), entry.name),
        };
        let id = NoteId::from_uuid(Uuid::new_v5(&NOTES, source.as_bytes()));
        Ok((id, self.exists(id)?))
    }

    fn exists(&self, id: NoteId) -> Result<bool, CommandError> {
        match self.handle.block_on(self.app.notes.current(id, self.owner)) {
            Ok(_) => Ok(true),
            Err(CommandError::NoteNotFound) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Checks a document and stores its bytes under a key derived from the
    /// note, its name and its digest.
    /// Documents that would not fit in the quota (with `pending` bytes of
    /// this note's documents not yet counted) are refused before they are
    /// stored.
    fn store_document(
        &self,
        archive: &mut Archive,
        note: NoteId,
        document: &PlannedDocument,
        pending: u64,
    ) -> Result<ImportedDocument, FileProblem> {
        let policy = &self.app.documents;
        let declared = document.declared.as_ref();
        let name = declared.map_or(document.entry.file_name(), |d| d.file_name.as_str());
        let file_name = FileName::parse(name)?;
        let content_type = match declared {
            Some(declared) => ContentType::parse(&declared.content_type)?,
            None => ContentType::parse(media_type(file_name.as_str()))?,
        };
        if !policy.allows(content_type.essence()) {
            return Err(problem_of(&CommandError::ContentTypeNotAllowed(
                content_type.essence().to_owned(),
            )));
        }
        let bytes = archive.read(document.entry.index, policy.max_bytes)?;
        let sha256 = ContentDigest::from_bytes(Sha256::digest(&bytes).into());
        let source = format!("{}\n{}", file_name.as_str(), sha256.as_str());
        let document_id = Uuid::new_v5(&note.uuid(), source.as_bytes());
        let size = bytes.len() as u64;
        let used = self
            .handle
            .block_on(self.app.storage.documents.usage(self.owner))
            .map_err(|e| problem_of(&CommandError::from(e)))?;
        if used + pending + size > policy.quota_bytes {
            return Err(problem_of(&CommandError::QuotaExceeded));
        }
        let file = FileInfo {
            file_name: file_name.as_str(),
            content_type: content_type.as_str(),
        };
        let key = BlobKey::document(note, document_id);
        self.handle
            .block_on(self.app.blobs.store.put(&key, file, Bytes::from(bytes)))
            .map_err(|e| problem_of(&CommandError::BlobStoreUnavailable(e)))?;
        Ok(ImportedDocument {
            document_id,
            spec: DocumentSpec {
                file_name,
                content_type,
                size,
                multipart_upload: None,
            },
            sha256,
        })
    }

    fn append(&self, id: NoteId, note: ImportedNote) -> Result<Position, CommandError> {
        let command = NoteCommand {
            actor: self.owner,
            action: NoteAction::Import(note),
        };
        let metadata = Metadata::for_request(Some(self.owner), self.request_id);
        self.handle
            .block_on(self.app.notes.execute(id, None, command, metadata, None))
            .map(|outcome| outcome.position)
    }
}

/// The export's manifest, when the archive has one that reads as such.
fn read_manifest(archive: &mut Archive, entries: &[Entry]) -> Manifest {
    let Some(entry) = entries
        .iter()
        .find(|e| matches!(&e.path, Ok(s) if s == &[plan::MANIFEST]))
    else {
        return Manifest::default();
    };
    archive
        .read(entry.index, MAX_MANIFEST_BYTES)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok())
        .filter(|m| m.format == "anote-export")
        .unwrap_or_default()
}

/// A command error as a file's problem: its code and detail.
fn problem_of(error: &CommandError) -> FileProblem {
    let problem = error.problem();
    FileProblem::new(
        problem.code,
        problem.detail.unwrap_or_else(|| problem.title.to_owned()),
    )
}

/// The media type of a file name's extension.
fn media_type(file_name: &str) -> &'static str {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "svg" => "image/svg+xml",
        "txt" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}
