//! Anote's projector: the pure projection of note events into note views,
//! and the runner that applies the log to the read models with checkpoints.
//!
//! # Layout
//! - [`projection`]: event → read-model changes, pure.
//! - [`runner`]: [`Projector`], applying batches with their checkpoint,
//!   parking a stream whose event keeps failing.
//! - [`kinesis_feed`]: the projector fed by the relay's Kinesis stream.
//! - [`rebuild`]: blue/green rebuilds, and the embedded server's switch to
//!   a new build.

pub mod kinesis_feed;
pub mod projection;
pub mod rebuild;
pub mod runner;

pub use runner::{Projector, ProjectorError};

/// Events a projector applies per transaction.
pub const BATCH: usize = 1_000;
