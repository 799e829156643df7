//! PUBLISH from the client: to `amq.topic` through the core's router, in batches,
//! and the PUBACK (QoS 1) or PUBREC (QoS 2) once every queue (and the store, for a
//! persistent message in a durable queue) has it, in the order the publishes came
//! (spec 4.6). A QoS 2 publish is routed once per packet id: a resent PUBLISH
//! before the PUBREL is answered but not routed again (exactly once, spec 4.3.3).

use crate::connection::{Ctx, Fatal};
use crate::mapping;
use bytes::BytesMut;
use mqtt_codec::{encode, reason, topic, Ack, Packet, Properties, Publish, QoS, Version};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use warren_core::access::Perm;
use warren_core::back_pressure::Behind;
use warren_core::publish_batch::PublishBatches;
use warren_core::{ChannelKey, ConfirmTo, Message, MessageRef, Publisher, QueueRef};

struct Awaited {
    /// Answers still to come (queues, the store).
    remaining: u32,
    refused: bool,
    routed: bool,
    qos: QoS,
    packet_id: u16,
    /// Set when the publish was refused before routing (MQTT 5 reason code).
    reason: Option<u8>,
}

pub(crate) struct Inbound {
    publisher: Publisher,
    /// The key confirmations come back under (made with the publisher state, so a
    /// client that never publishes does not keep one).
    channel_key: ChannelKey,
    batches: PublishBatches,
    route_buf: Vec<QueueRef>,
    /// Sequence number of `awaited[0]`; publishes count from 1.
    base: u64,
    awaited: VecDeque<Awaited>,
    /// QoS 2 packet ids received and not yet released by PUBREL.
    qos2_received: HashSet<u16>,
    /// The client id, while the client has no-local subscriptions: its publishes
    /// are marked with it (`subscription_options`).
    pub mark_publisher: Option<String>,
}

impl Inbound {
    pub fn new(ctx: &Ctx) -> Inbound {
        Inbound {
            publisher: Publisher::new(ctx.vhost.clone(), ctx.access.clone()),
            channel_key: ChannelKey(ctx.broker.next_channel_id()),
            batches: PublishBatches::with_origin(warren_core::queue::PublishOrigin {
                connection: ctx.id,
                channel: 0,
            })
            .run_queues_here(),
            route_buf: Vec::new(),
            base: 1,
            awaited: VecDeque::new(),
            qos2_received: HashSet::new(),
            mark_publisher: None,
        }
    }

    fn next_seq(&self) -> u64 {
        self.base + self.awaited.len() as u64
    }

    fn answer_later(&mut self, qos: QoS, packet_id: u16, remaining: u32, routed: bool) -> u64 {
        let seq = self.next_seq();
        self.awaited.push_back(Awaited {
            remaining,
            refused: false,
            routed,
            qos,
            packet_id,
            reason: None,
        });
        seq
    }

    /// Routes one PUBLISH (already resolved from any topic alias). Returns the
    /// message as routed (for the retained store), None when it was refused or is a
    /// QoS 2 resend.
    pub fn publish(&mut self, ctx: &Ctx, p: Publish) -> Result<Option<MessageRef>, Fatal> {
        let v5 = ctx.version.is_v5();
        if !topic::valid_name(&p.topic) || p.topic.len() > 255 {
            return Err(Fatal::new(
                reason::TOPIC_NAME_INVALID,
                format!("invalid topic name '{}'", p.topic),
            ));
        }
        let packet_id = p.packet_id.unwrap_or(0);
        if p.qos == QoS::ExactlyOnce && self.qos2_received.contains(&packet_id) {
            // A resend of what we already routed: answer again, route nothing.
            self.answer_later(p.qos, packet_id, 0, true);
            return Ok(None);
        }
        let key = mapping::to_amqp(&p.topic);
        let exchange = match self.publisher.exchange(&ctx.config.exchange) {
            Ok(x) => x,
            Err(e) => return self.refuse(ctx, &p, e.message).map(|()| None),
        };
        if let Err(e) = ctx
            .access
            .check_topic(Perm::Write, exchange.kind, &exchange.name, &key)
        {
            return self.refuse(ctx, &p, e.message).map(|()| None);
        }
        let none = Properties::default();
        let properties = mapping::amqp_properties(p.qos, if v5 { &p.properties } else { &none });
        let properties = crate::subscription_options::mark(
            properties,
            p.retain && v5,
            self.mark_publisher.as_deref(),
        );
        let message = Arc::new(Message {
            exchange: exchange.name.clone(),
            routing_key: amqp_codec::ShortStr::from(key),
            properties,
            body: p.payload,
            persistent: p.qos != QoS::AtMostOnce,
            expiration: p
                .properties
                .message_expiry_interval
                .filter(|_| v5)
                .map(|s| u64::from(s) * 1000),
            priority: 0,
            bcc: None,
        });
        let mut queues = std::mem::take(&mut self.route_buf);
        queues.clear();
        let admitted = exchange.admit(&message.properties);
        if admitted {
            self.publisher.route(
                &exchange,
                message.routing_key.as_str(),
                &message.properties,
                &mut queues,
            );
        }
        let delayed = self.publisher.take_delayed();
        let routed = !queues.is_empty() || !delayed.is_empty() || !admitted;
        let seq = if p.qos == QoS::AtMostOnce {
            0
        } else {
            let stored = message.persistent && queues.iter().any(|q| q.store().is_some());
            let answers = queues.len() as u32 + stored as u32 + delayed.len() as u32;
            if p.qos == QoS::ExactlyOnce {
                self.qos2_received.insert(packet_id);
            }
            self.answer_later(p.qos, packet_id, answers, routed)
        };
        for queue in queues.drain(..) {
            self.batches.add(queue, message.clone(), seq);
        }
        let confirm_to = (seq != 0).then(|| confirm_to(ctx, self.channel_key));
        for (exchange, delay) in delayed {
            if let Some(delayer) = exchange.delayer() {
                delayer.hold(
                    message.clone(),
                    delay,
                    confirm_to.clone().map(|to| (to, seq)),
                );
            }
        }
        self.route_buf = queues;
        Ok(Some(message))
    }

    /// A publish the user may not make: MQTT 5 answers it with "not authorized";
    /// 3.x has no way to say so but to close the connection (as RabbitMQ does).
    fn refuse(&mut self, ctx: &Ctx, p: &Publish, text: String) -> Result<(), Fatal> {
        if !ctx.version.is_v5() {
            return Err(Fatal::new(reason::NOT_AUTHORIZED, text));
        }
        tracing::info!(connection = ctx.id, "MQTT publish refused: {text}");
        if p.qos != QoS::AtMostOnce {
            self.answer_later(p.qos, p.packet_id.unwrap_or(0), 0, false);
            if let Some(last) = self.awaited.back_mut() {
                last.reason = Some(reason::NOT_AUTHORIZED);
            }
        }
        Ok(())
    }

    /// The QoS 2 ids not released yet, for the session's next connection.
    pub fn take_unreleased(&mut self) -> HashSet<u16> {
        std::mem::take(&mut self.qos2_received)
    }

    /// The ids a kept session's earlier connection left unreleased.
    pub fn resume_unreleased(&mut self, ids: HashSet<u16>) {
        self.qos2_received = ids;
    }

    /// PUBREL: the client will not resend that QoS 2 publish; forget its id.
    pub fn released(&mut self, packet_id: u16) -> bool {
        self.qos2_received.remove(&packet_id)
    }

    /// Hands the routed publishes to their queues; persistent ones go to the store
    /// first, whose word comes back as a confirmation like the queues'. Returns what
    /// this publisher has outrun, if anything: the connection stops reading until it
    /// catches up.
    pub fn flush(&mut self, ctx: &Ctx) -> Option<Behind> {
        let to = confirm_to(ctx, self.channel_key);
        let mut behind = None;
        let recorder = ctx.vhost.records();
        let stored = self
            .batches
            .flush(Some(to.clone()), &mut Vec::new(), |queue| {
                if let Some(b) = Behind::of_queue(queue, recorder) {
                    behind = Some(b);
                }
            });
        let Some(stored) = stored else {
            return behind;
        };
        if let Some(b) = Behind::of_store(&stored.store) {
            behind = Some(b);
        }
        let seqs: Vec<u64> = stored
            .confirm_seqs
            .into_iter()
            .filter(|&s| s != 0)
            .collect();
        let ticket = stored.ticket;
        let broker = ctx.broker.clone();
        tokio::spawn(async move {
            let accepted = match ticket.await {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!("persistent MQTT messages not stored: {e}");
                    if e.is_no_space() {
                        broker.set_disk_alarm(true);
                    }
                    false
                }
            };
            if seqs.is_empty() {
                return;
            }
            let confirms = seqs
                .into_iter()
                .map(|seq| warren_core::Confirmation {
                    channel: to.channel,
                    channel_key: to.channel_key,
                    seq,
                    accepted,
                })
                .collect();
            let _ = to.outlet.send(warren_core::ConnEvent::Confirms(confirms));
        });
        behind
    }

    /// One answer (a queue's or the store's) for publish `seq`.
    pub fn confirmed(&mut self, seq: u64, accepted: bool) {
        let Some(index) = seq.checked_sub(self.base) else {
            return;
        };
        if let Some(a) = self.awaited.get_mut(index as usize) {
            a.remaining = a.remaining.saturating_sub(1);
            a.refused |= !accepted;
        }
    }

    /// Writes PUBACK/PUBREC for the settled publishes at the front, in order.
    pub fn write_acks(&mut self, out: &mut BytesMut, version: Version) {
        while self.awaited.front().is_some_and(|a| a.remaining == 0) {
            let a = self.awaited.pop_front().expect("front");
            self.base += 1;
            let code = match (a.reason, a.refused, a.routed) {
                (Some(code), _, _) => code,
                (None, true, _) => reason::QUOTA_EXCEEDED,
                (None, false, false) => reason::NO_MATCHING_SUBSCRIBERS,
                (None, false, true) => reason::SUCCESS,
            };
            let ack = Ack {
                packet_id: a.packet_id,
                reason: code,
                properties: Properties::default(),
            };
            let packet = match a.qos {
                QoS::ExactlyOnce => {
                    if code >= 0x80 {
                        // A refused QoS 2 publish ends its exchange with the PUBREC.
                        self.qos2_received.remove(&a.packet_id);
                    }
                    Packet::PubRec(ack)
                }
                _ => Packet::PubAck(ack),
            };
            encode(out, &packet, version);
        }
    }
}

fn confirm_to(ctx: &Ctx, channel_key: ChannelKey) -> ConfirmTo {
    ConfirmTo {
        outlet: ctx.outlet.clone(),
        connection: ctx.id,
        channel: 0,
        channel_key,
    }
}
