//! The records on the stream. Each event travels as its JSON [`Envelope`]
//! (or, too large for a record, as its name, to be read from the log); a
//! record holds one envelope (plain), or several in the KPL aggregation
//! format ([`kpl`]), or — written by earlier releases and still read — a
//! JSON array of envelopes.

pub mod envelope;
pub mod kpl;

use anote_store::error::StoreError;
pub use envelope::{Carried, Envelope};
use kpl::KplError;

/// The shape of a record as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// One envelope.
    Plain,
    /// A KPL aggregated record of envelopes.
    Kpl,
    /// A JSON array of envelopes (earlier releases' packing).
    JsonArray,
}

impl RecordFormat {
    /// Its name in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Kpl => "kpl",
            Self::JsonArray => "json_array",
        }
    }
}

/// Why a record was refused: none of its events is returned.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A KPL aggregated record that is damaged, cut short or malformed.
    #[error(transparent)]
    Kpl(#[from] KplError),
    /// An envelope that does not decode.
    #[error("{format} record, envelope {index}: {source}", format = .format.name())]
    Envelope {
        /// The record's shape.
        format: RecordFormat,
        /// The envelope's index in the record.
        index: usize,
        /// What was wrong with it.
        source: StoreError,
    },
}

impl RecordError {
    /// A short name of the cause, for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kpl(KplError::Truncated(_)) => "truncated",
            Self::Kpl(KplError::Checksum(_)) => "checksum",
            Self::Kpl(KplError::Malformed(_) | KplError::MissingKey { .. }) => "malformed",
            Self::Envelope { .. } => "envelope",
        }
    }
}

/// The events a record carries, in order, and the record's shape. The
/// record is decoded whole first: a record with one bad part gives none.
pub fn events_of_record(bytes: &[u8]) -> Result<(RecordFormat, Vec<Carried>), RecordError> {
    let envelope = |format, index| {
        move |source| RecordError::Envelope {
            format,
            index,
            source,
        }
    };
    if kpl::is_aggregated(bytes) {
        let events = kpl::deaggregate(bytes)?
            .iter()
            .enumerate()
            .map(|(n, user)| {
                Envelope::from_json(&user.data).map_err(envelope(RecordFormat::Kpl, n))
            })
            .collect::<Result<_, _>>()?;
        return Ok((RecordFormat::Kpl, events));
    }
    if bytes.first() == Some(&b'[') {
        let format = RecordFormat::JsonArray;
        let envelopes: Vec<Envelope> = serde_json::from_slice(bytes)
            .map_err(|e| envelope(format, 0)(StoreError::corrupt(e)))?;
        let events = envelopes
            .into_iter()
            .enumerate()
            .map(|(n, e)| e.into_carried().map_err(envelope(format, n)))
            .collect::<Result<_, _>>()?;
        return Ok((format, events));
    }
    let event = Envelope::from_json(bytes).map_err(envelope(RecordFormat::Plain, 0))?;
    Ok((RecordFormat::Plain, vec![event]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anote_domain::StreamId;
    use anote_store::event_store::{Metadata, Position, RecordedEvent};
    use uuid::Uuid;

    fn event(version: u64) -> RecordedEvent {
        RecordedEvent {
            position: Position::new(7, version),
            event_id: Uuid::new_v4(),
            stream_id: StreamId::from_stored("note-1".into()),
            stream_version: version,
            event_type: "NoteEdited".into(),
            schema_version: 1,
            payload: serde_json::json!({ "body": format!("revision {version}") }),
            metadata: Metadata::for_request(None, Uuid::new_v4()),
            recorded_at: time::macros::datetime!(2026-12-07 10:00:00 UTC),
            seal: None,
        }
    }

    fn json(event: &RecordedEvent) -> Vec<u8> {
        Envelope::from(event).to_json().expect("serialises")
    }

    #[test]
    fn each_shape_gives_its_events_in_order() {
        let events = vec![event(1), event(2), event(3)];
        let carried: Vec<Carried> = events.iter().cloned().map(Carried::Event).collect();
        let plain = json(&events[0]);
        assert_eq!(
            events_of_record(&plain).expect("plain"),
            (RecordFormat::Plain, vec![carried[0].clone()])
        );
        let array = [
            b"[".to_vec(),
            events.iter().map(json).collect::<Vec<_>>().join(&b','),
            b"]".to_vec(),
        ]
        .concat();
        assert_eq!(
            events_of_record(&array).expect("array"),
            (RecordFormat::JsonArray, carried.clone())
        );
        let mut aggregate = kpl::Aggregate::default();
        for e in &events {
            aggregate.push(e.stream_id.as_str(), json(e));
        }
        assert_eq!(
            events_of_record(&aggregate.into_bytes()).expect("kpl"),
            (RecordFormat::Kpl, carried)
        );
    }

    #[test]
    fn one_bad_envelope_refuses_the_whole_record() {
        let mut aggregate = kpl::Aggregate::default();
        aggregate.push("note-1", json(&event(1)));
        aggregate.push("note-1", b"{\"not\":\"an envelope\"}".to_vec());
        let err = events_of_record(&aggregate.into_bytes()).expect_err("refused");
        assert_eq!(err.reason(), "envelope");
        assert!(
            err.to_string().starts_with("kpl record, envelope 1:"),
            "{err}"
        );
        let err = events_of_record(b"[{}]").expect_err("refused");
        assert_eq!(err.reason(), "envelope");
        let err = events_of_record(&kpl::MAGIC).expect_err("refused");
        assert_eq!(err.reason(), "truncated");
    }
}
