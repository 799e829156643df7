//! Publisher confirms (confirm.select) and transactions (tx.select/commit/rollback).

mod common;

use std::collections::BTreeSet;

use common::raw::{self, Args, RawConn};
use common::*;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_publish_is_confirmed() {
    let b = broker().await;
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = declare_temp_queue(&ch).await;
    let mut confirms = Vec::new();
    for i in 0..500 {
        confirms.push(
            t(ch.basic_publish(
                "".into(),
                q.as_str().into(),
                BasicPublishOptions::default(),
                format!("{i}").as_bytes(),
                BasicProperties::default(),
            ))
            .await
            .unwrap(),
        );
    }
    let mut acked = 0;
    for c in confirms {
        if t(c).await.unwrap().is_ack() {
            acked += 1;
        }
    }
    assert_eq!(acked, 500);
    let ok = t(ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    assert_eq!(ok.message_count(), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_confirms_cover_every_sequence_number_once() {
    // Pipelined publishes are acked with sequence numbers from 1, possibly with
    // multiple=true; taken together the acks cover 1..=N exactly once, in order.
    const N: u64 = 400;
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    let q = unique("q-confirms");
    c.declare_queue(1, &q).await;
    c.send_method(1, 85, 10, &[0]).await;
    c.expect_method(1, 85, 11).await;
    let mut burst = Vec::new();
    for i in 0..N {
        burst.extend(raw::method_frame(
            1,
            60,
            40,
            &raw::publish_args("", &q, false),
        ));
        let body = format!("{i}");
        burst.extend(raw::header_frame(1, body.len() as u64, &0u16.to_be_bytes()));
        burst.extend(raw::frame(raw::FRAME_BODY, 1, body.as_bytes()));
    }
    c.send(&burst).await;
    let mut covered = BTreeSet::new();
    let mut highest = 0u64;
    let mut frames = 0;
    let mut multiples = 0;
    while highest < N {
        let args = c.expect_method(1, 60, 80).await;
        frames += 1;
        let mut r = raw::Reader::new(&args);
        let tag = r.u64();
        let multiple = r.u8() & 1 == 1;
        assert!(
            tag > highest,
            "acks arrive in increasing order ({tag} after {highest})"
        );
        let from = if multiple {
            multiples += 1;
            highest + 1
        } else {
            tag
        };
        for s in from..=tag {
            assert!(covered.insert(s), "sequence {s} acked twice");
        }
        highest = tag;
    }
    assert_eq!(covered, (1..=N).collect::<BTreeSet<_>>());
    assert!(frames <= N);
    eprintln!("{N} publishes confirmed by {frames} basic.ack frames ({multiples} multiple)");
    c.close().await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_sequence_numbers_count_per_channel() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    let q = unique("q-seq");
    c.open_channel(1).await;
    c.open_channel(2).await;
    c.declare_queue(1, &q).await;
    for ch in [1u16, 2] {
        c.send_method(ch, 85, 10, &[0]).await;
        c.expect_method(ch, 85, 11).await;
    }
    for (ch, expected) in [(1u16, 1u64), (2, 1), (1, 2), (2, 2), (2, 3)] {
        c.publish(ch, "", &q, &0u16.to_be_bytes(), b"x").await;
        let args = c.expect_method(ch, 60, 80).await;
        assert_eq!(raw::Reader::new(&args).u64(), expected, "channel {ch}");
    }
    c.close().await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_select_nowait_gets_no_reply_but_confirms() {
    // Raw frames: lapin waits for a select-ok that a nowait select never gets.
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    let q = unique("q-nowait");
    c.open_channel(1).await;
    c.declare_queue(1, &q).await;
    c.send_method(1, 85, 10, &[1]).await; // nowait
    c.publish(1, "", &q, &0u16.to_be_bytes(), b"x").await;
    let (channel, class, method, args) = c.next_method().await.expect("a reply");
    assert_eq!(
        (channel, class, method),
        (1, 60, 80),
        "basic.ack, no select-ok"
    );
    assert_eq!(raw::Reader::new(&args).u64(), 1);
    c.close().await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_publish_is_still_acked() {
    let b = broker().await;
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    publish_confirmed(&ch, "", &unique("nobody-home"), b"dropped").await;
    publish_confirmed(&ch, "amq.fanout", "", b"maybe no queue bound").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_publish_overflow_nacks_the_publisher() {
    let b = broker().await;
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(1));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    let q = t(ch.queue_declare(
        "".into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        args,
    ))
    .await
    .unwrap()
    .name()
    .to_string();
    publish_confirmed(&ch, "", &q, b"fits").await;
    let confirm = t(ch.basic_publish(
        "".into(),
        q.as_str().into(),
        BasicPublishOptions::default(),
        b"overflows",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    assert!(t(confirm).await.unwrap().is_nack(), "full queue nacks");
    assert_eq!(drain(&ch, &q).await, vec!["fits"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_publishes_are_invisible_until_commit() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let tx = t(conn.create_channel()).await.unwrap();
    t(tx.tx_select()).await.unwrap();
    publish(&tx, "", &q, b"t1").await;
    publish(&tx, "", &q, b"t2").await;
    sync(&tx, &q).await;
    assert!(drain(&ch, &q).await.is_empty(), "nothing before commit");
    t(tx.tx_commit()).await.unwrap();
    assert_eq!(drain(&ch, &q).await, vec!["t1", "t2"]);
    // The channel stays transactional: the next batch waits for the next commit.
    publish(&tx, "", &q, b"t3").await;
    sync(&tx, &q).await;
    assert!(drain(&ch, &q).await.is_empty());
    t(tx.tx_commit()).await.unwrap();
    assert_eq!(drain(&ch, &q).await, vec!["t3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_rollback_discards_publishes() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let tx = t(conn.create_channel()).await.unwrap();
    t(tx.tx_select()).await.unwrap();
    publish(&tx, "", &q, b"gone").await;
    t(tx.tx_rollback()).await.unwrap();
    t(tx.tx_commit()).await.unwrap();
    assert!(drain(&ch, &q).await.is_empty(), "rolled back");
    publish(&tx, "", &q, b"kept").await;
    t(tx.tx_commit()).await.unwrap();
    assert_eq!(drain(&ch, &q).await, vec!["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_acks_take_effect_on_commit() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-txack");
    declare_queue(&ch, &q).await;
    let pch = confirm_channel(&conn).await;
    publish_confirmed(&pch, "", &q, b"a").await;
    publish_confirmed(&pch, "", &q, b"b").await;

    // An ack that is rolled back leaves the message unacked: closing requeues it.
    let tx = t(conn.create_channel()).await.unwrap();
    t(tx.tx_select()).await.unwrap();
    let m = t(tx.basic_get(q.as_str().into(), BasicGetOptions { no_ack: false }))
        .await
        .unwrap()
        .unwrap();
    t(m.delivery.ack(BasicAckOptions::default())).await.unwrap();
    t(tx.tx_rollback()).await.unwrap();
    t(tx.close(200, "bye".into())).await.unwrap();
    let mut requeued = Vec::new();
    for _ in 0..50 {
        requeued = drain(&ch, &q).await;
        if requeued.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        requeued,
        vec!["a", "b"],
        "rolled-back ack: message requeued"
    );

    // A committed ack removes it for good.
    publish_confirmed(&pch, "", &q, b"c").await;
    let tx = t(conn.create_channel()).await.unwrap();
    t(tx.tx_select()).await.unwrap();
    let m = t(tx.basic_get(q.as_str().into(), BasicGetOptions { no_ack: false }))
        .await
        .unwrap()
        .unwrap();
    t(m.delivery.ack(BasicAckOptions::default())).await.unwrap();
    t(tx.tx_commit()).await.unwrap();
    t(tx.close(200, "bye".into())).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(drain(&ch, &q).await.is_empty(), "committed ack");
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_select_after_tx_select_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    t(ch.tx_select()).await.unwrap();
    let res = t(ch.confirm_select(ConfirmSelectOptions::default())).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_select_after_confirm_select_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    t(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let res = t(ch.tx_select()).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_or_rollback_without_tx_select_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let res = t(ch.tx_commit()).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    )
    .await;
    let ch = t(conn.create_channel()).await.unwrap();
    let res = t(ch.tx_rollback()).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_select_twice_is_fine_and_confirm_select_twice_too() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    t(ch.tx_select()).await.unwrap();
    t(ch.tx_select()).await.expect("tx.select is idempotent");
    let ch2 = t(conn.create_channel()).await.unwrap();
    t(ch2.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    t(ch2.confirm_select(ConfirmSelectOptions::default()))
        .await
        .expect("confirm.select is idempotent");
    // Raw check that the second select is answered with select-ok.
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    for _ in 0..2 {
        c.send_method(1, 90, 10, &Args::new().build()).await;
        c.expect_method(1, 90, 11).await;
    }
    c.close().await;
}
