//! `definitions` and `definitions/{vhost}`: the topology as RabbitMQ's JSON, out and in.
//!
//! Import is all or nothing: the whole file is parsed and checked against the broker
//! (vhosts exist or are created by the file, exchange types, queue arguments, binding
//! ends, policies, equivalence with what already exists) before anything changes; only
//! then is it applied, through the same core operations AMQP clients use.
//!
//! Users come with RabbitMQ's password hashes (`password_hash` and
//! `hashing_algorithm`), so a RabbitMQ export keeps its passwords.

use super::definitions_model::*;
use crate::auth::{Caller, Level};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, P};
use crate::json::{json_to_table, table_to_json, Json};
use crate::ApiState;
use amqp_codec::FieldTable;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use warren_core::access::VHostSettings;
use warren_core::exchange::{validate_binding_args, ExchangeKind};
use warren_core::policy::{ApplyTo, Policy, PolicyKind, PolicySpec};
use warren_core::vhost::{BindingSpec, DestName, ExchangeDeclare, QueueDeclare};
use warren_core::{Access, PasswordInput, VHostRef};

fn header() -> serde_json::Map<String, Value> {
    let v = super::overview::RABBITMQ_VERSION;
    let mut m = serde_json::Map::new();
    m.insert("rabbit_version".into(), v.into());
    m.insert("rabbitmq_version".into(), v.into());
    m.insert("product_name".into(), "Warren".into());
    m.insert(
        "product_version".into(),
        super::overview::WARREN_VERSION.into(),
    );
    m
}

/// One vhost's exportable topology; `with_vhost` adds the `vhost` field to each item
/// (the whole-broker export has it, the per-vhost one does not).
fn export_vhost(v: &VHostRef, with_vhost: bool, out: &mut Exported) {
    let tag = |mut item: Value| {
        if with_vhost {
            item["vhost"] = Value::String(v.name.to_string());
        }
        item
    };
    let mut exchanges = v.exchanges();
    exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    for e in exchanges
        .iter()
        .filter(|e| !e.is_default() && !e.name.starts_with("amq."))
    {
        out.exchanges.push(tag(json!({
            "name": &*e.name,
            "type": e.type_name(),
            "durable": e.durable,
            "auto_delete": e.auto_delete,
            "internal": e.internal,
            "arguments": table_to_json(&e.arguments),
        })));
    }
    let mut queues = v.queues();
    queues.sort_by(|a, b| a.name.cmp(&b.name));
    for q in queues.iter().filter(|q| q.exclusive_owner.is_none()) {
        out.queues.push(tag(json!({
            "name": &*q.name,
            "durable": q.durable,
            "auto_delete": q.auto_delete,
            "arguments": table_to_json(&q.arguments),
        })));
    }
    for b in super::bindings::explicit_bindings_sorted(v) {
        out.bindings.push(tag(json!({
            "source": &*b.source,
            "destination": &*b.destination,
            "destination_type": if b.to_queue { "queue" } else { "exchange" },
            "routing_key": &*b.routing_key,
            "arguments": table_to_json(&b.arguments),
        })));
    }
    for p in v.policies(PolicyKind::Regular) {
        out.policies.push(tag(json!({
            "name": &*p.name,
            "pattern": p.pattern,
            "apply-to": p.apply_to.as_str(),
            "definition": table_to_json(&p.definition),
            "priority": p.priority,
        })));
    }
    for p in v.policies(PolicyKind::Operator) {
        out.parameters.push(tag(json!({
            "component": "operator_policy",
            "name": &*p.name,
            "value": {
                "pattern": p.pattern,
                "apply-to": p.apply_to.as_str(),
                "definition": table_to_json(&p.definition),
                "priority": p.priority,
            },
        })));
    }
}

#[derive(Default)]
struct Exported {
    exchanges: Vec<Value>,
    queues: Vec<Value>,
    bindings: Vec<Value>,
    policies: Vec<Value>,
    parameters: Vec<Value>,
}

pub async fn export_all(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    let mut vhosts = state.broker.live_vhosts();
    vhosts.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Exported::default();
    for v in &vhosts {
        export_vhost(v, true, &mut out);
    }
    let broker = &state.broker;
    let mut m = header();
    let users: Vec<Value> = broker
        .users()
        .into_iter()
        .map(|u| {
            json!({
                "name": u.name,
                "password_hash": u.password_hash,
                "hashing_algorithm": u.hashing_algorithm,
                "tags": u.tags,
                "limits": {},
            })
        })
        .collect();
    m.insert("users".into(), users.into());
    let vhost_defs: Vec<Value> = broker
        .vhosts()
        .into_iter()
        .map(|v| {
            let mut item = json!({"name": v.name});
            let s = &v.settings;
            if !s.description.is_empty() || !s.tags.is_empty() {
                item["metadata"] = json!({"description": s.description, "tags": s.tags});
            }
            if let Some(t) = &s.default_queue_type {
                item["default_queue_type"] = json!(t);
            }
            item
        })
        .collect();
    m.insert("vhosts".into(), vhost_defs.into());
    let permissions: Vec<Value> = broker
        .permissions()
        .into_iter()
        .map(|p| {
            json!({"user": p.user, "vhost": p.vhost, "configure": p.configure, "write": p.write, "read": p.read})
        })
        .collect();
    m.insert("permissions".into(), permissions.into());
    let topic: Vec<Value> = broker
        .topic_permissions()
        .into_iter()
        .map(|p| {
            json!({"user": p.user, "vhost": p.vhost, "exchange": p.exchange, "write": p.write, "read": p.read})
        })
        .collect();
    m.insert("topic_permissions".into(), topic.into());
    m.insert("parameters".into(), out.parameters.into());
    m.insert("global_parameters".into(), json!([]));
    m.insert("policies".into(), out.policies.into());
    m.insert("queues".into(), out.queues.into());
    m.insert("exchanges".into(), out.exchanges.into());
    m.insert("bindings".into(), out.bindings.into());
    Ok(Json(Value::Object(m)))
}

pub async fn export_vhost_defs(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    let v = super::vhost_for(&state, &caller, &vhost)?;
    let mut out = Exported::default();
    export_vhost(&v, false, &mut out);
    let mut m = serde_json::Map::new();
    m.insert(
        "rabbit_version".into(),
        super::overview::RABBITMQ_VERSION.into(),
    );
    m.insert("parameters".into(), out.parameters.into());
    m.insert("policies".into(), out.policies.into());
    m.insert("queues".into(), out.queues.into());
    m.insert("exchanges".into(), out.exchanges.into());
    m.insert("bindings".into(), out.bindings.into());
    Ok(Json(Value::Object(m)))
}

pub async fn import_all(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    let file: Definitions = body.parse()?;
    let plan = Plan::check(&state, &file, None)?;
    plan.apply(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn import_vhost(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    super::vhost_for(&state, &caller, &vhost)?;
    let file: Definitions = body.parse()?;
    if !file.vhosts.is_empty() || !file.users.is_empty() || !file.permissions.is_empty() {
        return Err(ApiError::bad_request(
            "a vhost's definitions hold no users, vhosts or permissions",
        ));
    }
    let plan = Plan::check(&state, &file, Some(&vhost))?;
    plan.apply(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A checked import, ready to apply.
struct Plan {
    new_vhosts: Vec<(String, VHostSettings)>,
    users: Vec<(String, PasswordInput, Vec<String>)>,
    permissions: Vec<PermissionDef>,
    topic_permissions: Vec<TopicPermissionDef>,
    policies: Vec<(String, PolicyKind, PolicySpec)>,
    exchanges: Vec<(String, ExchangeDef, FieldTable)>,
    queues: Vec<(String, QueueDef, FieldTable)>,
    bindings: Vec<(String, BindingDef, FieldTable)>,
}

fn vhost_of<'a>(
    item: &'a Option<String>,
    fixed: Option<&'a str>,
    what: &str,
) -> ApiResult<&'a str> {
    match (fixed, item) {
        (Some(v), _) => Ok(v),
        (None, Some(v)) => Ok(v),
        (None, None) => Err(ApiError::bad_request(format!("{what} has no vhost"))),
    }
}

fn table(v: &Value, what: &str) -> ApiResult<FieldTable> {
    match v {
        Value::Null => Ok(FieldTable::new()),
        v => json_to_table(v).map_err(|e| ApiError::bad_request(format!("{what}: {e}"))),
    }
}

impl Plan {
    fn check(state: &ApiState, file: &Definitions, fixed: Option<&str>) -> ApiResult<Plan> {
        let broker = &state.broker;
        let mut known: HashSet<String> = broker
            .live_vhosts()
            .iter()
            .map(|v| v.name.to_string())
            .collect();
        let mut new_vhosts = Vec::new();
        for v in &file.vhosts {
            if v.name.is_empty() {
                return Err(ApiError::bad_request("a vhost name must not be empty"));
            }
            if known.insert(v.name.clone()) {
                new_vhosts.push((v.name.clone(), v.settings()?));
            }
        }
        let exists = |vhost: &str| -> ApiResult<()> {
            if known.contains(vhost) {
                Ok(())
            } else {
                Err(ApiError::bad_request(format!(
                    "no_such_vhost: vhost '{vhost}' does not exist and the file does not create it"
                )))
            }
        };
        let mut users = Vec::new();
        let mut user_names: HashSet<String> = broker.users().into_iter().map(|u| u.name).collect();
        for u in &file.users {
            u.check()?;
            users.push((u.name.clone(), u.password_input()?, u.tag_list()));
            user_names.insert(u.name.clone());
        }
        let user_exists = |user: &str| -> ApiResult<()> {
            if user_names.contains(user) {
                Ok(())
            } else {
                Err(ApiError::bad_request(format!(
                    "no_such_user: user '{user}' does not exist and the file does not create it"
                )))
            }
        };
        let compiles = |what: &str, pattern: &str| -> ApiResult<()> {
            regex::Regex::new(pattern).map(|_| ()).map_err(|e| {
                ApiError::bad_request(format!(
                    "{what} '{pattern}' is not a regular expression: {e}"
                ))
            })
        };
        for p in &file.permissions {
            exists(&p.vhost)?;
            user_exists(&p.user)?;
            for pattern in [&p.configure, &p.write, &p.read] {
                compiles("permission", pattern)?;
            }
        }
        for p in &file.topic_permissions {
            exists(&p.vhost)?;
            user_exists(&p.user)?;
            for pattern in [&p.write, &p.read] {
                compiles("topic permission", pattern)?;
            }
        }
        let mut policies = Vec::new();
        for p in &file.policies {
            let vhost = vhost_of(&p.vhost, fixed, "a policy")?;
            exists(vhost)?;
            policies.push((vhost.to_string(), PolicyKind::Regular, p.spec()?));
        }
        for p in &file.parameters {
            let vhost = vhost_of(&p.vhost, fixed, "a parameter")?;
            exists(vhost)?;
            if p.component == "operator_policy" {
                let def: PolicyDef = serde_json::from_value(p.value.clone()).map_err(|e| {
                    ApiError::bad_request(format!("operator policy '{}': {e}", p.name))
                })?;
                let spec = PolicyDef {
                    name: p.name.clone(),
                    ..def
                }
                .spec()?;
                policies.push((vhost.to_string(), PolicyKind::Operator, spec));
            } else {
                tracing::warn!(
                    "definitions: parameter '{}' of component '{}' ignored (not supported)",
                    p.name,
                    p.component
                );
            }
        }
        for (_, kind, spec) in &policies {
            Policy::new(*kind, spec.clone()).map_err(|e| {
                ApiError::bad_request(format!("policy '{}': {}", spec.name, e.message))
            })?;
        }

        // Exchanges, queues: what the file declares, by vhost, to check bindings.
        let mut exchanges = Vec::new();
        let mut declared_exchanges: HashMap<(String, String), ExchangeKind> = HashMap::new();
        for e in &file.exchanges {
            let vhost = vhost_of(&e.vhost, fixed, "an exchange")?;
            exists(vhost)?;
            let kind = ExchangeKind::parse(&e.kind).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "exchange '{}' in vhost '{vhost}': unknown exchange type '{}'",
                    e.name, e.kind
                ))
            })?;
            let args = table(&e.arguments, &format!("exchange '{}' arguments", e.name))?;
            if let Some(existing) = broker.vhost(vhost).and_then(|v| v.exchange(&e.name)) {
                if existing.type_name() != e.kind
                    || existing.durable != e.durable
                    || existing.auto_delete != e.auto_delete
                    || existing.internal != e.internal
                {
                    return Err(ApiError::bad_request(format!(
                        "exchange '{}' in vhost '{vhost}' exists with other properties",
                        e.name
                    )));
                }
            } else if e.name.is_empty() || e.name.starts_with("amq.") {
                return Err(ApiError::bad_request(format!(
                    "exchange name '{}' contains reserved prefix 'amq.*'",
                    e.name
                )));
            }
            declared_exchanges.insert((vhost.to_string(), e.name.clone()), kind);
            exchanges.push((vhost.to_string(), e.clone(), args));
        }
        let mut queues = Vec::new();
        let mut declared_queues: HashSet<(String, String)> = HashSet::new();
        for q in &file.queues {
            let vhost = vhost_of(&q.vhost, fixed, "a queue")?;
            exists(vhost)?;
            if q.name.is_empty() || q.name.starts_with("amq.") {
                return Err(ApiError::bad_request(format!(
                    "queue name '{}' in vhost '{vhost}' is empty or reserved",
                    q.name
                )));
            }
            let args = table(&q.arguments, &format!("queue '{}' arguments", q.name))?;
            warren_core::queue::args::parse_queue_args(&args, &q.name, vhost)
                .map_err(|e| ApiError::bad_request(e.message))?;
            if let Some(existing) = broker.vhost(vhost).and_then(|v| v.queue(&q.name)) {
                if existing.durable != q.durable || existing.auto_delete != q.auto_delete {
                    return Err(ApiError::bad_request(format!(
                        "queue '{}' in vhost '{vhost}' exists with other properties",
                        q.name
                    )));
                }
            }
            declared_queues.insert((vhost.to_string(), q.name.clone()));
            queues.push((vhost.to_string(), q.clone(), args));
        }
        let mut bindings = Vec::new();
        for b in &file.bindings {
            let vhost = vhost_of(&b.vhost, fixed, "a binding")?;
            exists(vhost)?;
            let live = broker.vhost(vhost);
            let source_kind = declared_exchanges
                .get(&(vhost.to_string(), b.source.clone()))
                .copied()
                .or_else(|| {
                    live.as_ref()
                        .and_then(|v| v.exchange(&b.source))
                        .map(|e| e.kind)
                })
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "binding source exchange '{}' in vhost '{vhost}' does not exist",
                        b.source
                    ))
                })?;
            if b.source.is_empty() {
                return Err(ApiError::bad_request(
                    "bindings of the default exchange cannot be imported",
                ));
            }
            let dest_exists = match b.destination_type.as_str() {
                "queue" => {
                    declared_queues.contains(&(vhost.to_string(), b.destination.clone()))
                        || live
                            .as_ref()
                            .is_some_and(|v| v.queue(&b.destination).is_some())
                }
                "exchange" => {
                    declared_exchanges.contains_key(&(vhost.to_string(), b.destination.clone()))
                        || live
                            .as_ref()
                            .is_some_and(|v| v.exchange(&b.destination).is_some())
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "binding destination_type must be 'queue' or 'exchange', not '{other}'"
                    )))
                }
            };
            if !dest_exists {
                return Err(ApiError::bad_request(format!(
                    "binding destination {} '{}' in vhost '{vhost}' does not exist",
                    b.destination_type, b.destination
                )));
            }
            let args = table(&b.arguments, "binding arguments")?;
            validate_binding_args(source_kind, &args).map_err(ApiError::bad_request)?;
            bindings.push((vhost.to_string(), b.clone(), args));
        }
        Ok(Plan {
            new_vhosts,
            users,
            permissions: file.permissions.clone(),
            topic_permissions: file.topic_permissions.clone(),
            policies,
            exchanges,
            queues,
            bindings,
        })
    }

    async fn apply(self, state: &ApiState) -> ApiResult<()> {
        let broker = &state.broker;
        for (v, settings) in self.new_vhosts {
            broker.add_vhost(&v, settings).await?;
        }
        for (name, password, tags) in self.users {
            broker.add_user(&name, password, tags).await?;
        }
        for p in &self.permissions {
            broker
                .set_permissions(&p.user, &p.vhost, &p.configure, &p.write, &p.read)
                .await?;
        }
        for p in &self.topic_permissions {
            broker
                .set_topic_permissions(&p.user, &p.vhost, &p.exchange, &p.write, &p.read)
                .await?;
        }
        let vhost = |name: &str| broker.vhost(name).ok_or_else(ApiError::not_found);
        // The import acts as the broker itself: the administrator who asked for it
        // may not hold permissions in the vhosts the file creates.
        let unrestricted = Access::unrestricted;
        for (v, kind, spec) in self.policies {
            vhost(&v)?.set_policy(kind, spec).await?;
        }
        for (v, e, args) in self.exchanges {
            vhost(&v)?
                .declare_exchange(ExchangeDeclare {
                    access: &unrestricted(&v),
                    name: &e.name,
                    kind: &e.kind,
                    passive: false,
                    durable: e.durable,
                    auto_delete: e.auto_delete,
                    internal: e.internal,
                    arguments: args,
                })
                .await?;
        }
        for (v, q, args) in self.queues {
            vhost(&v)?
                .declare_queue(QueueDeclare {
                    access: &unrestricted(&v),
                    name: &q.name,
                    passive: false,
                    durable: q.durable,
                    exclusive: false,
                    auto_delete: q.auto_delete,
                    arguments: args,
                    connection: super::queues::NO_CONNECTION,
                })
                .await?;
        }
        for (v, b, args) in self.bindings {
            let dest = if b.destination_type == "queue" {
                DestName::Queue(b.destination.as_str().into())
            } else {
                DestName::Exchange(b.destination.as_str().into())
            };
            let spec = BindingSpec {
                source: b.source.as_str().into(),
                destination: dest,
                routing_key: b.routing_key.clone(),
                arguments: args,
            };
            vhost(&v)?
                .bind(&unrestricted(&v), super::queues::NO_CONNECTION, spec, false)
                .await?;
        }
        Ok(())
    }
}

impl PolicyDef {
    fn spec(&self) -> ApiResult<PolicySpec> {
        let apply_to = ApplyTo::parse(&self.apply_to)
            .map_err(|e| ApiError::bad_request(format!("policy '{}': {}", self.name, e.message)))?;
        Ok(PolicySpec {
            name: self.name.as_str().into(),
            pattern: self.pattern.clone(),
            apply_to,
            priority: self.priority,
            definition: table(
                &self.definition,
                &format!("policy '{}' definition", self.name),
            )?,
        })
    }
}
