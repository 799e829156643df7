//! `status` and `await_startup`.

use super::Ctx;
use crate::client::{ApiError, Client};
use crate::failure::{Failure, Outcome, EX_TEMPFAIL};
use crate::output::Formatter;
use crate::path::api_path;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long `await_startup` waits without `--timeout` (rabbitmqctl's default).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);
const RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// One attempt's bound, so a listener that accepts but never answers is retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits until the API answers. Wrong credentials end the wait at once: the broker
/// is up and waiting longer will not help.
pub fn await_startup(ctx: &Ctx) -> Outcome {
    let timeout = ctx.explicit_timeout.unwrap_or(STARTUP_TIMEOUT);
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let client = Client::new(&ctx.settings, left.min(ATTEMPT_TIMEOUT).max(RETRY_INTERVAL));
        let last = match client.get("overview") {
            Ok(_) => return Ok(()),
            Err(e @ (ApiError::Unauthorized | ApiError::Forbidden(_))) => return Err(ctx.fail(e)),
            // Not answering yet, or answering that it is still starting.
            Err(other) => other.to_string(),
        };
        if Instant::now() + RETRY_INTERVAL >= deadline {
            return Err(Failure::bare(
                EX_TEMPFAIL,
                format!(
                    "Error: the management API at {} did not answer within {:.1} seconds (last attempt: {last})",
                    ctx.client.root(),
                    timeout.as_secs_f64()
                ),
            ));
        }
        std::thread::sleep(RETRY_INTERVAL);
    }
}

pub fn status(ctx: &Ctx) -> Outcome {
    let overview = ctx.client.get("overview").map_err(|e| ctx.fail(e))?;
    let node_name = overview.get("node").and_then(Value::as_str).unwrap_or("");
    ctx.out.info(&format!("Status of node {node_name} ..."));
    // Node details and the vhost count enrich the report; a broker that lacks them
    // still gets one.
    let node = ctx
        .client
        .get(&api_path(&["nodes", node_name]))
        .unwrap_or(Value::Null);
    let vhosts = ctx
        .client
        .get("vhosts")
        .ok()
        .and_then(|v| v.as_array().map(Vec::len));
    let report = report(&overview, &node, vhosts);
    match ctx.out.formatter {
        Formatter::Json => ctx.out.document(&report),
        Formatter::Tsv | Formatter::Table => ctx.out.result(&render(&report)),
    }
    Ok(())
}

/// The status facts, as one JSON object (the `--formatter json` output).
fn report(overview: &Value, node: &Value, vhosts: Option<usize>) -> Value {
    let get = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let mut alarms = Vec::new();
    if node.get("mem_alarm") == Some(&Value::Bool(true)) {
        alarms.push(json!("memory"));
    }
    if node.get("disk_free_alarm") == Some(&Value::Bool(true)) {
        alarms.push(json!("disk"));
    }
    let totals = overview.get("object_totals").cloned().unwrap_or(json!({}));
    json!({
        "node_name": get(overview, "node"),
        "os_pid": get(node, "os_pid"),
        "uptime": node.get("uptime").and_then(Value::as_u64).map(|ms| ms / 1000),
        "product_name": get(overview, "product_name"),
        "product_version": get(overview, "product_version"),
        "rabbitmq_version": overview.get("rabbitmq_version").or(overview.get("product_version")).cloned(),
        "erlang_version": get(overview, "erlang_version"),
        "alarms": alarms,
        "memory": {"total": get(node, "mem_used"), "limit": get(node, "mem_limit")},
        "file_descriptors": {
            "total_used": get(node, "fd_used"), "total_limit": get(node, "fd_total"),
            "sockets_used": get(node, "sockets_used"), "sockets_limit": get(node, "sockets_total"),
        },
        "disk_free": get(node, "disk_free"),
        "disk_free_limit": get(node, "disk_free_limit"),
        "totals": {
            "connection_count": get(&totals, "connections"),
            "queue_count": get(&totals, "queues"),
            "virtual_host_count": vhosts,
        },
        "listeners": get(overview, "listeners"),
    })
}

/// rabbitmqctl's status sections, each with the lines whose facts the API gave.
fn render(r: &Value) -> String {
    let mut out = Sections::default();
    out.section(
        "Runtime",
        vec![
            ("OS PID", text(&r["os_pid"])),
            ("Uptime (seconds)", text(&r["uptime"])),
            ("Product", product(r)),
            ("RabbitMQ version", text(&r["rabbitmq_version"])),
            ("Node name", text(&r["node_name"])),
            ("Erlang version", text(&r["erlang_version"])),
        ],
    );
    let alarms: Vec<String> = r["alarms"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(text)
                .map(|a| format!("{a} alarm"))
                .collect()
        })
        .unwrap_or_default();
    out.block(
        "Alarms",
        if alarms.is_empty() {
            vec!["(none)".into()]
        } else {
            alarms
        },
    );
    out.section(
        "Memory",
        vec![
            ("Total memory used", gb(&r["memory"]["total"])),
            ("Memory high watermark", gb(&r["memory"]["limit"])),
        ],
    );
    let fd = &r["file_descriptors"];
    out.section(
        "File Descriptors",
        vec![
            ("Total", used_of(&fd["total_used"], &fd["total_limit"])),
            (
                "Sockets",
                used_of(&fd["sockets_used"], &fd["sockets_limit"]),
            ),
        ],
    );
    out.section(
        "Free Disk Space",
        vec![
            ("Low free disk space watermark", gb(&r["disk_free_limit"])),
            ("Free disk space", gb(&r["disk_free"])),
        ],
    );
    let t = &r["totals"];
    out.section(
        "Totals",
        vec![
            ("Connection count", text(&t["connection_count"])),
            ("Queue count", text(&t["queue_count"])),
            ("Virtual host count", text(&t["virtual_host_count"])),
        ],
    );
    let listeners: Vec<String> = r["listeners"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    format!(
                        "Interface: {}, port: {}, protocol: {}",
                        text(&l["ip_address"]).unwrap_or_default(),
                        text(&l["port"]).unwrap_or_default(),
                        text(&l["protocol"]).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if !listeners.is_empty() {
        out.block("Listeners", listeners);
    }
    out.0.trim_end().to_string()
}

/// The report being written: titled blocks separated by blank lines.
#[derive(Default)]
struct Sections(String);

impl Sections {
    fn block(&mut self, title: &str, lines: Vec<String>) {
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(&format!("{title}\n\n"));
        for l in lines {
            self.0.push_str(&l);
            self.0.push('\n');
        }
    }

    /// A block of `label: value` lines, left out when the API gave none of them.
    fn section(&mut self, title: &str, lines: Vec<(&str, Option<String>)>) {
        let lines: Vec<String> = lines
            .into_iter()
            .filter_map(|(label, v)| v.map(|v| format!("{label}: {v}")))
            .collect();
        if !lines.is_empty() {
            self.block(title, lines);
        }
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The broker's own name and version when it is not RabbitMQ (Warren reports the
/// RabbitMQ version it is compatible with as `rabbitmq_version`).
fn product(r: &Value) -> Option<String> {
    let name = text(&r["product_name"]).filter(|n| n != "RabbitMQ")?;
    Some(match text(&r["product_version"]) {
        Some(version) => format!("{name} {version}"),
        None => name,
    })
}

fn gb(v: &Value) -> Option<String> {
    v.as_f64().map(|b| format!("{:.4} gb", b / 1e9))
}

fn used_of(used: &Value, limit: &Value) -> Option<String> {
    Some(format!("{}, limit: {}", text(used)?, text(limit)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_what_the_api_gave() {
        let overview = json!({"node": "warren@h", "rabbitmq_version": "3.10.8",
            "product_name": "Warren", "product_version": "0.1.0", "erlang_version": "",
            "object_totals": {"connections": 2, "queues": 3},
            "listeners": [{"ip_address": "::", "port": 5672, "protocol": "amqp"}]});
        let text = render(&report(&overview, &Value::Null, Some(1)));
        assert!(
            text.starts_with(
                "Runtime\n\nProduct: Warren 0.1.0\nRabbitMQ version: 3.10.8\nNode name: warren@h\n\n"
            ),
            "{text}"
        );
        assert!(text.contains("Alarms\n\n(none)\n"), "{text}");
        assert!(
            text.contains("Queue count: 3\nVirtual host count: 1"),
            "{text}"
        );
        assert!(
            text.contains("Interface: ::, port: 5672, protocol: amqp"),
            "{text}"
        );
        assert!(!text.contains("Memory"), "{text}");
    }
}
