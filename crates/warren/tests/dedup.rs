//! Deduplication (`x-message-deduplication`, compatible with the RabbitMQ
//! deduplication plugin's queue mode): a message whose key (the
//! `x-deduplication-header` header, else `message_id`) equals that of a message still
//! in the queue is dropped, and its publisher still gets `basic.ack`; once that
//! message has left the queue the key may come again; durable queues keep the
//! guarantee across a restart.

mod common;

use common::{confirm_channel, connect_url, t, unique};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

fn dedup_args() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-message-deduplication".into(), AMQPValue::Boolean(true));
    args
}

fn keyed(key: &str) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        "x-deduplication-header".into(),
        AMQPValue::LongString(key.into()),
    );
    BasicProperties::default().with_headers(headers)
}

async fn publish_acked(ch: &Channel, queue: &str, body: &str, props: BasicProperties) {
    let confirm = t(ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        body.as_bytes(),
        props,
    ))
    .await
    .expect("publish");
    assert!(
        t(confirm).await.expect("confirm").is_ack(),
        "a duplicate is confirmed too"
    );
}

async fn count(ch: &Channel, queue: &str) -> u32 {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    t(ch.queue_declare(queue.into(), passive, FieldTable::default()))
        .await
        .expect("passive declare")
        .message_count()
}

async fn url(server: &warren::Server) -> String {
    format!(
        "amqp://guest:guest@127.0.0.1:{}/%2F",
        server.amqp_addr().port()
    )
}

#[tokio::test]
async fn a_duplicate_of_a_message_in_the_queue_is_dropped_and_confirmed() {
    let b = common::broker().await;
    if b.is_external() {
        return; // RabbitMQ needs its deduplication plugin for this
    }
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("dedup");
    t(ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions::default(),
        dedup_args(),
    ))
    .await
    .unwrap();
    publish_acked(&ch, &q, "a1", keyed("a")).await;
    publish_acked(&ch, &q, "a2", keyed("a")).await;
    publish_acked(&ch, &q, "b1", keyed("b")).await;
    let by_id = BasicProperties::default().with_message_id("id-1".into());
    publish_acked(&ch, &q, "id1", by_id.clone()).await;
    publish_acked(&ch, &q, "id2", by_id).await;
    publish_acked(&ch, &q, "plain1", BasicProperties::default()).await;
    publish_acked(&ch, &q, "plain2", BasicProperties::default()).await;
    assert_eq!(
        count(&ch, &q).await,
        5,
        "a2 and id2 dropped; no key, no duplicate"
    );

    // Once "a" has left the queue, the key is free again.
    let first = t(ch.basic_get(q.as_str().into(), BasicGetOptions::default()))
        .await
        .unwrap()
        .expect("a1");
    assert_eq!(&first.delivery.data[..], b"a1");
    publish_acked(&ch, &q, "a3", keyed("a")).await;
    assert_eq!(
        count(&ch, &q).await,
        4,
        "still held unacked: a3 is a duplicate"
    );
    t(first.delivery.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    publish_acked(&ch, &q, "a4", keyed("a")).await;
    assert_eq!(count(&ch, &q).await, 5);
    t(ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_durable_queue_remembers_its_keys_across_a_restart() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dedup-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || warren::Config {
        data_dir: dir.clone(),
        remove_data_dir: false,
        ..warren::Config::for_tests()
    };
    let server = t(warren::start(config())).await.unwrap();
    let conn = connect_url(&url(&server).await).await.unwrap();
    let ch = confirm_channel(&conn).await;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    t(ch.queue_declare("dq".into(), durable, dedup_args()))
        .await
        .unwrap();
    publish_acked(&ch, "dq", "x1", keyed("x").with_delivery_mode(2)).await;
    drop(conn);
    server.shutdown().await;

    let server = t(warren::start(config())).await.unwrap();
    let conn = connect_url(&url(&server).await).await.unwrap();
    let ch = confirm_channel(&conn).await;
    publish_acked(&ch, "dq", "x2", keyed("x").with_delivery_mode(2)).await;
    assert_eq!(
        count(&ch, "dq").await,
        1,
        "x2 is a duplicate of the recovered x1"
    );
    drop(conn);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

// The exchange mode: type `x-message-deduplication` routes like fanout and drops a
// message whose `x-deduplication-header` was seen within its window.

fn cache_args(size: i32, ttl: Option<i32>, disk: bool) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-cache-size".into(), AMQPValue::LongInt(size));
    if let Some(ttl) = ttl {
        args.insert("x-cache-ttl".into(), AMQPValue::LongInt(ttl));
    }
    if disk {
        args.insert(
            "x-cache-persistence".into(),
            AMQPValue::LongString("disk".into()),
        );
    }
    args
}

async fn dedup_exchange(ch: &Channel, name: &str, args: FieldTable, durable: bool) -> String {
    t(ch.exchange_declare(
        name.into(),
        lapin::ExchangeKind::Custom("x-message-deduplication".into()),
        lapin::options::ExchangeDeclareOptions {
            durable,
            ..Default::default()
        },
        args,
    ))
    .await
    .expect("declare");
    let q = format!("{name}-q");
    t(ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions {
            durable,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("declare queue");
    t(ch.queue_bind(
        q.as_str().into(),
        name.into(),
        "any key".into(),
        lapin::options::QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("bind");
    q
}

async fn publish_to(ch: &Channel, exchange: &str, body: &str, props: BasicProperties) {
    let confirm = t(ch.basic_publish(
        exchange.into(),
        "ignored".into(),
        BasicPublishOptions::default(),
        body.as_bytes(),
        props,
    ))
    .await
    .expect("publish");
    assert!(t(confirm).await.expect("confirm").is_ack());
}

#[tokio::test]
async fn a_deduplication_exchange_needs_a_cache_size() {
    let b = common::broker().await;
    if b.is_external() {
        return; // the plugin is not in RabbitMQ's Debian package
    }
    let conn = b.connect().await;
    let ch = t(conn.create_channel()).await.unwrap();
    let res = ch
        .exchange_declare(
            unique("dedup-x").as_str().into(),
            lapin::ExchangeKind::Custom("x-message-deduplication".into()),
            lapin::options::ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    common::expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - Missing or invalid argument, 'x-cache-size' must be an integer greater than 0",
    )
    .await;
}

#[tokio::test]
async fn a_deduplication_exchange_drops_keys_seen_within_its_window() {
    let b = common::broker().await;
    if b.is_external() {
        return;
    }
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    let ex = unique("dedup-x");
    let q = dedup_exchange(&ch, &ex, cache_args(2, None, false), false).await;
    publish_to(&ch, &ex, "a1", keyed("a")).await;
    publish_to(&ch, &ex, "a2", keyed("a")).await;
    publish_to(&ch, &ex, "plain", BasicProperties::default()).await;
    publish_to(&ch, &ex, "plain", BasicProperties::default()).await;
    assert_eq!(
        count(&ch, &q).await,
        3,
        "a2 dropped; unkeyed ones always go"
    );
    // The window holds two keys: b and c push a out.
    publish_to(&ch, &ex, "b", keyed("b")).await;
    publish_to(&ch, &ex, "c", keyed("c")).await;
    publish_to(&ch, &ex, "a3", keyed("a")).await;
    publish_to(&ch, &ex, "c2", keyed("c")).await;
    assert_eq!(count(&ch, &q).await, 6);

    let ex2 = unique("dedup-ttl");
    let q2 = dedup_exchange(&ch, &ex2, cache_args(100, Some(150), false), false).await;
    publish_to(&ch, &ex2, "k1", keyed("k")).await;
    publish_to(&ch, &ex2, "k2", keyed("k")).await;
    let mut own_ttl = FieldTable::default();
    own_ttl.insert(
        "x-deduplication-header".into(),
        AMQPValue::LongString("long".into()),
    );
    own_ttl.insert("x-cache-ttl".into(), AMQPValue::LongInt(60_000));
    publish_to(
        &ch,
        &ex2,
        "long1",
        BasicProperties::default().with_headers(own_ttl.clone()),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    publish_to(&ch, &ex2, "k3", keyed("k")).await;
    publish_to(&ch, &ex2, "long2", keyed("long")).await;
    assert_eq!(
        count(&ch, &q2).await,
        3,
        "k1, long1, and k3 once k's TTL ran out; long2 is within long's own TTL"
    );
}

#[tokio::test]
async fn a_disk_window_survives_a_restart_and_a_memory_one_does_not() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dedup-exchange-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || warren::Config {
        data_dir: dir.clone(),
        remove_data_dir: false,
        ..warren::Config::for_tests()
    };
    let server = t(warren::start(config())).await.unwrap();
    let conn = connect_url(&url(&server).await).await.unwrap();
    let ch = confirm_channel(&conn).await;
    let disk_q = dedup_exchange(&ch, "on-disk", cache_args(10, None, true), true).await;
    let mem_q = dedup_exchange(&ch, "in-memory", cache_args(10, None, false), true).await;
    for ex in ["on-disk", "in-memory"] {
        publish_to(&ch, ex, "first", keyed("k").with_delivery_mode(2)).await;
    }
    drop(conn);
    server.shutdown().await;

    let server = t(warren::start(config())).await.unwrap();
    let conn = connect_url(&url(&server).await).await.unwrap();
    let ch = confirm_channel(&conn).await;
    for ex in ["on-disk", "in-memory"] {
        publish_to(&ch, ex, "again", keyed("k").with_delivery_mode(2)).await;
    }
    assert_eq!(
        count(&ch, &disk_q).await,
        1,
        "k is still in the disk window"
    );
    assert_eq!(
        count(&ch, &mem_q).await,
        2,
        "the memory window starts empty"
    );
    drop(conn);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
