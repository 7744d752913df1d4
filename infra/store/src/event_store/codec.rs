//! Turns domain events into stored events and back.
//!
//! A domain event serialises with its type as the `type` tag; the tag becomes
//! the `event_type` column and the rest is the payload. Every shape has a
//! schema version; an older shape is upcast here when read, never rewritten
//! in the log.

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::{NewEvent, RecordedEvent};
use crate::error::StoreError;

/// The schema version of every event shape written today.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// Prepares a domain event for appending.
pub fn encode<E: Serialize>(event: &E) -> Result<NewEvent, StoreError> {
    let value = serde_json::to_value(event).map_err(StoreError::corrupt)?;
    let serde_json::Value::Object(mut fields) = value else {
        return Err(StoreError::Invalid(
            "an event must serialise to a JSON object",
        ));
    };
    let Some(serde_json::Value::String(event_type)) = fields.remove("type") else {
        return Err(StoreError::Invalid(
            "an event must carry a string `type` tag",
        ));
    };
    Ok(NewEvent {
        event_id: Uuid::new_v4(),
        event_type,
        schema_version: CURRENT_SCHEMA_VERSION,
        payload: serde_json::Value::Object(fields),
    })
}

/// A note event as stored and as read through the note's key.
#[derive(Clone, Debug)]
pub struct NoteRecord {
    /// The stored event (its content sealed).
    pub recorded: RecordedEvent,
    /// The event, its content opened (or erased).
    pub event: anote_domain::note::NoteEvent,
    /// Whether its content was erased with the note's key.
    pub erased: bool,
}

/// A note's whole stream, read through its key, oldest first: what
/// history, time travel and restoring an old version fold with the
/// domain's `evolve`.
pub async fn note_events(
    store: &dyn super::EventStore,
    note: anote_domain::NoteId,
) -> Result<Vec<NoteRecord>, StoreError> {
    let key = store.note_keys(&[note]).await?.remove(&note);
    store
        .read_stream(&note.stream(), 0)
        .await?
        .into_iter()
        .map(|recorded| {
            let (event, erased) = super::shredding::decode_note(&recorded, key.as_ref())?;
            Ok(NoteRecord {
                recorded,
                event,
                erased,
            })
        })
        .collect()
}

/// Reads a stored event back as a domain event, upcasting older shapes.
pub fn decode<E: DeserializeOwned>(event: &RecordedEvent) -> Result<E, StoreError> {
    let payload = upcast(
        &event.event_type,
        event.schema_version,
        event.payload.clone(),
    )?;
    let serde_json::Value::Object(mut fields) = payload else {
        return Err(StoreError::corrupt(format!(
            "event {} has a payload that is not an object",
            event.event_id
        )));
    };
    fields.insert(
        "type".to_owned(),
        serde_json::Value::String(event.event_type.clone()),
    );
    serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| StoreError::corrupt(format!("event {}: {e}", event.event_id)))
}

/// Brings a payload written at `schema_version` up to the current shape.
/// Each future shape change adds one step here.
fn upcast(
    event_type: &str,
    schema_version: u32,
    payload: serde_json::Value,
) -> Result<serde_json::Value, StoreError> {
    match schema_version {
        CURRENT_SCHEMA_VERSION => Ok(payload),
        other => Err(StoreError::corrupt(format!(
            "{event_type} has unknown schema version {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_store::{Metadata, Position};
    use anote_domain::note::NoteEvent;
    use anote_domain::values::DueAt;
    use anote_domain::StreamId;

    fn recorded(new: NewEvent) -> RecordedEvent {
        RecordedEvent {
            position: Position::START,
            event_id: new.event_id,
            stream_id: StreamId::from_stored("note-x".into()),
            stream_version: 1,
            event_type: new.event_type,
            schema_version: new.schema_version,
            payload: new.payload,
            metadata: Metadata::for_request(None, Uuid::nil()),
            recorded_at: time::OffsetDateTime::UNIX_EPOCH,
            seal: None,
        }
    }

    #[test]
    fn events_survive_encoding_and_the_tag_becomes_the_type() {
        let event = NoteEvent::NoteDueDateSet {
            due_at: DueAt::new(time::macros::datetime!(2026-12-01 09:00 UTC)),
        };
        let new = encode(&event).expect("encodes");
        assert_eq!(new.event_type, "NoteDueDateSet");
        assert!(new.payload.get("type").is_none());
        assert_eq!(decode::<NoteEvent>(&recorded(new)).ok(), Some(event));
    }

    #[test]
    fn unknown_schema_versions_and_invalid_payloads_are_corrupt() {
        let mut new = encode(&NoteEvent::NotePinned).expect("encodes");
        new.schema_version = 99;
        assert!(matches!(
            decode::<NoteEvent>(&recorded(new)),
            Err(StoreError::Corrupt(_))
        ));
        let mut bad = encode(&NoteEvent::NoteTagsSet {
            tags: Default::default(),
        })
        .expect("encodes");
        bad.payload = serde_json::json!({ "tags": [""] });
        assert!(matches!(
            decode::<NoteEvent>(&recorded(bad)),
            Err(StoreError::Corrupt(_))
        ));
    }
}
