//! Counters the Prometheus exporter reports that no listing keeps already: what each
//! channel published, confirmed, returned and had delivered, and how many
//! connections, channels and queues came and went.
//!
//! Every counter is a relaxed atomic owned by one channel (or one vhost), so the
//! message path adds to a cache line no other core writes. When a channel closes its
//! counts move into the registry's retired totals, so the broker-wide sums never go
//! backwards, as Prometheus expects of a counter.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a channel counts, one slot each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelCounter {
    /// Messages published into an exchange (`basic.publish`).
    Published,
    /// Publishes acknowledged to a publisher in confirm mode.
    Confirmed,
    /// Mandatory publishes returned as unroutable (`basic.return`).
    UnroutableReturned,
    /// Non-mandatory publishes that reached no queue and were dropped.
    UnroutableDropped,
    /// Deliveries to consumers that acknowledge (manual ack).
    DeliveredAck,
    /// Deliveries to consumers in automatic acknowledgement mode.
    Delivered,
    /// Messages fetched with `basic.get`, manual ack.
    GetAck,
    /// Messages fetched with `basic.get`, automatic ack.
    Get,
    /// `basic.get` that found the queue empty.
    GetEmpty,
    /// Deliveries (consume or get) flagged as redelivered.
    Redelivered,
    /// Deliveries acknowledged by the client.
    Acked,
}

impl ChannelCounter {
    pub const ALL: [ChannelCounter; 11] = [
        ChannelCounter::Published,
        ChannelCounter::Confirmed,
        ChannelCounter::UnroutableReturned,
        ChannelCounter::UnroutableDropped,
        ChannelCounter::DeliveredAck,
        ChannelCounter::Delivered,
        ChannelCounter::GetAck,
        ChannelCounter::Get,
        ChannelCounter::GetEmpty,
        ChannelCounter::Redelivered,
        ChannelCounter::Acked,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

/// One channel's counters.
#[derive(Default, Debug)]
pub struct ChannelCounters {
    slots: [AtomicU64; ChannelCounter::ALL.len()],
}

/// One reading of a `ChannelCounters`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelCounts([u64; ChannelCounter::ALL.len()]);

impl ChannelCounts {
    pub fn get(&self, counter: ChannelCounter) -> u64 {
        self.0[counter.slot()]
    }

    /// Adds `other` slot by slot.
    pub fn add(&mut self, other: &ChannelCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

impl ChannelCounters {
    pub fn add(&self, counter: ChannelCounter, n: u64) {
        if n > 0 {
            self.slots[counter.slot()].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> ChannelCounts {
        let mut counts = ChannelCounts::default();
        for (count, slot) in counts.0.iter_mut().zip(&self.slots) {
            *count = slot.load(Ordering::Relaxed);
        }
        counts
    }
}

/// Connections and channels opened and closed since the broker started.
#[derive(Default, Debug)]
pub struct Lifecycle {
    connections_opened: AtomicU64,
    connections_closed: AtomicU64,
    channels_opened: AtomicU64,
    channels_closed: AtomicU64,
}

/// One reading of `Lifecycle`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LifecycleCounts {
    pub connections_opened: u64,
    pub connections_closed: u64,
    pub channels_opened: u64,
    pub channels_closed: u64,
}

impl Lifecycle {
    pub(crate) fn connection_opened(&self) {
        self.connections_opened.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn connection_closed(&self) {
        self.connections_closed.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn channel_opened(&self) {
        self.channels_opened.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn channel_closed(&self) {
        self.channels_closed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LifecycleCounts {
        LifecycleCounts {
            connections_opened: self.connections_opened.load(Ordering::Relaxed),
            connections_closed: self.connections_closed.load(Ordering::Relaxed),
            channels_opened: self.channels_opened.load(Ordering::Relaxed),
            channels_closed: self.channels_closed.load(Ordering::Relaxed),
        }
    }
}

/// Queue declarations, creations and deletions in one vhost.
#[derive(Default, Debug)]
pub struct QueueLifecycle {
    declared: AtomicU64,
    created: AtomicU64,
    deleted: AtomicU64,
}

/// One reading of `QueueLifecycle`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLifecycleCounts {
    pub declared: u64,
    pub created: u64,
    pub deleted: u64,
}

impl QueueLifecycleCounts {
    pub fn add(&mut self, other: QueueLifecycleCounts) {
        self.declared += other.declared;
        self.created += other.created;
        self.deleted += other.deleted;
    }
}

impl QueueLifecycle {
    pub(crate) fn declared(&self) {
        self.declared.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn created(&self) {
        self.created.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn deleted(&self) {
        self.deleted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> QueueLifecycleCounts {
        QueueLifecycleCounts {
            declared: self.declared.load(Ordering::Relaxed),
            created: self.created.load(Ordering::Relaxed),
            deleted: self.deleted.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_slot_by_slot() {
        let live = ChannelCounters::default();
        live.add(ChannelCounter::Published, 3);
        live.add(ChannelCounter::Acked, 2);
        let mut total = ChannelCounts::default();
        total.add(&live.snapshot());
        total.add(&live.snapshot());
        assert_eq!(total.get(ChannelCounter::Published), 6);
        assert_eq!(total.get(ChannelCounter::Acked), 4);
        assert_eq!(total.get(ChannelCounter::Confirmed), 0);
    }
}
