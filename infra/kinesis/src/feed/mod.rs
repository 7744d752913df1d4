//! Feeds of events for the projectors. The log tail is the event store's
//! `read_all`; the Kinesis feed reads the relay's stream, shard by shard,
//! under leases shared by the projector instances.

pub mod kinesis;
