//! The consumer timeout, as RabbitMQ's `consumer_timeout`: a channel holding a
//! delivery unacknowledged longer than the timeout is closed with 406
//! PRECONDITION_FAILED; a queue's `x-consumer-timeout` overrides the broker's.

mod common;

use common::{publish, t, unique};
use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use std::time::Duration;

async fn start(timeout: Option<Duration>) -> warren::Server {
    let mut config = warren::Config::for_tests();
    config.amqp.consumer_timeout = timeout;
    t(warren::start(config)).await.expect("warren starts")
}

async fn connect(server: &warren::Server) -> lapin::Connection {
    let url = format!(
        "amqp://guest:guest@127.0.0.1:{}/%2F",
        server.amqp_addr().port()
    );
    common::connect_url(&url).await.expect("connect")
}

/// Consumes one message from a fresh queue declared with `args` and leaves it
/// unacked (or acks it); returns the channel.
async fn hold_one(conn: &lapin::Connection, args: FieldTable, ack: bool) -> lapin::Channel {
    let ch = t(conn.create_channel()).await.unwrap();
    let q = unique("timeout");
    t(ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), args))
        .await
        .unwrap();
    let mut consumer = t(ch.basic_consume(
        q.as_str().into(),
        "c".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish(&ch, "", &q, b"work").await;
    let delivery = t(consumer.next()).await.expect("delivery").expect("ok");
    if ack {
        t(delivery.ack(BasicAckOptions::default())).await.unwrap();
    }
    ch
}

async fn wait_closed(ch: &lapin::Channel, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if !ch.status().connected() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn an_unacked_delivery_past_the_timeout_closes_its_channel_with_406() {
    let server = start(Some(Duration::from_millis(300))).await;
    let conn = connect(&server).await;
    let ch = hold_one(&conn, FieldTable::default(), false).await;
    let close = common::watch(&ch).await;
    let reason = close.reason().await;
    assert_eq!(reason.code, 406);
    assert_eq!(
        reason.text,
        "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value \
         used: 300 ms. This timeout value can be configured, see consumers doc guide to learn \
         more"
    );
    // Acked in time: the channel stays.
    let acked = hold_one(&conn, FieldTable::default(), true).await;
    assert!(!wait_closed(&acked, Duration::from_millis(1500)).await);
    server.shutdown().await;
}

#[tokio::test]
async fn a_queue_timeout_overrides_the_broker_default() {
    let server = start(None).await;
    let conn = connect(&server).await;
    let mut args = FieldTable::default();
    args.insert("x-consumer-timeout".into(), AMQPValue::LongInt(200));
    let ch = hold_one(&conn, args, false).await;
    assert!(
        wait_closed(&ch, Duration::from_secs(3)).await,
        "closed by x-consumer-timeout"
    );
    // Without the argument, and no broker default, nothing times out.
    let other = hold_one(&conn, FieldTable::default(), false).await;
    assert!(!wait_closed(&other, Duration::from_millis(1500)).await);
    server.shutdown().await;
}
