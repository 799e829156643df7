//! The endpoints, one module per resource, and the route table.

mod bindings;
mod connections;
mod definitions;
// Every field of the file is parsed (so its shape is checked), some not yet applied.
#[allow(dead_code)]
mod definitions_model;
mod exchanges;
mod health;
mod messages;
mod move_messages;
mod overview;
mod policies;
mod queues;
mod records;
mod users;
mod vhosts;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::ApiState;
use axum::routing::{delete, get, post};
use axum::Router;
use warren_core::{Access, VHostRef};

pub(crate) use overview::{RABBITMQ_VERSION, WARREN_VERSION};

/// Every API route; `crate::router` adds authentication and the fallbacks.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/overview", get(overview::overview))
        .route("/api/whoami", get(overview::whoami))
        .route("/api/nodes", get(overview::nodes))
        .route("/api/nodes/{name}", get(overview::node))
        .route("/api/vhosts", get(vhosts::list_all))
        .route(
            "/api/vhosts/{vhost}",
            get(vhosts::one)
                .put(users::put_vhost)
                .delete(users::delete_vhost),
        )
        .route(
            "/api/vhosts/{vhost}/permissions",
            get(users::vhost_permissions),
        )
        .route("/api/users", get(users::list_users))
        .route(
            "/api/users/{name}",
            get(users::get_user)
                .put(users::put_user)
                .delete(users::delete_user),
        )
        .route(
            "/api/users/{name}/permissions",
            get(users::user_permissions),
        )
        .route("/api/permissions", get(users::all_permissions))
        .route(
            "/api/permissions/{vhost}/{user}",
            get(users::get_permission)
                .put(users::put_permission)
                .delete(users::delete_permission),
        )
        .route("/api/topic-permissions", get(users::all_topic_permissions))
        .route(
            "/api/topic-permissions/{vhost}/{user}",
            get(users::get_topic_permissions)
                .put(users::put_topic_permissions)
                .delete(users::delete_topic_permissions),
        )
        .route("/api/exchanges", get(exchanges::list_all))
        .route("/api/exchanges/{vhost}", get(exchanges::list_vhost))
        .route(
            "/api/exchanges/{vhost}/{name}",
            get(exchanges::one)
                .put(exchanges::declare)
                .delete(exchanges::remove),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/source",
            get(bindings::exchange_source),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/destination",
            get(bindings::exchange_destination),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/publish",
            post(messages::publish),
        )
        .route("/api/queues", get(queues::list_all))
        .route("/api/queues/{vhost}", get(queues::list_vhost))
        .route(
            "/api/queues/{vhost}/{name}",
            get(queues::one).put(queues::declare).delete(queues::remove),
        )
        .route("/api/queues/{vhost}/{name}/bindings", get(bindings::queue))
        .route("/api/queues/{vhost}/{name}/contents", delete(queues::purge))
        .route("/api/queues/{vhost}/{name}/get", post(messages::get))
        .route(
            "/api/queues/{vhost}/{name}/move",
            post(move_messages::move_messages),
        )
        .route(
            "/api/queues/{vhost}/{name}/delivery-records",
            get(records::queue_records),
        )
        .route("/api/delivery-records/{vhost}", get(records::vhost_records))
        .route("/api/bindings", get(bindings::list_all))
        .route("/api/bindings/{vhost}", get(bindings::list_vhost))
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}",
            get(bindings::between).post(bindings::create),
        )
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}/{props}",
            get(bindings::one).delete(bindings::remove),
        )
        .route("/api/connections", get(connections::list_all))
        .route(
            "/api/connections/{name}",
            get(connections::one).delete(connections::close),
        )
        .route(
            "/api/connections/{name}/channels",
            get(connections::connection_channels),
        )
        .route(
            "/api/vhosts/{vhost}/connections",
            get(connections::list_vhost),
        )
        .route("/api/channels", get(connections::channels))
        .route("/api/channels/{name}", get(connections::channel))
        .route(
            "/api/vhosts/{vhost}/channels",
            get(connections::vhost_channels),
        )
        .route("/api/consumers", get(connections::consumers))
        .route("/api/consumers/{vhost}", get(connections::vhost_consumers))
        .route(
            "/api/definitions",
            get(definitions::export_all).post(definitions::import_all),
        )
        .route(
            "/api/definitions/{vhost}",
            get(definitions::export_vhost_defs).post(definitions::import_vhost),
        )
        .route("/api/policies", get(policies::regular::list_all))
        .route("/api/policies/{vhost}", get(policies::regular::list_vhost))
        .route(
            "/api/policies/{vhost}/{name}",
            get(policies::regular::get)
                .put(policies::regular::put)
                .delete(policies::regular::delete),
        )
        .route("/api/operator-policies", get(policies::operator::list_all))
        .route(
            "/api/operator-policies/{vhost}",
            get(policies::operator::list_vhost),
        )
        .route(
            "/api/operator-policies/{vhost}/{name}",
            get(policies::operator::get)
                .put(policies::operator::put)
                .delete(policies::operator::delete),
        )
        .route("/api/health/checks/alarms", get(health::alarms))
        .route("/api/health/checks/local-alarms", get(health::alarms))
        .route("/api/aliveness-test/{vhost}", get(health::aliveness))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Whether the caller may see the vhost: monitoring users and administrators see
/// every vhost, others those they have permissions in (as RabbitMQ).
fn may_see(state: &ApiState, caller: &Caller, vhost: &str) -> bool {
    caller.is_monitor() || state.broker.access(&caller.0.name, vhost).is_ok()
}

/// The vhost named in a path, if it exists and the caller may see it.
pub(crate) fn vhost_for(state: &ApiState, caller: &Caller, name: &str) -> ApiResult<VHostRef> {
    let vhost = state.broker.vhost(name).ok_or_else(ApiError::not_found)?;
    if !may_see(state, caller, name) {
        return Err(not_authorised_vhost());
    }
    Ok(vhost)
}

fn not_authorised_vhost() -> ApiError {
    ApiError::not_authorised("User not authorised to access virtual host")
}

/// The vhost named in a path and the caller's rights in it, to act there: the
/// core checks each operation's configure/write/read permission against them.
pub(crate) fn vhost_access(
    state: &ApiState,
    caller: &Caller,
    name: &str,
) -> ApiResult<(VHostRef, Access)> {
    let vhost = state.broker.vhost(name).ok_or_else(ApiError::not_found)?;
    let access = state
        .broker
        .access(&caller.0.name, name)
        .map_err(|_| not_authorised_vhost())?;
    Ok((vhost, access))
}

/// The vhosts a listing covers: all the caller may use, or the one named.
pub(crate) fn vhosts_for(
    state: &ApiState,
    caller: &Caller,
    name: Option<&str>,
) -> ApiResult<Vec<VHostRef>> {
    match name {
        Some(name) => Ok(vec![vhost_for(state, caller, name)?]),
        None => Ok(state
            .broker
            .live_vhosts()
            .into_iter()
            .filter(|v| may_see(state, caller, &v.name))
            .collect()),
    }
}

/// RabbitMQ's API calls the default exchange `amq.default` in paths.
pub(crate) fn exchange_name(path_name: &str) -> &str {
    if path_name == "amq.default" {
        ""
    } else {
        path_name
    }
}

/// A boolean query flag such as `if-unused=true`.
pub(crate) fn query_flag(params: &crate::listing::Params, key: &str) -> bool {
    params.get(key).is_some_and(|v| v == "true")
}
