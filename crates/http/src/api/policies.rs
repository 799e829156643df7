//! `policies` and `operator-policies`: list (all, per vhost), get, set (PUT) and
//! clear (DELETE), validated by the core with RabbitMQ's texts. Policies need a
//! policymaker, operator policies an administrator (as RabbitMQ).

use crate::auth::{Caller, Level};
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
use warren_core::names::Name;
use warren_core::policy::{ApplyTo, PolicyKind, PolicySpec};

struct PolicyItem {
    vhost: Name,
    spec: PolicySpec,
}

impl Listed for PolicyItem {
    fn name(&self) -> &str {
        &self.spec.name
    }
    fn vhost(&self) -> &str {
        &self.vhost
    }
    fn to_json(&self) -> Value {
        json!({
            "vhost": &*self.vhost,
            "name": &*self.spec.name,
            "pattern": self.spec.pattern,
            "apply-to": self.spec.apply_to.as_str(),
            "definition": table_to_json(&self.spec.definition),
            "priority": self.spec.priority,
        })
    }
}

fn level(kind: PolicyKind) -> Level {
    match kind {
        PolicyKind::Regular => Level::Policymaker,
        PolicyKind::Operator => Level::Administrator,
    }
}

fn listing(
    state: &ApiState,
    caller: &Caller,
    kind: PolicyKind,
    vhost: Option<&str>,
    params: &crate::listing::Params,
) -> ApiResult<Json<Value>> {
    caller.require(level(kind))?;
    let mut items = Vec::new();
    for v in super::vhosts_for(state, caller, vhost)? {
        for spec in v.policies(kind) {
            items.push(PolicyItem {
                vhost: v.name.clone(),
                spec,
            });
        }
    }
    Ok(Json(list(items, params)?))
}

fn one(
    state: &ApiState,
    caller: &Caller,
    kind: PolicyKind,
    vhost: &str,
    name: &str,
) -> ApiResult<Json<Value>> {
    caller.require(level(kind))?;
    let v = super::vhost_for(state, caller, vhost)?;
    let spec = v.policy(kind, name).ok_or_else(ApiError::not_found)?;
    Ok(Json(
        PolicyItem {
            vhost: v.name.clone(),
            spec,
        }
        .to_json(),
    ))
}

/// The body of a policy PUT.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    pattern: String,
    definition: Value,
    #[serde(default)]
    priority: i64,
    #[serde(rename = "apply-to", default = "all")]
    apply_to: String,
    #[serde(default, rename = "vhost")]
    _vhost: Option<String>,
    #[serde(default, rename = "name")]
    _name: Option<String>,
}

fn all() -> String {
    "all".to_string()
}

async fn set(
    state: &ApiState,
    caller: &Caller,
    kind: PolicyKind,
    vhost: &str,
    name: &str,
    body: &Body,
) -> ApiResult<StatusCode> {
    caller.require(level(kind))?;
    let v = super::vhost_for(state, caller, vhost)?;
    let b: PolicyBody = body.parse()?;
    let definition = json_to_table(&b.definition).map_err(ApiError::bad_request)?;
    let apply_to = ApplyTo::parse(&b.apply_to)?;
    let existed = v.policy(kind, name).is_some();
    v.set_policy(
        kind,
        PolicySpec {
            name: name.into(),
            pattern: b.pattern,
            apply_to,
            priority: b.priority,
            definition,
        },
    )
    .await?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

async fn clear(
    state: &ApiState,
    caller: &Caller,
    kind: PolicyKind,
    vhost: &str,
    name: &str,
) -> ApiResult<StatusCode> {
    caller.require(level(kind))?;
    let v = super::vhost_for(state, caller, vhost)?;
    if v.policy(kind, name).is_none() {
        return Err(ApiError::not_found());
    }
    v.clear_policy(kind, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The handlers of one kind of policy.
macro_rules! policy_handlers {
    ($module:ident, $kind:expr) => {
        pub mod $module {
            use super::*;

            pub async fn list_all(
                State(state): State<ApiState>,
                Extension(caller): Extension<Caller>,
                Q(params): Q,
            ) -> ApiResult<Json<Value>> {
                listing(&state, &caller, $kind, None, &params)
            }

            pub async fn list_vhost(
                State(state): State<ApiState>,
                Extension(caller): Extension<Caller>,
                P(vhost): P<String>,
                Q(params): Q,
            ) -> ApiResult<Json<Value>> {
                listing(&state, &caller, $kind, Some(&vhost), &params)
            }

            pub async fn get(
                State(state): State<ApiState>,
                Extension(caller): Extension<Caller>,
                P((vhost, name)): P<(String, String)>,
            ) -> ApiResult<Json<Value>> {
                one(&state, &caller, $kind, &vhost, &name)
            }

            pub async fn put(
                State(state): State<ApiState>,
                Extension(caller): Extension<Caller>,
                P((vhost, name)): P<(String, String)>,
                body: Body,
            ) -> ApiResult<StatusCode> {
                set(&state, &caller, $kind, &vhost, &name, &body).await
            }

            pub async fn delete(
                State(state): State<ApiState>,
                Extension(caller): Extension<Caller>,
                P((vhost, name)): P<(String, String)>,
            ) -> ApiResult<StatusCode> {
                clear(&state, &caller, $kind, &vhost, &name).await
            }
        }
    };
}

policy_handlers!(regular, PolicyKind::Regular);
policy_handlers!(operator, PolicyKind::Operator);
