//! What survives a restart: durable exchanges, queues, bindings and their arguments,
//! and persistent messages on durable queues, in order, with `redelivered` set on
//! those that had been delivered; and what does not (transient and exclusive objects,
//! transient messages, deleted queues, acked and purged messages). Each test runs a
//! broker on its own data directory, stops it (cleanly) and starts a new one there.

mod common;

use common::{confirm_channel, connect_url, t};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ExchangeBindOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
    QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use std::path::PathBuf;

fn data_dir(name: &str) -> PathBuf {
    common::restart_dir("durability", name)
}

async fn start(dir: &std::path::Path) -> warren::Server {
    common::start_on(dir).await
}

async fn connect(server: &warren::Server) -> (Connection, Channel) {
    let url = format!(
        "amqp://guest:guest@127.0.0.1:{}/%2F",
        server.amqp_addr().port()
    );
    let conn = connect_url(&url).await.expect("connect");
    let ch = confirm_channel(&conn).await;
    (conn, ch)
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

async fn publish(ch: &Channel, exchange: &str, key: &str, body: &str, props: BasicProperties) {
    let confirm = t(ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body.as_bytes(),
        props,
    ))
    .await
    .expect("publish");
    assert!(t(confirm).await.expect("confirm").is_ack(), "confirmed");
}

/// Every message `basic.get` gives, as (body, redelivered), acking each.
async fn drain(ch: &Channel, queue: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    while let Some(m) = t(ch.basic_get(queue.into(), BasicGetOptions::default()))
        .await
        .expect("get")
    {
        out.push((
            String::from_utf8_lossy(&m.delivery.data).into_owned(),
            m.delivery.redelivered,
        ));
        t(m.delivery.ack(BasicAckOptions::default()))
            .await
            .expect("ack");
    }
    out
}

async fn exists(conn: &Connection, queue: &str) -> bool {
    let ch = t(conn.create_channel()).await.expect("channel");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    t(ch.queue_declare(queue.into(), passive, FieldTable::default()))
        .await
        .is_ok()
}

async fn exchange_exists(conn: &Connection, name: &str) -> bool {
    let ch = t(conn.create_channel()).await.expect("channel");
    let passive = ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    };
    t(ch.exchange_declare(
        name.into(),
        ExchangeKind::Direct,
        passive,
        FieldTable::default(),
    ))
    .await
    .is_ok()
}

fn bodies(messages: &[(String, bool)]) -> Vec<&str> {
    messages.iter().map(|(b, _)| b.as_str()).collect()
}

#[tokio::test]
async fn durable_topology_survives_and_transient_does_not() {
    let dir = data_dir("topology");
    let server = start(&dir).await;
    let (conn, ch) = connect(&server).await;
    let durable_x = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(2));
    t(ch.exchange_declare(
        "dx".into(),
        ExchangeKind::Topic,
        durable_x,
        FieldTable::default(),
    ))
    .await
    .unwrap();
    t(ch.exchange_declare(
        "dx2".into(),
        ExchangeKind::Fanout,
        durable_x,
        FieldTable::default(),
    ))
    .await
    .unwrap();
    t(ch.exchange_declare(
        "tx".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    t(ch.queue_declare("dq".into(), durable(), args.clone()))
        .await
        .unwrap();
    t(ch.queue_declare(
        "tq".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let exclusive = QueueDeclareOptions {
        durable: true,
        exclusive: true,
        ..Default::default()
    };
    t(ch.queue_declare("xq".into(), exclusive, FieldTable::default()))
        .await
        .unwrap();
    let bind = |q: &'static str, x: &'static str, key: &'static str| {
        ch.queue_bind(
            q.into(),
            x.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
    };
    t(bind("dq", "dx", "a.*")).await.unwrap();
    t(bind("tq", "dx", "a.*")).await.unwrap();
    // dx2 -> dx: a message to dx2 reaches dq through an exchange-to-exchange binding.
    t(ch.exchange_bind(
        "dx".into(),
        "dx2".into(),
        "a.b".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    drop(conn);
    server.shutdown().await;

    let server = start(&dir).await;
    let (conn, ch) = connect(&server).await;
    assert!(exists(&conn, "dq").await, "durable queue back");
    assert!(!exists(&conn, "tq").await, "transient queue gone");
    assert!(!exists(&conn, "xq").await, "exclusive queue gone");
    assert!(exchange_exists(&conn, "dx").await, "durable exchange back");
    assert!(
        !exchange_exists(&conn, "tx").await,
        "transient exchange gone"
    );
    // Same arguments: an equivalent redeclare passes, a different one is refused.
    t(ch.queue_declare("dq".into(), durable(), args))
        .await
        .unwrap();
    let ch2 = t(conn.create_channel()).await.unwrap();
    let err = t(ch2.queue_declare("dq".into(), durable(), FieldTable::default()))
        .await
        .expect_err("inequivalent x-max-length");
    assert!(format!("{err:?}").contains("x-max-length"), "{err:?}");
    // Bindings, including exchange to exchange, route as before; x-max-length holds.
    for body in ["1", "2", "3"] {
        publish(&ch, "dx2", "a.b", body, persistent()).await;
    }
    let got = drain(&ch, "dq").await;
    assert_eq!(
        bodies(&got),
        vec!["2", "3"],
        "routed via dx2 -> dx -> dq, max 2"
    );
    drop(conn);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn persistent_messages_come_back_in_order_with_redelivered() {
    let dir = data_dir("messages");
    let server = start(&dir).await;
    let (conn, ch) = connect(&server).await;
    t(ch.queue_declare("q".into(), durable(), FieldTable::default()))
        .await
        .unwrap();
    t(ch.queue_declare(
        "transient-q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for i in 1..=6 {
        let props = if i == 3 {
            BasicProperties::default() // transient: gone after the restart
        } else {
            persistent().with_message_id(format!("m{i}").into())
        };
        publish(&ch, "", "q", &format!("m{i}"), props).await;
    }
    publish(&ch, "", "transient-q", "t", persistent()).await;
    // m1 acked; m2 delivered, not acked (comes back redelivered).
    let m1 = t(ch.basic_get("q".into(), BasicGetOptions::default()))
        .await
        .unwrap()
        .expect("m1");
    t(m1.delivery.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    let ch2 = t(conn.create_channel()).await.unwrap();
    let m2 = t(ch2.basic_get("q".into(), BasicGetOptions::default()))
        .await
        .unwrap()
        .expect("m2");
    assert_eq!(&m2.delivery.data[..], b"m2");
    drop(conn);
    server.shutdown().await;

    let server = start(&dir).await;
    let (conn, ch) = connect(&server).await;
    let got = drain(&ch, "q").await;
    assert_eq!(
        got,
        vec![
            ("m2".to_string(), true),
            ("m4".to_string(), false),
            ("m5".to_string(), false),
            ("m6".to_string(), false),
        ]
    );
    assert!(!exists(&conn, "transient-q").await);
    drop(conn);
    server.shutdown().await;

    // Acked after the restart: gone for good.
    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    assert_eq!(drain(&ch, "q").await, vec![]);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn properties_and_routing_survive_byte_for_byte() {
    let dir = data_dir("properties");
    let server = start(&dir).await;
    let (conn, ch) = connect(&server).await;
    t(ch.queue_declare("q".into(), durable(), FieldTable::default()))
        .await
        .unwrap();
    let mut headers = FieldTable::default();
    headers.insert("x-n".into(), AMQPValue::LongLongInt(42));
    headers.insert("s".into(), AMQPValue::LongString("v".into()));
    let props = persistent()
        .with_content_type("text/plain".into())
        .with_correlation_id("c-1".into())
        .with_priority(3)
        .with_headers(headers);
    let body = vec![0xABu8; 300_000]; // spans several frames
    let confirm = t(ch.basic_publish(
        "".into(),
        "q".into(),
        BasicPublishOptions::default(),
        &body,
        props.clone(),
    ))
    .await
    .unwrap();
    assert!(t(confirm).await.unwrap().is_ack());
    drop(conn);
    server.shutdown().await;

    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    let m = t(ch.basic_get("q".into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("message back");
    assert_eq!(m.delivery.data, body);
    assert_eq!(m.delivery.properties, props);
    assert_eq!(m.delivery.exchange.as_str(), "");
    assert_eq!(m.delivery.routing_key.as_str(), "q");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn deleted_and_purged_stay_gone() {
    let dir = data_dir("deleted");
    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    for q in ["deleted", "purged"] {
        t(ch.queue_declare(q.into(), durable(), FieldTable::default()))
            .await
            .unwrap();
        publish(&ch, "", q, "old", persistent()).await;
    }
    t(ch.queue_delete("deleted".into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
    assert_eq!(
        t(ch.queue_purge("purged".into(), QueuePurgeOptions::default()))
            .await
            .unwrap(),
        1
    );
    // A new queue of the same name is a new queue: the old messages stay gone.
    t(ch.queue_declare("deleted".into(), durable(), FieldTable::default()))
        .await
        .unwrap();
    publish(&ch, "", "deleted", "new", persistent()).await;
    server.shutdown().await;

    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    assert_eq!(bodies(&drain(&ch, "deleted").await), vec!["new"]);
    assert_eq!(drain(&ch, "purged").await, vec![]);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn committed_transaction_survives() {
    let dir = data_dir("tx");
    let server = start(&dir).await;
    let url = format!(
        "amqp://guest:guest@127.0.0.1:{}/%2F",
        server.amqp_addr().port()
    );
    let conn = connect_url(&url).await.unwrap();
    let ch = t(conn.create_channel()).await.unwrap();
    t(ch.queue_declare("q".into(), durable(), FieldTable::default()))
        .await
        .unwrap();
    t(ch.tx_select()).await.unwrap();
    for body in ["a", "b"] {
        t(ch.basic_publish(
            "".into(),
            "q".into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            persistent(),
        ))
        .await
        .unwrap();
    }
    t(ch.tx_commit()).await.unwrap();
    t(ch.basic_publish(
        "".into(),
        "q".into(),
        BasicPublishOptions::default(),
        b"rolled back",
        persistent(),
    ))
    .await
    .unwrap();
    t(ch.tx_rollback()).await.unwrap();
    drop(conn);
    server.shutdown().await;

    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    assert_eq!(bodies(&drain(&ch, "q").await), vec!["a", "b"]);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_message_for_several_durable_queues_is_written_once() {
    let dir = data_dir("fanout");
    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    for q in ["f1", "f2", "f3"] {
        t(ch.queue_declare(q.into(), durable(), FieldTable::default()))
            .await
            .unwrap();
        t(ch.queue_bind(
            q.into(),
            "amq.fanout".into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    let store = server.broker().storage().expect("storage").store().clone();
    let before = store.stats().bytes_written;
    let body = "x".repeat(100_000);
    publish(&ch, "amq.fanout", "", &body, persistent()).await;
    let written = store.stats().bytes_written - before;
    assert!(
        (100_000..150_000).contains(&written),
        "one copy of the body on disk, not three: {written} bytes"
    );
    server.shutdown().await;

    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    for q in ["f1", "f2", "f3"] {
        assert_eq!(drain(&ch, q).await.len(), 1, "{q}");
    }
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_second_broker_on_the_same_directory_is_refused() {
    let dir = data_dir("lock");
    let server = start(&dir).await;
    let config = warren::Config {
        data_dir: dir.clone(),
        remove_data_dir: false,
        ..warren::Config::for_tests()
    };
    let err = match t(warren::start(config)).await {
        Ok(_) => panic!("a second broker started on a locked directory"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("in use by another warren process"),
        "clear refusal: {err}"
    );
    server.shutdown().await;
    // Free again once the first has stopped.
    let server = start(&dir).await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_the_rest_is_served() {
    let dir = data_dir("torn");
    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    t(ch.queue_declare("q".into(), durable(), FieldTable::default()))
        .await
        .unwrap();
    publish(&ch, "", "q", "kept", persistent()).await;
    server.shutdown().await;
    // A crash in the middle of a write leaves half a record at the end of the log.
    let segments = dir.join("msgs");
    let mut files: Vec<_> = std::fs::read_dir(&segments)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let last = files.last().expect("a segment");
    let mut bytes = std::fs::read(last).unwrap();
    bytes.extend_from_slice(&[0x57, 0x52, 0x00, 0x00, 0x10, 0xFF, 0x01]);
    std::fs::write(last, bytes).unwrap();

    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    assert_eq!(bodies(&drain(&ch, "q").await), vec!["kept"]);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_corrupt_record_in_the_middle_loses_only_that_message() {
    let dir = data_dir("corrupt");
    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    t(ch.queue_declare("q".into(), durable(), FieldTable::default()))
        .await
        .unwrap();
    for c in ["A", "B", "C"] {
        publish(&ch, "", "q", &c.repeat(20_000), persistent()).await;
    }
    server.shutdown().await;
    // Damage B's bytes on disk: its checksum no longer matches.
    let segments = dir.join("msgs");
    let mut damaged = false;
    for entry in std::fs::read_dir(&segments).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let needle = "B".repeat(1000);
        if let Some(at) = bytes
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
        {
            bytes[at + 500] = b'X';
            std::fs::write(&path, bytes).unwrap();
            damaged = true;
        }
    }
    assert!(damaged, "found B's record");

    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    let got = drain(&ch, "q").await;
    let firsts: Vec<char> = got.iter().map(|(b, _)| b.chars().next().unwrap()).collect();
    assert_eq!(
        firsts,
        vec!['A', 'C'],
        "the messages on both sides are served"
    );
    assert!(got.iter().all(|(b, _)| b.len() == 20_000));
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn message_ttl_keeps_counting_across_a_restart() {
    let dir = data_dir("ttl");
    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    let mut args = FieldTable::default();
    args.insert("x-message-ttl".into(), AMQPValue::LongInt(400));
    t(ch.queue_declare("short".into(), durable(), args))
        .await
        .unwrap();
    t(ch.queue_declare("long".into(), durable(), FieldTable::default()))
        .await
        .unwrap();
    publish(&ch, "", "short", "gone by then", persistent()).await;
    let lasting = persistent().with_expiration("60000".into());
    publish(&ch, "", "long", "still there", lasting).await;
    server.shutdown().await;
    // The broker is down longer than the short TTL.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    assert_eq!(
        drain(&ch, "short").await,
        vec![],
        "expired while the broker was down"
    );
    assert_eq!(bodies(&drain(&ch, "long").await), vec!["still there"]);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_priority_queue_keeps_its_order_across_a_restart() {
    let dir = data_dir("priority");
    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    let mut args = FieldTable::default();
    args.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(9));
    t(ch.queue_declare("prio".into(), durable(), args))
        .await
        .unwrap();
    for (body, priority) in [("low", 1), ("high", 8), ("mid", 4), ("high2", 8)] {
        publish(&ch, "", "prio", body, persistent().with_priority(priority)).await;
    }
    server.shutdown().await;

    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    assert_eq!(
        bodies(&drain(&ch, "prio").await),
        vec!["high", "high2", "mid", "low"]
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn policies_survive_a_restart_and_apply_to_recovered_queues() {
    use warren_core::policy::{ApplyTo, PolicyKind, PolicySpec};
    let dir = data_dir("policies");
    let server = start(&dir).await;
    let (_conn, ch) = connect(&server).await;
    t(ch.queue_declare("capped".into(), durable(), FieldTable::default()))
        .await
        .unwrap();
    let mut definition = amqp_codec::FieldTable::new();
    definition.insert("max-length", amqp_codec::FieldValue::I64(2));
    let vhost = server.broker().vhost("/").unwrap();
    let spec = PolicySpec {
        name: "cap".into(),
        pattern: "^capped$".into(),
        apply_to: ApplyTo::Queues,
        priority: 3,
        definition,
    };
    t(vhost.set_policy(PolicyKind::Regular, spec.clone()))
        .await
        .unwrap();
    let mut gone = amqp_codec::FieldTable::new();
    gone.insert("message-ttl", amqp_codec::FieldValue::I64(1));
    let cleared = PolicySpec {
        name: "cleared".into(),
        definition: gone,
        ..spec.clone()
    };
    t(vhost.set_policy(PolicyKind::Operator, cleared))
        .await
        .unwrap();
    t(vhost.clear_policy(PolicyKind::Operator, "cleared"))
        .await
        .unwrap();
    server.shutdown().await;

    let server = start(&dir).await;
    let vhost = server.broker().vhost("/").unwrap();
    assert_eq!(vhost.policies(PolicyKind::Regular), vec![spec]);
    assert!(vhost.policies(PolicyKind::Operator).is_empty());
    let applied = vhost.queue_policies("capped").expect("a policy applies");
    assert_eq!(applied.policy.as_deref(), Some("cap"));
    let (_conn, ch) = connect(&server).await;
    for body in ["a", "b", "c"] {
        publish(&ch, "", "capped", body, persistent()).await;
    }
    assert_eq!(bodies(&drain(&ch, "capped").await), vec!["b", "c"]);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tracing_stays_on_across_a_restart() {
    let dir = data_dir("tracing");
    let server = start(&dir).await;
    let vhost = server.broker().vhost("/").unwrap();
    t(vhost.set_tracing(true)).await.unwrap();
    server.shutdown().await;
    let server = start(&dir).await;
    assert!(server.broker().vhost("/").unwrap().tracing());
    t(server.broker().vhost("/").unwrap().set_tracing(false))
        .await
        .unwrap();
    server.shutdown().await;
    let server = start(&dir).await;
    assert!(!server.broker().vhost("/").unwrap().tracing());
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
