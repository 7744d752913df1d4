//! Anote's domain: the Note and User aggregates, their commands and events, and
//! the value types they are made of.
//!
//! Everything here is pure and synchronous. Each aggregate offers
//! `decide(&state, command) -> Result<Vec<Event>, DomainError>` (the business
//! rules) and `evolve(state, &event) -> state` (how an event changes the state);
//! folding a stream's events with `evolve` rebuilds the state.

pub mod document;
pub mod error;
pub mod ids;
pub mod note;
pub mod text;
pub mod user;
pub mod values;

pub use error::{DomainError, ValidationError};
pub use ids::{NoteId, StreamId, UserId};
