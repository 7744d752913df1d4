//! A note whose key was destroyed (its owner's account deleted) is erased for
//! good: no command writes to it again, so it never gets a key of its own
//! and its history stays readable. On PostgreSQL and SQLite, from a command
//! path that has never cached the note (another instance, or a restart).

use std::sync::Arc;
use std::time::Duration;

use anote_command_api::note_commands::{LedgerPolicy, NoteCommands};
use anote_command_api::CommandError;
use anote_domain::note::{NewNote, NoteAction, NoteCommand};
use anote_domain::user::UserEvent;
use anote_domain::values::{Body, DisplayName, Tags, Title, Username};
use anote_domain::{NoteId, UserId};
use anote_store::event_store::codec::{self, note_events};
use anote_store::event_store::{
    Append, EventStore, Metadata, PgEventStore, SideWrite, SqliteEventStore,
};
use uuid::Uuid;

const POLICY: LedgerPolicy = LedgerPolicy {
    quota: 1 << 20,
    abandon_after: Duration::from_secs(60),
};

fn metadata(actor: UserId) -> Metadata {
    Metadata::for_request(Some(actor), Uuid::new_v4())
}

fn command(actor: UserId, action: NoteAction) -> NoteCommand {
    NoteCommand { actor, action }
}

async fn erased_notes_take_no_command(events: Arc<dyn EventStore>) {
    let owner = UserId::new();
    let id = NoteId::new();
    let writer = NoteCommands::new(events.clone(), 100, POLICY);
    // A user's commands commit only while the account is open.
    events
        .append(Append {
            stream: owner.stream(),
            expected_version: 0,
            events: vec![codec::encode(&UserEvent::UserRegistered {
                username: Username::parse("ada").expect("valid"),
                display_name: DisplayName::parse("Ada").expect("valid"),
            })
            .expect("encodes")],
            metadata: metadata(owner),
            side_writes: vec![SideWrite::SetPasswordHash {
                user_id: owner,
                hash: "hash".to_owned(),
            }],
        })
        .await
        .expect("opens the account");
    let new = NewNote {
        title: Title::parse("Secret").expect("valid"),
        body: Body::parse("words").expect("valid"),
        subject: None,
        tags: Tags::default(),
        due_at: None,
    };
    writer
        .execute(
            id,
            None,
            command(owner, NoteAction::Create(new)),
            metadata(owner),
            None,
        )
        .await
        .expect("creates");
    // The account is deleted: its keys go in the deletion's transaction.
    events
        .append(Append {
            stream: owner.stream(),
            expected_version: 1,
            events: vec![codec::encode(&UserEvent::UserDeleted).expect("encodes")],
            metadata: metadata(owner),
            side_writes: vec![SideWrite::DestroyOwnerKeys { owner }],
        })
        .await
        .expect("destroys the keys");

    let fresh = NoteCommands::new(events.clone(), 100, POLICY);
    for expected in [None, Some(1)] {
        let edit = NoteAction::Edit {
            title: Title::parse("written after the deletion").ok(),
            body: None,
        };
        let refused = fresh
            .execute(id, expected, command(owner, edit), metadata(owner), None)
            .await;
        assert!(
            matches!(refused, Err(CommandError::NoteNotFound)),
            "{refused:?}"
        );
    }
    assert!(matches!(
        fresh.current(id, owner).await,
        Err(CommandError::NoteNotFound)
    ));
    assert!(
        events.note_keys(&[id]).await.expect("reads").is_empty(),
        "no new key"
    );
    let history = note_events(&*events, id)
        .await
        .expect("history still opens");
    assert_eq!(history.len(), 1);
    assert!(history[0].erased);
}

#[tokio::test]
async fn on_postgres() {
    let db = anote_testkit::db::pg_event_log(&anote_testkit::env::fresh_schema(), 4).await;
    erased_notes_take_no_command(Arc::new(PgEventStore::new(db))).await;
}

#[tokio::test]
async fn on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = anote_testkit::db::sqlite_event_log(&dir.path().join("log.sqlite3")).await;
    erased_notes_take_no_command(Arc::new(SqliteEventStore::new(db))).await;
}
