//! A note view for the backends' tests.

use anote_domain::{NoteId, UserId};
use anote_store::event_store::Position;
use time::OffsetDateTime;

use crate::NoteView;

/// A fresh note of `owner` titled `title`, its body "chapter on
/// convergence", at version 1.
pub(crate) fn view(owner: UserId, title: &str) -> NoteView {
    let now = OffsetDateTime::now_utc();
    NoteView {
        id: NoteId::new(),
        owner,
        title: title.to_owned(),
        body: "chapter on convergence".to_owned(),
        snippet: String::new(),
        subject: None,
        tags: Vec::new(),
        pinned: false,
        archived: false,
        trashed: false,
        purged: false,
        due_at: None,
        done: false,
        version: 1,
        created_at: now,
        updated_at: now,
        changed: Position::new(0, 1),
        documents: Vec::new(),
    }
}
