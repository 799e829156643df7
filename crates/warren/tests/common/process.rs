//! The `warren` binary as a child process, for the tests that need a real process:
//! killed, signalled, restarted on its data directory, or read through its log.
//!
//! Every listener is on a free port unless the arguments say otherwise (a RabbitMQ on
//! this machine may hold the default ports), and the log is read line by line from
//! its standard output on a thread of its own; warnings and errors are echoed into
//! the test's output.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub struct WarrenProcess {
    pub child: Child,
    lines: Receiver<String>,
    /// Every log line read so far.
    pub log: Vec<String>,
}

/// Starts the binary with `args` on `data_dir`. `--amqp-port` defaults to 0 here too
/// unless `args` names it.
pub fn spawn_warren(args: &[&str], data_dir: &Path) -> WarrenProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warren"));
    if !args.contains(&"--amqp-port") {
        command.args(["--amqp-port", "0"]);
    }
    let mut child = command
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("WARREN_HTTP_PORT", "0")
        .env("WARREN_MQTT_PORT", "0")
        .env("WARREN_STOMP_PORT", "0")
        .env("WARREN_MQTT_WS_PORT", "0")
        .env("WARREN_STOMP_WS_PORT", "0")
        .env("WARREN_LOG", "info")
        .env_remove("WARREN_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("warren starts");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("WARN") || line.contains("ERROR") {
                eprintln!("  warren[{pid}]: {line}");
            }
            let _ = tx.send(line);
        }
    });
    WarrenProcess {
        child,
        lines,
        log: Vec::new(),
    }
}

impl WarrenProcess {
    /// Reads the log until a line satisfies `want` and returns it; panics with the
    /// log so far if the process exits or `timeout` passes first.
    pub fn until(&mut self, what: &str, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = self.child.try_wait().ok().flatten();
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "no log line {what} (process: {}); the log:\n{}",
            status.map_or("running".to_string(), |s| s.to_string()),
            self.log.join("\n")
        );
    }

    /// Waits for the "ready" line.
    pub fn wait_ready(&mut self, timeout: Duration) {
        self.until("ready", timeout, |l| l.trim_end().ends_with(" ready"));
    }

    /// The addresses the log announced for `protocol`'s listeners ("AMQP", "MQTT",
    /// "STOMP", ...), in log order.
    pub fn listeners(&self, protocol: &str) -> Vec<SocketAddr> {
        let prefix = format!("{protocol} listener on ");
        self.log
            .iter()
            .filter_map(|l| l.split(prefix.as_str()).nth(1))
            .map(|a| a.trim().parse().expect("listener address"))
            .collect()
    }

    /// The first address the log announced for `protocol`.
    pub fn listener(&self, protocol: &str) -> SocketAddr {
        *self
            .listeners(protocol)
            .first()
            .unwrap_or_else(|| panic!("no {protocol} listener line in:\n{}", self.log.join("\n")))
    }

    /// SIGKILL (`Child::kill` on Unix), and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM.
    pub fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        assert!(sent.expect("kill runs").success());
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "warren did not exit in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
