//! The per-second lines and the final summaries (text, or one JSON object).
//!
//! CPU per message divides a process's CPU time over an interval by the messages the
//! broker handled in it: the larger of published and consumed (so 1→1 counts each
//! message once, a fanout counts each delivered copy, a publish-only phase counts
//! publishes). The broker's figure is the one that does not depend on the client.

use crate::procstat::{self, Pid, ProcSample};
use crate::stats::{Latencies, LatencySummary, Stats};
use crate::stop::Stop;
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CPU and memory of one process over a measured window.
#[derive(Clone, Debug, Serialize)]
pub struct ProcUsage {
    pub cpu_s: f64,
    pub cpu_us_per_msg: Option<f64>,
    pub rss_mb: f64,
    pub rss_mb_max: f64,
}

/// What holding `n` idle connections cost the broker, from readings taken before
/// opening them (`before`) and at the start and end of the hold: the same figures
/// for AMQP and MQTT clients.
pub struct HeldCost {
    pub broker_rss_mb_before: Option<f64>,
    pub broker_rss_mb_held: Option<f64>,
    pub broker_kb_per_connection: Option<f64>,
    pub broker_idle_cpu_pct: Option<f64>,
    pub perf_rss_mb: f64,
}

impl HeldCost {
    pub fn of(
        n: usize,
        before: &Usage,
        held_from: &Usage,
        held_to: &Usage,
        hold_seconds: f64,
    ) -> HeldCost {
        let rss_before = before.broker.map(|b| b.rss_kb);
        let rss_held = held_from.broker.map(|b| b.rss_kb);
        HeldCost {
            broker_rss_mb_before: rss_before.map(mb),
            broker_rss_mb_held: rss_held.map(mb),
            broker_kb_per_connection: match (rss_before, rss_held) {
                (Some(a), Some(b)) if n > 0 => Some((b as f64 - a as f64) / n as f64),
                _ => None,
            },
            broker_idle_cpu_pct: match (held_from.broker, held_to.broker) {
                (Some(a), Some(b)) => {
                    Some((b.cpu_ns - a.cpu_ns) as f64 / 1e9 / hold_seconds * 100.0)
                }
                _ => None,
            },
            perf_rss_mb: mb(held_to.own.rss_kb),
        }
    }
}

/// Readings of the broker and of ourselves at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub broker: Option<ProcSample>,
    pub own: ProcSample,
}

impl Usage {
    pub fn sample(broker_pid: Option<u32>) -> Usage {
        Usage {
            broker: broker_pid.and_then(|p| procstat::sample(Pid::Other(p)).ok()),
            own: procstat::sample(Pid::Own).unwrap_or_default(),
        }
    }

    /// (broker, own) usage from `self` to `later` over `messages`.
    pub fn until(
        &self,
        later: &Usage,
        messages: u64,
        broker_rss_max_kb: u64,
    ) -> (Option<ProcUsage>, ProcUsage) {
        let usage = |a: ProcSample, b: ProcSample, max_kb: u64| ProcUsage {
            cpu_s: b.cpu_ns.saturating_sub(a.cpu_ns) as f64 / 1e9,
            cpu_us_per_msg: procstat::cpu_us_per_msg(a, b, messages),
            rss_mb: mb(b.rss_kb),
            rss_mb_max: mb(max_kb.max(b.rss_kb)),
        };
        let broker = match (self.broker, later.broker) {
            (Some(a), Some(b)) => Some(usage(a, b, broker_rss_max_kb)),
            _ => None,
        };
        (broker, usage(self.own, later.own, 0))
    }
}

pub fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Where per-second lines go: stdout, or stderr when stdout carries JSON.
#[derive(Clone, Copy)]
pub struct Lines {
    pub to_stderr: bool,
    pub quiet: bool,
}

impl Lines {
    pub fn print(&self, line: &str) {
        if self.quiet {
            return;
        }
        // A closed pipe (`| head`) is not worth a panic.
        if self.to_stderr {
            let _ = writeln!(std::io::stderr(), "{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Prints a line per second and keeps the run's latency totals.
pub struct Reporter {
    stats: Arc<Stats>,
    broker_pid: Option<u32>,
    lines: Lines,
    start: Instant,
    last_at: Instant,
    last_counts: [u64; 2],
    last_usage: Usage,
    pub total: Latencies,
    pub broker_rss_max_kb: u64,
    header_done: bool,
}

impl Reporter {
    pub fn new(stats: Arc<Stats>, broker_pid: Option<u32>, lines: Lines) -> Reporter {
        let now = Instant::now();
        Reporter {
            last_counts: counts(&stats),
            stats,
            broker_pid,
            lines,
            start: now,
            last_at: now,
            last_usage: Usage::sample(broker_pid),
            total: Latencies::default(),
            broker_rss_max_kb: 0,
            header_done: false,
        }
    }

    /// Ticks every second until `stop`, then folds in the last partial interval.
    pub async fn run(mut self, stop: Arc<Stop>) -> Reporter {
        let mut every = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        loop {
            tokio::select! {
                _ = every.tick() => self.tick(),
                _ = stop.wait() => break,
            }
        }
        self.total.add(&self.stats.take_interval());
        self
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let usage = Usage::sample(self.broker_pid);
        let counts = counts(&self.stats);
        let interval = self.stats.take_interval();
        let secs = now.duration_since(self.last_at).as_secs_f64().max(1e-9);
        let published = counts[0] - self.last_counts[0];
        let consumed = counts[1] - self.last_counts[1];
        let (broker, own) = self.last_usage.until(&usage, published.max(consumed), 0);
        if let Some(b) = usage.broker {
            self.broker_rss_max_kb = self.broker_rss_max_kb.max(b.rss_kb);
        }
        if !self.header_done {
            self.header_done = true;
            self.lines.print(&format!(
                "{:>6} {:>10} {:>10} {:>19} {:>19} {:>9} {:>9} {:>9}",
                "time",
                "pub/s",
                "cons/s",
                "confirm p50/p99",
                "e2e p50/p99",
                "broker",
                "broker",
                "perf"
            ));
            self.lines.print(&format!(
                "{:>6} {:>10} {:>10} {:>19} {:>19} {:>9} {:>9} {:>9}",
                "s", "", "", "", "", "µs/msg", "RSS MB", "µs/msg"
            ));
        }
        let line = format!(
            "{:>6.0} {:>10} {:>10} {:>19} {:>19} {:>9} {:>9} {:>9}",
            now.duration_since(self.start).as_secs_f64(),
            thousands((published as f64 / secs) as u64),
            thousands((consumed as f64 / secs) as u64),
            p50_p99(&interval.confirm),
            p50_p99(&interval.e2e),
            opt(broker.as_ref().and_then(|b| b.cpu_us_per_msg), 2),
            broker
                .as_ref()
                .map_or("-".into(), |b| format!("{:.1}", b.rss_mb)),
            opt(own.cpu_us_per_msg, 2),
        );
        self.lines.print(&line);
        self.total.add(&interval);
        self.last_at = now;
        self.last_counts = counts;
        self.last_usage = usage;
    }
}

fn counts(stats: &Stats) -> [u64; 2] {
    let c = &stats.counters;
    [c.published.load(Relaxed), c.consumed.load(Relaxed)]
}

fn p50_p99(h: &hdrhistogram::Histogram<u64>) -> String {
    match LatencySummary::of(h) {
        None => "-".into(),
        Some(s) => format!("{} / {}", latency(s.p50_us), latency(s.p99_us)),
    }
}

/// A latency given in microseconds, with a unit that keeps it short.
pub fn latency(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.1}µs")
    } else if us < 10_000.0 {
        format!("{us:.0}µs")
    } else if us < 10_000_000.0 {
        format!("{:.0}ms", us / 1000.0)
    } else {
        format!("{:.1}s", us / 1e6)
    }
}

pub fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

/// The lines both idle-connection reports (AMQP and MQTT) end with: the broker's
/// memory before and while holding the connections, per `unit`, its idle CPU, and
/// the load generator's own memory.
pub fn idle_memory_lines(
    out: &mut Vec<String>,
    rss_before: Option<f64>,
    rss_held: Option<f64>,
    kb_per: Option<f64>,
    unit: &str,
    idle_cpu_pct: Option<f64>,
    perf_rss_mb: f64,
) {
    match (rss_before, rss_held, kb_per) {
        (Some(a), Some(b), Some(per)) => out.push(format!(
            "broker memory    RSS {a:.1} MB -> {b:.1} MB = {per:.2} KB per {unit}"
        )),
        _ => out.push("broker memory    (pass --broker-pid)".into()),
    }
    if let Some(cpu) = idle_cpu_pct {
        out.push(format!(
            "broker idle CPU  {cpu:.2}% of a core while holding them"
        ));
    }
    out.push(format!("warren-perf RSS  {perf_rss_mb:.1} MB"));
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    let first = match digits.len() % 3 {
        0 => 3,
        n => n,
    };
    out.push_str(&digits[..first]);
    for group in digits.as_bytes()[first..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    out
}

pub fn latency_line(name: &str, s: &Option<LatencySummary>) -> String {
    match s {
        None => format!("{name:<16} -"),
        Some(s) => format!(
            "{name:<16} p50 {}  p95 {}  p99 {}  p99.9 {}  max {}  (min {}, mean {}, n {})",
            latency(s.p50_us),
            latency(s.p95_us),
            latency(s.p99_us),
            latency(s.p999_us),
            latency(s.max_us),
            latency(s.min_us),
            latency(s.mean_us),
            thousands(s.count)
        ),
    }
}

/// A process's CPU and memory; `per` names what the CPU is divided by ("msg").
pub fn usage_line(name: &str, u: &ProcUsage, per: &str) -> String {
    format!(
        "{name:<16} CPU {:.2} s = {} µs/{per}, RSS {:.1} MB (max {:.1} MB)",
        u.cpu_s,
        opt(u.cpu_us_per_msg, 3),
        u.rss_mb,
        u.rss_mb_max
    )
}

/// Prints `summary` as JSON, or its text form.
pub fn emit<T: Serialize>(json: bool, summary: &T, text: impl FnOnce() -> Vec<String>) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(summary).expect("summaries serialize")
        );
    } else {
        for line in text() {
            let _ = writeln!(out, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(latency(3.125), "3.1µs");
        assert_eq!(latency(1234.6), "1235µs");
        assert_eq!(latency(123_456.0), "123ms");
        assert_eq!(latency(12_345_678.0), "12.3s");
        assert_eq!(opt(None, 2), "-");
        assert_eq!(opt(Some(1.5), 2), "1.50");
    }
}
