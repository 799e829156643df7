//! `overview`, `whoami`, `nodes`: what the broker is and how busy.

use crate::auth::{Caller, Level};
use crate::error::{ApiError, ApiResult};
use crate::extract::P;
use crate::json::{rate, Json};
use crate::ApiState;
use axum::extract::State;
use axum::Extension;
use serde_json::{json, Value};
use warren_core::queue::QueueTotals;

/// The version Warren reports as `rabbitmq_version` (what clients and tools compare
/// features against), and its own.
pub const RABBITMQ_VERSION: &str = "3.10.8";
pub const WARREN_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) fn exchange_types() -> Value {
    json!([
        {"name": "direct", "description": "AMQP direct exchange, as per the AMQP specification", "enabled": true},
        {"name": "fanout", "description": "AMQP fanout exchange, as per the AMQP specification", "enabled": true},
        {"name": "headers", "description": "AMQP headers exchange, as per the AMQP specification", "enabled": true},
        {"name": "topic", "description": "AMQP topic exchange, as per the AMQP specification", "enabled": true},
    ])
}

pub async fn overview(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let vhosts = super::vhosts_for(&state, &caller, None)?;
    let mut exchanges = 0u64;
    let mut totals = QueueTotals::default();
    for vhost in &vhosts {
        exchanges += vhost.exchanges().len() as u64;
        totals.merge(&vhost.queue_totals());
    }
    let QueueTotals {
        queues,
        ready,
        unacked,
        consumers,
        published,
        delivered,
        acked,
        redelivered,
    } = totals;
    let r = state.rates.totals();
    let listeners: Vec<Value> = state
        .amqp_addrs
        .iter()
        .map(|a| listener(&state, "amqp", a))
        .chain(std::iter::once(listener(&state, "http", &state.http_addr)))
        .collect();
    Ok(Json(json!({
        "management_version": RABBITMQ_VERSION,
        "rates_mode": "basic",
        "sample_retention_policies": {"global": [600, 3600, 28800, 86400], "basic": [600, 3600], "detailed": [600]},
        "exchange_types": exchange_types(),
        "product_version": WARREN_VERSION,
        "product_name": "Warren",
        "rabbitmq_version": RABBITMQ_VERSION,
        "cluster_name": &*state.node,
        "erlang_version": "",
        "erlang_full_version": "",
        "disable_stats": false,
        "enable_queue_totals": false,
        "message_stats": {
            "publish": published, "publish_details": rate(r.publish),
            "deliver_get": delivered, "deliver_get_details": rate(r.deliver_get),
            "ack": acked, "ack_details": rate(r.ack),
            "redeliver": redelivered, "redeliver_details": rate(r.redeliver),
        },
        "queue_totals": {
            "messages": ready + unacked, "messages_details": rate(r.messages),
            "messages_ready": ready, "messages_ready_details": rate(r.ready),
            "messages_unacknowledged": unacked, "messages_unacknowledged_details": rate(r.unacked),
        },
        "object_totals": {
            "channels": state.broker.registry.connections().iter().map(|c| c.channels().len()).sum::<usize>(),
            "connections": state.broker.connection_count(),
            "consumers": consumers,
            "exchanges": exchanges,
            "queues": queues,
        },
        "statistics_db_event_queue": 0,
        "node": &*state.node,
        "listeners": listeners,
        "contexts": [{"node": &*state.node, "description": "RabbitMQ Management", "path": "/", "port": state.http_addr.port().to_string()}],
    })))
}

fn listener(state: &ApiState, protocol: &str, addr: &std::net::SocketAddr) -> Value {
    json!({
        "node": &*state.node,
        "protocol": protocol,
        "ip_address": addr.ip().to_string(),
        "port": addr.port(),
        "socket_opts": {},
    })
}

pub async fn whoami(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(json!({ "name": &*caller.0.name, "tags": caller.0.tags }))
}

fn node_json(state: &ApiState) -> Value {
    let uptime_ms = state.started.elapsed().as_millis() as u64;
    let readings = state.broker.resource_readings();
    json!({
        "name": &*state.node,
        "type": "disc",
        "running": true,
        "os_pid": std::process::id().to_string(),
        "uptime": uptime_ms,
        "processors": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "rates_mode": "basic",
        "mem_alarm": state.broker.memory_alarm(),
        "disk_free_alarm": state.broker.disk_alarm(),
        "mem_used": resident_bytes(),
        "mem_limit": readings.memory_limit,
        "disk_free_limit": readings.disk_free_limit,
        "disk_free": readings.disk_free,
        "partitions": [],
        "exchange_types": exchange_types(),
        "auth_mechanisms": [
            {"name": "PLAIN", "description": "SASL PLAIN authentication mechanism", "enabled": true},
            {"name": "AMQPLAIN", "description": "QPid AMQPLAIN mechanism", "enabled": true},
        ],
        "applications": [{"name": "warren", "description": "Warren message broker", "version": WARREN_VERSION}],
        "cluster_links": [],
    })
}

/// The broker's resident memory, from /proc (0 where there is none).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

pub async fn nodes(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Monitoring)?;
    Ok(Json(json!([node_json(&state)])))
}

pub async fn node(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Monitoring)?;
    if name != *state.node {
        return Err(ApiError::not_found());
    }
    Ok(Json(node_json(&state)))
}
