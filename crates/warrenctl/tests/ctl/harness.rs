//! What every test shares: the broker under test, running the built `warrenctl`
//! against it, unique names, and a few AMQP steps (lapin) for effects a user sees.
//!
//! [`broker`] makes the one decision of what the suite runs against: the broker at
//! `WARRENCTL_TEST_URL` when it is set (RabbitMQ while the expectations are checked),
//! else an in-process Warren with its management HTTP API on a free port. Because an
//! external broker is shared, every test names what it creates with [`unique`] and
//! removes it afterwards.

#![allow(dead_code)]

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Points the suite at an external broker's management API, credentials included.
pub const URL_ENV: &str = "WARRENCTL_TEST_URL";
/// The external broker's AMQP URL, when it is not `amqp://USER:PASSWORD@HOST:5672/%2F`.
pub const AMQP_URL_ENV: &str = "WARRENCTL_TEST_AMQP_URL";
/// How long a value that the broker reports from periodic statistics may take to
/// show (RabbitMQ refreshes them every 5 s).
pub const STATS_DELAY: Duration = Duration::from_secs(20);
/// How long one AMQP step may take.
const AMQP_TIMEOUT: Duration = Duration::from_secs(10);

/// The broker the tests talk to.
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// AMQP URL for vhost `/`.
    pub amqp_url: String,
    pub external: bool,
}

/// The broker under test. A broker that cannot be had (Warren did not start, a
/// bad `WARRENCTL_TEST_URL`) fails the test rather than skipping it. (`Option`
/// for the callers' `let Some(b) = broker() else { return }`.)
pub fn broker() -> Option<&'static Broker> {
    static BROKER: OnceLock<Result<Broker, String>> = OnceLock::new();
    match BROKER.get_or_init(choose) {
        Ok(b) => Some(b),
        Err(why) => panic!("no broker for the warrenctl tests: {why}"),
    }
}

/// The broker, after checking that it serves every `(method, path)` (relative to
/// `/api/`) a test needs. An external broker (RabbitMQ) is taken to serve the whole
/// API. An in-process Warren is asked, and a missing endpoint fails the test: Warren
/// serves every endpoint these verbs call, so one gone missing is a regression, not
/// a reason to skip.
pub fn broker_serving(needs: &[Endpoints]) -> Option<&'static Broker> {
    let b = broker()?;
    if b.external {
        return Some(b);
    }
    let missing: Vec<String> = needs
        .iter()
        .flat_map(|group| group.iter())
        .filter(|(method, path)| !b.serves(method, path))
        .map(|(method, path)| format!("{method} /api/{path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "Warren's HTTP API does not serve {}",
        missing.join(", ")
    );
    Some(b)
}

/// `(method, path)` pairs a group of verbs calls; `x` and `y` stand for names.
pub type Endpoints = &'static [(&'static str, &'static str)];

pub const USERS: Endpoints = &[
    ("GET", "users"),
    ("GET", "users/x"),
    ("PUT", "users/x"),
    ("DELETE", "users/x"),
    ("GET", "users/x/permissions"),
];
pub const VHOSTS: Endpoints = &[("PUT", "vhosts/x"), ("DELETE", "vhosts/x")];
pub const PERMISSIONS: Endpoints = &[
    ("PUT", "permissions/x/y"),
    ("DELETE", "permissions/x/y"),
    ("GET", "vhosts/x/permissions"),
];
pub const POLICIES: Endpoints = &[
    ("GET", "policies/x"),
    ("PUT", "policies/x/y"),
    ("DELETE", "policies/x/y"),
];
pub const SESSIONS: Endpoints = &[
    ("GET", "connections"),
    ("GET", "channels"),
    ("GET", "consumers/x"),
    ("DELETE", "connections/x"),
];
pub const DEFINITIONS: Endpoints = &[("GET", "definitions"), ("POST", "definitions")];
pub const QUEUE_DELETE: Endpoints = &[("DELETE", "queues/x/y")];

/// The one place that decides what the suite runs against.
fn choose() -> Result<Broker, String> {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => external(url.trim()),
        _ => in_process(),
    }
}

/// An in-process Warren serving the management API on a free port, alive for the
/// whole test run. Its data directory is under cargo's target tmpdir, per process;
/// those of earlier runs are removed here, since a static's broker is never dropped.
fn in_process() -> Result<Broker, String> {
    static SERVER: OnceLock<(tokio::runtime::Runtime, warren::Server)> = OnceLock::new();
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("warrenctl-warren");
    remove_stale_data_dirs(&root);
    let mut config = warren::Config::for_tests();
    config.data_dir = root.join(std::process::id().to_string());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime for Warren: {e}"))?;
    let server = runtime
        .block_on(warren::start(config))
        .map_err(|e| format!("Warren did not start: {e}"))?;
    let http = server
        .http_addr()
        .ok_or("Warren started without its management HTTP API")?;
    let amqp = server.amqp_addr();
    let broker = Broker {
        host: http.ip().to_string(),
        port: http.port(),
        user: "guest".into(),
        password: "guest".into(),
        amqp_url: format!("amqp://guest:guest@{}:{}/%2F", amqp.ip(), amqp.port()),
        external: false,
    };
    let _ = SERVER.set((runtime, server));
    Ok(broker)
}

/// Data directories of test processes that are gone (no `/proc/PID`).
fn remove_stale_data_dirs(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let alive = name
            .to_str()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `http://USER:PASSWORD@HOST:PORT` (path ignored).
fn external(url: &str) -> Result<Broker, String> {
    let bad = || format!("{URL_ENV}={url} is not http://USER:PASSWORD@HOST:PORT");
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let rest = rest.split('/').next().unwrap_or_default();
    let (credentials, address) = rest.rsplit_once('@').ok_or_else(bad)?;
    let (user, password) = credentials.split_once(':').ok_or_else(bad)?;
    let (host, port) = match address.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
        None => (address.to_string(), 15672),
    };
    let amqp_url = std::env::var(AMQP_URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("amqp://{user}:{password}@{host}:5672/%2F"));
    Ok(Broker {
        host,
        port,
        user: user.into(),
        password: password.into(),
        amqp_url,
        external: true,
    })
}

/// What a run of `warrenctl` printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "warrenctl failed: {self:?}");
        &self.stdout
    }

    /// Asserts exit `code` and returns stderr.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "unexpected exit: {self:?}");
        &self.stderr
    }

    /// stdout's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Runs `warrenctl` with `args` only: no connection flags, a clean environment
/// (plus `env`) and a fresh empty HOME, so nothing of the developer's leaks in.
pub fn warrenctl(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let home = temp_dir("home");
    let mut command = Command::new(env!("CARGO_BIN_EXE_warrenctl"));
    command
        .args(args)
        .env_clear()
        .env("HOME", &*home)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start warrenctl");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("warrenctl runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Broker {
    /// The connection flags for this broker.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--host".into(),
            self.host.clone(),
            "--port".into(),
            self.port.to_string(),
            "--user".into(),
            self.user.clone(),
            "--password".into(),
            self.password.clone(),
            "--timeout".into(),
            "30".into(),
        ]
    }

    /// Runs `warrenctl <connection flags> args`.
    pub fn ctl(&self, args: &[&str]) -> Run {
        self.ctl_with(args, None)
    }

    pub fn ctl_with(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let flags = self.flags();
        let mut all: Vec<&str> = flags.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        warrenctl(&all, &[], stdin)
    }

    /// Runs `args` until `done(stdout)` holds, for values the broker reports from
    /// periodic statistics; returns the last run.
    #[track_caller]
    pub fn ctl_until(&self, args: &[&str], done: impl Fn(&str) -> bool) -> Run {
        let deadline = Instant::now() + STATS_DELAY;
        loop {
            let run = self.ctl(args);
            if run.code == 0 && done(&run.stdout) || Instant::now() > deadline {
                return run;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Whether the API routes `method` on `path`: an `OPTIONS` request is answered
    /// 404 for an unknown path, and 405 with an `Allow` list for a known one.
    fn serves(&self, method: &str, path: &str) -> bool {
        use std::io::Read;
        let Ok(mut stream) = std::net::TcpStream::connect((self.host.as_str(), self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let credentials = basic(&format!("{}:{}", self.user, self.password));
        let request = format!(
            "OPTIONS /api/{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {credentials}\r\nConnection: close\r\n\r\n",
            self.host
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).to_ascii_lowercase();
        let head = response.split("\r\n\r\n").next().unwrap_or_default();
        let status = head.split_whitespace().nth(1).unwrap_or_default();
        match status {
            "404" | "" => false,
            "405" => head
                .lines()
                .find_map(|l| l.strip_prefix("allow:"))
                .is_some_and(|allow| {
                    allow
                        .split(',')
                        .any(|m| m.trim() == method.to_ascii_lowercase())
                }),
            _ => true,
        }
    }

    /// The management API root, for messages.
    pub fn url(&self) -> String {
        format!("http://{}:{}/", self.host, self.port)
    }
}

/// Base64 for a Basic `Authorization` header.
fn basic(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// A name no other test or run uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "warrenctl-test.{prefix}.{}.{n}.{nanos:x}",
        std::process::id()
    )
}

/// A fresh directory under the system temp directory, removed when dropped (also
/// when the test fails).
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(what: &str) -> TempDir {
    let dir = std::env::temp_dir().join(unique(what));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    TempDir(dir)
}

/// A port nothing listens on: bound, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Runs `cleanup` when dropped, so a failing assertion still removes what a test made.
pub struct Cleanup<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for Cleanup<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// An AMQP connection with one channel (confirms on), driven from a synchronous test.
pub struct Amqp {
    runtime: tokio::runtime::Runtime,
    pub connection: Connection,
    channel: Channel,
}

impl Amqp {
    /// Connects to vhost `/`, naming the connection `name` (the `connection_name`
    /// client property, which the API reports as `client_properties`).
    pub fn connect(broker: &Broker, name: &str) -> Amqp {
        Amqp::connect_url(&broker.amqp_url, name)
    }

    /// Connects to `vhost` instead of `/`.
    pub fn connect_vhost(broker: &Broker, vhost: &str, name: &str) -> Amqp {
        let base = broker
            .amqp_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&broker.amqp_url);
        let vhost =
            percent_encoding::utf8_percent_encode(vhost, percent_encoding::NON_ALPHANUMERIC);
        Amqp::connect_url(&format!("{base}/{vhost}"), name)
    }

    fn connect_url(url: &str, name: &str) -> Amqp {
        // A worker thread keeps the connection served between the test's steps.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        let (connection, channel) = runtime.block_on(async {
            let connection = within(Connection::connect(url, properties))
                .await
                .expect("AMQP connect");
            let channel = within(connection.create_channel())
                .await
                .expect("AMQP channel");
            within(channel.confirm_select(ConfirmSelectOptions::default()))
                .await
                .expect("confirm.select");
            (connection, channel)
        });
        Amqp {
            runtime,
            connection,
            channel,
        }
    }

    pub fn declare(&self, queue: &str, durable: bool, arguments: FieldTable) {
        let options = QueueDeclareOptions {
            durable,
            ..QueueDeclareOptions::default()
        };
        self.runtime
            .block_on(within(self.channel.queue_declare(
                queue.into(),
                options,
                arguments,
            )))
            .expect("queue.declare");
    }

    /// Publishes `count` messages to `queue` through the default exchange and waits
    /// for their confirms, so they are in the queue when this returns.
    pub fn publish(&self, queue: &str, count: usize) {
        self.runtime.block_on(async {
            for i in 0..count {
                within(self.channel.basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    format!("message {i}").as_bytes(),
                    BasicProperties::default(),
                ))
                .await
                .expect("basic.publish")
                .await
                .expect("confirm");
            }
        });
    }

    /// The queue's message count as AMQP reports it (a passive declare).
    pub fn message_count(&self, queue: &str) -> u32 {
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        self.runtime
            .block_on(within(self.channel.queue_declare(
                queue.into(),
                options,
                FieldTable::default(),
            )))
            .expect("passive queue.declare")
            .message_count()
    }

    /// Whether the queue exists, asked on a throwaway channel (a passive declare of a
    /// missing queue closes its channel).
    pub fn queue_exists(&self, queue: &str) -> bool {
        self.runtime.block_on(async {
            let channel = within(self.connection.create_channel())
                .await
                .expect("channel");
            let options = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            within(channel.queue_declare(queue.into(), options, FieldTable::default()))
                .await
                .is_ok()
        })
    }

    /// Starts a consumer (manual acks) with `tag`; it stays until the connection goes.
    pub fn consume(&self, queue: &str, tag: &str) {
        let consumer = self
            .runtime
            .block_on(within(self.channel.basic_consume(
                queue.into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )))
            .expect("basic.consume");
        std::mem::forget(consumer);
    }

    pub fn declare_exchange(
        &self,
        exchange: &str,
        kind: lapin::ExchangeKind,
        arguments: FieldTable,
    ) {
        self.runtime
            .block_on(within(self.channel.exchange_declare(
                exchange.into(),
                kind,
                lapin::options::ExchangeDeclareOptions::default(),
                arguments,
            )))
            .expect("exchange.declare");
    }

    pub fn declare_exchange_durable(&self, exchange: &str) {
        let options = lapin::options::ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        self.runtime
            .block_on(within(self.channel.exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Direct,
                options,
                FieldTable::default(),
            )))
            .expect("exchange.declare");
    }

    pub fn bind(&self, queue: &str, exchange: &str, key: &str, arguments: FieldTable) {
        self.runtime
            .block_on(within(self.channel.queue_bind(
                queue.into(),
                exchange.into(),
                key.into(),
                lapin::options::QueueBindOptions::default(),
                arguments,
            )))
            .expect("queue.bind");
    }

    pub fn delete_exchange(&self, exchange: &str) {
        let _ = self.runtime.block_on(within(self.channel.exchange_delete(
            exchange.into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )));
    }

    pub fn delete_queue(&self, queue: &str) {
        let _ = self.runtime.block_on(within(
            self.channel
                .queue_delete(queue.into(), QueueDeleteOptions::default()),
        ));
    }

    /// Waits (bounded) until the broker has closed this connection.
    pub fn closed_by_broker(&self) -> bool {
        let deadline = Instant::now() + AMQP_TIMEOUT;
        while Instant::now() < deadline {
            if !self.connection.status().connected() {
                return true;
            }
            // The timer is made inside the runtime: a Sleep needs its context.
            self.runtime
                .block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
        }
        false
    }
}

/// Awaits `fut`, failing the test when the broker takes longer than `AMQP_TIMEOUT`.
async fn within<F: std::future::Future>(fut: F) -> F::Output {
    match tokio::time::timeout(AMQP_TIMEOUT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("broker did not answer within {AMQP_TIMEOUT:?}"),
    }
}
