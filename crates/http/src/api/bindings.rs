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
use crate::listing::{list_fast, list_grouped, Listed, Listing};
use crate::ApiState;
use amqp_codec::FieldTable;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warren_core::names::Name;
use warren_core::vhost::ExchangeRef;
use warren_core::vhost::{BindingSpec, Dest, DestName};
use warren_core::VHostRef;

#[derive(Clone)]
pub(crate) struct BindingItem {
    pub vhost: Name,
    pub source: Name,
    pub destination: Name,
    pub to_queue: bool,
    /// A `Name` so that the default exchange's bindings share their queue's name.
    pub routing_key: Name,
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
        serde_json::to_value(self.view()).unwrap_or_default()
    }
    /// Within a source: exchanges before queues, then by destination, key and
    /// arguments.
    fn tiebreak(&self, other: &Self) -> std::cmp::Ordering {
        (self.to_queue, &self.destination, &self.routing_key)
            .cmp(&(other.to_queue, &other.destination, &other.routing_key))
            .then_with(|| self.properties_key().cmp(&other.properties_key()))
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        let _ = serde_json::to_writer(out, &self.view());
    }
}

/// A binding as the API shows it, serialised without an intermediate `Value`.
#[derive(Serialize)]
struct BindingView<'a> {
    source: &'a str,
    vhost: &'a str,
    destination: &'a str,
    destination_type: &'static str,
    routing_key: &'a str,
    arguments: Value,
    properties_key: String,
}

impl BindingItem {
    fn view(&self) -> BindingView<'_> {
        BindingView {
            source: &self.source,
            vhost: &self.vhost,
            destination: &self.destination,
            destination_type: if self.to_queue { "queue" } else { "exchange" },
            routing_key: &self.routing_key,
            arguments: table_to_json(&self.arguments),
            properties_key: self.properties_key(),
        }
    }

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

/// The vhost's bindings in listing order, the default exchange's left out (for
/// definitions, which never hold them).
pub(crate) fn explicit_bindings_sorted(v: &VHostRef) -> Vec<BindingItem> {
    let mut out = Vec::new();
    for e in v.exchanges().iter().filter(|e| !e.is_default()) {
        push_exchange_bindings(v, e, &mut out);
    }
    out.sort_by(|a, b| a.source.cmp(&b.source).then_with(|| a.tiebreak(b)));
    out
}

/// The default exchange's implicit binding of a queue, keyed by its name: three
/// reference counts, no allocation (`default` is the default exchange's name).
fn default_binding(v: &VHostRef, default: &Name, queue: &Name) -> BindingItem {
    BindingItem {
        vhost: v.name.clone(),
        source: default.clone(),
        destination: queue.clone(),
        to_queue: true,
        routing_key: queue.clone(),
        arguments: FieldTable::new(),
    }
}

fn push_exchange_bindings(v: &VHostRef, e: &ExchangeRef, out: &mut Vec<BindingItem>) {
    push_bindings_where(v, e, out, |_| true);
}

/// The exchange's bindings whose destination `keep` accepts; only those are copied.
fn push_bindings_where(
    v: &VHostRef,
    e: &ExchangeRef,
    out: &mut Vec<BindingItem>,
    keep: impl Fn(&Dest) -> bool,
) {
    e.for_each_binding(|routing_key, arguments, dest| {
        if keep(dest) {
            out.push(BindingItem {
                vhost: v.name.clone(),
                source: e.name.clone(),
                destination: dest.name().clone(),
                to_queue: matches!(dest, Dest::Queue(_)),
                routing_key: Name::from(routing_key),
                arguments: arguments.clone(),
            });
        }
    });
}

/// The bindings that lead to one destination: only exchanges that hold one are
/// walked, so a queue's bindings do not cost a listing of the whole vhost.
fn bindings_to(v: &VHostRef, dest: &Dest) -> Vec<BindingItem> {
    let mut out = Vec::new();
    if let Dest::Queue(q) = dest {
        out.push(default_binding(v, &Name::from(""), &q.name));
    }
    for e in v.exchanges().iter().filter(|e| !e.is_default()) {
        if e.has_destination(dest) {
            push_bindings_where(v, e, &mut out, |d| d == dest);
        }
    }
    out
}

/// One source's bindings in a vhost, to be made only if a page reaches them.
enum Source {
    Default(VHostRef),
    Exchange(VHostRef, ExchangeRef),
}

/// Every source of the vhosts a listing covers, in listing order (vhost, then
/// source name: the default exchange's `""` first), each with its count.
fn sources(
    state: &ApiState,
    caller: &Caller,
    vhost: Option<&str>,
) -> ApiResult<Vec<(usize, Source)>> {
    let mut vhosts = super::vhosts_for(state, caller, vhost)?;
    vhosts.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for v in vhosts {
        let mut exchanges = v.exchanges();
        exchanges.retain(|e| !e.is_default());
        exchanges.sort_by(|a, b| a.name.cmp(&b.name));
        out.push((v.queue_count(), Source::Default(v.clone())));
        for e in exchanges {
            out.push((e.binding_count(), Source::Exchange(v.clone(), e)));
        }
    }
    Ok(out)
}

fn source_bindings(source: &Source) -> Vec<BindingItem> {
    let mut out = Vec::new();
    match source {
        Source::Default(v) => {
            let default = Name::from("");
            out.extend(
                v.queues()
                    .iter()
                    .map(|q| default_binding(v, &default, &q.name)),
            );
        }
        Source::Exchange(v, e) => push_exchange_bindings(v, e, &mut out),
    }
    out
}

fn all_sources_reply(
    state: &ApiState,
    caller: &Caller,
    vhost: Option<&str>,
    params: &crate::listing::Params,
) -> ApiResult<Listing> {
    list_grouped(sources(state, caller, vhost)?, source_bindings, params)
}

/// Listings of bindings come by vhost and source, then as `tiebreak` orders
/// them, unless sorted; serialised item by item (100,000 bindings).
fn reply(items: Vec<BindingItem>, params: &crate::listing::Params) -> ApiResult<Listing> {
    list_fast(items, params)
}

pub async fn list_all(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Q(params): Q,
) -> ApiResult<Listing> {
    all_sources_reply(&state, &caller, None, &params)
}

pub async fn list_vhost(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
    Q(params): Q,
) -> ApiResult<Listing> {
    all_sources_reply(&state, &caller, Some(&vhost), &params)
}

pub async fn exchange_source(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    Q(params): Q,
) -> ApiResult<Listing> {
    let v = super::vhost_for(&state, &caller, &vhost)?;
    let name = super::exchange_name(&name);
    let exchange = v.exchange(name).ok_or_else(ApiError::not_found)?;
    let mut items = Vec::new();
    if exchange.is_default() {
        let default = exchange.name.clone();
        items.extend(
            v.queues()
                .iter()
                .map(|q| default_binding(&v, &default, &q.name)),
        );
    } else {
        push_exchange_bindings(&v, &exchange, &mut items);
    }
    reply(items, &params)
}

pub async fn exchange_destination(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    Q(params): Q,
) -> ApiResult<Listing> {
    let v = super::vhost_for(&state, &caller, &vhost)?;
    let name = super::exchange_name(&name);
    let exchange = v.exchange(name).ok_or_else(ApiError::not_found)?;
    reply(bindings_to(&v, &Dest::Exchange(exchange)), &params)
}

pub async fn queue(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    Q(params): Q,
) -> ApiResult<Listing> {
    let v = super::vhost_for(&state, &caller, &vhost)?;
    let queue = v.queue(&name).ok_or_else(ApiError::not_found)?;
    reply(bindings_to(&v, &Dest::Queue(queue)), &params)
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
    let dest = match dest {
        DestName::Queue(q) => v.queue(q).map(Dest::Queue),
        DestName::Exchange(e) => v.exchange(e).map(Dest::Exchange),
    };
    let Some(dest) = dest else {
        return Vec::new();
    };
    let mut items = bindings_to(v, &dest);
    items.retain(|b| b.source == *source);
    items.sort_by(|a, b| a.tiebreak(b));
    items
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
        routing_key: Name::from(c.routing_key.as_str()),
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
        routing_key: item.routing_key.to_string(),
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
