//! S1 (1 producer -> 1 queue -> 1 consumer, 16 B, transient, auto-ack, unlimited) the
//! way an application would write it with lapin, a general-purpose Rust client: the
//! baseline that shows how much a client library costs per message, and that
//! warren-perf drives a broker at least as hard.
//!
//! cargo run --release -p warren-perf --example lapin_s1 -- URI SECONDS [BROKER_PID]

use futures_lite::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUEUE: &str = "perf-lapin-s1";

fn cpu_ns(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<u64>() * 10_000_000
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> lapin::Result<()> {
    let mut args = std::env::args().skip(1);
    let uri = args
        .next()
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2F".into());
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let broker = args.next();

    let pub_conn = Connection::connect(&uri, ConnectionProperties::default()).await?;
    let con_conn = Connection::connect(&uri, ConnectionProperties::default()).await?;
    let pub_ch = pub_conn.create_channel().await?;
    let con_ch = con_conn.create_channel().await?;
    let _ = pub_ch
        .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
        .await;
    pub_ch
        .queue_declare(
            QUEUE.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let consumed = Arc::new(AtomicU64::new(0));
    let mut consumer = con_ch
        .basic_consume(
            QUEUE.into(),
            "lapin-s1".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let counter = consumed.clone();
    tokio::spawn(async move {
        while let Some(Ok(_delivery)) = consumer.next().await {
            counter.fetch_add(1, Relaxed);
        }
    });

    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let (s, p) = (stop.clone(), published.clone());
    let publisher = tokio::spawn(async move {
        let body = [0u8; 16];
        while !s.load(Relaxed) {
            let r = pub_ch
                .basic_publish(
                    "".into(),
                    QUEUE.into(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default().with_delivery_mode(1),
                )
                .await;
            if r.is_err() {
                break;
            }
            p.fetch_add(1, Relaxed);
        }
        pub_ch
    });

    let own0 = cpu_ns("self");
    let broker0 = broker.as_deref().map(cpu_ns);
    let start = Instant::now();
    let mut last = (0, 0);
    for sec in 1..=seconds.ceil() as u64 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = (published.load(Relaxed), consumed.load(Relaxed));
        println!(
            "{sec:>4}s  pub {:>9}/s  cons {:>9}/s",
            now.0 - last.0,
            now.1 - last.1
        );
        last = now;
    }
    stop.store(true, Relaxed);
    let pub_seconds = start.elapsed().as_secs_f64();
    let pub_ch = publisher.await.expect("publisher task");
    let total = published.load(Relaxed);
    // Let the consumer catch up (bounded).
    let drain = Instant::now();
    while consumed.load(Relaxed) < total && drain.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let got = consumed.load(Relaxed);
    let own = cpu_ns("self") - own0;
    let messages = total.max(got).max(1) as f64;
    println!(
        "lapin S1: published {total} ({:.0}/s), consumed {got} ({:.0}/s over {seconds:.1} s)",
        total as f64 / pub_seconds,
        got as f64 / seconds
    );
    println!(
        "lapin client CPU {:.3} µs/msg",
        own as f64 / 1000.0 / messages
    );
    if let (Some(pid), Some(b0)) = (broker.as_deref(), broker0) {
        println!(
            "broker CPU {:.3} µs/msg",
            (cpu_ns(pid) - b0) as f64 / 1000.0 / messages
        );
    }
    let _ = pub_ch
        .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
        .await;
    Ok(())
}
