//! The delayed-message exchange (`x-delayed-message` with `x-delayed-type`, and the
//! `x-delay` header), compatible with RabbitMQ's delayed-message plugin, held on disk
//! and surviving restarts. RabbitMQ's Debian package has no such plugin, so these run
//! against Warren only.

mod common;

use common::{
    broker, confirm_channel, connect_url, consume, declare_queue, expect_channel_error,
    expect_connection_error, next, t, unique, within,
};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn delayed_args(routing_type: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-delayed-type".into(),
        AMQPValue::LongString(routing_type.into()),
    );
    args
}

async fn declare_delayed(ch: &Channel, name: &str, routing_type: &str, durable: bool) {
    t(ch.exchange_declare(
        name.into(),
        ExchangeKind::Custom("x-delayed-message".into()),
        ExchangeDeclareOptions {
            durable,
            ..Default::default()
        },
        delayed_args(routing_type),
    ))
    .await
    .expect("declare delayed exchange");
}

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    t(ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("bind");
}

fn with_delay(delay: i64, persistent: bool) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("x-delay".into(), AMQPValue::LongLongInt(delay));
    let props = BasicProperties::default().with_headers(headers);
    if persistent {
        props.with_delivery_mode(2)
    } else {
        props
    }
}

/// Publishes on a confirm channel and waits for the ack.
async fn publish_delayed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &str,
    props: BasicProperties,
) {
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

async fn get_body(ch: &Channel, queue: &str) -> Option<String> {
    t(ch.basic_get(queue.into(), BasicGetOptions { no_ack: true }))
        .await
        .expect("get")
        .map(|m| String::from_utf8_lossy(&m.delivery.data).into_owned())
}

#[tokio::test]
async fn declaring_needs_an_existing_delayed_type() {
    let b = broker().await;
    if b.is_external() {
        return;
    }
    let conn = b.connect().await;
    let ch = t(conn.create_channel()).await.unwrap();
    let res = ch
        .exchange_declare(
            unique("dx").as_str().into(),
            ExchangeKind::Custom("x-delayed-message".into()),
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing exchange type",
    )
    .await;

    let ch = t(conn.create_channel()).await.unwrap();
    let res = ch
        .exchange_declare(
            unique("dx").as_str().into(),
            ExchangeKind::Custom("x-delayed-message".into()),
            ExchangeDeclareOptions::default(),
            delayed_args("x-delayed-message"),
        )
        .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - Invalid argument, 'x-delayed-message' can't be used for 'x-delayed-type'",
    )
    .await;

    // Redeclaring with another routing type is inequivalent.
    let ch = t(conn.create_channel()).await.unwrap();
    let name = unique("dx");
    declare_delayed(&ch, &name, "direct", false).await;
    declare_delayed(&ch, &name, "direct", false).await;
    let res = ch
        .exchange_declare(
            name.as_str().into(),
            ExchangeKind::Custom("x-delayed-message".into()),
            ExchangeDeclareOptions::default(),
            delayed_args("topic"),
        )
        .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'x-delayed-type' for exchange '{name}' in vhost '/': received 'topic' but current is 'direct'"
        ),
    )
    .await;

    let res = conn
        .create_channel()
        .await
        .unwrap()
        .exchange_declare(
            unique("dx").as_str().into(),
            ExchangeKind::Custom("x-delayed-message".into()),
            ExchangeDeclareOptions::default(),
            delayed_args("nonsense"),
        )
        .await;
    expect_connection_error(
        &b,
        &conn,
        res,
        503,
        "COMMAND_INVALID - unknown exchange type 'nonsense'",
    )
    .await;
}

#[tokio::test]
async fn a_delayed_message_arrives_after_its_delay_and_undelayed_ones_at_once() {
    let b = broker().await;
    if b.is_external() {
        return;
    }
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    let (ex, q) = (unique("dx"), unique("dq"));
    declare_delayed(&ch, &ex, "direct", false).await;
    declare_queue(&ch, &q).await;
    bind(&ch, &q, &ex, "k").await;
    let mut consumer = consume(&ch, &q, true).await;
    let start = Instant::now();
    publish_delayed(&ch, &ex, "k", "late", with_delay(600, false)).await;
    publish_delayed(&ch, &ex, "k", "early", with_delay(300, false)).await;
    publish_delayed(&ch, &ex, "k", "now", BasicProperties::default()).await;
    publish_delayed(&ch, &ex, "k", "negative", with_delay(-5, false)).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let d = within(Duration::from_secs(5), next(&mut consumer)).await;
        seen.push((
            String::from_utf8_lossy(&d.data).into_owned(),
            start.elapsed(),
        ));
    }
    let bodies: Vec<&str> = seen.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(bodies, vec!["now", "negative", "early", "late"]);
    assert!(seen[0].1 < Duration::from_millis(250), "{seen:?}");
    assert!(seen[2].1 >= Duration::from_millis(290), "{seen:?}");
    assert!(seen[3].1 >= Duration::from_millis(590), "{seen:?}");
}

#[tokio::test]
async fn a_delayed_message_is_routed_by_the_bindings_at_its_due_time() {
    let b = broker().await;
    if b.is_external() {
        return;
    }
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    let (ex, early_bird, latecomer) = (unique("dx"), unique("dq1"), unique("dq2"));
    declare_delayed(&ch, &ex, "topic", false).await;
    declare_queue(&ch, &early_bird).await;
    declare_queue(&ch, &latecomer).await;
    bind(&ch, &early_bird, &ex, "orders.#").await;
    publish_delayed(&ch, &ex, "orders.eu", "o1", with_delay(300, false)).await;
    // Bound after the publish, before the due time: it gets the message too.
    bind(&ch, &latecomer, &ex, "*.eu").await;
    assert_eq!(get_body(&ch, &early_bird).await, None, "not yet");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(get_body(&ch, &early_bird).await.as_deref(), Some("o1"));
    assert_eq!(get_body(&ch, &latecomer).await.as_deref(), Some("o1"));
}

#[tokio::test]
async fn deleting_the_exchange_drops_what_it_holds() {
    let b = broker().await;
    if b.is_external() {
        return;
    }
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    let (ex, q) = (unique("dx"), unique("dq"));
    declare_delayed(&ch, &ex, "fanout", false).await;
    declare_queue(&ch, &q).await;
    bind(&ch, &q, &ex, "").await;
    publish_delayed(&ch, &ex, "", "doomed", with_delay(200, false)).await;
    t(ch.exchange_delete(ex.as_str().into(), ExchangeDeleteOptions::default()))
        .await
        .expect("delete");
    declare_delayed(&ch, &ex, "fanout", false).await;
    bind(&ch, &q, &ex, "").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        get_body(&ch, &q).await,
        None,
        "held by the deleted exchange"
    );
}

fn data_dir(name: &str) -> PathBuf {
    common::restart_dir("delayed", name)
}

async fn start(dir: &std::path::Path) -> warren::Server {
    common::start_on(dir).await
}

async fn channel(server: &warren::Server) -> (lapin::Connection, Channel) {
    let url = format!(
        "amqp://guest:guest@127.0.0.1:{}/%2F",
        server.amqp_addr().port()
    );
    let conn = connect_url(&url).await.expect("connect");
    let ch = confirm_channel(&conn).await;
    (conn, ch)
}

#[tokio::test]
async fn persistent_delayed_messages_survive_a_restart_and_transient_ones_do_not() {
    let dir = data_dir("restart");
    let server = start(&dir).await;
    let (_conn, ch) = channel(&server).await;
    declare_delayed(&ch, "later", "direct", true).await;
    t(ch.queue_declare(
        "due".into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    bind(&ch, "due", "later", "k").await;
    publish_delayed(&ch, "later", "k", "kept-late", with_delay(1500, true)).await;
    publish_delayed(&ch, "later", "k", "kept-early", with_delay(200, true)).await;
    publish_delayed(&ch, "later", "k", "transient", with_delay(200, false)).await;
    server.shutdown().await;
    // Down past the early message's due time.
    tokio::time::sleep(Duration::from_millis(400)).await;

    let server = start(&dir).await;
    let (_conn, ch) = channel(&server).await;
    let mut consumer = consume(&ch, "due", true).await;
    let first = within(Duration::from_secs(3), next(&mut consumer)).await;
    assert_eq!(first.data, b"kept-early", "overdue: routed at start-up");
    let second = within(Duration::from_secs(5), next(&mut consumer)).await;
    assert_eq!(second.data, b"kept-late");
    server.shutdown().await;

    // Released messages are not held again after another restart.
    let server = start(&dir).await;
    let (_conn, ch) = channel(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get_body(&ch, "due").await, None);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn messages_beyond_the_memory_budget_come_back_from_the_store_in_due_order() {
    // 100 × 120 KB: more than the 8 MiB the exchange keeps in memory, so most are
    // read back from the store shortly before they are due.
    const COUNT: usize = 100;
    const BODY: usize = 120 * 1024;
    let dir = data_dir("beyond-budget");
    let server = start(&dir).await;
    let (_conn, ch) = channel(&server).await;
    declare_delayed(&ch, "big-later", "direct", false).await;
    declare_queue(&ch, "big-due").await;
    bind(&ch, "big-due", "big-later", "k").await;
    // Due 1.5 s to 2.5 s from now, 10 ms apart, in an order unlike publish order.
    let slots: Vec<usize> = (0..COUNT).map(|i| (i * 37) % COUNT).collect();
    let body_of = |slot: usize| -> Vec<u8> {
        let mut body = vec![(slot % 251) as u8; BODY];
        body[..8].copy_from_slice(&(slot as u64).to_be_bytes());
        body
    };
    let published = Instant::now();
    let due_of = |slot: usize| Duration::from_millis(1500 + 10 * slot as u64);
    let mut confirms = Vec::new();
    for &slot in &slots {
        let delay = due_of(slot).saturating_sub(published.elapsed()).as_millis() as i64;
        assert!(delay > 0, "publishing took over 1.5 s");
        let confirm = t(ch.basic_publish(
            "big-later".into(),
            "k".into(),
            BasicPublishOptions::default(),
            &body_of(slot),
            with_delay(delay, false),
        ))
        .await
        .expect("publish");
        confirms.push(confirm);
    }
    for confirm in confirms {
        assert!(t(confirm).await.expect("confirm").is_ack(), "confirmed");
    }
    let mut consumer = consume(&ch, "big-due", true).await;
    for slot in 0..COUNT {
        let d = within(Duration::from_secs(10), next(&mut consumer)).await;
        let got = u64::from_be_bytes(d.data[..8].try_into().unwrap()) as usize;
        assert_eq!(got, slot, "in due order");
        assert!(d.data == body_of(slot), "body of slot {slot} intact");
        // The broker counts whole milliseconds: a little slack.
        assert!(
            published.elapsed() + Duration::from_millis(2) >= due_of(slot),
            "slot {slot} not early"
        );
    }
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
