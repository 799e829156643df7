//! `queues`: list (all, per vhost), get one, declare (PUT), delete (`if-empty`,
//! `if-unused`), purge (`DELETE .../contents`).
//!
//! Counts come from each queue's shared counters (refreshed by its actor every turn)
//! and rates from the sampler: a listing never waits on a queue.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, P, Q};
use crate::json::{json_to_table, table_to_json, Json};
use crate::listing::{list_fast, Listed, Listing};
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde::{Deserialize, Serialize};
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
    fn write_json(&self, out: &mut Vec<u8>) {
        let _ = serde_json::to_writer(out, &queue_view(self.state, &self.queue));
    }
    fn sort_value(&self, path: &[&str]) -> Option<Value> {
        self.counter(path).or_else(|| {
            let json = self.to_json();
            path.iter().try_fold(&json, |v, k| v.get(k)).cloned()
        })
    }
}

/// `{"rate": r}`.
#[derive(Serialize)]
struct Rate {
    rate: f64,
}

#[derive(Serialize)]
struct MessageStats {
    publish: u64,
    publish_details: Rate,
    deliver_get: u64,
    deliver_get_details: Rate,
    ack: u64,
    ack_details: Rate,
    redeliver: u64,
    redeliver_details: Rate,
}

/// A queue as the API shows it, serialised without an intermediate `Value`.
#[derive(Serialize)]
struct QueueView<'a> {
    name: &'a str,
    vhost: &'a str,
    durable: bool,
    auto_delete: bool,
    exclusive: bool,
    arguments: Value,
    node: &'a str,
    #[serde(rename = "type")]
    queue_type: &'a str,
    state: &'static str,
    policy: Option<String>,
    operator_policy: Option<String>,
    effective_policy_definition: Value,
    exclusive_consumer_tag: Option<String>,
    single_active_consumer_tag: Option<String>,
    consumers: u32,
    messages: u64,
    messages_details: Rate,
    messages_ready: u32,
    messages_ready_details: Rate,
    messages_unacknowledged: u32,
    messages_unacknowledged_details: Rate,
    message_stats: MessageStats,
}

fn queue_view<'a>(state: &'a ApiState, q: &'a QueueRef) -> QueueView<'a> {
    let s = q.stats.snapshot();
    let r = state.rates.queue(q.id());
    let applied = q.applied_policies();
    let queue_type = q
        .arguments
        .get("x-queue-type")
        .and_then(|v| v.as_str())
        .unwrap_or("classic");
    QueueView {
        name: &q.name,
        vhost: &q.vhost,
        durable: q.durable,
        auto_delete: q.auto_delete,
        exclusive: q.exclusive_owner.is_some(),
        arguments: table_to_json(&q.arguments),
        node: &state.node,
        queue_type,
        state: "running",
        policy: applied
            .as_ref()
            .and_then(|a| a.policy.as_ref().map(|p| p.to_string())),
        operator_policy: applied
            .as_ref()
            .and_then(|a| a.operator_policy.as_ref().map(|p| p.to_string())),
        effective_policy_definition: applied
            .as_ref()
            .map_or_else(|| json!({}), |a| table_to_json(&a.definition)),
        exclusive_consumer_tag: None,
        single_active_consumer_tag: None,
        consumers: s.consumers,
        messages: s.ready as u64 + s.unacked as u64,
        messages_details: Rate { rate: r.messages },
        messages_ready: s.ready,
        messages_ready_details: Rate { rate: r.ready },
        messages_unacknowledged: s.unacked,
        messages_unacknowledged_details: Rate { rate: r.unacked },
        message_stats: MessageStats {
            publish: s.published,
            publish_details: Rate { rate: r.publish },
            deliver_get: s.delivered,
            deliver_get_details: Rate {
                rate: r.deliver_get,
            },
            ack: s.acked,
            ack_details: Rate { rate: r.ack },
            redeliver: s.redelivered,
            redeliver_details: Rate { rate: r.redeliver },
        },
    }
}

pub(crate) fn queue_json(state: &ApiState, q: &QueueRef) -> Value {
    serde_json::to_value(queue_view(state, q)).unwrap_or(Value::Null)
}

impl QueueItem<'_> {
    /// Common sort fields straight from the counters.
    fn counter(&self, path: &[&str]) -> Option<Value> {
        let s = self.queue.stats.snapshot();
        let rate = |f: fn(&crate::rates::Rates) -> f64| {
            Some(json!(f(&self.state.rates.queue(self.queue.id()))))
        };
        match path {
            ["messages"] => Some(json!(s.ready as u64 + s.unacked as u64)),
            ["messages_ready"] => Some(json!(s.ready)),
            ["messages_unacknowledged"] => Some(json!(s.unacked)),
            ["consumers"] => Some(json!(s.consumers)),
            ["durable"] => Some(json!(self.queue.durable)),
            ["auto_delete"] => Some(json!(self.queue.auto_delete)),
            ["vhost"] => Some(json!(&*self.queue.vhost)),
            ["message_stats", "publish"] => Some(json!(s.published)),
            ["message_stats", "deliver_get"] => Some(json!(s.delivered)),
            ["message_stats", "ack"] => Some(json!(s.acked)),
            ["message_stats", "redeliver"] => Some(json!(s.redelivered)),
            ["messages_details", "rate"] => rate(|r| r.messages),
            ["message_stats", "publish_details", "rate"] => rate(|r| r.publish),
            ["message_stats", "deliver_get_details", "rate"] => rate(|r| r.deliver_get),
            ["message_stats", "ack_details", "rate"] => rate(|r| r.ack),
            _ => None,
        }
    }
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
) -> ApiResult<Listing> {
    list_fast(items(&state, &caller, None)?, &params)
}

pub async fn list_vhost(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
    Q(params): Q,
) -> ApiResult<Listing> {
    list_fast(items(&state, &caller, Some(&vhost))?, &params)
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
    let (v, access) = super::vhost_access(&state, &caller, &vhost)?;
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
        access: &access,
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
    let (v, access) = super::vhost_access(&state, &caller, &vhost)?;
    let q = v.queue(&name).ok_or_else(ApiError::not_found)?;
    // The API may delete any queue, an exclusive one too (as RabbitMQ's does).
    let owner = q.exclusive_owner.unwrap_or(NO_CONNECTION);
    v.delete_queue(
        &access,
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
    let (v, access) = super::vhost_access(&state, &caller, &vhost)?;
    let q = v.queue(&name).ok_or_else(ApiError::not_found)?;
    v.purge_queue(&access, q.exclusive_owner.unwrap_or(NO_CONNECTION), &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
