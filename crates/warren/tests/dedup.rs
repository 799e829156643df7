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
