//! The User aggregate: an account. Its password never appears here: the write
//! side keeps the hash in a credentials table, outside the log.

use serde::{Deserialize, Serialize};

use crate::decider::Decider;
use crate::error::DomainError;
use crate::values::{DisplayName, Username};

/// What an account is at one version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum User {
    /// Never registered.
    #[default]
    Absent,
    /// A registered account.
    Active(UserData),
    /// A deleted account: nothing can happen to it any more.
    Deleted,
}

/// The profile of an active account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserData {
    username: Username,
    display_name: DisplayName,
}

impl UserData {
    /// The login name.
    pub fn username(&self) -> &Username {
        &self.username
    }
    /// The name shown to people.
    pub fn display_name(&self) -> &DisplayName {
        &self.display_name
    }
}

impl User {
    /// The active account, if there is one.
    pub fn active(&self) -> Option<&UserData> {
        match self {
            Self::Active(data) => Some(data),
            Self::Absent | Self::Deleted => None,
        }
    }
}

/// What can be asked of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserCommand {
    /// Open the account.
    Register {
        /// The login name.
        username: Username,
        /// The name shown to people.
        display_name: DisplayName,
    },
    /// Record that the password changed (the hash is stored elsewhere).
    ChangePassword,
    /// Delete the account.
    Delete,
}

/// What happened to an account. The serde tag is the event type in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum UserEvent {
    /// The account was opened.
    UserRegistered {
        /// The login name.
        username: Username,
        /// The name shown to people.
        display_name: DisplayName,
    },
    /// The password changed.
    UserPasswordChanged,
    /// The account was deleted.
    UserDeleted,
}

impl Decider for User {
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = DomainError;

    /// Applies the rules for accounts.
    fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, DomainError> {
        match (self, command) {
            (
                User::Absent,
                UserCommand::Register {
                    username,
                    display_name,
                },
            ) => Ok(vec![UserEvent::UserRegistered {
                username,
                display_name,
            }]),
            (User::Active(_) | User::Deleted, UserCommand::Register { .. }) => {
                Err(DomainError::AlreadyExists)
            }
            (User::Active(_), UserCommand::ChangePassword) => {
                Ok(vec![UserEvent::UserPasswordChanged])
            }
            (User::Active(_), UserCommand::Delete) => Ok(vec![UserEvent::UserDeleted]),
            (User::Absent | User::Deleted, UserCommand::ChangePassword | UserCommand::Delete) => {
                Err(DomainError::NotFound)
            }
        }
    }

    /// Applies one event to an account.
    fn evolve(self, event: &UserEvent) -> Self {
        match (self, event) {
            (
                User::Absent,
                UserEvent::UserRegistered {
                    username,
                    display_name,
                },
            ) => User::Active(UserData {
                username: username.clone(),
                display_name: display_name.clone(),
            }),
            (User::Active(_), UserEvent::UserDeleted) => User::Deleted,
            (state, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use proptest::prelude::*;

    fn registered() -> UserEvent {
        UserEvent::UserRegistered {
            username: Username::parse("ada").expect("valid"),
            display_name: DisplayName::parse("Ada").expect("valid"),
        }
    }

    fn register() -> UserCommand {
        UserCommand::Register {
            username: Username::parse("ada").expect("valid"),
            display_name: DisplayName::parse("Ada").expect("valid"),
        }
    }

    fn given(events: &[UserEvent]) -> Scenario<User> {
        Scenario::given(events)
    }

    #[test]
    fn registering_opens_an_account_once() {
        given(&[])
            .when(register())
            .then([registered()])
            .when(register())
            .then_error(DomainError::AlreadyExists);
    }

    #[test]
    fn a_deleted_account_accepts_nothing() {
        let deleted = given(&[registered(), UserEvent::UserDeleted]);
        assert_eq!(deleted.state(), &User::Deleted);
        deleted
            .when(UserCommand::ChangePassword)
            .then_error(DomainError::NotFound);
        deleted
            .when(UserCommand::Delete)
            .then_error(DomainError::NotFound);
        deleted
            .when(register())
            .then_error(DomainError::AlreadyExists);
    }

    #[test]
    fn changing_a_password_is_recorded_without_the_secret() {
        given(&[registered()])
            .when(UserCommand::ChangePassword)
            .then([UserEvent::UserPasswordChanged]);
        assert_eq!(
            serde_json::to_string(&[UserEvent::UserPasswordChanged]).expect("serialises"),
            r#"[{"type":"UserPasswordChanged"}]"#
        );
    }

    proptest! {
        #[test]
        fn replaying_accepted_events_rebuilds_the_same_account(commands in proptest::collection::vec(0u8..3, 0..12)) {
            let mut state = User::Absent;
            let mut log = Vec::new();
            for c in commands {
                let command = match c { 0 => register(), 1 => UserCommand::ChangePassword, _ => UserCommand::Delete };
                if let Ok(events) = state.decide(command) {
                    for e in &events { state = state.evolve(e); }
                    log.extend(events);
                }
            }
            prop_assert_eq!(User::fold(&log), state);
        }
    }
}
