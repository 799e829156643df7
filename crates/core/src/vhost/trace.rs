//! Firehose tracing, as RabbitMQ's: while tracing is on for a vhost, a copy of
//! every message published in it and of every delivery from its queues goes to
//! `amq.rabbitmq.trace`, with routing key `publish.<exchange>` or
//! `deliver.<queue>`, the original body, and headers saying where it came from and
//! where it went (`exchange_name`, `routing_keys`, `properties`, `node`, `vhost`,
//! `connection`, `channel`, `user`; `routed_queues` for publishes, `redelivered` for
//! deliveries). Messages that came through the trace exchange itself are not traced
//! again. Tracing is a vhost setting that survives restarts.

use super::{Command, Publisher, VHost};
use crate::access::Access;
use crate::error::CoreResult;
use crate::message::Message;
use crate::publish_batch::PublishBatches;
use crate::queue::QueueRef;
use amqp_codec::{BasicProperties, FieldTable, FieldValue, ShortStr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The exchange trace copies go to.
pub const TRACE_EXCHANGE: &str = "amq.rabbitmq.trace";

/// Who a traced operation belongs to.
pub struct TraceOrigin<'a> {
    /// The connection's name (`127.0.0.1:53412 -> 127.0.0.1:5672`).
    pub connection: &'a str,
    pub channel: u16,
    pub user: &'a str,
}

impl VHost {
    /// Whether tracing is on: publishers and deliverers call the trace functions.
    pub fn tracing(&self) -> bool {
        self.tracing.load(Ordering::Relaxed)
    }

    pub(crate) fn apply_tracing(&self, on: bool) {
        self.tracing.store(on, Ordering::Relaxed);
    }

    /// Turns tracing on or off (`rabbitmqctl trace_on`; the management API's vhost
    /// `tracing` field); recorded, so it survives a restart.
    pub async fn set_tracing(&self, on: bool) -> CoreResult<()> {
        self.commit(Command::SetTracing(on)).await
    }

    /// Traces a publish of `message` that reached `routed`.
    pub fn trace_publish(&self, message: &Message, routed: &[QueueRef], origin: TraceOrigin<'_>) {
        if !self.tracing() || &*message.exchange == TRACE_EXCHANGE {
            return;
        }
        let mut headers = self.common_headers(message, &origin);
        let queues = routed
            .iter()
            .map(|q| FieldValue::long_string(q.name.to_string()))
            .collect();
        headers.insert("routed_queues", FieldValue::Array(queues));
        let key = format!("publish.{}", message.exchange);
        self.publish_trace(key, headers, message);
    }

    /// Traces a delivery (to a consumer or `basic.get`) from `queue`.
    pub fn trace_deliver(
        &self,
        queue: &str,
        message: &Message,
        redelivered: bool,
        origin: TraceOrigin<'_>,
    ) {
        if !self.tracing() || &*message.exchange == TRACE_EXCHANGE {
            return;
        }
        let mut headers = self.common_headers(message, &origin);
        headers.insert("redelivered", FieldValue::I32(redelivered as i32));
        self.publish_trace(format!("deliver.{queue}"), headers, message);
    }

    fn common_headers(&self, message: &Message, origin: &TraceOrigin<'_>) -> FieldTable {
        let props = BasicProperties::decode(&message.properties).unwrap_or_default();
        let mut keys = vec![FieldValue::long_string(message.routing_key.to_string())];
        if let Some(FieldValue::Array(cc)) = props.headers.as_ref().and_then(|h| h.get("CC")) {
            keys.extend(cc.iter().cloned());
        }
        let mut headers = FieldTable::new();
        headers.insert(
            "exchange_name",
            FieldValue::long_string(message.exchange.to_string()),
        );
        headers.insert("routing_keys", FieldValue::Array(keys));
        headers.insert("properties", FieldValue::Table(properties_table(&props)));
        headers.insert("node", FieldValue::long_string(crate::node::name()));
        headers.insert("vhost", FieldValue::long_string(self.name.to_string()));
        headers.insert("connection", FieldValue::long_string(origin.connection));
        headers.insert("channel", FieldValue::I32(origin.channel as i32));
        headers.insert("user", FieldValue::long_string(origin.user));
        headers
    }

    /// Routes a trace copy through `amq.rabbitmq.trace` to whatever is bound there.
    fn publish_trace(&self, routing_key: String, headers: FieldTable, original: &Message) {
        let Some(vhost) = self.myself.upgrade() else {
            return;
        };
        let mut publisher = Publisher::new(vhost, Access::unrestricted(&self.name));
        let Ok(exchange) = publisher.exchange(TRACE_EXCHANGE) else {
            return;
        };
        let properties = BasicProperties {
            headers: Some(headers),
            ..BasicProperties::default()
        };
        let message = Arc::new(Message {
            exchange: exchange.name.clone(),
            routing_key: ShortStr::from(routing_key),
            properties: properties.encode(),
            body: original.body.clone(),
            persistent: false,
            expiration: None,
            priority: 0,
            bcc: None,
        });
        let mut queues = Vec::new();
        publisher.route(
            &exchange,
            &message.routing_key,
            &message.properties,
            &mut queues,
        );
        if queues.is_empty() {
            return;
        }
        let mut batches = PublishBatches::default();
        for queue in queues {
            batches.add(queue, message.clone(), 0);
        }
        drop(batches.flush(None, &mut Vec::new(), |_| {}));
    }
}

/// A message's properties as the trace headers carry them: RabbitMQ's field names,
/// only those present.
fn properties_table(p: &BasicProperties) -> FieldTable {
    let mut t = FieldTable::new();
    let mut text = |key: &'static str, v: &Option<ShortStr>| {
        if let Some(v) = v {
            t.insert(key, FieldValue::long_string(v.as_str().to_string()));
        }
    };
    text("content_type", &p.content_type);
    text("content_encoding", &p.content_encoding);
    text("correlation_id", &p.correlation_id);
    text("reply_to", &p.reply_to);
    text("expiration", &p.expiration);
    text("message_id", &p.message_id);
    text("type", &p.kind);
    text("user_id", &p.user_id);
    text("app_id", &p.app_id);
    text("cluster_id", &p.cluster_id);
    if let Some(h) = &p.headers {
        t.insert("headers", FieldValue::Table(h.clone()));
    }
    if let Some(m) = p.delivery_mode {
        t.insert("delivery_mode", FieldValue::U8(m));
    }
    if let Some(pr) = p.priority {
        t.insert("priority", FieldValue::U8(pr));
    }
    if let Some(ts) = p.timestamp {
        t.insert("timestamp", FieldValue::Timestamp(ts));
    }
    t
}
