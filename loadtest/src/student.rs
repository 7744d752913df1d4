//! The virtual students: who they are, and what one of them does when a
//! request is due — the Anote-specific part of the load test.

use std::sync::{Arc, LazyLock, Mutex};

use futures_util::{stream, StreamExt, TryStreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::driver::{lock, Visit};
use crate::profile::Profile;
use crate::stats::Recorder;
use crate::vocabulary::Vocabulary;

/// Where the requests go: writes to `write`, reads to `read` (the same base
/// URL behind a load balancer that routes by method).
#[derive(Clone, Debug)]
pub struct Target {
    /// Base URL of the command routes.
    pub write: String,
    /// Base URL of the query routes.
    pub read: String,
}

/// A note a student knows, at the version last seen.
#[derive(Clone, Debug)]
struct Note {
    id: String,
    version: u64,
}

/// One virtual student's account and what they know of their notebook.
#[derive(Debug)]
struct Student {
    username: String,
    token: String,
    notes: Vec<Note>,
}

/// Something a student does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// List the newest notes.
    List,
    /// Open one note.
    Open,
    /// Search the notebook.
    Search,
    /// Look at the upcoming assignments.
    Upcoming,
    /// Open a note someone shared.
    OpenShared,
    /// Edit a note's body (`If-Match`, retried after a 412).
    Edit,
    /// Write a new note.
    Create,
    /// Write a new assignment with a due date.
    CreateAssignment,
    /// Share a note by link.
    Share,
    /// Attach a small document to a note.
    Upload,
    /// Log in again.
    LogIn,
}

/// Reads and writes with their weights within their share.
const READS: [(Op, u32); 5] = [
    (Op::List, 30),
    (Op::Open, 40),
    (Op::Search, 15),
    (Op::Upcoming, 10),
    (Op::OpenShared, 5),
];
const WRITES: [(Op, u32); 6] = [
    (Op::Edit, 55),
    (Op::Create, 15),
    (Op::CreateAssignment, 10),
    (Op::Share, 8),
    (Op::Upload, 10),
    (Op::LogIn, 2),
];

impl Op {
    /// An operation drawn from the mix: `read_percent` reads, and of
    /// those `search_percent` searches when given (else the mix's share).
    pub fn draw(rng: &mut impl Rng, read_percent: u8, search_percent: Option<u8>) -> Self {
        let reading = rng.gen_range(0..100) < u32::from(read_percent);
        let table: &[(Op, u32)] = if reading { &READS } else { &WRITES };
        // With its own share, a search is drawn first and the rest of the
        // reads by their weights without it.
        let set_share = reading && search_percent.is_some();
        if set_share && rng.gen_range(0..100) < u32::from(search_percent.unwrap_or(0)) {
            return Op::Search;
        }
        let weight = |(op, w): &(Op, u32)| {
            if set_share && *op == Op::Search {
                0
            } else {
                *w
            }
        };
        let total: u32 = table.iter().map(weight).sum();
        let mut pick = rng.gen_range(0..total);
        for entry in table {
            if pick < weight(entry) {
                return entry.0;
            }
            pick -= weight(entry);
        }
        table[0].0
    }
}

/// The words notes are written with and searched for.
static VOCABULARY: LazyLock<Vocabulary> = LazyLock::new(Vocabulary::campus);

const PASSWORD: &str = "exam-week-load-test";

/// The students of one run and how to reach the services.
pub struct Campus {
    http: reqwest::Client,
    target: Target,
    students: Vec<Mutex<Student>>,
    /// Each student's share link token (fixed after enrolment).
    shares: Vec<String>,
    recorder: Arc<Mutex<Recorder>>,
    started: Instant,
    read_percent: u8,
    search_percent: Option<u8>,
}

impl Campus {
    /// Registers `count` students (named after `run`) and gives each three
    /// notes, one an assignment, and a share link; these requests are not
    /// measured.
    pub async fn enrol(
        http: reqwest::Client,
        target: Target,
        profile: &Profile,
        run: &str,
        recorder: Arc<Mutex<Recorder>>,
    ) -> anyhow::Result<Self> {
        let enrolled: Vec<(Student, String)> = stream::iter(0..profile.students)
            .map(|n| enrol_one(&http, &target, format!("lt{run}s{n}")))
            // Password hashing is the slow part; a few at a time.
            .buffer_unordered(4)
            .try_collect()
            .await?;
        let (students, shares) = enrolled
            .into_iter()
            .map(|(student, share)| (Mutex::new(student), share))
            .unzip();
        Ok(Self {
            http,
            target,
            students,
            shares,
            recorder,
            started: Instant::now(),
            read_percent: profile.read_percent,
            search_percent: profile.search_percent,
        })
    }

    /// Starts the clock the measurements are timed against.
    pub fn start_clock(&mut self, at: Instant) {
        self.started = at;
    }

    fn student(&self, n: usize) -> std::sync::MutexGuard<'_, Student> {
        lock(&self.students[n])
    }

    fn record(&self, name: &'static str, status: Option<u16>, code: Option<&str>, since: Instant) {
        let now = Instant::now();
        lock(&self.recorder).request(name, now - self.started, status, code, now - since);
    }

    /// Sends a request, records it as `name` timed from `since`, and returns
    /// the reply's JSON when it succeeded.
    async fn call(
        &self,
        name: &'static str,
        req: RequestBuilder,
        since: Instant,
    ) -> (Option<u16>, Option<Value>) {
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let success = r.status().is_success();
                // Read to the end, so that the connection is used again.
                let body: Option<Value> = r
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                if success {
                    self.record(name, Some(status), None, since);
                    (Some(status), body)
                } else {
                    // A refusal is told by its problem code where it has one.
                    let code = body.as_ref().and_then(|b| b["code"].as_str());
                    self.record(name, Some(status), code, since);
                    (Some(status), None)
                }
            }
            Err(_) => {
                self.record(name, None, None, since);
                (None, None)
            }
        }
    }

    fn get(&self, path: &str, token: Option<&str>) -> RequestBuilder {
        let req = self
            .http
            .request(Method::GET, format!("{}{path}", self.target.read));
        match token {
            Some(t) => bearer(req, t),
            None => req,
        }
    }

    fn write(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        bearer(
            self.http
                .request(method, format!("{}{path}", self.target.write)),
            token,
        )
    }

    /// Student `n` does `op`, which was due at `due` (its first request is
    /// timed from then, so a slow server shows its full latency).
    pub async fn act(&self, n: usize, op: Op, due: Instant, rng: &mut StdRng) {
        let (token, note) = {
            let s = self.student(n);
            let note = s.notes[rng.gen_range(0..s.notes.len())].clone();
            (s.token.clone(), note)
        };
        let share = &self.shares[rng.gen_range(0..self.shares.len())];
        match op {
            Op::List => {
                self.call(
                    "list notes",
                    self.get("/v1/notes?limit=20", Some(&token)),
                    due,
                )
                .await;
            }
            Op::Open => {
                self.call(
                    "open note",
                    self.get(&format!("/v1/notes/{}", note.id), Some(&token)),
                    due,
                )
                .await;
            }
            Op::Search => {
                let word = VOCABULARY.search_term(rng);
                self.call(
                    "search",
                    self.get(&format!("/v1/search?q={word}"), Some(&token)),
                    due,
                )
                .await;
            }
            Op::Upcoming => {
                self.call(
                    "upcoming assignments",
                    self.get("/v1/assignments/upcoming", Some(&token)),
                    due,
                )
                .await;
            }
            Op::OpenShared => {
                let shared = self.get(&format!("/v1/shared/{share}"), None);
                self.call("open shared note", shared, due).await;
            }
            Op::Edit => self.edit(n, &token, note, due, rng).await,
            Op::Create | Op::CreateAssignment => {
                let due_at = (op == Op::CreateAssignment).then(|| {
                    OffsetDateTime::now_utc() + time::Duration::days(rng.gen_range(1..14))
                });
                let name = if due_at.is_some() {
                    "create assignment"
                } else {
                    "create note"
                };
                let req = self
                    .write(Method::POST, "/v1/notes", &token)
                    .json(&note_fields(rng, due_at));
                if let (_, Some(reply)) = self.call(name, req, due).await {
                    if let (Ok(id), Some(version)) = (text(&reply, "id"), reply["version"].as_u64())
                    {
                        self.read_own_write(&token, &id, &reply).await;
                        let mut s = self.student(n);
                        // Students keep a bounded notebook in memory; the
                        // server keeps them all.
                        if s.notes.len() < 50 {
                            s.notes.push(Note { id, version });
                        }
                    }
                }
            }
            Op::Share => {
                let req = self
                    .write(
                        Method::POST,
                        &format!("/v1/notes/{}/shares", note.id),
                        &token,
                    )
                    .json(&json!({}));
                if let (_, Some(reply)) = self.call("share note", req, due).await {
                    self.saw(n, &note.id, &reply);
                }
            }
            Op::Upload => self.upload(n, &token, &note, due).await,
            Op::LogIn => {
                let username = self.student(n).username.clone();
                let req = self
                    .http
                    .post(format!("{}/v1/sessions", self.target.write))
                    .json(&json!({ "username": username, "password": PASSWORD }));
                if let (_, Some(reply)) = self.call("log in", req, due).await {
                    if let Ok(token) = text(&reply, "access_token") {
                        self.student(n).token = token;
                    }
                }
            }
        }
    }

    /// Edits with `If-Match`; after a 412 (someone else edited it on another
    /// device) fetches the note and tries again, twice at most, as the web
    /// app does.
    async fn edit(&self, n: usize, token: &str, mut note: Note, due: Instant, rng: &mut StdRng) {
        let path = format!("/v1/notes/{}", note.id);
        let mut since = due;
        for attempt in 0..3 {
            let body = json!({ "body": body_text(rng) });
            let req = self
                .write(Method::PATCH, &path, token)
                .header("if-match", format!("\"{}\"", note.version))
                .json(&body);
            let name = if attempt == 0 {
                "edit note"
            } else {
                "edit note (retry)"
            };
            match self.call(name, req, since).await {
                (_, Some(reply)) => {
                    self.saw(n, &note.id, &reply);
                    self.read_own_write(token, &note.id, &reply).await;
                    return;
                }
                (Some(412), _) => {
                    let fetched = Instant::now();
                    let (_, current) = self
                        .call("fetch after 412", self.get(&path, Some(token)), fetched)
                        .await;
                    let Some(version) = current.as_ref().and_then(|c| c["version"].as_u64()) else {
                        return;
                    };
                    note.version = version;
                    self.saw(n, &note.id, &json!({ "version": version }));
                    since = Instant::now();
                }
                _ => return,
            }
        }
    }

    /// Uploads a small text file to the note: request, PUT the bytes to the
    /// URL given, complete.
    async fn upload(&self, n: usize, token: &str, note: &Note, due: Instant) {
        let bytes = b"Lecture 7: revision plan for the exam.\n".repeat(13);
        let request = json!({ "file_name": "revision.txt", "content_type": "text/plain", "size": bytes.len() });
        let req = self
            .write(
                Method::POST,
                &format!("/v1/notes/{}/documents", note.id),
                token,
            )
            .json(&request);
        let (_, Some(reply)) = self.call("request upload", req, due).await else {
            return;
        };
        let (Ok(document), Ok(url)) = (text(&reply, "id"), text(&reply, "upload_url")) else {
            return;
        };
        let mut put = self.http.put(url).body(bytes);
        if let Some(headers) = reply["upload_headers"].as_object() {
            for (k, v) in headers {
                if let Some(v) = v.as_str() {
                    put = put.header(k.as_str(), v);
                }
            }
        }
        let (status, _) = self.call("upload bytes", put, Instant::now()).await;
        if status.is_none_or(|s| !(200..300).contains(&s)) {
            return;
        }
        let complete = self.write(
            Method::POST,
            &format!("/v1/notes/{}/documents/{document}/complete", note.id),
            token,
        );
        if let (_, Some(reply)) = self.call("complete upload", complete, Instant::now()).await {
            self.saw(n, &note.id, &reply);
        }
    }

    /// Reads the note back with the write's position (read-your-writes) and
    /// records how long after the acknowledgement it was visible.
    async fn read_own_write(&self, token: &str, id: &str, reply: &Value) {
        let Some(position) = reply["position"].as_str() else {
            return;
        };
        let acknowledged = Instant::now();
        let req = self
            .get(&format!("/v1/notes/{id}"), Some(token))
            .header("anote-min-position", position);
        // A 503 `projection_behind` counts too, at the time it waited.
        if let (Some(200 | 503), _) = self.call("read own write", req, acknowledged).await {
            let now = Instant::now();
            lock(&self.recorder).lag(now - self.started, now - acknowledged);
        }
    }

    /// Remembers the version a reply reported for a note.
    fn saw(&self, n: usize, id: &str, reply: &Value) {
        if let Some(version) = reply["version"].as_u64() {
            let mut s = self.student(n);
            if let Some(note) = s.notes.iter_mut().find(|x| x.id == id) {
                note.version = note.version.max(version);
            }
        }
    }
}

impl Visit for Campus {
    /// A random student does something from the profile's mix.
    async fn visit(self: Arc<Self>, due: Instant, mut rng: StdRng) {
        let op = Op::draw(&mut rng, self.read_percent, self.search_percent);
        let student = rng.gen_range(0..self.students.len());
        self.act(student, op, due, &mut rng).await;
    }
}

/// The request with `token` as its bearer token.
pub(crate) fn bearer(req: RequestBuilder, token: &str) -> RequestBuilder {
    req.header("authorization", format!("Bearer {token}"))
}

/// Sends an enrolment request (the client's timeout applies).
async fn send(req: RequestBuilder) -> anyhow::Result<Response> {
    Ok(req.send().await?)
}

/// The reply's JSON body, or an error naming `what` unless it succeeded.
pub(crate) async fn ok_json(r: Response, what: &str) -> anyhow::Result<Value> {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{what}: {status} {body}");
    Ok(body)
}

/// The string `field` of `v`.
pub(crate) fn text(v: &Value, field: &str) -> anyhow::Result<String> {
    v[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no {field} in {v}"))
}

/// A lecture's notes: about a hundred words, as a student types them.
fn body_text(rng: &mut impl Rng) -> String {
    format!("# Lecture notes\n\n{}\n", VOCABULARY.text(rng, 100))
}

/// A note of a subject drawn at random, due at `due_at` if given.
pub(crate) fn note_fields(rng: &mut impl Rng, due_at: Option<OffsetDateTime>) -> Value {
    let subject = ["Maths", "Biology", "History", "Literature"][rng.gen_range(0..4)];
    let mut fields =
        json!({ "title": format!("{subject} notes"), "body": body_text(rng), "subject": subject });
    if let Some(due) = due_at {
        let due = due
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        fields["due_at"] = json!(due);
    }
    fields
}

/// Registers `username` and logs in; returns the access token.
pub(crate) async fn sign_up(
    http: &reqwest::Client,
    target: &Target,
    username: &str,
) -> anyhow::Result<String> {
    let account = json!({ "username": username, "password": PASSWORD, "display_name": username });
    let r = send(
        http.post(format!("{}/v1/accounts", target.write))
            .json(&account),
    )
    .await?;
    ok_json(r, "registering a student").await?;
    let login = json!({ "username": username, "password": PASSWORD });
    let r = send(
        http.post(format!("{}/v1/sessions", target.write))
            .json(&login),
    )
    .await?;
    text(&ok_json(r, "logging in").await?, "access_token")
}

/// Registers a student, logs in, writes three notes (one an assignment)
/// and shares the first; returns the student and the share link's token.
async fn enrol_one(
    http: &reqwest::Client,
    target: &Target,
    username: String,
) -> anyhow::Result<(Student, String)> {
    let token = sign_up(http, target, &username).await?;
    let mut rng = StdRng::from_entropy();
    let mut notes = Vec::new();
    for k in 0..3 {
        let due = (k == 2).then(|| OffsetDateTime::now_utc() + time::Duration::days(7));
        let create = http.post(format!("{}/v1/notes", target.write));
        let r = send(bearer(create, &token).json(&note_fields(&mut rng, due))).await?;
        let reply = ok_json(r, "creating a note").await?;
        notes.push(Note {
            id: text(&reply, "id")?,
            version: reply["version"].as_u64().unwrap_or(1),
        });
    }
    let share = http.post(format!("{}/v1/notes/{}/shares", target.write, notes[0].id));
    let reply = ok_json(
        send(bearer(share, &token).json(&json!({}))).await?,
        "sharing a note",
    )
    .await?;
    notes[0].version = reply["version"].as_u64().unwrap_or(2);
    // Ready once the query side shows it all.
    let shown = http
        .get(format!("{}/v1/notes/{}", target.read, notes[0].id))
        .header("anote-min-position", text(&reply, "position")?);
    ok_json(send(bearer(shown, &token)).await?, "reading the notes back").await?;
    let student = Student {
        username,
        token,
        notes,
    };
    Ok((student, text(&reply, "token")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_follows_the_read_share() {
        let mut rng = StdRng::seed_from_u64(7);
        let reads = (0..10_000)
            .map(|_| Op::draw(&mut rng, 90, None))
            .filter(|drawn| READS.iter().any(|(op, _)| op == drawn))
            .count();
        assert!((8_850..=9_150).contains(&reads), "{reads}");
        assert!((0..1_000)
            .map(|_| Op::draw(&mut rng, 0, None))
            .all(|drawn| WRITES.iter().any(|(op, _)| *op == drawn)));
    }

    #[test]
    fn the_search_share_can_be_set() {
        let mut rng = StdRng::seed_from_u64(11);
        let searches = (0..10_000)
            .map(|_| Op::draw(&mut rng, 100, Some(80)))
            .filter(|drawn| *drawn == Op::Search)
            .count();
        assert!((7_800..=8_200).contains(&searches), "{searches}");
    }
}
