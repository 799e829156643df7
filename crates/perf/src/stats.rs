//! Counters and latency histograms shared by every publisher and consumer task.
//!
//! Tasks add to the counters once per batch (one atomic add, not one per message) and
//! record a batch's latencies under one short lock. The reporter takes the interval
//! histograms every second ([`Stats::take_interval`]) and folds them into run totals.

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Latencies are recorded in nanoseconds, 3 significant digits, up to an hour.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

#[derive(Default)]
pub struct Counters {
    pub published: AtomicU64,
    pub confirmed: AtomicU64,
    pub nacked: AtomicU64,
    pub consumed: AtomicU64,
    /// Deliveries whose sequence number was not above the last one seen from the same
    /// producer on the same consumer: a broker that reorders or duplicates.
    pub reordered: AtomicU64,
    /// Deliveries flagged redelivered.
    pub redelivered: AtomicU64,
    /// `now_ns` of the latest consumption, for the consume rate.
    pub last_consumed_ns: AtomicU64,
}

pub struct Stats {
    pub counters: Counters,
    e2e: Mutex<Histogram<u64>>,
    confirm: Mutex<Histogram<u64>>,
    errors: Mutex<Vec<String>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            counters: Counters::default(),
            e2e: Mutex::new(new_histogram()),
            confirm: Mutex::new(new_histogram()),
            errors: Mutex::new(Vec::new()),
        }
    }
}

/// Histograms for one interval or a whole run.
pub struct Latencies {
    pub e2e: Histogram<u64>,
    pub confirm: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            e2e: new_histogram(),
            confirm: new_histogram(),
        }
    }
}

impl Latencies {
    pub fn add(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.e2e.add(&other.e2e);
        let _ = self.confirm.add(&other.confirm);
    }
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Relaxed);
        }
    }

    /// Records a batch of end-to-end latencies (ns) under one lock.
    pub fn record_e2e(&self, samples: &[u64]) {
        if samples.is_empty() {
            return;
        }
        let mut h = self.e2e.lock();
        for &v in samples {
            h.saturating_record(v.max(1));
        }
    }

    /// Records a batch of confirm latencies (ns) under one lock.
    pub fn record_confirms(&self, samples: &[u64]) {
        if samples.is_empty() {
            return;
        }
        let mut h = self.confirm.lock();
        for &v in samples {
            h.saturating_record(v.max(1));
        }
    }

    /// The histograms since the last call, leaving empty ones in their place.
    pub fn take_interval(&self) -> Latencies {
        let mut out = Latencies::default();
        std::mem::swap(&mut *self.e2e.lock(), &mut out.e2e);
        std::mem::swap(&mut *self.confirm.lock(), &mut out.confirm);
        out
    }

    pub fn error(&self, e: impl std::fmt::Display) {
        let mut errors = self.errors.lock();
        // Every connection may fail the same way at once; a few lines say it.
        if errors.len() < 20 {
            errors.push(e.to_string());
        }
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().clone()
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

impl LatencySummary {
    /// `None` for an empty histogram (nothing to summarize).
    pub fn of(h: &Histogram<u64>) -> Option<LatencySummary> {
        if h.is_empty() {
            return None;
        }
        Some(LatencySummary {
            count: h.len(),
            min_us: us(h.min()),
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p95_us: us(h.value_at_quantile(0.95)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_percentiles() {
        let stats = Stats::default();
        // 1..=1000 µs, one sample each.
        let samples: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        stats.record_e2e(&samples);
        let interval = stats.take_interval();
        let s = LatencySummary::of(&interval.e2e).unwrap();
        assert_eq!(s.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.002;
        assert!(close(s.p50_us, 500.0), "p50 {}", s.p50_us);
        assert!(close(s.p95_us, 950.0), "p95 {}", s.p95_us);
        assert!(close(s.p99_us, 990.0), "p99 {}", s.p99_us);
        assert!(close(s.p999_us, 999.0), "p99.9 {}", s.p999_us);
        assert!(close(s.max_us, 1000.0), "max {}", s.max_us);
        assert!(close(s.min_us, 1.0), "min {}", s.min_us);
        assert!(close(s.mean_us, 500.5), "mean {}", s.mean_us);
        // Taking the interval empties it; the confirm histogram saw nothing.
        assert!(LatencySummary::of(&stats.take_interval().e2e).is_none());
        assert!(LatencySummary::of(&interval.confirm).is_none());
    }

    #[test]
    fn intervals_add_up() {
        let stats = Stats::default();
        let mut total = Latencies::default();
        stats.record_confirms(&[10_000, 20_000]);
        total.add(&stats.take_interval());
        stats.record_confirms(&[30_000, 0]);
        total.add(&stats.take_interval());
        let s = LatencySummary::of(&total.confirm).unwrap();
        assert_eq!(s.count, 4);
        // A zero latency is recorded as the histogram's lowest value, 1 ns.
        assert_eq!(s.min_us, 0.001);
        assert!((s.max_us - 30.0).abs() < 0.05);
    }
}
