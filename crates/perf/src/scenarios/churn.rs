//! `--connection-churn N`: open a connection and a channel, close it, N times in a row.
//!
//! Sequential on purpose: the figure is the broker's cost of a connection's whole life
//! (accept, handshake, channel, close), which is what a client that does not pool
//! connections (PHP, CGI, many serverless functions) makes it pay.

use crate::cli::Args;
use crate::client::{AmqpUri, Connection};
use crate::report::{self, ProcUsage, Usage};
use crate::stats::LatencySummary;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
pub struct Summary {
    pub scenario: &'static str,
    pub connections: u64,
    pub seconds: f64,
    pub connections_per_s: f64,
    /// Open + channel.open + close, per connection.
    pub cycle_latency: Option<LatencySummary>,
    /// CPU per connection (`cpu_us_per_msg` counts connections here).
    pub broker: Option<ProcUsage>,
    pub perf: ProcUsage,
}

pub async fn run(args: &Args, uri: &AmqpUri, n: usize) -> Result<Summary> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)?;
    let before = Usage::sample(args.broker_pid);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let mut conn = Connection::open(uri, "perf-churn")
            .await
            .with_context(|| format!("connection {i} of {n}"))?;
        conn.open_channel(1).await?;
        conn.close()
            .await
            .with_context(|| format!("closing connection {i}"))?;
        hist.saturating_record(t.elapsed().as_nanos() as u64);
    }
    let seconds = start.elapsed().as_secs_f64();
    let after = Usage::sample(args.broker_pid);
    let (broker, perf) = before.until(&after, n as u64, 0);
    Ok(Summary {
        scenario: "connection-churn",
        connections: n as u64,
        seconds,
        connections_per_s: n as f64 / seconds.max(1e-9),
        cycle_latency: LatencySummary::of(&hist),
        broker,
        perf,
    })
}

impl Summary {
    pub fn text(&self) -> Vec<String> {
        let mut out = vec![
            "== connection-churn ==".to_owned(),
            format!(
                "connections      {} opened+closed in {:.2} s = {:.0} connections/s",
                report::thousands(self.connections),
                self.seconds,
                self.connections_per_s
            ),
            report::latency_line("cycle latency", &self.cycle_latency),
        ];
        match &self.broker {
            Some(b) => out.push(report::usage_line("broker", b, "connection")),
            None => out.push("broker           (pass --broker-pid for its CPU and memory)".into()),
        }
        out.push(report::usage_line("warren-perf", &self.perf, "connection"));
        out
    }
}
