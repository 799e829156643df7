//! `queues`: list (all, per vhost), get one, declare (PUT), delete (`if-empty`,
//! `if-unused`), purge (`DELETE .../contents`).
//!
//! Counts come from each queue's shared counters (refreshed by its actor every turn)
//! and rates from the sampler: a listing never waits on a queue.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, P, Q};
use crate::json::{json_to_table, rate, table_to_json, Json};
use crate::listing::{list, Listed};
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use warren_core::vhost::QueueDeclare;
use warren_core::QueueRef;

/// Queues an HTTP request declares or deletes belong to no connection.
pub(crate) const NO_CONNECTION: u64 = 0;

struct QueueItem<'a> {
    queue: QueueRef,
    state: &'a ApiState,
}

impl Listed for QueueItem<'_> {
    fn name(&self) -> &str {
        &self.queue.name
    }
    fn vhost(&self) -> &str {
        &self.queue.vhost
    }
    fn to_json(&self) -> Value {
        queue_json(self.state, &self.queue)
    }
}

pub(crate) fn queue_json(state: &ApiState, q: &QueueRef) -> Value {
    let s = q.stats.snapshot();
    let r = state.rates.queue(q.id());
    let queue_type = q
        .arguments
        .get("x-queue-type")
        .and_then(|v| v.as_str())
        .unwrap_or("classic")
        .to_string();
    let applied = q.applied_policies();
    let policy = applied
        .as_ref()
        .and_then(|a| a.policy.as_ref().map(|p| p.to_string()));
    let operator_policy = applied
        .as_ref()
        .and_then(|a| a.operator_policy.as_ref().map(|p| p.to_string()));
    let effective = applied
        .as_ref()
        .map_or_else(|| json!({}), |a| table_to_json(&a.definition));
    json!({
        "name": &*q.name,
        "vhost": &*q.vhost,
        "durable": q.durable,
        "auto_delete": q.auto_delete,
        "exclusive": q.exclusive_owner.is_some(),
        "arguments": table_to_json(&q.arguments),
        "node": &*state.node,
        "type": queue_type,
        "state": "running",
        "policy": policy,
        "operator_policy": operator_policy,
        "effective_policy_definition": effective,
        "exclusive_consumer_tag": null,
        "single_active_consumer_tag": null,
        "consumers": s.consumers,
        "messages": s.ready as u64 + s.unacked as u64,
        "messages_details": rate(r.messages),
        "messages_ready": s.ready,
        "messages_ready_details": rate(r.ready),
        "messages_unacknowledged": s.unacked,
        "messages_unacknowledged_details": rate(r.unacked),
        "message_stats": {
            "publish": s.published,
            "publish_details": rate(r.publish),
            "deliver_get": s.delivered,
            "deliver_get_details": rate(r.deliver_get),
            "ack": s.acked,
            "ack_details": rate(r.ack),
            "redeliver": s.redelivered,
            "redeliver_details": rate(r.redeliver),
        },
    })
}

fn items<'a>(
    state: &'a ApiState,
    caller: &Caller,
    vhost: Option<&str>,
) -> ApiResult<Vec<QueueItem<'a>>> {
    let mut items = Vec::new();
    for v in super::vhosts_for(state, caller, vhost)? {
        items.extend(
            v.queues()
                .into_iter()
                .map(|queue| QueueItem { queue, state }),
        );
    }
    Ok(items)
}

pub async fn list_all(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    Ok(Json(list(items(&state, &caller, None)?, &params)?))
}

pub async fn list_vhost(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    Ok(Json(list(items(&state, &caller, Some(&vhost))?, &params)?))
}

pub(crate) fn find(
    state: &ApiState,
    caller: &Caller,
    vhost: &str,
    name: &str,
) -> ApiResult<(warren_core::VHostRef, QueueRef)> {
    let v = super::vhost_for(state, caller, vhost)?;
    let q = v.queue(name).ok_or_else(ApiError::not_found)?;
    Ok((v, q))
}

pub async fn one(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (_, q) = find(&state, &caller, &vhost, &name)?;
    Ok(Json(queue_json(&state, &q)))
}

/// The body of `PUT /api/queues/{vhost}/{name}` (`node`, `vhost` and `name` are
/// accepted and ignored: there is one node, and the path names the queue).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declare {
    #[serde(default)]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default, rename = "node")]
    _node: Option<String>,
    #[serde(default, rename = "vhost")]
    _vhost: Option<String>,
    #[serde(default, rename = "name")]
    _name: Option<String>,
}

pub async fn declare(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    body: Body,
) -> ApiResult<StatusCode> {
    let v = super::vhost_for(&state, &caller, &vhost)?;
    let d: Declare = body.parse()?;
    if name.is_empty() {
        return Err(ApiError::bad_request("queue name must not be empty"));
    }
    let arguments = match &d.arguments {
        None | Some(Value::Null) => Default::default(),
        Some(a) => json_to_table(a).map_err(ApiError::bad_request)?,
    };
    let existed = v.queue(&name).is_some();
    v.declare_queue(QueueDeclare {
        name: &name,
        passive: false,
        durable: d.durable,
        exclusive: false,
        auto_delete: d.auto_delete,
        arguments,
        connection: NO_CONNECTION,
    })
    .await?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

pub async fn remove(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    Q(params): Q,
) -> ApiResult<StatusCode> {
    let (v, q) = find(&state, &caller, &vhost, &name)?;
    // The API may delete any queue, an exclusive one too (as RabbitMQ's does).
    let owner = q.exclusive_owner.unwrap_or(NO_CONNECTION);
    v.delete_queue(
        owner,
        &name,
        super::query_flag(&params, "if-unused"),
        super::query_flag(&params, "if-empty"),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn purge(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
) -> ApiResult<StatusCode> {
    let (v, q) = find(&state, &caller, &vhost, &name)?;
    v.purge_queue(q.exclusive_owner.unwrap_or(NO_CONNECTION), &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
