//! Basic class: qos, consume, cancel, publish/deliver, get, ack/nack/reject, recover, and
//! what happens to unacked messages when a channel, connection or socket goes away.

mod common;

use std::time::Duration;

use common::raw::{self, Args, RawConn};
use common::*;
use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, BasicRecoverOptions, BasicRejectOptions,
};
use lapin::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable};
use lapin::{BasicProperties, Channel, Consumer};

/// Everything `consumer` receives within `window`.
async fn collect_for(consumer: &mut Consumer, window: Duration) -> Vec<Delivery> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(item)) = tokio::time::timeout_at(deadline, consumer.next()).await {
        out.push(item.expect("delivery"));
    }
    out
}

async fn publish_n(ch: &Channel, queue: &str, n: usize, prefix: &str) {
    let pch = confirm_channel_of(ch).await;
    for i in 0..n {
        publish_confirmed(&pch, "", queue, format!("{prefix}{i}").as_bytes()).await;
    }
}

/// Puts `ch` in confirm mode (unless it already is) and returns it.
async fn confirm_channel_of(ch: &Channel) -> Channel {
    if !ch.status().confirm() {
        t(ch.confirm_select(Default::default()))
            .await
            .expect("confirm.select");
    }
    ch.clone()
}

async fn qos(ch: &Channel, count: u16, global: bool) {
    t(ch.basic_qos(count, BasicQosOptions { global }))
        .await
        .expect("basic.qos");
}

async fn consume_tagged(
    ch: &Channel,
    queue: &str,
    tag: &str,
    opts: BasicConsumeOptions,
) -> Consumer {
    t(ch.basic_consume(queue.into(), tag.into(), opts, FieldTable::default()))
        .await
        .expect("basic.consume")
}

async fn get(ch: &Channel, queue: &str, no_ack: bool) -> Option<lapin::message::BasicGetMessage> {
    t(ch.basic_get(queue.into(), BasicGetOptions { no_ack }))
        .await
        .expect("basic.get")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_consumer_prefetch_limits_each_consumer() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish_n(&confirm_channel(&conn).await, &q, 10, "m").await;
    qos(&ch, 2, false).await;
    let mut c1 = consume(&ch, &q, false).await;
    let mut c2 = consume(&ch, &q, false).await;
    let got1 = collect_for(&mut c1, Duration::from_millis(300)).await;
    let got2 = collect_for(&mut c2, Duration::from_millis(50)).await;
    assert_eq!(
        (got1.len(), got2.len()),
        (2, 2),
        "each consumer holds 2 unacked"
    );
    // Acking one lets exactly one more through to that consumer.
    t(got1[0].ack(BasicAckOptions::default())).await.unwrap();
    let more = collect_for(&mut c1, Duration::from_millis(300)).await;
    assert_eq!(more.len(), 1);
    assert!(collect_for(&mut c2, Duration::from_millis(50))
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_prefetch_is_shared_by_the_channel_consumers() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q1 = declare_temp_queue(&ch).await;
    let q2 = declare_temp_queue(&ch).await;
    let pch = confirm_channel(&conn).await;
    publish_n(&pch, &q1, 10, "a").await;
    publish_n(&pch, &q2, 10, "b").await;
    qos(&ch, 3, true).await;
    let mut c1 = consume(&ch, &q1, false).await;
    let mut c2 = consume(&ch, &q2, false).await;
    let got1 = collect_for(&mut c1, Duration::from_millis(300)).await;
    let got2 = collect_for(&mut c2, Duration::from_millis(100)).await;
    assert_eq!(got1.len() + got2.len(), 3, "3 unacked across the channel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_consumer_and_global_prefetch_apply_together() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q1 = declare_temp_queue(&ch).await;
    let q2 = declare_temp_queue(&ch).await;
    let q3 = declare_temp_queue(&ch).await;
    let pch = confirm_channel(&conn).await;
    for q in [&q1, &q2, &q3] {
        publish_n(&pch, q, 10, "m").await;
    }
    qos(&ch, 2, false).await; // each consumer: 2
    qos(&ch, 5, true).await; // the channel: 5
    let mut cs = [
        consume(&ch, &q1, false).await,
        consume(&ch, &q2, false).await,
        consume(&ch, &q3, false).await,
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut counts = Vec::new();
    for c in cs.iter_mut() {
        counts.push(collect_for(c, Duration::from_millis(50)).await.len());
    }
    assert!(
        counts.iter().all(|n| *n <= 2),
        "per-consumer limit: {counts:?}"
    );
    assert_eq!(counts.iter().sum::<usize>(), 5, "channel limit: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_does_not_limit_get_or_no_ack_consumers() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish_n(&confirm_channel(&conn).await, &q, 6, "m").await;
    qos(&ch, 1, false).await;
    qos(&ch, 1, true).await;
    for i in 0..3 {
        let m = get(&ch, &q, false)
            .await
            .expect("basic.get ignores prefetch");
        assert_eq!(body(&m.delivery), format!("m{i}"));
    }
    let mut c = consume(&ch, &q, true).await;
    let got = collect_for(&mut c, Duration::from_millis(300)).await;
    assert_eq!(got.len(), 3, "a no-ack consumer ignores prefetch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_size_is_not_implemented_540() {
    // lapin cannot send prefetch_size, so this speaks raw frames.
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    let args = Args::new().u32(5).u16(10).bits(&[false]).build();
    c.send_method(1, 60, 10, &args).await;
    let close = c.expect_connection_close().await;
    assert_eq!(
        (close.code, close.text.as_str(), close.class, close.method),
        (540, "NOT_IMPLEMENTED - prefetch_size!=0 (5)", 60, 10)
    );
    c.expect_eof().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_with_an_explicit_tag() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let tag = unique("ctag");
    let mut c = consume_tagged(&ch, &q, &tag, BasicConsumeOptions::default()).await;
    assert_eq!(c.tag().as_str(), tag);
    publish(&ch, "", &q, b"hello").await;
    let d = next(&mut c).await;
    assert_eq!(body(&d), "hello");
    assert_eq!(d.delivery_tag, 1, "delivery tags start at 1 on a channel");
    assert!(!d.redelivered);
    assert_eq!(d.exchange.as_str(), "");
    assert_eq!(d.routing_key.as_str(), q);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_generated_consumer_tags_are_amq_ctag() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let c1 = consume(&ch, &q, false).await;
    let c2 = consume(&ch, &q, false).await;
    assert!(c1.tag().as_str().starts_with("amq.ctag-"), "{}", c1.tag());
    assert_ne!(c1.tag(), c2.tag());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_consumer_tag_on_a_channel_is_530_connection_error() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let tag = unique("dup");
    let _c = consume_tagged(&ch, &q, &tag, BasicConsumeOptions::default()).await;
    let res = t(ch.basic_consume(
        q.as_str().into(),
        tag.as_str().into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_connection_error(
        &b,
        &conn,
        res,
        530,
        &format!("NOT_ALLOWED - attempt to reuse consumer tag '{tag}'"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_consumer_tag_on_two_channels_is_fine() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let ch2 = t(conn.create_channel()).await.unwrap();
    let tag = unique("shared-tag");
    let _c1 = consume_tagged(&ch, &q, &tag, BasicConsumeOptions::default()).await;
    let _c2 = consume_tagged(&ch2, &q, &tag, BasicConsumeOptions::default()).await;
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_consumer_keeps_others_out() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-exclusive-consumer");
    declare_queue(&ch, &q).await;
    let excl = BasicConsumeOptions {
        exclusive: true,
        ..Default::default()
    };
    let _owner = consume_tagged(&ch, &q, "", excl).await;
    let (conn2, ch2) = b.connect_channel().await;
    let res = t(ch2.basic_consume(
        q.as_str().into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(
        &conn2,
        &ch2,
        res,
        403,
        &format!("ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use"),
    )
    .await;
    drop(conn);
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_consume_on_a_queue_with_consumers_is_403() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = unique("q-busy");
    declare_queue(&ch, &q).await;
    let _plain = consume(&ch, &q, false).await;
    let (conn2, ch2) = b.connect_channel().await;
    let res = t(ch2.basic_consume(
        q.as_str().into(),
        "".into(),
        BasicConsumeOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(
        &conn2,
        &ch2,
        res,
        403,
        &format!("ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use"),
    )
    .await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ack_deliveries_are_gone_for_good() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-noack");
    declare_queue(&ch, &q).await;
    publish_n(&confirm_channel(&conn).await, &q, 3, "m").await;
    let cch = t(conn.create_channel()).await.unwrap();
    let mut c = consume(&cch, &q, true).await;
    let got = collect_for(&mut c, Duration::from_millis(300)).await;
    assert_eq!(
        got.iter().map(body).collect::<Vec<_>>(),
        vec!["m0", "m1", "m2"]
    );
    t(cch.close(200, "bye".into())).await.unwrap();
    assert!(drain(&ch, &q).await.is_empty(), "nothing to requeue");
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nowait_consume_and_cancel() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let tag = unique("nowait");
    let mut c = consume_tagged(
        &ch,
        &q,
        &tag,
        BasicConsumeOptions {
            nowait: true,
            ..Default::default()
        },
    )
    .await;
    publish(&ch, "", &q, b"one").await;
    assert_eq!(body(&next(&mut c).await), "one");
    t(ch.basic_cancel(tag.as_str().into(), BasicCancelOptions { nowait: true }))
        .await
        .unwrap();
    publish_confirmed(&confirm_channel_of(&ch).await, "", &q, b"two").await;
    let left = get(&ch, &q, true).await.expect("not consumed after cancel");
    assert_eq!(body(&left.delivery), "two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_consumer_and_messages_stay_queued() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let mut c = consume(&ch, &q, false).await;
    t(ch.basic_cancel(c.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    assert!(t(c.next()).await.is_none(), "stream ends after cancel");
    publish_confirmed(&confirm_channel_of(&ch).await, "", &q, b"kept").await;
    let ok = t(ch.queue_declare(
        q.as_str().into(),
        lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    assert_eq!((ok.message_count(), ok.consumer_count()), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_an_unknown_tag_is_ok() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    t(ch.basic_cancel(
        unique("no-such-tag").as_str().into(),
        BasicCancelOptions::default(),
    ))
    .await
    .expect("cancel of an unknown consumer tag succeeds");
    assert!(ch.status().connected());
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_queue_cancels_its_consumers() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-cancel-notify");
    declare_queue(&ch, &q).await;
    let cch = t(conn.create_channel()).await.unwrap();
    let mut c = consume(&cch, &q, false).await;
    t(ch.queue_delete(q.as_str().into(), Default::default()))
        .await
        .unwrap();
    // The server sends basic.cancel; lapin ends the consumer stream without an error.
    assert!(
        t(c.next()).await.is_none(),
        "consumer stream should end on basic.cancel"
    );
    assert!(
        cch.status().connected(),
        "the consumer's channel stays open"
    );
    let q2 = declare_temp_queue(&cch).await;
    publish(&cch, "", &q2, b"still works").await;
    let mut c2 = consume(&cch, &q2, true).await;
    assert_eq!(body(&next(&mut c2).await), "still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_cancel_is_a_basic_cancel_frame() {
    // The same as seen on the wire: basic.cancel(consumer-tag, nowait=true) on the channel.
    let b = broker().await;
    let q = unique("q-raw-cancel");
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    c.declare_queue(1, &q).await;
    c.consume(1, &q, "the-tag", false).await;
    let (conn, ch) = b.connect_channel().await;
    t(ch.queue_delete(q.as_str().into(), Default::default()))
        .await
        .unwrap();
    let args = c.expect_method(1, 60, 30).await;
    let mut r = raw::Reader::new(&args);
    assert_eq!(r.shortstr(), "the-tag");
    assert_eq!(r.u8() & 1, 1, "nowait set on a server-sent cancel");
    c.close().await;
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_cancel_without_consumer_cancel_notify() {
    // A client that does not announce consumer_cancel_notify gets no basic.cancel.
    let b = broker().await;
    let q = unique("q-raw-nocancel");
    let (mut c, _) = RawConn::open_with(
        b.addr(),
        raw::Tune::default(),
        &["authentication_failure_close"],
    )
    .await;
    c.open_channel(1).await;
    c.declare_queue(1, &q).await;
    c.consume(1, &q, "the-tag", false).await;
    let (conn, ch) = b.connect_channel().await;
    t(ch.queue_delete(q.as_str().into(), Default::default()))
        .await
        .unwrap();
    // Give a cancel time to arrive; then a round trip on channel 1 comes back with nothing
    // before it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.send_method(1, 85, 10, &[0]).await;
    let (channel, class, method, _) = c.next_method().await.expect("confirm.select-ok");
    assert_eq!(
        (channel, class, method),
        (1, 85, 11),
        "no basic.cancel first"
    );
    c.close().await;
    drop(conn);
}

fn every_header_type() -> FieldTable {
    let mut nested = FieldTable::default();
    nested.insert("inner".into(), AMQPValue::LongString("deep".into()));
    nested.insert("n".into(), AMQPValue::LongInt(-7));
    let mut h = FieldTable::default();
    h.insert("bool".into(), AMQPValue::Boolean(true));
    h.insert("i8".into(), AMQPValue::ShortShortInt(-8));
    h.insert("u8".into(), AMQPValue::ShortShortUInt(200));
    h.insert("i16".into(), AMQPValue::ShortInt(-1600));
    h.insert("u16".into(), AMQPValue::ShortUInt(60000));
    h.insert("i32".into(), AMQPValue::LongInt(-320_000));
    h.insert("u32".into(), AMQPValue::LongUInt(4_000_000_000));
    h.insert("i64".into(), AMQPValue::LongLongInt(-64_000_000_000));
    h.insert("f32".into(), AMQPValue::Float(1.5));
    h.insert("f64".into(), AMQPValue::Double(-2.25));
    h.insert(
        "decimal".into(),
        AMQPValue::DecimalValue(DecimalValue {
            scale: 2,
            value: 12345,
        }),
    );
    h.insert(
        "longstr".into(),
        AMQPValue::LongString("text ünïcode".into()),
    );
    h.insert(
        "array".into(),
        AMQPValue::FieldArray(FieldArray::from(vec![
            AMQPValue::LongInt(1),
            AMQPValue::LongString("two".into()),
            AMQPValue::Boolean(false),
        ])),
    );
    h.insert("timestamp".into(), AMQPValue::Timestamp(1_700_000_000));
    h.insert("table".into(), AMQPValue::FieldTable(nested));
    h.insert(
        "bytes".into(),
        AMQPValue::ByteArray(ByteArray::from(vec![0u8, 1, 2, 255])),
    );
    h.insert("void".into(), AMQPValue::Void);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_and_headers_arrive_unchanged() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("gzip".into())
        .with_headers(every_header_type())
        .with_delivery_mode(2)
        .with_priority(7)
        .with_correlation_id("corr-1".into())
        .with_reply_to("reply-here".into())
        .with_expiration("60000".into())
        .with_message_id("msg-1".into())
        .with_timestamp(1_600_000_000)
        .with_type("kind".into())
        .with_user_id("guest".into())
        .with_app_id("warren-tests".into())
        .with_cluster_id("cluster-x".into());
    let payload: Vec<u8> = (0..=255u8).collect();
    publish_with(&ch, "", &q, &payload, props.clone()).await;
    let mut c = consume(&ch, &q, true).await;
    let d = next(&mut c).await;
    assert_eq!(d.properties, props);
    assert_eq!(d.data, payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_get_carries_properties_too() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let props = BasicProperties::default()
        .with_headers(every_header_type())
        .with_content_type("text/plain".into())
        .with_priority(3);
    publish_with(&ch, "", &q, b"got", props.clone()).await;
    let m = get(&ch, &q, true).await.expect("message");
    assert_eq!(m.delivery.properties, props);
    assert_eq!(body(&m.delivery), "got");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_header_bytes_pass_through_unchanged() {
    // Field-table key order and type tags are the publisher's, byte for byte: only raw
    // frames can show that (lapin's tables are sorted maps).
    let b = broker().await;
    let q = unique("q-bytes");
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    c.declare_queue(1, &q).await;

    let mut entries = Vec::new();
    entries.extend(raw::entry(
        "zz-last-first",
        b'S',
        &Args::new().longstr(b"z").build(),
    ));
    entries.extend(raw::entry("t", b't', &[1]));
    entries.extend(raw::entry("b", b'b', &[0xF0]));
    entries.extend(raw::entry("B", b'B', &[0xF0]));
    entries.extend(raw::entry("s", b's', &(-2i16).to_be_bytes()));
    entries.extend(raw::entry("u", b'u', &65535u16.to_be_bytes()));
    entries.extend(raw::entry("I", b'I', &(-3i32).to_be_bytes()));
    entries.extend(raw::entry("i", b'i', &4_000_000_000u32.to_be_bytes()));
    entries.extend(raw::entry("l", b'l', &(-5i64).to_be_bytes()));
    entries.extend(raw::entry("f", b'f', &1.25f32.to_be_bytes()));
    entries.extend(raw::entry("d", b'd', &(-0.5f64).to_be_bytes()));
    entries.extend(raw::entry("D", b'D', &[3, 0, 0, 0x30, 0x39]));
    entries.extend(raw::entry("T", b'T', &1_700_000_000u64.to_be_bytes()));
    entries.extend(raw::entry(
        "x",
        b'x',
        &Args::new().longstr(&[0, 1, 2]).build(),
    ));
    entries.extend(raw::entry("V", b'V', &[]));
    let inner = raw::entry("k", b'I', &7i32.to_be_bytes());
    entries.extend(raw::entry(
        "F",
        b'F',
        &Args::new().table_raw(&inner).build(),
    ));
    let mut arr = vec![b'I'];
    arr.extend(1i32.to_be_bytes());
    arr.push(b'S');
    arr.extend(Args::new().longstr(b"two").build());
    entries.extend(raw::entry("A", b'A', &Args::new().longstr(&arr).build()));
    entries.extend(raw::entry(
        "a-first-last",
        b'S',
        &Args::new().longstr(b"a").build(),
    ));
    // flags: content-type, headers, delivery-mode, message-id
    let flags: u16 = (1 << 15) | (1 << 13) | (1 << 12) | (1 << 7);
    let props = Args::new()
        .u16(flags)
        .shortstr("application/octet-stream")
        .table_raw(&entries)
        .u8(1)
        .shortstr("id-1")
        .build();
    c.publish(1, "", &q, &props, b"payload").await;
    c.consume(1, &q, "t1", true).await;
    let m = c.next_message().await;
    assert_eq!((m.class, m.method), (60, 60));
    assert_eq!(m.body, b"payload");
    assert_eq!(
        m.properties, props,
        "content header properties, byte for byte"
    );
    c.close().await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_split_into_frames_and_reassembled() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    publish(&ch, "", &q, &payload).await;
    publish(&ch, "", &q, b"").await;
    let mut c = consume(&ch, &q, true).await;
    let d = next(&mut c).await;
    assert_eq!(d.data.len(), payload.len());
    assert!(d.data == payload, "body differs");
    let empty = next(&mut c).await;
    assert!(empty.data.is_empty(), "an empty body is delivered empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_unroutable_message_is_returned_312() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let key = unique("nowhere");
    let props = BasicProperties::default().with_message_id("m-1".into());
    t(ch.basic_publish(
        "".into(),
        key.as_str().into(),
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        b"bounce",
        props.clone(),
    ))
    .await
    .unwrap();
    // Not mandatory: silently dropped.
    publish(&ch, "", &key, b"dropped").await;
    let q = declare_temp_queue(&ch).await;
    sync(&ch, &q).await;
    let returned = t(ch.wait_for_confirms()).await.unwrap();
    assert_eq!(returned.len(), 1, "one basic.return");
    let r = &returned[0];
    assert_eq!((r.reply_code, r.reply_text.as_str()), (312, "NO_ROUTE"));
    assert_eq!(r.delivery.exchange.as_str(), "");
    assert_eq!(r.delivery.routing_key.as_str(), key);
    assert_eq!(r.delivery.data, b"bounce");
    assert_eq!(r.delivery.properties, props);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_return_comes_before_the_publisher_ack() {
    let b = broker().await;
    let (conn, _ch) = b.connect_channel().await;
    let ch = confirm_channel(&conn).await;
    let x = unique("x-mandatory");
    t(ch.exchange_declare(
        x.as_str().into(),
        lapin::ExchangeKind::Direct,
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let confirm = t(ch.basic_publish(
        x.as_str().into(),
        "unbound".into(),
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        b"bounce",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    let confirmation = t(confirm).await.unwrap();
    assert!(
        confirmation.is_ack(),
        "an unroutable message is still acked"
    );
    // lapin attaches a return to the confirmation only when it arrived before the ack.
    let r = confirmation
        .take_message()
        .expect("basic.return before basic.ack");
    assert_eq!((r.reply_code, r.reply_text.as_str()), (312, "NO_ROUTE"));
    assert_eq!(r.delivery.exchange.as_str(), x);
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_order_of_return_then_ack() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    c.send_method(1, 85, 10, &[0]).await; // confirm.select
    c.expect_method(1, 85, 11).await;
    let key = unique("nowhere");
    let mut frames = raw::method_frame(1, 60, 40, &raw::publish_args("", &key, true));
    frames.extend(raw::header_frame(1, 2, &0u16.to_be_bytes()));
    frames.extend(raw::frame(raw::FRAME_BODY, 1, b"hi"));
    c.send(&frames).await;
    let m = c.next_message().await;
    assert_eq!((m.class, m.method), (60, 50), "basic.return first");
    let mut r = raw::Reader::new(&m.args);
    assert_eq!(r.u16(), 312);
    assert_eq!(r.shortstr(), "NO_ROUTE");
    assert_eq!(r.shortstr(), "");
    assert_eq!(r.shortstr(), key);
    assert_eq!(m.body, b"hi");
    let ack = c.expect_method(1, 60, 80).await;
    let mut r = raw::Reader::new(&ack);
    assert_eq!(r.u64(), 1, "first publish is sequence 1");
    assert_eq!(r.u8() & 1, 0, "not multiple");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_is_not_implemented_540() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let w = watch(&ch).await;
    t(ch.basic_publish(
        "".into(),
        "whatever".into(),
        BasicPublishOptions {
            immediate: true,
            ..Default::default()
        },
        b"now",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    expect_async_connection_error(&b, &conn, w, 540, "NOT_IMPLEMENTED - immediate=true").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_reports_the_remaining_count_then_get_empty() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish_n(&confirm_channel(&conn).await, &q, 3, "m").await;
    for (i, remaining) in [2u32, 1, 0].into_iter().enumerate() {
        let m = get(&ch, &q, false).await.expect("a message");
        assert_eq!(m.message_count, remaining);
        assert_eq!(body(&m.delivery), format!("m{i}"));
        assert_eq!(m.delivery.delivery_tag, i as u64 + 1);
        assert!(!m.delivery.redelivered);
        assert_eq!(m.delivery.routing_key.as_str(), q);
        t(m.delivery.ack(BasicAckOptions::default())).await.unwrap();
    }
    assert!(get(&ch, &q, false).await.is_none(), "basic.get-empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_get_empty_has_an_empty_cluster_id() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    let q = unique("q-empty");
    c.declare_queue(1, &q).await;
    c.send_method(
        1,
        60,
        70,
        &Args::new().u16(0).shortstr(&q).bits(&[true]).build(),
    )
    .await;
    let args = c.expect_method(1, 60, 72).await;
    assert_eq!(args, vec![0], "get-empty with an empty reserved shortstr");
    c.close().await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_tags_count_per_channel() {
    let b = broker().await;
    let (conn, ch1) = b.connect_channel().await;
    let ch2 = t(conn.create_channel()).await.unwrap();
    let q = declare_temp_queue(&ch1).await;
    publish_n(&confirm_channel(&conn).await, &q, 4, "m").await;
    let a = get(&ch1, &q, false).await.unwrap();
    let b2 = get(&ch2, &q, false).await.unwrap();
    let a2 = get(&ch1, &q, false).await.unwrap();
    let b3 = get(&ch2, &q, false).await.unwrap();
    assert_eq!(
        (
            a.delivery.delivery_tag,
            a2.delivery.delivery_tag,
            b2.delivery.delivery_tag,
            b3.delivery.delivery_tag
        ),
        (1, 2, 1, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_multiple_acks_everything_up_to_the_tag() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-ackmulti");
    declare_queue(&ch, &q).await;
    publish_n(&confirm_channel(&conn).await, &q, 5, "m").await;
    let cch = t(conn.create_channel()).await.unwrap();
    let mut c = consume(&cch, &q, false).await;
    let got = collect_for(&mut c, Duration::from_millis(300)).await;
    assert_eq!(got.len(), 5);
    t(cch.basic_ack(3, BasicAckOptions { multiple: true }))
        .await
        .unwrap();
    t(cch.close(200, "bye".into())).await.unwrap();
    let left: Vec<_> = drain(&ch, &q).await;
    assert_eq!(left, vec!["m3", "m4"], "only 4 and 5 were unacked");
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_multiple_requeues_in_original_order() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish_n(&confirm_channel(&conn).await, &q, 5, "m").await;
    let mut c = consume(&ch, &q, false).await;
    let got = collect_for(&mut c, Duration::from_millis(300)).await;
    assert_eq!(got.len(), 5);
    t(ch.basic_cancel(c.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    t(ch.basic_nack(
        4,
        BasicNackOptions {
            multiple: true,
            requeue: true,
        },
    ))
    .await
    .unwrap();
    t(ch.basic_ack(5, BasicAckOptions::default()))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(m) = get(&ch, &q, true).await {
        seen.push((body(&m.delivery), m.delivery.redelivered));
    }
    assert_eq!(
        seen,
        vec![
            ("m0".to_string(), true),
            ("m1".to_string(), true),
            ("m2".to_string(), true),
            ("m3".to_string(), true)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_and_reject_without_requeue_discard() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish_n(&confirm_channel(&conn).await, &q, 4, "m").await;
    let m0 = get(&ch, &q, false).await.unwrap();
    let m1 = get(&ch, &q, false).await.unwrap();
    let m2 = get(&ch, &q, false).await.unwrap();
    t(m0.delivery.reject(BasicRejectOptions { requeue: false }))
        .await
        .unwrap();
    t(ch.basic_nack(
        m2.delivery.delivery_tag,
        BasicNackOptions {
            multiple: true,
            requeue: false,
        },
    ))
    .await
    .unwrap();
    let _ = m1;
    assert_eq!(drain(&ch, &q).await, vec!["m3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_restores_the_original_position_with_redelivered() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish_n(&confirm_channel(&conn).await, &q, 5, "m").await;
    let m0 = get(&ch, &q, false).await.unwrap();
    let m1 = get(&ch, &q, false).await.unwrap();
    let m2 = get(&ch, &q, false).await.unwrap();
    // Requeue out of order: m2 (reject), then m0 (nack); m1 stays unacked.
    t(m2.delivery.reject(BasicRejectOptions { requeue: true }))
        .await
        .unwrap();
    t(m0.delivery.nack(BasicNackOptions {
        multiple: false,
        requeue: true,
    }))
    .await
    .unwrap();
    let mut seen = Vec::new();
    while let Some(m) = get(&ch, &q, true).await {
        seen.push((body(&m.delivery), m.delivery.redelivered));
    }
    assert_eq!(
        seen,
        vec![
            ("m0".to_string(), true),
            ("m2".to_string(), true),
            ("m3".to_string(), false),
            ("m4".to_string(), false)
        ]
    );
    let _ = m1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeued_message_goes_to_the_next_consumer_redelivered() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish_n(&confirm_channel(&conn).await, &q, 1, "m").await;
    let mut c = consume(&ch, &q, false).await;
    let first = next(&mut c).await;
    assert!(!first.redelivered);
    t(first.reject(BasicRejectOptions { requeue: true }))
        .await
        .unwrap();
    let again = next(&mut c).await;
    assert_eq!(body(&again), "m0");
    assert!(again.redelivered);
    assert_eq!(again.delivery_tag, 2, "a redelivery gets a new tag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_of_an_unknown_delivery_tag_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let w = watch(&ch).await;
    t(ch.basic_ack(42, BasicAckOptions::default()))
        .await
        .unwrap();
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 42",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_ack_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish(&ch, "", &q, b"once").await;
    let m = get(&ch, &q, false).await.unwrap();
    let w = watch(&ch).await;
    t(ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default()))
        .await
        .unwrap();
    t(ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default()))
        .await
        .unwrap();
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_of_another_channels_tag_is_406() {
    let b = broker().await;
    let (conn, ch1) = b.connect_channel().await;
    let q = declare_temp_queue(&ch1).await;
    publish(&ch1, "", &q, b"x").await;
    let _m = get(&ch1, &q, false).await.unwrap(); // tag 1 on ch1
    let ch2 = t(conn.create_channel()).await.unwrap();
    let w = watch(&ch2).await;
    t(ch2.basic_ack(1, BasicAckOptions::default()))
        .await
        .unwrap();
    expect_async_channel_error(
        &conn,
        &ch2,
        w,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 1",
    )
    .await;
    assert!(ch1.status().connected(), "the other channel is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_and_nack_of_unknown_tags_are_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let w = watch(&ch).await;
    t(ch.basic_reject(7, BasicRejectOptions { requeue: true }))
        .await
        .unwrap();
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 7",
    )
    .await;
    let ch = t(conn.create_channel()).await.unwrap();
    let w = watch(&ch).await;
    t(ch.basic_nack(9, BasicNackOptions::default()))
        .await
        .unwrap();
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 9",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_requeue_redelivers_unacked_messages() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish_n(&confirm_channel(&conn).await, &q, 3, "m").await;
    let mut c = consume(&ch, &q, false).await;
    let first = collect_for(&mut c, Duration::from_millis(300)).await;
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|d| !d.redelivered));
    t(ch.basic_recover(BasicRecoverOptions { requeue: true }))
        .await
        .unwrap();
    let again = collect_for(&mut c, Duration::from_millis(300)).await;
    assert_eq!(
        again
            .iter()
            .map(|d| (body(d), d.redelivered))
            .collect::<Vec<_>>(),
        vec![
            ("m0".to_string(), true),
            ("m1".to_string(), true),
            ("m2".to_string(), true)
        ]
    );
    assert!(
        again.iter().all(|d| d.delivery_tag > 3),
        "new delivery tags"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_without_requeue_is_not_implemented_540() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let res = t(ch.basic_recover(BasicRecoverOptions { requeue: false })).await;
    expect_connection_error(&b, &conn, res, 540, "NOT_IMPLEMENTED - requeue=false").await;
}

/// Declares a named queue, fills it with m0..m(n-1) and returns (observer channel, name).
async fn filled_queue(conn: &lapin::Connection, n: usize) -> (Channel, String) {
    let q = unique("q-requeue");
    let ch = t(conn.create_channel()).await.unwrap();
    declare_queue(&ch, &q).await;
    publish_n(&confirm_channel(conn).await, &q, n, "m").await;
    (ch, q)
}

/// Gets every message (no-ack), polling until `n` arrive (requeues after a close are
/// asynchronous).
async fn drain_expecting(ch: &Channel, q: &str, n: usize) -> Vec<(String, bool)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while seen.len() < n && tokio::time::Instant::now() < deadline {
        match get(ch, q, true).await {
            Some(m) => seen.push((body(&m.delivery), m.delivery.redelivered)),
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    seen
}

fn expected_requeue(n: usize, unacked_from: usize) -> Vec<(String, bool)> {
    (0..n)
        .filter(|i| *i >= unacked_from || *i % 2 == 1)
        .map(|i| (format!("m{i}"), true))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_messages_return_in_order_when_the_channel_closes() {
    let b = broker().await;
    let conn = b.connect().await;
    let (obs, q) = filled_queue(&conn, 6).await;
    let cch = t(conn.create_channel()).await.unwrap();
    let mut c = consume(&cch, &q, false).await;
    let got = collect_for(&mut c, Duration::from_millis(300)).await;
    assert_eq!(got.len(), 6);
    // Ack the even ones among the first four; the rest stay unacked.
    for d in got.iter().take(4).step_by(2) {
        t(d.ack(BasicAckOptions::default())).await.unwrap();
    }
    t(cch.close(200, "bye".into())).await.unwrap();
    let seen = drain_expecting(&obs, &q, 4).await;
    assert_eq!(seen, expected_requeue(6, 4));
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_messages_return_in_order_when_the_connection_closes() {
    let b = broker().await;
    let owner = b.connect().await;
    let (obs, q) = filled_queue(&owner, 6).await;
    let consumer_conn = b.connect().await;
    let cch = t(consumer_conn.create_channel()).await.unwrap();
    let mut c = consume(&cch, &q, false).await;
    let got = collect_for(&mut c, Duration::from_millis(300)).await;
    assert_eq!(got.len(), 6);
    for d in got.iter().take(4).step_by(2) {
        t(d.ack(BasicAckOptions::default())).await.unwrap();
    }
    t(consumer_conn.close(200, "bye".into())).await.unwrap();
    let seen = drain_expecting(&obs, &q, 4).await;
    assert_eq!(seen, expected_requeue(6, 4));
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_messages_return_in_order_when_the_socket_drops() {
    let b = broker().await;
    let owner = b.connect().await;
    let (obs, q) = filled_queue(&owner, 6).await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    c.consume(1, &q, "raw", false).await;
    let mut tags = Vec::new();
    for i in 0..6 {
        let m = c.next_message().await;
        let (_, tag, redelivered, _, _) = m.deliver_fields();
        assert_eq!(m.body, format!("m{i}").as_bytes());
        assert!(!redelivered);
        tags.push(tag);
    }
    c.ack(1, tags[0], false).await;
    c.ack(1, tags[2], false).await;
    // Make sure the acks were processed before the socket goes.
    c.send_method(1, 85, 10, &[0]).await; // confirm.select as a round trip
    c.expect_method(1, 85, 11).await;
    c.abort();
    let seen = drain_expecting(&obs, &q, 4).await;
    assert_eq!(seen, expected_requeue(6, 4));
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_id_must_match_the_connection_user() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    // Matching user_id is accepted.
    publish_with(
        &ch,
        "",
        &q,
        b"ok",
        BasicProperties::default().with_user_id("guest".into()),
    )
    .await;
    sync(&ch, &q).await;
    assert_eq!(drain(&ch, &q).await, vec!["ok"]);
    let w = watch(&ch).await;
    publish_with(
        &ch,
        "",
        &q,
        b"spoofed",
        BasicProperties::default().with_user_id("mallory".into()),
    )
    .await;
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        406,
        "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'",
    )
    .await;
}
