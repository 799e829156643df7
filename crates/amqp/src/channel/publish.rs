//! basic.publish and its content frames, routing, mandatory returns and publisher
//! confirms.
//!
//! The hot path: the method, header and body arrive as zero-copy slices of the read
//! buffer; a single-frame body is kept as that slice; the message is one `Arc` shared
//! by every queue it reaches; confirms are batched into one multiple-ack per read.

use super::confirms::Confirms;
use super::Channel;
use crate::connection::Shared;
use crate::error::{AmqpError, AmqpResult};
use amqp_codec::{
    decode_table, encode_content, encode_method, scan_properties, BasicProperties, BasicPublish,
    BasicReturn, ConfirmSelectOk, ContentHeader, FieldValue, Method, ShortStr,
};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use warren_core::access::Perm;
use warren_core::metrics::ChannelCounter;
use warren_core::reply_to::{REPLY_TO_PREFIX, REPLY_TO_QUEUE};
use warren_core::vhost::ExchangeRef;
use warren_core::{ConnEvent, Delivery, Message, MessageRef};

/// A publish method waiting for (the rest of) its content.
pub(crate) struct PendingContent {
    publish: BasicPublish,
    header: Option<ContentHeader>,
    body: Body,
    received: u64,
}

/// The body so far: one frame's slice needs no copy; more frames are joined.
enum Body {
    Empty,
    One(Bytes),
    Joined(BytesMut),
}

/// A publish ready to route (held back in a transaction until commit).
pub(crate) struct HeldPublish {
    exchange: ExchangeRef,
    mandatory: bool,
    message: MessageRef,
    /// Routing keys from the `CC` and `BCC` headers (sender-selected distribution).
    extra_keys: Vec<String>,
}

impl PendingContent {
    pub fn has_header(&self) -> bool {
        self.header.is_some()
    }
}

impl Channel {
    pub fn basic_publish(&mut self, m: BasicPublish) -> AmqpResult<()> {
        self.content = Some(PendingContent {
            publish: m,
            header: None,
            body: Body::Empty,
            received: 0,
        });
        Ok(())
    }

    pub fn content_header(
        &mut self,
        header: ContentHeader,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let Some(pending) = self.content.as_mut() else {
            return Err(AmqpError::new(
                505,
                "expected method frame, got non method frame instead",
            ));
        };
        if pending.header.is_some() {
            return Err(AmqpError::new(
                505,
                "expected content body, got non content body frame instead",
            ));
        }
        if header.class_id != 60 {
            return Err(AmqpError::new(
                505,
                format!(
                    "expected content header for class 60, got one for class {} instead",
                    header.class_id
                ),
            )
            .on_ids(60, 40));
        }
        let max = shared.config.max_message_size;
        if header.body_size > max {
            self.content = None;
            return Err(AmqpError::new(
                406,
                format!(
                    "message size {} is larger than configured max size {max}",
                    header.body_size
                ),
            )
            .on_ids(60, 40));
        }
        let done = header.body_size == 0;
        pending.header = Some(header);
        if done {
            let pending = self.content.take().expect("pending");
            return self.complete(pending, shared, out);
        }
        Ok(())
    }

    pub fn content_body(
        &mut self,
        payload: Bytes,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let Some(pending) = self.content.as_mut() else {
            return Err(AmqpError::new(
                505,
                "expected method frame, got non method frame instead",
            ));
        };
        let Some(header) = &pending.header else {
            return Err(AmqpError::new(
                505,
                "expected content header for class 60, got non content header frame instead",
            ));
        };
        let expected = header.body_size;
        pending.received += payload.len() as u64;
        if pending.received > expected {
            return Err(AmqpError::new(
                501,
                format!("content body exceeds the declared size of {expected} bytes"),
            ));
        }
        pending.body = match std::mem::replace(&mut pending.body, Body::Empty) {
            Body::Empty => Body::One(payload),
            Body::One(first) => {
                let mut joined = BytesMut::with_capacity(expected as usize);
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&payload);
                Body::Joined(joined)
            }
            Body::Joined(mut joined) => {
                joined.extend_from_slice(&payload);
                Body::Joined(joined)
            }
        };
        if pending.received == expected {
            let pending = self.content.take().expect("pending");
            return self.complete(pending, shared, out);
        }
        Ok(())
    }

    /// The whole message is here: check it, then route it (or hold it for commit).
    /// Errors name basic.publish, as RabbitMQ's do.
    fn complete(
        &mut self,
        pending: PendingContent,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        self.complete_publish(pending, shared, out)
            .map_err(|e| e.on_ids(60, 40))
    }

    fn complete_publish(
        &mut self,
        pending: PendingContent,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let m = pending.publish;
        let header = pending.header.expect("complete content has a header");
        let body = match pending.body {
            Body::Empty => Bytes::new(),
            Body::One(b) => b,
            Body::Joined(b) => b.freeze(),
        };
        if m.immediate {
            return Err(AmqpError::new(540, "immediate=true").on_ids(60, 40));
        }
        let exchange = self
            .publisher
            .exchange(m.exchange.as_str())
            .map_err(AmqpError::from)?;
        if exchange.internal {
            return Err(AmqpError::new(
                403,
                format!(
                    "cannot publish to internal exchange '{}' in vhost '{}'",
                    exchange.name, shared.vhost.name
                ),
            ));
        }
        shared.access.check_topic(
            Perm::Write,
            exchange.kind,
            &exchange.name,
            m.routing_key.as_str(),
        )?;
        let mut properties = header.properties;
        let view = scan_properties(&properties)?;
        if let Some(user_id) = view.user_id {
            if user_id != &*shared.user.name {
                return Err(AmqpError::new(
                    406,
                    format!(
                        "user_id property set to '{user_id}' but authenticated user was '{}'",
                        shared.user.name
                    ),
                ));
            }
        }
        let persistent = view.delivery_mode == Some(2);
        let priority = view.priority.unwrap_or(0);
        let expiration =
            match view.expiration {
                Some(text) => Some(warren_core::message::parse_expiration(text).map_err(
                    |reason| AmqpError::new(406, format!("invalid expiration '{text}': {reason}")),
                )?),
                None => None,
            };
        let wants_reply_address = view.reply_to == Some(REPLY_TO_QUEUE);
        let sender_selected = view.headers.and_then(sender_selected_keys);
        let mut bcc = None;
        let extra_keys = match sender_selected {
            Some((keys, bcc_keys, has_bcc)) => {
                if has_bcc {
                    // BCC is for the broker's eyes only.
                    let mut decoded = BasicProperties::decode(&properties)?;
                    if let Some(headers) = decoded.headers.as_mut() {
                        headers.remove("BCC");
                    }
                    properties = decoded.encode();
                }
                if !bcc_keys.is_empty() {
                    bcc = Some(bcc_keys.into());
                }
                keys
            }
            None => Vec::new(),
        };
        if wants_reply_address {
            let Some((_, address)) = &self.reply_to else {
                return Err(AmqpError::new(406, "fast reply consumer does not exist"));
            };
            let mut decoded = BasicProperties::decode(&properties)?;
            decoded.reply_to = Some(ShortStr::from(address.clone()));
            properties = decoded.encode();
        }
        let message = Arc::new(Message {
            exchange: exchange.name.clone(),
            routing_key: m.routing_key,
            properties,
            body,
            persistent,
            expiration,
            priority,
            bcc,
        });
        let held = HeldPublish {
            exchange,
            mandatory: m.mandatory,
            message,
            extra_keys,
        };
        if let Some(tx) = &mut self.tx {
            tx.publishes.push(held);
            return Ok(());
        }
        self.route_and_deliver(held, shared, out);
        Ok(())
    }

    /// Routes a message and hands it to its queues; returns it to the publisher when
    /// mandatory and unroutable.
    pub(super) fn route_and_deliver(
        &mut self,
        held: HeldPublish,
        shared: &Shared,
        out: &mut BytesMut,
    ) {
        let HeldPublish {
            exchange,
            mandatory,
            message,
            extra_keys,
        } = held;
        let key = message.routing_key.as_str();
        let routed = if exchange.is_default() && key.starts_with(REPLY_TO_PREFIX) {
            self.deliver_direct_reply(key, &message, shared)
        } else if !exchange.admit(&message.properties) {
            // A duplicate at a deduplication exchange: dropped, and confirmed (the
            // broker has dealt with it), never returned.
            if let Some(confirms) = &mut self.confirms {
                confirms.published(0);
            }
            true
        } else {
            let mut queues = std::mem::take(&mut self.route_buf);
            queues.clear();
            self.publisher
                .route(&exchange, key, &message.properties, &mut queues);
            for extra in &extra_keys {
                self.publisher
                    .route(&exchange, extra, &message.properties, &mut queues);
            }
            let delayed = self.publisher.take_delayed();
            // The confirm waits for every queue's word (a full queue may refuse), for
            // the store's when the message goes to disk, and for each delayed
            // exchange holding it.
            let seq = match &mut self.confirms {
                Some(confirms) => {
                    let stored = message.persistent && queues.iter().any(|q| q.store().is_some());
                    confirms.published(queues.len() as u32 + stored as u32 + delayed.len() as u32)
                }
                None => 0,
            };
            if shared.vhost.tracing() {
                shared
                    .vhost
                    .trace_publish(&message, &queues, shared.trace_origin(self.number));
            }
            let routed = !queues.is_empty() || !delayed.is_empty();
            for queue in queues.drain(..) {
                self.outgoing.add(queue, message.clone(), seq);
            }
            let confirm_to = self.confirm_to(shared);
            for (exchange, delay) in delayed {
                if let Some(delayer) = exchange.delayer() {
                    let confirm = confirm_to.clone().map(|to| (to, seq));
                    delayer.hold(message.clone(), delay, confirm);
                }
            }
            self.route_buf = queues;
            routed
        };
        if exchange.is_default() && key.starts_with(REPLY_TO_PREFIX) {
            if let Some(confirms) = &mut self.confirms {
                confirms.published(0);
            }
        }
        let counters = self.registration.counters();
        counters.add(ChannelCounter::Published, 1);
        if !routed {
            let kind = if mandatory {
                ChannelCounter::UnroutableReturned
            } else {
                ChannelCounter::UnroutableDropped
            };
            counters.add(kind, 1);
        }
        if !routed && mandatory {
            // Sent before the confirm, which is written after this batch.
            encode_method(
                out,
                self.number,
                &Method::BasicReturn(BasicReturn {
                    reply_code: 312,
                    reply_text: ShortStr::from("NO_ROUTE"),
                    exchange: ShortStr::from(exchange.name.to_string()),
                    routing_key: message.routing_key.clone(),
                }),
            );
            encode_content(
                out,
                self.number,
                60,
                &message.properties,
                &message.body,
                shared.frame_max,
            );
        }
    }

    fn deliver_direct_reply(&self, address: &str, message: &MessageRef, shared: &Shared) -> bool {
        let Some(target) = shared.broker.reply_to.target(address) else {
            return false;
        };
        let delivery = Delivery {
            channel: target.channel,
            channel_key: target.channel_key,
            consumer_tag: target.consumer_tag.clone(),
            queue: None,
            seq: 0,
            message: message.clone(),
            redelivered: false,
            no_ack: true,
        };
        target
            .outlet
            .send(ConnEvent::Deliveries(vec![delivery]))
            .is_ok()
    }

    pub(super) fn confirm_select(&mut self, no_wait: bool, out: &mut BytesMut) -> AmqpResult<()> {
        if self.tx.is_some() {
            return Err(AmqpError::new(406, "cannot switch from tx to confirm mode"));
        }
        if self.confirms.is_none() {
            self.confirms = Some(Confirms::default());
            self.registration.update(|s| s.confirm = true);
        }
        if !no_wait {
            self.send(out, &Method::ConfirmSelectOk(ConfirmSelectOk {}));
        }
        Ok(())
    }
}

/// The routing keys in the `CC` and `BCC` headers (arrays of strings), and whether
/// `BCC` is present. None when there are none: the common case costs a byte search.
/// The `CC` and `BCC` keys (all of them, for routing), the `BCC` ones alone, and
/// whether there is a `BCC` header to remove.
fn sender_selected_keys(headers: &[u8]) -> Option<(Vec<String>, Vec<String>, bool)> {
    let mentions = |key: &[u8]| headers.windows(key.len()).any(|w| w == key);
    if !mentions(b"\x02CC") && !mentions(b"\x03BCC") {
        return None;
    }
    let table = decode_table(headers).ok()?;
    let strings = |name: &str| match table.get(name) {
        Some(FieldValue::Array(values)) => values
            .iter()
            .filter_map(|v| v.as_str())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let bcc: Vec<String> = strings("BCC");
    let mut keys = strings("CC");
    keys.extend(bcc.iter().cloned());
    let has_bcc = matches!(table.get("BCC"), Some(FieldValue::Array(_)));
    (has_bcc || !keys.is_empty()).then_some((keys, bcc, has_bcc))
}
