//! What every aggregate offers: deciding a command on a state, and evolving a
//! state by an event. The command paths run any aggregate through these two.

/// An aggregate's state, with the rules that decide its commands and the
/// way its events change it. The initial state ([`Default`]) is the one
/// before the stream's first event.
pub trait Decider: Default {
    /// What can be asked of the aggregate.
    type Command;
    /// What can happen to it: the facts in its stream.
    type Event;
    /// Why a command is refused.
    type Error;

    /// Applies the business rules: which events `command` produces in this
    /// state. A command that would change nothing produces no events.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies one event. Events are facts: this never fails, and an event
    /// that makes no sense in the state leaves it unchanged.
    #[must_use]
    fn evolve(self, event: &Self::Event) -> Self;

    /// Rebuilds a state from a whole stream, oldest event first.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}
