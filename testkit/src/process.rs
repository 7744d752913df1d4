//! Runs the real `anote` binary: embedded (`anote serve` on a temporary data
//! folder) or split (`anote command-api`, `anote query-api` and `anote
//! projector` on a fresh PostgreSQL schema), for the tests that need a
//! process: signals, the listener, Kinesis, the binary's flags, and the
//! split services over PostgreSQL.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{json, Value};

pub use crate::env::{bucket_of, database_url, kinesis_endpoint, s3_client, s3_endpoint, s3_keys};
use crate::env::{ensure_bucket, fresh_schema};
pub use crate::Account;
use crate::PASSWORD;

/// Which setup a test runs against.
#[derive(Clone, Debug)]
pub enum Setup {
    /// `anote serve` on SQLite in this folder.
    Embedded(PathBuf),
    /// `anote command-api` on PostgreSQL in this schema.
    Postgres(String),
    /// `anote query-api` on the read models of this schema.
    QueryApi(String),
}

/// The token key every split service of a test shares.
const TOKEN_SECRET: &str = "e2e-test-secret-e2e-test-secret-e2e";

/// `anote <role>` on PostgreSQL: the event log in `schema`, the read models
/// in `<schema>_read`.
pub fn postgres_command(role: &str, schema: &str) -> Command {
    let mut cmd = Command::new(binary());
    cmd.arg(role)
        .env("ANOTE_DATABASE_URL", database_url())
        .env("ANOTE_DATABASE_SCHEMA", schema)
        .env("ANOTE_READ_DATABASE_SCHEMA", format!("{schema}_read"))
        .env("ANOTE_DATABASE_MAX_CONNECTIONS", "8")
        .env("ANOTE_TOKEN_SECRET", TOKEN_SECRET)
        .env("ANOTE_S3_BUCKET", bucket_of(schema))
        .env("ANOTE_S3_ENDPOINT", s3_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", s3_keys().0)
        .env("AWS_SECRET_ACCESS_KEY", s3_keys().1)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("ANOTE_LOG", child_log());
    cmd
}

/// The `anote` binary of the integration test that runs: cargo builds it
/// next to the folder of the test executables (`NEXTEST_BIN_EXE_anote` or
/// `CARGO_BIN_EXE_anote` name it when set at run time).
pub fn binary() -> PathBuf {
    for var in ["NEXTEST_BIN_EXE_anote", "CARGO_BIN_EXE_anote"] {
        if let Some(path) = std::env::var_os(var) {
            return path.into();
        }
    }
    let test = std::env::current_exe().expect("the test executable");
    let deps = test.parent().expect("the folder of the test executables");
    let profile = deps.parent().expect("the profile folder");
    profile.join(format!("anote{}", std::env::consts::EXE_SUFFIX))
}

/// The log filter of the processes the tests start: `ANOTE_TEST_CHILD_LOG`,
/// or warnings only.
pub fn child_log() -> String {
    std::env::var("ANOTE_TEST_CHILD_LOG").unwrap_or_else(|_| "warn".to_owned())
}

/// A background `anote` process without an API (the projector or the
/// relay) on a PostgreSQL schema, killed on drop.
pub struct ProjectorProcess(Child);

impl ProjectorProcess {
    /// Starts the projector of `schema`, tailing the event log.
    pub fn start(schema: &str) -> Self {
        Self::spawn("projector", schema, &[])
    }

    /// Starts `anote <role>` (`projector` or `relay`) of `schema` on the
    /// Kinesis stream `stream` of the emulator.
    pub fn with_kinesis(role: &str, schema: &str, stream: &str) -> Self {
        Self::with_kinesis_and(role, schema, stream, &[])
    }

    /// Starts `anote <role>` of `schema` on the Kinesis stream `stream`
    /// of the emulator, with extra environment variables.
    pub fn with_kinesis_and(role: &str, schema: &str, stream: &str, env: &[(&str, &str)]) -> Self {
        let endpoint = kinesis_endpoint();
        let mut all = vec![
            ("ANOTE_KINESIS_STREAM", stream),
            ("ANOTE_KINESIS_ENDPOINT", endpoint.as_str()),
            ("ANOTE_LEASE_TTL_MS", "1500"),
        ];
        all.extend_from_slice(env);
        Self::spawn(role, schema, &all)
    }

    /// Starts `anote <role>` of `schema` with extra environment variables
    /// (which win over the test command's services).
    pub fn spawn(role: &str, schema: &str, env: &[(&str, &str)]) -> Self {
        let child = postgres_command(role, schema)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("anote starts");
        Self(child)
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    /// Kills it with SIGKILL.
    pub fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ProjectorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `anote` process, stopped with SIGTERM on drop.
pub struct Server {
    child: Child,
    /// The base URL, such as `http://127.0.0.1:40123`.
    pub base: String,
    /// The HTTP client.
    pub http: Client,
    /// What it runs on.
    pub setup: Setup,
    /// What it printed on its standard output after it listened.
    pub output: Output,
    _data: Option<tempfile::TempDir>,
}

/// The lines a server printed on its standard output after it listened.
pub type Output = Arc<Mutex<Vec<String>>>;

/// Whether `child` announces on its standard output that it listens on
/// `port` (false when it exits first, say because the port was taken); the
/// lines after it are collected into `output`.
async fn listens(child: &mut Child, port: u16, output: Output) -> bool {
    let stdout = child.stdout.take().expect("piped stdout");
    let wanted = format!("anote listening on http://127.0.0.1:{port}");
    let found = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let found = lines.by_ref().map_while(Result::ok).any(|l| l == wanted);
        // Keep reading so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                output
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        found
    });
    tokio::time::timeout(Duration::from_secs(30), found)
        .await
        .map(|joined| joined.expect("reading stdout"))
        .unwrap_or(false)
}

/// A port of 127.0.0.1 that nothing listens on.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    /// `anote serve` on a fresh data folder.
    pub async fn embedded() -> Self {
        Self::of_with(false, &[]).await
    }

    /// `anote command-api` on a fresh PostgreSQL schema.
    pub async fn postgres() -> Self {
        Self::of_with(true, &[]).await
    }

    /// A fresh server of either kind.
    pub async fn of(postgres: bool) -> Self {
        Self::of_with(postgres, &[]).await
    }

    /// A fresh server of either kind, started with extra environment
    /// variables.
    pub async fn of_with(postgres: bool, env: &[(&str, &str)]) -> Self {
        if postgres {
            let schema = fresh_schema();
            Self::start(Setup::Postgres(schema), None, env).await
        } else {
            let dir = tempfile::tempdir().expect("temp dir");
            let setup = Setup::Embedded(dir.path().to_path_buf());
            Self::start(setup, Some(dir), env).await
        }
    }

    /// Starts a server on `setup` with extra environment variables.
    pub async fn start(
        setup: Setup,
        data: Option<tempfile::TempDir>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut last_port = 0;
        for _ in 0..5 {
            let port = free_port();
            last_port = port;
            let mut cmd = match &setup {
                Setup::Embedded(dir) => {
                    let mut cmd = Command::new(binary());
                    cmd.arg("serve")
                        .env("ANOTE_DATA_DIR", dir)
                        .env("ANOTE_LOG", "warn");
                    cmd
                }
                Setup::Postgres(schema) => {
                    ensure_bucket(&bucket_of(schema)).await;
                    postgres_command("command-api", schema)
                }
                Setup::QueryApi(schema) => {
                    ensure_bucket(&bucket_of(schema)).await;
                    postgres_command("query-api", schema)
                }
            };
            cmd.env("ANOTE_LISTEN", format!("127.0.0.1:{port}"))
                .envs(env.iter().copied())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            let mut child = cmd.spawn().expect("anote starts");
            // Another process may have taken the port since it was free: only
            // this child's own announcement proves the port is its.
            let output = Output::default();
            if !listens(&mut child, port, output.clone()).await {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            let server = Self {
                child,
                base: format!("http://127.0.0.1:{port}"),
                http: Client::new(),
                setup,
                output,
                _data: data,
            };
            server.wait_ready().await;
            return server;
        }
        panic!("anote could not listen on a free port (last tried {last_port})");
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "anote did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process with SIGTERM and returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }

    /// Stops this server with SIGTERM and starts another on the same storage.
    pub async fn restart(mut self) -> Self {
        assert!(self.terminate(), "clean shutdown");
        self.start_again().await
    }

    /// Starts another server on the storage of this stopped one.
    pub async fn start_again(mut self) -> Self {
        let data = self._data.take();
        Self::start(self.setup.clone(), data, &[]).await
    }

    /// Kills this server with SIGKILL, mid-flight, and starts another on the
    /// same storage.
    pub async fn kill_and_restart(mut self) -> Self {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
        let data = self._data.take();
        Self::start(self.setup.clone(), data, &[]).await
    }

    /// An absolute URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The data folder of an embedded server.
    pub fn data_dir(&self) -> Option<&Path> {
        match &self.setup {
            Setup::Embedded(dir) => Some(dir),
            Setup::Postgres(_) | Setup::QueryApi(_) => None,
        }
    }

    /// Registers an account and logs in.
    pub async fn user(&self, name: &str) -> Account {
        let r = self
            .http
            .post(self.url("/v1/accounts"))
            .json(&json!({ "username": name, "password": PASSWORD, "display_name": name }))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201, "register {name}");
        assert!(body(r).await["id"].is_string());
        let tokens = self.login(name, PASSWORD).await;
        assert_eq!(tokens.0, 200);
        Account {
            access: tokens.1["access_token"].as_str().expect("token").to_owned(),
            refresh: tokens.1["refresh_token"]
                .as_str()
                .expect("token")
                .to_owned(),
        }
    }

    /// Logs in; returns the status and the body.
    pub async fn login(&self, name: &str, password: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/v1/sessions"))
            .json(&json!({ "username": name, "password": password }))
            .send()
            .await
            .expect("login");
        (r.status().as_u16(), body(r).await)
    }

    /// A request with the account's bearer token.
    pub fn as_user(
        &self,
        account: &Account,
        method: reqwest::Method,
        path: &str,
    ) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&account.access)
    }

    /// Creates a note and returns its id.
    pub async fn note(&self, account: &Account, fields: Value) -> String {
        let r = self
            .as_user(account, reqwest::Method::POST, "/v1/notes")
            .json(&fields)
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 201);
        body(r).await["id"].as_str().expect("id").to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}

/// The JSON body of a reply (`Null` when empty).
pub async fn body(r: Response) -> Value {
    let bytes = r.bytes().await.expect("body");
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    }
}

/// The processes of one setup: who takes commands, who answers reads.
pub struct Backend {
    /// Takes commands.
    pub writer: Server,
    /// Answers reads (the writer when embedded).
    pub reader: Option<Server>,
    /// Applies the log to the read models (split only).
    pub projector: Option<ProjectorProcess>,
    /// The PostgreSQL schema (split only).
    pub schema: Option<String>,
}

impl Backend {
    /// `anote serve`.
    pub async fn embedded() -> Self {
        Self {
            writer: Server::embedded().await,
            reader: None,
            projector: None,
            schema: None,
        }
    }

    /// The split services on PostgreSQL.
    pub async fn split() -> Self {
        Self::split_with(&[]).await
    }

    /// The split services, both APIs with extra settings.
    pub async fn split_with(env: &[(&str, &str)]) -> Self {
        let schema = fresh_schema();
        let writer = Server::start(Setup::Postgres(schema.clone()), None, env).await;
        let reader = Server::start(Setup::QueryApi(schema.clone()), None, env).await;
        let projector = ProjectorProcess::start(&schema);
        Self {
            writer,
            reader: Some(reader),
            projector: Some(projector),
            schema: Some(schema),
        }
    }

    /// Either setup.
    pub async fn of(split: bool) -> Self {
        if split {
            Self::split().await
        } else {
            Self::embedded().await
        }
    }

    /// Either setup, the process answering reads started with `env`.
    pub async fn of_with(split: bool, env: &[(&str, &str)]) -> Self {
        if split {
            return Self::split_with(env).await;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let setup = Setup::Embedded(dir.path().to_path_buf());
        let writer = Server::start(setup, Some(dir), env).await;
        Self {
            writer,
            reader: None,
            projector: None,
            schema: None,
        }
    }

    /// `anote <role>`, an operator's command, on this backend's storage (its
    /// PostgreSQL schemas and bucket, or the data folder).
    pub fn tool(&self, role: &str) -> Command {
        match (&self.schema, self.writer.data_dir()) {
            (Some(schema), _) => postgres_command(role, schema),
            (None, Some(dir)) => {
                let mut cmd = Command::new(binary());
                cmd.arg(role).env("ANOTE_DATA_DIR", dir);
                cmd
            }
            (None, None) => unreachable!("a backend is embedded or split"),
        }
    }

    /// The process answering reads.
    pub fn reader(&self) -> &Server {
        self.reader.as_ref().unwrap_or(&self.writer)
    }

    /// Sends a command; returns its reply body.
    pub async fn command(
        &self,
        account: &Account,
        method: Method,
        path: &str,
        version: Option<u64>,
        payload: Option<Value>,
    ) -> Value {
        let mut req = self.writer.as_user(account, method, path);
        if let Some(v) = version {
            req = req.header("if-match", format!("\"{v}\""));
        }
        if let Some(p) = payload {
            req = req.json(&p);
        }
        let r = req.send().await.expect("command");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        body(r).await
    }

    /// Creates a note; returns its id and the position of the command.
    pub async fn create_note(&self, account: &Account, fields: Value) -> (String, String) {
        let created = self
            .command(account, Method::POST, "/v1/notes", None, Some(fields))
            .await;
        let id = created["id"].as_str().expect("id").to_owned();
        let position = created["position"].as_str().expect("position").to_owned();
        (id, position)
    }

    /// Reads a note, waiting for `position`.
    pub async fn read(&self, account: &Account, id: &str, position: &str) -> (u16, Value) {
        let r = self
            .reader()
            .as_user(account, Method::GET, &format!("/v1/notes/{id}"))
            .header("anote-min-position", position)
            .send()
            .await
            .expect("read");
        (r.status().as_u16(), body(r).await)
    }
}

/// Runs each scenario `fn name(split: bool)` as two tests: `embedded::name`
/// and `<second>::name` (the split services on PostgreSQL).
#[macro_export]
macro_rules! both_setups {
    ($second:ident; $($name:ident),* $(,)?) => {
        mod embedded {
            $( #[tokio::test] async fn $name() { super::$name(false).await; } )*
        }
        mod $second {
            $( #[tokio::test] async fn $name() { super::$name(true).await; } )*
        }
    };
}
