//! The `warren` binary as operators run it: flags, the listener log line, IPv4 and
//! IPv6 on the default (wildcard) bind, and a clean shutdown on SIGTERM that closes
//! client connections with 320 CONNECTION_FORCED.

mod common;

use common::process::spawn_warren;
use common::raw::{method_frame, RawConn};
use std::io::{BufRead, BufReader};
use std::net::{Ipv6Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the binary with `args` and returns it with the ports its log announces.
fn spawn(args: &[&str]) -> (Child, Vec<SocketAddr>) {
    let (child, addrs, _) = spawn_logged(args);
    (child, addrs)
}

/// As `spawn`, also returning the log lines up to "ready".
fn spawn_logged(args: &[&str]) -> (Child, Vec<SocketAddr>, Vec<String>) {
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("binary-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut warren = spawn_warren(args, &data_dir);
    warren.wait_ready(Duration::from_secs(10));
    let addrs = warren.listeners("AMQP");
    let mut log = std::mem::take(&mut warren.log);
    log.pop(); // the "ready" line
    (warren.child, addrs, log)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(status.expect("kill runs").success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("warren did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ipv6_loopback_available() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

#[test]
fn help_names_every_flag_and_its_environment_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--amqp-port",
        "--http-port",
        "--bind",
        "--data-dir",
        "--log-level",
        "--amqps-port",
        "--tls-cert",
        "--tls-key",
        "--tls-ca",
        "--tls-verify-peer",
        "--tls-fail-if-no-peer-cert",
        "--log-format",
        "--prometheus-port",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}:\n{help}");
    }
    for env in [
        "WARREN_AMQP_PORT",
        "WARREN_BIND",
        "WARREN_DATA_DIR",
        "WARREN_LOG",
        "WARREN_AMQPS_PORT",
        "WARREN_TLS_CERT",
        "WARREN_TLS_KEY",
        "WARREN_TLS_CA",
        "WARREN_TLS_VERIFY_PEER",
        "WARREN_TLS_FAIL_IF_NO_PEER_CERT",
        "WARREN_LOG_FORMAT",
        "WARREN_PROMETHEUS_PORT",
    ] {
        assert!(help.contains(env), "--help mentions {env}:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_bind_serves_ipv4_and_ipv6_loopback_on_the_logged_port() {
    let (mut child, addrs) = spawn(&["--amqp-port", "0"]);
    let port = addrs.first().expect("a listener line").port();
    assert_ne!(port, 0, "the log names the port picked");
    assert!(
        addrs.iter().all(|a| a.port() == port),
        "one port for every family: {addrs:?}"
    );

    let (conn, _) = RawConn::open(SocketAddr::from(([127, 0, 0, 1], port))).await;
    conn.close().await;
    if ipv6_loopback_available() {
        // Clients that resolve localhost to ::1 must connect, as guest from loopback.
        let (conn, _) = RawConn::open(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).await;
        conn.close().await;
    }
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_connections_with_320_and_exits_cleanly() {
    let (mut child, addrs) = spawn(&["--amqp-port", "0", "--bind", "127.0.0.1"]);
    assert_eq!(addrs.len(), 1, "--bind limits the listeners: {addrs:?}");
    let (mut conn, _) = RawConn::open(addrs[0]).await;
    conn.open_channel(1).await;
    sigterm(&child);
    let close = conn.expect_connection_close().await;
    assert_eq!(close.code, 320, "{close:?}");
    assert!(close.text.starts_with("CONNECTION_FORCED"), "{close:?}");
    conn.send_lossy(&method_frame(0, 10, 51, &[])).await;
    assert!(wait_exit(&mut child).success());
}

#[test]
fn environment_variables_configure_the_listener() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("binary-env-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .env("WARREN_AMQP_PORT", port.to_string())
        .env("WARREN_STOMP_PORT", "0")
        .env("WARREN_MQTT_PORT", "0")
        .env("WARREN_MQTT_WS_PORT", "0")
        .env("WARREN_STOMP_WS_PORT", "0")
        .env("WARREN_BIND", "127.0.0.1")
        .env("WARREN_DATA_DIR", &data_dir)
        .env("WARREN_HTTP_PORT", "0")
        .env("WARREN_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut announced = None;
    let mut http = None;
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(addr) = line.split("AMQP listener on ").nth(1) {
            announced = Some(addr.trim().to_string());
        }
        if let Some(addr) = line.split("HTTP API listener on ").nth(1) {
            http = Some(addr.trim().to_string());
        }
        if line.contains("ready") {
            break;
        }
    }
    assert_eq!(
        announced.as_deref(),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    // Port 0 picked a free port, and the log says which.
    let http = http.expect("the HTTP listener is announced");
    assert!(
        http.starts_with("127.0.0.1:") && !http.ends_with(":0"),
        "{http}"
    );
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

/// A configuration file for one test, in cargo's scratch directory.
fn config_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}.conf", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_conf_file_configures_listener_defaults_and_limits() {
    let path = config_file(
        "warren",
        "# as an operator would write it for RabbitMQ\n\
         listeners.tcp.default = 127.0.0.1:5999\n\
         default_user = admin\n\
         default_pass = s3cret\n\
         default_vhost = prod\n\
         loopback_users = none\n\
         heartbeat = 7\n\
         channel_max = 64\n\
         no.such.key = 1\n",
    );
    // The flag wins over the file's port (5999 may be taken; 0 never is).
    let (mut child, addrs, log) =
        spawn_logged(&["--config", path.to_str().unwrap(), "--amqp-port", "0"]);
    assert_eq!(addrs.len(), 1, "the file's bind address applies: {addrs:?}");
    assert_eq!(addrs[0].ip().to_string(), "127.0.0.1");
    assert_ne!(addrs[0].port(), 5999);
    assert!(
        log.iter()
            .any(|l| l.contains(":9: no.such.key ignored: unknown key")),
        "the unknown key is named with its line: {log:?}"
    );
    let url = format!("amqp://admin:s3cret@127.0.0.1:{}/prod", addrs[0].port());
    let conn = common::connect_url(&url)
        .await
        .expect("the default user logs in");
    assert_eq!(conn.configuration().heartbeat(), 7);
    assert_eq!(conn.configuration().channel_max(), 64);
    let guest = format!("amqp://guest:guest@127.0.0.1:{}/%2F", addrs[0].port());
    assert!(
        common::connect_url(&guest).await.is_err(),
        "no guest when default_user is set"
    );
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_bad_value_in_the_configuration_file_refuses_to_start_and_names_the_line() {
    let path = config_file("bad", "heartbeat = 30\nframe_max = lots\n");
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2: frame_max: expected an integer in range, found \"lots\""),
        "{stderr}"
    );
    let _ = std::fs::remove_file(path);
}
