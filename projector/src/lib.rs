//! Anote's projector: the pure projection of note events into note views,
//! and the runner that applies the log to the read models with checkpoints.

pub mod kinesis_feed;
pub mod projection;
pub mod runner;

pub use runner::{Projector, ProjectorError};
