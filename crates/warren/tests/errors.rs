//! Error scope: what a channel error and a connection error take down, what survives,
//! and what the close methods say on the wire.

mod common;

use std::time::Duration;

use common::raw::{self, Args, Close, RawConn};
use common::*;
use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::ExchangeKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_error_leaves_other_channels_and_their_consumers_running() {
    let b = broker().await;
    let conn = b.connect().await;
    let healthy = t(conn.create_channel()).await.unwrap();
    let q = declare_temp_queue(&healthy).await;
    let mut consumer = consume(&healthy, &q, false).await;
    publish(&healthy, "", &q, b"before").await;
    let held = next(&mut consumer).await;

    let failing = t(conn.create_channel()).await.unwrap();
    let missing = unique("q-missing");
    let res = t(failing.queue_declare(
        missing.as_str().into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(
        &conn,
        &failing,
        res,
        404,
        &format!("NOT_FOUND - no queue '{missing}' in vhost '/'"),
    )
    .await;

    // The healthy channel keeps its consumer, its unacked message and its tag numbering.
    publish(&healthy, "", &q, b"after").await;
    let d = next(&mut consumer).await;
    assert_eq!(body(&d), "after");
    assert_eq!(d.delivery_tag, 2);
    t(held.ack(BasicAckOptions::default())).await.unwrap();
    t(d.ack(BasicAckOptions::default())).await.unwrap();
    sync(&healthy, &q).await;
    assert!(healthy.status().connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_survives_many_channel_errors() {
    let b = broker().await;
    let conn = b.connect().await;
    for i in 0..20 {
        let ch = t(conn.create_channel()).await.unwrap();
        let missing = format!("{}-{i}", unique("q-never"));
        let res = t(ch.queue_declare(
            missing.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await;
        assert_channel_error(
            res,
            404,
            &format!("NOT_FOUND - no queue '{missing}' in vhost '/'"),
        );
    }
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_error_closes_every_channel_and_ends_consumers() {
    let b = broker().await;
    let conn = b.connect().await;
    let ch1 = t(conn.create_channel()).await.unwrap();
    let ch2 = t(conn.create_channel()).await.unwrap();
    let q = declare_temp_queue(&ch1).await;
    let mut consumer = consume(&ch1, &q, true).await;
    let res = t(ch2.exchange_declare(
        unique("x-bad").as_str().into(),
        ExchangeKind::Custom("x-no-such-type".into()),
        Default::default(),
        FieldTable::default(),
    ))
    .await;
    assert_connection_error(
        res,
        503,
        "COMMAND_INVALID - unknown exchange type 'x-no-such-type'",
    );
    // The consumer on the other channel sees the connection error, then ends.
    match t(consumer.next()).await {
        Some(Err(e)) => assert_eq!(failure(&e).code, 503),
        other => panic!("consumer should see the connection error, got {other:?}"),
    }
    assert_connection_closed(&conn).await;
    assert!(!ch1.status().connected());
    // Other connections are unaffected.
    let other = b.connect().await;
    assert_connection_usable(&other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_error_requeues_only_that_channels_unacked_messages() {
    let b = broker().await;
    let conn = b.connect().await;
    let obs = t(conn.create_channel()).await.unwrap();
    let q = unique("q-err-requeue");
    declare_queue(&obs, &q).await;
    let pch = confirm_channel(&conn).await;
    for i in 0..4 {
        publish_confirmed(&pch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let keeper = t(conn.create_channel()).await.unwrap();
    let kept = t(keeper.basic_get(q.as_str().into(), Default::default()))
        .await
        .unwrap()
        .unwrap();
    let failing = t(conn.create_channel()).await.unwrap();
    let lost1 = t(failing.basic_get(q.as_str().into(), Default::default()))
        .await
        .unwrap()
        .unwrap();
    let lost2 = t(failing.basic_get(q.as_str().into(), Default::default()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        [&kept, &lost1, &lost2].map(|m| body(&m.delivery)),
        ["m0", "m1", "m2"]
    );
    let w = watch(&failing).await;
    t(failing.basic_ack(99, BasicAckOptions::default()))
        .await
        .unwrap();
    expect_async_channel_error(
        &conn,
        &failing,
        w,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 99",
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.extend(drain(&obs, &q).await);
        if seen.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        seen,
        vec!["m1", "m2", "m3"],
        "the failed channel's messages are back"
    );
    // The keeper still holds m0 and can ack it.
    t(kept.delivery.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    sync(&keeper, &q).await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_close_names_the_failing_method() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    let missing = unique("q-gone");
    let passive = Args::new()
        .u16(0)
        .shortstr(&missing)
        .bits(&[true, false, false, false, false])
        .empty_table()
        .build();
    c.send_method(1, 50, 10, &passive).await;
    assert_eq!(
        c.expect_channel_close(1).await,
        Close {
            code: 404,
            text: format!("NOT_FOUND - no queue '{missing}' in vhost '/'"),
            class: 50,
            method: 10
        }
    );
    c.open_channel(1).await;
    c.ack(1, 5, false).await;
    assert_eq!(
        c.expect_channel_close(1).await,
        Close {
            code: 406,
            text: "PRECONDITION_FAILED - unknown delivery tag 5".into(),
            class: 60,
            method: 80
        }
    );
    c.open_channel(1).await;
    let x = unique("x-gone");
    c.publish(1, &x, "k", &0u16.to_be_bytes(), b"body").await;
    assert_eq!(
        c.expect_channel_close(1).await,
        Close {
            code: 404,
            text: format!("NOT_FOUND - no exchange '{x}' in vhost '/'"),
            class: 60,
            method: 40
        }
    );
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_after_a_server_channel_close_are_ignored_until_close_ok() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    c.open_channel(2).await;
    let missing = unique("q-absent");
    let passive = Args::new()
        .u16(0)
        .shortstr(&missing)
        .bits(&[true, false, false, false, false])
        .empty_table()
        .build();
    c.send_method(1, 50, 10, &passive).await;
    let args = c.expect_method(1, 20, 40).await;
    assert_eq!(raw::parse_close(&args).code, 404);
    // Before close-ok: a declare and a publish on channel 1 are dropped silently.
    let declare = Args::new()
        .u16(0)
        .shortstr("")
        .bits(&[false; 5])
        .empty_table()
        .build();
    c.send_method(1, 50, 10, &declare).await;
    c.publish(1, "", "nowhere", &0u16.to_be_bytes(), b"x").await;
    // Channel 2 answers meanwhile, and nothing else arrives first.
    c.send_method(2, 85, 10, &[0]).await;
    c.expect_method(2, 85, 11).await;
    c.send_method(1, 20, 41, &[]).await;
    c.open_channel(1).await;
    c.send_method(1, 85, 10, &[0]).await;
    c.expect_method(1, 85, 11).await;
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_channel_close_with_an_error_code_is_just_a_close() {
    // A client closing its channel with any code gets close-ok; the connection lives on.
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    let close = Args::new()
        .u16(406)
        .shortstr("client gave up")
        .u16(60)
        .u16(40)
        .build();
    c.send_method(1, 20, 40, &close).await;
    c.expect_method(1, 20, 41).await;
    c.open_channel(1).await;
    c.close().await;
}
