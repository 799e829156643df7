//! A queue far longer than what it keeps as full entries (its backlog goes to a
//! compact tail): every message comes back in order with its exchange, routing key,
//! properties and body, requeued ones first; the counts stay right throughout.

mod common;

use common::{broker, confirm_channel, t};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::BasicProperties;

const COUNT: usize = 10_000;

fn body(i: usize) -> Vec<u8> {
    let mut b = vec![(i % 251) as u8; 8 + i % 700];
    b[..8].copy_from_slice(&(i as u64).to_be_bytes());
    b
}

/// Which route message `i` takes: the default exchange or amq.direct with one of
/// two keys, changing every few messages.
fn route(i: usize, queue: &str) -> (&'static str, String) {
    match (i / 3) % 3 {
        0 => ("", queue.to_string()),
        1 => ("amq.direct", format!("{queue}.a")),
        _ => ("amq.direct", format!("{queue}.b")),
    }
}

fn properties(i: usize) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("i".into(), AMQPValue::LongLongInt(i as i64));
    let mut p = BasicProperties::default()
        .with_message_id(format!("m-{i}").into())
        .with_headers(headers);
    if i.is_multiple_of(2) {
        p = p.with_delivery_mode(2);
    }
    if i.is_multiple_of(5) {
        p = p.with_expiration("3600000".into());
    }
    if i.is_multiple_of(7) {
        p = p.with_content_type("text/plain".into());
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_queue_gives_every_message_back_in_order_with_its_route_and_properties() {
    let b = broker().await;
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    let queue = common::unique("long");
    t(ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for key in [format!("{queue}.a"), format!("{queue}.b")] {
        t(ch.queue_bind(
            queue.as_str().into(),
            "amq.direct".into(),
            key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    let mut confirms = Vec::with_capacity(COUNT);
    for i in 0..COUNT {
        let (exchange, key) = route(i, &queue);
        confirms.push(
            t(ch.basic_publish(
                exchange.into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                &body(i),
                properties(i),
            ))
            .await
            .unwrap(),
        );
    }
    for c in confirms {
        assert!(t(c).await.unwrap().is_ack());
    }

    // Take the first three and give them back: they are first again, redelivered.
    let mut taken = Vec::new();
    for _ in 0..3 {
        let m = t(ch.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false }))
            .await
            .unwrap()
            .expect("a message");
        taken.push(m.delivery.delivery_tag);
    }
    for tag in taken {
        t(ch.basic_nack(
            tag,
            BasicNackOptions {
                multiple: false,
                requeue: true,
            },
        ))
        .await
        .unwrap();
    }
    let count = t(ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap()
    .message_count();
    assert_eq!(count as usize, COUNT);

    t(ch.basic_qos(300, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut consumer = t(ch.basic_consume(
        queue.as_str().into(),
        "c".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for i in 0..COUNT {
        let d = t(consumer.next()).await.expect("delivery").expect("ok");
        let (exchange, key) = route(i, &queue);
        assert!(d.data == body(i), "message {i} intact and in order");
        assert_eq!(d.redelivered, i < 3, "message {i}");
        assert_eq!(d.exchange.as_str(), exchange, "message {i}");
        assert_eq!(d.routing_key.as_str(), key, "message {i}");
        let p = &d.properties;
        let want = properties(i);
        assert_eq!(p.message_id(), want.message_id(), "message {i}");
        assert_eq!(p.delivery_mode(), want.delivery_mode(), "message {i}");
        assert_eq!(p.expiration(), want.expiration(), "message {i}");
        assert_eq!(p.content_type(), want.content_type(), "message {i}");
        let header = p
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get(&ShortString::from("i")).cloned());
        assert_eq!(
            header,
            Some(AMQPValue::LongLongInt(i as i64)),
            "message {i}"
        );
        t(d.ack(BasicAckOptions::default())).await.unwrap();
    }
    let left = t(ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_a_long_queue_empties_it_and_it_fills_again() {
    let b = broker().await;
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    let queue = common::unique("long-purge");
    t(ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let publish = |n: usize, from: usize| {
        let ch = ch.clone();
        let queue = queue.clone();
        async move {
            let mut confirms = Vec::new();
            for i in from..from + n {
                confirms.push(
                    t(ch.basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &body(i),
                        BasicProperties::default(),
                    ))
                    .await
                    .unwrap(),
                );
            }
            for c in confirms {
                assert!(t(c).await.unwrap().is_ack());
            }
        }
    };
    publish(6_000, 0).await;
    let purged = t(ch.queue_purge(queue.as_str().into(), Default::default()))
        .await
        .unwrap();
    assert_eq!(purged, 6_000);
    publish(3_000, 100_000).await;
    for i in 100_000..103_000 {
        let m = t(ch.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .expect("a message");
        assert!(m.delivery.data == body(i), "message {i} after the purge");
    }
    let none = t(ch.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap();
    assert!(none.is_none());
    t(ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
}
