//! What Anote's tests share: where the services of the test command are,
//! fresh names for schemas, streams and buckets, migrated databases, the
//! whole backend in process ([`TestApp`], driven request by request without
//! a socket) and the real `anote` binary as processes ([`process`]).
//!
//! # Layout
//! - [`env`]: the PostgreSQL, Kinesis and S3 the test command starts
//!   (`ANOTE_TEST_*`), clients of them, and fresh schema, stream and bucket
//!   names (one prefix, `t_`, so that the test command can drop what earlier
//!   runs left behind).
//! - [`db`]: migrated event logs and read models on PostgreSQL or SQLite,
//!   and [`db::settled`].
//! - [`app`]: [`TestApp`], both APIs in process on a temporary embedded
//!   store, with a clock the tests move; requests go through
//!   `tower::ServiceExt::oneshot`.
//! - [`events`]: [`Events`], a reply's Server-Sent Events as they come.
//! - [`kinesis`]: a log published by a relay, a stream read back raw or
//!   through the feed.
//! - [`faults`]: what the fault tests break and mend: a PostgreSQL cluster,
//!   the emulators and a stalling TCP proxy of a test's own.
//! - [`process`]: `anote serve`, the split services and the background
//!   roles started as processes, for what needs a process (signals, the
//!   listener, Kinesis, the binary's flags).

pub mod app;
pub mod db;
pub mod env;
pub mod events;
pub mod faults;
pub mod kinesis;
pub mod process;

pub use app::{Call, Opened, Reply, Settings, TestApp};
pub use events::Events;

/// A logged-in account.
#[derive(Clone, Debug)]
pub struct Account {
    /// The access token.
    pub access: String,
    /// The refresh token.
    pub refresh: String,
}

/// The password of every account the helpers register.
pub const PASSWORD: &str = "correct horse battery";
