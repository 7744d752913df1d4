//! Identifiers of aggregates and the streams that hold their events.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Defines a UUID newtype with its stream prefix.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The prefix of this aggregate's stream ids.
            pub const STREAM_PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps an existing UUID.
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            pub fn uuid(self) -> Uuid {
                self.0
            }

            /// The id of the stream that holds this aggregate's events.
            pub fn stream(self) -> StreamId {
                StreamId(format!("{}-{}", $prefix, self.0))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Identifies a user account; its stream is `user-<uuid>`.
    UserId,
    "user"
);
id_type!(
    /// Identifies a note; its stream is `note-<uuid>`.
    NoteId,
    "note"
);

/// The id of one event stream, such as `note-<uuid>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(String);

impl StreamId {
    /// Wraps a stream id read back from storage.
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    /// The stream id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_prefixed_by_aggregate() {
        let id = Uuid::nil();
        assert_eq!(
            NoteId::from_uuid(id).stream().as_str(),
            "note-00000000-0000-0000-0000-000000000000"
        );
        assert!(UserId::new().stream().as_str().starts_with("user-"));
    }
}
