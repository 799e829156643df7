//! A recording queue's side of delivery records (`crate::records`): it knows each
//! message's key by position (so an ack, which names only the position, can be
//! recorded), who is on the connections it deals with, and collects a turn's events
//! to hand them to the recorder in one go.

use super::Publish;
use crate::message::Message;
use crate::names::Name;
use crate::records::{Event, EventKind, Party, RecorderRef};
use amqp_codec::BasicProperties;
use std::collections::HashMap;
use std::sync::Arc;

/// Who published a batch: the publishing channel, carried with the batch only to
/// queues that record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishOrigin {
    pub connection: u64,
    pub channel: u16,
}

pub(crate) struct QueueRecords {
    recorder: RecorderRef,
    vhost: Name,
    queue: Arc<str>,
    /// Position -> message key, for the messages in the queue.
    keys: HashMap<u64, Arc<str>>,
    /// Connection id -> who is on it, as first seen (ids are never reused).
    parties: HashMap<u64, Party>,
    pending: Vec<Event>,
}

/// Connections remembered before the cache starts over.
const PARTY_CACHE: usize = 1024;

impl QueueRecords {
    pub(crate) fn new(recorder: RecorderRef, vhost: Name, queue: &str) -> QueueRecords {
        QueueRecords {
            recorder,
            vhost,
            queue: Arc::from(queue),
            keys: HashMap::new(),
            parties: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// The message's `message_id`, or its position in this queue.
    fn key_of(&self, seq: u64, message: &Message) -> Arc<str> {
        BasicProperties::decode(&message.properties)
            .ok()
            .and_then(|p| p.message_id)
            .map(|id| Arc::from(id.as_str()))
            .unwrap_or_else(|| Arc::from(format!("{}#{seq}", self.queue)))
    }

    fn party(&mut self, connection: u64, channel: u16) -> Party {
        if connection == 0 {
            return Party {
                channel,
                ..Party::default()
            };
        }
        if self.parties.len() >= PARTY_CACHE {
            self.parties.clear();
        }
        let recorder = &self.recorder;
        let mut party = self
            .parties
            .entry(connection)
            .or_insert_with(|| recorder.party(connection, 0))
            .clone();
        party.channel = channel;
        party
    }

    fn push(&mut self, at: u64, key: Arc<str>, kind: EventKind) {
        self.pending.push(Event {
            at,
            key,
            queue: self.queue.clone(),
            kind,
        });
    }

    /// A recovered message is at `seq` again.
    pub(crate) fn restored(&mut self, seq: u64, message: &Message) {
        let key = self.key_of(seq, message);
        self.keys.insert(seq, key);
    }

    pub(crate) fn published(&mut self, at: u64, p: &Publish, origin: Option<PublishOrigin>) {
        let key = self.key_of(p.position, &p.message);
        let by = match origin {
            Some(o) => self.party(o.connection, o.channel),
            None => Party::default(),
        };
        self.keys.insert(p.position, key.clone());
        self.push(
            at,
            key,
            EventKind::Published {
                by,
                exchange: p.message.exchange.to_string(),
                routing_key: p.message.routing_key.to_string(),
            },
        );
    }

    /// Delivered to a consumer (`consumer_tag`) or to `basic.get` (`None`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn delivered(
        &mut self,
        at: u64,
        seq: u64,
        connection: u64,
        channel: u16,
        consumer_tag: Option<&str>,
        redelivered: bool,
        no_ack: bool,
    ) {
        let Some(key) = self.keys.get(&seq).cloned() else {
            return;
        };
        let to = self.party(connection, channel);
        self.push(
            at,
            key,
            EventKind::Delivered {
                to,
                consumer_tag: consumer_tag.map(str::to_string),
                redelivered,
                no_ack,
                delivery_count: 0,
            },
        );
    }

    /// Something happened to the message at `seq`.
    pub(crate) fn outcome(&mut self, at: u64, seq: u64, kind: EventKind) {
        if let Some(key) = self.keys.get(&seq).cloned() {
            self.push(at, key, kind);
        }
    }

    /// Position `seq` has left the queue for good.
    pub(crate) fn forget(&mut self, seq: u64) {
        self.keys.remove(&seq);
    }

    /// Hands the turn's events to the recorder.
    pub(crate) fn flush(&mut self) {
        if !self.pending.is_empty() {
            let events = std::mem::take(&mut self.pending);
            self.recorder.record(self.vhost.clone(), events);
        }
    }
}
