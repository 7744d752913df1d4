//! What the fault tests break and mend, each a process or socket of the
//! test's own so that breaking it touches no other test: a PostgreSQL
//! cluster ([`Postgres`]: stopped, started, crashed), the Kinesis and S3
//! emulators ([`Emulator`]: stopped and started again on the same port and
//! data), and a TCP proxy that can stall or refuse ([`FaultProxy`]).
//!
//! The server binaries come from where the test command installs them:
//! PostgreSQL's from `/usr/lib/postgresql/<version>/bin` (or
//! `ANOTE_TEST_PG_BIN`), the emulators from `ANOTE_EMULATOR_DIR` (default
//! `~/.cache/anote/emulators`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::process::free_port;

/// Whether the tests run as root (asked once).
fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    })
}

/// Runs `program` as the `postgres` user when the tests run as root
/// (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) {
    let output = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A PostgreSQL cluster of the test's own on a free loopback port, with a
/// database `test`; removed on drop.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Postgres {
    /// Creates and starts a cluster.
    pub fn start() -> Self {
        let bin = std::env::var_os("ANOTE_TEST_PG_BIN")
            .map(PathBuf::from)
            .or_else(|| {
                let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| Some(e.ok()?.path().join("bin")))
                    .filter(|p| p.join("pg_ctl").exists())
                    .collect();
                found.sort();
                found.pop()
            })
            .expect("PostgreSQL's server binaries (run the README's test command)");
        let dir = tempfile::tempdir().expect("temp dir");
        if is_root() {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(dir.path());
            run(chown, "chown");
        }
        let pg = Self {
            bin,
            dir,
            port: free_port(),
        };
        let mut initdb = as_postgres(&pg.bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(pg.data())
            .args(["-U", "postgres", "--auth=trust", "--no-sync"]);
        run(initdb, "initdb");
        pg.start_again();
        let mut createdb = as_postgres(&pg.bin.join("createdb"));
        createdb
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "postgres",
                "test",
            ])
            .stdout(Stdio::null());
        run(createdb, "createdb");
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut cmd = as_postgres(&self.bin.join("pg_ctl"));
        cmd.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(args)
            .stdout(Stdio::null());
        run(cmd, "pg_ctl");
    }

    /// The URL of its database `test`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/test", self.port)
    }

    /// Starts it (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.pg_ctl(&["-w", "-t", "60", "-o", &options, "start"]);
    }

    /// Stops it the way an operator or a failover does: sessions are ended,
    /// transactions rolled back, a checkpoint written.
    pub fn stop(&self) {
        self.pg_ctl(&["-w", "-m", "fast", "stop"]);
    }

    /// Stops it at once, as a crash would: no checkpoint; the next start
    /// recovers from the write-ahead log.
    pub fn crash(&self) {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut cmd = as_postgres(&self.bin.join("pg_ctl"));
        cmd.arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
    }
}

/// Which emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmulatorKind {
    /// kinesis-local, keeping its streams in its data folder.
    Kinesis,
    /// s3s-fs, keeping its buckets in its data folder.
    S3,
}

/// An emulator of the test's own on a fixed loopback port and data
/// folder, so that it can be stopped and started again where it was.
pub struct Emulator {
    kind: EmulatorKind,
    child: Option<Child>,
    data: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// The S3 emulator's keys.
pub const S3_KEYS: (&str, &str) = ("anote-fault", "anote-fault-secret");

fn emulator_dir() -> PathBuf {
    std::env::var_os("ANOTE_EMULATOR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
            PathBuf::from(home).join(".cache/anote/emulators")
        })
}

impl Emulator {
    /// Starts one and waits until it answers.
    pub async fn start(kind: EmulatorKind) -> Self {
        let mut emulator = Self {
            kind,
            child: None,
            data: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
        };
        emulator.start_again().await;
        emulator
    }

    /// Its endpoint, such as `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self) -> Command {
        let dir = emulator_dir();
        match self.kind {
            EmulatorKind::Kinesis => {
                let pkg = dir.join("node_modules/kinesis-local");
                let mut cmd = Command::new("node");
                cmd.arg("-r")
                    .arg(dir.join("loopback.js"))
                    .arg(pkg.join("main.js"))
                    .env("KINESIS_MOCK_CERT_PATH", pkg.join("server.json"))
                    .env("KINESIS_MOCK_PLAIN_PORT", self.port.to_string())
                    .env("KINESIS_MOCK_TLS_PORT", free_port().to_string())
                    .env("CREATE_STREAM_DURATION", "0ms")
                    .env("SHOULD_PERSIST_DATA", "true")
                    .env("PERSIST_PATH", self.data.path())
                    .env("PERSIST_INTERVAL", "1s")
                    .env("LOG_LEVEL", "ERROR");
                cmd
            }
            EmulatorKind::S3 => {
                let mut cmd = Command::new(dir.join("bin/s3s-fs"));
                cmd.args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
                    .args(["--access-key", S3_KEYS.0, "--secret-key", S3_KEYS.1])
                    .arg(self.data.path());
                cmd
            }
        }
    }

    /// Starts it again on its port and data and waits until it answers.
    pub async fn start_again(&mut self) {
        let child = self
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the emulator starts (run the README's test command to install it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        loop {
            let url = match self.kind {
                EmulatorKind::Kinesis => format!("{}/healthcheck", self.endpoint()),
                EmulatorKind::S3 => format!("{}/", self.endpoint()),
            };
            // kinesis-local answers its health check; s3s-fs refuses an
            // unsigned request once it is up.
            if http.get(url).send().await.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "the emulator did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops it with SIGTERM and waits until it exits: kinesis-local writes
    /// what it holds to its data folder (as Kinesis keeps every record it
    /// acknowledged), and, while it waits up to 30 s for open connections to
    /// go idle, takes no new ones. Killed with SIGKILL it would lose what it
    /// acknowledged since its last save, which Kinesis never does.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a [`FaultProxy`] does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traffic {
    /// Passes it both ways.
    Flowing,
    /// Accepts connections and forwards nothing, in either direction, on
    /// new or open connections, as a network that drops packets does; when
    /// the stall ends, what it held goes through.
    Stalled,
    /// Resets every open connection and each new one, as a host whose
    /// process died does.
    Refused,
}

/// A TCP proxy on a loopback port in front of `upstream` whose
/// [`Traffic`] a test sets.
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    traffic: watch::Sender<Traffic>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts one in front of `upstream`, flowing.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("bound").port();
        let (traffic, watching) = watch::channel(Traffic::Flowing);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut watching = watching.clone();
                tokio::spawn(async move {
                    // Every close is a reset: a refused connection ends as
                    // a dead host's does, and a client's own close needs no
                    // orderly ending from here.
                    if client.set_zero_linger().is_err() {
                        return;
                    }
                    tokio::select! {
                        _ = forward(client, upstream, watching.clone()) => {}
                        _ = watching.wait_for(|t| *t == Traffic::Refused) => {}
                    }
                });
            }
        });
        Self {
            port,
            traffic,
            task,
        }
    }

    /// Sets what it does with traffic from now on.
    pub fn set(&self, traffic: Traffic) {
        self.traffic.send_replace(traffic);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until the proxy passes traffic.
async fn flowing(watching: &mut watch::Receiver<Traffic>) {
    let _ = watching.wait_for(|t| *t == Traffic::Flowing).await;
}

async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    mut watching: watch::Receiver<Traffic>,
) -> std::io::Result<()> {
    flowing(&mut watching).await;
    let server = TcpStream::connect(upstream).await?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (up, down) = tokio::join!(
        pipe(client_read, server_write, watching.clone()),
        pipe(server_read, client_write, watching)
    );
    up.and(down)
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut watching: watch::Receiver<Traffic>,
) -> std::io::Result<()> {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        flowing(&mut watching).await;
        to.write_all(&buf[..n]).await?;
    }
}
