//! Audit anchors: a small fact about the log, kept outside the database,
//! that a later copy of the log must still agree with. The hash chains
//! ([`super::audit`]) show an event altered inside its stream; an anchor
//! also shows events or whole streams removed, and a stream rewritten with
//! consistent new hashes, because it remembers where every stream stood.
//!
//! An anchor at position `P` (the position of the log's last event when it
//! was made) holds:
//! - `events`: the number of events at or before `P`;
//! - `streams`: the number of streams with an event at or before `P`;
//! - `unsealed`: how many of those events were written before sealing;
//! - `digest`: `D`, in lowercase hexadecimal, computed as follows.
//!
//! For each stream, its *head at `P`* is its last event at or before `P`:
//! its `stream_version` and its `hash` (32 zero bytes for an unsealed
//! event). Then
//!
//! ```text
//! D = SHA-256( for each stream, in ascending byte order of its id:
//!         u32, big-endian: the length in bytes of the stream id (UTF-8)
//!         the stream id's UTF-8 bytes
//!         u64, big-endian: the head's stream_version
//!         32 bytes: the head's hash )
//! ```
//!
//! (An empty log's `D` is the SHA-256 of no bytes.) A third party holding
//! an export (`anote audit export`) recomputes `D` from the export's lines
//! at or before `P` alone.
//!
//! Checking the log against an anchor recomputes the same numbers at `P`;
//! events after `P` are the log growing and change nothing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::audit::{hex, Hash, GENESIS};
use super::{EventStore, Position, RecordedEvent};
use crate::error::StoreError;

/// The shape of the anchor documents this code writes.
pub const FORMAT: u32 = 1;

/// Where the log stood at a position: the anchor's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The shape of this document ([`FORMAT`]).
    pub format: u32,
    /// The position of the log's last event when the anchor was made.
    pub position: Position,
    /// The events at or before `position`.
    pub events: u64,
    /// The streams with an event at or before `position`.
    pub streams: u64,
    /// How many of those events were written before sealing (their hash
    /// counts as 32 zero bytes).
    pub unsealed: u64,
    /// `D` over the streams' heads (see the module's documentation), in
    /// lowercase hexadecimal.
    pub digest: String,
    /// When the anchor was made.
    #[serde(with = "time::serde::rfc3339")]
    pub made_at: OffsetDateTime,
}

/// Where a stream stands: its last version and that event's hash.
#[derive(Clone, Copy, Debug)]
struct StreamTip {
    version: u64,
    hash: Hash,
}

/// The heads of every stream of a prefix of the log, as it is read in
/// commit order: one version and hash per stream, whatever its length.
/// Reading on from where it stopped extends it (the relay keeps one
/// between two anchors and reads only the new events).
#[derive(Clone, Debug, Default)]
pub struct Heads {
    streams: HashMap<String, StreamTip>,
    position: Position,
    events: u64,
    unsealed: u64,
}

impl Heads {
    /// Heads before the first event.
    pub fn new() -> Self {
        Self::default()
    }

    /// The position of the last event added ([`Position::START`] for none).
    pub fn position(&self) -> Position {
        self.position
    }

    /// Adds the next event of the log.
    pub fn add(&mut self, event: &RecordedEvent) {
        let hash = match event.seal {
            Some(seal) => seal.hash,
            None => {
                self.unsealed += 1;
                GENESIS
            }
        };
        self.streams.insert(
            event.stream_id.as_str().to_owned(),
            StreamTip {
                version: event.stream_version,
                hash,
            },
        );
        self.events += 1;
        self.position = event.position;
    }

    /// Reads the log on from the last event added, `batch` events at a
    /// time, up to and including `through` (to its end for `None`).
    /// Returns whether the log reaches `through`: it holds an event at or
    /// after it (always true for `None`).
    pub async fn read(
        &mut self,
        store: &dyn EventStore,
        through: Option<Position>,
        batch: usize,
    ) -> Result<bool, StoreError> {
        let mut after = self.position;
        loop {
            let events = store.read_all(after, batch).await?;
            let Some(last) = events.last() else {
                return Ok(through.is_none());
            };
            after = last.position;
            for event in &events {
                match through {
                    Some(through) if event.position > through => return Ok(true),
                    _ => self.add(event),
                }
                if Some(event.position) == through {
                    return Ok(true);
                }
            }
        }
    }

    /// `D` over the heads (see the module's documentation).
    pub fn digest(&self) -> Hash {
        let mut ids: Vec<&String> = self.streams.keys().collect();
        ids.sort();
        let mut hasher = Sha256::new();
        for id in ids {
            let tip = self.streams[id];
            let length = u32::try_from(id.len()).unwrap_or(u32::MAX);
            hasher.update(length.to_be_bytes());
            hasher.update(id.as_bytes());
            hasher.update(tip.version.to_be_bytes());
            hasher.update(tip.hash);
        }
        hasher.finalize().into()
    }

    /// The anchor of the events added so far, made at `made_at`.
    pub fn anchor(&self, made_at: OffsetDateTime) -> Anchor {
        Anchor {
            format: FORMAT,
            position: self.position,
            events: self.events,
            streams: self.streams.len() as u64,
            unsealed: self.unsealed,
            digest: hex(&self.digest()),
            made_at,
        }
    }
}

/// The anchor of the whole log as it reads now (`batch` events at a
/// time), made at `made_at`.
pub async fn anchor(
    store: &dyn EventStore,
    batch: usize,
    made_at: OffsetDateTime,
) -> Result<Anchor, StoreError> {
    let mut heads = Heads::new();
    heads.read(store, None, batch).await?;
    Ok(heads.anchor(made_at))
}

/// What checking the log against an anchor found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The log still holds what the anchor saw (and maybe more after it).
    Matches,
    /// The log no longer reaches the anchor's position, or holds fewer
    /// events at or before it: events were removed from its end (or from
    /// anywhere, leaving every stream some event).
    DeletedTail,
    /// Fewer streams have an event at or before the anchor's position: a
    /// whole stream was removed.
    DeletedStream,
    /// As many events and streams (or more), but some stream's head at the
    /// anchor's position differs: its events were rewritten, or events
    /// were slipped in before the position.
    Rewritten,
}

/// The numbers an anchor compares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Events at or before the position.
    pub events: u64,
    /// Streams with an event at or before it.
    pub streams: u64,
    /// `D`, in lowercase hexadecimal.
    pub digest: String,
}

/// The log checked against an anchor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnchorCheck {
    /// The verdict.
    pub verdict: Verdict,
    /// The anchor's position.
    pub position: Position,
    /// When the anchor was made.
    #[serde(with = "time::serde::rfc3339")]
    pub made_at: OffsetDateTime,
    /// Whether the log still holds an event at or after the position.
    pub reaches: bool,
    /// The anchor's numbers.
    pub anchored: Counts,
    /// The log's numbers at the same position now.
    pub current: Counts,
}

impl AnchorCheck {
    /// Whether the log matches the anchor.
    pub fn matches(&self) -> bool {
        self.verdict == Verdict::Matches
    }
}

/// Recomputes `anchor` from the log as it reads now (`batch` events at a
/// time) and compares.
pub async fn check(
    store: &dyn EventStore,
    anchor: &Anchor,
    batch: usize,
) -> Result<AnchorCheck, StoreError> {
    let mut heads = Heads::new();
    let reaches = anchor.position == Position::START
        || heads.read(store, Some(anchor.position), batch).await?;
    let current = heads.anchor(anchor.made_at);
    Ok(AnchorCheck {
        verdict: compare(anchor, &current, reaches),
        position: anchor.position,
        made_at: anchor.made_at,
        reaches,
        anchored: Counts {
            events: anchor.events,
            streams: anchor.streams,
            digest: anchor.digest.clone(),
        },
        current: Counts {
            events: current.events,
            streams: current.streams,
            digest: current.digest,
        },
    })
}

/// The verdict on the log's anchor at the same position, `current`.
fn compare(anchored: &Anchor, current: &Anchor, reaches: bool) -> Verdict {
    if !reaches {
        Verdict::DeletedTail
    } else if current.streams < anchored.streams {
        Verdict::DeletedStream
    } else if current.events < anchored.events {
        Verdict::DeletedTail
    } else if current.events > anchored.events
        || current.streams > anchored.streams
        || !current.digest.eq_ignore_ascii_case(&anchored.digest)
    {
        Verdict::Rewritten
    } else {
        Verdict::Matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_store::audit::Seal;
    use crate::event_store::Metadata;
    use anote_domain::StreamId;

    fn event(seq: u64, stream: &str, version: u64, hash: Option<Hash>) -> RecordedEvent {
        RecordedEvent {
            position: Position::new(0, seq),
            event_id: uuid::Uuid::nil(),
            stream_id: StreamId::from_stored(stream.to_owned()),
            stream_version: version,
            event_type: "TestHappened".to_owned(),
            schema_version: 1,
            payload: serde_json::json!({}),
            metadata: Metadata::for_request(None, uuid::Uuid::nil()),
            recorded_at: OffsetDateTime::UNIX_EPOCH,
            seal: hash.map(|hash| Seal {
                prev_hash: GENESIS,
                hash,
            }),
        }
    }

    #[test]
    fn the_digest_follows_the_documented_bytes() {
        let mut heads = Heads::new();
        heads.add(&event(1, "note-b", 1, Some([1; 32])));
        heads.add(&event(2, "note-a", 1, None));
        heads.add(&event(3, "note-b", 2, Some([2; 32])));
        let mut bytes = Vec::new();
        for (id, version, hash) in [("note-a", 1u64, [0u8; 32]), ("note-b", 2, [2; 32])] {
            bytes.extend_from_slice(&6u32.to_be_bytes());
            bytes.extend_from_slice(id.as_bytes());
            bytes.extend_from_slice(&version.to_be_bytes());
            bytes.extend_from_slice(&hash);
        }
        let expected: Hash = Sha256::digest(&bytes).into();
        let anchor = heads.anchor(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(anchor.digest, hex(&expected));
        assert_eq!(
            (
                anchor.position,
                anchor.events,
                anchor.streams,
                anchor.unsealed
            ),
            (Position::new(0, 3), 3, 2, 1)
        );
        let empty = Heads::new().anchor(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(empty.digest, hex(&Sha256::digest(b"").into()));
    }

    #[test]
    fn anchors_round_trip_as_json() {
        let mut heads = Heads::new();
        heads.add(&event(7, "note-a", 1, Some([9; 32])));
        let anchor = heads.anchor(OffsetDateTime::UNIX_EPOCH);
        let json = serde_json::to_value(&anchor).expect("serialises");
        assert_eq!(json["position"], "0-7");
        assert_eq!(json["made_at"], "1970-01-01T00:00:00Z");
        let back: Anchor = serde_json::from_value(json).expect("parses");
        assert_eq!(back, anchor);
    }

    #[test]
    fn verdicts_name_what_changed() {
        let at = |events, streams, digest: &str| Anchor {
            format: FORMAT,
            position: Position::new(0, 9),
            events,
            streams,
            unsealed: 0,
            digest: digest.to_owned(),
            made_at: OffsetDateTime::UNIX_EPOCH,
        };
        let anchored = at(9, 3, "aa");
        assert_eq!(compare(&anchored, &at(9, 3, "AA"), true), Verdict::Matches);
        assert_eq!(
            compare(&anchored, &at(9, 3, "aa"), false),
            Verdict::DeletedTail
        );
        assert_eq!(
            compare(&anchored, &at(8, 3, "bb"), true),
            Verdict::DeletedTail
        );
        assert_eq!(
            compare(&anchored, &at(7, 2, "bb"), true),
            Verdict::DeletedStream
        );
        assert_eq!(
            compare(&anchored, &at(9, 3, "bb"), true),
            Verdict::Rewritten
        );
        assert_eq!(
            compare(&anchored, &at(10, 3, "bb"), true),
            Verdict::Rewritten
        );
    }
}
