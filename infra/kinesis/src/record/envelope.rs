//! The JSON envelope in which an event travels through the record stream.
//!
//! An event too large for a record (Kinesis takes at most 1 MiB; a sealed
//! body of 512 KiB of line breaks grows past it) travels without its
//! payload, marked `payload_in_log`, and its reader takes it from the log.

use anote_domain::StreamId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use anote_store::error::StoreError;
use anote_store::event_store::{Metadata, Position, RecordedEvent};

/// An event as published: everything a consumer needs to apply it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The event's unique id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream_id: String,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its position in the log, as `"<tx>-<seq>"`.
    pub position: String,
    /// Its type.
    pub event_type: String,
    /// The version of its payload's shape.
    pub schema_version: u32,
    /// Its data; `null` when the event is to be read from the log.
    pub payload: serde_json::Value,
    /// The event was too large for a record: its payload was left out, and
    /// a reader takes the event from the log (absent when `false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub payload_in_log: bool,
    /// Who and what caused it.
    pub metadata: Metadata,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl From<&RecordedEvent> for Envelope {
    fn from(event: &RecordedEvent) -> Self {
        Self {
            event_id: event.event_id,
            stream_id: event.stream_id.to_string(),
            stream_version: event.stream_version,
            position: event.position.to_string(),
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            payload: event.payload.clone(),
            payload_in_log: false,
            metadata: event.metadata.clone(),
            recorded_at: event.recorded_at,
        }
    }
}

/// What an envelope carries of its event.
// Nearly every one is an event: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Carried {
    /// The event, whole.
    Event(RecordedEvent),
    /// The name of an event too large for a record, to be read from the log.
    InLog {
        /// Its stream.
        stream_id: StreamId,
        /// Its version in the stream.
        stream_version: u64,
        /// Its id.
        event_id: Uuid,
    },
}

impl Envelope {
    /// The envelope as JSON: the bytes of a plain record, or of one user
    /// record of an aggregated one.
    pub fn to_json(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(StoreError::corrupt)
    }

    /// The envelope without its payload, marked to be read from the log.
    pub fn without_payload(self) -> Self {
        Self {
            payload: serde_json::Value::Null,
            payload_in_log: true,
            ..self
        }
    }

    /// Reads an envelope's JSON back as what it carries.
    pub fn from_json(bytes: &[u8]) -> Result<Carried, StoreError> {
        let envelope: Self = serde_json::from_slice(bytes).map_err(StoreError::corrupt)?;
        envelope.into_carried()
    }

    /// What this envelope carries.
    pub fn into_carried(self) -> Result<Carried, StoreError> {
        let envelope = self;
        if envelope.payload_in_log {
            return Ok(Carried::InLog {
                stream_id: StreamId::from_stored(envelope.stream_id),
                stream_version: envelope.stream_version,
                event_id: envelope.event_id,
            });
        }
        Ok(Carried::Event(RecordedEvent {
            position: envelope
                .position
                .parse::<Position>()
                .map_err(StoreError::corrupt)?,
            event_id: envelope.event_id,
            stream_id: StreamId::from_stored(envelope.stream_id),
            stream_version: envelope.stream_version,
            event_type: envelope.event_type,
            schema_version: envelope.schema_version,
            payload: envelope.payload,
            metadata: envelope.metadata,
            recorded_at: envelope.recorded_at,
            seal: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_survives_the_envelope() {
        let event = RecordedEvent {
            position: Position::new(9, 42),
            event_id: Uuid::new_v4(),
            stream_id: StreamId::from_stored("note-1".into()),
            stream_version: 3,
            event_type: "NotePinned".into(),
            schema_version: 1,
            payload: serde_json::json!({}),
            metadata: Metadata::for_request(None, Uuid::new_v4()),
            recorded_at: time::macros::datetime!(2026-11-26 10:00:00.123456 UTC),
            seal: None,
        };
        let envelope = Envelope::from(&event);
        let bytes = envelope.to_json().expect("serialises");
        assert!(!String::from_utf8_lossy(&bytes).contains("payload_in_log"));
        assert_eq!(
            Envelope::from_json(&bytes).expect("parses"),
            Carried::Event(event.clone())
        );
        assert!(Envelope::from_json(b"{}").is_err());
        let reference = envelope.without_payload().to_json().expect("serialises");
        assert_eq!(
            Envelope::from_json(&reference).expect("parses"),
            Carried::InLog {
                stream_id: event.stream_id,
                stream_version: 3,
                event_id: event.event_id
            }
        );
    }
}
