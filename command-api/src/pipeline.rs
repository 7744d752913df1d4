//! One way to run a command on an aggregate: load its stream's state (read
//! the events after the state already known, open their sealed fields with
//! the stream's data key, evolve), decide, seal and append the events with
//! their side writes under the optimistic lock, and, when another writer got
//! in first, catch up and decide again.
//!
//! What differs between aggregates is in [`Stored`] (where the stream is, how
//! its events are sealed and opened); what differs between commands is in
//! [`Run`] (checks before deciding, side writes, the answer to a lost race).

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anote_domain::{Decider, StreamId};
use anote_store::event_store::shredding::NoteKey;
use anote_store::event_store::{
    codec, Append, EventStore, Metadata, NewEvent, Position, RecordedEvent, SideWrite, StreamHead,
};
use anote_store::StoreError;
use moka::sync::Cache;
use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::CommandError;
use crate::stream_locks::StreamLocks;

/// The first pause between two attempts of a contended command.
const FIRST_BACKOFF: Duration = Duration::from_millis(1);

/// The longest pause between two attempts of a contended command.
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// Locks shared by the aggregates of one kind: far more than the commands
/// in flight, so that unrelated aggregates seldom share one.
const LOCK_STRIPES: usize = 1024;

/// An aggregate as its stream holds it: where the stream is, and how its
/// events are sealed with the stream's data key and opened again.
pub trait Stored: Decider<Event: Serialize> + Clone + Send + Sync + 'static {
    /// What names one aggregate.
    type Id: Copy + Eq + Hash + Send + Sync + 'static;

    /// The stream of aggregate `id`.
    fn stream(id: Self::Id) -> StreamId;

    /// The stream's data key, if it has one (read once its first event is).
    fn read_key(
        events: &dyn EventStore,
        id: Self::Id,
    ) -> impl Future<Output = Result<Option<NoteKey>, StoreError>> + Send;

    /// An event read back through the key (`None`: the key is gone, or the
    /// stream never had one), and whether content sealed under a key that
    /// is gone was found.
    fn open(
        recorded: &RecordedEvent,
        key: Option<&NoteKey>,
    ) -> Result<(Self::Event, bool), StoreError>;

    /// Seals the protected fields of an event's payload with the key.
    fn seal(payload: &mut Value, event_id: Uuid, key: &NoteKey) -> Result<(), StoreError>;

    /// Whether appending `event` destroys the stream's key.
    fn ends_key(event: &Self::Event) -> bool;
}

/// A stream's state at a version.
#[derive(Clone, Debug)]
pub struct Loaded<A> {
    /// The aggregate.
    pub state: A,
    /// The stream's version (0: no event yet).
    pub version: u64,
    /// The position of its last event.
    pub position: Position,
    /// The stream's data key, while it has one.
    pub key: Option<NoteKey>,
    /// Whether content sealed under a key that is gone was found: the
    /// stream was erased and is gone for good.
    pub erased: bool,
}

impl<A: Default> Default for Loaded<A> {
    fn default() -> Self {
        Self {
            state: A::default(),
            version: 0,
            position: Position::START,
            key: None,
            erased: false,
        }
    }
}

/// What commits with a command's events.
#[derive(Debug)]
pub struct Writes {
    /// Writes to other tables, in the append's transaction.
    pub side_writes: Vec<SideWrite>,
    /// The key the events are sealed with (none: the stream was written
    /// before keys existed, and stays as it was).
    pub key: Option<NoteKey>,
}

/// One command as the pipeline runs it: what it asks, and what its kind
/// adds to deciding and appending.
pub trait Run<A: Stored>: Sync {
    /// The version the stream must be at, if the caller named one.
    fn expected(&self) -> Option<u64> {
        None
    }

    /// The command, decided afresh on every attempt.
    fn command(&self) -> A::Command;

    /// Stored with the events.
    fn metadata(&self) -> Metadata;

    /// Refuses the command on this state before it is decided.
    fn admit(&self, _loaded: &Loaded<A>) -> Result<(), CommandError> {
        Ok(())
    }

    /// The answer to a command the rules refuse.
    fn refused(&self, error: A::Error) -> CommandError;

    /// The side writes and the key that go with `events`, decided on
    /// `loaded`.
    fn writes(&self, loaded: &Loaded<A>, events: &[A::Event]) -> Writes;

    /// The answer when another writer got in first, if the command must not
    /// be decided again on the `fresh` state.
    fn lost_race(&self, _fresh: &Loaded<A>) -> Option<CommandError> {
        None
    }
}

/// How a command is decided again while other writers keep getting in
/// first, before it is answered with the retryable `write_contention`.
#[derive(Clone, Copy, Debug)]
pub enum Retries {
    /// For up to this long, after a random pause that doubles at each
    /// attempt (up to [`MAX_BACKOFF`]), so that writers who collided do not
    /// collide again in step.
    Within(Duration),
    /// Up to this many more times, at once.
    Times(u32),
}

/// Runs commands on one kind of aggregate against the log, optionally
/// keeping recent states in memory (keyed by aggregate, tagged with their
/// version). Commands on one aggregate run one at a time in this process. A
/// cached state may be behind another instance's writes; the append's
/// optimistic lock finds that out, and the stream is then read on from
/// there.
#[derive(Clone)]
pub struct Pipeline<A: Stored> {
    events: Arc<dyn EventStore>,
    cache: Option<Cache<A::Id, Arc<Loaded<A>>>>,
    locks: Arc<StreamLocks>,
    retries: Retries,
}

impl<A: Stored> Pipeline<A> {
    /// A pipeline over this log that caches up to `capacity` states.
    pub fn cached(events: Arc<dyn EventStore>, capacity: u64, retries: Retries) -> Self {
        Self {
            events,
            cache: Some(Cache::new(capacity)),
            locks: Arc::new(StreamLocks::new(LOCK_STRIPES)),
            retries,
        }
    }

    /// A pipeline over this log that reads every stream from its start.
    pub fn uncached(events: Arc<dyn EventStore>, retries: Retries) -> Self {
        Self {
            events,
            cache: None,
            locks: Arc::new(StreamLocks::new(LOCK_STRIPES)),
            retries,
        }
    }

    /// The aggregate's state as the log has it now (not as cached).
    pub async fn current(&self, id: A::Id) -> Result<Arc<Loaded<A>>, CommandError> {
        self.catch_up(id, self.in_memory(id)).await
    }

    /// The state in memory, if any.
    fn in_memory(&self, id: A::Id) -> Option<Arc<Loaded<A>>> {
        self.cache.as_ref()?.get(&id)
    }

    /// Brings a (possibly cached) state up to date with the log.
    async fn catch_up(
        &self,
        id: A::Id,
        from: Option<Arc<Loaded<A>>>,
    ) -> Result<Arc<Loaded<A>>, CommandError> {
        let mut loaded = from.map_or_else(Loaded::default, |l| l.as_ref().clone());
        let recorded_events = self
            .events
            .read_stream(&A::stream(id), loaded.version)
            .await?;
        if loaded.key.is_none() && !recorded_events.is_empty() {
            loaded.key = A::read_key(self.events.as_ref(), id).await?;
        }
        for recorded in recorded_events {
            let (event, erased) = A::open(&recorded, loaded.key.as_ref())?;
            loaded.erased |= erased;
            loaded.state = loaded.state.evolve(&event);
            loaded.version = recorded.stream_version;
            loaded.position = recorded.position;
        }
        let loaded = Arc::new(loaded);
        if let Some(cache) = &self.cache {
            cache.insert(id, loaded.clone());
        }
        Ok(loaded)
    }

    /// The cached state if it is recent enough for `expected`, else the
    /// state caught up with the log.
    async fn load(&self, id: A::Id, expected: Option<u64>) -> Result<Arc<Loaded<A>>, CommandError> {
        match self.in_memory(id) {
            Some(cached) if expected.is_none_or(|v| v <= cached.version) => Ok(cached),
            cached => self.catch_up(id, cached).await,
        }
    }

    /// Runs a command on aggregate `id` once no other command of this
    /// process is running on it: decides it on the loaded state, and
    /// appends its events with their side writes at that state's version. A
    /// command that changes nothing appends nothing. When another writer
    /// (another process, or an append outside this pipeline) got in first,
    /// the state is caught up, and the command is answered by
    /// [`Run::lost_race`] or decided again as [`Retries`] allow, then
    /// answered with the retryable `write_contention`. Returns the stream's
    /// version and last position afterwards.
    #[tracing::instrument(name = "command", skip_all, fields(
        stream = %A::stream(id),
        expected = ?run.expected(),
        retried = tracing::field::Empty,
        version = tracing::field::Empty,
    ))]
    pub async fn run(&self, id: A::Id, run: &impl Run<A>) -> Result<StreamHead, CommandError> {
        let _turn = self.locks.lock(&id).await;
        let mut loaded = self.load(id, run.expected()).await?;
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut retried = 0;
        loop {
            run.admit(&loaded)?;
            let events = loaded
                .state
                .decide(run.command())
                .map_err(|error| run.refused(error))?;
            if events.is_empty() {
                return Ok(StreamHead {
                    version: loaded.version,
                    position: loaded.position,
                });
            }
            let Writes { side_writes, key } = run.writes(&loaded, &events);
            let append = Append {
                stream: A::stream(id),
                expected_version: loaded.version,
                events: events
                    .iter()
                    .map(|event| sealed::<A>(event, key.as_ref()))
                    .collect::<Result<_, _>>()?,
                metadata: run.metadata(),
                side_writes,
            };
            match self.events.append(append).await {
                Ok(appended) => {
                    if let Some(cache) = &self.cache {
                        let key_kept = !events.iter().any(A::ends_key);
                        let state = events.iter().fold(loaded.state.clone(), A::evolve);
                        cache.insert(
                            id,
                            Arc::new(Loaded {
                                state,
                                version: appended.version,
                                position: appended.position,
                                key: key.filter(|_| key_kept),
                                erased: false,
                            }),
                        );
                    }
                    let span = tracing::Span::current();
                    span.record("retried", retried);
                    span.record("version", appended.version);
                    return Ok(StreamHead {
                        version: appended.version,
                        position: appended.position,
                    });
                }
                Err(StoreError::Conflict { .. }) => {
                    // Another writer got there first: our view was stale.
                    let fresh = self.catch_up(id, Some(loaded)).await?;
                    if let Some(answer) = run.lost_race(&fresh) {
                        return Err(answer);
                    }
                    match self.retries {
                        Retries::Within(budget) if started.elapsed() < budget => {
                            backoff = pause(backoff).await;
                            retried += 1;
                        }
                        Retries::Times(times) if retried < times => retried += 1,
                        Retries::Within(_) | Retries::Times(_) => {
                            return Err(CommandError::WriteContention)
                        }
                    }
                    loaded = fresh;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }
}

/// Sleeps a random part (half to all) of `backoff`, so that writers who
/// collided do not collide again in step; returns the next, doubled backoff.
async fn pause(backoff: Duration) -> Duration {
    let nanos = u64::try_from(backoff.as_nanos()).unwrap_or(u64::MAX);
    let jittered = rand::thread_rng().gen_range(nanos / 2..=nanos);
    tokio::time::sleep(Duration::from_nanos(jittered)).await;
    (backoff * 2).min(MAX_BACKOFF)
}

/// An event ready to append, its protected fields sealed with the stream's
/// key (streams written before keys existed stay as they were written).
fn sealed<A: Stored>(event: &A::Event, key: Option<&NoteKey>) -> Result<NewEvent, StoreError> {
    let mut new = codec::encode(event)?;
    if let Some(key) = key {
        A::seal(&mut new.payload, new.event_id, key)?;
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use anote_domain::user::{User, UserCommand, UserEvent};
    use anote_domain::values::{DisplayName, Username};
    use anote_domain::{DomainError, UserId};
    use anote_store::db::SqliteDatabase;
    use anote_store::event_store::SqliteEventStore;

    use super::*;

    /// A password change; with `rival`, another writer changes the password
    /// too, just before each of its appends.
    struct ChangePassword {
        id: UserId,
        rival: Option<Arc<dyn EventStore>>,
        give_up: bool,
        attempts: AtomicU32,
    }

    impl Run<User> for ChangePassword {
        fn command(&self) -> UserCommand {
            UserCommand::ChangePassword
        }

        fn metadata(&self) -> Metadata {
            Metadata::for_request(Some(self.id), Uuid::new_v4())
        }

        fn refused(&self, _: DomainError) -> CommandError {
            CommandError::AccountNotFound
        }

        fn writes(&self, loaded: &Loaded<User>, _: &[UserEvent]) -> Writes {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            if let Some(rival) = &self.rival {
                let append = Append {
                    stream: self.id.stream(),
                    expected_version: loaded.version,
                    events: vec![codec::encode(&UserEvent::UserPasswordChanged).expect("encodes")],
                    metadata: self.metadata(),
                    side_writes: Vec::new(),
                };
                let handle = tokio::runtime::Handle::current();
                tokio::task::block_in_place(|| handle.block_on(rival.append(append)))
                    .expect("the rival gets in first");
            }
            Writes {
                side_writes: Vec::new(),
                key: None,
            }
        }

        fn lost_race(&self, fresh: &Loaded<User>) -> Option<CommandError> {
            self.give_up.then_some(CommandError::VersionMismatch {
                current: fresh.version,
            })
        }
    }

    /// A log with one registered account (without a key).
    async fn registered() -> (tempfile::TempDir, Arc<dyn EventStore>, UserId) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = SqliteDatabase::open(&dir.path().join("log.sqlite3"))
            .await
            .expect("opens");
        db.migrate(anote_store::migrations::sqlite())
            .await
            .expect("migrates");
        let events: Arc<dyn EventStore> = Arc::new(SqliteEventStore::new(db));
        let id = UserId::new();
        let registered = UserEvent::UserRegistered {
            username: Username::parse("ada").expect("valid"),
            display_name: DisplayName::parse("Ada").expect("valid"),
        };
        events
            .append(Append {
                stream: id.stream(),
                expected_version: 0,
                events: vec![codec::encode(&registered).expect("encodes")],
                metadata: Metadata::for_request(Some(id), Uuid::new_v4()),
                side_writes: Vec::new(),
            })
            .await
            .expect("registers");
        (dir, events, id)
    }

    fn change_password(id: UserId, rival: Option<Arc<dyn EventStore>>) -> ChangePassword {
        ChangePassword {
            id,
            rival,
            give_up: false,
            attempts: AtomicU32::new(0),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_command_appends_at_the_loaded_version_and_caches_the_result() {
        let (_dir, events, id) = registered().await;
        let pipeline = Pipeline::<User>::cached(events.clone(), 10, Retries::Times(3));
        let head = pipeline
            .run(id, &change_password(id, None))
            .await
            .expect("appends");
        assert_eq!(head.version, 2);
        let cached = pipeline.in_memory(id).expect("cached");
        assert_eq!((cached.version, cached.position), (2, head.position));
        assert!(cached.state.active().is_some());
        let current = pipeline.current(id).await.expect("reads");
        assert_eq!(current.state, cached.state);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_command_that_keeps_losing_races_is_retried_then_answered_write_contention() {
        let (_dir, events, id) = registered().await;
        let run = change_password(id, Some(events.clone()));
        let refused = Pipeline::<User>::uncached(events.clone(), Retries::Times(3))
            .run(id, &run)
            .await;
        assert!(
            matches!(refused, Err(CommandError::WriteContention)),
            "{refused:?}"
        );
        assert_eq!(run.attempts.load(Ordering::SeqCst), 4, "three retries");
        let log = events.read_stream(&id.stream(), 0).await.expect("reads");
        assert_eq!(log.len(), 5, "only the rival's changes");

        let run = change_password(id, Some(events.clone()));
        let budget = Retries::Within(Duration::from_millis(20));
        let refused = Pipeline::<User>::uncached(events.clone(), budget)
            .run(id, &run)
            .await;
        assert!(
            matches!(refused, Err(CommandError::WriteContention)),
            "{refused:?}"
        );
        assert!(run.attempts.load(Ordering::SeqCst) > 1, "decided again");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_lost_race_may_be_answered_at_once() {
        let (_dir, events, id) = registered().await;
        let run = ChangePassword {
            give_up: true,
            ..change_password(id, Some(events.clone()))
        };
        let refused = Pipeline::<User>::uncached(events, Retries::Times(3))
            .run(id, &run)
            .await;
        assert!(
            matches!(refused, Err(CommandError::VersionMismatch { current: 2 })),
            "{refused:?}"
        );
        assert_eq!(run.attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn commands_on_one_aggregate_in_one_process_take_turns_instead_of_racing() {
        let (_dir, events, id) = registered().await;
        let pipeline = Pipeline::<User>::cached(events.clone(), 10, Retries::Times(0));
        pipeline.current(id).await.expect("cached");
        // Each gives up at a lost race: without turns, all would decide on
        // the cached version 1 and all but one would lose.
        let runs: Vec<_> = (0..16)
            .map(|_| {
                let (pipeline, run) = (
                    pipeline.clone(),
                    ChangePassword {
                        give_up: true,
                        ..change_password(id, None)
                    },
                );
                tokio::spawn(async move { pipeline.run(id, &run).await })
            })
            .collect();
        let mut versions = Vec::new();
        for run in runs {
            versions.push(run.await.expect("ran").expect("never lost a race").version);
        }
        versions.sort_unstable();
        assert_eq!(versions, (2..18).collect::<Vec<u64>>());
        let log = events.read_stream(&id.stream(), 0).await.expect("reads");
        assert_eq!(log.len(), 17);
    }
}
