//! warren-perf's MQTT mode against a real Warren: the built binary drives the
//! broker's MQTT listener over TCP for about a second per case, and its JSON summary
//! must show every message accounted for.

use serde_json::Value;
use std::process::Command;

async fn broker() -> warren::Server {
    warren::start(warren::Config::for_tests())
        .await
        .expect("broker starts")
}

/// Runs warren-perf with `args` against `server`'s MQTT port; its exit status and
/// JSON summary. The broker lives in this test process, so `--broker-pid` is ours.
async fn perf(server: &warren::Server, args: &[&str]) -> (bool, Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warren-perf"));
    cmd.arg("--mqtt")
        .arg(server.mqtt_addr().to_string())
        .args(["--json", "--quiet", "--drain-timeout", "5"])
        .args(["--broker-pid", &std::process::id().to_string()])
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("warren-perf runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), summary)
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut at = v;
    for p in path {
        at = &at[p];
    }
    at.as_f64()
        .unwrap_or_else(|| panic!("{} missing in {v}", path.join(".")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_and_qos2_deliver_every_message_once_in_order() {
    let server = broker().await;
    for (qos, version) in [("1", "3.1.1"), ("2", "5")] {
        let (ok, s) = perf(
            &server,
            &[
                "--qos",
                qos,
                "--mqtt-version",
                version,
                "--size",
                "256",
                "--inflight",
                "50",
                "--duration",
                "1",
            ],
        )
        .await;
        assert!(ok, "QoS {qos} run failed: {s}");
        let published = num(&s, &["published"]);
        assert!(published > 100.0, "too few messages: {s}");
        assert_eq!(num(&s, &["acked"]), published, "{s}");
        assert_eq!(num(&s, &["consumed"]), published, "{s}");
        for field in ["missing", "duplicates", "reordered", "unknown"] {
            assert_eq!(num(&s, &["accounting", field]), 0.0, "{field}: {s}");
        }
        assert!(num(&s, &["e2e_latency", "p99_us"]) > 0.0, "{s}");
        assert!(num(&s, &["confirm_latency", "count"]) == published, "{s}");
        // CPU per message, the broker's (this process) and the tool's own.
        assert!(num(&s, &["broker", "cpu_us_per_msg"]) > 0.0, "{s}");
        assert!(num(&s, &["perf", "cpu_s"]) >= 0.0, "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_fan_in_and_fan_out_are_counted_per_publisher() {
    let server = broker().await;
    // Three publishers on their own topics, two subscribers on a wildcard: every
    // subscriber gets every publisher's messages, a fixed count each.
    let (ok, s) = perf(
        &server,
        &[
            "--qos",
            "1",
            "-x",
            "3",
            "-y",
            "2",
            "--topic",
            "sensors/{i}/temp",
            "--count",
            "3000",
        ],
    )
    .await;
    assert!(ok, "{s}");
    assert_eq!(s["filter"], "sensors/+/temp");
    assert_eq!(num(&s, &["published"]), 3000.0);
    assert_eq!(num(&s, &["accounting", "expected"]), 6000.0, "{s}");
    assert_eq!(num(&s, &["accounting", "received"]), 6000.0, "{s}");
    assert_eq!(num(&s, &["accounting", "missing"]), 0.0, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_rate_is_kept() {
    let server = broker().await;
    // 300 messages at 1,000/s take about 0.3 s, not the few ms unlimited would.
    let (ok, s) = perf(&server, &["--qos", "1", "--count", "300", "--rate", "1000"]).await;
    assert!(ok, "{s}");
    assert_eq!(num(&s, &["accounting", "received"]), 300.0, "{s}");
    let secs = num(&s, &["publish_seconds"]);
    assert!((0.28..2.0).contains(&secs), "300 at 1,000/s took {secs} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_report_memory_per_client() {
    let server = broker().await;
    let (ok, s) = perf(
        &server,
        &[
            "--idle-connections",
            "200",
            "--idle-subscribe",
            "--qos",
            "1",
            "--duration",
            "0.5",
        ],
    )
    .await;
    assert!(ok, "{s}");
    assert_eq!(num(&s, &["connections"]), 200.0);
    assert_eq!(s["subscribed"], true);
    // Some figure, whatever it is: the test process's RSS moved while holding them.
    assert!(s["broker_kb_per_connection"].is_number(), "{s}");
}
