//! Tamper evidence: every event is sealed with a hash over its canonical
//! content and the hash of the previous event of its stream, so altering,
//! removing or reordering a stored event breaks a chain.
//!
//! The algorithm, for anyone holding an export:
//! 1. `content` is the JSON array `[event_id, stream_id, stream_version,
//!    event_type, schema_version, payload, metadata, recorded_at_micros]`
//!    written without whitespace, object keys sorted by their UTF-8 bytes,
//!    strings as UTF-8 with only `"`, `\` and control characters escaped
//!    (`\b \f \n \r \t`, others as `\u00XX`), integers in decimal
//!    (`recorded_at_micros` is the recording time in microseconds since the
//!    Unix epoch);
//! 2. `hash = SHA-256(prev_hash ‖ SHA-256(content))`, where `prev_hash` is
//!    the `hash` of the stream's previous event, or 32 zero bytes for its
//!    first event.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::anchor::AnchorCheck;
use super::{EventStore, Position, RecordedEvent};
use crate::error::StoreError;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The `prev_hash` of a stream's first event.
pub const GENESIS: Hash = [0; 32];

/// An event's seal: the previous event's hash and its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seal {
    /// The hash of the stream's previous event.
    pub prev_hash: Hash,
    /// This event's hash.
    pub hash: Hash,
}

/// The seal stored with an event, if it has one.
pub fn seal_of(
    prev_hash: Option<Vec<u8>>,
    hash: Option<Vec<u8>>,
) -> Result<Option<Seal>, StoreError> {
    let hash_of = |bytes: Vec<u8>| {
        Hash::try_from(bytes).map_err(|_| StoreError::corrupt("a hash is not 32 bytes"))
    };
    match (prev_hash, hash) {
        (Some(prev_hash), Some(hash)) => Ok(Some(Seal {
            prev_hash: hash_of(prev_hash)?,
            hash: hash_of(hash)?,
        })),
        _ => Ok(None),
    }
}

/// What is hashed of an event.
#[derive(Clone, Copy, Debug)]
pub struct Content<'a> {
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// Its stream.
    pub stream_id: &'a str,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its type.
    pub event_type: &'a str,
    /// The version of its payload's shape.
    pub schema_version: u32,
    /// Its payload.
    pub payload: &'a Value,
    /// Its metadata, as stored.
    pub metadata: &'a Value,
    /// When it was recorded (microseconds count).
    pub recorded_at: OffsetDateTime,
}

impl Content<'_> {
    /// SHA-256 of the canonical JSON of the content.
    pub fn digest(&self) -> Hash {
        let micros = i64::try_from(self.recorded_at.unix_timestamp_nanos() / 1_000).unwrap_or(0);
        let array = Value::Array(vec![
            Value::String(self.event_id.to_string()),
            Value::String(self.stream_id.to_owned()),
            Value::from(self.stream_version),
            Value::String(self.event_type.to_owned()),
            Value::from(self.schema_version),
            canonical(self.payload),
            canonical(self.metadata),
            Value::from(micros),
        ]);
        Sha256::digest(array.to_string().as_bytes()).into()
    }
}

/// A JSON value with every object's keys in sorted order (serde_json's map
/// keeps keys sorted unless told otherwise; this does not rely on it).
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut sorted: Vec<(&String, &Value)> = fields.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The hash of an event whose content digest is `digest`, after `prev`.
pub fn chain(prev: &Hash, digest: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(digest);
    hasher.finalize().into()
}

/// The microsecond-precise time every backend stores.
pub fn recording_time(now: OffsetDateTime) -> OffsetDateTime {
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

/// The content of a recorded event, for hashing it again.
pub fn content_of(event: &RecordedEvent) -> Result<(Hash, Value), StoreError> {
    let metadata = serde_json::to_value(&event.metadata).map_err(StoreError::corrupt)?;
    let digest = Content {
        event_id: event.event_id,
        stream_id: event.stream_id.as_str(),
        stream_version: event.stream_version,
        event_type: &event.event_type,
        schema_version: event.schema_version,
        payload: &event.payload,
        metadata: &metadata,
        recorded_at: event.recorded_at,
    }
    .digest();
    Ok((digest, metadata))
}

/// Where a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The stream.
    pub stream_id: String,
    /// The first event that does not verify.
    pub stream_version: u64,
    /// Its position in the log.
    pub position: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Events whose seals were checked.
    pub events: u64,
    /// Streams seen.
    pub streams: u64,
    /// Events written before sealing existed (not checked).
    pub unsealed: u64,
    /// The first broken event of each broken stream, in log order.
    pub breaks: Vec<Break>,
    /// The log checked against an anchor, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<AnchorCheck>,
}

impl Report {
    /// Whether every chain verified and the log matches the anchor, if
    /// one was given.
    pub fn passed(&self) -> bool {
        self.breaks.is_empty() && self.anchor.as_ref().is_none_or(AnchorCheck::matches)
    }
}

/// Where a stream's chain stands while it is being checked.
#[derive(Clone, Copy, Debug)]
struct Head {
    version: u64,
    hash: Hash,
    /// Whether a sealed event was seen: after one, every event must be.
    sealed: bool,
}

/// Checks the chains of the whole log (read in commit order, `batch`
/// events at a time), or of one stream.
pub async fn verify(
    store: &dyn EventStore,
    stream: Option<&str>,
    batch: usize,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    // Per stream: where its chain stands, or None once it is broken (only
    // its first break is reported).
    let mut heads: HashMap<String, Option<Head>> = HashMap::new();
    let legacy = store.unsealed_through().await?;
    let mut check_event =
        |report: &mut Report, event: &RecordedEvent| check(report, &mut heads, legacy, event);
    if let Some(stream) = stream {
        let id = anote_domain::StreamId::from_stored(stream.to_owned());
        for event in store.read_stream(&id, 0).await? {
            check_event(&mut report, &event)?;
        }
    } else {
        let mut after = Position::START;
        loop {
            let events = store.read_all(after, batch).await?;
            let Some(last) = events.last() else {
                break;
            };
            after = last.position;
            for event in &events {
                check_event(&mut report, event)?;
            }
        }
    }
    report.streams = heads.len() as u64;
    Ok(report)
}

/// Checks one event against its stream's head; events after global
/// sequence `legacy` must be sealed.
fn check(
    report: &mut Report,
    heads: &mut HashMap<String, Option<Head>>,
    legacy: u64,
    event: &RecordedEvent,
) -> Result<(), StoreError> {
    let head = heads
        .entry(event.stream_id.as_str().to_owned())
        .or_insert(Some(Head {
            version: 0,
            hash: GENESIS,
            sealed: false,
        }));
    let Some(Head {
        version,
        hash: prev,
        sealed,
    }) = *head
    else {
        return Ok(());
    };
    let broken = |reason| Break {
        stream_id: event.stream_id.to_string(),
        stream_version: event.stream_version,
        position: event.position.to_string(),
        reason,
    };
    let Some(seal) = event.seal else {
        if sealed || event.position.seq() > legacy {
            report.breaks.push(broken("its seal was removed"));
            *head = None;
        } else {
            report.unsealed += 1;
            *head = Some(Head {
                version: event.stream_version,
                hash: GENESIS,
                sealed: false,
            });
        }
        return Ok(());
    };
    report.events += 1;
    let (digest, _) = content_of(event)?;
    let reason = if !event.payload.is_object() {
        Some("its payload is not a JSON object")
    } else if event.stream_version != version + 1 {
        Some("a version is missing or out of order before this event")
    } else if seal.prev_hash != prev {
        Some("its prev_hash is not the previous event's hash")
    } else if seal.hash != chain(&prev, &digest) {
        Some("its content does not match its hash")
    } else {
        None
    };
    match reason {
        Some(reason) => {
            report.breaks.push(broken(reason));
            *head = None;
        }
        None => {
            *head = Some(Head {
                version: event.stream_version,
                hash: seal.hash,
                sealed: true,
            })
        }
    }
    Ok(())
}

/// One line of an export: the event as stored, with its seal in hex.
#[derive(Debug, Serialize)]
pub struct ExportLine {
    /// Its position in the log.
    pub position: String,
    /// Its id.
    pub event_id: uuid::Uuid,
    /// Its stream.
    pub stream_id: String,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its type.
    pub event_type: String,
    /// The version of its payload's shape.
    pub schema_version: u32,
    /// Its payload.
    pub payload: Value,
    /// Its metadata.
    pub metadata: Value,
    /// When it was recorded, in microseconds since the Unix epoch.
    pub recorded_at_micros: i64,
    /// The previous event's hash (hex), if sealed.
    pub prev_hash: Option<String>,
    /// Its hash (hex), if sealed.
    pub hash: Option<String>,
}

/// A hash in lowercase hexadecimal.
pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

impl ExportLine {
    /// The export form of a recorded event.
    pub fn of(event: &RecordedEvent) -> Result<Self, StoreError> {
        let (_, metadata) = content_of(event)?;
        Ok(Self {
            position: event.position.to_string(),
            event_id: event.event_id,
            stream_id: event.stream_id.to_string(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            payload: event.payload.clone(),
            metadata,
            recorded_at_micros: i64::try_from(event.recorded_at.unix_timestamp_nanos() / 1_000)
                .unwrap_or(0),
            prev_hash: event.seal.map(|s| hex(&s.prev_hash)),
            hash: event.seal.map(|s| hex(&s.hash)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_key_order_and_chains_depend_on_the_past() {
        let a: Value = serde_json::json!({ "b": 1, "a": { "d": [1, 2], "c": null } });
        let b: Value = serde_json::from_str(r#"{"a":{"c":null,"d":[1,2]},"b":1}"#).expect("json");
        let content = |payload| Content {
            event_id: uuid::Uuid::nil(),
            stream_id: "note-1",
            stream_version: 1,
            event_type: "NoteCreated",
            schema_version: 1,
            payload,
            metadata: &Value::Null,
            recorded_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(content(&a).digest(), content(&b).digest());
        let digest = content(&a).digest();
        assert_ne!(chain(&GENESIS, &digest), chain(&[1; 32], &digest));
        assert_eq!(&hex(&[0xab; 32])[..4], "abab");
    }
}
