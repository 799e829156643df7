//! basic.qos, basic.consume, basic.cancel, basic.get, and the deliveries queues send.

use super::settle::Unacked;
use super::{Channel, ChannelConsumer};
use crate::connection::Shared;
use crate::error::{AmqpError, AmqpResult};
use amqp_codec::{
    encode_content, encode_deliver, encode_get_ok, BasicCancel, BasicCancelOk, BasicConsume,
    BasicConsumeOk, BasicGet, BasicGetEmpty, BasicQos, BasicQosOk, Method,
};
use bytes::BytesMut;
use warren_core::access::ResourceKind;
use warren_core::metrics::ChannelCounter;
use warren_core::names::generated_name;
use warren_core::reply_to::{ReplyTarget, REPLY_TO_QUEUE};
use warren_core::{Consumer, Delivery, Name};

/// Content class of basic.
const BASIC: u16 = 60;

impl Channel {
    pub(super) fn basic_qos(&mut self, m: BasicQos, out: &mut BytesMut) -> AmqpResult<()> {
        if m.prefetch_size > 0 {
            return Err(AmqpError::new(
                540,
                format!("prefetch_size!=0 ({})", m.prefetch_size),
            ));
        }
        let count = m.prefetch_count as u32;
        if m.global {
            let before = self.credit.limit();
            self.credit.set_limit(count);
            if count == 0 || count > before {
                self.wake_consumer_queues();
            }
            self.registration
                .update(|s| s.global_prefetch_count = count);
        } else {
            self.consumer_prefetch = count;
            self.registration.update(|s| s.prefetch_count = count);
        }
        self.send(out, &Method::BasicQosOk(BasicQosOk {}));
        Ok(())
    }

    /// Tells the queues this channel consumes from that its window has room.
    pub(super) fn wake_consumer_queues(&self) {
        for queue in self.consumers.values().filter_map(|c| c.queue.as_ref()) {
            queue.wake();
        }
    }

    pub(super) async fn basic_consume(
        &mut self,
        m: BasicConsume,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let tag: Name = if m.consumer_tag.is_empty() {
            Name::from(generated_name("amq.ctag-"))
        } else {
            Name::from(m.consumer_tag.as_str())
        };
        if self.consumers.contains_key(&tag) {
            return Err(AmqpError::new(
                530,
                format!("attempt to reuse consumer tag '{tag}'"),
            ));
        }
        if m.queue.as_str() == REPLY_TO_QUEUE {
            return self.consume_reply_to(tag, m, shared, out);
        }
        let name = self.queue_name(m.queue.as_str())?;
        shared.access.read(ResourceKind::Queue, &name)?;
        let queue = shared.vhost.queue_for(shared.id, &name)?;
        let priority = match m.arguments.get("x-priority") {
            None => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                AmqpError::new(
                    406,
                    format!(
                        "invalid arg 'x-priority' for queue '{name}' in vhost '{}': \"expected integer, got {}\"",
                        shared.vhost.name,
                        warren_core::queue::args::type_name(v)
                    ),
                )
            })?,
        };
        let consumer = Consumer {
            priority,
            tag: tag.clone(),
            channel: self.key,
            channel_number: self.number,
            connection: shared.id,
            no_ack: m.no_ack,
            exclusive: m.exclusive,
            prefetch: self.consumer_prefetch,
            channel_credit: self.credit.clone(),
            transit: self.transit.clone(),
            outlet: shared.outlet.clone(),
            unacked: 0,
        };
        let arguments = m.arguments.clone();
        queue.consume(consumer).await?;
        self.registration
            .consumer_added(warren_core::registry::ConsumerInfo {
                tag: tag.clone(),
                queue: queue.clone(),
                no_ack: m.no_ack,
                exclusive: m.exclusive,
                prefetch_count: self.consumer_prefetch,
                arguments,
            });
        self.touch(&queue);
        self.consumers
            .insert(tag.clone(), ChannelConsumer { queue: Some(queue) });
        // The queue may already have sent deliveries, but they wait in the connection's
        // inbox until this method is done, so consume-ok still goes out first.
        if !m.no_wait {
            self.send(
                out,
                &Method::BasicConsumeOk(BasicConsumeOk {
                    consumer_tag: tag.to_string().into(),
                }),
            );
        }
        Ok(())
    }

    fn consume_reply_to(
        &mut self,
        tag: Name,
        m: BasicConsume,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        if !m.no_ack {
            return Err(AmqpError::new(406, "reply consumer cannot acknowledge"));
        }
        if self.reply_to.is_some() {
            return Err(AmqpError::new(406, "reply consumer already set"));
        }
        let address = shared.broker.reply_to.register(ReplyTarget {
            outlet: shared.outlet.clone(),
            channel: self.number,
            channel_key: self.key,
            consumer_tag: tag.clone(),
        });
        self.reply_to = Some((tag.clone(), address));
        self.consumers
            .insert(tag.clone(), ChannelConsumer { queue: None });
        if !m.no_wait {
            self.send(
                out,
                &Method::BasicConsumeOk(BasicConsumeOk {
                    consumer_tag: tag.to_string().into(),
                }),
            );
        }
        Ok(())
    }

    pub(super) async fn basic_cancel(
        &mut self,
        m: BasicCancel,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let tag = Name::from(m.consumer_tag.as_str());
        self.registration.consumer_removed(&tag);
        if let Some(consumer) = self.consumers.remove(&tag) {
            match consumer.queue {
                Some(queue) => {
                    queue.cancel(self.key, tag.clone()).await;
                }
                None => {
                    if let Some((_, address)) = self.reply_to.take() {
                        shared.broker.reply_to.unregister(&address);
                    }
                }
            }
        }
        if !m.no_wait {
            self.send(
                out,
                &Method::BasicCancelOk(BasicCancelOk {
                    consumer_tag: m.consumer_tag,
                }),
            );
        }
        Ok(())
    }

    /// The broker cancelled a consumer (its queue went). True if it was ours.
    pub fn forget_consumer(&mut self, tag: &Name) -> bool {
        self.registration.consumer_removed(tag);
        self.consumers.remove(tag).is_some()
    }

    pub(super) async fn basic_get(
        &mut self,
        m: BasicGet,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let name = self.queue_name(m.queue.as_str())?;
        shared.access.read(ResourceKind::Queue, &name)?;
        let queue = shared.vhost.queue_for(shared.id, &name)?;
        let got = queue.get(self.key, shared.id, m.no_ack).await;
        let counters = self.registration.counters();
        match &got {
            None => counters.add(ChannelCounter::GetEmpty, 1),
            Some(got) => {
                let kind = if m.no_ack {
                    ChannelCounter::Get
                } else {
                    ChannelCounter::GetAck
                };
                counters.add(kind, 1);
                counters.add(ChannelCounter::Redelivered, got.redelivered as u64);
            }
        }
        match got {
            None => self.send(out, &Method::BasicGetEmpty(BasicGetEmpty::default())),
            Some(got) => {
                let tag = self.next_tag();
                if !m.no_ack {
                    self.touch(&queue);
                    self.unacked.push_back(Unacked {
                        tag,
                        queue: queue.clone(),
                        seq: got.seq,
                        counted: false,
                        delivered_at: std::time::Instant::now(),
                    });
                }
                let msg = &got.message;
                if shared.vhost.tracing() {
                    shared.vhost.trace_deliver(
                        &queue.name,
                        msg,
                        got.redelivered,
                        shared.trace_origin(self.number),
                    );
                }
                encode_get_ok(
                    out,
                    self.number,
                    tag,
                    got.redelivered,
                    &msg.exchange,
                    &msg.routing_key,
                    got.remaining,
                );
                encode_content(
                    out,
                    self.number,
                    BASIC,
                    &msg.properties,
                    &msg.body,
                    shared.frame_max,
                );
            }
        }
        Ok(())
    }

    fn next_tag(&mut self) -> u64 {
        let tag = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        tag
    }

    /// Writes a delivery a queue (or a direct reply) sent to one of our consumers.
    pub fn deliver(&mut self, d: Delivery, out: &mut BytesMut, frame_max: u32) {
        // Queue deliveries took transit credit; it is back once they are encoded.
        if d.queue.is_some() && self.transit.give_back(1) {
            self.wake_consumer_queues();
        }
        if !self.consumers.contains_key(&d.consumer_tag) {
            // Cancelled meanwhile: give an acked-mode message back to its queue.
            if let (false, Some(queue)) = (d.no_ack, &d.queue) {
                queue.settle(self.key, vec![d.seq], warren_core::Settle::Requeue);
                if self.credit.give_back(1) {
                    self.wake_consumer_queues();
                }
            }
            return;
        }
        let tag = self.next_tag();
        let counters = self.registration.counters();
        let kind = if d.no_ack {
            ChannelCounter::Delivered
        } else {
            ChannelCounter::DeliveredAck
        };
        counters.add(kind, 1);
        counters.add(ChannelCounter::Redelivered, d.redelivered as u64);
        if !d.no_ack {
            if let Some(queue) = d.queue {
                self.unacked.push_back(Unacked {
                    tag,
                    queue,
                    seq: d.seq,
                    counted: true,
                    delivered_at: std::time::Instant::now(),
                });
            }
        }
        let msg = &d.message;
        encode_deliver(
            out,
            self.number,
            &d.consumer_tag,
            tag,
            d.redelivered,
            &msg.exchange,
            &msg.routing_key,
        );
        encode_content(
            out,
            self.number,
            BASIC,
            &msg.properties,
            &msg.body,
            frame_max,
        );
    }
}
