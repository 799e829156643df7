//! `vhosts`: listing with message totals. Creating and deleting vhosts waits for the
//! core's runtime vhosts.

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{P, Q};
use crate::json::{rate, Json};
use crate::listing::{list, Listed};
use crate::ApiState;
use axum::extract::State;
use axum::Extension;
use serde_json::{json, Value};
use warren_core::VHostRef;

struct VHostItem<'a> {
    vhost: VHostRef,
    state: &'a ApiState,
}

impl Listed for VHostItem<'_> {
    fn name(&self) -> &str {
        &self.vhost.name
    }

    fn to_json(&self) -> Value {
        // Counts read in place and rates summed by the sampler: no per-queue
        // lookups, so 100,000 queues cost one pass over their atomics.
        let totals = self.vhost.queue_totals();
        let (ready, unacked) = (totals.ready, totals.unacked);
        let rates = self.state.rates.vhost(&self.vhost.name);
        let (r_ready, r_unacked) = (rates.ready, rates.unacked);
        let settings = self
            .state
            .broker
            .vhost_info(&self.vhost.name)
            .map(|i| i.settings)
            .unwrap_or_default();
        let description = settings.description.clone();
        let tags = settings.tags.clone();
        let queue_type = settings
            .default_queue_type
            .clone()
            .unwrap_or_else(|| "undefined".to_string());
        json!({
            "name": &*self.vhost.name,
            "description": description,
            "tags": tags,
            "metadata": {"description": description, "tags": tags},
            "default_queue_type": queue_type,
            "tracing": self.vhost.tracing(),
            "cluster_state": {&*self.state.node: "running"},
            "messages": ready + unacked,
            "messages_details": rate(r_ready + r_unacked),
            "messages_ready": ready,
            "messages_ready_details": rate(r_ready),
            "messages_unacknowledged": unacked,
            "messages_unacknowledged_details": rate(r_unacked),
        })
    }
}

pub async fn list_all(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    let items = super::vhosts_for(&state, &caller, None)?
        .into_iter()
        .map(|vhost| VHostItem {
            vhost,
            state: &state,
        })
        .collect();
    Ok(Json(list(items, &params)?))
}

pub async fn one(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> ApiResult<Json<Value>> {
    let vhost = super::vhost_for(&state, &caller, &name)?;
    Ok(Json(
        VHostItem {
            vhost,
            state: &state,
        }
        .to_json(),
    ))
}
