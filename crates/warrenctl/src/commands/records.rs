//! `list_delivery_records`: one message's story from a Warren queue that keeps
//! delivery records (Warren's own verb; RabbitMQ has no such records).

use super::columns::{same, Column};
use super::{missing_vhost, Ctx, Listing};
use crate::failure::Outcome;
use crate::path::{api_path, segment};

const COLUMNS: &[Column] = &[
    same("time", "/time"),
    same("timestamp", "/timestamp"),
    same("queue", "/queue"),
    same("message_id", "/message_id"),
    same("event", "/event"),
    same("user", "/user"),
    same("peer", "/peer"),
    same("connection", "/connection"),
    same("channel", "/channel"),
    same("exchange", "/exchange"),
    same("routing_key", "/routing_key"),
    same("consumer_tag", "/consumer_tag"),
    same("redelivered", "/redelivered"),
    same("delivery_count", "/delivery_count"),
    same("requeue", "/requeue"),
    same("reason", "/reason"),
];

pub fn list(ctx: &Ctx, message_id: &str, queue: Option<&str>, asked: &[String]) -> Outcome {
    let vhost = ctx.vhost();
    let path = match queue {
        Some(q) => api_path(&["queues", vhost, q, "delivery-records"]),
        None => api_path(&["delivery-records", vhost]),
    };
    ctx.list(Listing {
        banner: vec![format!(
            "Listing delivery records of message '{message_id}' in vhost {vhost} ..."
        )],
        path: format!("{path}?message_id={}", segment(message_id)),
        offered: COLUMNS,
        defaults: &[
            "time",
            "queue",
            "event",
            "user",
            "peer",
            "consumer_tag",
            "reason",
        ],
        asked,
        missing: missing_vhost(vhost),
    })
}
