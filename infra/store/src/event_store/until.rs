//! The log as it was at a point: a read-only view of an event store that
//! ends at a position, or at the first event (in commit order) recorded
//! after a time. Read models built from it are the read models of then.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use anote_domain::{NoteId, StreamId, UserId};
use async_trait::async_trait;
use time::OffsetDateTime;

use super::shredding::NoteKey;
use super::{Append, Appended, EventStore, Position, RecordedEvent, StoredReply, StreamHead};
use crate::error::StoreError;

/// Where the log ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// At this position (included).
    Position(Position),
    /// Before the first event recorded after this time.
    Time(OffsetDateTime),
}

impl Until {
    /// Whether `event` is still part of the log.
    pub fn includes(&self, event: &RecordedEvent) -> bool {
        match self {
            Self::Position(p) => event.position <= *p,
            Self::Time(t) => event.recorded_at <= *t,
        }
    }
}

impl FromStr for Until {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(position) = s.parse::<Position>() {
            return Ok(Self::Position(position));
        }
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(Self::Time)
            .map_err(|_| format!("{s}: neither a log position (<tx>-<seq>) nor an RFC 3339 time"))
    }
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Position(p) => write!(f, "{p}"),
            Self::Time(t) => write!(f, "{t}"),
        }
    }
}

/// A read-only event store that ends at `until`.
pub struct LogUntil {
    inner: Arc<dyn EventStore>,
    until: Until,
}

impl LogUntil {
    /// `inner`, up to `until`.
    pub fn new(inner: Arc<dyn EventStore>, until: Until) -> Self {
        Self { inner, until }
    }
}

#[async_trait]
impl EventStore for LogUntil {
    async fn append(&self, _: Append) -> Result<Appended, StoreError> {
        Err(StoreError::Invalid("the log of a past point is read-only"))
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.inner.read_stream(stream, after_version).await?;
        events.retain(|e| self.until.includes(e));
        Ok(events)
    }

    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        Ok(self
            .read_stream(stream, 0)
            .await?
            .last()
            .map(|e| StreamHead {
                version: e.stream_version,
                position: e.position,
            }))
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.read_all(after, limit).await?;
        Ok(events
            .into_iter()
            .take_while(|e| self.until.includes(e))
            .collect())
    }

    async fn find_reply(&self, user: UserId, key: &str) -> Result<Option<StoredReply>, StoreError> {
        self.inner.find_reply(user, key).await
    }

    async fn note_keys(&self, notes: &[NoteId]) -> Result<HashMap<NoteId, NoteKey>, StoreError> {
        self.inner.note_keys(notes).await
    }

    async fn user_key(&self, user: UserId) -> Result<Option<NoteKey>, StoreError> {
        self.inner.user_key(user).await
    }

    async fn newest(&self) -> Result<u64, StoreError> {
        let newest = self.inner.newest().await?;
        Ok(match self.until {
            Until::Position(p) => newest.min(p.seq()),
            Until::Time(_) => newest,
        })
    }

    async fn unsealed_through(&self) -> Result<u64, StoreError> {
        self.inner.unsealed_through().await
    }

    async fn has_position(&self, position: Position) -> Result<bool, StoreError> {
        let within = match self.until {
            Until::Position(p) => position <= p,
            Until::Time(_) => true,
        };
        Ok(within && self.inner.has_position(position).await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_a_position_or_a_time() {
        assert_eq!("7-42".parse(), Ok(Until::Position(Position::new(7, 42))));
        assert_eq!(
            "2026-11-26T10:00:00Z".parse(),
            Ok(Until::Time(time::macros::datetime!(2026-11-26 10:00 UTC)))
        );
        assert!("yesterday".parse::<Until>().is_err());
    }
}
