//! `delivery-records/{vhost}` and `queues/{vhost}/{name}/delivery-records`: what the
//! broker recorded of messages in queues that keep delivery records (Warren's own;
//! RabbitMQ has no such endpoint). `?message_id=ID` gives one message's story,
//! without it the newest records (`limit`, 100 by default). A caller sees the records
//! of the queues it may read, as with `basic.get`.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{P, Q};
use crate::json::Json;
use crate::listing::Params;
use crate::ApiState;
use axum::extract::State;
use axum::Extension;
use serde_json::{json, Map, Value};
use warren_core::access::ResourceKind;
use warren_core::records::{Event, EventKind, Party};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

pub async fn vhost_records(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    records(&state, &caller, &vhost, None, &params).await
}

pub async fn queue_records(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P((vhost, queue)): P<(String, String)>,
    Q(params): Q,
) -> ApiResult<Json<Value>> {
    records(&state, &caller, &vhost, Some(queue), &params).await
}

async fn records(
    state: &ApiState,
    caller: &Caller,
    vhost: &str,
    queue: Option<String>,
    params: &Params,
) -> ApiResult<Json<Value>> {
    let (v, access) = super::vhost_access(state, caller, vhost)?;
    if let Some(queue) = &queue {
        access.read(ResourceKind::Queue, queue)?;
    }
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}, not '{text}'"
                )))
            }
        },
    };
    let message_id = params.get("message_id").cloned();
    if message_id.as_deref() == Some("") {
        return Err(ApiError::bad_request("message_id must not be empty"));
    }
    let recorder = v.records().clone();
    let vhost_name = v.name.to_string();
    // Reading the log may touch the disk: off the async threads.
    let events = tokio::task::spawn_blocking(move || match &message_id {
        Some(id) => recorder.find(&vhost_name, id, queue.as_deref()),
        None => recorder.recent(&vhost_name, queue.as_deref(), limit),
    })
    .await
    .map_err(|e| ApiError::bad_request(format!("reading delivery records failed: {e}")))?;
    let shown: Vec<Value> = events
        .iter()
        .filter(|e| access.read(ResourceKind::Queue, &e.queue).is_ok())
        .map(|e| event_json(vhost, e))
        .collect();
    Ok(Json(Value::Array(shown)))
}

fn text(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::String(s.to_string())
    }
}

fn party(out: &mut Map<String, Value>, p: &Party) {
    out.insert("user".into(), text(&p.user));
    out.insert("peer".into(), text(&p.peer));
    out.insert("connection".into(), text(&p.connection));
    out.insert("channel".into(), json!(p.channel));
}

/// One record as JSON: the common fields, then the event's own.
pub(crate) fn event_json(vhost: &str, e: &Event) -> Value {
    let mut out = Map::new();
    out.insert("timestamp".into(), json!(e.at));
    out.insert("time".into(), json!(utc_time(e.at)));
    out.insert("vhost".into(), json!(vhost));
    out.insert("queue".into(), json!(&*e.queue));
    out.insert("message_id".into(), json!(&*e.key));
    out.insert("event".into(), json!(e.kind.name()));
    match &e.kind {
        EventKind::Published {
            by,
            exchange,
            routing_key,
        } => {
            party(&mut out, by);
            out.insert("exchange".into(), json!(exchange));
            out.insert("routing_key".into(), json!(routing_key));
        }
        EventKind::Delivered {
            to,
            consumer_tag,
            redelivered,
            no_ack,
            delivery_count,
        } => {
            party(&mut out, to);
            out.insert("consumer_tag".into(), json!(consumer_tag));
            out.insert("basic_get".into(), json!(consumer_tag.is_none()));
            out.insert("redelivered".into(), json!(redelivered));
            out.insert("no_ack".into(), json!(no_ack));
            let count = (*delivery_count > 0).then_some(*delivery_count);
            out.insert("delivery_count".into(), json!(count));
        }
        EventKind::Rejected { requeue } => {
            out.insert("requeue".into(), json!(requeue));
        }
        EventKind::DeadLettered { reason, exchange } => {
            out.insert("reason".into(), json!(reason));
            out.insert("exchange".into(), json!(exchange));
        }
        EventKind::Dropped { reason } => {
            out.insert("reason".into(), json!(reason));
        }
        EventKind::Acked
        | EventKind::Requeued
        | EventKind::Expired
        | EventKind::Purged
        | EventKind::Deleted => {}
    }
    Value::Object(out)
}

/// Milliseconds since the Unix epoch as `2026-12-01T15:34:15.123Z`.
fn utc_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_times() {
        assert_eq!(super::utc_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::utc_time(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            super::utc_time(1_796_139_255_000),
            "2026-12-01T15:34:15.000Z"
        );
    }
}
