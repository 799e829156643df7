//! `exchanges/{vhost}/{name}/publish` and `queues/{vhost}/{name}/get`: moving messages
//! over HTTP, for testing and operations (RabbitMQ's caveats apply: no confirms beyond
//! `routed`, `get` is destructive unless it requeues).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, P};
use crate::json::{json_to_table, table_to_json, Json};
use crate::ApiState;
use amqp_codec::{BasicProperties, ShortStr};
use axum::extract::State;
use axum::Extension;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use warren_core::outlet::ChannelKey;
use warren_core::publish_batch::PublishBatches;
use warren_core::{Message, Publisher, Settle};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    #[serde(default)]
    properties: Option<Value>,
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    payload: String,
    #[serde(default = "string_encoding")]
    payload_encoding: String,
    #[serde(default, rename = "vhost")]
    _vhost: Option<String>,
    #[serde(default, rename = "name")]
    _name: Option<String>,
    #[serde(default, rename = "props")]
    _props: Option<Value>,
    #[serde(default, rename = "delivery_mode")]
    _delivery_mode: Option<Value>,
    #[serde(default, rename = "headers")]
    _headers: Option<Value>,
}

fn string_encoding() -> String {
    "string".to_string()
}

fn short(v: &Value, field: &str) -> ApiResult<ShortStr> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(ApiError::bad_request(format!(
                "property '{field}' must be a string, not {other}"
            )))
        }
    };
    ShortStr::from_bytes(Bytes::from(text.into_bytes())).ok_or_else(|| {
        ApiError::bad_request(format!("property '{field}' is longer than 255 bytes"))
    })
}

fn small_int(v: &Value, field: &str) -> ApiResult<u8> {
    v.as_u64()
        .filter(|n| *n <= 255)
        .map(|n| n as u8)
        .ok_or_else(|| ApiError::bad_request(format!("property '{field}' must be 0..255, not {v}")))
}

/// The `properties` object of a publish as AMQP basic properties.
fn properties_from_json(v: Option<&Value>) -> ApiResult<BasicProperties> {
    let mut p = BasicProperties::default();
    let map = match v {
        None | Some(Value::Null) => return Ok(p),
        Some(Value::Array(a)) if a.is_empty() => return Ok(p),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "properties must be an object, not {other}"
            )))
        }
    };
    for (key, value) in map {
        match key.as_str() {
            "content_type" => p.content_type = Some(short(value, key)?),
            "content_encoding" => p.content_encoding = Some(short(value, key)?),
            "headers" => p.headers = Some(json_to_table(value).map_err(ApiError::bad_request)?),
            "delivery_mode" => p.delivery_mode = Some(small_int(value, key)?),
            "priority" => p.priority = Some(small_int(value, key)?),
            "correlation_id" => p.correlation_id = Some(short(value, key)?),
            "reply_to" => p.reply_to = Some(short(value, key)?),
            "expiration" => p.expiration = Some(short(value, key)?),
            "message_id" => p.message_id = Some(short(value, key)?),
            "timestamp" => {
                p.timestamp = Some(value.as_u64().ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "property 'timestamp' must be an integer, not {value}"
                    ))
                })?)
            }
            "type" => p.kind = Some(short(value, key)?),
            "user_id" => p.user_id = Some(short(value, key)?),
            "app_id" => p.app_id = Some(short(value, key)?),
            "cluster_id" => p.cluster_id = Some(short(value, key)?),
            other => return Err(ApiError::bad_request(format!("unknown property '{other}'"))),
        }
    }
    Ok(p)
}

/// Basic properties as RabbitMQ's API shows them (`[]` when there are none: an
/// empty Erlang proplist).
fn properties_to_json(p: &BasicProperties) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    let s = |v: &Option<ShortStr>| v.as_ref().map(|s| Value::String(s.as_str().to_string()));
    put("content_type", s(&p.content_type));
    put("content_encoding", s(&p.content_encoding));
    put("headers", p.headers.as_ref().map(table_to_json));
    put("delivery_mode", p.delivery_mode.map(Value::from));
    put("priority", p.priority.map(Value::from));
    put("correlation_id", s(&p.correlation_id));
    put("reply_to", s(&p.reply_to));
    put("expiration", s(&p.expiration));
    put("message_id", s(&p.message_id));
    put("timestamp", p.timestamp.map(Value::from));
    put("type", s(&p.kind));
    put("user_id", s(&p.user_id));
    put("app_id", s(&p.app_id));
    put("cluster_id", s(&p.cluster_id));
    if m.is_empty() {
        Value::Array(Vec::new())
    } else {
        Value::Object(m)
    }
}

pub async fn publish(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let (v, access) = super::vhost_access(&state, &caller, &vhost)?;
    let b: PublishBody = body.parse()?;
    let payload = match b.payload_encoding.as_str() {
        "string" => Bytes::from(b.payload.into_bytes()),
        "base64" => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(b.payload.as_bytes())
                .map_err(|e| ApiError::bad_request(format!("payload is not base64: {e}")))?,
        ),
        other => {
            return Err(ApiError::bad_request(format!(
                "payload_encoding must be 'string' or 'base64', not '{other}'"
            )))
        }
    };
    let props = properties_from_json(b.properties.as_ref())?;
    if let Some(user_id) = &props.user_id {
        if user_id.as_str() != &*caller.0.name {
            return Err(ApiError::bad_request(format!(
                "user_id property set to '{user_id:?}' but authenticated user was '{}'",
                caller.0.name
            )));
        }
    }
    let expiration = match &props.expiration {
        Some(text) => Some(
            warren_core::message::parse_expiration(text.as_str()).map_err(|reason| {
                ApiError::bad_request(format!("invalid expiration '{}': {reason}", text.as_str()))
            })?,
        ),
        None => None,
    };
    let routing_key = ShortStr::from_bytes(Bytes::from(b.routing_key.into_bytes()))
        .ok_or_else(|| ApiError::bad_request("routing_key is longer than 255 bytes"))?;
    let mut publisher = Publisher::new(v.clone(), access);
    let exchange = publisher.exchange(super::exchange_name(&name))?;
    if exchange.internal {
        return Err(ApiError::bad_request(format!(
            "cannot publish to internal exchange '{}' in vhost '{}'",
            exchange.name, v.name
        )));
    }
    let message = Arc::new(Message {
        exchange: exchange.name.clone(),
        routing_key: routing_key.clone(),
        properties: props.encode(),
        body: payload,
        persistent: props.delivery_mode == Some(2),
        expiration,
        priority: props.priority.unwrap_or(0),
        bcc: None,
    });
    let mut queues = Vec::new();
    publisher.route(
        &exchange,
        routing_key.as_str(),
        &message.properties,
        &mut queues,
    );
    let routed = !queues.is_empty();
    let mut batches = PublishBatches::default();
    for q in queues {
        batches.add(q, message.clone(), 0);
    }
    if let Some(stored) = batches.flush(None, &mut Vec::new(), |_| {}) {
        stored.ticket.await.map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                format!("the message could not be stored: {e}"),
            )
        })?;
    }
    Ok(Json(json!({ "routed": routed })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetBody {
    #[serde(default = "one")]
    count: u32,
    ackmode: String,
    #[serde(default = "auto")]
    encoding: String,
    #[serde(default)]
    truncate: Option<u64>,
    #[serde(default, rename = "vhost")]
    _vhost: Option<String>,
    #[serde(default, rename = "name")]
    _name: Option<String>,
}

fn one() -> u32 {
    1
}

fn auto() -> String {
    "auto".to_string()
}

pub async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let (v, access) = super::vhost_access(&state, &caller, &vhost)?;
    let queue = v.queue(&name).ok_or_else(ApiError::not_found)?;
    access.read(warren_core::access::ResourceKind::Queue, &name)?;
    let g: GetBody = body.parse()?;
    let settle = match g.ackmode.as_str() {
        "ack_requeue_true" | "reject_requeue_true" => Settle::Requeue,
        "ack_requeue_false" => Settle::Ack,
        "reject_requeue_false" => Settle::Discard,
        other => {
            return Err(ApiError::bad_request(format!(
                "ackmode must be ack_requeue_true, ack_requeue_false, reject_requeue_true or \
                 reject_requeue_false, not '{other}'"
            )))
        }
    };
    let base64_always = match g.encoding.as_str() {
        "auto" => false,
        "base64" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "encoding must be 'auto' or 'base64', not '{other}'"
            )))
        }
    };
    // A channel of its own: what it takes it settles before the reply.
    let channel = ChannelKey(state.broker.next_channel_id());
    let mut got = Vec::new();
    for _ in 0..g.count {
        match queue.get(channel, 0, false).await {
            Some(m) => got.push(m),
            None => break,
        }
    }
    let mut replies = Vec::with_capacity(got.len());
    for m in &got {
        let body = &m.message.body;
        let shown = match g.truncate {
            Some(limit) if (limit as usize) < body.len() => &body[..limit as usize],
            _ => &body[..],
        };
        let (payload, encoding) = match std::str::from_utf8(shown) {
            Ok(text) if !base64_always => (text.to_string(), "string"),
            _ => (
                base64::engine::general_purpose::STANDARD.encode(shown),
                "base64",
            ),
        };
        let properties = BasicProperties::decode_bytes(&m.message.properties)
            .map(|p| properties_to_json(&p))
            .unwrap_or(Value::Array(Vec::new()));
        replies.push(json!({
            "payload_bytes": body.len(),
            "redelivered": m.redelivered,
            "exchange": &*m.message.exchange,
            "routing_key": m.message.routing_key.as_str(),
            "message_count": m.remaining,
            "properties": properties,
            "payload": payload,
            "payload_encoding": encoding,
        }));
    }
    if !got.is_empty() {
        queue.settle(channel, got.iter().map(|m| m.seq).collect(), settle);
    }
    queue.channel_closed(channel);
    Ok(Json(Value::Array(replies)))
}
