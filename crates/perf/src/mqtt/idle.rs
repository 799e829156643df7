//! `--mqtt ADDR --idle-connections N [--idle-subscribe]`: open N MQTT clients, each
//! optionally with one subscription of its own, hold them, and report the broker's
//! resident memory per client and its CPU while nothing happens.
//!
//! Clients connect with keep-alive 0 so no PINGREQ traffic muddies the idle CPU.

use super::session::Client;
use super::MqttOptions;
use crate::cli::Args;
use crate::report::{self, Lines, Usage};
use anyhow::{Context, Result};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

#[derive(Serialize)]
pub struct IdleSummary {
    pub scenario: &'static str,
    pub connections: u64,
    pub subscribed: bool,
    pub open_seconds: f64,
    pub opened_per_s: f64,
    pub hold_seconds: f64,
    pub broker_rss_mb_before: Option<f64>,
    pub broker_rss_mb_held: Option<f64>,
    pub broker_kb_per_connection: Option<f64>,
    pub broker_idle_cpu_pct: Option<f64>,
    pub perf_rss_mb: f64,
    pub errors: Vec<String>,
}

pub async fn run(args: &Args, addr: &str, n: usize) -> Result<IdleSummary> {
    let opts = MqttOptions::from_args(args, addr)?;
    let lines = Lines {
        to_stderr: args.json,
        quiet: args.quiet,
    };
    let before = Usage::sample(args.broker_pid);
    let start = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let target = Arc::new(opts.target);
    let subscribe = args.idle_subscribe;
    let qos = opts.qos;
    let tag = std::process::id();
    let mut set = JoinSet::new();
    for i in 0..n {
        let (target, gate) = (target.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut c = Client::connect(&target, &format!("perf-idle-{tag}-{i}"), 0)
                .await
                .with_context(|| format!("idle client {i}"))?;
            if subscribe {
                c.subscribe(&format!("perf/idle/{i}"), qos, 1)
                    .await
                    .with_context(|| format!("idle client {i}"))?;
            }
            anyhow::Ok(c)
        });
    }
    let mut clients = Vec::with_capacity(n);
    let mut errors = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined? {
            Ok(c) => clients.push(c),
            Err(e) if errors.len() < 10 => errors.push(format!("{e:#}")),
            Err(_) => {}
        }
    }
    let open_seconds = start.elapsed().as_secs_f64();
    let opened = clients.len();
    lines.print(&format!(
        "opened {} MQTT clients{} in {open_seconds:.2} s",
        report::thousands(opened as u64),
        if subscribe {
            " with a subscription each"
        } else {
            ""
        }
    ));
    // Let the broker settle before the memory reading that counts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held_from = Usage::sample(args.broker_pid);
    let hold = args.duration.unwrap_or(5.0);
    let hold_start = Instant::now();
    while hold_start.elapsed().as_secs_f64() < hold {
        let left = hold - hold_start.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs_f64(left.clamp(0.0, 1.0))).await;
    }
    let hold_seconds = hold_start.elapsed().as_secs_f64();
    let held_to = Usage::sample(args.broker_pid);
    // Still connected? A broker that dropped idle clients has not held them.
    let mut closed = 0;
    for c in &clients {
        let mut probe = [0u8; 1];
        if let Ok(0) = c.stream.try_read(&mut probe) {
            closed += 1;
        }
    }
    if closed > 0 {
        errors.push(format!(
            "{closed} clients were closed by the broker while idle"
        ));
    }
    drop(clients);
    let cost = report::HeldCost::of(opened, &before, &held_from, &held_to, hold_seconds);
    Ok(IdleSummary {
        scenario: "mqtt-idle-connections",
        connections: opened as u64,
        subscribed: subscribe,
        open_seconds,
        opened_per_s: opened as f64 / open_seconds.max(1e-9),
        hold_seconds,
        broker_rss_mb_before: cost.broker_rss_mb_before,
        broker_rss_mb_held: cost.broker_rss_mb_held,
        broker_kb_per_connection: cost.broker_kb_per_connection,
        broker_idle_cpu_pct: cost.broker_idle_cpu_pct,
        perf_rss_mb: cost.perf_rss_mb,
        errors,
    })
}

impl IdleSummary {
    pub fn text(&self) -> Vec<String> {
        let mut out = vec![
            "== mqtt idle-connections ==".to_owned(),
            format!(
                "opened           {} clients{} in {:.2} s = {:.0}/s, held {:.1} s",
                report::thousands(self.connections),
                if self.subscribed {
                    " (one subscription each)"
                } else {
                    ""
                },
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
            "client",
            self.broker_idle_cpu_pct,
            self.perf_rss_mb,
        );
        for e in &self.errors {
            out.push(format!("error            {e}"));
        }
        out
    }
}
