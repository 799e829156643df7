//! `--declare-queues N`: declare N queues one after another on one channel, then
//! delete them; both rates, and the broker's memory per queue while they exist.

use crate::cli::Args;
use crate::client::{AmqpUri, Connection};
use crate::report::{self, mb, ProcUsage, Usage};
use crate::topology::{declare_queue, delete_queue, CHANNEL};
use anyhow::{Context, Result};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Serialize)]
pub struct Summary {
    pub scenario: &'static str,
    pub queues: u64,
    pub durable: bool,
    pub declare_seconds: f64,
    pub declares_per_s: f64,
    pub delete_seconds: f64,
    pub deletes_per_s: f64,
    pub broker_rss_mb_before: Option<f64>,
    pub broker_rss_mb_with_queues: Option<f64>,
    pub broker_kb_per_queue: Option<f64>,
    /// CPU per declare (`cpu_us_per_msg` counts declares here).
    pub broker: Option<ProcUsage>,
    pub perf: ProcUsage,
}

pub async fn run(args: &Args, uri: &AmqpUri, n: usize) -> Result<Summary> {
    let mut admin = Connection::open(uri, "perf-declare").await?;
    admin.open_channel(CHANNEL).await?;
    let names: Vec<String> = (0..n)
        .map(|i| format!("{}-decl-{i}", args.queue_prefix))
        .collect();
    for q in &names {
        delete_queue(&mut admin, q).await?;
    }
    let before = Usage::sample(args.broker_pid);
    let start = Instant::now();
    for q in &names {
        declare_queue(&mut admin, q, args.persistent)
            .await
            .with_context(|| format!("declaring {q}"))?;
    }
    let declare_seconds = start.elapsed().as_secs_f64();
    let declared = Usage::sample(args.broker_pid);
    // Let the broker settle (RabbitMQ starts a process per queue) before reading memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = Usage::sample(args.broker_pid);
    let start = Instant::now();
    for q in &names {
        delete_queue(&mut admin, q)
            .await
            .with_context(|| format!("deleting {q}"))?;
    }
    let delete_seconds = start.elapsed().as_secs_f64();
    let _ = admin.close().await;
    let (broker, perf) = before.until(&declared, n as u64, 0);
    let rss_before = before.broker.map(|b| b.rss_kb);
    let rss_with = settled.broker.map(|b| b.rss_kb);
    Ok(Summary {
        scenario: "declare-queues",
        queues: n as u64,
        durable: args.persistent,
        declare_seconds,
        declares_per_s: n as f64 / declare_seconds.max(1e-9),
        delete_seconds,
        deletes_per_s: n as f64 / delete_seconds.max(1e-9),
        broker_rss_mb_before: rss_before.map(mb),
        broker_rss_mb_with_queues: rss_with.map(mb),
        broker_kb_per_queue: match (rss_before, rss_with) {
            (Some(a), Some(b)) if n > 0 => Some((b as f64 - a as f64) / n as f64),
            _ => None,
        },
        broker,
        perf,
    })
}

impl Summary {
    pub fn text(&self) -> Vec<String> {
        let mut out = vec![
            "== declare-queues ==".to_owned(),
            format!(
                "declared         {} {}queues in {:.3} s = {:.0} declares/s",
                report::thousands(self.queues),
                if self.durable { "durable " } else { "" },
                self.declare_seconds,
                self.declares_per_s
            ),
            format!(
                "deleted          {} queues in {:.3} s = {:.0} deletes/s",
                report::thousands(self.queues),
                self.delete_seconds,
                self.deletes_per_s
            ),
        ];
        if let (Some(a), Some(b), Some(per)) = (
            self.broker_rss_mb_before,
            self.broker_rss_mb_with_queues,
            self.broker_kb_per_queue,
        ) {
            out.push(format!(
                "broker memory    RSS {a:.1} MB -> {b:.1} MB = {per:.1} KB per queue"
            ));
        }
        match &self.broker {
            Some(b) => out.push(report::usage_line("broker", b, "declare")),
            None => out.push("broker           (pass --broker-pid for its CPU and memory)".into()),
        }
        out.push(report::usage_line("warren-perf", &self.perf, "declare"));
        out
    }
}
