//! A channel's routed publishes waiting for the end of the read
//! (`warren_core::publish_batch` does the batching and the store append), and the
//! back-pressure they report.

use warren_core::publish_batch::PublishBatches;
use warren_core::records::{self, RecorderRef};
use warren_core::{ConfirmTo, MessageRef, QueueRef};
use warren_store::{Store, Ticket};

/// Unwritten store bytes over which publishers pause, and under which they resume.
pub(crate) const STORE_HIGH_WATER: u64 = 64 << 20;
pub(crate) const STORE_LOW_WATER: u64 = 16 << 20;

/// What a publisher waits for when it has outrun the broker.
pub(crate) enum Behind {
    /// A queue's mailbox is over the high-water mark.
    Queue(QueueRef),
    /// The store has more than `STORE_HIGH_WATER` bytes to write.
    Store(Store),
    /// The delivery-records writer has more than `records::PUBLISH_HIGH_WATER`
    /// records to write for recording queues.
    Records(RecorderRef),
}

impl Behind {
    /// Whether the publisher should still wait.
    pub fn still_behind(&self, queue_low_water: u64) -> bool {
        match self {
            Behind::Queue(q) => q.backlog() > queue_low_water && !q.is_deleted(),
            Behind::Store(s) => s.backlog_bytes() > STORE_LOW_WATER,
            Behind::Records(r) => r.backlog() > records::PUBLISH_LOW_WATER,
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

pub(crate) struct Outgoing {
    batches: PublishBatches,
}

impl Outgoing {
    /// The publishes of channel `origin`.
    pub fn new(origin: warren_core::queue::PublishOrigin) -> Outgoing {
        Outgoing {
            batches: PublishBatches::with_origin(origin),
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
    pub fn flush(
        &mut self,
        confirm_to: Option<ConfirmTo>,
        high_water: u64,
        recorder: &RecorderRef,
    ) -> Flushed {
        let mut behind = None;
        let stored = self.batches.flush(confirm_to, &mut Vec::new(), |queue| {
            if queue.backlog() > high_water {
                behind = Some(Behind::Queue(queue.clone()));
            } else if queue.recording() && recorder.backlog() > records::PUBLISH_HIGH_WATER {
                behind = Some(Behind::Records(recorder.clone()));
            } else if queue.over_budget() {
                // The queue writes what it gets to disk: it can go no faster than that.
                if let Some(store) = queue.page_store() {
                    if store.backlog_bytes() > STORE_HIGH_WATER {
                        behind = Some(Behind::Store(store.clone()));
                    }
                }
            }
        });
        if let Some(stored) = &stored {
            if stored.store.backlog_bytes() > STORE_HIGH_WATER {
                behind = Some(Behind::Store(stored.store.clone()));
            }
        }
        Flushed {
            behind,
            stored: stored.map(|s| (s.ticket, s.confirm_seqs)),
        }
    }
}
