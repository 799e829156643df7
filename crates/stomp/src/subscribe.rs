//! SUBSCRIBE, UNSUBSCRIBE, the MESSAGE frames deliveries become, and ACK/NACK.
//!
//! `/queue/` and `/amq/queue/` consume a named queue; `/topic/` and `/exchange/`
//! get a queue of their own bound to the exchange: exclusive and auto-delete, or,
//! for a durable subscription (`persistent:true` or `durable:true`, with an `id`),
//! a durable queue named after the destination and id (or `x-queue-name`) that
//! outlives the connection and is deleted by an UNSUBSCRIBE that says
//! `persistent:true`.

use crate::dest::{format_destination, Dest};
use crate::error::{StompError, StompResult};
use crate::frame::{Frame, Version};
use crate::mapping::headers_from_properties;
use crate::send::header_bool;
use crate::session::{AckMode, Session, Subscription, Unacked};
use amqp_codec::{BasicProperties, FieldTable, FieldValue};
use base64::Engine;
use bytes::BytesMut;
use md5::{Digest, Md5};
use warren_core::access::ResourceKind;
use warren_core::vhost::{BindingSpec, DestName, QueueDeclare};
use warren_core::{Delivery, Name, QueueRef, Settle};

/// Queue arguments SUBSCRIBE (and SEND to `/queue/`) may carry as headers, with
/// their AMQP types, as RabbitMQ's plugin takes them.
const ARGUMENT_HEADERS: &[(&str, bool)] = &[
    ("x-dead-letter-exchange", false),
    ("x-dead-letter-routing-key", false),
    ("x-expires", true),
    ("x-max-length", true),
    ("x-max-length-bytes", true),
    ("x-max-priority", true),
    ("x-message-ttl", true),
    ("x-queue-type", false),
];

pub(crate) fn queue_arguments(frame: &Frame) -> StompResult<FieldTable> {
    let mut table = FieldTable::new();
    for (name, numeric) in ARGUMENT_HEADERS {
        let Some(value) = frame.header(name) else {
            continue;
        };
        let value = value.trim();
        let field = if *numeric {
            FieldValue::I64(value.parse().map_err(|_| {
                StompError::new(
                    "Invalid header",
                    format!("header '{name}' must be an integer, not '{value}'"),
                )
            })?)
        } else {
            FieldValue::long_string(value)
        };
        table.insert(*name, field);
    }
    Ok(table)
}

impl Session {
    pub(crate) async fn subscribe(&mut self, frame: &Frame) -> StompResult<()> {
        let text = frame
            .header("destination")
            .ok_or_else(|| StompError::missing_header("SUBSCRIBE", "destination"))?;
        let id = match frame.header("id") {
            Some(id) => id.to_string(),
            None if self.version == Version::V1_0 => text.to_string(),
            None => return Err(StompError::missing_header("SUBSCRIBE", "id")),
        };
        if id.starts_with("/temp-queue/") {
            return Err(StompError::new(
                "Invalid id",
                "SUBSCRIBE: an id may not start with /temp-queue/",
            ));
        }
        if self.subscriptions.contains_key(&id) {
            return Err(StompError::new(
                "Duplicated subscription identifier",
                format!("A subscription identified by '{id}' already exists."),
            ));
        }
        let ack = match frame.header("ack").unwrap_or("auto") {
            "auto" => AckMode::Auto,
            "client" => AckMode::Client,
            "client-individual" => AckMode::ClientIndividual,
            other => {
                return Err(StompError::new(
                    "Invalid ack header",
                    format!("'{other}' is not an ack mode (auto, client, client-individual)"),
                ))
            }
        };
        let prefetch = match frame.header("prefetch-count") {
            None => 0,
            Some(v) => v.trim().parse::<u16>().map_err(|_| {
                StompError::new(
                    "Invalid header",
                    format!("prefetch-count must be an integer, not '{v}'"),
                )
            })? as u32,
        };
        let queue = match Dest::parse(text)? {
            Dest::Queue(q) => self.declare_queue(&q, frame).await?,
            Dest::AmqQueue(q) | Dest::ReplyQueue(q) => self.vhost.queue_for(self.id, &q)?,
            Dest::Topic(key) => {
                self.bound_queue("amq.topic", &key, text, &id, frame)
                    .await?
            }
            Dest::Exchange { name, key } => self.bound_queue(&name, &key, text, &id, frame).await?,
            Dest::TempQueue(_) => {
                return Err(StompError::new(
                    "Invalid destination",
                    "Temp queues are for reply-to headers and SEND, not SUBSCRIBE",
                ))
            }
        };
        self.access.read(ResourceKind::Queue, &queue.name)?;
        queue.consume(self.consumer(&id, ack, prefetch)).await?;
        self.touch(&queue);
        self.subscriptions.insert(id, Subscription { queue, ack });
        Ok(())
    }

    /// The queue of a `/topic/` or `/exchange/` subscription, bound to the exchange.
    async fn bound_queue(
        &mut self,
        exchange: &str,
        key: &str,
        destination: &str,
        id: &str,
        frame: &Frame,
    ) -> StompResult<QueueRef> {
        self.vhost.exchange_or_404(exchange)?;
        let durable = header_bool(frame, "durable")
            .or(header_bool(frame, "persistent"))
            .unwrap_or(false);
        let (name, exclusive, auto_delete) = if durable {
            let name = match frame.header("x-queue-name") {
                Some(n) => n.to_string(),
                None => subscription_queue_name(destination, id),
            };
            let auto_delete = header_bool(frame, "auto-delete").unwrap_or(false);
            (name, false, auto_delete)
        } else {
            let name = frame.header("x-queue-name").unwrap_or("").to_string();
            (name, true, true)
        };
        let declared = self
            .vhost
            .declare_queue(QueueDeclare {
                access: &self.access,
                name: &name,
                passive: false,
                durable,
                exclusive,
                auto_delete,
                arguments: queue_arguments(frame)?,
                connection: self.id,
            })
            .await?;
        let queue = declared.queue;
        self.vhost
            .bind(
                &self.access,
                self.id,
                BindingSpec {
                    source: Name::from(exchange),
                    destination: DestName::Queue(queue.name.clone()),
                    routing_key: key.to_string(),
                    arguments: FieldTable::new(),
                },
                false,
            )
            .await?;
        Ok(queue)
    }

    pub(crate) async fn unsubscribe(&mut self, frame: &Frame) -> StompResult<()> {
        let id = match (frame.header("id"), frame.header("destination")) {
            (Some(id), _) => id.to_string(),
            (None, Some(d)) if self.version == Version::V1_0 => d.to_string(),
            _ => return Err(StompError::missing_header("UNSUBSCRIBE", "id")),
        };
        let Some(sub) = self.subscriptions.remove(&id) else {
            return Err(StompError::new(
                "Bad subscription",
                format!("Subscription to '{id}' not found."),
            ));
        };
        sub.queue
            .cancel(self.key, Name::from(format!("T_{id}")))
            .await;
        let durable = header_bool(frame, "durable")
            .or(header_bool(frame, "persistent"))
            .unwrap_or(false);
        if durable && sub.queue.durable {
            // Ending a durable subscription: its queue goes.
            self.vhost
                .delete_queue(&self.access, self.id, &sub.queue.name, false, false)
                .await?;
        }
        Ok(())
    }

    /// Writes a delivery as a MESSAGE frame.
    pub fn deliver(&mut self, d: Delivery, out: &mut BytesMut) {
        if d.queue.is_some() && self.transit.give_back(1) {
            self.wake_queues();
        }
        let id = d.consumer_tag.strip_prefix("T_").unwrap_or(&d.consumer_tag);
        let Some(sub) = self.subscriptions.get(id) else {
            // Unsubscribed meanwhile: an unacknowledged message goes back.
            if let (false, Some(queue)) = (d.no_ack, &d.queue) {
                queue.settle(self.key, vec![d.seq], Settle::Requeue);
            }
            return;
        };
        let ack = sub.ack;
        let tag = self.next_tag;
        self.next_tag += 1;
        let ack_id = format!("{}@@{}@@{tag}", d.consumer_tag, self.session_id);
        let msg = &d.message;
        if let (true, Some(queue)) = (self.vhost.tracing(), &d.queue) {
            self.vhost
                .trace_deliver(&queue.name, msg, d.redelivered, self.trace_origin());
        }
        let mut frame = Frame::new("MESSAGE")
            .with("subscription", id)
            .with(
                "destination",
                format_destination(&msg.exchange, msg.routing_key.as_str()),
            )
            .with("message-id", ack_id.clone())
            .with("redelivered", if d.redelivered { "true" } else { "false" });
        if ack != AckMode::Auto && self.version == Version::V1_2 {
            frame = frame.with("ack", ack_id);
        }
        if let Ok(props) = BasicProperties::decode(&msg.properties) {
            headers_from_properties(&props, &mut frame.headers);
        }
        frame.body = msg.body.clone();
        if !d.no_ack {
            if let Some(queue) = d.queue {
                self.unacked.push_back(Unacked {
                    tag,
                    subscription: id.to_string(),
                    queue,
                    seq: d.seq,
                });
            }
        }
        self.write(out, &frame);
    }

    fn wake_queues(&self) {
        for sub in self.subscriptions.values() {
            sub.queue.wake();
        }
    }

    /// ACK (or NACK): the message the ack id names, and in `client` mode every
    /// earlier one of its subscription.
    pub(crate) fn ack(&mut self, frame: &Frame, nack: bool) -> StompResult<()> {
        let header = if self.version == Version::V1_2 {
            "id"
        } else {
            "message-id"
        };
        let command = &frame.command;
        let ack_id = frame
            .header(header)
            .or_else(|| frame.header("id"))
            .or_else(|| frame.header("message-id"))
            .ok_or_else(|| StompError::missing_header(command, header))?;
        let tag: u64 = ack_id
            .rsplit_once("@@")
            .and_then(|(_, t)| t.parse().ok())
            .ok_or_else(|| {
                StompError::new(
                    "Invalid header",
                    format!("{command} must include a valid '{header}' header"),
                )
            })?;
        let subscription_of_id = ack_id
            .split("@@")
            .next()
            .and_then(|t| t.strip_prefix("T_"))
            .unwrap_or("");
        if !self.subscriptions.contains_key(subscription_of_id) {
            return Err(StompError::new(
                "Subscription not found",
                format!("Message with id \"{ack_id}\" has no subscription"),
            ));
        }
        let Some(pos) = self.unacked.iter().position(|u| u.tag == tag) else {
            return Err(StompError::new(
                "precondition_failed",
                format!("PRECONDITION_FAILED - unknown delivery tag {tag}"),
            ));
        };
        let subscription = self.unacked[pos].subscription.clone();
        let cumulative = self
            .subscriptions
            .get(&subscription)
            .is_some_and(|s| s.ack == AckMode::Client);
        let taken: Vec<Unacked> = if cumulative {
            let (taken, kept): (std::collections::VecDeque<Unacked>, _) =
                std::mem::take(&mut self.unacked)
                    .into_iter()
                    .partition(|u| u.subscription == subscription && u.tag <= tag);
            self.unacked = kept;
            taken.into()
        } else {
            self.unacked.remove(pos).into_iter().collect()
        };
        let how = match (nack, header_bool(frame, "requeue")) {
            (false, _) => Settle::Ack,
            (true, Some(false)) => Settle::Discard,
            (true, _) => Settle::Nack,
        };
        let mut groups: Vec<(QueueRef, Vec<u64>)> = Vec::new();
        for u in taken {
            match groups.iter_mut().find(|(q, _)| q.id() == u.queue.id()) {
                Some((_, seqs)) => seqs.push(u.seq),
                None => groups.push((u.queue, vec![u.seq])),
            }
        }
        for (queue, seqs) in groups {
            queue.settle(self.key, seqs, how);
        }
        Ok(())
    }
}

/// `stomp-subscription-` and a digest of the destination and subscription id, so a
/// client that subscribes again with both finds its queue.
fn subscription_queue_name(destination: &str, id: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(destination.as_bytes());
    md5.update([0u8]);
    md5.update(id.as_bytes());
    let digest = md5.finalize();
    format!(
        "stomp-subscription-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}
