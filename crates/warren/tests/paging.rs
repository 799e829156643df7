//! Long queues keep their bodies on disk: a queue over its memory budget (32 MiB), or
//! any sizeable queue once all of them hold more than the broker's paging limit,
//! writes the newest messages out and reads them back as consumers reach them, in
//! order and intact; paged transient messages still do not survive a restart. Both
//! with a few large messages (each paged by itself) and with many small ones (the
//! queue's compact tail, whose records then keep only where the body is).

mod common;

use common::{confirm_channel, connect_url, t};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use std::path::PathBuf;
use std::time::Duration;

const BODY: usize = 128 * 1024;
/// 50 MiB: well over one queue's budget.
const COUNT: usize = 400;

fn body(i: usize) -> Vec<u8> {
    let mut b = vec![(i % 251) as u8; BODY];
    b[..8].copy_from_slice(&(i as u64).to_be_bytes());
    b
}

async fn start_with_budget(dir: &std::path::Path, queue_ram_budget: u64) -> warren::Server {
    let config = warren::Config {
        data_dir: dir.to_path_buf(),
        remove_data_dir: false,
        queue_ram_budget: Some(queue_ram_budget),
        ..warren::Config::for_tests()
    };
    t(warren::start(config)).await.expect("warren starts")
}

/// No per-queue budget; queues page once together they hold `limit` (a 1 GiB
/// watermark, so the memory alarm stays off, times the paging ratio).
async fn start_with_paging_limit(dir: &std::path::Path, limit: u64) -> warren::Server {
    let watermark = 1u64 << 30;
    let config = warren::Config {
        data_dir: dir.to_path_buf(),
        queue_ram_budget: None,
        memory_high_watermark: warren::memory::Watermark::Absolute(watermark),
        memory_paging_ratio: limit as f64 / watermark as f64,
        ..warren::Config::for_tests()
    };
    t(warren::start(config)).await.expect("warren starts")
}

fn url(server: &warren::Server) -> String {
    format!(
        "amqp://guest:guest@127.0.0.1:{}/%2F",
        server.amqp_addr().port()
    )
}

/// Many small messages: 8 MiB, twice `SMALL_BUDGET` even at the tail's few bytes
/// of overhead per message.
const SMALL: usize = 1024;
const SMALL_COUNT: usize = 8_000;
const SMALL_BUDGET: u64 = 4 << 20;

fn small_body(i: usize) -> Vec<u8> {
    let mut b = vec![(i % 251) as u8; SMALL];
    b[..8].copy_from_slice(&(i as u64).to_be_bytes());
    b
}

async fn publish_n(
    ch: &Channel,
    queue: &str,
    count: usize,
    body: impl Fn(usize) -> Vec<u8>,
    persistent: impl Fn(usize) -> bool,
) {
    let mut confirms = Vec::new();
    for i in 0..count {
        let props = if persistent(i) {
            BasicProperties::default().with_delivery_mode(2)
        } else {
            BasicProperties::default()
        };
        confirms.push(
            t(ch.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &body(i),
                props,
            ))
            .await
            .expect("publish"),
        );
    }
    for c in confirms {
        assert!(t(c).await.expect("confirm").is_ack());
    }
}

/// Waits until the store holds at least `n` live messages (paging is done at the end
/// of a queue's turn, after the confirms went out).
async fn wait_live(server: &warren::Server, n: u64) -> u64 {
    let store = server.broker().storage().expect("storage").store().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let live = store.stats().live_messages;
        if live >= n || tokio::time::Instant::now() > deadline {
            return live;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn data_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("paging-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// What one run publishes: how many messages, their bodies, the queue's budget.
struct Load {
    name: &'static str,
    count: usize,
    body: fn(usize) -> Vec<u8>,
    budget: u64,
    prefetch: u16,
}

const LARGE: Load = Load {
    name: "large",
    count: COUNT,
    body,
    budget: 32 << 20,
    prefetch: 50,
};

const SMALL_LOAD: Load = Load {
    name: "small",
    count: SMALL_COUNT,
    body: small_body,
    budget: SMALL_BUDGET,
    prefetch: 500,
};

/// Publishes `load` (transient) to a queue over its budget, checks that at least
/// `paged` of it went to the store, then consumes it all in order and intact; the
/// store lets go of everything once it is acked.
async fn pages_out_and_delivers_in_order(load: Load, paged: usize) {
    let dir = data_dir(load.name);
    let server = start_with_budget(&dir, load.budget).await;
    let conn = connect_url(&url(&server)).await.unwrap();
    let ch = confirm_channel(&conn).await;
    t(ch.queue_declare(
        load.name.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish_n(&ch, load.name, load.count, load.body, |_| false).await;
    let live = wait_live(&server, paged as u64).await;
    assert!(
        live >= paged as u64,
        "bodies over the budget went to the store: {live} of {}",
        load.count
    );
    t(ch.basic_qos(load.prefetch, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut consumer = t(ch.basic_consume(
        load.name.into(),
        "c".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for i in 0..load.count {
        let d = t(consumer.next()).await.expect("delivery").expect("ok");
        assert!(d.data == (load.body)(i), "message {i} intact and in order");
        assert!(!d.redelivered);
        t(d.ack(BasicAckOptions::default())).await.unwrap();
    }
    // Consumed and acked: the store lets go of them.
    let store = server.broker().storage().unwrap().store().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.stats().live_messages > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.stats().live_messages, 0);
    drop(conn);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Publishes `load` to a durable queue, every other message persistent, restarts,
/// and gets back exactly the persistent ones, in order.
async fn only_persistent_messages_survive_a_restart(load: Load) {
    let dir = data_dir(&format!("{}-restart", load.name));
    let server = start_with_budget(&dir, load.budget).await;
    let conn = connect_url(&url(&server)).await.unwrap();
    let ch = confirm_channel(&conn).await;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    t(ch.queue_declare(load.name.into(), durable, FieldTable::default()))
        .await
        .unwrap();
    publish_n(&ch, load.name, load.count, load.body, |i| i % 2 == 0).await;
    wait_live(&server, (load.count / 2) as u64).await;
    drop(conn);
    server.shutdown().await;

    let server = start_with_budget(&dir, load.budget).await;
    let conn = connect_url(&url(&server)).await.unwrap();
    let ch = t(conn.create_channel()).await.unwrap();
    for i in (0..load.count).step_by(2) {
        let m = t(ch.basic_get(load.name.into(), BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .expect("persistent message back");
        assert!(
            m.delivery.data == (load.body)(i),
            "persistent message {i} in order"
        );
    }
    let rest = t(ch.basic_get(load.name.into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap();
    assert!(rest.is_none(), "no transient message came back");
    drop(conn);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_long_transient_queue_pages_out_and_delivers_everything_in_order() {
    // A third of the queue is more than the budget leaves in memory.
    pages_out_and_delivers_in_order(LARGE, COUNT / 3).await;
}

#[tokio::test]
async fn paged_transient_messages_do_not_survive_a_restart_but_persistent_ones_do() {
    only_persistent_messages_survive_a_restart(LARGE).await;
}

#[tokio::test]
async fn many_small_messages_over_the_budget_page_out_and_come_back_in_order() {
    pages_out_and_delivers_in_order(SMALL_LOAD, SMALL_COUNT / 4).await;
}

#[tokio::test]
async fn many_small_messages_persistent_ones_survive_a_restart_in_order() {
    only_persistent_messages_survive_a_restart(SMALL_LOAD).await;
}

/// Without a per-queue budget a queue keeps all it holds in memory while the broker is
/// under its paging limit; once the queues together are over it, the one taking new
/// messages pages them, and everything still comes back in order. Draining both
/// queues empties the broker's account.
#[tokio::test]
async fn queues_page_once_together_they_hold_more_than_the_broker_limit() {
    let dir = data_dir("broker-limit");
    // 8,000 x 1 KiB is ~8.3 MiB as held: one queue fits under 12 MiB, two do not.
    let server = start_with_paging_limit(&dir, 12 << 20).await;
    let conn = connect_url(&url(&server)).await.unwrap();
    let ch = confirm_channel(&conn).await;
    for q in ["first", "second"] {
        t(ch.queue_declare(
            q.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    let store = server.broker().storage().expect("storage").store().clone();
    let memory = server.broker().storage().unwrap().queue_memory().clone();
    publish_n(&ch, "first", SMALL_COUNT, small_body, |_| false).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        store.stats().live_messages,
        0,
        "a queue alone under the broker's limit pages nothing"
    );
    assert!(memory.in_memory() > (8 << 20), "{}", memory.in_memory());
    publish_n(&ch, "second", SMALL_COUNT, small_body, |_| false).await;
    // The second queue pages from the point where the sum passes 12 MiB (and it holds
    // over `PAGE_FLOOR`): its last ~3,500 messages.
    let live = wait_live(&server, 3_000).await;
    assert!(
        (3_000..SMALL_COUNT as u64).contains(&live),
        "the second queue paged its newest messages: {live}"
    );
    assert!(memory.in_memory() <= 13 << 20, "{}", memory.in_memory());
    t(ch.basic_qos(500, BasicQosOptions::default()))
        .await
        .unwrap();
    for q in ["first", "second"] {
        let mut consumer = t(ch.basic_consume(
            q.into(),
            q.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
        for i in 0..SMALL_COUNT {
            let d = t(consumer.next()).await.expect("delivery").expect("ok");
            assert!(
                d.data == small_body(i),
                "{q}: message {i} intact and in order"
            );
            t(d.ack(BasicAckOptions::default())).await.unwrap();
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while (memory.in_memory() > 0 || store.stats().live_messages > 0)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(memory.in_memory(), 0, "drained queues hold nothing");
    assert_eq!(store.stats().live_messages, 0);
    drop(conn);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
