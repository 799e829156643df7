//! A channel's routed publishes waiting for the end of the read
//! (`warren_core::publish_batch` does the batching and the store append), and the
//! back-pressure they report.

use warren_core::back_pressure::Behind;
use warren_core::publish_batch::PublishBatches;
use warren_core::records::RecorderRef;
use warren_core::{ConfirmTo, MessageRef, QueueRef};
use warren_store::Ticket;

/// What one flush did.
#[derive(Default)]
pub(crate) struct Flushed {
    /// Something this publisher is far ahead of.
    pub behind: Option<Behind>,
    /// The store append of this flush's persistent messages, with the confirm
    /// sequence numbers of the messages in it (0 without confirms).
    pub stored: Option<(Ticket, Vec<u64>)>,
    /// Confirm sequence numbers the queues will accept for certain, one per message
    /// and queue: the channel counts those answers itself
    /// (`PublishBatches::flush_answering`).
    pub answered: Vec<u64>,
}

pub(crate) struct Outgoing {
    batches: PublishBatches,
}

impl Outgoing {
    /// The publishes of channel `origin`.
    pub fn new(origin: warren_core::queue::PublishOrigin) -> Outgoing {
        Outgoing {
            // A channel flushes from its connection's task, holding no lock.
            batches: PublishBatches::with_origin(origin).run_queues_here(),
        }
    }

    pub fn add(&mut self, queue: QueueRef, message: MessageRef, seq: u64) {
        self.batches.add(queue, message, seq);
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Writes the persistent messages to the store, then sends every batch;
    /// `confirm_to` when the channel is in confirm mode.
    pub fn flush(&mut self, confirm_to: Option<ConfirmTo>, recorder: &RecorderRef) -> Flushed {
        let mut behind = None;
        let mut answered = Vec::new();
        let sent = |queue: &QueueRef| {
            if let Some(b) = Behind::of_queue(queue, recorder) {
                behind = Some(b);
            }
        };
        let stored = match confirm_to {
            Some(to) => self
                .batches
                .flush_answering(to, &mut Vec::new(), sent, &mut answered),
            None => self.batches.flush(None, &mut Vec::new(), sent),
        };
        if let Some(b) = stored.as_ref().and_then(|s| Behind::of_store(&s.store)) {
            behind = Some(b);
        }
        Flushed {
            behind,
            stored: stored.map(|s| (s.ticket, s.confirm_seqs)),
            answered,
        }
    }
}
