//! `list_queues`, `purge_queue`, `delete_queue`.

use super::columns::{same, Column};
use super::{missing_vhost, Ctx, Listing};
use crate::client::ApiError;
use crate::failure::{Failure, Outcome, EX_UNAVAILABLE, EX_USAGE};
use crate::path::api_path;
use serde_json::Value;

/// rabbitmqctl's queue info keys that the management API reports.
const COLUMNS: &[Column] = &[
    same("name", "/name"),
    same("durable", "/durable"),
    same("auto_delete", "/auto_delete"),
    same("arguments", "/arguments"),
    same("policy", "/policy"),
    same("exclusive", "/exclusive"),
    same("exclusive_consumer_tag", "/exclusive_consumer_tag"),
    same("messages_ready", "/messages_ready"),
    same("messages_unacknowledged", "/messages_unacknowledged"),
    same("messages", "/messages"),
    same("messages_ready_ram", "/messages_ready_ram"),
    same(
        "messages_unacknowledged_ram",
        "/messages_unacknowledged_ram",
    ),
    same("messages_ram", "/messages_ram"),
    same("messages_persistent", "/messages_persistent"),
    same("message_bytes", "/message_bytes"),
    same("message_bytes_ready", "/message_bytes_ready"),
    same(
        "message_bytes_unacknowledged",
        "/message_bytes_unacknowledged",
    ),
    same("message_bytes_ram", "/message_bytes_ram"),
    same("message_bytes_persistent", "/message_bytes_persistent"),
    same("head_message_timestamp", "/head_message_timestamp"),
    same("consumers", "/consumers"),
    same("consumer_utilisation", "/consumer_utilisation"),
    same("consumer_capacity", "/consumer_capacity"),
    same("memory", "/memory"),
    same("state", "/state"),
    same("type", "/type"),
    same("node", "/node"),
    same("vhost", "/vhost"),
];

pub fn list(ctx: &Ctx, asked: &[String]) -> Outcome {
    let vhost = ctx.vhost();
    ctx.list(Listing {
        banner: vec![
            format!(
                "Timeout: {:.1} seconds ...",
                ctx.settings.timeout.as_secs_f64()
            ),
            format!("Listing queues for vhost {vhost} ..."),
        ],
        path: api_path(&["queues", vhost]),
        offered: COLUMNS,
        defaults: &["name", "messages"],
        asked,
        missing: missing_vhost(vhost),
    })
}

pub fn purge(ctx: &Ctx, name: &str) -> Outcome {
    let vhost = ctx.vhost();
    ctx.out
        .info(&format!("Purging queue '{name}' in vhost '{vhost}' ..."));
    ctx.client
        .delete(&api_path(&["queues", vhost, name, "contents"]), None)
        .map_err(|e| ctx.fail_or(e, || missing_queue(name, vhost)))
}

fn missing_queue(name: &str, vhost: &str) -> Failure {
    Failure::new(
        EX_UNAVAILABLE,
        format!("Queue '{name}' in vhost '{vhost}' does not exist"),
    )
}

pub fn delete(ctx: &Ctx, name: &str, if_empty: bool, if_unused: bool) -> Outcome {
    let vhost = ctx.vhost();
    let mut conditions = Vec::new();
    if if_empty {
        conditions.push("if queue is empty ");
    }
    if if_unused {
        conditions.push("if queue is unused ");
    }
    ctx.out.info(&format!(
        "Deleting queue '{name}' on vhost '{vhost}' {}...",
        conditions.join("and ")
    ));
    let path = api_path(&["queues", vhost, name]);
    // rabbitmqctl reports how many ready messages went with the queue; the API's
    // DELETE does not, so the count is read just before.
    let queue = ctx.get_or(&path, || Failure::new(EX_USAGE, "Queue not found"))?;
    let mut query = Vec::new();
    if if_empty {
        query.push("if-empty=true");
    }
    if if_unused {
        query.push("if-unused=true");
    }
    let target = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    match ctx.client.delete(&target, None) {
        Ok(()) => {
            let ready = queue
                .get("messages_ready")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            ctx.out.result(&format!(
                "Queue was successfully deleted with {ready} ready messages"
            ));
            Ok(())
        }
        Err(ApiError::NotFound) => Err(Failure::new(EX_USAGE, "Queue not found")),
        Err(ApiError::Rejected {
            status: 400,
            reason,
        }) => Err(refusal(&reason)),
        Err(e) => Err(ctx.fail(e)),
    }
}

/// rabbitmqctl's words for a conditional delete the broker refused.
fn refusal(reason: &str) -> Failure {
    let reason_lower = reason.to_lowercase();
    if reason_lower.contains("not empty") || reason_lower.contains("not_empty") {
        Failure::new(EX_USAGE, "Queue is not empty")
    } else if reason_lower.contains("in use") || reason_lower.contains("in_use") {
        Failure::new(EX_USAGE, "Queue is in use")
    } else {
        Failure::new(EX_USAGE, reason)
    }
}
