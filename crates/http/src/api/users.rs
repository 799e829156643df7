//! `users`, `permissions`, `topic-permissions`, and creating and deleting vhosts:
//! the broker's access control, for administrators (as RabbitMQ).

use crate::auth::{Caller, Level};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, P, Q};
use crate::json::Json;
use crate::listing::{list, Listed};
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use warren_core::access::{
    parse_tags, HashingAlgorithm, PermissionInfo, TopicPermissionInfo, UserInfo, VHostSettings,
};
use warren_core::PasswordInput;

fn user_json(u: &UserInfo) -> Value {
    json!({
        "name": u.name,
        "password_hash": u.password_hash,
        "hashing_algorithm": u.hashing_algorithm,
        "tags": u.tags,
        "limits": {},
    })
}

struct UserItem(UserInfo);

impl Listed for UserItem {
    fn name(&self) -> &str {
        &self.0.name
    }
    fn to_json(&self) -> Value {
        user_json(&self.0)
    }
}

pub async fn list_users(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    let items = state.broker.users().into_iter().map(UserItem).collect();
    Ok(Json(list(items, &params)?))
}

pub async fn get_user(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    let user = state.broker.user(&name).ok_or_else(ApiError::not_found)?;
    Ok(Json(user_json(&user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_hash: Option<String>,
    #[serde(default)]
    hashing_algorithm: Option<String>,
    /// `"a,b"` or `["a", "b"]`.
    #[serde(default)]
    tags: Value,
    #[serde(default, rename = "name")]
    _name: Option<String>,
    #[serde(default, rename = "limits")]
    _limits: Option<Value>,
}

fn tags_of(v: &Value) -> ApiResult<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(parse_tags(s)),
        Value::Array(a) => a
            .iter()
            .map(|t| {
                t.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request(format!("a tag must be a string, not {t}"))
                })
            })
            .collect(),
        other => Err(ApiError::bad_request(format!(
            "tags must be a string or a list, not {other}"
        ))),
    }
}

pub async fn put_user(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    let b: UserBody = body.parse()?;
    let tags = tags_of(&b.tags)?;
    let password = match (b.password, b.password_hash) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either password or password_hash, not both",
            ))
        }
        (Some(p), None) => PasswordInput::Plain(p),
        (None, Some(hash)) if hash.is_empty() => PasswordInput::None,
        (None, Some(hash)) => {
            let name = b
                .hashing_algorithm
                .as_deref()
                .unwrap_or("rabbit_password_hashing_sha256");
            let algorithm = HashingAlgorithm::parse(name).ok_or_else(|| {
                ApiError::bad_request(format!("unknown hashing_algorithm '{name}'"))
            })?;
            PasswordInput::Hash { hash, algorithm }
        }
        (None, None) => PasswordInput::None,
    };
    let created = state.broker.add_user(&name, password, tags).await?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

pub async fn delete_user(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    state.broker.user(&name).ok_or_else(ApiError::not_found)?;
    state.broker.delete_user(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn permission_json(p: &PermissionInfo) -> Value {
    json!({"user": p.user, "vhost": p.vhost, "configure": p.configure, "write": p.write, "read": p.read})
}

fn topic_json(p: &TopicPermissionInfo) -> Value {
    json!({"user": p.user, "vhost": p.vhost, "exchange": p.exchange, "write": p.write, "read": p.read})
}

fn permissions_where(
    state: &ApiState,
    caller: &Caller,
    keep: impl Fn(&PermissionInfo) -> bool,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    let items: Vec<Value> = state
        .broker
        .permissions()
        .iter()
        .filter(|p| keep(p))
        .map(permission_json)
        .collect();
    Ok(Json(Value::Array(items)))
}

pub async fn all_permissions(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    permissions_where(&state, &caller, |_| true)
}

pub async fn user_permissions(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(user): P<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    state.broker.user(&user).ok_or_else(ApiError::not_found)?;
    permissions_where(&state, &caller, |p| p.user == user)
}

pub async fn vhost_permissions(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    state.broker.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    permissions_where(&state, &caller, |p| p.vhost == vhost)
}

pub async fn get_permission(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, user)): P<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    state
        .broker
        .permissions()
        .iter()
        .find(|p| p.vhost == vhost && p.user == user)
        .map(|p| Json(permission_json(p)))
        .ok_or_else(ApiError::not_found)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionBody {
    configure: String,
    write: String,
    read: String,
    #[serde(default, rename = "user")]
    _user: Option<String>,
    #[serde(default, rename = "vhost")]
    _vhost: Option<String>,
}

fn require_user_and_vhost(state: &ApiState, vhost: &str, user: &str) -> ApiResult<()> {
    if state.broker.user(user).is_none() || state.broker.vhost(vhost).is_none() {
        return Err(ApiError::bad_request("vhost_or_user_not_found"));
    }
    Ok(())
}

pub async fn put_permission(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, user)): P<(String, String)>,
    body: Body,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    let b: PermissionBody = body.parse()?;
    require_user_and_vhost(&state, &vhost, &user)?;
    let existed = state
        .broker
        .permissions()
        .iter()
        .any(|p| p.vhost == vhost && p.user == user);
    state
        .broker
        .set_permissions(&user, &vhost, &b.configure, &b.write, &b.read)
        .await?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

pub async fn delete_permission(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, user)): P<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    let exists = state
        .broker
        .permissions()
        .iter()
        .any(|p| p.vhost == vhost && p.user == user);
    if !exists {
        return Err(ApiError::not_found());
    }
    state.broker.clear_permissions(&user, &vhost).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn all_topic_permissions(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    let items: Vec<Value> = state
        .broker
        .topic_permissions()
        .iter()
        .map(topic_json)
        .collect();
    Ok(Json(Value::Array(items)))
}

pub async fn get_topic_permissions(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, user)): P<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Level::Administrator)?;
    let items: Vec<Value> = state
        .broker
        .topic_permissions()
        .iter()
        .filter(|p| p.vhost == vhost && p.user == user)
        .map(topic_json)
        .collect();
    if items.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Json(Value::Array(items)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicBody {
    exchange: String,
    write: String,
    read: String,
    #[serde(default, rename = "user")]
    _user: Option<String>,
    #[serde(default, rename = "vhost")]
    _vhost: Option<String>,
}

pub async fn put_topic_permissions(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, user)): P<(String, String)>,
    body: Body,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    let b: TopicBody = body.parse()?;
    require_user_and_vhost(&state, &vhost, &user)?;
    let existed = state
        .broker
        .topic_permissions()
        .iter()
        .any(|p| p.vhost == vhost && p.user == user && p.exchange == b.exchange);
    state
        .broker
        .set_topic_permissions(&user, &vhost, &b.exchange, &b.write, &b.read)
        .await?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

pub async fn delete_topic_permissions(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, user)): P<(String, String)>,
    Q(params): Q,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    let exchange = params.get("exchange").cloned();
    let matching: Vec<TopicPermissionInfo> = state
        .broker
        .topic_permissions()
        .into_iter()
        .filter(|p| p.vhost == vhost && p.user == user)
        .filter(|p| exchange.as_ref().is_none_or(|e| *e == p.exchange))
        .collect();
    if matching.is_empty() {
        return Err(ApiError::not_found());
    }
    for p in matching {
        state
            .broker
            .clear_topic_permissions(&user, &vhost, Some(&p.exchange))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VHostBody {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Value,
    #[serde(default)]
    default_queue_type: Option<String>,
    #[serde(default, rename = "name")]
    _name: Option<String>,
    /// Firehose tracing on or off (RabbitMQ's vhost `tracing` field).
    #[serde(default)]
    tracing: Option<bool>,
}

pub async fn put_vhost(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    let b: VHostBody = body.parse()?;
    let settings = VHostSettings {
        description: b.description.unwrap_or_default(),
        tags: tags_of(&b.tags)?,
        default_queue_type: b.default_queue_type,
    };
    let created = state.broker.add_vhost(&name, settings).await?;
    if created {
        // As RabbitMQ's API (`maybe_grant_full_permissions`): whoever creates a
        // vhost may use it at once, so a script can create one and fill it.
        state
            .broker
            .set_permissions(&caller.0.name, &name, ".*", ".*", ".*")
            .await?;
    }
    if let (Some(on), Some(vhost)) = (b.tracing, state.broker.vhost(&name)) {
        vhost.set_tracing(on).await?;
    }
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

pub async fn delete_vhost(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> ApiResult<StatusCode> {
    caller.require(Level::Administrator)?;
    state.broker.vhost(&name).ok_or_else(ApiError::not_found)?;
    state.broker.delete_vhost(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
