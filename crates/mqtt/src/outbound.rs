//! Deliveries from the session's queues to the client: PUBLISH packets, their packet
//! ids, and the in-flight window (the QoS 1 queue's consumer prefetch, lowered to
//! the client's MQTT 5 receive maximum). A delivery is acknowledged to its queue on
//! PUBACK (QoS 1) or PUBREC (QoS 2, after which the packet id stays taken until
//! PUBCOMP); a message delivered at QoS 0 from an acknowledging queue is settled
//! at once. A kept session's QoS 2 deliveries that were PUBREC'd but not
//! PUBCOMP'd carry over to its next connection, which sends their PUBREL again
//! (spec 4.4): the message itself is not sent again.

use crate::mapping;
use crate::server_aliases::ServerAliases;
use crate::session::Session;
use bytes::BytesMut;
use mqtt_codec::{encode, Ack, Packet, Publish, QoS, Version};
use warren_core::fast_hash::FastMap;
use warren_core::{Delivery, QueueRef, Settle};

struct InFlight {
    /// None for a PUBREL carried over from the session's previous connection.
    queue: Option<QueueRef>,
    seq: u64,
    qos: QoS,
    /// QoS 2: PUBREC came, the queue has its ack, PUBCOMP is awaited.
    released: bool,
}

pub(crate) struct Outbound {
    version: Version,
    in_flight: FastMap<u16, InFlight>,
    last_id: u16,
    /// The client's maximum packet size (MQTT 5): larger messages are not sent.
    max_packet: u32,
    /// Only for a client that takes topic aliases (MQTT 5): boxed, as most don't.
    aliases: Option<Box<ServerAliases>>,
}

impl Outbound {
    pub fn new(version: Version, max_packet: Option<u32>) -> Outbound {
        Outbound {
            version,
            in_flight: FastMap::default(),
            last_id: 0,
            // No packet is larger than the largest remaining length anyway.
            max_packet: max_packet.unwrap_or(u32::MAX),
            aliases: None,
        }
    }

    /// Lets the server set up to `maximum` topic aliases (the client's MQTT 5
    /// Topic Alias Maximum).
    pub fn allow_topic_aliases(&mut self, maximum: u16) {
        self.aliases = (maximum > 0).then(|| Box::new(ServerAliases::new(maximum)));
    }

    fn next_id(&mut self) -> u16 {
        loop {
            self.last_id = self.last_id.wrapping_add(1).max(1);
            if !self.in_flight.contains_key(&self.last_id) {
                return self.last_id;
            }
        }
    }

    /// Writes one delivery as a PUBLISH.
    pub fn deliver(&mut self, session: &Session, d: Delivery, out: &mut BytesMut) {
        if d.queue.is_some() && session.transit().is_some_and(|t| t.give_back(1)) {
            if let Some(q) = &d.queue {
                q.wake();
            }
        }
        let Some(queue) = d.queue.clone() else { return };
        let shared = session.shared_by_tag(&d.consumer_tag);
        if session.queue_index(&d.consumer_tag).is_none() && shared.is_none() {
            if !d.no_ack {
                session.settle(&queue, d.seq, Settle::Requeue);
            }
            return;
        }
        let msg = &d.message;
        let info = mapping::outbound(&msg.properties, self.version.is_v5());
        let granted = if d.no_ack {
            QoS::AtMostOnce
        } else {
            shared.map_or_else(|| session.max_qos(&msg.routing_key), |s| s.qos)
        };
        let qos = info.qos.min(granted);
        let packet_id = (qos != QoS::AtMostOnce).then(|| self.next_id());
        let mut publish = Publish {
            dup: d.redelivered && qos != QoS::AtMostOnce,
            qos,
            retain: info.retained,
            topic: mapping::to_mqtt(msg.routing_key.as_str()),
            packet_id,
            properties: info.properties,
            payload: msg.body.clone(),
        };
        if let Some(shared) = shared {
            crate::subscription_options::apply_shared(
                &shared.options,
                &msg.properties,
                &mut publish,
            );
        } else if !crate::subscription_options::apply(session, &msg.properties, &mut publish) {
            // The client's own message, and only no-local subscriptions match it.
            if !d.no_ack {
                session.settle(&queue, d.seq, Settle::Ack);
            }
            return;
        }
        let new_alias = self.aliases.as_mut().and_then(|a| a.apply(&mut publish));
        // Encoded where it is sent from, and taken back if it is too large.
        let start = out.len();
        encode(out, &Packet::Publish(publish), self.version);
        if out.len() - start > self.max_packet as usize {
            // Spec 3.1.2.24: a packet larger than the client takes is discarded.
            out.truncate(start);
            if let (Some(topic), Some(aliases)) = (new_alias, self.aliases.as_mut()) {
                aliases.forget(&topic);
            }
            if !d.no_ack {
                session.settle(&queue, d.seq, Settle::Ack);
            }
            return;
        }
        match packet_id {
            Some(id) => {
                self.in_flight.insert(
                    id,
                    InFlight {
                        queue: Some(queue),
                        seq: d.seq,
                        qos,
                        released: false,
                    },
                );
            }
            None if !d.no_ack => session.settle(&queue, d.seq, Settle::Ack),
            None => {}
        }
    }

    /// PUBACK for a QoS 1 delivery.
    pub fn acked(&mut self, session: &Session, packet_id: u16) {
        if self
            .in_flight
            .get(&packet_id)
            .is_some_and(|f| f.qos == QoS::AtLeastOnce)
        {
            let f = self.in_flight.remove(&packet_id).expect("present");
            if let Some(queue) = &f.queue {
                session.settle(queue, f.seq, Settle::Ack);
            }
        }
    }

    /// PUBREC for a QoS 2 delivery: the client has it; answer PUBREL.
    pub fn received(&mut self, session: &Session, packet_id: u16, out: &mut BytesMut) {
        if let Some(f) = self.in_flight.get_mut(&packet_id) {
            if f.qos == QoS::ExactlyOnce && !f.released {
                f.released = true;
                if let Some(queue) = &f.queue {
                    session.settle(queue, f.seq, Settle::Ack);
                }
            }
        }
        let mut rel = Ack::new(packet_id);
        if !self.in_flight.contains_key(&packet_id) {
            rel.reason = mqtt_codec::reason::PACKET_IDENTIFIER_NOT_FOUND;
        }
        encode(out, &Packet::PubRel(rel), self.version);
    }

    /// PUBCOMP: the QoS 2 exchange is over, the packet id is free.
    pub fn completed(&mut self, packet_id: u16) {
        if self.in_flight.get(&packet_id).is_some_and(|f| f.released) {
            self.in_flight.remove(&packet_id);
        }
    }

    /// The packet ids whose PUBREL is sent and PUBCOMP awaited, oldest first, for
    /// the session's next connection.
    pub fn take_released(&mut self) -> Vec<u16> {
        let mut ids: Vec<u16> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.released)
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        for id in &ids {
            self.in_flight.remove(id);
        }
        ids
    }

    /// Goes on with the QoS 2 exchanges the previous connection of the session left
    /// at PUBREL: sends PUBREL again, and keeps the ids taken until PUBCOMP.
    pub fn resume_released(&mut self, ids: &[u16], out: &mut BytesMut) {
        for &id in ids {
            self.in_flight.insert(
                id,
                InFlight {
                    queue: None,
                    seq: 0,
                    qos: QoS::ExactlyOnce,
                    released: true,
                },
            );
            encode(out, &Packet::PubRel(Ack::new(id)), self.version);
        }
    }
}
