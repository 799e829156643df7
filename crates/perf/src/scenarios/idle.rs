//! `--idle-connections N`: open N connections with a channel each and hold them.
//!
//! Reports what an idle connection costs the broker: resident memory per connection
//! (RSS after opening minus before, over N) and CPU while nothing happens (timers,
//! heartbeats, stats emission), which matters when a broker holds 10,000s of them.

use crate::cli::Args;
use crate::client::{AmqpUri, Connection};
use crate::report::{self, mb, Lines, Usage};
use anyhow::{Context, Result};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

#[derive(Serialize)]
pub struct Summary {
    pub scenario: &'static str,
    pub connections: u64,
    pub open_seconds: f64,
    pub opened_per_s: f64,
    pub hold_seconds: f64,
    pub broker_rss_mb_before: Option<f64>,
    pub broker_rss_mb_held: Option<f64>,
    pub broker_kb_per_connection: Option<f64>,
    /// Broker CPU while the connections sat idle, as a share of one core.
    pub broker_idle_cpu_pct: Option<f64>,
    pub perf_rss_mb: f64,
}

pub async fn run(args: &Args, uri: &AmqpUri, n: usize) -> Result<Summary> {
    let lines = Lines {
        to_stderr: args.json,
        quiet: args.quiet,
    };
    let before = Usage::sample(args.broker_pid);
    let start = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut set = JoinSet::new();
    for i in 0..n {
        let (uri, gate) = (uri.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut conn = Connection::open(&uri, &format!("perf-idle-{i}"))
                .await
                .with_context(|| format!("idle connection {i}"))?;
            conn.open_channel(1).await?;
            anyhow::Ok(conn)
        });
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        conns.push(joined??);
    }
    let open_seconds = start.elapsed().as_secs_f64();
    lines.print(&format!(
        "opened {} connections in {open_seconds:.2} s",
        report::thousands(n as u64)
    ));
    // Let the broker settle before the memory reading that counts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held_from = Usage::sample(args.broker_pid);
    let hold = args.duration.unwrap_or(5.0);
    let hold_start = Instant::now();
    let mut last = held_from;
    while hold_start.elapsed().as_secs_f64() < hold {
        let left = hold - hold_start.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs_f64(left.clamp(0.0, 1.0))).await;
        let now = Usage::sample(args.broker_pid);
        if let (Some(a), Some(b)) = (last.broker, now.broker) {
            lines.print(&format!(
                "holding {n}: broker RSS {:.1} MB, CPU {:.1}%",
                mb(b.rss_kb),
                (b.cpu_ns - a.cpu_ns) as f64 / 1e7
            ));
        }
        last = now;
    }
    let hold_seconds = hold_start.elapsed().as_secs_f64();
    let held_to = Usage::sample(args.broker_pid);
    for conn in conns {
        let _ = conn.close().await;
    }
    let cost = report::HeldCost::of(n, &before, &held_from, &held_to, hold_seconds);
    Ok(Summary {
        scenario: "idle-connections",
        connections: n as u64,
        open_seconds,
        opened_per_s: n as f64 / open_seconds.max(1e-9),
        hold_seconds,
        broker_rss_mb_before: cost.broker_rss_mb_before,
        broker_rss_mb_held: cost.broker_rss_mb_held,
        broker_kb_per_connection: cost.broker_kb_per_connection,
        broker_idle_cpu_pct: cost.broker_idle_cpu_pct,
        perf_rss_mb: cost.perf_rss_mb,
    })
}

impl Summary {
    pub fn text(&self) -> Vec<String> {
        let mut out = vec![
            "== idle-connections ==".to_owned(),
            format!(
                "opened           {} connections (1 channel each) in {:.2} s = {:.0}/s, held {:.1} s",
                report::thousands(self.connections),
                self.open_seconds,
                self.opened_per_s,
                self.hold_seconds
            ),
        ];
        report::idle_memory_lines(
            &mut out,
            self.broker_rss_mb_before,
            self.broker_rss_mb_held,
            self.broker_kb_per_connection,
            "connection",
            self.broker_idle_cpu_pct,
            self.perf_rss_mb,
        );
        out
    }
}
