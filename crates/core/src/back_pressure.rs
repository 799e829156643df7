//! What a publisher waits for when it has outrun the broker, for every protocol:
//! after handing a read's publishes to their queues, a connection asks whether any
//! of them (or the store, or the delivery-records writer) is far behind, and if so
//! stops reading its socket until it has caught up. Consumers keep draining
//! meanwhile; the client's writes wait in its socket, as with RabbitMQ's credit
//! flow, so one fast publisher can exhaust neither memory nor the other
//! connections' share of the queue.

use crate::queue::QueueRef;
use crate::records::{self, RecorderRef};
use std::time::Duration;
use warren_store::Store;

/// A queue with more published messages than this waiting in its mailbox makes its
/// publishers pause reading ...
pub const QUEUE_HIGH_WATER: u64 = 20_000;
/// ... until its backlog is down to this.
pub const QUEUE_LOW_WATER: u64 = 5_000;
/// Unwritten store bytes over which publishers pause, and under which they resume.
pub const STORE_HIGH_WATER: u64 = 64 << 20;
pub const STORE_LOW_WATER: u64 = 16 << 20;
/// How often a paused publisher looks whether what it waits for has caught up.
pub const POLL: Duration = Duration::from_millis(1);

pub enum Behind {
    /// A queue's mailbox is over `QUEUE_HIGH_WATER`.
    Queue(QueueRef),
    /// The store has more than `STORE_HIGH_WATER` bytes to write.
    Store(Store),
    /// The delivery-records writer has more than `records::PUBLISH_HIGH_WATER`
    /// records to write for recording queues.
    Records(RecorderRef),
}

impl Behind {
    /// What a queue that was just handed publishes makes its publisher wait for:
    /// its own mailbox, the records of a recording queue, or the disk a queue over
    /// its memory budget writes every new message to.
    pub fn of_queue(queue: &QueueRef, recorder: &RecorderRef) -> Option<Behind> {
        if queue.backlog() > QUEUE_HIGH_WATER {
            return Some(Behind::Queue(queue.clone()));
        }
        if queue.recording() && recorder.backlog() > records::PUBLISH_HIGH_WATER {
            return Some(Behind::Records(recorder.clone()));
        }
        if queue.over_budget() {
            // The queue writes what it gets to disk: it can go no faster than that.
            return queue.page_store().and_then(Behind::of_store);
        }
        None
    }

    /// The store, after an append of persistent messages.
    pub fn of_store(store: &Store) -> Option<Behind> {
        (store.backlog_bytes() > STORE_HIGH_WATER).then(|| Behind::Store(store.clone()))
    }

    /// Whether the publisher should still wait.
    pub fn still_behind(&self) -> bool {
        match self {
            Behind::Queue(q) => q.backlog() > QUEUE_LOW_WATER && !q.is_deleted(),
            Behind::Store(s) => s.backlog_bytes() > STORE_LOW_WATER,
            Behind::Records(r) => r.backlog() > records::PUBLISH_LOW_WATER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::names::Name;
    use crate::queue::{Publish, QueueHandle};
    use bytes::Bytes;
    use std::sync::Arc;

    fn publishes(n: usize) -> Vec<Publish> {
        let message = Arc::new(Message {
            exchange: Name::from(""),
            routing_key: "q".into(),
            properties: Bytes::from_static(&[0, 0]),
            body: Bytes::from_static(b"m"),
            persistent: false,
            expiration: None,
            priority: 0,
            bcc: None,
        });
        (0..n)
            .map(|i| Publish {
                message: message.clone(),
                seq: i as u64,
                position: i as u64,
                stored: None,
            })
            .collect()
    }

    #[test]
    fn a_queue_behind_by_more_than_the_high_water_pauses_until_the_low_water() {
        let recorder = crate::records::Recorder::new(Arc::default());
        // A queue with no actor: what is published stays in its mailbox.
        let queue = QueueHandle::detached("q", false);
        queue.publish(publishes(QUEUE_HIGH_WATER as usize), None, None);
        assert!(Behind::of_queue(&queue, &recorder).is_none(), "at the mark");
        queue.publish(publishes(1), None, None);
        let behind = Behind::of_queue(&queue, &recorder).expect("over the mark");
        assert!(behind.still_behind());
        queue.took_published((QUEUE_HIGH_WATER - QUEUE_LOW_WATER) as usize);
        assert!(behind.still_behind(), "one over the low water");
        queue.took_published(1);
        assert!(!behind.still_behind(), "caught up");
    }
}
