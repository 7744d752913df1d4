//! Blue/green rebuilds in process: `anote replay` makes a new embedded
//! build current, and a serving process switches to it by itself.

use std::sync::Arc;
use std::time::Duration;

use anote_domain::note::{self, NewNote, Note, NoteAction, NoteCommand};
use anote_domain::values::{Body, Tags, Title};
use anote_domain::{NoteId, UserId};
use anote_projector::rebuild::{follow_builds, rebuild_embedded};
use anote_projector::Projector;
use anote_read_store::builds::embedded_read_models;
use anote_read_store::{NoteReads, SwitchableReads, NOTE_VIEWS};
use anote_store::event_store::{codec, Append, EventStore, Metadata};
use anote_store::Storage;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// Decides `action` on the note at `state` and appends its events.
async fn append(events: &dyn EventStore, id: NoteId, state: &mut (Note, u64), action: NoteAction) {
    let actor = UserId::from_uuid(Uuid::nil());
    let decided = note::decide(&state.0, NoteCommand { actor, action }).expect("accepted");
    let appended = events
        .append(Append {
            stream: id.stream(),
            expected_version: state.1,
            events: decided
                .iter()
                .map(codec::encode)
                .collect::<Result<_, _>>()
                .expect("encodes"),
            metadata: Metadata::for_request(None, Uuid::new_v4()),
            side_writes: Vec::new(),
        })
        .await
        .expect("appends");
    state.0 = decided.iter().fold(state.0.clone(), note::evolve);
    state.1 = appended.version;
}

fn title(text: &str) -> Title {
    Title::parse(text).expect("valid")
}

#[tokio::test]
async fn a_serving_process_switches_to_a_new_build_and_retires_the_old() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = Storage::embedded(dir.path()).await.expect("opens");
    let events = storage.events.clone();
    let owner = UserId::from_uuid(Uuid::nil());
    let id = NoteId::new();
    let mut state = (Note::Absent, 0);
    let create = NoteAction::Create(NewNote {
        title: title("first"),
        body: Body::parse("body").expect("valid"),
        subject: None,
        tags: Tags::default(),
        due_at: None,
    });
    append(&*events, id, &mut state, create).await;

    // The serving process: its build, projected once, then switched by
    // `follow_builds` alone.
    let (build, first_file) = embedded_read_models(dir.path()).await.expect("opens");
    let reads = Arc::new(SwitchableReads::new(build));
    Projector::new(
        NOTE_VIEWS,
        events.clone(),
        reads.clone(),
        anote_projector::BATCH,
    )
    .catch_up(|_| {})
    .await
    .expect("projects");
    let (notices, mut heard) = broadcast::channel(16);
    let (stop, stopped) = watch::channel(false);
    let following = tokio::spawn(follow_builds(
        dir.path().to_owned(),
        first_file.clone(),
        reads.clone(),
        events.clone(),
        notices,
        stopped,
    ));
    let edit = NoteAction::Edit {
        title: Some(title("second")),
        body: None,
    };
    append(&*events, id, &mut state, edit).await;
    let shown = |reads: Arc<SwitchableReads>| async move {
        reads.note(owner, id).await.expect("reads").map(|v| v.title)
    };
    assert_eq!(shown(reads.clone()).await.as_deref(), Some("first"));

    let (new_file, reached) = rebuild_embedded(events.clone(), dir.path(), |_| {})
        .await
        .expect("rebuilds");
    assert_ne!(new_file, first_file);
    let notice = tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("the server switched within seconds")
        .expect("a notice");
    assert_eq!((notice.checkpoint, notice.owners), (reached, None));
    assert_eq!(shown(reads.clone()).await.as_deref(), Some("second"));
    for _ in 0..100 {
        if !first_file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!first_file.exists(), "the replaced build is deleted");
    let _ = stop.send(true);
    following.await.expect("stops");
}
