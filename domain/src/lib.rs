//! Anote's domain: the Note and User aggregates, their commands and events, and
//! the value types they are made of.
//!
//! Everything here is pure and synchronous. Each aggregate's state is a
//! [`Decider`]: `state.decide(command) -> Result<Vec<Event>, DomainError>`
//! (the business rules) and `state.evolve(&event) -> state` (how an event
//! changes the state); folding a stream's events with `evolve` rebuilds the
//! state. The module `scenario` checks the rules as given / when / then.

pub mod decider;
pub mod document;
pub mod error;
pub mod ids;
pub mod note;
#[cfg(any(test, feature = "testing"))]
pub mod scenario;
pub mod text;
pub mod user;
pub mod values;

pub use decider::Decider;
pub use error::{DomainError, ValidationError};
pub use ids::{NoteId, StreamId, UserId};
