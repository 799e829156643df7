//! A queue's counters, shared so the management API can list 100,000 queues without
//! asking each queue's actor: the actor writes them once per turn (relaxed atomics,
//! nothing on the per-message path beyond an add per batch), readers load them.

use super::QueueCounts;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct QueueStats {
    ready: AtomicU32,
    unacked: AtomicU32,
    consumers: AtomicU32,
    /// Messages that entered the queue (RabbitMQ's `publish`).
    published: AtomicU64,
    /// Messages handed to consumers or to `basic.get` (`deliver_get`).
    delivered: AtomicU64,
    /// Deliveries acknowledged (`ack`).
    acked: AtomicU64,
    /// Deliveries made again after a requeue (`redeliver`).
    redelivered: AtomicU64,
}

/// One reading of a queue's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStatsSnapshot {
    pub ready: u32,
    pub unacked: u32,
    pub consumers: u32,
    pub published: u64,
    pub delivered: u64,
    pub acked: u64,
    pub redelivered: u64,
}

impl QueueStats {
    pub fn snapshot(&self) -> QueueStatsSnapshot {
        QueueStatsSnapshot {
            ready: self.ready.load(Ordering::Relaxed),
            unacked: self.unacked.load(Ordering::Relaxed),
            consumers: self.consumers.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            redelivered: self.redelivered.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_counts(&self, counts: QueueCounts) {
        self.ready.store(counts.ready, Ordering::Relaxed);
        self.unacked.store(counts.unacked, Ordering::Relaxed);
        self.consumers.store(counts.consumers, Ordering::Relaxed);
    }

    pub(crate) fn add_published(&self, n: usize) {
        self.published.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_delivered(&self, n: usize, redelivered: usize) {
        self.delivered.fetch_add(n as u64, Ordering::Relaxed);
        if redelivered > 0 {
            self.redelivered
                .fetch_add(redelivered as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_acked(&self, n: usize) {
        self.acked.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Several queues' counters added up (a vhost's, the broker's), wide enough for
/// 100,000 queues' worth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueTotals {
    pub queues: u64,
    pub ready: u64,
    pub unacked: u64,
    pub consumers: u64,
    pub published: u64,
    pub delivered: u64,
    pub acked: u64,
    pub redelivered: u64,
}

impl QueueTotals {
    pub fn add(&mut self, s: &QueueStatsSnapshot) {
        self.queues += 1;
        self.ready += s.ready as u64;
        self.unacked += s.unacked as u64;
        self.consumers += s.consumers as u64;
        self.published += s.published;
        self.delivered += s.delivered;
        self.acked += s.acked;
        self.redelivered += s.redelivered;
    }

    pub fn merge(&mut self, other: &QueueTotals) {
        self.queues += other.queues;
        self.ready += other.ready;
        self.unacked += other.unacked;
        self.consumers += other.consumers;
        self.published += other.published;
        self.delivered += other.delivered;
        self.acked += other.acked;
        self.redelivered += other.redelivered;
    }
}
