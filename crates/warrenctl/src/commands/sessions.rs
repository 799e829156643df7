//! What clients have open: `list_connections`, `list_channels`, `list_consumers`,
//! and `close_connection`.
//!
//! The API has no Erlang pids, so rabbitmqctl's `pid` and `channel_pid` columns show
//! the channel's name (`127.0.0.1:5000 -> 127.0.0.1:5672 (1)`), which identifies it as
//! well, and `close_connection` takes a connection's name instead of a pid.

use super::columns::{col, same, Column, Field};
use super::{missing_vhost, unsupported, Ctx, Listing};
use crate::failure::{Failure, Outcome, EX_UNAVAILABLE};
use crate::path::api_path;

const CONNECTION_COLUMNS: &[Column] = &[
    same("name", "/name"),
    same("user", "/user"),
    same("vhost", "/vhost"),
    same("peer_host", "/peer_host"),
    same("peer_port", "/peer_port"),
    same("host", "/host"),
    same("port", "/port"),
    same("state", "/state"),
    same("protocol", "/protocol"),
    same("channels", "/channels"),
    same("channel_max", "/channel_max"),
    same("frame_max", "/frame_max"),
    same("timeout", "/timeout"),
    same("auth_mechanism", "/auth_mechanism"),
    same("ssl", "/ssl"),
    same("client_properties", "/client_properties"),
    same("connected_at", "/connected_at"),
    same("recv_oct", "/recv_oct"),
    same("recv_cnt", "/recv_cnt"),
    same("send_oct", "/send_oct"),
    same("send_cnt", "/send_cnt"),
    same("send_pend", "/send_pend"),
    same("node", "/node"),
    same("type", "/type"),
];

const CHANNEL_COLUMNS: &[Column] = &[
    col("pid", Field::At("/name")),
    same("name", "/name"),
    col("connection", Field::At("/connection_details/name")),
    same("number", "/number"),
    same("user", "/user"),
    same("vhost", "/vhost"),
    same("transactional", "/transactional"),
    same("confirm", "/confirm"),
    same("consumer_count", "/consumer_count"),
    same("messages_unacknowledged", "/messages_unacknowledged"),
    same("messages_uncommitted", "/messages_uncommitted"),
    same("acks_uncommitted", "/acks_uncommitted"),
    same("messages_unconfirmed", "/messages_unconfirmed"),
    same("prefetch_count", "/prefetch_count"),
    same("global_prefetch_count", "/global_prefetch_count"),
    same("state", "/state"),
    same("node", "/node"),
];

const CONSUMER_COLUMNS: &[Column] = &[
    col("queue_name", Field::At("/queue/name")),
    col("channel_pid", Field::At("/channel_details/name")),
    col(
        "connection_name",
        Field::At("/channel_details/connection_name"),
    ),
    same("consumer_tag", "/consumer_tag"),
    same("ack_required", "/ack_required"),
    same("prefetch_count", "/prefetch_count"),
    same("active", "/active"),
    same("activity_status", "/activity_status"),
    same("exclusive", "/exclusive"),
    same("arguments", "/arguments"),
];

pub fn list_connections(ctx: &Ctx, asked: &[String]) -> Outcome {
    ctx.list(Listing {
        banner: vec!["Listing connections ...".into()],
        path: "connections".into(),
        offered: CONNECTION_COLUMNS,
        defaults: &["user", "peer_host", "peer_port", "state"],
        asked,
        missing: unsupported(ctx, "connections"),
    })
}

pub fn list_channels(ctx: &Ctx, asked: &[String]) -> Outcome {
    ctx.list(Listing {
        banner: vec!["Listing channels ...".into()],
        path: "channels".into(),
        offered: CHANNEL_COLUMNS,
        defaults: &["pid", "user", "consumer_count", "messages_unacknowledged"],
        asked,
        missing: unsupported(ctx, "channels"),
    })
}

pub fn list_consumers(ctx: &Ctx, asked: &[String]) -> Outcome {
    let vhost = ctx.vhost();
    ctx.list(Listing {
        banner: vec![format!("Listing consumers in vhost {vhost} ...")],
        path: api_path(&["consumers", vhost]),
        offered: CONSUMER_COLUMNS,
        defaults: &[
            "queue_name",
            "channel_pid",
            "consumer_tag",
            "ack_required",
            "prefetch_count",
            "active",
            "arguments",
        ],
        asked,
        missing: missing_vhost(vhost),
    })
}

pub fn close(ctx: &Ctx, name: &str, explanation: &str) -> Outcome {
    ctx.out.info(&format!(
        "Closing connection {name}, reason: {explanation}..."
    ));
    ctx.client
        .delete(&api_path(&["connections", name]), Some(explanation))
        .map_err(|e| {
            ctx.fail_or(e, || {
                Failure::new(
                    EX_UNAVAILABLE,
                    format!("Connection \"{name}\" does not exist"),
                )
            })
        })
}
