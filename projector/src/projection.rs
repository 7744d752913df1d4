//! The note projection, pure: how one note event changes a note's view.
//!
//! Idempotent by stream version: an event at or below the view's version
//! changes nothing; one more than it is applied; a later one reports a gap,
//! so the caller can fetch the missing events from the log first.

use anote_domain::document::DocumentStatus;
use anote_domain::note::NoteEvent;
use anote_domain::NoteId;
use anote_read_store::{DocumentView, NoteView, ShareChange, ShareLink};
use anote_store::event_store::Position;
use time::OffsetDateTime;

/// How many characters of the body a list shows.
pub const SNIPPET_CHARS: usize = 160;

/// What applying one event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Already applied (a duplicate or an older event): nothing changes.
    Skip,
    /// Events between the view's version and this one are missing.
    Gap {
        /// The version the view is at.
        have: u64,
    },
    /// The view after the event.
    Apply(Box<NoteView>),
}

/// Applies the event at `version`, recorded at `at`, to the view of note `id`.
pub fn project(
    view: Option<&NoteView>,
    id: NoteId,
    event: &NoteEvent,
    version: u64,
    at: OffsetDateTime,
) -> Step {
    let have = view.map_or(0, |v| v.version);
    if version <= have {
        return Step::Skip;
    }
    if version > have + 1 {
        return Step::Gap { have };
    }
    let mut next = match (view, event) {
        (
            None,
            NoteEvent::NoteCreated {
                owner,
                title,
                body,
                subject,
                tags,
                due_at,
            },
        ) => NoteView {
            id,
            owner: *owner,
            title: title.to_string(),
            body: body.to_string(),
            snippet: snippet(body.as_str()),
            subject: subject.as_ref().map(ToString::to_string),
            tags: tags.iter().map(ToString::to_string).collect(),
            pinned: false,
            archived: false,
            trashed: false,
            purged: false,
            due_at: due_at.map(|d| d.instant()),
            done: false,
            version,
            created_at: at,
            updated_at: at,
            changed: Position::START,
            documents: Vec::new(),
        },
        (None, NoteEvent::NoteImported { owner, note }) => NoteView {
            id,
            owner: *owner,
            title: note.title.to_string(),
            body: note.body.to_string(),
            snippet: snippet(note.body.as_str()),
            subject: note.subject.as_ref().map(ToString::to_string),
            tags: note.tags.iter().map(ToString::to_string).collect(),
            pinned: note.pinned,
            archived: note.archived,
            trashed: note.trashed,
            purged: false,
            due_at: note.due_at.map(|d| d.instant()),
            done: note.done && note.due_at.is_some(),
            version,
            created_at: note.created_at,
            updated_at: note.updated_at,
            changed: Position::START,
            documents: note
                .documents
                .iter()
                .map(|d| DocumentView {
                    id: d.document_id,
                    file_name: d.spec.file_name.to_string(),
                    content_type: d.spec.content_type.to_string(),
                    size: d.spec.size,
                    status: DocumentStatus::Attached,
                    submitted_at: None,
                    sha256: Some(d.sha256.to_string()),
                })
                .collect(),
        },
        // An event of a stream whose creation was never seen: the log is
        // inconsistent with the view; keep the version moving only.
        (None, _) => return Step::Gap { have },
        (Some(view), _) => view.clone(),
    };
    next.version = version;
    next.updated_at = at;
    match event {
        NoteEvent::NoteCreated { .. } => {}
        // The archive's dates, not the import's.
        NoteEvent::NoteImported { note, .. } => next.updated_at = note.updated_at,
        NoteEvent::NoteEdited { title, body } => {
            if let Some(title) = title {
                next.title = title.to_string();
            }
            if let Some(body) = body {
                next.body = body.to_string();
                next.snippet = snippet(body.as_str());
            }
        }
        NoteEvent::NoteTagsSet { tags } => {
            next.tags = tags.iter().map(ToString::to_string).collect()
        }
        NoteEvent::NoteMovedToSubject { subject } => {
            next.subject = subject.as_ref().map(ToString::to_string);
        }
        NoteEvent::NotePinned => next.pinned = true,
        NoteEvent::NoteUnpinned => next.pinned = false,
        NoteEvent::NoteArchived => next.archived = true,
        NoteEvent::NoteUnarchived => next.archived = false,
        NoteEvent::NoteDueDateSet { due_at } => next.due_at = Some(due_at.instant()),
        NoteEvent::NoteDueDateCleared => {
            next.due_at = None;
            next.done = false;
        }
        NoteEvent::AssignmentCompleted => next.done = next.due_at.is_some(),
        NoteEvent::AssignmentReopened => next.done = false,
        NoteEvent::NoteTrashed => next.trashed = true,
        NoteEvent::NoteRestored => next.trashed = false,
        // Share links live in their own read model; see `share_change`.
        NoteEvent::NoteShared { .. } | NoteEvent::NoteShareRevoked { .. } => {}
        NoteEvent::NoteContentRestored { content, .. } => {
            next.title = content.title.to_string();
            next.body = content.body.to_string();
            next.snippet = snippet(content.body.as_str());
            next.subject = content.subject.as_ref().map(ToString::to_string);
            next.tags = content.tags.iter().map(ToString::to_string).collect();
        }
        NoteEvent::DocumentUploadRequested { document_id, spec } => {
            next.documents.push(DocumentView {
                id: *document_id,
                file_name: spec.file_name.to_string(),
                content_type: spec.content_type.to_string(),
                size: spec.size,
                status: DocumentStatus::Pending,
                submitted_at: None,
                sha256: None,
            });
        }
        NoteEvent::DocumentAttached {
            document_id,
            sha256,
        } => {
            if let Some(document) = next.documents.iter_mut().find(|d| d.id == *document_id) {
                document.status = DocumentStatus::Attached;
                document.sha256 = sha256.as_ref().map(ToString::to_string);
            }
        }
        NoteEvent::DocumentSubmitted {
            document_id,
            submitted_at,
        } => {
            if let Some(document) = next.documents.iter_mut().find(|d| d.id == *document_id) {
                document.submitted_at = Some(submitted_at.instant());
            }
        }
        NoteEvent::DocumentUploadFailed { document_id, .. }
        | NoteEvent::DocumentRemoved { document_id } => {
            next.documents.retain(|d| d.id != *document_id);
        }
        NoteEvent::NotePurged => {
            next.purged = true;
            next.documents.clear();
            next.title.clear();
            next.body.clear();
            next.snippet.clear();
            next.subject = None;
            next.tags.clear();
        }
    }
    Step::Apply(Box::new(next))
}

/// The share-link change an applied event makes, if any.
pub fn share_change(view: &NoteView, event: &NoteEvent, at: OffsetDateTime) -> Option<ShareChange> {
    match event {
        NoteEvent::NoteShared {
            share_id,
            expires_at,
        } => Some(ShareChange::Opened(ShareLink {
            id: *share_id,
            note_id: view.id,
            owner: view.owner,
            expires_at: expires_at.map(|e| e.instant()),
            created_at: at,
        })),
        NoteEvent::NoteShareRevoked { share_id } => Some(ShareChange::Revoked(*share_id)),
        _ => None,
    }
}

/// The first characters of a Markdown body as one line of plain-ish text.
pub fn snippet(body: &str) -> String {
    let flat: String = body
        .split_whitespace()
        .map(|word| word.trim_start_matches(['#', '>', '*', '-', '`', '_']))
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match flat.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anote_domain::values::{Body, Tags, Title};
    use anote_domain::UserId;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s)
    }

    #[test]
    fn an_imported_note_keeps_the_archives_dates_and_flags() {
        let event = NoteEvent::NoteImported {
            owner: UserId::from_uuid(uuid::Uuid::from_u128(1)),
            note: anote_domain::note::ImportedNote {
                title: Title::parse("Old").expect("title"),
                body: Body::parse("text").expect("body"),
                subject: None,
                tags: Tags::default(),
                due_at: None,
                done: false,
                pinned: true,
                archived: true,
                trashed: false,
                created_at: at(10),
                updated_at: at(20),
                documents: Vec::new(),
            },
        };
        let id = NoteId::from_uuid(uuid::Uuid::from_u128(2));
        let view = applied(project(None, id, &event, 1, at(1000)));
        assert_eq!((view.created_at, view.updated_at), (at(10), at(20)));
        assert!(view.pinned && view.archived && !view.trashed);
        let edited = NoteEvent::NoteEdited {
            title: None,
            body: Body::parse("more").ok(),
        };
        let next = applied(project(Some(&view), id, &edited, 2, at(2000)));
        assert_eq!((next.created_at, next.updated_at), (at(10), at(2000)));
    }

    fn created() -> NoteEvent {
        NoteEvent::NoteCreated {
            owner: UserId::from_uuid(uuid::Uuid::from_u128(7)),
            title: Title::parse("Limits").expect("valid"),
            body: Body::parse("# Lecture 1\n\n*Limits* of sequences").expect("valid"),
            subject: None,
            tags: Tags::parse(&["exam"]).expect("valid"),
            due_at: None,
        }
    }

    fn applied(step: Step) -> NoteView {
        match step {
            Step::Apply(view) => *view,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn a_created_note_gets_its_view_and_snippet() {
        let id = NoteId::new();
        let view = applied(project(None, id, &created(), 1, at(1)));
        assert_eq!(
            (view.id, view.version, view.title.as_str()),
            (id, 1, "Limits")
        );
        assert_eq!(view.snippet, "Lecture 1 Limits* of sequences");
        assert_eq!(view.tags, vec!["exam".to_owned()]);
        assert_eq!((view.created_at, view.updated_at), (at(1), at(1)));
    }

    #[test]
    fn duplicates_are_skipped_and_gaps_reported() {
        let id = NoteId::new();
        let view = applied(project(None, id, &created(), 1, at(1)));
        let pinned = applied(project(Some(&view), id, &NoteEvent::NotePinned, 2, at(2)));
        assert!(pinned.pinned);
        assert_eq!(
            project(Some(&pinned), id, &NoteEvent::NotePinned, 2, at(2)),
            Step::Skip
        );
        assert_eq!(project(Some(&pinned), id, &created(), 1, at(1)), Step::Skip);
        assert_eq!(
            project(Some(&pinned), id, &NoteEvent::NoteArchived, 4, at(4)),
            Step::Gap { have: 2 }
        );
        assert_eq!(
            project(None, id, &NoteEvent::NotePinned, 1, at(1)),
            Step::Gap { have: 0 }
        );
    }

    #[test]
    fn purging_leaves_a_tombstone_without_content() {
        let id = NoteId::new();
        let view = applied(project(None, id, &created(), 1, at(1)));
        let trashed = applied(project(Some(&view), id, &NoteEvent::NoteTrashed, 2, at(2)));
        let purged = applied(project(
            Some(&trashed),
            id,
            &NoteEvent::NotePurged,
            3,
            at(3),
        ));
        assert!(purged.purged);
        assert!(purged.title.is_empty() && purged.body.is_empty() && purged.tags.is_empty());
        // A late duplicate of the creation cannot bring it back.
        assert_eq!(project(Some(&purged), id, &created(), 1, at(1)), Step::Skip);
    }

    #[test]
    fn documents_are_listed_attached_handed_in_and_removed() {
        use anote_domain::document::{ContentDigest, ContentType, DocumentSpec, FileName};
        use anote_domain::values::Timestamp;
        let id = NoteId::new();
        let doc = uuid::Uuid::from_u128(3);
        let requested = NoteEvent::DocumentUploadRequested {
            document_id: doc,
            spec: DocumentSpec {
                file_name: FileName::parse("essay.pdf").expect("valid"),
                content_type: ContentType::parse("application/pdf").expect("valid"),
                size: 42,
                multipart_upload: None,
            },
        };
        let events = [
            requested,
            NoteEvent::DocumentAttached {
                document_id: doc,
                sha256: Some(ContentDigest::from_bytes([9; 32])),
            },
            NoteEvent::DocumentSubmitted {
                document_id: doc,
                submitted_at: Timestamp::new(at(9)),
            },
        ];
        let mut view = applied(project(None, id, &created(), 1, at(1)));
        for (n, event) in events.iter().enumerate() {
            view = applied(project(Some(&view), id, event, n as u64 + 2, at(2)));
        }
        let listed = &view.documents[0];
        assert_eq!(
            (listed.file_name.as_str(), listed.size, listed.status),
            ("essay.pdf", 42, DocumentStatus::Attached)
        );
        assert_eq!(listed.submitted_at, Some(at(9)));
        assert_eq!(listed.sha256, Some("09".repeat(32)));
        let removed = NoteEvent::DocumentRemoved { document_id: doc };
        let view = applied(project(Some(&view), id, &removed, 5, at(5)));
        assert!(view.documents.is_empty());
    }

    #[test]
    fn snippets_are_cut_at_a_character_boundary() {
        let long = "é".repeat(SNIPPET_CHARS + 10);
        let cut = snippet(&long);
        assert_eq!(cut.chars().count(), SNIPPET_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
