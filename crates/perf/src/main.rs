//! warren-perf: a lean AMQP 0-9-1 load generator.
//!
//! It shares the machine with the broker it measures, so it spends as little CPU per
//! message as it can: no general client library, frames encoded in batches straight
//! from templates, deliveries scanned in place, one write per batch. Every report
//! carries the broker's own CPU per message (from /proc), the figure that does not
//! depend on the client, and ours, to show we are not the bottleneck.

mod cli;
mod client;
mod confirms;
mod consumer;
mod mqtt;
mod payload;
mod procstat;
mod publisher;
mod redis;
mod report;
mod scenarios;
mod stats;
mod stop;
mod topology;

use anyhow::{Context, Result};
use clap::Parser;
use cli::Args;
use client::AmqpUri;

fn main() {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warren-perf: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("warren-perf: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Runs the scenario the flags ask for; `false` if it reported errors.
async fn run(args: Args) -> Result<bool> {
    payload::now_ns();
    if let Some(addr) = args.mqtt.clone() {
        return run_mqtt(&args, &addr).await;
    }
    let uri = AmqpUri::parse(&args.uri).context("--uri")?;
    if args.million {
        let s = scenarios::million::run(&args, &uri).await?;
        report::emit(args.json, &s, || s.text());
        return Ok(true);
    }
    if let Some(n) = args.connection_churn {
        let s = scenarios::churn::run(&args, &uri, n).await?;
        report::emit(args.json, &s, || s.text());
        return Ok(true);
    }
    if let Some(n) = args.idle_connections {
        let s = scenarios::idle::run(&args, &uri, n).await?;
        report::emit(args.json, &s, || s.text());
        return Ok(true);
    }
    if let Some(n) = args.declare_queues {
        let s = scenarios::declare::run(&args, &uri, n).await?;
        report::emit(args.json, &s, || s.text());
        return Ok(true);
    }
    let s = scenarios::throughput::run(&args, &uri).await?;
    report::emit(args.json, &s, || s.text());
    Ok(s.errors.is_empty() && s.missing.unwrap_or(0) == 0)
}

/// The MQTT modes (`--mqtt`); `false` if the run saw errors or lost QoS 1/2 messages.
async fn run_mqtt(args: &Args, addr: &str) -> Result<bool> {
    if let Some(n) = args.idle_connections {
        let s = mqtt::idle::run(args, addr, n).await?;
        report::emit(args.json, &s, || s.text());
        return Ok(s.errors.is_empty());
    }
    let s = mqtt::run(args, addr).await?;
    report::emit(args.json, &s, || s.text());
    let a = &s.accounting;
    // At QoS 0 the broker may drop messages; that is reported, not a failure.
    let lossless = s.qos == 0 || a.missing == 0;
    Ok(s.errors.is_empty() && lossless && a.duplicates == 0 && a.unknown == 0)
}
