//! `connections`, `channels`, `consumers`: who is connected, from the broker's
//! registry (filled by the protocol adapters). `DELETE /api/connections/{name}`
//! closes one with 320 CONNECTION_FORCED and the `X-Reason` header as its reason.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{P, Q};
use crate::json::{rate, table_to_json, Json};
use crate::listing::{list, Listed, Params};
use crate::ApiState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use serde_json::{json, Value};
use std::sync::Arc;
use warren_core::registry::{ChannelEntry, ConnectionEntry, ConsumerInfo};

/// RabbitMQ's reason when the request gives none.
const DEFAULT_REASON: &str = "Closed via management plugin";

struct ConnectionItem<'a> {
    c: Arc<ConnectionEntry>,
    state: &'a ApiState,
}

impl Listed for ConnectionItem<'_> {
    fn name(&self) -> &str {
        &self.c.info.name
    }
    fn vhost(&self) -> &str {
        &self.c.info.vhost
    }
    fn to_json(&self) -> Value {
        connection_json(self.state, &self.c)
    }
}

fn connection_json(state: &ApiState, c: &ConnectionEntry) -> Value {
    let i = &c.info;
    let t = c.traffic();
    let client_properties = i.client_properties();
    let provided = client_properties
        .get("connection_name")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let blocked = state.broker.disk_alarm();
    json!({
        "name": i.name,
        "node": &*state.node,
        "type": "network",
        "protocol": i.protocol,
        "auth_mechanism": i.auth_mechanism,
        "user": &*i.user,
        "user_who_performed_action": &*i.user,
        "vhost": &*i.vhost,
        "host": i.local.ip().to_canonical().to_string(),
        "port": i.local.port(),
        "peer_host": i.peer.ip().to_canonical().to_string(),
        "peer_port": i.peer.port(),
        "ssl": false,
        "peer_cert_issuer": null,
        "peer_cert_subject": null,
        "peer_cert_validity": null,
        "ssl_cipher": null,
        "ssl_hash": null,
        "ssl_key_exchange": null,
        "ssl_protocol": null,
        "client_properties": table_to_json(&client_properties),
        "user_provided_name": provided,
        "connected_at": i.connected_at,
        "frame_max": i.frame_max,
        "channel_max": i.channel_max,
        "timeout": i.heartbeat,
        "channels": c.channels().len(),
        "state": if blocked { "blocked" } else { "running" },
        "recv_oct": t.recv_oct,
        "recv_oct_details": rate(0.0),
        "send_oct": t.send_oct,
        "send_oct_details": rate(0.0),
        "recv_cnt": t.recv_cnt,
        "send_cnt": t.send_cnt,
        "send_pend": 0,
    })
}

/// Connections the caller may see: all for monitoring users and administrators,
/// their own for others (as RabbitMQ).
fn visible(state: &ApiState, caller: &Caller, vhost: Option<&str>) -> Vec<Arc<ConnectionEntry>> {
    state
        .broker
        .registry
        .connections()
        .into_iter()
        .filter(|c| caller.is_monitor() || c.info.user == caller.0.name)
        .filter(|c| vhost.is_none_or(|v| &*c.info.vhost == v))
        .collect()
}

fn connections_reply(
    state: &ApiState,
    caller: &Caller,
    vhost: Option<&str>,
    params: &Params,
) -> ApiResult<Json<Value>> {
    if let Some(v) = vhost {
        super::vhost_for(state, caller, v)?;
    }
    let items = visible(state, caller, vhost)
        .into_iter()
        .map(|c| ConnectionItem { c, state })
        .collect();
    Ok(Json(list(items, params)?))
}

pub async fn list_all(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    connections_reply(&state, &caller, None, &params)
}

pub async fn list_vhost(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    connections_reply(&state, &caller, Some(&vhost), &params)
}

fn find(state: &ApiState, caller: &Caller, name: &str) -> ApiResult<Arc<ConnectionEntry>> {
    visible(state, caller, None)
        .into_iter()
        .find(|c| c.info.name == name)
        .ok_or_else(ApiError::not_found)
}

pub async fn one(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> ApiResult<Json<Value>> {
    let c = find(&state, &caller, &name)?;
    Ok(Json(connection_json(&state, &c)))
}

pub async fn close(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let c = find(&state, &caller, &name)?;
    let reason = headers
        .get("x-reason")
        .and_then(|v| v.to_str().ok())
        .filter(|r| !r.is_empty())
        .unwrap_or(DEFAULT_REASON);
    let text = format!("CONNECTION_FORCED - {reason}");
    if !state.broker.close_connection(c.id, 320, &text) {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

struct ChannelItem<'a> {
    name: String,
    connection: Arc<ConnectionEntry>,
    channel: Arc<ChannelEntry>,
    state: &'a ApiState,
}

impl Listed for ChannelItem<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn vhost(&self) -> &str {
        &self.connection.info.vhost
    }
    fn to_json(&self) -> Value {
        let s = self.channel.state();
        let i = &self.connection.info;
        json!({
            "name": self.name,
            "node": &*self.state.node,
            "number": self.channel.number,
            "user": &*i.user,
            "user_who_performed_action": &*i.user,
            "vhost": &*i.vhost,
            "connection_details": connection_details(&self.connection),
            "state": "running",
            "confirm": s.confirm,
            "transactional": s.transactional,
            "prefetch_count": s.prefetch_count,
            "global_prefetch_count": s.global_prefetch_count,
            "consumer_count": s.consumers.len(),
            "messages_unacknowledged": self.channel.unacked(),
            "messages_unconfirmed": 0,
            "messages_uncommitted": 0,
            "acks_uncommitted": 0,
            "pending_raft_commands": 0,
        })
    }
}

fn connection_details(c: &ConnectionEntry) -> Value {
    json!({
        "name": c.info.name,
        "peer_host": c.info.peer.ip().to_canonical().to_string(),
        "peer_port": c.info.peer.port(),
    })
}

/// RabbitMQ's channel name: the connection's, then the number in parentheses.
fn channel_name(c: &ConnectionEntry, number: u16) -> String {
    format!("{} ({number})", c.info.name)
}

fn channel_items<'a>(
    state: &'a ApiState,
    connections: Vec<Arc<ConnectionEntry>>,
) -> Vec<ChannelItem<'a>> {
    let mut items = Vec::new();
    for c in connections {
        for channel in c.channels() {
            items.push(ChannelItem {
                name: channel_name(&c, channel.number),
                connection: c.clone(),
                channel,
                state,
            });
        }
    }
    items
}

pub async fn channels(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    let items = channel_items(&state, visible(&state, &caller, None));
    Ok(Json(list(items, &params)?))
}

pub async fn vhost_channels(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    super::vhost_for(&state, &caller, &vhost)?;
    let items = channel_items(&state, visible(&state, &caller, Some(&vhost)));
    Ok(Json(list(items, &params)?))
}

pub async fn connection_channels(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    let c = find(&state, &caller, &name)?;
    Ok(Json(list(channel_items(&state, vec![c]), &params)?))
}

pub async fn channel(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> ApiResult<Json<Value>> {
    channel_items(&state, visible(&state, &caller, None))
        .into_iter()
        .find(|c| c.name == name)
        .map(|c| Json(c.to_json()))
        .ok_or_else(ApiError::not_found)
}

fn consumer_json(c: &ConnectionEntry, number: u16, info: &ConsumerInfo, state: &ApiState) -> Value {
    json!({
        "consumer_tag": &*info.tag,
        "queue": {"name": &*info.queue.name, "vhost": &*info.queue.vhost},
        "ack_required": !info.no_ack,
        "exclusive": info.exclusive,
        "prefetch_count": info.prefetch_count,
        "arguments": table_to_json(&info.arguments),
        "active": true,
        "activity_status": "up",
        "channel_details": {
            "name": channel_name(c, number),
            "number": number,
            "connection_name": c.info.name,
            "peer_host": c.info.peer.ip().to_canonical().to_string(),
            "peer_port": c.info.peer.port(),
            "user": &*c.info.user,
            "node": &*state.node,
        },
    })
}

fn consumers_reply(
    state: &ApiState,
    caller: &Caller,
    vhost: Option<&str>,
) -> ApiResult<Json<Value>> {
    let vhosts = super::vhosts_for(state, caller, vhost)?;
    let mut out = Vec::new();
    for c in state.broker.registry.connections() {
        for channel in c.channels() {
            for info in channel.state().consumers.values() {
                if vhosts.iter().any(|v| v.name == info.queue.vhost) {
                    out.push(consumer_json(&c, channel.number, info, state));
                }
            }
        }
    }
    Ok(Json(Value::Array(out)))
}

pub async fn consumers(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    consumers_reply(&state, &caller, None)
}

pub async fn vhost_consumers(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
) -> ApiResult<Json<Value>> {
    consumers_reply(&state, &caller, Some(&vhost))
}
