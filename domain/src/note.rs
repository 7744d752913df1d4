//! The Note aggregate: a note in a subject, possibly an assignment with a due date.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::decider::Decider;
use crate::document::{
    ContentDigest, Document, DocumentSpec, DocumentStatus, UploadFailure, MAX_DOCUMENTS,
};
use crate::error::DomainError;
use crate::ids::UserId;
use crate::values::{Body, DueAt, Subject, Tags, Timestamp, Title};

/// The most live share links one note may have.
pub const MAX_SHARES: usize = 20;

/// What a note is at one version: absent, live, or purged for good.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Note {
    /// No note was ever created in this stream.
    #[default]
    Absent,
    /// A note that exists (possibly in the trash).
    Live(NoteData),
    /// A note that was purged: nothing can happen to it any more.
    Purged,
}

/// The content and flags of a live note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteData {
    owner: UserId,
    title: Title,
    body: Body,
    subject: Option<Subject>,
    tags: Tags,
    pinned: bool,
    archived: bool,
    trashed: bool,
    due_at: Option<DueAt>,
    done: bool,
    /// Live share links and their expiry.
    shares: BTreeMap<Uuid, Option<Timestamp>>,
    /// Documents, pending or attached, by id.
    documents: BTreeMap<Uuid, Document>,
}

impl NoteData {
    /// The user who owns the note.
    pub fn owner(&self) -> UserId {
        self.owner
    }
    /// The title.
    pub fn title(&self) -> &Title {
        &self.title
    }
    /// The Markdown body.
    pub fn body(&self) -> &Body {
        &self.body
    }
    /// The subject, if any.
    pub fn subject(&self) -> Option<&Subject> {
        self.subject.as_ref()
    }
    /// The tags.
    pub fn tags(&self) -> &Tags {
        &self.tags
    }
    /// Whether the note is pinned.
    pub fn pinned(&self) -> bool {
        self.pinned
    }
    /// Whether the note is archived.
    pub fn archived(&self) -> bool {
        self.archived
    }
    /// Whether the note is in the trash.
    pub fn trashed(&self) -> bool {
        self.trashed
    }
    /// The due date; a note with one is an assignment.
    pub fn due_at(&self) -> Option<DueAt> {
        self.due_at
    }
    /// Whether the assignment is done (never true without a due date).
    pub fn done(&self) -> bool {
        self.done
    }
    /// The live share links (not revoked) and their expiry.
    pub fn shares(&self) -> &BTreeMap<Uuid, Option<Timestamp>> {
        &self.shares
    }
    /// The documents, pending or attached, by id.
    pub fn documents(&self) -> &BTreeMap<Uuid, Document> {
        &self.documents
    }
}

impl Note {
    /// The live note, if there is one.
    pub fn live(&self) -> Option<&NoteData> {
        match self {
            Self::Live(data) => Some(data),
            Self::Absent | Self::Purged => None,
        }
    }

    /// Rebuilds a note from its events, oldest first ([`Decider::fold`],
    /// without the trait in scope).
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a NoteEvent>) -> Self {
        <Self as Decider>::fold(events)
    }
}

/// The fields of a new note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNote {
    /// The title.
    pub title: Title,
    /// The Markdown body.
    pub body: Body,
    /// The subject, if any.
    pub subject: Option<Subject>,
    /// The tags.
    pub tags: Tags,
    /// The due date, for an assignment.
    pub due_at: Option<DueAt>,
}

/// A note brought in whole from an archive of another service (or of an
/// export): its content, flags, dates and attached documents, as one event,
/// so that it keeps the dates it had there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedNote {
    /// The title.
    pub title: Title,
    /// The Markdown body.
    pub body: Body,
    /// The subject, if any.
    pub subject: Option<Subject>,
    /// The tags.
    pub tags: Tags,
    /// The due date, for an assignment.
    pub due_at: Option<DueAt>,
    /// Whether the assignment is done (ignored without a due date).
    pub done: bool,
    /// Whether it is pinned.
    pub pinned: bool,
    /// Whether it is archived.
    pub archived: bool,
    /// Whether it is in the trash.
    pub trashed: bool,
    /// When it was created, as the archive says.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed, as the archive says.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Its documents, already stored and checked.
    pub documents: Vec<ImportedDocument>,
}

/// A document of an imported note, its bytes already in the blob store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedDocument {
    /// The document's id (its storage key is derived from it).
    pub document_id: Uuid,
    /// Its name, type and size.
    pub spec: DocumentSpec,
    /// The digest of its bytes.
    pub sha256: ContentDigest,
}

/// The content of a note, apart from its flags, dates and documents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteContent {
    /// The title.
    pub title: Title,
    /// The Markdown body.
    pub body: Body,
    /// The subject.
    pub subject: Option<Subject>,
    /// The tags.
    pub tags: Tags,
}

impl NoteData {
    /// The note's content now.
    pub fn content(&self) -> NoteContent {
        NoteContent {
            title: self.title.clone(),
            body: self.body.clone(),
            subject: self.subject.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// What a user asks to do to a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoteAction {
    /// Create the note.
    Create(NewNote),
    /// Create the note from an archive, with its flags, dates and documents.
    Import(ImportedNote),
    /// Change the title and/or the body.
    Edit {
        /// The new title, if it changes.
        title: Option<Title>,
        /// The new body, if it changes.
        body: Option<Body>,
    },
    /// Replace the tags.
    SetTags(Tags),
    /// Move to a subject, or to none.
    MoveToSubject(Option<Subject>),
    /// Pin to the top.
    Pin,
    /// Unpin.
    Unpin,
    /// Archive.
    Archive,
    /// Bring back from the archive.
    Unarchive,
    /// Set the due date, making the note an assignment.
    SetDue(DueAt),
    /// Clear the due date.
    ClearDue,
    /// Mark the assignment done.
    Complete,
    /// Mark the assignment not done.
    Reopen,
    /// Move to the trash.
    Trash,
    /// Take back from the trash.
    Restore,
    /// Delete for good (only from the trash).
    Purge,
    /// Open a read-only share link.
    Share {
        /// The link's id (the token is derived from it, never stored).
        share_id: Uuid,
        /// When the link stops working, if ever.
        expires_at: Option<Timestamp>,
    },
    /// Close a share link.
    RevokeShare {
        /// The link's id.
        share_id: Uuid,
    },
    /// Make an earlier version's content (title, body, subject, tags)
    /// current again.
    RestoreContent {
        /// The version whose content comes back.
        from_version: u64,
        /// Its content.
        content: NoteContent,
    },
    /// Hand out upload URLs for a new document.
    RequestUpload {
        /// The document's id (its storage key is derived from it).
        document_id: Uuid,
        /// What the student declared.
        spec: DocumentSpec,
    },
    /// Accept an uploaded object that matches its declaration.
    AttachDocument {
        /// The document.
        document_id: Uuid,
        /// The digest of the object's bytes, as checked.
        sha256: ContentDigest,
    },
    /// Give up a pending upload.
    FailUpload {
        /// The document.
        document_id: Uuid,
        /// Why.
        reason: UploadFailure,
    },
    /// Take a document off the note.
    RemoveDocument {
        /// The document.
        document_id: Uuid,
    },
    /// Hand an attached document in for the assignment.
    SubmitDocument {
        /// The document.
        document_id: Uuid,
        /// When it was handed in.
        at: Timestamp,
    },
}

/// A command: who asks, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteCommand {
    /// The user acting; only the owner may act on a note.
    pub actor: UserId,
    /// What they ask for.
    pub action: NoteAction,
}

/// What happened to a note. The serde tag is the event type in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum NoteEvent {
    /// The note was created.
    NoteCreated {
        /// Its owner.
        owner: UserId,
        /// Its title.
        title: Title,
        /// Its body.
        body: Body,
        /// Its subject.
        subject: Option<Subject>,
        /// Its tags.
        tags: Tags,
        /// Its due date.
        due_at: Option<DueAt>,
    },
    /// The note was created from an archive, whole.
    NoteImported {
        /// Its owner.
        owner: UserId,
        /// What the archive held.
        #[serde(flatten)]
        note: ImportedNote,
    },
    /// The title and/or body changed; only changed fields are present.
    NoteEdited {
        /// The new title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<Title>,
        /// The new body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Body>,
    },
    /// The tags were replaced.
    NoteTagsSet {
        /// The new tags.
        tags: Tags,
    },
    /// The note moved to another subject (or to none).
    NoteMovedToSubject {
        /// The new subject.
        subject: Option<Subject>,
    },
    /// The note was pinned.
    NotePinned,
    /// The note was unpinned.
    NoteUnpinned,
    /// The note was archived.
    NoteArchived,
    /// The note came back from the archive.
    NoteUnarchived,
    /// A due date was set.
    NoteDueDateSet {
        /// The due date.
        due_at: DueAt,
    },
    /// The due date was cleared (and with it the done mark).
    NoteDueDateCleared,
    /// The assignment was marked done.
    AssignmentCompleted,
    /// The assignment was marked not done.
    AssignmentReopened,
    /// The note went to the trash.
    NoteTrashed,
    /// The note came back from the trash.
    NoteRestored,
    /// The note was deleted for good.
    NotePurged,
    /// A read-only share link was opened.
    NoteShared {
        /// The link's id.
        share_id: Uuid,
        /// When it stops working, if ever.
        expires_at: Option<Timestamp>,
    },
    /// A share link was closed.
    NoteShareRevoked {
        /// The link's id.
        share_id: Uuid,
    },
    /// An earlier version's content was made current again.
    NoteContentRestored {
        /// The version it came from.
        from_version: u64,
        /// The content, as it was then.
        content: NoteContent,
    },
    /// Upload URLs were handed out for a new document.
    DocumentUploadRequested {
        /// The document.
        document_id: Uuid,
        /// What was declared.
        spec: DocumentSpec,
    },
    /// The uploaded object was checked and attached.
    DocumentAttached {
        /// The document.
        document_id: Uuid,
        /// The digest of its bytes (absent in events recorded before
        /// digests were).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<ContentDigest>,
    },
    /// A pending upload was given up (its object, if any, is deleted).
    DocumentUploadFailed {
        /// The document.
        document_id: Uuid,
        /// Why.
        reason: UploadFailure,
    },
    /// A document was taken off the note (its object is deleted).
    DocumentRemoved {
        /// The document.
        document_id: Uuid,
    },
    /// A document was handed in for the assignment.
    DocumentSubmitted {
        /// The document.
        document_id: Uuid,
        /// When.
        submitted_at: Timestamp,
    },
}

impl Decider for Note {
    type Command = NoteCommand;
    type Event = NoteEvent;
    type Error = DomainError;

    fn decide(&self, command: NoteCommand) -> Result<Vec<NoteEvent>, DomainError> {
        decide(self, command)
    }

    fn evolve(self, event: &NoteEvent) -> Self {
        evolve(self, event)
    }
}

/// Applies the business rules: which events a command produces in this state.
/// A command that would change nothing produces no events. The same as
/// [`Decider::decide`] on [`Note`].
pub fn decide(state: &Note, command: NoteCommand) -> Result<Vec<NoteEvent>, DomainError> {
    let NoteCommand { actor, action } = command;
    let (note, action) = match (state, action) {
        (Note::Absent, NoteAction::Create(new)) => {
            return Ok(vec![NoteEvent::NoteCreated {
                owner: actor,
                title: new.title,
                body: new.body,
                subject: new.subject,
                tags: new.tags,
                due_at: new.due_at,
            }]);
        }
        (Note::Absent, NoteAction::Import(note)) => return import(actor, note),
        (Note::Live(note), action) if note.owner == actor => (note, action),
        // Someone else's note is indistinguishable from a missing one.
        _ => return Err(DomainError::NotFound),
    };
    let allowed_in_trash = matches!(
        action,
        NoteAction::Create(_)
            | NoteAction::Import(_)
            | NoteAction::Restore
            | NoteAction::Purge
            | NoteAction::RevokeShare { .. }
            | NoteAction::RemoveDocument { .. }
            | NoteAction::FailUpload { .. }
    );
    if note.trashed && !allowed_in_trash {
        return Err(DomainError::NoteTrashed);
    }
    let event = match action {
        NoteAction::Create(_) | NoteAction::Import(_) => return Err(DomainError::AlreadyExists),
        NoteAction::Edit { title, body } => {
            let title = title.filter(|t| *t != note.title);
            let body = body.filter(|b| *b != note.body);
            (title.is_some() || body.is_some()).then_some(NoteEvent::NoteEdited { title, body })
        }
        NoteAction::SetTags(tags) => (tags != note.tags).then_some(NoteEvent::NoteTagsSet { tags }),
        NoteAction::MoveToSubject(subject) => {
            (subject != note.subject).then_some(NoteEvent::NoteMovedToSubject { subject })
        }
        NoteAction::Pin => (!note.pinned).then_some(NoteEvent::NotePinned),
        NoteAction::Unpin => note.pinned.then_some(NoteEvent::NoteUnpinned),
        NoteAction::Archive => (!note.archived).then_some(NoteEvent::NoteArchived),
        NoteAction::Unarchive => note.archived.then_some(NoteEvent::NoteUnarchived),
        NoteAction::SetDue(due_at) => {
            (note.due_at != Some(due_at)).then_some(NoteEvent::NoteDueDateSet { due_at })
        }
        NoteAction::ClearDue => note
            .due_at
            .is_some()
            .then_some(NoteEvent::NoteDueDateCleared),
        NoteAction::Complete | NoteAction::Reopen if note.due_at.is_none() => {
            return Err(DomainError::NotAnAssignment)
        }
        NoteAction::Complete => (!note.done).then_some(NoteEvent::AssignmentCompleted),
        NoteAction::Reopen => note.done.then_some(NoteEvent::AssignmentReopened),
        NoteAction::Trash => Some(NoteEvent::NoteTrashed),
        NoteAction::Restore => note.trashed.then_some(NoteEvent::NoteRestored),
        NoteAction::Purge if !note.trashed => return Err(DomainError::NotInTrash),
        NoteAction::Purge => Some(NoteEvent::NotePurged),
        NoteAction::Share { share_id, .. } if note.shares.contains_key(&share_id) => None,
        NoteAction::Share { .. } if note.shares.len() >= MAX_SHARES => {
            return Err(DomainError::TooManyShares)
        }
        NoteAction::Share {
            share_id,
            expires_at,
        } => Some(NoteEvent::NoteShared {
            share_id,
            expires_at,
        }),
        NoteAction::RevokeShare { share_id } if !note.shares.contains_key(&share_id) => {
            return Err(DomainError::ShareNotFound)
        }
        NoteAction::RevokeShare { share_id } => Some(NoteEvent::NoteShareRevoked { share_id }),
        NoteAction::RestoreContent {
            from_version,
            content,
        } => (content != note.content()).then_some(NoteEvent::NoteContentRestored {
            from_version,
            content,
        }),
        NoteAction::RequestUpload { document_id, spec } => request_upload(note, document_id, spec)?,
        NoteAction::AttachDocument {
            document_id,
            sha256,
        } => document(note, document_id)?
            .status
            .eq(&DocumentStatus::Pending)
            .then_some(NoteEvent::DocumentAttached {
                document_id,
                sha256: Some(sha256),
            }),
        NoteAction::FailUpload {
            document_id,
            reason,
        } => document(note, document_id)?
            .status
            .eq(&DocumentStatus::Pending)
            .then_some(NoteEvent::DocumentUploadFailed {
                document_id,
                reason,
            }),
        NoteAction::RemoveDocument { document_id } => {
            document(note, document_id)?;
            Some(NoteEvent::DocumentRemoved { document_id })
        }
        NoteAction::SubmitDocument { document_id, at } => submit(note, document_id, at)?,
    };
    Ok(event.into_iter().collect())
}

/// The event of an import: at most [`MAX_DOCUMENTS`] documents, each id once;
/// a note without a due date is not done.
fn import(owner: UserId, mut note: ImportedNote) -> Result<Vec<NoteEvent>, DomainError> {
    if note.documents.len() > MAX_DOCUMENTS {
        return Err(DomainError::TooManyDocuments);
    }
    let ids: std::collections::BTreeSet<Uuid> =
        note.documents.iter().map(|d| d.document_id).collect();
    if ids.len() != note.documents.len() {
        return Err(DomainError::AlreadyExists);
    }
    note.done &= note.due_at.is_some();
    Ok(vec![NoteEvent::NoteImported { owner, note }])
}

/// The document with this id, or `DocumentNotFound`.
fn document(note: &NoteData, id: Uuid) -> Result<&Document, DomainError> {
    note.documents.get(&id).ok_or(DomainError::DocumentNotFound)
}

fn request_upload(
    note: &NoteData,
    document_id: Uuid,
    spec: DocumentSpec,
) -> Result<Option<NoteEvent>, DomainError> {
    if note.documents.contains_key(&document_id) {
        return Ok(None);
    }
    if note.documents.len() >= MAX_DOCUMENTS {
        return Err(DomainError::TooManyDocuments);
    }
    Ok(Some(NoteEvent::DocumentUploadRequested {
        document_id,
        spec,
    }))
}

fn submit(
    note: &NoteData,
    document_id: Uuid,
    at: Timestamp,
) -> Result<Option<NoteEvent>, DomainError> {
    let document = document(note, document_id)?;
    if document.status != DocumentStatus::Attached {
        return Err(DomainError::UploadIncomplete);
    }
    if note.due_at.is_none() {
        return Err(DomainError::NotAnAssignment);
    }
    Ok(document
        .submitted_at
        .is_none()
        .then_some(NoteEvent::DocumentSubmitted {
            document_id,
            submitted_at: at,
        }))
}

/// Applies one event to a state. Events are facts: this never fails, and an
/// event that makes no sense in the state leaves it unchanged. The same as
/// [`Decider::evolve`] on [`Note`].
pub fn evolve(state: Note, event: &NoteEvent) -> Note {
    let mut note = match (state, event) {
        (
            Note::Absent,
            NoteEvent::NoteCreated {
                owner,
                title,
                body,
                subject,
                tags,
                due_at,
            },
        ) => {
            return Note::Live(NoteData {
                owner: *owner,
                title: title.clone(),
                body: body.clone(),
                subject: subject.clone(),
                tags: tags.clone(),
                pinned: false,
                archived: false,
                trashed: false,
                due_at: *due_at,
                done: false,
                shares: BTreeMap::new(),
                documents: BTreeMap::new(),
            })
        }
        (Note::Absent, NoteEvent::NoteImported { owner, note }) => {
            return Note::Live(NoteData {
                owner: *owner,
                title: note.title.clone(),
                body: note.body.clone(),
                subject: note.subject.clone(),
                tags: note.tags.clone(),
                pinned: note.pinned,
                archived: note.archived,
                trashed: note.trashed,
                due_at: note.due_at,
                done: note.done && note.due_at.is_some(),
                shares: BTreeMap::new(),
                documents: note
                    .documents
                    .iter()
                    .map(|d| {
                        let document = Document {
                            spec: d.spec.clone(),
                            status: DocumentStatus::Attached,
                            submitted_at: None,
                        };
                        (d.document_id, document)
                    })
                    .collect(),
            })
        }
        (Note::Live(_), NoteEvent::NotePurged) => return Note::Purged,
        (Note::Live(note), _) => note,
        (other, _) => return other,
    };
    match event {
        NoteEvent::NoteCreated { .. } | NoteEvent::NoteImported { .. } | NoteEvent::NotePurged => {}
        NoteEvent::NoteEdited { title, body } => {
            if let Some(title) = title {
                note.title = title.clone();
            }
            if let Some(body) = body {
                note.body = body.clone();
            }
        }
        NoteEvent::NoteTagsSet { tags } => note.tags = tags.clone(),
        NoteEvent::NoteMovedToSubject { subject } => note.subject = subject.clone(),
        NoteEvent::NotePinned => note.pinned = true,
        NoteEvent::NoteUnpinned => note.pinned = false,
        NoteEvent::NoteArchived => note.archived = true,
        NoteEvent::NoteUnarchived => note.archived = false,
        NoteEvent::NoteDueDateSet { due_at } => note.due_at = Some(*due_at),
        NoteEvent::NoteDueDateCleared => {
            note.due_at = None;
            note.done = false;
        }
        NoteEvent::AssignmentCompleted => note.done = note.due_at.is_some(),
        NoteEvent::AssignmentReopened => note.done = false,
        NoteEvent::NoteTrashed => note.trashed = true,
        NoteEvent::NoteRestored => note.trashed = false,
        NoteEvent::NoteShared {
            share_id,
            expires_at,
        } => {
            note.shares.insert(*share_id, *expires_at);
        }
        NoteEvent::NoteShareRevoked { share_id } => {
            note.shares.remove(share_id);
        }
        NoteEvent::NoteContentRestored { content, .. } => {
            note.title = content.title.clone();
            note.body = content.body.clone();
            note.subject = content.subject.clone();
            note.tags = content.tags.clone();
        }
        NoteEvent::DocumentUploadRequested { document_id, spec } => {
            note.documents.insert(
                *document_id,
                Document {
                    spec: spec.clone(),
                    status: DocumentStatus::Pending,
                    submitted_at: None,
                },
            );
        }
        NoteEvent::DocumentAttached { document_id, .. } => {
            if let Some(document) = note.documents.get_mut(document_id) {
                document.status = DocumentStatus::Attached;
            }
        }
        NoteEvent::DocumentUploadFailed { document_id, .. }
        | NoteEvent::DocumentRemoved { document_id } => {
            note.documents.remove(document_id);
        }
        NoteEvent::DocumentSubmitted {
            document_id,
            submitted_at,
        } => {
            if let Some(document) = note.documents.get_mut(document_id) {
                document.submitted_at = Some(*submitted_at);
            }
        }
    }
    Note::Live(note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use crate::values::Tags;
    use proptest::prelude::*;

    fn owner() -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(1))
    }

    fn stranger() -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(2))
    }

    fn title(s: &str) -> Title {
        Title::parse(s).expect("valid title")
    }

    fn created(due: bool) -> NoteEvent {
        NoteEvent::NoteCreated {
            owner: owner(),
            title: title("Lecture 1"),
            body: Body::parse("# Limits").expect("valid body"),
            subject: Subject::parse("Maths").ok(),
            tags: Tags::default(),
            due_at: due.then(|| DueAt::new(time::macros::datetime!(2026-12-01 09:00 UTC))),
        }
    }

    /// The scenario of a note with these events.
    fn given(events: &[NoteEvent]) -> Scenario<Note> {
        Scenario::given(events)
    }

    /// The owner's command to do `action`.
    fn by_owner(action: NoteAction) -> NoteCommand {
        NoteCommand {
            actor: owner(),
            action,
        }
    }

    fn imported(documents: usize) -> ImportedNote {
        let document = |i: usize| ImportedDocument {
            document_id: uuid::Uuid::from_u128(100 + i as u128),
            spec: DocumentSpec {
                file_name: crate::document::FileName::parse("a.pdf").expect("name"),
                content_type: crate::document::ContentType::parse("application/pdf").expect("type"),
                size: 10,
                multipart_upload: None,
            },
            sha256: ContentDigest::from_bytes([7; 32]),
        };
        ImportedNote {
            title: title("Lecture 1"),
            body: Body::parse("# Limits").expect("valid body"),
            subject: None,
            tags: Tags::default(),
            due_at: None,
            done: true,
            pinned: true,
            archived: false,
            trashed: true,
            created_at: time::macros::datetime!(2026-01-01 08:00 UTC),
            updated_at: time::macros::datetime!(2026-02-01 08:00 UTC),
            documents: (0..documents).map(document).collect(),
        }
    }

    #[test]
    fn an_import_creates_the_note_whole_once() {
        let mut expected = imported(2);
        expected.done = false; // not an assignment
        given(&[])
            .when(by_owner(NoteAction::Import(imported(2))))
            .then([NoteEvent::NoteImported {
                owner: owner(),
                note: expected.clone(),
            }])
            .when(by_owner(NoteAction::Import(imported(2))))
            .then_error(DomainError::AlreadyExists);
        let state = Note::fold(&[NoteEvent::NoteImported {
            owner: owner(),
            note: expected,
        }]);
        let note = state.live().expect("live");
        assert!(note.pinned() && note.trashed() && !note.done());
        assert!(note
            .documents()
            .values()
            .all(|d| d.status == DocumentStatus::Attached));
        given(&[])
            .when(by_owner(NoteAction::Import(imported(MAX_DOCUMENTS + 1))))
            .then_error(DomainError::TooManyDocuments);
    }

    #[test]
    fn creating_a_note_records_its_fields() {
        let new = NewNote {
            title: title("Lecture 1"),
            body: Body::parse("# Limits").expect("valid body"),
            subject: Subject::parse("Maths").ok(),
            tags: Tags::default(),
            due_at: None,
        };
        given(&[])
            .when(by_owner(NoteAction::Create(new.clone())))
            .then([created(false)])
            .when(by_owner(NoteAction::Create(new)))
            .then_error(DomainError::AlreadyExists);
    }

    #[test]
    fn editing_records_only_what_changed() {
        let edit = NoteAction::Edit {
            title: Some(title("Lecture 1")),
            body: Body::parse("# Limits and series").ok(),
        };
        given(&[created(false)])
            .when(by_owner(edit))
            .then([NoteEvent::NoteEdited {
                title: None,
                body: Body::parse("# Limits and series").ok(),
            }]);
    }

    #[test]
    fn commands_that_change_nothing_produce_no_events() {
        let pinned = given(&[created(false), NoteEvent::NotePinned]);
        for action in [
            NoteAction::Pin,
            NoteAction::Unarchive,
            NoteAction::ClearDue,
            NoteAction::MoveToSubject(Subject::parse("Maths").ok()),
            NoteAction::Edit {
                title: None,
                body: None,
            },
        ] {
            pinned.when(by_owner(action)).then([]);
        }
    }

    #[test]
    fn a_trashed_note_can_only_be_restored_or_purged() {
        let trashed = given(&[created(false), NoteEvent::NoteTrashed]);
        trashed
            .when(by_owner(NoteAction::Pin))
            .then_error(DomainError::NoteTrashed);
        trashed
            .when(by_owner(NoteAction::Trash))
            .then_error(DomainError::NoteTrashed);
        trashed
            .when(by_owner(NoteAction::Restore))
            .then([NoteEvent::NoteRestored]);
        trashed
            .when(by_owner(NoteAction::Purge))
            .then([NoteEvent::NotePurged]);
    }

    #[test]
    fn purge_only_from_trash_and_purged_is_final() {
        given(&[created(false)])
            .when(by_owner(NoteAction::Purge))
            .then_error(DomainError::NotInTrash);
        let purged = given(&[
            created(false),
            NoteEvent::NoteTrashed,
            NoteEvent::NotePurged,
        ]);
        assert_eq!(purged.state(), &Note::Purged);
        purged
            .when(by_owner(NoteAction::Restore))
            .then_error(DomainError::NotFound);
    }

    #[test]
    fn only_assignments_can_be_completed() {
        given(&[created(false)])
            .when(by_owner(NoteAction::Complete))
            .then_error(DomainError::NotAnAssignment);
        given(&[created(true)])
            .when(by_owner(NoteAction::Complete))
            .then([NoteEvent::AssignmentCompleted])
            .when(by_owner(NoteAction::Complete))
            .then([]);
        let cleared = given(&[
            created(true),
            NoteEvent::AssignmentCompleted,
            NoteEvent::NoteDueDateCleared,
        ]);
        assert_eq!(cleared.state().live().map(NoteData::done), Some(false));
    }

    #[test]
    fn share_links_open_once_and_revoke_once() {
        let id = uuid::Uuid::from_u128(9);
        let share = NoteAction::Share {
            share_id: id,
            expires_at: None,
        };
        let note = given(&[created(false)]);
        note.when(by_owner(share.clone()))
            .then([NoteEvent::NoteShared {
                share_id: id,
                expires_at: None,
            }])
            // The same link twice is a no-op.
            .when(by_owner(share))
            .then([])
            .when(by_owner(NoteAction::RevokeShare { share_id: id }))
            .then([NoteEvent::NoteShareRevoked { share_id: id }]);
        note.when(by_owner(NoteAction::RevokeShare { share_id: id }))
            .then_error(DomainError::ShareNotFound);
        let other = NoteAction::Share {
            share_id: uuid::Uuid::from_u128(10),
            expires_at: None,
        };
        given(&[created(false), NoteEvent::NoteTrashed])
            .when(by_owner(other))
            .then_error(DomainError::NoteTrashed);
    }

    #[test]
    fn a_note_has_at_most_twenty_share_links() {
        let mut events = vec![created(false)];
        events.extend((0..MAX_SHARES as u128).map(|n| NoteEvent::NoteShared {
            share_id: uuid::Uuid::from_u128(n),
            expires_at: None,
        }));
        let one_more = NoteAction::Share {
            share_id: uuid::Uuid::from_u128(99),
            expires_at: None,
        };
        given(&events)
            .when(by_owner(one_more))
            .then_error(DomainError::TooManyShares);
    }

    fn spec(size: u64) -> DocumentSpec {
        DocumentSpec {
            file_name: crate::document::FileName::parse("essay.pdf").expect("valid"),
            content_type: crate::document::ContentType::parse("application/pdf").expect("valid"),
            size,
            multipart_upload: None,
        }
    }

    fn requested(n: u128) -> NoteEvent {
        NoteEvent::DocumentUploadRequested {
            document_id: uuid::Uuid::from_u128(n),
            spec: spec(1024),
        }
    }

    #[test]
    fn a_document_is_requested_attached_and_removed() {
        let doc = uuid::Uuid::from_u128(5);
        let request = NoteAction::RequestUpload {
            document_id: doc,
            spec: spec(1024),
        };
        let sha256 = ContentDigest::from_bytes([7; 32]);
        let attach = NoteAction::AttachDocument {
            document_id: doc,
            sha256: sha256.clone(),
        };
        let fail = NoteAction::FailUpload {
            document_id: doc,
            reason: UploadFailure::Abandoned,
        };
        given(&[created(false)])
            .when(by_owner(request.clone()))
            .then([requested(5)])
            // A repeat is a no-op.
            .when(by_owner(request))
            .then([])
            .when(by_owner(attach.clone()))
            .then([NoteEvent::DocumentAttached {
                document_id: doc,
                sha256: Some(sha256),
            }])
            .when(by_owner(attach))
            .then([])
            // Too late to fail.
            .when(by_owner(fail))
            .then([]);
        let removed = given(&[
            created(false),
            requested(5),
            NoteEvent::DocumentRemoved { document_id: doc },
        ]);
        assert!(removed
            .state()
            .live()
            .is_some_and(|n| n.documents().is_empty()));
        removed
            .when(by_owner(NoteAction::RemoveDocument { document_id: doc }))
            .then_error(DomainError::DocumentNotFound);
    }

    #[test]
    fn only_attached_documents_of_assignments_are_submitted_once() {
        let doc = uuid::Uuid::from_u128(5);
        let at = Timestamp::new(time::macros::datetime!(2026-11-30 18:00 UTC));
        let submit = NoteAction::SubmitDocument {
            document_id: doc,
            at,
        };
        given(&[created(true), requested(5)])
            .when(by_owner(submit.clone()))
            .then_error(DomainError::UploadIncomplete);
        let attached = NoteEvent::DocumentAttached {
            document_id: doc,
            sha256: None,
        };
        given(&[created(false), requested(5), attached.clone()])
            .when(by_owner(submit.clone()))
            .then_error(DomainError::NotAnAssignment);
        let handed_in = given(&[created(true), requested(5), attached])
            .when(by_owner(submit.clone()))
            .then([NoteEvent::DocumentSubmitted {
                document_id: doc,
                submitted_at: at,
            }]);
        handed_in.when(by_owner(submit)).then([]);
        let document = handed_in
            .state()
            .live()
            .and_then(|n| n.documents().get(&doc).cloned());
        assert_eq!(document.and_then(|d| d.submitted_at), Some(at));
    }

    #[test]
    fn a_note_holds_at_most_a_hundred_documents_and_none_new_in_the_trash() {
        let mut events = vec![created(false)];
        events.extend((0..MAX_DOCUMENTS as u128).map(requested));
        let request = NoteAction::RequestUpload {
            document_id: uuid::Uuid::from_u128(999),
            spec: spec(1),
        };
        given(&events)
            .when(by_owner(request.clone()))
            .then_error(DomainError::TooManyDocuments);
        let trashed = given(&[created(false), requested(1), NoteEvent::NoteTrashed]);
        trashed
            .when(by_owner(request))
            .then_error(DomainError::NoteTrashed);
        let abandon = NoteAction::FailUpload {
            document_id: uuid::Uuid::from_u128(1),
            reason: UploadFailure::Abandoned,
        };
        trashed
            .when(by_owner(abandon))
            .then([NoteEvent::DocumentUploadFailed {
                document_id: uuid::Uuid::from_u128(1),
                reason: UploadFailure::Abandoned,
            }]);
    }

    #[test]
    fn restoring_brings_back_an_older_content_once() {
        let old = given(&[created(false)])
            .state()
            .live()
            .map(NoteData::content)
            .expect("live");
        let edited = given(&[
            created(false),
            NoteEvent::NoteEdited {
                title: Some(title("Lecture 1, revised")),
                body: None,
            },
            NoteEvent::NoteTagsSet {
                tags: Tags::parse(&["exam"]).expect("valid"),
            },
        ]);
        let restore = NoteAction::RestoreContent {
            from_version: 1,
            content: old.clone(),
        };
        let after = edited
            .when(by_owner(restore.clone()))
            .then([NoteEvent::NoteContentRestored {
                from_version: 1,
                content: old.clone(),
            }]);
        assert_eq!(after.state().live().map(NoteData::content), Some(old));
        // Already current.
        after.when(by_owner(restore)).then([]);
    }

    #[test]
    fn someone_elses_note_looks_missing() {
        let command = NoteCommand {
            actor: stranger(),
            action: NoteAction::Pin,
        };
        given(&[created(false)])
            .when(command)
            .then_error(DomainError::NotFound);
        given(&[])
            .when(by_owner(NoteAction::Pin))
            .then_error(DomainError::NotFound);
    }

    #[test]
    fn events_round_trip_through_json() {
        let event = created(true);
        let json = serde_json::to_value(&event).expect("serialises");
        assert_eq!(json["type"], "NoteCreated");
        assert_eq!(serde_json::from_value::<NoteEvent>(json).ok(), Some(event));
    }

    fn action() -> impl Strategy<Value = NoteAction> {
        let text = "[a-z ]{0,12}";
        prop_oneof![
            (
                text,
                text,
                proptest::option::of("[A-Z][a-z]{0,6}"),
                proptest::collection::vec("[a-c]{1,2}", 0..4),
                any::<bool>()
            )
                .prop_map(|(t, b, s, tags, due)| NoteAction::Create(NewNote {
                    title: title(&t),
                    body: Body::parse(&b).expect("short body"),
                    subject: s.and_then(|s| Subject::parse(&s).ok()),
                    tags: Tags::parse(&tags).expect("few tags"),
                    due_at: due.then(|| DueAt::new(time::macros::datetime!(2026-12-01 09:00 UTC))),
                })),
            (proptest::option::of(text), proptest::option::of(text)).prop_map(|(t, b)| {
                NoteAction::Edit {
                    title: t.map(|t| title(&t)),
                    body: b.map(|b| Body::parse(&b).expect("short body")),
                }
            }),
            proptest::collection::vec("[a-c]{1,2}", 0..4)
                .prop_map(|t| NoteAction::SetTags(Tags::parse(&t).expect("few tags"))),
            proptest::option::of("[A-C]")
                .prop_map(|s| NoteAction::MoveToSubject(s.and_then(|s| Subject::parse(&s).ok()))),
            (0i64..5).prop_map(|d| NoteAction::SetDue(DueAt::new(
                time::macros::datetime!(2026-12-01 09:00 UTC) + time::Duration::days(d)
            ))),
            Just(NoteAction::Pin),
            Just(NoteAction::Unpin),
            Just(NoteAction::Archive),
            Just(NoteAction::Unarchive),
            Just(NoteAction::ClearDue),
            Just(NoteAction::Complete),
            Just(NoteAction::Reopen),
            Just(NoteAction::Trash),
            Just(NoteAction::Restore),
            Just(NoteAction::Purge),
            (0u128..3).prop_map(|n| NoteAction::Share {
                share_id: uuid::Uuid::from_u128(n),
                expires_at: None
            }),
            (0u128..3).prop_map(|n| NoteAction::RevokeShare {
                share_id: uuid::Uuid::from_u128(n)
            }),
            (0u128..3, 1u64..100).prop_map(|(n, size)| NoteAction::RequestUpload {
                document_id: uuid::Uuid::from_u128(n),
                spec: spec(size),
            }),
            (0u128..3).prop_map(|n| NoteAction::AttachDocument {
                document_id: uuid::Uuid::from_u128(n),
                sha256: ContentDigest::from_bytes([1; 32]),
            }),
            (0u128..3).prop_map(|n| NoteAction::FailUpload {
                document_id: uuid::Uuid::from_u128(n),
                reason: UploadFailure::Mismatch,
            }),
            (0u128..3).prop_map(|n| NoteAction::RemoveDocument {
                document_id: uuid::Uuid::from_u128(n)
            }),
            (0u128..3).prop_map(|n| NoteAction::SubmitDocument {
                document_id: uuid::Uuid::from_u128(n),
                at: Timestamp::new(time::macros::datetime!(2026-11-30 18:00 UTC)),
            }),
        ]
    }

    fn assert_invariants(state: &Note) {
        if let Note::Live(note) = state {
            assert!(
                !note.done || note.due_at.is_some(),
                "done without a due date: {note:?}"
            );
            assert!(note.tags.len() <= Tags::MAX);
            assert!(note.shares.len() <= MAX_SHARES);
            assert!(note.documents.len() <= MAX_DOCUMENTS);
            assert!(
                note.documents
                    .values()
                    .all(|d| d.submitted_at.is_none() || d.status == DocumentStatus::Attached),
                "only attached documents are handed in"
            );
            assert_eq!(
                note.owner,
                owner(),
                "only the owner's commands may change a note"
            );
        }
    }

    proptest! {
        #[test]
        fn replaying_accepted_events_rebuilds_the_same_state(
            commands in proptest::collection::vec((action(), any::<bool>()), 0..40)
        ) {
            let mut state = Note::Absent;
            let mut log = Vec::new();
            for (action, by_owner) in commands {
                let actor = if by_owner { owner() } else { stranger() };
                let actor = if matches!(action, NoteAction::Create(_)) { owner() } else { actor };
                if let Ok(events) = state.decide(NoteCommand { actor, action }) {
                    for event in &events {
                        state = state.evolve(event);
                        assert_invariants(&state);
                    }
                    log.extend(events);
                }
            }
            prop_assert_eq!(Note::fold(&log), state);
        }
    }
}
