//! `POST /api/queues/{vhost}/{name}/move`, a Warren extension: moves the messages of
//! one queue to another queue of the same vhost, what RabbitMQ's UI does with a
//! dynamic shovel ("Move messages"). Each batch is enqueued (and stored, for a
//! durable destination) before it is acknowledged on the source, so a crash in
//! between duplicates messages rather than losing them, as a shovel with
//! `on-confirm` acknowledgements would.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, P};
use crate::json::Json;
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use warren_core::access::ResourceKind;
use warren_core::outlet::ChannelKey;
use warren_core::publish_batch::PublishBatches;
use warren_core::Settle;

/// Messages taken from the source before they are enqueued and acknowledged:
/// bounds what one move holds in flight.
const BATCH: u64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    destination: String,
    /// How many messages at most; all that are ready when absent.
    #[serde(default)]
    count: Option<u64>,
}

pub async fn move_messages(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, name)): P<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let (v, access) = super::vhost_access(&state, &caller, &vhost)?;
    let request: MoveBody = body.parse()?;
    let source = v.queue(&name).ok_or_else(ApiError::not_found)?;
    if request.destination == name {
        return Err(ApiError::bad_request(
            "the destination is the source queue itself",
        ));
    }
    let destination = v.queue(&request.destination).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no queue '{}' in vhost '{}'", request.destination, v.name),
        )
    })?;
    // Taking messages is reading the source; putting them is writing the destination
    // (what a consumer on one and a publisher to the other would need).
    access.read(ResourceKind::Queue, &name)?;
    access.write(ResourceKind::Queue, &request.destination)?;
    let limit = request.count.unwrap_or(u64::MAX);
    let channel = ChannelKey(state.broker.next_channel_id());
    let mut moved: u64 = 0;
    let outcome = async {
        while moved < limit {
            let mut taken = Vec::new();
            while moved + (taken.len() as u64) < limit && (taken.len() as u64) < BATCH {
                match source.get(channel, 0, false).await {
                    Some(m) => taken.push(m),
                    None => break,
                }
            }
            if taken.is_empty() {
                break;
            }
            let mut batches = PublishBatches::default();
            for m in &taken {
                batches.add(destination.clone(), m.message.clone(), 0);
            }
            if let Some(stored) = batches.flush(None, &mut Vec::new(), |_| {}) {
                if let Err(e) = stored.ticket.await {
                    source.settle(
                        channel,
                        taken.iter().map(|m| m.seq).collect(),
                        Settle::Requeue,
                    );
                    return Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_server_error",
                        format!("the messages could not be stored: {e}"),
                    ));
                }
            }
            moved += taken.len() as u64;
            let last = taken.last().map_or(0, |m| m.remaining);
            source.settle(channel, taken.iter().map(|m| m.seq).collect(), Settle::Ack);
            if last == 0 {
                break;
            }
        }
        Ok(())
    }
    .await;
    source.channel_closed(channel);
    outcome?;
    Ok(Json(json!({ "moved": moved })))
}
