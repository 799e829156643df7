//! Priority queues (`x-max-priority`), as RabbitMQ's: higher priorities are delivered
//! first, in publish order within a priority; priorities above the maximum count as
//! the maximum; a message without one has priority 0; a requeued message goes back
//! to its place among its priority; without `x-max-priority` the property is ignored.

mod common;

use common::{broker, publish_with, sync, t, unique};
use lapin::options::{
    BasicGetOptions, BasicNackOptions, BasicQosOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

async fn priority_queue(ch: &Channel, max: Option<u8>) -> String {
    let name = unique("prio");
    let mut args = FieldTable::default();
    if let Some(max) = max {
        args.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(max));
    }
    t(ch.queue_declare(name.as_str().into(), QueueDeclareOptions::default(), args))
        .await
        .expect("declare");
    name
}

async fn publish_all(ch: &Channel, queue: &str, first: usize, priorities: &[Option<u8>]) {
    for (i, p) in priorities.iter().enumerate() {
        let i = first + i;
        let mut props = BasicProperties::default();
        if let Some(p) = p {
            props = props.with_priority(*p);
        }
        publish_with(ch, "", queue, format!("m{i}").as_bytes(), props).await;
    }
    sync(ch, queue).await;
}

async fn get_all(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(m) = t(ch.basic_get(queue.into(), BasicGetOptions { no_ack: true }))
        .await
        .expect("get")
    {
        out.push(String::from_utf8_lossy(&m.delivery.data).into_owned());
    }
    out
}

async fn delete(ch: &Channel, queue: &str) {
    t(ch.queue_delete(queue.into(), QueueDeleteOptions::default()))
        .await
        .expect("delete");
}

#[tokio::test]
async fn higher_priorities_first_in_order_within_a_priority() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = priority_queue(&ch, Some(5)).await;
    publish_all(
        &ch,
        &q,
        0,
        &[Some(1), Some(5), Some(3), Some(5), Some(0), Some(9), None],
    )
    .await;
    assert_eq!(
        get_all(&ch, &q).await,
        vec!["m1", "m3", "m5", "m2", "m0", "m4", "m6"],
        "9 counts as the maximum 5; no priority is 0"
    );
    delete(&ch, &q).await;
}

#[tokio::test]
async fn without_max_priority_the_property_is_ignored() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = priority_queue(&ch, None).await;
    publish_all(&ch, &q, 0, &[Some(1), Some(9), Some(3)]).await;
    assert_eq!(get_all(&ch, &q).await, vec!["m0", "m1", "m2"]);
    delete(&ch, &q).await;
}

#[tokio::test]
async fn a_requeued_message_returns_to_its_place_among_its_priority() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    t(ch.basic_qos(10, BasicQosOptions::default()))
        .await
        .unwrap();
    let q = priority_queue(&ch, Some(10)).await;
    publish_all(&ch, &q, 0, &[Some(2), Some(2), Some(7)]).await;
    // Takes m2 (priority 7) then m0; puts m0 back.
    let first = t(ch.basic_get(q.as_str().into(), BasicGetOptions::default()))
        .await
        .unwrap()
        .expect("m2");
    assert_eq!(&first.delivery.data[..], b"m2");
    let second = t(ch.basic_get(q.as_str().into(), BasicGetOptions::default()))
        .await
        .unwrap()
        .expect("m0");
    assert_eq!(&second.delivery.data[..], b"m0");
    t(second.delivery.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .unwrap();
    publish_all(&ch, &q, 3, &[Some(2), Some(3)]).await;
    // m4 (3), then priority 2 in order: m0 (requeued, first), m1, m3.
    assert_eq!(get_all(&ch, &q).await, vec!["m4", "m0", "m1", "m3"]);
    delete(&ch, &q).await;
}
