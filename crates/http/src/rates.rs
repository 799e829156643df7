//! Message rates as RabbitMQ's `basic` rates mode gives them: the counters are
//! sampled every 5 seconds and a rate is the change over the last interval.
//!
//! The sampler reads each queue's shared counters (`QueueStats`); it never asks a
//! queue's actor, so 100,000 queues cost one pass over their atomics per interval.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use warren_core::names::Name;
use warren_core::queue::QueueStatsSnapshot;
use warren_core::BrokerRef;

pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Per-second rates of one queue (or of all queues together).
#[derive(Clone, Copy, Debug, Default)]
pub struct Rates {
    pub publish: f64,
    pub deliver_get: f64,
    pub ack: f64,
    pub redeliver: f64,
    pub messages: f64,
    pub ready: f64,
    pub unacked: f64,
}

impl Rates {
    fn add(&mut self, r: &Rates) {
        self.publish += r.publish;
        self.deliver_get += r.deliver_get;
        self.ack += r.ack;
        self.redeliver += r.redeliver;
        self.messages += r.messages;
        self.ready += r.ready;
        self.unacked += r.unacked;
    }
}

#[derive(Default)]
struct Samples {
    at: Option<Instant>,
    last: HashMap<u64, QueueStatsSnapshot>,
    rates: HashMap<u64, Rates>,
    /// Each vhost's queues' rates added up at sampling time, so that listing
    /// vhosts does not look up every queue's rates.
    vhosts: HashMap<Name, Rates>,
    totals: Rates,
}

/// The latest rates, shared by the sampler and the handlers.
#[derive(Default)]
pub struct RateBook {
    samples: RwLock<Samples>,
}

impl RateBook {
    /// The rates of queue `id` over the last interval (0 before two samples).
    pub fn queue(&self, id: u64) -> Rates {
        self.samples
            .read()
            .rates
            .get(&id)
            .copied()
            .unwrap_or_default()
    }

    /// All queues' rates added up (the overview's).
    pub fn totals(&self) -> Rates {
        self.samples.read().totals
    }

    /// The rates of vhost `name`'s queues added up (0 before two samples).
    pub fn vhost(&self, name: &str) -> Rates {
        self.samples
            .read()
            .vhosts
            .get(name)
            .copied()
            .unwrap_or_default()
    }

    /// Takes one sample of every queue's counters. Only queues with something to
    /// remember take room: an all-zero reading is what a missing one means, and a
    /// zero rate is what `queue` answers for a queue it has none for, so 100,000
    /// idle queues cost the book nothing.
    pub fn sample(&self, broker: &BrokerRef) {
        let now = Instant::now();
        // Readers (the API's handlers) wait only for the swap at the end.
        let samples = self.samples.read();
        let secs = samples
            .at
            .map(|at| now.duration_since(at).as_secs_f64().max(0.001));
        let mut current = HashMap::new();
        let mut rates = HashMap::new();
        let mut vhosts: HashMap<Name, Rates> = HashMap::new();
        let mut totals = Rates::default();
        for vhost in broker.live_vhosts() {
            let mut vhost_rates = Rates::default();
            for queue in vhost.queues() {
                let id = queue.id();
                let reading = rated(queue.stats.snapshot());
                if let Some(secs) = secs {
                    // A queue the last sample did not see was declared since (or
                    // read all zero): what it did in this interval counts.
                    let before = samples.last.get(&id).copied().unwrap_or_default();
                    if reading != before {
                        let r = rates_between(&before, &reading, secs);
                        vhost_rates.add(&r);
                        rates.insert(id, r);
                    }
                }
                if reading != QueueStatsSnapshot::default() {
                    current.insert(id, reading);
                }
            }
            totals.add(&vhost_rates);
            vhosts.insert(vhost.name.clone(), vhost_rates);
        }
        drop(samples);
        *self.samples.write() = Samples {
            at: Some(now),
            last: current,
            rates,
            vhosts,
            totals,
        };
    }
}

/// The counters a rate is made from. The consumer count is not one: left in, every
/// queue with a consumer (each MQTT client's, say) would keep a reading here while
/// nothing happens in it.
fn rated(mut reading: QueueStatsSnapshot) -> QueueStatsSnapshot {
    reading.consumers = 0;
    reading
}

/// The per-second change from `before` to `now` over `secs`.
fn rates_between(before: &QueueStatsSnapshot, now: &QueueStatsSnapshot, secs: f64) -> Rates {
    let per_sec = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
    let delta = |a: u32, b: u32| (a as f64 - b as f64) / secs;
    Rates {
        publish: per_sec(now.published, before.published),
        deliver_get: per_sec(now.delivered, before.delivered),
        ack: per_sec(now.acked, before.acked),
        redeliver: per_sec(now.redelivered, before.redelivered),
        messages: delta(now.ready + now.unacked, before.ready + before.unacked),
        ready: delta(now.ready, before.ready),
        unacked: delta(now.unacked, before.unacked),
    }
}

/// Samples every `interval` until shutdown.
pub async fn run_sampler(
    book: Arc<RateBook>,
    broker: BrokerRef,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => book.sample(&broker),
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_queue_with_consumers_reads_as_nothing_to_remember() {
        let idle = QueueStatsSnapshot {
            consumers: 3,
            ..QueueStatsSnapshot::default()
        };
        assert_eq!(rated(idle), QueueStatsSnapshot::default());
        let busy = QueueStatsSnapshot {
            consumers: 1,
            published: 10,
            ..QueueStatsSnapshot::default()
        };
        assert_ne!(rated(busy), QueueStatsSnapshot::default());
    }
}
