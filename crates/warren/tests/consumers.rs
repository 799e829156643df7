//! Which consumer gets a message: consumer priorities (`x-priority` on basic.consume:
//! higher first, lower ones only while the higher are out of room) and single active
//! consumer (`x-single-active-consumer`: one at a time, the next takes over when it
//! goes), as RabbitMQ does them.

mod common;

use common::{assert_channel_error, broker, publish, t, unique};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Consumer};
use std::time::Duration;

async fn queue(ch: &Channel, args: FieldTable) -> String {
    let name = unique("cons");
    t(ch.queue_declare(name.as_str().into(), QueueDeclareOptions::default(), args))
        .await
        .expect("declare");
    name
}

async fn consume(ch: &Channel, queue: &str, tag: &str, priority: Option<i32>) -> Consumer {
    let mut args = FieldTable::default();
    if let Some(p) = priority {
        args.insert("x-priority".into(), AMQPValue::LongInt(p));
    }
    t(ch.basic_consume(
        queue.into(),
        tag.into(),
        BasicConsumeOptions::default(),
        args,
    ))
    .await
    .expect("consume")
}

/// Bodies received by `consumer` within `wait`, acked unless `hold`.
async fn received(consumer: &mut Consumer, wait: Duration, hold: bool) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Some(Ok(d))) = tokio::time::timeout(wait, consumer.next()).await {
        out.push(String::from_utf8_lossy(&d.data).into_owned());
        if !hold {
            t(d.ack(BasicAckOptions::default())).await.unwrap();
        }
    }
    out
}

#[tokio::test]
async fn a_higher_priority_consumer_gets_everything_while_it_has_room() {
    let b = broker().await;
    let conn = b.connect().await;
    let (high_ch, low_ch) = (
        t(conn.create_channel()).await.unwrap(),
        t(conn.create_channel()).await.unwrap(),
    );
    let q = queue(&high_ch, FieldTable::default()).await;
    let mut low = consume(&low_ch, &q, "low", None).await;
    let mut high = consume(&high_ch, &q, "high", Some(10)).await;
    for i in 0..6 {
        publish(&high_ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let wait = Duration::from_millis(300);
    assert_eq!(received(&mut high, wait, false).await.len(), 6);
    assert!(received(&mut low, wait, false).await.is_empty());
    t(high_ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_lower_priority_consumer_gets_what_the_higher_has_no_room_for() {
    let b = broker().await;
    let conn = b.connect().await;
    let (high_ch, low_ch) = (
        t(conn.create_channel()).await.unwrap(),
        t(conn.create_channel()).await.unwrap(),
    );
    t(high_ch.basic_qos(2, BasicQosOptions::default()))
        .await
        .unwrap();
    let q = queue(&high_ch, FieldTable::default()).await;
    let mut high = consume(&high_ch, &q, "high", Some(5)).await;
    let mut low = consume(&low_ch, &q, "low", Some(-1)).await;
    for i in 0..5 {
        publish(&low_ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let wait = Duration::from_millis(300);
    // The high one holds its two unacked: the rest go to the low one.
    assert_eq!(received(&mut high, wait, true).await, vec!["m0", "m1"]);
    assert_eq!(
        received(&mut low, wait, false).await,
        vec!["m2", "m3", "m4"]
    );
    t(low_ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_non_integer_consumer_priority_is_refused() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = queue(&ch, FieldTable::default()).await;
    let mut args = FieldTable::default();
    args.insert("x-priority".into(), AMQPValue::LongString("high".into()));
    let res = t(ch.basic_consume(
        q.as_str().into(),
        "c".into(),
        BasicConsumeOptions::default(),
        args,
    ))
    .await;
    assert_channel_error(
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - invalid arg 'x-priority' for queue '{q}' in vhost '/': \
             \"expected integer, got longstr\""
        ),
    );
    let (_conn2, ch2) = b.connect_channel().await;
    t(ch2.queue_delete(q.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_single_active_consumer_gets_everything_until_it_goes() {
    let b = broker().await;
    let conn = b.connect().await;
    let (first_ch, second_ch) = (
        t(conn.create_channel()).await.unwrap(),
        t(conn.create_channel()).await.unwrap(),
    );
    let mut args = FieldTable::default();
    args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    let q = queue(&first_ch, args).await;
    let mut first = consume(&first_ch, &q, "first", None).await;
    let mut second = consume(&second_ch, &q, "second", None).await;
    for i in 0..4 {
        publish(&first_ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let wait = Duration::from_millis(300);
    assert_eq!(received(&mut first, wait, false).await.len(), 4);
    assert!(received(&mut second, wait, false).await.is_empty());
    // The active one cancels: the next takes over.
    t(first_ch.basic_cancel("first".into(), BasicCancelOptions::default()))
        .await
        .unwrap();
    for i in 4..6 {
        publish(&first_ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    assert_eq!(received(&mut second, wait, false).await, vec!["m4", "m5"]);
    t(first_ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
}
