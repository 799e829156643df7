//! Queue class: declare (server-named, passive, exclusive, auto-delete, arguments), bind,
//! purge, delete, and the errors of each.

mod common;

use std::time::Duration;

use common::*;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection};

async fn declare_with(
    ch: &Channel,
    name: &str,
    options: QueueDeclareOptions,
    args: FieldTable,
) -> lapin::Result<lapin::Queue> {
    t(ch.queue_declare(name.into(), options, args)).await
}

async fn passive(ch: &Channel, name: &str) -> lapin::Result<lapin::Queue> {
    declare_with(
        ch,
        name,
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
}

fn no_queue(q: &str) -> String {
    format!("NOT_FOUND - no queue '{q}' in vhost '/'")
}

fn locked(q: &str) -> String {
    format!(
        "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{q}' in vhost '/'. \
         It could be originally declared on another connection or the exclusive property \
         value does not match that of the original declaration."
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_named_queues_are_amq_gen() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q1 = declare_temp_queue(&ch).await;
    let q2 = declare_temp_queue(&ch).await;
    assert_ne!(q1, q2);
    for q in [&q1, &q2] {
        let suffix = q.strip_prefix("amq.gen-").expect("amq.gen- prefix");
        assert_eq!(suffix.len(), 22, "{q}: 16 random bytes, base64url");
        assert!(
            suffix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{q}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_ok_reports_message_and_consumer_counts() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = unique("q-counts");
    let ok = declare_with(
        &ch,
        &q,
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    assert_eq!(ok.name().as_str(), q);
    assert_eq!((ok.message_count(), ok.consumer_count()), (0, 0));
    let pch = confirm_channel(&_conn).await;
    for i in 0..3 {
        publish_confirmed(&pch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let ok = passive(&ch, &q).await.unwrap();
    assert_eq!((ok.message_count(), ok.consumer_count()), (3, 0));
    let ch2 = t(_conn.create_channel()).await.unwrap();
    t(ch2.basic_qos(1, Default::default())).await.unwrap();
    let _c1 = consume(&ch2, &q, false).await;
    let _c2 = consume(&ch2, &q, false).await;
    // Two messages are now delivered and unacked, one is ready.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ok = declare_with(
        &ch,
        &q,
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (ok.message_count(), ok.consumer_count()),
        (1, 2),
        "message_count counts ready messages only"
    );
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declare_of_a_missing_queue_is_404() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-missing");
    let res = passive(&ch, &q).await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_an_amq_prefixed_queue_is_403() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = format!("amq.{}", unique("q"));
    let res = declare_with(
        &ch,
        &q,
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        &format!("ACCESS_REFUSED - queue name '{q}' contains reserved prefix 'amq.*'"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclare_with_different_arguments_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-args");
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(10));
    declare_with(&ch, &q, QueueDeclareOptions::default(), args)
        .await
        .unwrap();
    let mut other = FieldTable::default();
    other.insert("x-max-length".into(), AMQPValue::LongInt(20));
    let res = declare_with(&ch, &q, QueueDeclareOptions::default(), other).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '{q}' in vhost '/': \
             received '20' but current is '10'"
        ),
    )
    .await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclare_adding_an_argument_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-addarg");
    declare_queue(&ch, &q).await;
    let mut args = FieldTable::default();
    args.insert("x-message-ttl".into(), AMQPValue::LongInt(1000));
    let res = declare_with(&ch, &q, QueueDeclareOptions::default(), args).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '{q}' in vhost '/': \
             received the value '1000' of type 'signedint' but current is none"
        ),
    )
    .await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclare_with_different_durability_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-durable");
    declare_queue(&ch, &q).await;
    let res = declare_with(
        &ch,
        &q,
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{q}' in vhost '/': \
             received 'true' but current is 'false'"
        ),
    )
    .await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclare_with_different_auto_delete_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-autodel");
    declare_queue(&ch, &q).await;
    let res = declare_with(
        &ch,
        &q,
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue '{q}' in vhost '/': \
             received 'true' but current is 'false'"
        ),
    )
    .await;
    cleanup(&b, &[&q], &[]).await;
}

/// Declares an exclusive queue on `owner` and returns the name.
async fn exclusive_queue(owner: &Connection) -> (Channel, String) {
    let ch = t(owner.create_channel()).await.unwrap();
    let q = unique("q-excl");
    declare_with(
        &ch,
        &q,
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    (ch, q)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_queue_is_locked_for_other_connections_declare_and_passive() {
    let b = broker().await;
    let owner = b.connect().await;
    let (_och, q) = exclusive_queue(&owner).await;
    let (other, ch) = b.connect_channel().await;
    let res = declare_with(
        &ch,
        &q,
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await;
    expect_channel_error(&other, &ch, res, 405, &locked(&q)).await;
    let ch = t(other.create_channel()).await.unwrap();
    let res = passive(&ch, &q).await;
    expect_channel_error(&other, &ch, res, 405, &locked(&q)).await;
    let ch = t(other.create_channel()).await.unwrap();
    let res = declare_with(
        &ch,
        &q,
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    expect_channel_error(&other, &ch, res, 405, &locked(&q)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_queue_is_locked_for_other_connections_every_operation() {
    let b = broker().await;
    let owner = b.connect().await;
    let (och, q) = exclusive_queue(&owner).await;
    publish(&och, "", &q, b"m").await;
    let other = b.connect().await;

    let ch = t(other.create_channel()).await.unwrap();
    let res = t(ch.basic_consume(
        q.as_str().into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(&other, &ch, res, 405, &locked(&q)).await;

    let ch = t(other.create_channel()).await.unwrap();
    let res = t(ch.basic_get(q.as_str().into(), BasicGetOptions::default())).await;
    expect_channel_error(&other, &ch, res, 405, &locked(&q)).await;

    let ch = t(other.create_channel()).await.unwrap();
    let res = t(ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default())).await;
    expect_channel_error(&other, &ch, res, 405, &locked(&q)).await;

    let ch = t(other.create_channel()).await.unwrap();
    let res = t(ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())).await;
    expect_channel_error(&other, &ch, res, 405, &locked(&q)).await;

    let ch = t(other.create_channel()).await.unwrap();
    let res = t(ch.queue_bind(
        q.as_str().into(),
        "amq.fanout".into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(&other, &ch, res, 405, &locked(&q)).await;

    // The owner still has its message.
    assert_eq!(drain(&och, &q).await, vec!["m"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_queue_is_usable_from_other_channels_of_the_owner() {
    let b = broker().await;
    let owner = b.connect().await;
    let (_och, q) = exclusive_queue(&owner).await;
    let ch2 = t(owner.create_channel()).await.unwrap();
    passive(&ch2, &q).await.expect("same connection may use it");
    publish(&ch2, "", &q, b"x").await;
    assert_eq!(drain(&ch2, &q).await, vec!["x"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_queue_is_deleted_when_its_connection_closes() {
    let b = broker().await;
    let owner = b.connect().await;
    let (_och, q) = exclusive_queue(&owner).await;
    t(owner.close(200, "bye".into())).await.unwrap();
    let (other, ch) = b.connect_channel().await;
    // Deletion is asynchronous in RabbitMQ: poll briefly.
    let mut last = None;
    for _ in 0..50 {
        match passive(&ch, &q).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    let err = last.expect("queue should be gone");
    let f = failure(&err);
    assert_eq!((f.code, f.text), (404, no_queue(&q)));
    assert_connection_usable(&other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_queue_goes_when_its_last_consumer_cancels() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-autodelete");
    declare_with(
        &ch,
        &q,
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    // Never consumed: it stays.
    tokio::time::sleep(Duration::from_millis(100)).await;
    passive(&ch, &q)
        .await
        .expect("unused auto-delete queue stays");
    let c1 = consume(&ch, &q, false).await;
    let c2 = consume(&ch, &q, false).await;
    t(ch.basic_cancel(c1.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    let ok = passive(&ch, &q).await.expect("one consumer left");
    assert_eq!(ok.consumer_count(), 1);
    t(ch.basic_cancel(c2.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    let res = passive(&ch, &q).await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_queue_goes_when_the_consuming_channel_closes() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-autodelete-close");
    declare_with(
        &ch,
        &q,
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let consumer_ch = t(conn.create_channel()).await.unwrap();
    let _c = consume(&consumer_ch, &q, false).await;
    t(consumer_ch.close(200, "bye".into())).await.unwrap();
    let mut gone = false;
    for _ in 0..50 {
        let probe = t(conn.create_channel()).await.unwrap();
        if passive(&probe, &q).await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "auto-delete queue should be deleted");
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_and_delete_return_message_counts() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = unique("q-purge");
    declare_queue(&ch, &q).await;
    let pch = confirm_channel(&_conn).await;
    for i in 0..5 {
        publish_confirmed(&pch, "", &q, format!("{i}").as_bytes()).await;
    }
    let purged = t(ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default()))
        .await
        .unwrap();
    assert_eq!(purged, 5);
    assert!(drain(&ch, &q).await.is_empty());
    for i in 0..3 {
        publish_confirmed(&pch, "", &q, format!("{i}").as_bytes()).await;
    }
    let deleted = t(ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
    assert_eq!(deleted, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_leaves_unacked_messages_alone() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    for i in 0..3 {
        publish(&ch, "", &q, format!("{i}").as_bytes()).await;
    }
    let held = t(ch.basic_get(q.as_str().into(), BasicGetOptions { no_ack: false }))
        .await
        .unwrap()
        .expect("one message");
    let purged = t(ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default()))
        .await
        .unwrap();
    assert_eq!(purged, 2, "the unacked message is not purged");
    t(held.delivery.nack(lapin::options::BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .unwrap();
    assert_eq!(drain(&ch, &q).await, vec!["0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_unused_with_a_consumer_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-ifunused");
    declare_queue(&ch, &q).await;
    let cch = t(conn.create_channel()).await.unwrap();
    let _c = consume(&cch, &q, false).await;
    let res = t(ch.queue_delete(
        q.as_str().into(),
        QueueDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!("PRECONDITION_FAILED - queue '{q}' in vhost '/' in use"),
    )
    .await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_empty_with_messages_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-ifempty");
    declare_queue(&ch, &q).await;
    publish_confirmed(&confirm_channel(&conn).await, "", &q, b"still here").await;
    let res = t(ch.queue_delete(
        q.as_str().into(),
        QueueDeleteOptions {
            if_empty: true,
            ..Default::default()
        },
    ))
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!("PRECONDITION_FAILED - queue '{q}' in vhost '/' not empty"),
    )
    .await;
    let ch = t(conn.create_channel()).await.unwrap();
    assert_eq!(passive(&ch, &q).await.unwrap().message_count(), 1);
    let n = t(ch.queue_delete(
        q.as_str().into(),
        QueueDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await
    .expect("if_unused with no consumers succeeds");
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_of_a_missing_queue_is_404() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-nopurge");
    let res = t(ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default())).await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_from_a_missing_queue_is_404() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-noget");
    let res = t(ch.basic_get(q.as_str().into(), BasicGetOptions::default())).await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_from_a_missing_queue_is_404() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-noconsume");
    let res = t(ch.basic_consume(
        q.as_str().into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_missing_queue_succeeds_with_zero() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let n = t(ch.queue_delete(
        unique("q-never").as_str().into(),
        QueueDeleteOptions::default(),
    ))
    .await
    .expect("delete of a missing queue is ok");
    assert_eq!(n, 0);
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_to_a_missing_queue_or_exchange_is_404() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-nobind");
    let res = t(ch.queue_bind(
        q.as_str().into(),
        "amq.direct".into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;

    let ch = t(conn.create_channel()).await.unwrap();
    let real = declare_temp_queue(&ch).await;
    let x = unique("x-nobind");
    let res = t(ch.queue_bind(
        real.as_str().into(),
        x.as_str().into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        404,
        &format!("NOT_FOUND - no exchange '{x}' in vhost '/'"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_is_idempotent_and_unbind_removes_it() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    for _ in 0..2 {
        t(ch.queue_bind(
            q.as_str().into(),
            "amq.direct".into(),
            q.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    publish(&ch, "amq.direct", &q, b"once").await;
    sync(&ch, &q).await;
    assert_eq!(drain(&ch, &q).await, vec!["once"]);
    t(ch.queue_unbind(
        q.as_str().into(),
        "amq.direct".into(),
        q.as_str().into(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish(&ch, "amq.direct", &q, b"unbound").await;
    sync(&ch, &q).await;
    assert!(drain(&ch, &q).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_queue_is_bound_to_the_default_exchange() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish(&ch, "", &q, b"direct to queue").await;
    publish(&ch, "", &unique("q-nobody"), b"to nowhere").await;
    sync(&ch, &q).await;
    assert_eq!(drain(&ch, &q).await, vec!["direct to queue"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_queue_name_means_the_last_declared_queue_on_the_channel() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    // bind "" -> the server-named queue
    let key = unique("k");
    t(ch.queue_bind(
        "".into(),
        "amq.direct".into(),
        key.as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let x = unique("x-lastq");
    t(ch.exchange_declare(
        x.as_str().into(),
        lapin::ExchangeKind::Fanout,
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    t(ch.queue_bind(
        "".into(),
        x.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish(&ch, &x, "", b"via last queue").await;
    sync(&ch, &q).await;
    // get "" and purge "" act on it too.
    let got = t(ch.basic_get("".into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("message in the last declared queue");
    assert_eq!(body(&got.delivery), "via last queue");
    publish_confirmed(&confirm_channel(&_conn).await, "", &q, b"to purge").await;
    let purged = t(ch.queue_purge("".into(), QueuePurgeOptions::default()))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let n = t(ch.queue_delete("".into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
    assert_eq!(n, 0);
    let ch2 = t(_conn.create_channel()).await.unwrap();
    let res = passive(&ch2, &q).await;
    assert_error_prefix(res, 404, "NOT_FOUND");
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declare_of_the_empty_name_is_not_the_last_queue() {
    // queue.declare never substitutes the last queue: "" there means "server-named", and
    // a passive declare of "" looks for a queue literally named "".
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    declare_temp_queue(&ch).await;
    let res = passive(&ch, "").await;
    expect_channel_error(&conn, &ch, res, 404, "NOT_FOUND - no queue '' in vhost '/'").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_queue_name_without_a_declared_queue_is_an_error() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let res = t(ch.basic_get("".into(), BasicGetOptions::default())).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        404,
        "NOT_FOUND - no previously declared queue",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclaring_with_a_different_exclusive_flag_is_405_on_the_same_connection() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let (_och, excl) = exclusive_queue(&conn).await;
    let res = declare_with(
        &ch,
        &excl,
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await;
    expect_channel_error(&conn, &ch, res, 405, &locked(&excl)).await;

    let ch = t(conn.create_channel()).await.unwrap();
    let shared = unique("q-shared");
    declare_queue(&ch, &shared).await;
    let res = declare_with(
        &ch,
        &shared,
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    expect_channel_error(&conn, &ch, res, 405, &locked(&shared)).await;
    cleanup(&b, &[&shared], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_queue_argument_type_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-badarg");
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongString("ten".into()));
    let res = declare_with(&ch, &q, QueueDeclareOptions::default(), args).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue '{q}' in vhost '/': \
             \"expected integer, got longstr\""
        ),
    )
    .await;
    let ch = t(conn.create_channel()).await.unwrap();
    let res = passive(&ch, &q).await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
}
