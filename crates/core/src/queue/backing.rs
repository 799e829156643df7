//! How a queue's positions are backed by the store.
//!
//! Two kinds of position live there. A persistent message on a durable queue is
//! written by its publisher (under the queue's id) and must come back after a restart.
//! A message of a long queue whose body was paged out to save memory is written by the
//! queue itself under a paging id fresh for each run: no metadata names that id, so
//! after a restart recovery drops those positions, as it must for transient messages.
//! Either way the queue records here what became of the position (delivered, gone),
//! and once per turn `flush` makes one append of it all.

use crate::message::{Message, MessageRef};
use std::sync::Arc;
use warren_store::{Record, Store};

/// Where the store holds a queue position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kept {
    /// Only in memory.
    No,
    /// Under the queue's own id: survives a restart.
    Durable,
    /// Under this run's paging id: a body paged out, forgotten at restart.
    Paged,
}

pub(super) struct Backing {
    queue: u64,
    store: Option<Store>,
    paging_id: Option<u64>,
    /// Durable positions handed to a consumer this turn.
    delivered: Vec<u64>,
    /// Durable positions gone this turn.
    acked: Vec<u64>,
    /// Paged positions gone this turn.
    paged_acked: Vec<u64>,
    /// Page-outs of this turn: message and enqueue records.
    pages: Vec<Record>,
}

impl Backing {
    pub fn new(queue: u64, store: Option<Store>) -> Backing {
        Backing {
            queue,
            store,
            paging_id: None,
            delivered: Vec::new(),
            acked: Vec::new(),
            paged_acked: Vec::new(),
            pages: Vec::new(),
        }
    }

    /// Whether bodies can go to disk at all.
    pub fn can_page(&self) -> bool {
        self.store.is_some()
    }

    /// A consumer took position `seq`: with `no_ack` it is gone, otherwise a durable
    /// one comes back redelivered after a restart.
    pub fn taken(&mut self, kept: Kept, seq: u64, no_ack: bool) {
        match (kept, no_ack) {
            (_, true) => self.gone(kept, seq),
            (Kept::Durable, false) => self.delivered.push(seq),
            _ => {}
        }
    }

    /// Position `seq` is gone for good (acked, dropped, purged, rejected).
    pub fn gone(&mut self, kept: Kept, seq: u64) {
        match kept {
            Kept::No => {}
            Kept::Durable => self.acked.push(seq),
            Kept::Paged => self.paged_acked.push(seq),
        }
    }

    /// Writes `message` out under the paging id at position `seq`; returns its store
    /// id. The append goes with this turn's `flush`.
    pub fn page_out(&mut self, seq: u64, message: &MessageRef) -> Option<u64> {
        let store = self.store.as_ref()?;
        let queue = *self.paging_id.get_or_insert_with(|| store.new_message_id());
        let id = store.new_message_id();
        self.pages.push(Record::Message {
            id,
            data: message.encode_stored(),
        });
        self.pages.push(Record::Enqueue {
            queue,
            seq,
            message: id,
        });
        Some(id)
    }

    /// Writes a changed copy of a durable position's message (a retry's new headers)
    /// in its place, under the queue's own id: after a restart the position comes
    /// back with the copy. Returns its store id.
    pub fn rewrite_durable(&mut self, seq: u64, message: &MessageRef) -> Option<u64> {
        let store = self.store.as_ref()?;
        let id = store.new_message_id();
        self.pages.push(Record::Message {
            id,
            data: message.encode_stored(),
        });
        self.pages.push(Record::Enqueue {
            queue: self.queue,
            seq,
            message: id,
        });
        Some(id)
    }

    /// Whether message `id` is on disk (its publisher's append has been written).
    pub fn holds(&self, id: u64) -> bool {
        self.store.as_ref().is_some_and(|s| s.holds(id))
    }

    /// Reads message `id` back from the store, with when it was stored.
    pub fn load(&self, id: u64) -> Result<(MessageRef, Option<u64>), String> {
        let store = self.store.as_ref().ok_or("no store")?;
        let data = store.read_by_id(id).map_err(|e| e.to_string())?;
        Message::decode_stored_at(data).map(|(m, at)| (Arc::new(m), at))
    }

    /// Makes this turn's append: page-outs first (so their positions exist before
    /// anything settles them), then deliveries and settlements. Not waited for:
    /// losing the last few records in a crash means a redelivery, and a queue drops
    /// a paged body from memory only once `holds` says it is on disk.
    pub fn flush(&mut self) {
        if self.pages.is_empty()
            && self.delivered.is_empty()
            && self.acked.is_empty()
            && self.paged_acked.is_empty()
        {
            return;
        }
        let Some(store) = &self.store else {
            self.clear();
            return;
        };
        let mut records = std::mem::take(&mut self.pages);
        if !self.delivered.is_empty() {
            let seqs = std::mem::take(&mut self.delivered);
            records.push(Record::Delivered {
                queue: self.queue,
                seqs,
            });
        }
        if !self.acked.is_empty() {
            let seqs = std::mem::take(&mut self.acked);
            records.push(Record::Ack {
                queue: self.queue,
                seqs,
            });
        }
        if !self.paged_acked.is_empty() {
            let seqs = std::mem::take(&mut self.paged_acked);
            if let Some(queue) = self.paging_id {
                records.push(Record::Ack { queue, seqs });
            }
        }
        drop(store.append(records));
    }

    fn clear(&mut self) {
        self.pages.clear();
        self.delivered.clear();
        self.acked.clear();
        self.paged_acked.clear();
    }

    /// The queue is deleted: the store forgets all its positions.
    pub fn discard(&mut self, durable: bool) {
        self.clear();
        let Some(store) = &self.store else {
            return;
        };
        let mut records = Vec::new();
        if durable {
            records.push(Record::QueueDeleted { queue: self.queue });
        }
        if let Some(queue) = self.paging_id.take() {
            records.push(Record::QueueDeleted { queue });
        }
        if !records.is_empty() {
            drop(store.append(records));
        }
    }
}
