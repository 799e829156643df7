//! `bindings`: listings (all, per vhost, per exchange as source or destination, per
//! queue), the bindings between two ends, create (POST, with a `Location`), and get or
//! delete one by its properties key.
//!
//! The default exchange's implicit bindings (one per queue, keyed by the queue's name)
//! are listed as RabbitMQ lists them; they cannot be created or deleted.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, P, Q};
use crate::json::{json_to_table, table_to_json, Json};
use crate::listing::{list, Listed};
use crate::ApiState;
use amqp_codec::FieldTable;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use warren_core::names::Name;
use warren_core::vhost::{BindingSpec, Dest, DestName};
use warren_core::VHostRef;

#[derive(Clone)]
pub(crate) struct BindingItem {
    pub vhost: Name,
    pub source: Name,
    pub destination: Name,
    pub to_queue: bool,
    pub routing_key: String,
    pub arguments: FieldTable,
}

impl Listed for BindingItem {
    fn name(&self) -> &str {
        &self.source
    }
    fn vhost(&self) -> &str {
        &self.vhost
    }
    fn to_json(&self) -> Value {
        json!({
            "source": &*self.source,
            "vhost": &*self.vhost,
            "destination": &*self.destination,
            "destination_type": if self.to_queue { "queue" } else { "exchange" },
            "routing_key": self.routing_key,
            "arguments": table_to_json(&self.arguments),
            "properties_key": self.properties_key(),
        })
    }
}

impl BindingItem {
    /// The key that names a binding among those between the same two ends, as
    /// RabbitMQ builds it: the routing key quoted, then `~` and a hash of the
    /// arguments when there are any; `~` alone for an empty key and no arguments.
    /// (The hash is Warren's own: RabbitMQ hashes the Erlang term. Clients take the
    /// key from listings, never compute it.)
    pub fn properties_key(&self) -> String {
        let key = quote_binding(&self.routing_key);
        if self.arguments.is_empty() {
            if key.is_empty() {
                "~".to_string()
            } else {
                key
            }
        } else {
            format!("{key}~{}", args_hash(&self.arguments))
        }
    }
}

/// `quote_plus`, then `%` doubled to `%25`, as RabbitMQ quotes the routing key.
fn quote_binding(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'~' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%25{other:02X}")),
        }
    }
    out
}

/// Percent-encodes a path segment (for `Location`).
pub(crate) fn percent(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'~' | b'_' => {
                out.push(b as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// 32 bits of FNV-1a over the arguments as JSON, in URL-safe base64 (6 characters).
fn args_hash(args: &FieldTable) -> String {
    let text = table_to_json(args).to_string();
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.to_be_bytes())
}

/// Every binding of a vhost, the default exchange's implicit ones first.
pub(crate) fn vhost_bindings(v: &VHostRef) -> Vec<BindingItem> {
    let mut out = Vec::new();
    let mut queues = v.queues();
    queues.sort_by(|a, b| a.name.cmp(&b.name));
    for q in queues {
        out.push(BindingItem {
            vhost: v.name.clone(),
            source: Name::from(""),
            destination: q.name.clone(),
            to_queue: true,
            routing_key: q.name.to_string(),
            arguments: FieldTable::new(),
        });
    }
    let mut exchanges = v.exchanges();
    exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    for e in exchanges.iter().filter(|e| !e.is_default()) {
        let mut bindings: Vec<BindingItem> = e
            .bindings()
            .into_iter()
            .map(|(routing_key, arguments, dest)| BindingItem {
                vhost: v.name.clone(),
                source: e.name.clone(),
                destination: dest.name().clone(),
                to_queue: matches!(dest, Dest::Queue(_)),
                routing_key,
                arguments,
            })
            .collect();
        bindings.sort_by(|a, b| {
            (a.to_queue, &a.destination, &a.routing_key).cmp(&(
                b.to_queue,
                &b.destination,
                &b.routing_key,
            ))
        });
        out.extend(bindings);
    }
    out
}

fn all(state: &ApiState, caller: &Caller, vhost: Option<&str>) -> ApiResult<Vec<BindingItem>> {
    let mut vhosts = super::vhosts_for(state, caller, vhost)?;
    vhosts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(vhosts.iter().flat_map(vhost_bindings).collect())
}

/// Listings of bindings keep their natural order (by source) unless sorted.
fn reply(items: Vec<BindingItem>, params: &crate::listing::Params) -> ApiResult<Json<Value>> {
    if params.is_empty() {
        return Ok(Json(Value::Array(
            items.iter().map(Listed::to_json).collect(),
        )));
    }
    Ok(Json(list(items, params)?))
}

pub async fn list_all(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    reply(all(&state, &caller, None)?, &params)
}

pub async fn list_vhost(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    reply(all(&state, &caller, Some(&vhost))?, &params)
}

pub async fn exchange_source(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    let v = super::vhost_for(&state, &caller, &vhost)?;
    let name = super::exchange_name(&name);
    v.exchange(name).ok_or_else(ApiError::not_found)?;
    let items = vhost_bindings(&v)
        .into_iter()
        .filter(|b| &*b.source == name)
        .collect();
    reply(items, &params)
}

pub async fn exchange_destination(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    let v = super::vhost_for(&state, &caller, &vhost)?;
    let name = super::exchange_name(&name);
    v.exchange(name).ok_or_else(ApiError::not_found)?;
    let items = vhost_bindings(&v)
        .into_iter()
        .filter(|b| !b.to_queue && &*b.destination == name)
        .collect();
    reply(items, &params)
}

pub async fn queue(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    let v = super::vhost_for(&state, &caller, &vhost)?;
    v.queue(&name).ok_or_else(ApiError::not_found)?;
    let items = vhost_bindings(&v)
        .into_iter()
        .filter(|b| b.to_queue && *b.destination == *name)
        .collect();
    reply(items, &params)
}

/// The two ends named by `.../e/{source}/{q|e}/{destination}`; 404 unless both exist.
fn ends(
    state: &ApiState,
    caller: &Caller,
    vhost: &str,
    source: &str,
    kind: &str,
    destination: &str,
) -> ApiResult<(VHostRef, Name, DestName)> {
    let v = super::vhost_for(state, caller, vhost)?;
    let source = super::exchange_name(source);
    let source = v
        .exchange(source)
        .ok_or_else(ApiError::not_found)?
        .name
        .clone();
    let dest = match kind {
        "q" => DestName::Queue(
            v.queue(destination)
                .ok_or_else(ApiError::not_found)?
                .name
                .clone(),
        ),
        "e" => {
            let name = super::exchange_name(destination);
            DestName::Exchange(
                v.exchange(name)
                    .ok_or_else(ApiError::not_found)?
                    .name
                    .clone(),
            )
        }
        _ => return Err(ApiError::not_found()),
    };
    Ok((v, source, dest))
}

fn between_items(v: &VHostRef, source: &Name, dest: &DestName) -> Vec<BindingItem> {
    let (to_queue, name) = match dest {
        DestName::Queue(q) => (true, q),
        DestName::Exchange(e) => (false, e),
    };
    vhost_bindings(v)
        .into_iter()
        .filter(|b| b.source == *source && b.to_queue == to_queue && b.destination == *name)
        .collect()
}

type EndsPath = (String, String, String, String);

pub async fn between(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, source, kind, destination)): P<EndsPath>,
) -> ApiResult<Json<Value>> {
    let (v, source, dest) = ends(&state, &caller, &vhost, &source, &kind, &destination)?;
    let items = between_items(&v, &source, &dest);
    Ok(Json(Value::Array(
        items.iter().map(Listed::to_json).collect(),
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    arguments: Option<Value>,
}

pub async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, source, kind, destination)): P<EndsPath>,
    body: Body,
) -> ApiResult<Response> {
    let (v, source, dest) = ends(&state, &caller, &vhost, &source, &kind, &destination)?;
    let c: Create = body.parse()?;
    let arguments = match &c.arguments {
        None | Some(Value::Null) => FieldTable::new(),
        Some(a) => json_to_table(a).map_err(ApiError::bad_request)?,
    };
    let dest_name = match &dest {
        DestName::Queue(q) | DestName::Exchange(q) => q.clone(),
    };
    let item = BindingItem {
        vhost: v.name.clone(),
        source: source.clone(),
        destination: dest_name.clone(),
        to_queue: matches!(dest, DestName::Queue(_)),
        routing_key: c.routing_key.clone(),
        arguments: arguments.clone(),
    };
    let owner = match &dest {
        DestName::Queue(q) => v.queue(q).and_then(|q| q.exclusive_owner),
        DestName::Exchange(_) => None,
    };
    let access = super::vhost_access(&state, &caller, &vhost)?.1;
    let spec = BindingSpec {
        source: source.clone(),
        destination: dest,
        routing_key: c.routing_key.clone(),
        arguments,
    };
    v.bind(
        &access,
        owner.unwrap_or(super::queues::NO_CONNECTION),
        spec,
        false,
    )
    .await?;
    let location = format!(
        "{}/{}",
        percent(&dest_name),
        percent(&item.properties_key())
    );
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

fn find_by_props(
    state: &ApiState,
    caller: &Caller,
    path: &(String, String, String, String, String),
) -> ApiResult<(VHostRef, DestName, BindingItem)> {
    let (vhost, source, kind, destination, props) = path;
    let (v, source, dest) = ends(state, caller, vhost, source, kind, destination)?;
    let item = between_items(&v, &source, &dest)
        .into_iter()
        .find(|b| b.properties_key() == *props)
        .ok_or_else(ApiError::not_found)?;
    Ok((v, dest, item))
}

pub async fn one(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(path): P<(String, String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (_, _, item) = find_by_props(&state, &caller, &path)?;
    Ok(Json(item.to_json()))
}

pub async fn remove(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(path): P<(String, String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let (v, dest, item) = find_by_props(&state, &caller, &path)?;
    if item.source.is_empty() {
        return Err(ApiError::not_authorised("Access refused."));
    }
    let owner = match &dest {
        DestName::Queue(q) => v.queue(q).and_then(|q| q.exclusive_owner),
        DestName::Exchange(_) => None,
    };
    let access = super::vhost_access(&state, &caller, &path.0)?.1;
    let spec = BindingSpec {
        source: item.source.clone(),
        destination: dest,
        routing_key: item.routing_key.clone(),
        arguments: item.arguments,
    };
    v.bind(
        &access,
        owner.unwrap_or(super::queues::NO_CONNECTION),
        spec,
        true,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
