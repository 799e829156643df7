//! Dead-lettering, as RabbitMQ does it: a message rejected without requeue, expired,
//! or dropped by a length limit is republished to the queue's dead-letter exchange,
//! with its routing key replaced by `x-dead-letter-routing-key` when there is one, and
//! an `x-death` header that says where and why it died (one entry per queue and
//! reason, the most recent first, with a count), plus `x-first-death-*`. A message
//! that would come back to a queue it already died in, with no rejection on the way,
//! is dropped there: such a cycle would never end.

use super::backing::Kept;
use super::state::{Dead, DeathReason};
use crate::message::Message;
use crate::names::Name;
use crate::publish_batch::PublishBatches;
use crate::queue::QueueRef;
use crate::vhost::{Publisher, VHost};
use amqp_codec::{BasicProperties, FieldTable, FieldValue};
use std::sync::{Arc, Weak};
use warren_store::Record;

/// What a queue needs to dead-letter: where to, and a publisher with its caches.
pub(crate) struct DeadLetterer {
    owner: Weak<VHost>,
    /// Made at the first dead letter (boxed: most queues never need one).
    publisher: Option<Box<Publisher>>,
    route_buf: Vec<QueueRef>,
}

impl DeadLetterer {
    pub fn new(owner: Weak<VHost>) -> DeadLetterer {
        DeadLetterer {
            owner,
            publisher: None,
            route_buf: Vec::new(),
        }
    }

    /// Republishes `dead` from `queue` to `exchange`. Returns the durable positions
    /// of `queue` whose `Ack` is still to be recorded (those not written after the
    /// dead-lettered copies in the same append), and the paged ones.
    pub fn publish(
        &mut self,
        queue: &QueueRef,
        exchange: &str,
        routing_key: Option<&str>,
        dead: Vec<Dead>,
    ) -> Vec<(Kept, u64)> {
        let gone: Vec<(Kept, u64)> = dead.iter().map(|d| (d.kept, d.seq)).collect();
        let Some(vhost) = self.owner.upgrade() else {
            return gone;
        };
        let publisher = self.publisher.get_or_insert_with(|| {
            // Dead-lettering is the broker's own publish: the declaring user's
            // write permission on the exchange was checked at queue.declare.
            let access = crate::access::Access::unrestricted(&vhost.name);
            Box::new(Publisher::new(vhost, access))
        });
        // A dead-letter exchange that does not exist: the messages are dropped.
        let Ok(target) = publisher.exchange(exchange) else {
            return gone;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut batches = PublishBatches::default();
        for d in &dead {
            let (mut message, keys) = dead_lettered(
                &d.message,
                queue,
                &target.name,
                d.reason,
                now,
                routing_key.is_some(),
            );
            if let Some(key) = routing_key {
                message.routing_key = amqp_codec::ShortStr::from(key.to_string());
            }
            let message = Arc::new(message);
            let mut queues = std::mem::take(&mut self.route_buf);
            queues.clear();
            match routing_key {
                Some(key) => publisher.route(&target, key, &message.properties, &mut queues),
                None => {
                    for key in &keys {
                        publisher.route(&target, key, &message.properties, &mut queues);
                    }
                }
            }
            for (exchange, delay) in publisher.take_delayed() {
                if let Some(delayer) = exchange.delayer() {
                    delayer.hold(message.clone(), delay, None);
                }
            }
            // Decoded once per message, not once per queue it reaches.
            let cycle = if d.reason == DeathReason::Rejected {
                Vec::new()
            } else {
                cycle_queues(&message)
            };
            for q in queues.drain(..) {
                if cycle.iter().any(|c| c == &*q.name) {
                    tracing::debug!("{queue:?}: dead-letter cycle to {q:?}; message dropped there");
                    continue;
                }
                batches.add(q, message.clone(), 0);
            }
            self.route_buf = queues;
        }
        // The source's Ack goes after the copies' Enqueues: a crash in between
        // duplicates a message rather than losing it.
        let durable: Vec<u64> = gone
            .iter()
            .filter(|(k, _)| *k == Kept::Durable)
            .map(|(_, s)| *s)
            .collect();
        let mut trailing = Vec::new();
        if !durable.is_empty() && queue.store().is_some() {
            trailing.push(Record::Ack {
                queue: queue.id(),
                seqs: durable,
            });
        }
        let stored = batches.flush(None, &mut trailing, |_| {});
        drop(stored);
        if trailing.is_empty() {
            // Recorded with the copies.
            gone.into_iter()
                .filter(|(k, _)| *k != Kept::Durable)
                .collect()
        } else {
            gone
        }
    }
}

/// The dead-lettered copy of `m`, and the routing keys it goes to when the queue sets
/// no dead-letter routing key (its own and its `CC` keys).
fn dead_lettered(
    m: &Message,
    queue: &QueueRef,
    exchange: &Name,
    reason: DeathReason,
    now: u64,
    new_routing_key: bool,
) -> (Message, Vec<String>) {
    let mut props = BasicProperties::decode(&m.properties).unwrap_or_default();
    let mut headers = props.headers.take().unwrap_or_default();
    // x-death lists the keys it was published with (CC, not BCC); it is routed again
    // by all of them (BCC too), unless the queue gives a new routing key, which then
    // replaces them (and CC goes).
    let mut keys = vec![m.routing_key.to_string()];
    if let Some(FieldValue::Array(cc)) = headers.get("CC") {
        keys.extend(cc.iter().filter_map(|k| k.as_str().map(str::to_string)));
    }
    let listed_keys = keys.clone();
    keys.extend(m.bcc.iter().flat_map(|b| b.iter().cloned()));
    if new_routing_key {
        headers.remove("CC");
    }
    let mut deaths = match headers.remove("x-death") {
        Some(FieldValue::Array(entries)) => entries,
        _ => Vec::new(),
    };
    let same = deaths.iter().position(|e| match e {
        FieldValue::Table(t) => {
            t.get("queue").and_then(|v| v.as_str()) == Some(&*queue.name)
                && t.get("reason").and_then(|v| v.as_str()) == Some(reason.as_str())
        }
        _ => false,
    });
    let entry = match same {
        Some(i) => {
            let mut entry = match deaths.remove(i) {
                FieldValue::Table(t) => t,
                _ => FieldTable::new(),
            };
            let count = entry.get("count").and_then(|v| v.as_i64()).unwrap_or(0);
            entry.insert("count", FieldValue::I64(count + 1));
            entry.insert("time", FieldValue::Timestamp(now));
            entry
        }
        None => {
            let mut entry = FieldTable::new();
            entry.insert("count", FieldValue::I64(1));
            entry.insert("reason", FieldValue::long_string(reason.as_str()));
            entry.insert("queue", FieldValue::long_string(queue.name.to_string()));
            entry.insert("time", FieldValue::Timestamp(now));
            entry.insert("exchange", FieldValue::long_string(m.exchange.to_string()));
            let routing_keys = listed_keys
                .iter()
                .map(|k| FieldValue::long_string(k.clone()));
            entry.insert("routing-keys", FieldValue::Array(routing_keys.collect()));
            if let Some(expiration) = &props.expiration {
                entry.insert(
                    "original-expiration",
                    FieldValue::long_string(expiration.to_string()),
                );
            }
            entry
        }
    };
    deaths.insert(0, FieldValue::Table(entry));
    headers.insert("x-death", FieldValue::Array(deaths));
    if headers.get("x-first-death-reason").is_none() {
        headers.insert(
            "x-first-death-exchange",
            FieldValue::long_string(m.exchange.to_string()),
        );
        headers.insert(
            "x-first-death-queue",
            FieldValue::long_string(queue.name.to_string()),
        );
        headers.insert(
            "x-first-death-reason",
            FieldValue::long_string(reason.as_str()),
        );
    }
    // It must not expire again in the queues it goes to.
    props.expiration = None;
    props.headers = Some(headers);
    let message = Message {
        exchange: exchange.clone(),
        routing_key: m.routing_key.clone(),
        properties: props.encode(),
        body: m.body.clone(),
        persistent: m.persistent,
        expiration: None,
        priority: m.priority,
        bcc: None,
    };
    (message, keys)
}

/// The queues the message died in since its last rejection (most recent first):
/// dead-lettering it back into one of them would be a cycle. Empty after a
/// rejection anywhere on the way.
fn cycle_queues(message: &Message) -> Vec<String> {
    let Ok(props) = BasicProperties::decode(&message.properties) else {
        return Vec::new();
    };
    let Some(FieldValue::Array(deaths)) = props.headers.as_ref().and_then(|h| h.get("x-death"))
    else {
        return Vec::new();
    };
    let mut queues = Vec::new();
    for death in deaths {
        let FieldValue::Table(t) = death else {
            continue;
        };
        if t.get("reason").and_then(|v| v.as_str()) == Some("rejected") {
            break;
        }
        if let Some(q) = t.get("queue").and_then(|v| v.as_str()) {
            queues.push(q.to_string());
        }
    }
    queues
}
