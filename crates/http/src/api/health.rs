//! `health/checks/alarms`, `health/checks/local-alarms`, `aliveness-test/{vhost}`.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::P;
use crate::json::Json;
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::json;
use warren_core::outlet::ChannelKey;
use warren_core::vhost::QueueDeclare;

/// 200 `{"status":"ok"}`, or 503 naming the alarms in effect (only the disk alarm
/// exists; Warren has no memory alarm yet). One node: local and cluster-wide agree.
pub async fn alarms(State(state): State<ApiState>) -> Response {
    if !state.broker.disk_alarm() {
        return Json(json!({"status": "ok"})).into_response();
    }
    let body = json!({
        "status": "failed",
        "reason": "There are alarms in effect in the cluster",
        "alarms": [{"node": &*state.node, "resource": "disk"}],
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// Declares `aliveness-test` in the vhost, publishes a message to it and gets it
/// back, as RabbitMQ does.
pub async fn aliveness(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    P(vhost): P<String>,
) -> ApiResult<Response> {
    let (v, access) = super::vhost_access(&state, &caller, &vhost)?;
    let declared = v
        .declare_queue(QueueDeclare {
            access: &access,
            name: "aliveness-test",
            passive: false,
            durable: false,
            exclusive: false,
            auto_delete: false,
            arguments: Default::default(),
            connection: super::queues::NO_CONNECTION,
        })
        .await?;
    let queue = declared.queue;
    let message = std::sync::Arc::new(warren_core::Message {
        exchange: "".into(),
        routing_key: "aliveness-test".into(),
        properties: amqp_codec::BasicProperties::default().encode(),
        body: bytes::Bytes::from_static(b"test_message"),
        persistent: false,
        expiration: None,
        priority: 0,
        bcc: None,
    });
    let mut batches = warren_core::publish_batch::PublishBatches::default();
    batches.add(queue.clone(), message, 0);
    batches.flush(None, &mut Vec::new(), |_| {});
    let channel = ChannelKey(state.broker.next_channel_id());
    let ok = queue.get(channel, 0, true).await.is_some();
    queue.channel_closed(channel);
    if ok {
        Ok(Json(json!({"status": "ok"})).into_response())
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "failed",
            "aliveness-test: the test message did not come back",
        ))
    }
}
