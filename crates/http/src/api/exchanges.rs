//! `exchanges`: list (all, per vhost), get one, declare (PUT), delete (`if-unused`).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, P, Q};
use crate::json::{json_to_table, table_to_json, Json};
use crate::listing::{list, Listed};
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use warren_core::vhost::{ExchangeDeclare, ExchangeRef};

pub(crate) struct ExchangeItem {
    pub vhost: warren_core::names::Name,
    pub exchange: ExchangeRef,
}

impl Listed for ExchangeItem {
    fn name(&self) -> &str {
        &self.exchange.name
    }
    fn vhost(&self) -> &str {
        &self.vhost
    }
    fn to_json(&self) -> Value {
        exchange_json(&self.vhost, &self.exchange)
    }
}

pub(crate) fn exchange_json(vhost: &str, e: &ExchangeRef) -> Value {
    let builtin = e.name.is_empty() || e.name.starts_with("amq.");
    json!({
        "name": &*e.name,
        "vhost": vhost,
        "type": e.type_name(),
        "durable": e.durable,
        "auto_delete": e.auto_delete,
        "internal": e.internal,
        "arguments": table_to_json(&e.arguments),
        "user_who_performed_action": if builtin { "rmq-internal" } else { "" },
        "policy": e.policy_name().map(|p| p.to_string()),
    })
}

fn items(state: &ApiState, caller: &Caller, vhost: Option<&str>) -> ApiResult<Vec<ExchangeItem>> {
    let mut items = Vec::new();
    for v in super::vhosts_for(state, caller, vhost)? {
        for exchange in v.exchanges() {
            items.push(ExchangeItem {
                vhost: v.name.clone(),
                exchange,
            });
        }
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

pub async fn one(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
) -> ApiResult<Json<Value>> {
    let v = super::vhost_for(&state, &caller, &vhost)?;
    let e = v
        .exchange(super::exchange_name(&name))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(exchange_json(&v.name, &e)))
}

fn default_type() -> String {
    "direct".to_string()
}

/// The body of `PUT /api/exchanges/{vhost}/{name}`. `vhost` and `name` may repeat
/// the path (the management UI sends them); any other field is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declare {
    #[serde(rename = "type", default = "default_type")]
    kind: String,
    #[serde(default)]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    arguments: Option<Value>,
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
    let arguments = match &d.arguments {
        None | Some(Value::Null) => Default::default(),
        Some(a) => json_to_table(a).map_err(ApiError::bad_request)?,
    };
    let name = super::exchange_name(&name);
    let existed = v.exchange(name).is_some();
    v.declare_exchange(ExchangeDeclare {
        access: &access,
        name,
        kind: &d.kind,
        passive: false,
        durable: d.durable,
        auto_delete: d.auto_delete,
        internal: d.internal,
        arguments,
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
    let name = super::exchange_name(&name);
    if !name.is_empty() && !name.starts_with("amq.") && v.exchange(name).is_none() {
        return Err(ApiError::not_found());
    }
    v.delete_exchange(&access, name, super::query_flag(&params, "if-unused"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
