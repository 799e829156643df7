//! Test harness shared by every integration test file.
//!
//! `broker()` gives each test a broker to talk to: an in-process Warren on a free port, or,
//! when `WARREN_TEST_AMQP_URL` is set, that broker (a real RabbitMQ while validating the
//! expectations). Because RabbitMQ may be shared between parallel tests and runs, every test
//! names its queues and exchanges with `unique()` and deletes what it declares.
//!
//! Every await that depends on the broker goes through `t()`, so a broker that stops
//! answering fails the test in seconds instead of hanging the suite.

#![allow(dead_code)]

pub mod process;
pub mod raw;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};

/// How long one broker interaction may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The environment variable that points the suite at an external broker.
pub const URL_ENV: &str = "WARREN_TEST_AMQP_URL";

/// A broker under test: either an in-process Warren or an external one.
pub struct TestBroker {
    url: String,
    addr: SocketAddr,
    external: bool,
    _server: Option<warren::Server>,
}

/// Starts (or points at) the broker a test talks to.
pub async fn broker() -> TestBroker {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.is_empty() => {
            let uri: lapin::uri::AMQPUri =
                url.parse().expect("WARREN_TEST_AMQP_URL is an AMQP URI");
            let host = format!("{}:{}", uri.authority.host, uri.authority.port);
            let addr = tokio::net::lookup_host(&host)
                .await
                .expect("resolve broker host")
                .find(|a| a.is_ipv4())
                .expect("an IPv4 address for the broker host");
            TestBroker {
                url,
                addr,
                external: true,
                _server: None,
            }
        }
        _ => {
            let server = t(warren::start(warren::Config::for_tests()))
                .await
                .expect("warren starts");
            let addr = server.amqp_addr();
            TestBroker {
                url: format!("amqp://guest:guest@127.0.0.1:{}/%2F", addr.port()),
                addr,
                external: false,
                _server: Some(server),
            }
        }
    }
}

impl TestBroker {
    /// The AMQP URL of the broker (user guest, vhost `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The broker's TCP address, for raw-socket tests.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The in-process server (None against an external broker), for tests that set
    /// up users, vhosts and permissions through the core API.
    pub fn server(&self) -> Option<&warren::Server> {
        self._server.as_ref()
    }

    /// True when the tests run against an external broker (RabbitMQ during validation).
    pub fn is_external(&self) -> bool {
        self.external
    }

    /// A URL with other credentials, vhost (already percent-encoded) and query string.
    pub fn url_with(&self, user: &str, password: &str, vhost: &str, query: &str) -> String {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!(
            "amqp://{user}:{password}@{}:{}/{vhost}{q}",
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// The default URL with a query string appended (e.g. `heartbeat=5`).
    pub fn url_query(&self, query: &str) -> String {
        self.url_with("guest", "guest", "%2F", query)
    }

    /// Opens a lapin connection as guest to vhost `/`.
    pub async fn connect(&self) -> Connection {
        connect_url(&self.url).await.expect("connect to broker")
    }

    /// Opens a connection and one channel on it.
    pub async fn connect_channel(&self) -> (Connection, Channel) {
        let conn = self.connect().await;
        let ch = t(conn.create_channel()).await.expect("open channel");
        (conn, ch)
    }
}

/// Connects to `url` with lapin's defaults (no automatic recovery).
pub async fn connect_url(url: &str) -> lapin::Result<Connection> {
    t(Connection::connect(url, ConnectionProperties::default())).await
}

/// A name no other test or run uses: `prefix` plus process id, a counter and the clock.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("warren-test.{prefix}.{}.{n}.{nanos:x}", std::process::id())
}

/// Awaits `fut`, failing the test when the broker takes longer than `TIMEOUT`.
pub async fn t<F: Future>(fut: F) -> F::Output {
    within(TIMEOUT, fut).await
}

/// Awaits `fut`, failing the test after `limit`.
pub async fn within<F: Future>(limit: Duration, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(out) => out,
        Err(_) => panic!("broker did not answer within {limit:?}"),
    }
}

/// The reply code and text of an AMQP error, and whether it closed the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpFailure {
    pub code: u16,
    pub text: String,
    pub connection_level: bool,
}

/// Extracts the AMQP close reason from a lapin error, failing the test for other errors.
pub fn failure(err: &lapin::Error) -> AmqpFailure {
    match err.kind() {
        lapin::ErrorKind::ProtocolError(e) => AmqpFailure {
            code: e.get_id(),
            text: e.get_message().to_string(),
            connection_level: err.is_amqp_hard_error(),
        },
        other => panic!("expected an AMQP protocol error, got {other:?} ({err})"),
    }
}

/// Asserts that `res` failed with a channel-level close `code` and exactly `text`.
#[track_caller]
pub fn assert_channel_error<T: std::fmt::Debug>(res: lapin::Result<T>, code: u16, text: &str) {
    let err = res.expect_err("expected a channel error");
    let f = failure(&err);
    assert_eq!(
        (f.code, f.text.as_str()),
        (code, text),
        "channel close reply"
    );
}

/// Asserts that `res` failed with a connection-level close `code` and exactly `text`.
#[track_caller]
pub fn assert_connection_error<T: std::fmt::Debug>(res: lapin::Result<T>, code: u16, text: &str) {
    let err = res.expect_err("expected a connection error");
    let f = failure(&err);
    assert_eq!(
        (f.code, f.text.as_str()),
        (code, text),
        "connection close reply"
    );
}

/// Asserts that `res` failed with `code` and a text starting with `prefix`.
#[track_caller]
pub fn assert_error_prefix<T: std::fmt::Debug>(res: lapin::Result<T>, code: u16, prefix: &str) {
    let err = res.expect_err("expected an AMQP error");
    let f = failure(&err);
    assert_eq!(f.code, code, "reply code (text: {:?})", f.text);
    assert!(
        f.text.starts_with(prefix),
        "reply text {:?} should start with {prefix:?}",
        f.text
    );
}

/// Checks that the connection survived a channel error: still open, and a fresh channel
/// on it can declare and delete a queue.
pub async fn assert_connection_usable(conn: &Connection) {
    assert!(conn.status().connected(), "connection should stay open");
    let ch = t(conn.create_channel())
        .await
        .expect("a new channel after a channel error");
    let q = t(ch.queue_declare(
        "".into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("declare on a fresh channel");
    t(ch.queue_delete(q.name().clone(), QueueDeleteOptions::default()))
        .await
        .expect("delete on a fresh channel");
    t(ch.close(200, "bye".into())).await.expect("close channel");
}

/// Checks that a channel error closed that channel (and only that channel).
pub async fn assert_channel_closed(ch: &Channel) {
    for _ in 0..50 {
        if !ch.status().connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!ch.status().connected(), "channel should be closed");
}

/// Checks that a connection error really closed the connection.
pub async fn assert_connection_closed(conn: &Connection) {
    // lapin processes the close asynchronously; give it a moment.
    for _ in 0..50 {
        if !conn.status().connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!conn.status().connected(), "connection should be closed");
    assert!(
        t(conn.create_channel()).await.is_err(),
        "no channel can be opened on a closed connection"
    );
}

/// The whole check for a channel-level error: `res` failed with `code` and exactly `text`,
/// the channel is closed, and the connection and a fresh channel on it still work.
pub async fn expect_channel_error<T: std::fmt::Debug>(
    conn: &Connection,
    ch: &Channel,
    res: lapin::Result<T>,
    code: u16,
    text: &str,
) {
    let err = res.expect_err("expected a channel error");
    let f = failure(&err);
    assert_eq!(
        (f.code, f.text.as_str()),
        (code, text),
        "channel close reply"
    );
    assert!(!f.connection_level, "{code} should close only the channel");
    assert_channel_closed(ch).await;
    assert_connection_usable(conn).await;
}

/// The whole check for a connection-level error: `res` failed with `code` and exactly
/// `text`, the connection is closed, and the broker accepts a new connection.
pub async fn expect_connection_error<T: std::fmt::Debug>(
    b: &TestBroker,
    conn: &Connection,
    res: lapin::Result<T>,
    code: u16,
    text: &str,
) {
    let err = res.expect_err("expected a connection error");
    let f = failure(&err);
    assert_eq!(
        (f.code, f.text.as_str()),
        (code, text),
        "connection close reply"
    );
    assert_connection_closed(conn).await;
    let again = b.connect().await;
    assert_connection_usable(&again).await;
    let _ = t(again.close(200, "bye".into())).await;
}

/// Observes why a channel closes. Errors caused by asynchronous methods (publish, ack,
/// reject) have no reply to fail; lapin reports them to the channel's consumers instead, so
/// the watch is a no-ack consumer on a private empty queue of that channel.
pub struct CloseWatch {
    consumer: Consumer,
}

/// Starts watching `ch` for its close reason.
pub async fn watch(ch: &Channel) -> CloseWatch {
    let q = declare_temp_queue(ch).await;
    CloseWatch {
        consumer: consume(ch, &q, true).await,
    }
}

impl CloseWatch {
    /// Waits for the channel (or connection) to be closed by the broker and returns why.
    pub async fn reason(mut self) -> AmqpFailure {
        match t(self.consumer.next()).await {
            Some(Err(e)) => failure(&e),
            Some(Ok(d)) => panic!("unexpected delivery on the watch queue: {d:?}"),
            None => panic!("channel ended without an error"),
        }
    }
}

/// `expect_channel_error` for an error caused by an asynchronous method, seen by `watch`.
pub async fn expect_async_channel_error(
    conn: &Connection,
    ch: &Channel,
    watch: CloseWatch,
    code: u16,
    text: &str,
) {
    let f = watch.reason().await;
    assert_eq!(
        (f.code, f.text.as_str()),
        (code, text),
        "channel close reply"
    );
    assert!(!f.connection_level, "{code} should close only the channel");
    assert_channel_closed(ch).await;
    assert_connection_usable(conn).await;
}

/// `expect_connection_error` for an error caused by an asynchronous method.
pub async fn expect_async_connection_error(
    b: &TestBroker,
    conn: &Connection,
    watch: CloseWatch,
    code: u16,
    text: &str,
) {
    let f = watch.reason().await;
    assert_eq!(
        (f.code, f.text.as_str()),
        (code, text),
        "connection close reply"
    );
    assert!(f.connection_level, "{code} should close the connection");
    assert_connection_closed(conn).await;
    let again = b.connect().await;
    assert_connection_usable(&again).await;
    let _ = t(again.close(200, "bye".into())).await;
}

/// Declares a plain (non-durable, non-exclusive) queue named `name`.
pub async fn declare_queue(ch: &Channel, name: &str) {
    t(ch.queue_declare(
        name.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("queue.declare");
}

/// Declares an exclusive, server-named queue and returns its name.
pub async fn declare_temp_queue(ch: &Channel) -> String {
    let q = t(ch.queue_declare(
        "".into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("queue.declare");
    q.name().to_string()
}

/// Publishes `body` with default properties and no confirm.
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8]) {
    publish_with(ch, exchange, key, body, BasicProperties::default()).await
}

/// Publishes `body` with `props`.
pub async fn publish_with(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) {
    t(ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        props,
    ))
    .await
    .expect("basic.publish");
}

/// Opens a channel in confirm mode.
pub async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = t(conn.create_channel()).await.expect("open channel");
    t(ch.confirm_select(lapin::options::ConfirmSelectOptions::default()))
        .await
        .expect("confirm.select");
    ch
}

/// Publishes on a confirm-mode channel and waits for the broker's ack, so the message is
/// known to be enqueued (counts in declare-ok, purge-ok and delete-ok then include it).
pub async fn publish_confirmed(ch: &Channel, exchange: &str, key: &str, body: &[u8]) {
    let confirm = t(ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        BasicProperties::default(),
    ))
    .await
    .expect("basic.publish");
    let confirmation = t(confirm).await.expect("confirm");
    assert!(confirmation.is_ack(), "publish should be acked");
}

/// A synchronous round trip on `ch` (a passive declare of a queue that exists): once it
/// returns, the broker has routed everything published on `ch` before it, so a later
/// `basic.get` on the same channel sees those messages. (It does not prove a queue has
/// counted them: RabbitMQ answers queue stats ahead of pending deliveries; use
/// `publish_confirmed` when a test checks counts.)
pub async fn sync(ch: &Channel, existing_queue: &str) {
    t(ch.queue_declare(
        existing_queue.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("round trip");
}

/// Starts a consumer with a server-generated tag.
pub async fn consume(ch: &Channel, queue: &str, no_ack: bool) -> Consumer {
    t(ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions {
            no_ack,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("basic.consume")
}

/// The next delivery of `consumer`, failing the test if none comes in time.
pub async fn next(consumer: &mut Consumer) -> Delivery {
    t(consumer.next())
        .await
        .expect("consumer stream ended")
        .expect("delivery error")
}

/// Asserts that `consumer` receives nothing for `wait`.
pub async fn assert_no_delivery(consumer: &mut Consumer, wait: Duration) {
    if let Ok(item) = tokio::time::timeout(wait, consumer.next()).await {
        match item {
            Some(Ok(d)) => panic!("unexpected delivery {:?}", String::from_utf8_lossy(&d.data)),
            Some(Err(e)) => panic!("consumer error {e}"),
            None => panic!("consumer ended"),
        }
    }
}

/// Fetches every message currently in `queue` with `basic.get` (no-ack), as bodies.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(m) = t(ch.basic_get(
        queue.into(),
        lapin::options::BasicGetOptions { no_ack: true },
    ))
    .await
    .expect("basic.get")
    {
        out.push(String::from_utf8_lossy(&m.delivery.data).into_owned());
    }
    out
}

/// Deletes queues and exchanges a test declared, over a fresh connection (the test's own
/// may be closed by then); errors are ignored (best effort).
pub async fn cleanup(b: &TestBroker, queues: &[&str], exchanges: &[&str]) {
    let Ok(conn) = connect_url(b.url()).await else {
        return;
    };
    let Ok(Ok(ch)) = tokio::time::timeout(TIMEOUT, conn.create_channel()).await else {
        return;
    };
    for q in queues {
        let _ = tokio::time::timeout(
            TIMEOUT,
            ch.queue_delete((*q).into(), QueueDeleteOptions::default()),
        )
        .await;
    }
    for x in exchanges {
        let _ = tokio::time::timeout(
            TIMEOUT,
            ch.exchange_delete((*x).into(), ExchangeDeleteOptions::default()),
        )
        .await;
    }
    let _ = tokio::time::timeout(TIMEOUT, conn.close(200, "cleanup".into())).await;
}

/// Body of a delivery as text.
pub fn body(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.data).into_owned()
}

/// A policy as a test sets it: definition values are integers or strings.
pub enum PolicyValue {
    Int(i64),
    Str(&'static str),
}

impl TestBroker {
    /// Sets a policy (`operator`: an operator policy) on vhost `/`: through the core
    /// on an in-process Warren, through the management API (curl) on an external
    /// RabbitMQ, so the same test validates against both.
    pub async fn set_policy(
        &self,
        operator: bool,
        name: &str,
        pattern: &str,
        apply_to: &str,
        priority: i64,
        definition: &[(&str, PolicyValue)],
    ) {
        match &self._server {
            Some(server) => {
                let mut table = amqp_codec_table(definition);
                let spec = warren_core::policy::PolicySpec {
                    name: name.into(),
                    pattern: pattern.into(),
                    apply_to: warren_core::policy::ApplyTo::parse(apply_to).expect("apply-to"),
                    priority,
                    definition: std::mem::take(&mut table),
                };
                let vhost = server.broker().vhost("/").expect("vhost /");
                t(vhost.set_policy(policy_kind(operator), spec))
                    .await
                    .expect("set policy");
            }
            None => {
                let def: Vec<String> = definition
                    .iter()
                    .map(|(k, v)| match v {
                        PolicyValue::Int(i) => format!("\"{k}\":{i}"),
                        PolicyValue::Str(s) => format!("\"{k}\":\"{s}\""),
                    })
                    .collect();
                let pattern = pattern.replace('\\', "\\\\");
                let body = format!(
                    "{{\"pattern\":\"{pattern}\",\"apply-to\":\"{apply_to}\",\"priority\":{priority},\"definition\":{{{}}}}}",
                    def.join(",")
                );
                self.management("PUT", operator, name, Some(&body));
                // RabbitMQ applies policies asynchronously.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }

    /// Clears a policy set with `set_policy`.
    pub async fn clear_policy(&self, operator: bool, name: &str) {
        match &self._server {
            Some(server) => {
                let vhost = server.broker().vhost("/").expect("vhost /");
                t(vhost.clear_policy(policy_kind(operator), name))
                    .await
                    .expect("clear policy");
            }
            None => {
                self.management("DELETE", operator, name, None);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }

    fn management(&self, method: &str, operator: bool, name: &str, body: Option<&str>) {
        let kind = if operator {
            "operator-policies"
        } else {
            "policies"
        };
        let url = format!("http://127.0.0.1:15672/api/{kind}/%2F/{name}");
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-sf", "-u", "guest:guest", "-X", method, "-H"])
            .arg("content-type: application/json")
            .arg(&url);
        if let Some(body) = body {
            cmd.args(["-d", body]);
        }
        let status = cmd.status().expect("run curl");
        assert!(status.success(), "{method} {url} failed");
    }
}

fn policy_kind(operator: bool) -> warren_core::policy::PolicyKind {
    if operator {
        warren_core::policy::PolicyKind::Operator
    } else {
        warren_core::policy::PolicyKind::Regular
    }
}

fn amqp_codec_table(definition: &[(&str, PolicyValue)]) -> amqp_codec::FieldTable {
    let mut table = amqp_codec::FieldTable::new();
    for (k, v) in definition {
        let value = match v {
            PolicyValue::Int(i) => amqp_codec::FieldValue::I64(*i),
            PolicyValue::Str(s) => amqp_codec::FieldValue::long_string(*s),
        };
        table.insert(k.to_string(), value);
    }
    table
}

impl TestBroker {
    /// Turns firehose tracing on or off for vhost `/`: through the core here,
    /// `rabbitmqctl trace_on|trace_off` on an external RabbitMQ.
    pub async fn set_tracing(&self, on: bool) {
        match &self._server {
            Some(server) => {
                let vhost = server.broker().vhost("/").expect("vhost /");
                t(vhost.set_tracing(on)).await.expect("set tracing");
            }
            None => {
                let verb = if on { "trace_on" } else { "trace_off" };
                let status = std::process::Command::new("rabbitmqctl")
                    .args([verb, "-p", "/"])
                    .stdout(std::process::Stdio::null())
                    .status()
                    .expect("run rabbitmqctl");
                assert!(status.success(), "rabbitmqctl {verb}");
            }
        }
    }
}

/// A fresh data directory for a restart test (`<prefix>-<name>-<pid>` under cargo's
/// scratch directory for tests); the test removes it when done.
pub fn restart_dir(prefix: &str, name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts a broker on `dir` and leaves the directory when it stops, so the next
/// broker a restart test starts there recovers what this one stored.
pub async fn start_on(dir: &std::path::Path) -> warren::Server {
    let config = warren::Config {
        data_dir: dir.to_path_buf(),
        remove_data_dir: false,
        ..warren::Config::for_tests()
    };
    t(warren::start(config)).await.expect("warren starts")
}
