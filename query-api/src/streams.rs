//! Live changes: `GET /v1/changes/stream`, the caller's changes feed as
//! Server-Sent Events.
//!
//! A stream sends what changed since its cursor (the `since` parameter, or
//! `Last-Event-ID` when a client reconnects), then waits. It reads the
//! read models again only when a projector's notice names its owner (or
//! says "anyone"), never on a timer: [`Streams`] keeps one wake-up channel
//! per owner with open streams. Each `change` event's id is the cursor
//! after it, so a client that reconnects with the last id it saw misses
//! nothing and gets nothing twice. A comment line every heartbeat keeps
//! idle connections alive through load balancers; a stream ends when its
//! token expires or is revoked, or when the process shuts down, and the
//! client reconnects (to another task, behind a load balancer) from its
//! last id.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anote_domain::UserId;
use anote_http::extract::{Auth, Authenticator, QueryParams};
use anote_http::Problem;
use anote_read_store::Applied;
use anote_store::event_store::Position;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use utoipa::{IntoParams, ToSchema};

use crate::changes::{parse_since, Change};
use crate::error::QueryError;
use crate::QueryState;

/// How many open streams are allowed, and how often an idle one speaks.
#[derive(Clone, Copy, Debug)]
pub struct StreamSettings {
    /// Open streams per account (each tab or device holds one).
    pub per_user: usize,
    /// Open streams per process.
    pub total: usize,
    /// The longest a stream stays silent: a comment line is sent after it.
    pub heartbeat: Duration,
}

impl StreamSettings {
    /// Eight streams an account, 10,000 a process, a heartbeat every 15 s
    /// (a load balancer's idle timeout is 60 s by default).
    pub const DEFAULT: Self = Self {
        per_user: 8,
        total: 10_000,
        heartbeat: Duration::from_secs(15),
    };
}

/// Changes read from the read models at a time.
const PAGE: u32 = 100;

/// The most bytes of changes a stream holds before sending them (a note's
/// body may be large; a slow client must not pin a page of them).
const PENDING_BYTES: usize = 256 * 1024;

/// Streams reading the read models at once, in a process.
const READING_AT_ONCE: usize = 16;

/// How long a client waits before reconnecting, told in the stream.
const RECONNECT: Duration = Duration::from_secs(2);

/// The open streams of this process, by owner, and what wakes them.
#[derive(Clone)]
pub struct Streams {
    shared: Arc<Shared>,
}

struct Shared {
    settings: StreamSettings,
    open: Mutex<Open>,
    closing: watch::Sender<bool>,
    reading: tokio::sync::Semaphore,
}

/// The owners with open streams: each stream holds a receiver of its
/// owner's channel, so the channel's receiver count is the owner's streams.
#[derive(Default)]
struct Open {
    owners: HashMap<UserId, watch::Sender<()>>,
    total: usize,
}

/// Why a stream was not opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The account already holds its streams.
    PerUser,
    /// This process holds as many streams as it may.
    Full,
}

impl Streams {
    /// No streams open yet.
    pub fn new(settings: StreamSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                open: Mutex::default(),
                closing: watch::channel(false).0,
                reading: tokio::sync::Semaphore::new(READING_AT_ONCE),
            }),
        }
    }

    /// Wakes the streams of the owners each notice names, until the
    /// notices' sender is gone; a lost notice wakes every stream.
    pub fn follow(&self, mut notices: broadcast::Receiver<Applied>) -> tokio::task::JoinHandle<()> {
        let streams = self.clone();
        tokio::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok(notice) => streams.wake(notice.owners.as_deref()),
                    Err(broadcast::error::RecvError::Lagged(_)) => streams.wake(None),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }

    /// Ends every stream (the process is shutting down) and opens no more.
    pub fn close(&self) {
        self.shared.closing.send_replace(true);
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the streams of `owners`, or of everyone.
    fn wake(&self, owners: Option<&[UserId]>) {
        let open = self.lock();
        match owners {
            Some(owners) => owners
                .iter()
                .filter_map(|owner| open.owners.get(owner))
                .for_each(|channel| channel.send_replace(())),
            None => open
                .owners
                .values()
                .for_each(|channel| channel.send_replace(())),
        }
    }

    /// A place for one more stream of `owner`, if the limits allow it.
    fn admit(&self, owner: UserId) -> Result<Listener, Refused> {
        let mut open = self.lock();
        if *self.shared.closing.borrow() || open.total >= self.shared.settings.total {
            return Err(Refused::Full);
        }
        let channel = open
            .owners
            .entry(owner)
            .or_insert_with(|| watch::channel(()).0);
        if channel.receiver_count() >= self.shared.settings.per_user {
            return Err(Refused::PerUser);
        }
        let changed = channel.subscribe();
        open.total += 1;
        gauge(open.total);
        Ok(Listener {
            streams: self.clone(),
            owner,
            changed: Some(changed),
            closing: self.shared.closing.subscribe(),
        })
    }
}

/// Reports how many streams are open.
fn gauge(total: usize) {
    anote_metrics::gauge(
        "anote_streams_open",
        "Change streams open in this process.",
        &[],
        total as f64,
    );
}

/// One open stream's place: woken by its owner's notices and by shutdown;
/// its place is given back when it is dropped.
struct Listener {
    streams: Streams,
    owner: UserId,
    changed: Option<watch::Receiver<()>>,
    closing: watch::Receiver<bool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        // The receiver goes first, so the count below no longer holds it.
        drop(self.changed.take());
        let mut open = self.streams.lock();
        open.total -= 1;
        gauge(open.total);
        if open
            .owners
            .get(&self.owner)
            .is_some_and(|channel| channel.receiver_count() == 0)
        {
            open.owners.remove(&self.owner);
        }
    }
}

/// Where a stream starts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// A cursor of the changes feed: from the beginning if absent; `now`
    /// for only what changes from here on. `Last-Event-ID`, when sent,
    /// takes its place.
    #[param(pattern = "^([0-9]{1,19}-[0-9]{1,19}|now)$")]
    pub since: Option<String>,
}

/// The `Last-Event-ID` header a reconnecting client sends.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct LastEventIdHeader {
    /// The id of the last event received (a cursor of the changes feed):
    /// the stream resumes after it. One that is no id of the stream is
    /// passed over for `since`.
    #[param(rename = "Last-Event-ID", nullable = false)]
    pub last_event_id: Option<String>,
}

/// One event of the stream, as a client's Server-Sent Events reader gives
/// it (heartbeats are comment lines, not events).
#[derive(Debug, ToSchema)]
pub struct StreamEvent {
    /// What the event is.
    pub event: StreamEventKind,
    /// The cursor after it: send it back as `Last-Event-ID` (or `since`).
    pub id: String,
    /// For `change`, a `Change` as JSON; empty for `ready`.
    pub data: String,
    /// Milliseconds a client waits before it reconnects (sent with `ready`).
    pub retry: Option<u64>,
}

/// The kinds of event of the stream.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum StreamEventKind {
    /// A note changed (its latest state) or was purged.
    Change,
    /// The backlog since the cursor was sent; what follows is live.
    Ready,
}

/// The caller's changes as they happen, as Server-Sent Events.
///
/// Events: `change` (data: a `Change`, id: the cursor after it), once
/// `ready` when the backlog is sent (id: the cursor), and a comment line
/// every heartbeat. The stream ends when the access token expires or is
/// revoked, and when the service restarts: reconnect with `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/changes/stream", tag = "sync", params(StreamParams, LastEventIdHeader),
    responses(
        (status = 200, description = "Server-Sent Events: `change` (data: a Change), `ready`, heartbeats", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, body = Problem),
        (status = 429, description = "This account holds as many streams as it may (`too_many_streams`)", body = Problem),
        (status = 503, description = "This service holds as many streams as it may (`streams_full`)", body = Problem)),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<Arc<QueryState>>,
    auth: Auth,
    QueryParams(params): QueryParams<StreamParams>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let since = parse_since(params.since.as_deref())?;
    // The last id the client got wins; one that is no id of this stream
    // (a browser's reconnect cannot be told otherwise) is passed over for
    // `since`: changes may come twice, none is missed.
    let since = match headers
        .get("last-event-id")
        .and_then(|id| id.to_str().ok())
        .and_then(|id| id.parse::<Position>().ok())
    {
        Some(resumed) => Some(resumed),
        None => since,
    };
    let listener = state.streams.admit(auth.user)?;
    // A cursor read after the listener exists: nothing after it is missed.
    let cursor = match since {
        Some(since) => since,
        None => state.reads.changes_now().await?,
    };
    let left = auth.expires - OffsetDateTime::now_utc().unix_timestamp();
    let feed = Feed {
        expires: Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0)),
        state,
        auth,
        cursor,
        listener,
        pending: VecDeque::new(),
        behind: true,
        held: None,
        sent: Instant::now(),
        ready: false,
    };
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    let mut response = Sse::new(events).into_response();
    // Proxies that buffer replies (nginx) must pass this one on at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

impl From<Refused> for QueryError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::PerUser => Self::TooManyStreams,
            Refused::Full => Self::StreamsFull,
        }
    }
}

/// One stream: where it is in its owner's changes and what it has yet to
/// send.
struct Feed {
    state: Arc<QueryState>,
    auth: Auth,
    cursor: Position,
    listener: Listener,
    expires: Instant,
    pending: VecDeque<Event>,
    /// The read models may hold changes after the cursor.
    behind: bool,
    /// A change is held back behind a transaction still running: the
    /// read models are asked again after this long.
    held: Option<Duration>,
    /// When the stream last sent anything (the heartbeat counts from it).
    sent: Instant,
    /// The `ready` event was sent.
    ready: bool,
}

/// The first wait before a held-back change is asked for again; it doubles
/// up to [`HELD_AT_MOST`] while the change stays held back.
const HELD_FIRST: Duration = Duration::from_millis(20);

/// The longest wait before a held-back change is asked for again.
const HELD_AT_MOST: Duration = Duration::from_secs(1);

/// What ended a stream's wait.
enum Woken {
    /// A notice named the owner, or a held-back change is due again.
    Read,
    /// Nothing was sent for a heartbeat.
    Heartbeat,
}

impl Feed {
    /// The next event, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        let event = self.wait_for_next().await?;
        self.sent = Instant::now();
        Some(event)
    }

    async fn wait_for_next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.behind {
                // A stream catching up stops as a waiting one does.
                if self.ending() {
                    return None;
                }
                if let Err(err) = self.read().await {
                    tracing::warn!(error = %err, "a change stream could not read its changes");
                    return None;
                }
                continue;
            }
            if !self.ready {
                self.ready = true;
                let cursor = self.cursor.to_string();
                return Some(
                    Event::default()
                        .event("ready")
                        .id(cursor)
                        .retry(RECONNECT)
                        .data(""),
                );
            }
            let changed = self.listener.changed.as_mut()?;
            let held = self.held.unwrap_or(Duration::MAX);
            let heartbeat = self.state.streams.shared.settings.heartbeat;
            let woken = tokio::select! {
                biased;
                _ = self.listener.closing.wait_for(|closing| *closing) => return None,
                () = tokio::time::sleep_until(self.expires) => return None,
                woken = changed.changed() => {
                    woken.ok()?;
                    Woken::Read
                }
                () = tokio::time::sleep(held), if self.held.is_some() => Woken::Read,
                () = tokio::time::sleep_until(self.sent + heartbeat) => Woken::Heartbeat,
            };
            if self.revoked() {
                return None;
            }
            match woken {
                Woken::Read => self.behind = true,
                Woken::Heartbeat => return Some(Event::default().comment("")),
            }
        }
    }

    /// Whether the stream's token was revoked since it opened.
    fn revoked(&self) -> bool {
        self.state.is_revoked(self.auth.user, self.auth.session)
    }

    /// Whether the stream must end: the process is closing, the token
    /// expired or was revoked.
    fn ending(&self) -> bool {
        *self.listener.closing.borrow() || Instant::now() >= self.expires || self.revoked()
    }

    /// Reads the next page of changes after the cursor into `pending`, at
    /// most [`PENDING_BYTES`] of them (the rest is read once they are sent).
    async fn read(&mut self) -> Result<(), QueryError> {
        let page = {
            // A notice for everyone wakes every stream: they read a few at a time.
            let _turn = self.state.streams.shared.reading.acquire().await;
            self.state
                .reads
                .changes(self.auth.user, self.cursor, PAGE)
                .await?
        };
        self.behind = page.views.len() == PAGE as usize;
        // No notice comes when the transaction holding a change back ends.
        self.held = page.held_back.then(|| {
            self.held
                .map_or(HELD_FIRST, |held| (held * 2).min(HELD_AT_MOST))
        });
        let mut bytes = 0;
        for view in page.views {
            if bytes >= PENDING_BYTES {
                self.behind = true;
                break;
            }
            self.cursor = view.changed;
            let data = serde_json::to_string(&Change::of(view))
                .map_err(|err| QueryError::Internal(err.to_string()))?;
            bytes += data.len();
            self.pending.push_back(
                Event::default()
                    .event("change")
                    .id(self.cursor.to_string())
                    .data(data),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(per_user: usize, total: usize) -> Streams {
        Streams::new(StreamSettings {
            per_user,
            total,
            heartbeat: Duration::from_secs(15),
        })
    }

    #[test]
    fn each_account_and_the_process_hold_at_most_their_limits() {
        let streams = streams(2, 3);
        let (ada, eve, bob) = (UserId::new(), UserId::new(), UserId::new());
        let first = streams.admit(ada).expect("ada's first");
        let _second = streams.admit(ada).expect("ada's second");
        assert_eq!(streams.admit(ada).err(), Some(Refused::PerUser));
        let _third = streams.admit(eve).expect("eve's");
        assert_eq!(streams.admit(bob).err(), Some(Refused::Full));
        drop(first);
        assert_eq!(streams.lock().total, 2);
        assert!(streams.admit(ada).is_ok(), "ada's place came back");
    }

    #[test]
    fn an_owner_without_streams_leaves_no_channel_behind() {
        let streams = streams(2, 10);
        let ada = UserId::new();
        drop(streams.admit(ada).expect("admitted"));
        assert!(streams.lock().owners.is_empty());
        assert_eq!(streams.lock().total, 0);
    }

    #[tokio::test]
    async fn a_notice_wakes_only_its_owners_streams_and_a_lost_one_wakes_all() {
        let streams = streams(2, 10);
        let (ada, eve) = (UserId::new(), UserId::new());
        let mut ada_stream = streams.admit(ada).expect("ada's");
        let mut eve_stream = streams.admit(eve).expect("eve's");
        let changed = |listener: &mut Listener| {
            listener
                .changed
                .as_mut()
                .expect("a receiver")
                .has_changed()
                .expect("open")
        };
        streams.wake(Some(&[ada]));
        assert!(changed(&mut ada_stream));
        assert!(!changed(&mut eve_stream));
        streams.wake(None);
        assert!(changed(&mut eve_stream));
    }

    #[test]
    fn a_closing_process_opens_no_more_streams() {
        let streams = streams(2, 10);
        let open = streams.admit(UserId::new()).expect("admitted");
        streams.close();
        assert!(*open.closing.borrow());
        assert_eq!(streams.admit(UserId::new()).err(), Some(Refused::Full));
    }
}
