//! A queue's state and the rules that move messages through it: ready in order,
//! handed to consumers round-robin within their prefetch windows, held unacked until
//! settled, requeued to their original position.
//!
//! The actor owns one `QueueState` and calls these methods; nothing here awaits.

use super::args::{parse_queue_args, Overflow, QueueSettings};
use super::{ConfirmTo, GetOk, Publish, QueueRef, Settle};
use crate::error::{CoreError, CoreResult};
use crate::message::{Message, MessageRef};
use crate::names::Name;
use crate::outlet::{ChannelCreditRef, ChannelKey, Confirmation, ConnEvent, Delivery, Outlet};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use warren_store::{Location, Record, RecoveredMessage};

/// A consumer as the queue sees it.
pub struct Consumer {
    pub tag: Name,
    pub channel: ChannelKey,
    /// The channel's number on its connection, for the frames.
    pub channel_number: u16,
    pub connection: u64,
    pub no_ack: bool,
    pub exclusive: bool,
    /// Per-consumer prefetch (`basic.qos` global=false); 0 is unlimited.
    pub prefetch: u32,
    /// The channel's shared window (`basic.qos` global=true).
    pub channel_credit: ChannelCreditRef,
    /// The channel's transit window: deliveries not yet written to the socket.
    pub transit: ChannelCreditRef,
    pub outlet: Outlet,
    /// Deliveries this consumer holds unacked.
    pub unacked: u32,
}

impl Consumer {
    fn has_own_room(&self) -> bool {
        self.no_ack || self.prefetch == 0 || self.unacked < self.prefetch
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub ready: u32,
    pub unacked: u32,
    pub consumers: u32,
}

/// A ready message's content: in memory, or only in the store (recovered messages
/// until a consumer needs them).
enum Body {
    Ram(MessageRef),
    Disk { id: u64, location: Location },
}

struct Ready {
    seq: u64,
    body: Body,
    /// Body bytes (`x-max-length-bytes`).
    size: u32,
    redelivered: bool,
    /// The store holds this position: settling it must be recorded there.
    stored: bool,
}

struct Unacked {
    message: MessageRef,
    channel: ChannelKey,
    /// None for a `basic.get` delivery.
    consumer: Option<Name>,
    stored: bool,
}

/// What one turn sends to one connection.
struct Outgoing {
    connection: u64,
    outlet: Outlet,
    deliveries: Vec<Delivery>,
    confirms: Vec<Confirmation>,
}

pub(crate) struct QueueState {
    queue: QueueRef,
    settings: QueueSettings,
    /// Ordered by `seq`: requeued messages go back where they were.
    ready: VecDeque<Ready>,
    /// Body bytes of the ready messages (`x-max-length-bytes`).
    ready_bytes: u64,
    unacked: HashMap<u64, Unacked>,
    consumers: Vec<Consumer>,
    /// Index of the consumer to try first next time (round-robin).
    next_consumer: usize,
    had_consumers: bool,
    /// Deliveries and confirms made this turn, batched per connection.
    outbox: Vec<Outgoing>,
    /// Stored positions handed to a consumer this turn (recorded as `Delivered`).
    delivered: Vec<u64>,
    /// Stored positions gone this turn (recorded as `Ack`).
    acked: Vec<u64>,
}

impl QueueState {
    pub(crate) fn new(queue: QueueRef) -> QueueState {
        // The arguments were validated at declare; these are their settings.
        let settings =
            parse_queue_args(&queue.arguments, &queue.name, &queue.vhost).unwrap_or_default();
        QueueState {
            queue,
            settings,
            ready: VecDeque::new(),
            ready_bytes: 0,
            unacked: HashMap::new(),
            consumers: Vec::new(),
            next_consumer: 0,
            had_consumers: false,
            outbox: Vec::new(),
            delivered: Vec::new(),
            acked: Vec::new(),
        }
    }

    /// Refills a durable queue with what the store recovered, in order. Bodies stay
    /// on disk until a consumer needs them.
    pub(crate) fn restore(&mut self, recovered: Vec<RecoveredMessage>) {
        for m in recovered {
            // The body's size is not known without reading it; the record's is close.
            let size = m.location.len;
            self.ready_bytes += size as u64;
            self.ready.push_back(Ready {
                seq: m.seq,
                body: Body::Disk {
                    id: m.id,
                    location: m.location,
                },
                size,
                redelivered: m.delivered,
                stored: true,
            });
        }
    }

    /// The queue is being deleted: the store forgets its messages.
    pub(crate) fn discard_stored(&mut self) {
        self.delivered.clear();
        self.acked.clear();
        if let Some(store) = self.queue.store() {
            drop(store.append(vec![Record::QueueDeleted {
                queue: self.queue.id(),
            }]));
        }
    }

    /// Reads a ready message's content; `None` (after logging why) when the store
    /// cannot give it back.
    fn load(&mut self, seq: u64, body: Body) -> Option<MessageRef> {
        let (id, location) = match body {
            Body::Ram(message) => return Some(message),
            Body::Disk { id, location } => (id, location),
        };
        let store = self.queue.store()?;
        let read = store
            .read(id, location)
            .map_err(|e| e.to_string())
            .and_then(Message::decode_stored);
        match read {
            Ok(message) => Some(Arc::new(message)),
            Err(e) => {
                tracing::error!(
                    "{:?}: message at position {seq} is unreadable and is dropped: {e}",
                    self.queue
                );
                self.acked.push(seq);
                None
            }
        }
    }
    pub(crate) fn counts(&self) -> QueueCounts {
        QueueCounts {
            ready: self.ready.len() as u32,
            unacked: self.unacked.len() as u32,
            consumers: self.consumers.len() as u32,
        }
    }

    /// Takes a batch of published messages, applying the length limits, and records
    /// each outcome for its publisher when it wants a confirm.
    pub(crate) fn publish_batch(&mut self, messages: Vec<Publish>, confirm: Option<ConfirmTo>) {
        for Publish {
            message,
            seq,
            position,
            stored,
        } in messages
        {
            let accepted = self.publish_at(position, message, stored);
            if let Some(to) = &confirm {
                self.outgoing(to.connection, &to.outlet)
                    .confirms
                    .push(Confirmation {
                        channel: to.channel,
                        channel_key: to.channel_key,
                        seq,
                        accepted,
                    });
            }
        }
    }

    /// Enqueues one message at a fresh position (tests).
    #[cfg(test)]
    pub(crate) fn publish(&mut self, message: MessageRef) -> bool {
        let position = self.queue.reserve_positions(1);
        self.publish_at(position, message, false)
    }

    /// Enqueues one message at its reserved position; false when the queue refused it
    /// (full, reject-publish).
    fn publish_at(&mut self, seq: u64, message: MessageRef, stored: bool) -> bool {
        let size = message.body.len() as u64;
        if self.settings.overflow != Overflow::DropHead && self.would_overflow(size) {
            // A waiting consumer may take what is ready and make room: RabbitMQ
            // delivers before it counts.
            self.deliver();
            if self.would_overflow(size) {
                if stored {
                    self.acked.push(seq);
                }
                return false;
            }
        }
        self.ready_bytes += size;
        self.insert_ready(Ready {
            seq,
            body: Body::Ram(message),
            size: size as u32,
            redelivered: false,
            stored,
        });
        if self.settings.overflow == Overflow::DropHead {
            self.drop_head_over_limit();
        }
        true
    }

    /// Whether one more message of `size` bytes would exceed a limit.
    fn would_overflow(&self, size: u64) -> bool {
        let len = self.ready.len() as u64;
        self.settings.max_length.is_some_and(|max| len >= max)
            || self
                .settings
                .max_length_bytes
                .is_some_and(|max| self.ready_bytes + size > max)
    }

    fn drop_head_over_limit(&mut self) {
        if self.settings.max_length.is_none() && self.settings.max_length_bytes.is_none() {
            return;
        }
        // Deliver first: a consumer with room takes messages before they are dropped.
        self.deliver();
        loop {
            let over_len = self
                .settings
                .max_length
                .is_some_and(|max| self.ready.len() as u64 > max);
            let over_bytes = self
                .settings
                .max_length_bytes
                .is_some_and(|max| self.ready_bytes > max);
            if !(over_len || over_bytes) {
                break;
            }
            match self.pop_ready() {
                Some(dropped) if dropped.stored => self.acked.push(dropped.seq),
                Some(_) => {}
                None => break,
            }
        }
    }

    fn pop_ready(&mut self) -> Option<Ready> {
        let r = self.ready.pop_front()?;
        self.ready_bytes -= r.size as u64;
        Some(r)
    }

    /// Puts a message where its position says: usually the back (new messages) or the
    /// front (requeued ones, older than anything ready); positions reserved by two
    /// publishers at once may arrive in either order.
    fn insert_ready(&mut self, entry: Ready) {
        match (self.ready.front(), self.ready.back()) {
            (None, _) => self.ready.push_back(entry),
            (_, Some(last)) if last.seq < entry.seq => self.ready.push_back(entry),
            (Some(first), _) if entry.seq < first.seq => self.ready.push_front(entry),
            _ => {
                let pos = self.ready.partition_point(|r| r.seq < entry.seq);
                self.ready.insert(pos, entry);
            }
        }
    }

    fn outgoing(&mut self, connection: u64, outlet: &Outlet) -> &mut Outgoing {
        let pos = match self.outbox.iter().position(|o| o.connection == connection) {
            Some(pos) => pos,
            None => {
                self.outbox.push(Outgoing {
                    connection,
                    outlet: outlet.clone(),
                    deliveries: Vec::new(),
                    confirms: Vec::new(),
                });
                self.outbox.len() - 1
            }
        };
        &mut self.outbox[pos]
    }

    pub(crate) fn add_consumer(&mut self, consumer: Consumer) -> CoreResult<()> {
        let in_exclusive_use = self.consumers.iter().any(|c| c.exclusive);
        if in_exclusive_use || (consumer.exclusive && !self.consumers.is_empty()) {
            return Err(CoreError::access_refused(format!(
                "queue '{}' in vhost '{}' in exclusive use",
                self.queue.name, self.queue.vhost
            )));
        }
        self.consumers.push(consumer);
        self.had_consumers = true;
        Ok(())
    }

    /// Removes a consumer; its unacked messages stay with its channel until settled.
    pub(crate) fn remove_consumer(&mut self, channel: ChannelKey, tag: &str) -> bool {
        let Some(pos) = self
            .consumers
            .iter()
            .position(|c| c.channel == channel && &*c.tag == tag)
        else {
            return false;
        };
        self.consumers.remove(pos);
        if self.next_consumer > pos {
            self.next_consumer -= 1;
        }
        true
    }

    /// An auto-delete queue goes when it has had consumers and has none left.
    pub(crate) fn should_auto_delete(&self) -> bool {
        self.queue.auto_delete && self.had_consumers && self.consumers.is_empty()
    }

    pub(crate) fn settle(&mut self, channel: ChannelKey, seqs: Vec<u64>, how: Settle) {
        for seq in seqs {
            let Some(entry) = self.unacked.remove(&seq) else {
                continue;
            };
            if entry.channel != channel {
                // Not this channel's to settle; the channel validated its own tags, so
                // this cannot happen unless a seq was reused. Keep the message.
                self.unacked.insert(seq, entry);
                continue;
            }
            self.release_consumer_slot(&entry);
            if how == Settle::Requeue {
                self.requeue(seq, entry);
            } else if entry.stored {
                self.acked.push(seq);
            }
        }
    }

    /// Requeues everything a closed channel held and drops its consumers.
    pub(crate) fn channel_closed(&mut self, channel: ChannelKey) {
        self.consumers.retain(|c| c.channel != channel);
        if self.next_consumer >= self.consumers.len() {
            self.next_consumer = 0;
        }
        let seqs: Vec<u64> = self
            .unacked
            .iter()
            .filter(|(_, u)| u.channel == channel)
            .map(|(s, _)| *s)
            .collect();
        for seq in seqs {
            if let Some(entry) = self.unacked.remove(&seq) {
                self.requeue(seq, entry);
            }
        }
    }

    fn release_consumer_slot(&mut self, entry: &Unacked) {
        if let Some(tag) = &entry.consumer {
            if let Some(c) = self
                .consumers
                .iter_mut()
                .find(|c| c.channel == entry.channel && &c.tag == tag)
            {
                c.unacked = c.unacked.saturating_sub(1);
            }
        }
    }

    fn requeue(&mut self, seq: u64, entry: Unacked) {
        let size = entry.message.body.len() as u32;
        self.ready_bytes += size as u64;
        self.insert_ready(Ready {
            seq,
            body: Body::Ram(entry.message),
            size,
            redelivered: true,
            stored: entry.stored,
        });
    }

    pub(crate) fn get(&mut self, channel: ChannelKey, no_ack: bool) -> Option<GetOk> {
        let (seq, message, redelivered, stored) = self.pop_loaded()?;
        if stored {
            if no_ack {
                self.acked.push(seq);
            } else {
                self.delivered.push(seq);
            }
        }
        if !no_ack {
            self.unacked.insert(
                seq,
                Unacked {
                    message: message.clone(),
                    channel,
                    consumer: None,
                    stored,
                },
            );
        }
        Some(GetOk {
            seq,
            message,
            redelivered,
            remaining: self.ready.len() as u32,
        })
    }

    /// The next ready message with its content, skipping any the store cannot read.
    fn pop_loaded(&mut self) -> Option<(u64, MessageRef, bool, bool)> {
        loop {
            let r = self.pop_ready()?;
            if let Some(message) = self.load(r.seq, r.body) {
                return Some((r.seq, message, r.redelivered, r.stored));
            }
        }
    }

    pub(crate) fn purge(&mut self) -> u32 {
        let n = self.ready.len() as u32;
        let stored = self.ready.iter().filter(|r| r.stored).map(|r| r.seq);
        self.acked.extend(stored);
        self.ready.clear();
        self.ready_bytes = 0;
        n
    }

    pub(crate) fn check_delete(&self, if_unused: bool, if_empty: bool) -> CoreResult<u32> {
        if if_unused && !self.consumers.is_empty() {
            return Err(CoreError::precondition(format!(
                "queue '{}' in vhost '{}' in use",
                self.queue.name, self.queue.vhost
            )));
        }
        if if_empty && !self.ready.is_empty() {
            return Err(CoreError::precondition(format!(
                "queue '{}' in vhost '{}' not empty",
                self.queue.name, self.queue.vhost
            )));
        }
        Ok(self.ready.len() as u32)
    }

    /// Tells every consumer's connection that the broker cancelled it.
    pub(crate) fn cancel_all_consumers(&mut self) {
        for c in self.consumers.drain(..) {
            let _ = c.outlet.send(ConnEvent::ConsumerCancelled {
                channel: c.channel_number,
                consumer_tag: c.tag.clone(),
            });
        }
    }

    /// Hands ready messages to consumers with room, round-robin, until either runs out.
    pub(crate) fn deliver(&mut self) {
        if self.consumers.is_empty() {
            return;
        }
        while !self.ready.is_empty() {
            let Some(index) = self.pick_consumer() else {
                break;
            };
            let Some((seq, message, redelivered, stored)) = self.pop_loaded() else {
                // Nothing readable was left: give the credit back.
                let c = &self.consumers[index];
                c.transit.untake();
                if !c.no_ack {
                    c.channel_credit.untake();
                }
                break;
            };
            let consumer = &mut self.consumers[index];
            if stored {
                if consumer.no_ack {
                    self.acked.push(seq);
                } else {
                    self.delivered.push(seq);
                }
            }
            if !consumer.no_ack {
                consumer.unacked += 1;
                self.unacked.insert(
                    seq,
                    Unacked {
                        message: message.clone(),
                        channel: consumer.channel,
                        consumer: Some(consumer.tag.clone()),
                        stored,
                    },
                );
            }
            let delivery = Delivery {
                channel: consumer.channel_number,
                channel_key: consumer.channel,
                consumer_tag: consumer.tag.clone(),
                queue: Some(self.queue.clone()),
                seq,
                message,
                redelivered,
                no_ack: consumer.no_ack,
            };
            let (connection, outlet) = (consumer.connection, consumer.outlet.clone());
            self.outgoing(connection, &outlet).deliveries.push(delivery);
        }
    }

    /// The next consumer, round-robin from `next_consumer`, that may take a message now.
    fn pick_consumer(&mut self) -> Option<usize> {
        let n = self.consumers.len();
        for step in 0..n {
            let index = (self.next_consumer + step) % n;
            let c = &self.consumers[index];
            if !c.has_own_room() {
                continue;
            }
            // Taking credit comes last: it has a side effect.
            if !c.transit.try_take() {
                continue;
            }
            if !c.no_ack && !c.channel_credit.try_take() {
                c.transit.untake();
                continue;
            }
            self.next_consumer = (index + 1) % n;
            return Some(index);
        }
        None
    }

    /// Sends this turn's deliveries and confirms, one batch of each per connection,
    /// and records this turn's deliveries and settlements in the store. Those records
    /// are not waited for: losing the last few in a crash means a redelivery.
    pub(crate) fn flush(&mut self) {
        if !self.delivered.is_empty() || !self.acked.is_empty() {
            if let Some(store) = self.queue.store() {
                let queue = self.queue.id();
                let mut records = Vec::with_capacity(2);
                if !self.delivered.is_empty() {
                    let seqs = std::mem::take(&mut self.delivered);
                    records.push(Record::Delivered { queue, seqs });
                }
                if !self.acked.is_empty() {
                    let seqs = std::mem::take(&mut self.acked);
                    records.push(Record::Ack { queue, seqs });
                }
                drop(store.append(records));
            } else {
                self.delivered.clear();
                self.acked.clear();
            }
        }
        for out in self.outbox.drain(..) {
            if !out.deliveries.is_empty() {
                let _ = out.outlet.send(ConnEvent::Deliveries(out.deliveries));
            }
            if !out.confirms.is_empty() {
                let _ = out.outlet.send(ConnEvent::Confirms(out.confirms));
            }
        }
    }
}
