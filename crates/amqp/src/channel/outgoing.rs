//! Routed publishes waiting to be handed to their queues: one batch per queue per
//! read, so a queue's actor wakes once for many messages.
//!
//! Persistent messages bound for durable queues are written to the store here, in one
//! append per flush: each message once, then one `Enqueue` per durable queue it goes
//! to, at the position that queue reserved for it. The append is made before the
//! queues see the messages, so anything a queue later records about them (deliveries,
//! acks) lands after them in the log.

use std::collections::HashMap;
use warren_core::{ConfirmTo, MessageRef, Publish, QueueRef};
use warren_store::{Record, Store, Ticket};

#[derive(Default)]
pub(crate) struct Outgoing {
    batches: Vec<(QueueRef, Vec<Publish>)>,
    /// Queue id -> index in `batches`, for fan-out to many queues.
    index: HashMap<u64, usize>,
}

/// Unwritten store bytes over which publishers pause, and under which they resume.
pub(crate) const STORE_HIGH_WATER: u64 = 64 << 20;
pub(crate) const STORE_LOW_WATER: u64 = 16 << 20;

/// What a publisher waits for when it has outrun the broker.
pub(crate) enum Behind {
    /// A queue's mailbox is over the high-water mark.
    Queue(QueueRef),
    /// The store has more than `STORE_HIGH_WATER` bytes to write.
    Store(Store),
}

impl Behind {
    /// Whether the publisher should still wait.
    pub fn still_behind(&self, queue_low_water: u64) -> bool {
        match self {
            Behind::Queue(q) => q.backlog() > queue_low_water && !q.is_deleted(),
            Behind::Store(s) => s.backlog_bytes() > STORE_LOW_WATER,
        }
    }
}

/// What one flush did.
#[derive(Default)]
pub(crate) struct Flushed {
    /// Something this publisher is far ahead of.
    pub behind: Option<Behind>,
    /// The store append of this flush's persistent messages, with the confirm
    /// sequence numbers of the messages in it (0 without confirms).
    pub stored: Option<(Ticket, Vec<u64>)>,
}

impl Outgoing {
    pub fn add(&mut self, queue: QueueRef, message: MessageRef, seq: u64) {
        let publish = Publish {
            message,
            seq,
            position: 0,
            stored: None,
        };
        let slot = match self.index.get(&queue.id()) {
            Some(&i) => i,
            None => {
                self.index.insert(queue.id(), self.batches.len());
                self.batches.push((queue, Vec::new()));
                self.batches.len() - 1
            }
        };
        self.batches[slot].1.push(publish);
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Writes the persistent messages to the store, then sends every batch;
    /// `confirm_to` when the channel is in confirm mode.
    pub fn flush(&mut self, confirm_to: Option<ConfirmTo>, high_water: u64) -> Flushed {
        if self.batches.is_empty() {
            return Flushed::default();
        }
        self.index.clear();
        let stored = self.store_persistent();
        let mut behind = None;
        for (queue, messages) in self.batches.drain(..) {
            queue.publish(messages, confirm_to.clone());
            if queue.backlog() > high_water {
                behind = Some(Behind::Queue(queue));
            } else if queue.over_budget() {
                // The queue writes what it gets to disk: it can go no faster than that.
                if let Some(store) = queue.page_store() {
                    if store.backlog_bytes() > STORE_HIGH_WATER {
                        behind = Some(Behind::Store(store.clone()));
                    }
                }
            }
        }
        if let Some((_, _, store)) = &stored {
            if store.backlog_bytes() > STORE_HIGH_WATER {
                behind = Some(Behind::Store(store.clone()));
            }
        }
        let stored = stored.map(|(ticket, seqs, _)| (ticket, seqs));
        Flushed { behind, stored }
    }

    /// Reserves every batch's queue positions and appends the persistent messages
    /// for durable queues to the store (one append for the whole flush).
    fn store_persistent(&mut self) -> Option<(Ticket, Vec<u64>, Store)> {
        let mut store: Option<Store> = None;
        let mut records = Vec::new();
        let mut confirm_seqs = Vec::new();
        // Message (by address) -> its store id, so fan-out writes the bytes once.
        let mut written: HashMap<*const warren_core::Message, u64> = HashMap::new();
        for (queue, messages) in &mut self.batches {
            let first = queue.reserve_positions(messages.len());
            for (i, p) in messages.iter_mut().enumerate() {
                p.position = first + i as u64;
            }
            let Some(queue_store) = queue.store() else {
                continue;
            };
            for p in messages.iter_mut().filter(|p| p.message.persistent) {
                let key = std::sync::Arc::as_ptr(&p.message);
                let message = *written.entry(key).or_insert_with(|| {
                    let id = queue_store.new_message_id();
                    records.push(Record::Message {
                        id,
                        data: p.message.encode_stored(),
                    });
                    confirm_seqs.push(p.seq);
                    id
                });
                records.push(Record::Enqueue {
                    queue: queue.id(),
                    seq: p.position,
                    message,
                });
                p.stored = Some(message);
            }
            store.get_or_insert_with(|| queue_store.clone());
        }
        let store = store.filter(|_| !records.is_empty())?;
        Some((store.append(records), confirm_seqs, store))
    }
}
