//! The binary's logs as an operator's collector reads them: `--log-format json`
//! (and `log.console.formatter = json`) gives one JSON object per line, and client
//! connections are logged as RabbitMQ logs them, with peer, user, vhost and the
//! client's connection name; an abnormal close says why.

mod common;

use common::process::{spawn_warren, WarrenProcess};
use common::raw::RawConn;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// A running `warren` and the lines of its standard output; killed when dropped.
struct Logged(WarrenProcess);

impl Drop for Logged {
    fn drop(&mut self) {
        self.0.kill();
    }
}

fn spawn(args: &[&str]) -> Logged {
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("logs-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut all = vec!["--http-port", "0", "--bind", "127.0.0.1"];
    all.extend_from_slice(args);
    Logged(spawn_warren(&all, &data_dir))
}

impl Logged {
    /// Reads lines until one satisfies `want`; returns it.
    fn until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        self.0.until(what, Duration::from_secs(10), want)
    }

    /// The next JSON line whose `msg` contains `text`.
    fn json_line(&mut self, text: &str) -> Value {
        let line = self.until(text, |l| l.contains(text));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// The AMQP port the log announces.
    fn amqp_port(&mut self) -> u16 {
        let line = self.until("AMQP listener", |l| l.contains("AMQP listener on "));
        let rest = line
            .split("AMQP listener on 127.0.0.1:")
            .nth(1)
            .expect("addr");
        rest.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .expect("port")
    }
}

#[tokio::test]
async fn json_logs_carry_connection_open_and_close_with_peer_user_and_vhost() {
    let mut warren = spawn(&["--log-format", "json"]);
    let port = warren.amqp_port();
    warren.until("ready", |l| l.contains("ready"));

    let conn = lapin::Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:{port}/%2F"),
        lapin::ConnectionProperties::default().with_connection_name("orders-service".into()),
    )
    .await
    .expect("connect");
    let accepting = warren.json_line("accepting AMQP connection");
    assert_eq!(accepting["level"], "info");
    let peer = accepting["peer"].as_str().expect("peer field").to_string();
    assert!(peer.starts_with("127.0.0.1:"), "{accepting}");
    assert_eq!(
        accepting["msg"],
        format!("accepting AMQP connection ({peer} -> 127.0.0.1:{port})")
    );
    assert!(
        accepting["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{accepting}"
    );

    let granted = warren.json_line("authenticated and granted access");
    assert_eq!(
        granted["msg"],
        format!(
            "connection ({peer} -> 127.0.0.1:{port} - orders-service): user 'guest' \
             authenticated and granted access to vhost '/'"
        )
    );
    assert_eq!(granted["user"], "guest");
    assert_eq!(granted["vhost"], "/");
    assert_eq!(granted["peer"], peer.as_str());
    assert_eq!(granted["connection_name"], "orders-service");
    assert!(
        granted["client"]
            .as_str()
            .is_some_and(|c| c.contains("lapin")),
        "client properties: {granted}"
    );

    conn.close(200, "bye".into()).await.expect("close");
    let closing = warren.json_line("closing AMQP connection");
    assert_eq!(closing["level"], "info", "a clean close is not a warning");
    assert_eq!(
        closing["msg"],
        format!(
            "closing AMQP connection ({peer} -> 127.0.0.1:{port} - orders-service, \
             vhost: '/', user: 'guest')"
        )
    );

    // A client that vanishes without closing: a warning with RabbitMQ's reason.
    let (raw, _) = RawConn::open(format!("127.0.0.1:{port}").parse().unwrap()).await;
    warren.json_line("authenticated and granted access");
    raw.abort();
    let vanished = warren.json_line("closing AMQP connection");
    assert_eq!(vanished["level"], "warning");
    assert_eq!(
        vanished["reason"],
        "client unexpectedly closed TCP connection"
    );
    assert!(
        vanished["msg"]
            .as_str()
            .is_some_and(|m| m.ends_with("): client unexpectedly closed TCP connection")),
        "{vanished}"
    );
    // Every line the broker wrote is a JSON object with time, level and msg.
    for line in &warren.0.log {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["time"].is_string() && v["level"].is_string() && v["msg"].is_string(),
            "{line}"
        );
    }
}

#[test]
fn the_configuration_file_chooses_json_and_the_flag_wins_over_it() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("logs-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("rabbitmq.conf");
    std::fs::write(&conf, "log.console.formatter = json\n").unwrap();
    let conf = conf.to_str().unwrap();

    let mut warren = spawn(&["--config", conf]);
    let ready = warren.until("ready", |l| l.contains("ready"));
    let v: Value = serde_json::from_str(&ready).expect("a JSON line");
    assert_eq!(
        v["msg"],
        format!("Warren {} ready", env!("CARGO_PKG_VERSION"))
    );
    drop(warren);

    let mut warren = spawn(&["--config", conf, "--log-format", "text"]);
    let ready = warren.until("ready", |l| l.contains("ready"));
    assert!(
        serde_json::from_str::<Value>(&ready).is_err() && ready.contains(" INFO "),
        "plain text: {ready}"
    );
}

#[test]
fn an_unknown_log_format_is_refused_with_the_choices() {
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--log-format", "xml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value 'xml'") && err.contains("text") && err.contains("json"),
        "{err}"
    );
}
