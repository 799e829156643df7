//! When a queue sends new messages to disk: what all the broker's queues keep of
//! their ready messages in memory, against a broker-wide paging limit.
//!
//! RabbitMQ's classic queues keep messages in memory until the node's memory reaches
//! a fraction of its high watermark (`vm_memory_high_watermark_paging_ratio`, half by
//! default) and then page them out. Warren does the same with its own account of
//! queue content, which is exact and cheap to read: each queue adds what its ready
//! messages cost in memory (`ReadyList::ram_bytes`, less what is already on its way
//! to disk) to one broker-wide sum, once per turn. While that sum is over the limit,
//! a queue taking new messages writes them to disk, unless it holds so little that
//! paging it would save nothing but cost its consumers a read (`PAGE_FLOOR`). An
//! optional per-queue limit pages one queue however much memory the broker has.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A queue holding less than this in memory never pages: its messages are few or
/// small, and a broker over its limit has its memory elsewhere.
pub const PAGE_FLOOR: u64 = 4 << 20;

/// The broker's account of queue content in memory, and its limits.
pub struct QueueMemory {
    /// Bytes of ready content in memory, summed over queues as each last reported.
    in_memory: AtomicU64,
    /// Over this broker-wide sum, queues page new messages out.
    broker_limit: u64,
    /// Over this, one queue pages whatever the sum (`u64::MAX`: no such limit).
    queue_limit: u64,
}

pub type QueueMemoryRef = Arc<QueueMemory>;

impl QueueMemory {
    pub fn new(broker_limit: u64, queue_limit: u64) -> QueueMemoryRef {
        Arc::new(QueueMemory {
            in_memory: AtomicU64::new(0),
            broker_limit,
            queue_limit,
        })
    }

    /// No paging at all (a broker without a store cannot page anyway): one shared
    /// account, so such queues do not each carry one.
    pub fn unlimited() -> QueueMemoryRef {
        static UNLIMITED: std::sync::OnceLock<QueueMemoryRef> = std::sync::OnceLock::new();
        UNLIMITED
            .get_or_init(|| QueueMemory::new(u64::MAX, u64::MAX))
            .clone()
    }

    /// What the broker's queues hold in memory of their ready messages.
    pub fn in_memory(&self) -> u64 {
        self.in_memory.load(Ordering::Relaxed)
    }

    pub fn broker_limit(&self) -> u64 {
        self.broker_limit
    }

    pub fn queue_limit(&self) -> u64 {
        self.queue_limit
    }
}

/// One queue's part of the account: what it reported last, taken back when the
/// queue's state goes.
pub(super) struct MemoryShare {
    memory: QueueMemoryRef,
    reported: u64,
}

impl MemoryShare {
    pub fn new(memory: QueueMemoryRef) -> MemoryShare {
        MemoryShare {
            memory,
            reported: 0,
        }
    }

    /// Whether a queue holding `in_memory` bytes now should page its new messages:
    /// over its own limit, or over the floor while the broker (counting this queue
    /// as it is now, not as last reported) is over its limit.
    pub fn over(&self, in_memory: u64) -> bool {
        if in_memory > self.memory.queue_limit {
            return true;
        }
        if in_memory < PAGE_FLOOR || self.memory.broker_limit == u64::MAX {
            return false;
        }
        let others = self.memory.in_memory().saturating_sub(self.reported);
        others.saturating_add(in_memory) > self.memory.broker_limit
    }

    /// Brings the broker's sum up to date with this queue's `in_memory` (once per
    /// turn: one atomic add, not one per message).
    pub fn report(&mut self, in_memory: u64) {
        if in_memory == self.reported {
            return;
        }
        if in_memory > self.reported {
            self.memory
                .in_memory
                .fetch_add(in_memory - self.reported, Ordering::Relaxed);
        } else {
            self.memory
                .in_memory
                .fetch_sub(self.reported - in_memory, Ordering::Relaxed);
        }
        self.reported = in_memory;
    }
}

impl Drop for MemoryShare {
    fn drop(&mut self) {
        self.report(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_sum_follows_each_queues_reports_and_forgets_a_dropped_queue() {
        let memory = QueueMemory::new(u64::MAX, u64::MAX);
        let mut a = MemoryShare::new(memory.clone());
        let mut b = MemoryShare::new(memory.clone());
        a.report(100);
        b.report(50);
        assert_eq!(memory.in_memory(), 150);
        a.report(30);
        assert_eq!(memory.in_memory(), 80);
        drop(b);
        assert_eq!(memory.in_memory(), 30);
        drop(a);
        assert_eq!(memory.in_memory(), 0);
    }

    #[test]
    fn queues_over_the_floor_page_while_the_broker_is_over_its_limit() {
        let limit = 3 * PAGE_FLOOR;
        let memory = QueueMemory::new(limit, u64::MAX);
        let mut big = MemoryShare::new(memory.clone());
        let small = MemoryShare::new(memory.clone());
        big.report(limit - PAGE_FLOOR / 2);
        // The big queue's own growth (not yet reported) counts for it.
        assert!(!big.over(limit));
        assert!(big.over(limit + 1));
        // Another queue under the floor keeps its messages in memory ...
        assert!(!small.over(PAGE_FLOOR - 1));
        // ... over it, with the broker's sum over the limit, it pages.
        assert!(small.over(PAGE_FLOOR));
        big.report(PAGE_FLOOR);
        assert!(!small.over(PAGE_FLOOR));
    }

    #[test]
    fn a_queue_limit_pages_one_queue_whatever_the_broker_holds() {
        let memory = QueueMemory::new(u64::MAX, 1000);
        let share = MemoryShare::new(memory);
        assert!(!share.over(1000));
        assert!(share.over(1001));
    }
}
