//! Faults, under a steady load of commands and reads through the split
//! services (command API, query API, relay, projector on Kinesis), each on
//! a PostgreSQL, a Kinesis emulator, an S3 emulator and a TCP proxy of the
//! test's own: the database stopped for 20 s and started again, crashed
//! (`immediate` shutdown) mid-transaction, the connection to it stalled for
//! 20 s, the Kinesis emulator stopped and started again, the S3 emulator
//! stopped during uploads and downloads.
//!
//! During each fault every answer comes within the request timeout and is
//! a success or a 503 with `Retry-After` and a code (never a 500, never a
//! hang), `/readyz` names the backend that is away, and no process exits.
//! Afterwards the services answer again within seconds, every write the
//! clients saw acknowledged is in the log exactly once (clients retry with
//! their `Idempotency-Key`), the read models equal a rebuild from the log,
//! and the projector reaches the end of the log. Each test prints how long
//! recovery took on standard error (`--no-capture` shows it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anote_domain::NoteId;
use anote_store::event_store::Position;
use anote_testkit::db::live_and_rebuilt_views;
use anote_testkit::env::{bucket_of, fresh_schema};
use anote_testkit::faults::{Emulator, EmulatorKind, FaultProxy, Postgres, Traffic, S3_KEYS};
use anote_testkit::process::{body, free_port, Account, ProjectorProcess, Server, Setup};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::documents::try_put;

/// How long each fault lasts.
const OUTAGE: Duration = Duration::from_secs(20);
/// The services' request timeout (their default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Writers, each its own student with notes of their own.
const WRITERS: usize = 3;
/// A writer's pause between commands: a steady load of about 50 commands/s
/// in all, beside the reads.
const PACE: Duration = Duration::from_millis(50);
/// The codes a 503 may carry during a fault.
const RETRYABLE: &[&str] = &[
    "store_unavailable",
    "blob_store_unavailable",
    "request_timeout",
    "overloaded",
    "projection_behind",
    "write_contention",
];

/// The split services on backends of the test's own.
struct Stack {
    postgres: Postgres,
    /// Between every service and PostgreSQL.
    proxy: FaultProxy,
    /// Between the relay and the projector and the Kinesis emulator.
    kinesis_proxy: FaultProxy,
    kinesis: Emulator,
    s3: Emulator,
    schema: String,
    command: Arc<Server>,
    query: Arc<Server>,
    relay: ProjectorProcess,
    projector: ProjectorProcess,
    /// The `/readyz` of every service: the APIs', and the relay's and the
    /// projector's on their metrics listeners.
    readiness: Vec<String>,
}

impl Stack {
    async fn start() -> Self {
        let postgres = Postgres::start();
        let proxy = FaultProxy::start(([127, 0, 0, 1], postgres.port).into()).await;
        let kinesis = Emulator::start(EmulatorKind::Kinesis).await;
        let kinesis_proxy = FaultProxy::start(([127, 0, 0, 1], kinesis.port).into()).await;
        let s3 = Emulator::start(EmulatorKind::S3).await;
        let schema = fresh_schema();
        let stream = bucket_of(&schema);
        let kinesis_client = anote_kinesis::relay::kinesis::emulator_client(&kinesis.endpoint());
        anote_kinesis::relay::kinesis::create_stream(&kinesis_client, &stream, 2)
            .await
            .expect("a stream");
        let s3_client = anote_blob::s3::emulator_client(&s3.endpoint(), S3_KEYS.0, S3_KEYS.1);
        anote_blob::s3::create_bucket(&s3_client, &bucket_of(&schema))
            .await
            .expect("a bucket");
        // Every service reaches PostgreSQL through the proxy.
        let url = format!("postgres://postgres@127.0.0.1:{}/test", proxy.port);
        let kinesis_endpoint = format!("http://127.0.0.1:{}", kinesis_proxy.port);
        let s3_endpoint = s3.endpoint();
        let env = [
            ("ANOTE_DATABASE_URL", url.as_str()),
            ("ANOTE_S3_ENDPOINT", s3_endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", S3_KEYS.0),
            ("AWS_SECRET_ACCESS_KEY", S3_KEYS.1),
            ("ANOTE_KINESIS_STREAM", stream.as_str()),
            ("ANOTE_KINESIS_ENDPOINT", kinesis_endpoint.as_str()),
            ("ANOTE_LEASE_TTL_MS", "1500"),
        ];
        let command = Server::start(Setup::Postgres(schema.clone()), None, &env).await;
        let query = Server::start(Setup::QueryApi(schema.clone()), None, &env).await;
        let mut readiness = vec![command.url("/readyz"), query.url("/readyz")];
        let mut background = |role: &str| {
            let listen = format!("127.0.0.1:{}", free_port());
            readiness.push(format!("http://{listen}/readyz"));
            let env: Vec<_> = env
                .iter()
                .copied()
                .chain([("ANOTE_METRICS_LISTEN", listen.as_str())])
                .collect();
            ProjectorProcess::spawn(role, &schema, &env)
        };
        let relay = background("relay");
        let projector = background("projector");
        Self {
            postgres,
            proxy,
            kinesis_proxy,
            kinesis,
            s3,
            schema,
            command: Arc::new(command),
            query: Arc::new(query),
            relay,
            projector,
            readiness,
        }
    }

    /// Whether every service still runs.
    fn all_running(&mut self) -> bool {
        let apis = [&mut self.command, &mut self.query]
            .into_iter()
            .all(|server| Arc::get_mut(server).is_some_and(Server::is_running));
        apis && self.relay.is_running() && self.projector.is_running()
    }
}

/// One answer a client got.
#[derive(Debug)]
struct Answer {
    what: String,
    elapsed: Duration,
    status: Option<StatusCode>,
    code: Option<String>,
    retry_after: bool,
}

/// What the clients saw and wrote.
#[derive(Default)]
struct Log {
    answers: Mutex<Vec<Answer>>,
    /// `/readyz` answers of each API that were not ready: when, and why.
    not_ready: Mutex<Vec<(Instant, String)>>,
}

impl Log {
    fn answer(&self, answer: Answer) {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(answer);
    }
}

/// A client with a timeout well past the services' own, so that a hang
/// shows as a slow answer.
fn client() -> Client {
    Client::builder()
        .timeout(REQUEST_TIMEOUT * 3)
        .build()
        .expect("client")
}

/// Sends a request and records the answer; `None` when it brought no reply.
async fn send(
    log: &Log,
    what: &str,
    request: reqwest::RequestBuilder,
) -> Option<(StatusCode, Value)> {
    let started = Instant::now();
    let sent = request.send().await;
    let elapsed = started.elapsed();
    let Ok(reply) = sent else {
        log.answer(Answer {
            what: what.to_owned(),
            elapsed,
            status: None,
            code: None,
            retry_after: false,
        });
        return None;
    };
    let status = reply.status();
    let retry_after = reply.headers().contains_key("retry-after");
    let value = body(reply).await;
    log.answer(Answer {
        what: what.to_owned(),
        elapsed,
        status: Some(status),
        code: value["code"].as_str().map(str::to_owned),
        retry_after,
    });
    Some((status, value))
}

/// Sends a command until it is acknowledged, as a careful client does:
/// the same `Idempotency-Key` every time, waiting as `Retry-After` says.
async fn until_acked(
    log: &Log,
    server: &Server,
    who: &Account,
    what: &str,
    request: impl Fn(&Server) -> reqwest::RequestBuilder,
) -> Value {
    let key = uuid::Uuid::new_v4().to_string();
    let deadline = Instant::now() + OUTAGE * 4;
    loop {
        let sent = request(server)
            .bearer_auth(&who.access)
            .header("idempotency-key", &key);
        match send(log, what, sent).await {
            Some((status, value)) if status.is_success() => return value,
            Some((status, value)) => assert!(
                status == StatusCode::SERVICE_UNAVAILABLE
                    || value["code"] == "idempotency_key_in_use",
                "{what}: {status} {value}"
            ),
            None => {}
        }
        assert!(Instant::now() < deadline, "{what} never acknowledged");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A writer's notes: id, the acknowledged version and body, and the
/// position of its last acknowledged command.
#[derive(Default)]
struct Written {
    notes: BTreeMap<String, (u64, String)>,
    last: Option<Position>,
}

/// Writes until `stop`: creates a note, reads it back (read-your-writes,
/// with `Anote-Min-Position`), edits it five times, again.
async fn writer(
    log: Arc<Log>,
    command: Arc<Server>,
    query: Arc<Server>,
    who: Account,
    n: usize,
    stop: Arc<AtomicBool>,
) -> Written {
    let http = client();
    let mut written = Written::default();
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        let title = format!("writer {n} note {round}");
        let create = |s: &Server| {
            http.post(s.url("/v1/notes"))
                .json(&json!({ "title": title, "body": "draft" }))
        };
        let created = until_acked(&log, &command, &who, "create", create).await;
        let id = created["id"].as_str().expect("id").to_owned();
        let mut version = created["version"].as_u64().expect("version");
        let own = http
            .get(query.url(&format!("/v1/notes/{id}")))
            .bearer_auth(&who.access)
            .header(
                "anote-min-position",
                created["position"].as_str().expect("position"),
            );
        send(&log, "read own write", own).await;
        let mut text = String::new();
        for edit in 0..5 {
            text = format!("writer {n} note {round} edit {edit}");
            let path = format!("/v1/notes/{id}");
            let patch = |s: &Server| {
                http.patch(s.url(&path))
                    .header("if-match", format!("\"{version}\""))
                    .json(&json!({ "body": text }))
            };
            tokio::time::sleep(PACE).await;
            let edited = until_acked(&log, &command, &who, "edit", patch).await;
            version = edited["version"].as_u64().expect("version");
            written.last = Some(
                edited["position"]
                    .as_str()
                    .expect("position")
                    .parse()
                    .expect("a position"),
            );
        }
        written.notes.insert(id, (version, text));
        round += 1;
    }
    written
}

/// Reads until `stop`: the list and one note, as the web app does.
async fn reader(
    log: Arc<Log>,
    query: Arc<Server>,
    who: Account,
    note: String,
    stop: Arc<AtomicBool>,
) {
    let http = client();
    while !stop.load(Ordering::Relaxed) {
        let list = http
            .get(query.url("/v1/notes?limit=20"))
            .bearer_auth(&who.access);
        send(&log, "list", list).await;
        let one = http
            .get(query.url(&format!("/v1/notes/{note}")))
            .bearer_auth(&who.access);
        send(&log, "open", one).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks each service whether it is ready until `stop`, noting each
/// refusal.
async fn prober(log: Arc<Log>, urls: Vec<String>, stop: Arc<AtomicBool>) {
    let http = client();
    while !stop.load(Ordering::Relaxed) {
        for url in &urls {
            if let Some((status, value)) = send(&log, "readyz", http.get(url)).await {
                if status != StatusCode::OK {
                    let why = value["detail"].as_str().unwrap_or_default().to_owned();
                    log.not_ready
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((Instant::now(), why));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether every service is ready and a command goes through.
async fn answering(stack: &Stack, who: &Account) -> bool {
    let http = client();
    for url in &stack.readiness {
        match http.get(url).send().await {
            Ok(r) if r.status() == StatusCode::OK => {}
            _ => return false,
        }
    }
    let created = http
        .post(stack.command.url("/v1/notes"))
        .bearer_auth(&who.access)
        .json(&json!({ "title": "probe", "body": "draft" }))
        .send()
        .await;
    created.is_ok_and(|r| r.status() == StatusCode::CREATED)
}

/// What a fault does to the stack, and how it is mended.
#[derive(Clone, Copy, Debug)]
enum Fault {
    DatabaseStopped,
    DatabaseCrashed,
    DatabaseStalled,
    KinesisStopped,
    S3Stopped,
}

impl Fault {
    async fn begin(self, stack: &mut Stack) {
        match self {
            Self::DatabaseStopped => stack.postgres.stop(),
            Self::DatabaseCrashed => stack.postgres.crash(),
            Self::DatabaseStalled => stack.proxy.set(Traffic::Stalled),
            Self::KinesisStopped => {
                // Its clients lose their connections as the process dies;
                // then it stops, with every record it acknowledged saved.
                stack.kinesis_proxy.set(Traffic::Refused);
                stack.kinesis.stop().await;
            }
            Self::S3Stopped => stack.s3.stop().await,
        }
    }

    async fn end(self, stack: &mut Stack) {
        match self {
            Self::DatabaseStopped | Self::DatabaseCrashed => stack.postgres.start_again(),
            Self::DatabaseStalled => stack.proxy.set(Traffic::Flowing),
            Self::KinesisStopped => {
                stack.kinesis.start_again().await;
                stack.kinesis_proxy.set(Traffic::Flowing);
            }
            Self::S3Stopped => stack.s3.start_again().await,
        }
    }

    /// The codes of which clients must have seen at least one (a 503)
    /// while the fault lasted.
    fn seen_codes(self) -> &'static [&'static str] {
        match self {
            Self::DatabaseStopped | Self::DatabaseCrashed => &["store_unavailable"],
            Self::DatabaseStalled => &["store_unavailable", "request_timeout"],
            Self::KinesisStopped => &["projection_behind"],
            Self::S3Stopped => &["blob_store_unavailable"],
        }
    }

    /// The backend `/readyz` must name while the fault lasts, if any.
    fn named_by_readiness(self) -> Option<&'static str> {
        match self {
            Self::DatabaseStopped | Self::DatabaseCrashed | Self::DatabaseStalled => {
                Some("the event log")
            }
            Self::KinesisStopped => Some("Kinesis"),
            Self::S3Stopped => None,
        }
    }
}

/// Attaches a small document to a new note and downloads it, until `stop`.
async fn documents(
    log: Arc<Log>,
    command: Arc<Server>,
    query: Arc<Server>,
    who: Account,
    stop: Arc<AtomicBool>,
) {
    let http = client();
    let data = b"lecture notes, page 1".to_vec();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let create = http
            .post(command.url("/v1/notes"))
            .bearer_auth(&who.access)
            .json(&json!({ "title": "with a document", "body": "draft" }));
        let Some((StatusCode::CREATED, note)) = send(&log, "create", create).await else {
            continue;
        };
        let note = note["id"].as_str().expect("id").to_owned();
        let ask = http
            .post(command.url(&format!("/v1/notes/{note}/documents")))
            .bearer_auth(&who.access)
            .json(&json!({ "file_name": "page.txt", "content_type": "text/plain", "size": data.len() }));
        let Some((StatusCode::CREATED, reply)) = send(&log, "request upload", ask).await else {
            continue;
        };
        let doc = reply["id"].as_str().expect("id").to_owned();
        if let Some(url) = reply["upload_url"].as_str() {
            // While the store is away this fails between the client and
            // S3, not at Anote.
            try_put(url, &reply["upload_headers"], data.clone()).await;
        }
        let complete = http
            .post(command.url(&format!("/v1/notes/{note}/documents/{doc}/complete")))
            .bearer_auth(&who.access);
        send(&log, "complete upload", complete).await;
        let download = http
            .get(query.url(&format!("/v1/documents/{doc}")))
            .bearer_auth(&who.access);
        send(&log, "download", download).await;
    }
}

async fn ride_out(fault: Fault) {
    let mut stack = Stack::start().await;
    let log = Arc::new(Log::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut accounts = Vec::new();
    for n in 0..WRITERS {
        accounts.push(stack.command.user(&format!("student{n}")).await);
    }
    let first = stack
        .command
        .note(&accounts[0], json!({ "title": "read me", "body": "draft" }))
        .await;
    let writers: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(n, who)| {
            tokio::spawn(writer(
                log.clone(),
                stack.command.clone(),
                stack.query.clone(),
                who.clone(),
                n,
                stop.clone(),
            ))
        })
        .collect();
    let mut background = vec![
        tokio::spawn(reader(
            log.clone(),
            stack.query.clone(),
            accounts[0].clone(),
            first.clone(),
            stop.clone(),
        )),
        tokio::spawn(prober(log.clone(), stack.readiness.clone(), stop.clone())),
    ];
    if matches!(fault, Fault::S3Stopped) {
        background.push(tokio::spawn(documents(
            log.clone(),
            stack.command.clone(),
            stack.query.clone(),
            accounts[0].clone(),
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    let began = Instant::now();
    eprintln!("{fault:?}: begins");
    fault.begin(&mut stack).await;
    tokio::time::sleep(OUTAGE).await;
    fault.end(&mut stack).await;
    let ended = Instant::now();
    eprintln!("{fault:?}: ended after {:?}", began.elapsed());
    let deadline = ended + Duration::from_secs(30);
    while !answering(&stack, &accounts[0]).await {
        assert!(
            Instant::now() < deadline,
            "{fault:?}: the services did not recover within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = ended.elapsed();
    eprintln!("{fault:?}: answering after {recovered:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = Vec::new();
    for w in writers {
        written.push(w.await.expect("the writer ran"));
    }
    for task in background {
        task.await.expect("the client ran");
    }

    // During the fault: fast, clear answers.
    let answers = std::mem::take(&mut *log.answers.lock().unwrap_or_else(PoisonError::into_inner));
    for a in &answers {
        let Some(status) = a.status else {
            panic!("{fault:?}: {} got no reply after {:?}", a.what, a.elapsed);
        };
        assert!(
            a.elapsed < REQUEST_TIMEOUT + Duration::from_secs(2),
            "{fault:?}: {a:?} took too long"
        );
        assert_ne!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{fault:?}: {a:?}"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let code = a.code.as_deref().unwrap_or_default();
            assert!(a.retry_after, "{fault:?}: a 503 without Retry-After: {a:?}");
            assert!(
                RETRYABLE.contains(&code) || (a.what == "readyz" && code == "not_ready"),
                "{fault:?}: {a:?}"
            );
        }
    }
    let unavailable = answers
        .iter()
        .filter(|a| a.status == Some(StatusCode::SERVICE_UNAVAILABLE) && a.what != "readyz")
        .count();
    let expected = fault.seen_codes();
    assert!(
        answers
            .iter()
            .any(|a| a.code.as_deref().is_some_and(|c| expected.contains(&c))),
        "{fault:?}: no client was answered any of {expected:?}"
    );
    let not_ready = log
        .not_ready
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(backend) = fault.named_by_readiness() {
        assert!(
            not_ready
                .iter()
                .any(|(at, why)| *at >= began && *at <= ended && why.contains(backend)),
            "{fault:?}: /readyz never named {backend}: {not_ready:?}"
        );
    }
    assert!(stack.all_running(), "{fault:?}: a service exited");

    // Afterwards: every acknowledged write once, the read models as the log
    // says, the projector at the end of the log.
    let last = written
        .iter()
        .filter_map(|w| w.last)
        .max()
        .expect("writes went through");
    let http = client();
    let read = |who: &Account, id: &str| {
        http.get(stack.query.url(&format!("/v1/notes/{id}")))
            .bearer_auth(&who.access)
            .header("anote-min-position", last.to_string())
            .send()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while read(&accounts[0], &first).await.expect("read").status() != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "{fault:?}: the projector never caught up"
        );
    }
    let caught_up = ended.elapsed();
    for (who, w) in accounts.iter().zip(&written) {
        for (id, (version, text)) in &w.notes {
            let note = read(who, id).await.expect("read");
            assert_eq!(note.status(), StatusCode::OK);
            let note = body(note).await;
            assert_eq!(
                (note["version"].as_u64(), note["body"].as_str()),
                (Some(*version), Some(text.as_str())),
                "{fault:?}: note {id}"
            );
            assert_eq!(
                *version, 6,
                "{fault:?}: one creation and five edits, each once: {note}"
            );
        }
    }
    let ids: Vec<NoteId> = written
        .iter()
        .flat_map(|w| w.notes.keys())
        .map(|id| NoteId::from_uuid(id.parse().expect("uuid")))
        .collect();
    let (live, rebuilt) = live_and_rebuilt_views(
        &stack.postgres.url(),
        &stack.schema,
        &ids,
        last,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(live.len(), ids.len());
    assert_eq!(
        live, rebuilt,
        "{fault:?}: the read models equal a rebuild from the log"
    );
    eprintln!(
        "{fault:?}: {OUTAGE:?} outage; services answering {recovered:?} after it ended, \
         the projector at the end of the log {caught_up:?} after it ended; {} answers, \
         {unavailable} of them 503, {} notes written",
        answers.len(),
        ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_stopped_for_20_s() {
    ride_out(Fault::DatabaseStopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_crashed_mid_transaction() {
    ride_out(Fault::DatabaseCrashed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_connection_to_the_database_stalled_for_20_s() {
    ride_out(Fault::DatabaseStalled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kinesis_emulator_stopped_for_20_s() {
    ride_out(Fault::KinesisStopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_s3_emulator_stopped_during_uploads_and_downloads() {
    ride_out(Fault::S3Stopped).await;
}
