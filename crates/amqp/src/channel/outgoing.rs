//! Routed publishes waiting to be handed to their queues: one batch per queue per
//! read, so a queue's actor wakes once for many messages.

use std::collections::HashMap;
use warren_core::{ConfirmTo, MessageRef, Publish, QueueRef};

#[derive(Default)]
pub(crate) struct Outgoing {
    batches: Vec<(QueueRef, Vec<Publish>)>,
    /// Queue id -> index in `batches`, for fan-out to many queues.
    index: HashMap<u64, usize>,
}

impl Outgoing {
    pub fn add(&mut self, queue: QueueRef, message: MessageRef, seq: u64) {
        let publish = Publish { message, seq };
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

    /// Sends every batch; `confirm_to` when the channel is in confirm mode. Returns a
    /// queue that is falling behind (its backlog is over `high_water`), if any.
    pub fn flush(&mut self, confirm_to: Option<ConfirmTo>, high_water: u64) -> Option<QueueRef> {
        if self.batches.is_empty() {
            return None;
        }
        self.index.clear();
        let mut behind = None;
        for (queue, messages) in self.batches.drain(..) {
            queue.publish(messages, confirm_to.clone());
            if queue.backlog() > high_water {
                behind = Some(queue);
            }
        }
        behind
    }
}
