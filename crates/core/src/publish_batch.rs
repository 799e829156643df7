//! Routed messages on their way to their queues: one batch per queue, so a queue's
//! actor wakes once for many messages. Every publisher uses it: the protocol adapters'
//! channels, and queues dead-lettering messages.
//!
//! Persistent messages bound for durable queues are written to the store at the
//! flush, in one append for the whole flush: each message once, then one `Enqueue`
//! per durable queue it goes to, at the position that queue reserved for it. The
//! append is made before the queues see the messages, so anything a queue later
//! records about them (deliveries, acks) lands after them in the log.

use crate::fast_hash::FastMap;
use crate::message::{Message, MessageRef};
use crate::queue::{ConfirmTo, Publish, PublishOrigin, QueueRef};
use warren_store::{Record, Store, Ticket};

#[derive(Default)]
pub struct PublishBatches {
    batches: Vec<(QueueRef, Vec<Publish>)>,
    /// Queue id -> index in `batches`, for fan-out to many queues.
    index: FastMap<u64, usize>,
    /// Who publishes through these batches, for queues that keep delivery records.
    origin: Option<PublishOrigin>,
    /// Run each queue's turn on the flushing task when its lock is free
    /// (`QueueHandle::publish_here`).
    here: bool,
}

/// The store append a flush made.
pub struct Stored {
    pub ticket: Ticket,
    /// The confirm sequence numbers of the messages in it (0 without confirms).
    pub confirm_seqs: Vec<u64>,
    pub store: Store,
}

impl PublishBatches {
    /// Batches of a publisher that queues keeping delivery records name.
    pub fn with_origin(origin: PublishOrigin) -> PublishBatches {
        PublishBatches {
            origin: Some(origin),
            ..PublishBatches::default()
        }
    }

    /// Flushes run the queues' turns on the flushing task (`QueueHandle::publish_here`):
    /// for a connection's publishes, which hold no lock when they flush. Without it,
    /// each queue's own task takes the batch, as a queue dead-lettering from inside its
    /// turn needs.
    pub fn run_queues_here(mut self) -> PublishBatches {
        self.here = true;
        self
    }

    /// Adds a message for `queue`; `seq` is its publisher's confirm number (or 0).
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

    /// Writes the persistent messages to the store, then hands every batch to its
    /// queue (`confirm_to` when the publisher wants confirms) and calls `sent` with
    /// it. `trailing` records go at the end of the store append when there is one
    /// (and are then taken out of the vector): e.g. the `Ack` of the queue a message
    /// was dead-lettered from, which must come after its new `Enqueue`.
    pub fn flush(
        &mut self,
        confirm_to: Option<ConfirmTo>,
        trailing: &mut Vec<Record>,
        sent: impl FnMut(&QueueRef),
    ) -> Option<Stored> {
        self.flush_inner(confirm_to, trailing, sent, None)
    }

    /// As `flush`, for a publisher in confirm mode that counts its confirms itself: a
    /// queue sure to accept its batch takes it without `confirm_to`
    /// (`QueueHandle::publish_answered`), and the confirm sequence numbers of that
    /// batch go into `answered`, one per message and queue: each is that queue's
    /// "accepted". Every other queue answers through `confirm_to` as usual.
    pub fn flush_answering(
        &mut self,
        confirm_to: ConfirmTo,
        trailing: &mut Vec<Record>,
        sent: impl FnMut(&QueueRef),
        answered: &mut Vec<u64>,
    ) -> Option<Stored> {
        self.flush_inner(Some(confirm_to), trailing, sent, Some(answered))
    }

    fn flush_inner(
        &mut self,
        confirm_to: Option<ConfirmTo>,
        trailing: &mut Vec<Record>,
        mut sent: impl FnMut(&QueueRef),
        mut answered: Option<&mut Vec<u64>>,
    ) -> Option<Stored> {
        if self.batches.is_empty() {
            return None;
        }
        self.index.clear();
        let stored = self.store_persistent(trailing);
        for (queue, messages) in self.batches.drain(..) {
            // One branch per queue and flush: only a recording queue is told who.
            let origin = if queue.recording() { self.origin } else { None };
            match (&mut answered, &confirm_to) {
                (Some(answered), Some(to)) => {
                    let mark = answered.len();
                    answered.extend(messages.iter().map(|p| p.seq));
                    if !queue.publish_answered(messages, to.clone(), origin, self.here) {
                        answered.truncate(mark);
                    }
                }
                _ if self.here => queue.publish_here(messages, confirm_to.clone(), origin),
                _ => queue.publish(messages, confirm_to.clone(), origin),
            }
            sent(&queue);
        }
        stored
    }

    /// Reserves every batch's queue positions and appends the persistent messages
    /// for durable queues to the store (one append for the whole flush).
    fn store_persistent(&mut self, trailing: &mut Vec<Record>) -> Option<Stored> {
        let mut store: Option<Store> = None;
        let mut records = Vec::new();
        let mut confirm_seqs = Vec::new();
        // Message (by address) -> its store id, so fan-out writes the bytes once.
        let mut written: FastMap<*const Message, u64> = FastMap::default();
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
        records.append(trailing);
        Some(Stored {
            ticket: store.append(records),
            confirm_seqs,
            store,
        })
    }
}
