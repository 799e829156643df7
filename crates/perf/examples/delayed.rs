//! The delayed-exchange benchmark: N messages held at once by an `x-delayed-message`
//! exchange, due in shuffled order over a window that starts after the last publish;
//! reports the broker's memory with all N pending and how late each message arrives
//! (receive time minus due time, p50/p99/max).
//!
//! cargo run --release -p warren-perf --example delayed -- URI N BODY_BYTES WINDOW_S [BROKER_PID] [--persistent]
//!
//! Each body starts with its due time (ms since the Unix epoch). Publishing runs with
//! confirms in a window of 10,000 outstanding; the consumer runs with auto-ack. The
//! due window must be long enough for the consumer to keep up (lapin takes ~20 µs per
//! message), or the figure measures the client.

use futures_lite::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const EXCHANGE: &str = "perf-delayed";
const QUEUE: &str = "perf-delayed-q";
const IN_FLIGHT: usize = 10_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn rss_mb(pid: &Option<String>) -> Option<f64> {
    let pid = pid.as_ref()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> lapin::Result<()> {
    let persistent = std::env::args().any(|a| a == "--persistent");
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let uri = args
        .next()
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2F".into());
    let n: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let window_s: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let broker = args.next();

    let conn = Connection::connect(&uri, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    let _ = ch
        .exchange_delete(EXCHANGE.into(), ExchangeDeleteOptions::default())
        .await;
    let ch = conn.create_channel().await?;
    let _ = ch
        .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
        .await;
    let mut args = FieldTable::default();
    args.insert(
        "x-delayed-type".into(),
        AMQPValue::LongString("direct".into()),
    );
    ch.exchange_declare(
        EXCHANGE.into(),
        ExchangeKind::Custom("x-delayed-message".into()),
        ExchangeDeclareOptions {
            durable: persistent,
            ..Default::default()
        },
        args,
    )
    .await?;
    ch.queue_declare(
        QUEUE.into(),
        QueueDeclareOptions {
            durable: persistent,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?;
    ch.queue_bind(
        QUEUE.into(),
        EXCHANGE.into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let rss_before = rss_mb(&broker);

    // Due times: the window starts after publishing ends (estimated at 15k/s plus a
    // margin), each message's slot shuffled so due order differs from publish order.
    let publish_estimate_ms = (n as u64 / 15) + 5_000;
    let start_ms = now_ms() + publish_estimate_ms;
    let mut slots: Vec<u64> = (0..n as u64).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..slots.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        slots.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    let published_at = Instant::now();
    let mut confirms = VecDeque::new();
    for slot in &slots {
        let due = start_ms + slot * window_s * 1000 / n as u64;
        let mut body = vec![0u8; size.max(8)];
        body[..8].copy_from_slice(&due.to_be_bytes());
        let mut headers = FieldTable::default();
        let delay = due.saturating_sub(now_ms()) as i64;
        headers.insert("x-delay".into(), AMQPValue::LongLongInt(delay));
        let mut props = BasicProperties::default().with_headers(headers);
        if persistent {
            props = props.with_delivery_mode(2);
        }
        let confirm = ch
            .basic_publish(
                EXCHANGE.into(),
                "k".into(),
                BasicPublishOptions::default(),
                &body,
                props,
            )
            .await?;
        confirms.push_back(confirm);
        if confirms.len() >= IN_FLIGHT {
            confirms.pop_front().unwrap().await?;
        }
    }
    for c in confirms {
        c.await?;
    }
    let publish_s = published_at.elapsed().as_secs_f64();
    let left_ms = start_ms.saturating_sub(now_ms());
    // Let the broker settle before reading its memory.
    tokio::time::sleep(Duration::from_millis(500.min(left_ms))).await;
    let rss_pending = rss_mb(&broker);
    println!(
        "published {n} x {size} B {} in {publish_s:.1} s ({:.0}/s); first due in {} ms",
        if persistent {
            "persistent"
        } else {
            "transient"
        },
        n as f64 / publish_s,
        start_ms.saturating_sub(now_ms())
    );
    if let (Some(a), Some(b)) = (rss_before, rss_pending) {
        println!(
            "broker RSS {a:.1} MB -> {b:.1} MB with {n} pending = {:.0} B per pending message",
            (b - a) * 1024.0 * 1024.0 / n as f64
        );
    }

    let con_conn = Connection::connect(&uri, ConnectionProperties::default()).await?;
    let con_ch = con_conn.create_channel().await?;
    let mut consumer = con_ch
        .basic_consume(
            QUEUE.into(),
            "perf-delayed".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let mut lateness = Vec::with_capacity(n);
    let mut early = 0u64;
    let deadline = Instant::now() + Duration::from_millis(left_ms + window_s * 1000 + 60_000);
    while lateness.len() < n && Instant::now() < deadline {
        // Nothing arrives before the first due time; after it, a 30 s gap means stuck.
        let wait = Duration::from_millis(start_ms.saturating_sub(now_ms()) + 30_000);
        let next = tokio::time::timeout(wait, consumer.next()).await;
        let Ok(Some(Ok(d))) = next else { break };
        let due = u64::from_be_bytes(d.data[..8].try_into().unwrap());
        let late = now_ms() as i64 - due as i64;
        if late < 0 {
            early += 1;
        }
        lateness.push(late);
    }
    let rss_after = rss_mb(&broker);
    lateness.sort_unstable();
    println!(
        "received {} of {n}; lateness ms p50 {} p99 {} p99.9 {} max {}; {early} early",
        lateness.len(),
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        percentile(&lateness, 0.999),
        lateness.last().copied().unwrap_or(0)
    );
    if let Some(r) = rss_after {
        println!("broker RSS after delivery {r:.1} MB");
    }
    let _ = ch
        .exchange_delete(EXCHANGE.into(), ExchangeDeleteOptions::default())
        .await;
    let _ = ch
        .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
        .await;
    Ok(())
}
