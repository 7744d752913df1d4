//! Given / when / then for an aggregate's rules: given the events already in
//! its stream, when a command comes, then exactly these events, or this
//! error.
//!
//! `Scenario::<User>::given(&[registered, deleted]).when(UserCommand::Delete)
//! .then_error(DomainError::NotFound)`.
//!
//! Compiled for this crate's tests, and for other crates' with the feature
//! `testing`.

use std::fmt::Debug;

use crate::decider::Decider;

/// A state rebuilt from past events, waiting for a command. One scenario
/// may take several commands, each decided on the same state.
#[derive(Clone, Debug)]
pub struct Scenario<D> {
    state: D,
}

impl<D: Decider + Clone> Scenario<D> {
    /// Given these events, oldest first.
    pub fn given<'a>(events: impl IntoIterator<Item = &'a D::Event>) -> Self
    where
        D::Event: 'a,
    {
        Self {
            state: D::fold(events),
        }
    }

    /// The state the events built.
    pub fn state(&self) -> &D {
        &self.state
    }

    /// When `command` is decided on the state.
    pub fn when(&self, command: D::Command) -> Decided<D> {
        Decided {
            result: self.state.decide(command),
            state: self.state.clone(),
        }
    }
}

/// A command decided on a scenario's state, to check.
#[must_use = "a decision is checked with `then` or `then_error`"]
pub struct Decided<D: Decider> {
    state: D,
    result: Result<Vec<D::Event>, D::Error>,
}

impl<D> Decided<D>
where
    D: Decider + Clone,
    D::Event: Debug + PartialEq,
    D::Error: Debug + PartialEq,
{
    /// Then exactly these events, in order (none: the command changes
    /// nothing). Returns the scenario with them applied, for the next
    /// command.
    ///
    /// # Panics
    /// When the command was refused or produced other events.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = D::Event>) -> Scenario<D> {
        let expected: Vec<D::Event> = expected.into_iter().collect();
        assert_eq!(self.result, Ok(expected), "then these events");
        let events = self.result.unwrap_or_default();
        Scenario {
            state: events.iter().fold(self.state, D::evolve),
        }
    }

    /// Then the command is refused with `expected`.
    ///
    /// # Panics
    /// When the command was accepted or refused for another reason.
    #[track_caller]
    pub fn then_error(self, expected: D::Error) {
        assert_eq!(self.result, Err(expected), "then this error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{User, UserCommand, UserEvent};
    use crate::values::{DisplayName, Username};
    use crate::DomainError;

    fn register() -> UserCommand {
        UserCommand::Register {
            username: Username::parse("ada").expect("valid"),
            display_name: DisplayName::parse("Ada").expect("valid"),
        }
    }

    fn registered() -> UserEvent {
        UserEvent::UserRegistered {
            username: Username::parse("ada").expect("valid"),
            display_name: DisplayName::parse("Ada").expect("valid"),
        }
    }

    #[test]
    fn then_hands_on_the_state_with_the_events_applied() {
        let active = Scenario::<User>::given(&[])
            .when(register())
            .then([registered()]);
        assert_eq!(active.state(), &User::fold(&[registered()]));
        active
            .when(UserCommand::Delete)
            .then([UserEvent::UserDeleted]);
    }

    #[test]
    #[should_panic(expected = "then these events")]
    fn other_events_fail_the_scenario() {
        Scenario::<User>::given(&[registered()])
            .when(UserCommand::ChangePassword)
            .then([UserEvent::UserDeleted]);
    }

    #[test]
    #[should_panic(expected = "then these events")]
    fn a_refusal_fails_a_scenario_that_expects_events() {
        Scenario::<User>::given(&[])
            .when(UserCommand::Delete)
            .then([]);
    }

    #[test]
    #[should_panic(expected = "then this error")]
    fn an_accepted_command_fails_a_scenario_that_expects_an_error() {
        Scenario::<User>::given(&[])
            .when(register())
            .then_error(DomainError::AlreadyExists);
    }
}
