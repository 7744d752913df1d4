//! Anote's Kinesis side: the relay that publishes the event log to a
//! stream, and the feed that reads the stream back for the projectors.
//!
//! # Layout
//! - [`record`]: what a record carries (event envelopes) and its shapes:
//!   plain, KPL-aggregated, or an earlier release's JSON array.
//! - [`relay`]: commit-safe tailing of the log, leadership by lease, the
//!   packing of events into records, the Kinesis sink.
//! - [`feed`]: shard leases shared by projector instances, reading and
//!   unpacking records into events.

pub mod feed;
pub mod record;
pub mod relay;
