//! Retained messages: a PUBLISH with RETAIN replaces its topic's retained message
//! (an empty payload clears it), kept durably by the core
//! (`warren_core::retained`); a new subscription gets the retained messages its
//! filter matches, with RETAIN set (spec 3.3.1.3).
//!
//! They reach the subscriber through its session queue like any other message, so
//! QoS 1 ones are acknowledged and redelivered as usual; a header marks them for
//! the RETAIN flag.

use crate::connection::Ctx;
use crate::mapping::RETAINED_HEADER;
use crate::session::Session;
use amqp_codec::FieldValue;
use mqtt_codec::{topic, QoS};
use std::sync::Arc;
use warren_core::publish_batch::PublishBatches;
use warren_core::MessageRef;

/// Stores (or, for an empty payload, clears) the retained message of a topic.
pub(crate) async fn store(ctx: &Ctx, topic: &str, message: &MessageRef) {
    let kept = (!message.body.is_empty()).then_some(&**message);
    if let Err(e) = ctx.broker.retain(&ctx.vhost.name, topic, kept).await {
        tracing::warn!(
            connection = ctx.id,
            "retained message not stored: {}",
            e.message
        );
    }
}

/// Sends the retained messages `filter` matches to the subscription's queue.
pub(crate) fn send_on_subscribe(ctx: &Ctx, session: &Session, filter: &str, qos: QoS) {
    let Some(queue) = session.queue_for(qos) else {
        return;
    };
    let found = ctx
        .broker
        .retained(&ctx.vhost.name, |t| topic::matches(filter, t));
    if found.is_empty() {
        return;
    }
    let mut batches = PublishBatches::default();
    for (_, message) in found {
        let marked = message.with_headers(|h| h.insert(RETAINED_HEADER, FieldValue::Bool(true)));
        batches.add(queue.clone(), Arc::new(marked), 0);
    }
    let _ = batches.flush(None, &mut Vec::new(), |_| {});
}
