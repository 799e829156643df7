//! What a delivery record is: one event in a message's life in one queue, and its
//! bytes in the segment log.
//!
//! Payload layout (version 1), after the frame (`log.rs`):
//!
//! | field   | bytes                                    |
//! |---------|------------------------------------------|
//! | version | 1 (`1`)                                  |
//! | kind    | 1 (`EventKind` tag)                      |
//! | at      | 8, ms since the Unix epoch, little-endian |
//! | key     | string                                   |
//! | queue   | string                                   |
//! | fields  | per kind, in the order of the enum       |
//!
//! A string is a 2-byte little-endian length and UTF-8; a flag is one byte.

use std::sync::Arc;

/// Who was on the other end: resolved from the connection when the event happened,
/// so the record keeps it after the connection has gone. Empty strings when the
/// operation came from no connection (a dead-lettering queue, the HTTP API).
///
/// The names are shared: a queue makes one `Party` per connection and every record
/// of it points at the same strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Party {
    pub user: Arc<str>,
    /// The client's address, `ip:port`.
    pub peer: Arc<str>,
    /// RabbitMQ's connection name, `client -> server`.
    pub connection: Arc<str>,
    pub channel: u16,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The message entered the queue.
    Published {
        by: Party,
        exchange: String,
        routing_key: String,
    },
    /// Handed to a consumer, or to `basic.get` when `consumer_tag` is `None`.
    Delivered {
        to: Party,
        consumer_tag: Option<String>,
        redelivered: bool,
        /// Delivered with `no_ack`: this delivery is the message's last event.
        no_ack: bool,
        /// Which delivery of the message from this queue this is (1 for the first);
        /// counted when the records are read, not stored.
        delivery_count: u32,
    },
    Acked,
    /// `basic.reject` or `basic.nack` (a queue cannot tell them apart, nor can
    /// RabbitMQ's).
    Rejected {
        requeue: bool,
    },
    /// Back in the queue without a reject: its channel closed, or `basic.recover`.
    Requeued,
    /// Its TTL ran out and the queue has no dead-letter exchange.
    Expired,
    DeadLettered {
        /// `x-death` reason: `rejected`, `expired`, `maxlen`, `delivery_limit`.
        reason: String,
        exchange: String,
    },
    /// Dropped without a dead-letter exchange: `maxlen` (queue full, drop-head),
    /// `overflow` (refused by reject-publish), `delivery_limit`, `duplicate`.
    Dropped {
        reason: String,
    },
    Purged,
    /// The queue was deleted with the message in it.
    Deleted,
}

impl EventKind {
    /// The name the HTTP API and `warrenctl` show.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Published { .. } => "published",
            EventKind::Delivered { .. } => "delivered",
            EventKind::Acked => "acked",
            EventKind::Rejected { .. } => "rejected",
            EventKind::Requeued => "requeued",
            EventKind::Expired => "expired",
            EventKind::DeadLettered { .. } => "dead_lettered",
            EventKind::Dropped { .. } => "dropped",
            EventKind::Purged => "purged",
            EventKind::Deleted => "deleted",
        }
    }

    fn tag(&self) -> u8 {
        match self {
            EventKind::Published { .. } => 1,
            EventKind::Delivered { .. } => 2,
            EventKind::Acked => 3,
            EventKind::Rejected { .. } => 4,
            EventKind::Requeued => 5,
            EventKind::Expired => 6,
            EventKind::DeadLettered { .. } => 7,
            EventKind::Dropped { .. } => 8,
            EventKind::Purged => 9,
            EventKind::Deleted => 10,
        }
    }
}

/// One record: `kind` happened to the message `key` in `queue` at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// The message's `message_id`, or `<queue>#<position>` when it has none.
    pub key: Arc<str>,
    pub queue: Arc<str>,
    pub kind: EventKind,
}

const VERSION: u8 = 1;

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Longer strings are cut at a character boundary: a record is a summary.
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

fn put_party(out: &mut Vec<u8>, p: &Party) {
    put_str(out, &p.user);
    put_str(out, &p.peer);
    put_str(out, &p.connection);
    out.extend_from_slice(&p.channel.to_le_bytes());
}

impl Event {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.kind.tag());
        out.extend_from_slice(&self.at.to_le_bytes());
        put_str(out, &self.key);
        put_str(out, &self.queue);
        match &self.kind {
            EventKind::Published {
                by,
                exchange,
                routing_key,
            } => {
                put_party(out, by);
                put_str(out, exchange);
                put_str(out, routing_key);
            }
            EventKind::Delivered {
                to,
                consumer_tag,
                redelivered,
                no_ack,
                delivery_count: _,
            } => {
                put_party(out, to);
                out.push(consumer_tag.is_some() as u8);
                put_str(out, consumer_tag.as_deref().unwrap_or(""));
                out.push(*redelivered as u8);
                out.push(*no_ack as u8);
            }
            EventKind::Rejected { requeue } => out.push(*requeue as u8),
            EventKind::DeadLettered { reason, exchange } => {
                put_str(out, reason);
                put_str(out, exchange);
            }
            EventKind::Dropped { reason } => put_str(out, reason),
            EventKind::Acked
            | EventKind::Requeued
            | EventKind::Expired
            | EventKind::Purged
            | EventKind::Deleted => {}
        }
    }

    /// Reads a payload back; `None` for bytes this version does not understand
    /// (the frame's checksum already vouched for them, so that means a newer writer).
    pub fn decode(bytes: &[u8]) -> Option<Event> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return None;
        }
        let tag = r.u8()?;
        let at = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let key = r.string()?.into();
        let queue = r.string()?.into();
        let kind = match tag {
            1 => EventKind::Published {
                by: r.party()?,
                exchange: r.string()?,
                routing_key: r.string()?,
            },
            2 => {
                let to = r.party()?;
                let has_tag = r.u8()? == 1;
                let tag = r.string()?;
                EventKind::Delivered {
                    to,
                    consumer_tag: has_tag.then_some(tag),
                    redelivered: r.u8()? == 1,
                    no_ack: r.u8()? == 1,
                    delivery_count: 0,
                }
            }
            3 => EventKind::Acked,
            4 => EventKind::Rejected {
                requeue: r.u8()? == 1,
            },
            5 => EventKind::Requeued,
            6 => EventKind::Expired,
            7 => EventKind::DeadLettered {
                reason: r.string()?,
                exchange: r.string()?,
            },
            8 => EventKind::Dropped {
                reason: r.string()?,
            },
            9 => EventKind::Purged,
            10 => EventKind::Deleted,
            _ => return None,
        };
        Some(Event {
            at,
            key,
            queue,
            kind,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn party(&mut self) -> Option<Party> {
        Some(Party {
            user: self.string()?.into(),
            peer: self.string()?.into(),
            connection: self.string()?.into(),
            channel: self.u16()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let party = Party {
            user: "guest".into(),
            peer: "127.0.0.1:4000".into(),
            connection: "127.0.0.1:4000 -> 127.0.0.1:5672".into(),
            channel: 3,
        };
        let kinds = [
            EventKind::Published {
                by: party.clone(),
                exchange: "ex".into(),
                routing_key: "rk".into(),
            },
            EventKind::Delivered {
                to: party,
                consumer_tag: Some("ctag".into()),
                redelivered: true,
                no_ack: false,
                delivery_count: 0,
            },
            EventKind::Acked,
            EventKind::Rejected { requeue: true },
            EventKind::Requeued,
            EventKind::Expired,
            EventKind::DeadLettered {
                reason: "rejected".into(),
                exchange: "dlx".into(),
            },
            EventKind::Dropped {
                reason: "maxlen".into(),
            },
            EventKind::Purged,
            EventKind::Deleted,
        ];
        for kind in kinds {
            let e = Event {
                at: 1_700_000_000_000,
                key: "m-1".into(),
                queue: "q".into(),
                kind,
            };
            let mut bytes = Vec::new();
            e.encode(&mut bytes);
            assert_eq!(Event::decode(&bytes), Some(e));
            assert!(Event::decode(&bytes[..bytes.len() - 1]).is_none());
        }
    }
}
