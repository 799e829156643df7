//! Message lifecycle: per-queue and per-message TTL, queue expiry (`x-expires`) and
//! dead-lettering (`x-dead-letter-exchange`, `x-dead-letter-routing-key`), with the exact
//! `x-death` headers RabbitMQ 3.10 writes.
//!
//! Every expectation here was checked against RabbitMQ 3.10 (classic queues).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::{
    BasicCancelOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, BasicRejectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Consumer, ExchangeKind};

/// How long a test waits for something a timer makes happen (an expiry, a dead letter).
const SETTLE: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn int(i: i32) -> AMQPValue {
    AMQPValue::LongInt(i)
}

fn s(v: &str) -> AMQPValue {
    AMQPValue::LongString(v.into())
}

fn strings(vs: &[&str]) -> AMQPValue {
    AMQPValue::FieldArray(FieldArray::from(
        vs.iter().map(|v| s(v)).collect::<Vec<_>>(),
    ))
}

fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

async fn try_declare(ch: &Channel, name: &str, args: FieldTable) -> lapin::Result<lapin::Queue> {
    t(ch.queue_declare(name.into(), QueueDeclareOptions::default(), args)).await
}

/// Declares a plain queue with `args`.
async fn declare_args(ch: &Channel, name: &str, args: &[(&str, AMQPValue)]) {
    try_declare(ch, name, table(args))
        .await
        .expect("queue.declare");
}

async fn passive(ch: &Channel, name: &str) -> lapin::Result<lapin::Queue> {
    t(ch.queue_declare(
        name.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
}

/// Ready messages in `q`, from a passive declare.
async fn count(ch: &Channel, q: &str) -> u32 {
    passive(ch, q)
        .await
        .expect("passive declare")
        .message_count()
}

/// Polls the message count of `q` until it is `want` or `SETTLE` has passed; returns the
/// last count seen.
async fn wait_for_count(ch: &Channel, q: &str, want: u32) -> u32 {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let n = count(ch, q).await;
        if n == want || tokio::time::Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn exchange(ch: &Channel, kind: ExchangeKind) -> String {
    let x = unique("x-dlx");
    t(ch.exchange_declare(
        x.as_str().into(),
        kind,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("exchange.declare");
    x
}

async fn bind(ch: &Channel, q: &str, x: &str, key: &str) {
    t(ch.queue_bind(
        q.into(),
        x.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("queue.bind");
}

/// Publishes on a confirm-mode channel and returns the broker's confirmation.
async fn publish_confirm(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) -> Confirmation {
    let confirm = t(ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        props,
    ))
    .await
    .expect("basic.publish");
    t(confirm).await.expect("confirm")
}

/// Publishes with `props` and waits for the ack.
async fn publish_acked(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) {
    let c = publish_confirm(ch, exchange, key, body, props).await;
    assert!(c.is_ack(), "publish should be acked, got {c:?}");
}

fn expiring(ms: &str) -> BasicProperties {
    BasicProperties::default().with_expiration(ms.into())
}

async fn get(ch: &Channel, q: &str, no_ack: bool) -> Option<BasicGetMessage> {
    t(ch.basic_get(q.into(), BasicGetOptions { no_ack }))
        .await
        .expect("basic.get")
}

/// Polls `basic.get` (manual ack) on `q` until a message comes or `SETTLE` has passed.
async fn get_eventually(ch: &Channel, q: &str) -> BasicGetMessage {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        if let Some(m) = get(ch, q, false).await {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message arrived in {q} within {SETTLE:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The next delivery of `c` within `SETTLE`.
async fn arrives(c: &mut Consumer) -> Delivery {
    within(SETTLE, next(c)).await
}

async fn reject(d: &Delivery, requeue: bool) {
    t(d.reject(BasicRejectOptions { requeue }))
        .await
        .expect("basic.reject");
}

/// One expected `x-death` entry.
struct Death<'a> {
    count: i64,
    reason: &'a str,
    queue: &'a str,
    exchange: &'a str,
    routing_keys: &'a [&'a str],
    original_expiration: Option<&'a str>,
}

fn death<'a>(
    count: i64,
    reason: &'a str,
    queue: &'a str,
    exchange: &'a str,
    routing_keys: &'a [&'a str],
) -> Death<'a> {
    Death {
        count,
        reason,
        queue,
        exchange,
        routing_keys,
        original_expiration: None,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Asserts the headers of a dead-lettered delivery exactly: the publisher's own `headers`,
/// the `x-death` array (`deaths`, most recent first) and the `x-first-death-*` trio
/// (`first` = reason, queue, exchange), nothing else. Each entry's `time` must be a
/// timestamp (seconds) close to now.
#[track_caller]
fn assert_dead_letter_headers(
    d: &Delivery,
    headers: FieldTable,
    deaths: &[Death],
    first: (&str, &str, &str),
) {
    let actual = d
        .properties
        .headers()
        .clone()
        .expect("a dead-lettered message has headers");
    let actual_deaths = match actual.inner().get("x-death") {
        Some(AMQPValue::FieldArray(a)) => a.as_slice().to_vec(),
        other => panic!("x-death should be an array, got {other:?} in {actual:?}"),
    };
    assert_eq!(
        actual_deaths.len(),
        deaths.len(),
        "x-death entries: {actual_deaths:?}"
    );
    let mut entries = Vec::new();
    for (want, got) in deaths.iter().zip(&actual_deaths) {
        let AMQPValue::FieldTable(got) = got else {
            panic!("x-death entries are tables, got {got:?}");
        };
        let time = got.inner().get("time").cloned();
        match time {
            Some(AMQPValue::Timestamp(ts)) => assert!(
                ts.abs_diff(now_secs()) < 120,
                "x-death time {ts} should be seconds since the epoch, about now"
            ),
            ref other => panic!("x-death time should be a timestamp, got {other:?}"),
        }
        let mut e = table(&[
            ("count", AMQPValue::LongLongInt(want.count)),
            ("reason", s(want.reason)),
            ("queue", s(want.queue)),
            ("exchange", s(want.exchange)),
            ("routing-keys", strings(want.routing_keys)),
            ("time", time.unwrap()),
        ]);
        if let Some(exp) = want.original_expiration {
            e.insert("original-expiration".into(), s(exp));
        }
        entries.push(AMQPValue::FieldTable(e));
    }
    let mut expected = headers;
    expected.insert(
        "x-death".into(),
        AMQPValue::FieldArray(FieldArray::from(entries)),
    );
    expected.insert("x-first-death-reason".into(), s(first.0));
    expected.insert("x-first-death-queue".into(), s(first.1));
    expected.insert("x-first-death-exchange".into(), s(first.2));
    assert_eq!(actual, expected, "dead-lettered message headers");
}

// ---------------------------------------------------------------------------------------
// x-message-ttl
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_older_than_the_queue_ttl_are_not_delivered() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-ttl");
    declare_args(&ch, &q, &[("x-message-ttl", int(150))]).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"stale", BasicProperties::default()).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        get(&ch, &q, true).await.is_none(),
        "basic.get-empty after the TTL"
    );
    let mut c = consume(&ch, &q, true).await;
    assert_no_delivery(&mut c, Duration::from_millis(300)).await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_messages_leave_the_queue_without_a_consumer() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-ttl-count");
    declare_args(&ch, &q, &[("x-message-ttl", int(300))]).await;
    let pch = confirm_channel(&conn).await;
    for i in 0..3 {
        publish_acked(
            &pch,
            "",
            &q,
            format!("m{i}").as_bytes(),
            BasicProperties::default(),
        )
        .await;
    }
    assert_eq!(count(&ch, &q).await, 3, "counted before the TTL");
    assert_eq!(
        wait_for_count(&ch, &q, 0).await,
        0,
        "the broker drops expired messages from the head on its own"
    );
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_consumed_before_its_ttl_is_delivered_normally() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-ttl-fresh");
    declare_args(&ch, &q, &[("x-message-ttl", int(1000))]).await;
    let pch = confirm_channel(&conn).await;
    let props = BasicProperties::default().with_message_id("fresh-1".into());
    publish_acked(&pch, "", &q, b"by-get", props.clone()).await;
    let m = get(&ch, &q, true).await.expect("basic.get before the TTL");
    assert_eq!(body(&m.delivery), "by-get");
    assert_eq!(
        m.delivery.properties, props,
        "a queue TTL adds no expiration property"
    );
    let mut c = consume(&ch, &q, true).await;
    publish_acked(&pch, "", &q, b"by-consumer", props.clone()).await;
    let d = next(&mut c).await;
    assert_eq!(body(&d), "by-consumer");
    assert_eq!(d.properties, props);
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacked_message_past_its_ttl_expires_when_requeued() {
    // A message held by a consumer does not expire; but it keeps its expiry time, so when
    // it goes back to the queue after its TTL it expires there and then.
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-ttl-unacked");
    declare_args(&ch, &q, &[("x-message-ttl", int(150))]).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"held", BasicProperties::default()).await;
    let m = get(&ch, &q, false).await.expect("basic.get before the TTL");
    tokio::time::sleep(Duration::from_millis(400)).await;
    t(m.delivery.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .expect("basic.nack");
    assert_eq!(wait_for_count(&ch, &q, 0).await, 0);
    assert!(get(&ch, &q, true).await.is_none(), "requeued past its TTL");
    cleanup(&b, &[&q], &[]).await;
}

// ---------------------------------------------------------------------------------------
// Per-message expiration
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_expiration_expires_the_message() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-exp");
    declare_queue(&ch, &q).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"short-lived", expiring("150")).await;
    assert_eq!(wait_for_count(&ch, &q, 0).await, 0);
    assert!(get(&ch, &q, true).await.is_none());
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_ttl_wins_when_lower_than_the_expiration() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-exp-queue-wins");
    declare_args(&ch, &q, &[("x-message-ttl", int(150))]).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"long expiration", expiring("60000")).await;
    assert_eq!(wait_for_count(&ch, &q, 0).await, 0);
    assert!(get(&ch, &q, true).await.is_none());
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiration_wins_when_lower_than_the_queue_ttl() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-exp-msg-wins");
    declare_args(&ch, &q, &[("x-message-ttl", int(60_000))]).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"short", expiring("150")).await;
    publish_acked(&pch, "", &q, b"queue ttl", BasicProperties::default()).await;
    assert_eq!(wait_for_count(&ch, &q, 1).await, 1);
    assert_eq!(drain(&ch, &q).await, vec!["queue ttl"]);
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_message_behind_a_live_one_is_never_delivered() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-exp-behind");
    declare_queue(&ch, &q).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"lives", BasicProperties::default()).await;
    publish_acked(&pch, "", &q, b"expires", expiring("100")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(drain(&ch, &q).await, vec!["lives"]);
    let mut c = consume(&ch, &q, true).await;
    assert_no_delivery(&mut c, Duration::from_millis(200)).await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiration_zero_reaches_only_a_waiting_consumer() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-exp-zero");
    declare_queue(&ch, &q).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"nobody waits", expiring("0")).await;
    assert_eq!(count(&ch, &q).await, 0, "expired on arrival");
    assert!(get(&ch, &q, true).await.is_none(), "basic.get-empty");
    let mut c = consume(&ch, &q, true).await;
    publish_acked(&pch, "", &q, b"someone waits", expiring("0")).await;
    let d = next(&mut c).await;
    assert_eq!(body(&d), "someone waits");
    assert_eq!(
        d.properties.expiration().as_ref().map(|e| e.as_str()),
        Some("0"),
        "the expiration property is delivered as published"
    );
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_ttl_zero_reaches_only_a_waiting_consumer() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-ttl-zero");
    declare_args(&ch, &q, &[("x-message-ttl", int(0))]).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"nobody waits", BasicProperties::default()).await;
    assert_eq!(count(&ch, &q).await, 0, "expired on arrival");
    assert!(get(&ch, &q, true).await.is_none(), "basic.get-empty");
    let mut c = consume(&ch, &q, true).await;
    publish_acked(&pch, "", &q, b"someone waits", BasicProperties::default()).await;
    assert_eq!(body(&next(&mut c).await), "someone waits");
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_expiration_closes_the_channel_406() {
    let b = broker().await;
    let conn = b.connect().await;
    let q = unique("q-exp-invalid");
    let cases = [
        (
            "abc",
            "PRECONDITION_FAILED - invalid expiration 'abc': no_integer",
        ),
        (
            "",
            "PRECONDITION_FAILED - invalid expiration '': no_integer",
        ),
        (
            "-1",
            "PRECONDITION_FAILED - invalid expiration '-1': {value_negative,-1}",
        ),
        (
            "10x",
            "PRECONDITION_FAILED - invalid expiration '10x': {leftover_string,\"x\"}",
        ),
        (
            "1.5",
            "PRECONDITION_FAILED - invalid expiration '1.5': {leftover_string,\".5\"}",
        ),
        (
            " 5",
            "PRECONDITION_FAILED - invalid expiration ' 5': no_integer",
        ),
        (
            "315360000001",
            "PRECONDITION_FAILED - invalid expiration '315360000001': \
             {value_too_large,315360000001}",
        ),
    ];
    for (expiration, text) in cases {
        let ch = t(conn.create_channel()).await.expect("open channel");
        let w = watch(&ch).await;
        t(ch.basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            b"bad",
            expiring(expiration),
        ))
        .await
        .expect("basic.publish");
        expect_async_channel_error(&conn, &ch, w, 406, text).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiration_is_parsed_like_erlang_integers() {
    // A leading '+' and leading zeros are accepted; ten years is the longest expiration.
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-exp-parse");
    declare_queue(&ch, &q).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"plus", expiring("+150")).await;
    publish_acked(&pch, "", &q, b"zeros", expiring("000150")).await;
    publish_acked(&pch, "", &q, b"ten years", expiring("315360000000")).await;
    assert_eq!(wait_for_count(&ch, &q, 1).await, 1);
    assert_eq!(drain(&ch, &q).await, vec!["ten years"]);
    assert!(pch.status().connected());
    cleanup(&b, &[&q], &[]).await;
}

// ---------------------------------------------------------------------------------------
// Invalid arguments
// ---------------------------------------------------------------------------------------

/// The text RabbitMQ gives for most refused queue arguments.
fn invalid_arg(key: &str, q: &str, reason: &str) -> String {
    format!("PRECONDITION_FAILED - invalid arg '{key}' for queue '{q}' in vhost '/': {reason}")
}

/// Declares a queue with `key` = `value`, expects a 406 with `text(queue name)`, and checks
/// the queue was not created.
async fn assert_refused(
    b: &TestBroker,
    key: &str,
    value: AMQPValue,
    text: impl Fn(&str) -> String,
) {
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-badarg");
    let res = try_declare(&ch, &q, table(&[(key, value)])).await;
    expect_channel_error(&conn, &ch, res, 406, &text(&q)).await;
    let ch = t(conn.create_channel()).await.unwrap();
    let res = passive(&ch, &q).await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
    let _ = t(conn.close(200, "bye".into())).await;
}

/// Declares (then deletes) a queue with `key` = `value`, which must be accepted.
async fn assert_accepted(b: &TestBroker, key: &str, value: AMQPValue) {
    let (_conn, ch) = b.connect_channel().await;
    let q = unique("q-goodarg");
    let res = try_declare(&ch, &q, table(&[(key, value.clone())])).await;
    cleanup(b, &[&q], &[]).await;
    res.unwrap_or_else(|e| panic!("{key} = {value:?} should be accepted: {e}"));
}

/// The largest TTL and expiry RabbitMQ 3.10 accepts: ten years of milliseconds.
const MAX_EXPIRY_MS: i64 = 315_360_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_message_ttl_is_refused_at_declare() {
    let b = broker().await;
    let key = "x-message-ttl";
    assert_refused(&b, key, int(-1), |q| {
        invalid_arg(key, q, "{value_negative,-1}")
    })
    .await;
    assert_refused(&b, key, AMQPValue::LongLongInt(MAX_EXPIRY_MS + 1), |q| {
        invalid_arg(key, q, "{value_too_large,315360000001}")
    })
    .await;
    assert_refused(&b, key, s("100"), |q| {
        invalid_arg(key, q, "\"expected integer, got longstr\"")
    })
    .await;
    assert_refused(&b, key, AMQPValue::Double(1.5), |q| {
        invalid_arg(key, q, "\"expected integer, got double\"")
    })
    .await;
    assert_accepted(&b, key, AMQPValue::LongLongInt(MAX_EXPIRY_MS)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_expires_is_refused_at_declare() {
    let b = broker().await;
    let key = "x-expires";
    assert_refused(&b, key, int(0), |q| invalid_arg(key, q, "{value_zero,0}")).await;
    assert_refused(&b, key, int(-1), |q| {
        invalid_arg(key, q, "{value_negative,-1}")
    })
    .await;
    assert_refused(&b, key, AMQPValue::LongLongInt(MAX_EXPIRY_MS + 1), |q| {
        invalid_arg(key, q, "{value_too_large,315360000001}")
    })
    .await;
    assert_refused(&b, key, s("100"), |q| {
        invalid_arg(key, q, "\"expected integer, got longstr\"")
    })
    .await;
    assert_accepted(&b, key, AMQPValue::LongLongInt(MAX_EXPIRY_MS)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_dead_letter_arguments_are_refused_at_declare() {
    let b = broker().await;
    let rk = "x-dead-letter-routing-key";
    assert_refused(&b, rk, s("dead"), |q| {
        invalid_arg(rk, q, "routing_key_but_no_dlx_defined")
    })
    .await;
    assert_refused(&b, rk, int(1), |q| {
        invalid_arg(rk, q, "{unacceptable_type,signedint}")
    })
    .await;
    // A non-string exchange name has a text of its own.
    let dlx = "x-dead-letter-exchange";
    assert_refused(&b, dlx, int(1), |q| {
        format!(
            "PRECONDITION_FAILED - invalid type 'signedint' for arg '{dlx}' in queue '{q}' \
             in vhost '/'"
        )
    })
    .await;
    assert_refused(&b, dlx, AMQPValue::Boolean(true), |q| {
        format!(
            "PRECONDITION_FAILED - invalid type 'bool' for arg '{dlx}' in queue '{q}' \
             in vhost '/'"
        )
    })
    .await;
}

fn no_queue(q: &str) -> String {
    format!("NOT_FOUND - no queue '{q}' in vhost '/'")
}

// ---------------------------------------------------------------------------------------
// x-expires
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_queue_is_deleted_after_x_expires() {
    // Messages in the queue do not keep it alive. (Every declare, passive ones too, renews
    // the lease, so this test cannot poll.)
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-expires");
    declare_args(&ch, &q, &[("x-expires", int(200))]).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"left behind", BasicProperties::default()).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let res = passive(&ch, &q).await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_with_a_consumer_does_not_expire() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-expires-consumer");
    declare_args(&ch, &q, &[("x-expires", int(200))]).await;
    let c = consume(&ch, &q, true).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let cch = t(conn.create_channel()).await.unwrap();
    assert_eq!(
        passive(&cch, &q)
            .await
            .expect("still there with a consumer")
            .consumer_count(),
        1
    );
    t(ch.basic_cancel(c.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    // Unused from the cancel on: gone one interval later.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let res = passive(&cch, &q).await;
    expect_channel_error(&conn, &cch, res, 404, &no_queue(&q)).await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_get_renews_the_expiry_lease() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-expires-get");
    declare_args(&ch, &q, &[("x-expires", int(400))]).await;
    // 6 × 150 ms = 900 ms, over twice the interval, kept alive by basic.get alone.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(get(&ch, &q, true).await.is_none());
    }
    assert!(passive(&ch, &q).await.is_ok(), "the lease was renewed");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let res = passive(&ch, &q).await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclaring_renews_the_expiry_lease() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-expires-redeclare");
    let args = || table(&[("x-expires", int(400))]);
    try_declare(&ch, &q, args()).await.expect("queue.declare");
    // The marker message shows every redeclare finds the same queue (a redeclare after
    // expiry would silently create a new, empty one).
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"marker", BasicProperties::default()).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let ok = try_declare(&ch, &q, args()).await.expect("redeclare");
        assert_eq!(ok.message_count(), 1, "the same queue, kept alive");
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let res = passive(&ch, &q).await;
    expect_channel_error(&conn, &ch, res, 404, &no_queue(&q)).await;
    cleanup(&b, &[&q], &[]).await;
}

// ---------------------------------------------------------------------------------------
// Dead-lettering
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_messages_are_dead_lettered_with_an_x_death_header() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let src = exchange(&ch, ExchangeKind::Direct).await;
    let dlx = exchange(&ch, ExchangeKind::Direct).await;
    let q = unique("q-dl-src");
    let dlq = unique("q-dl-target");
    declare_args(&ch, &q, &[("x-dead-letter-exchange", s(&dlx))]).await;
    declare_queue(&ch, &dlq).await;
    bind(&ch, &q, &src, "orders").await;
    bind(&ch, &dlq, &dlx, "orders").await;
    let headers = table(&[("app-header", s("kept")), ("n", int(7))]);
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("identity".into())
        .with_headers(headers.clone())
        .with_delivery_mode(2)
        .with_priority(3)
        .with_correlation_id("corr-1".into())
        .with_reply_to("replies".into())
        .with_message_id("msg-1".into())
        .with_timestamp(1_600_000_000)
        .with_type("order".into())
        .with_user_id("guest".into())
        .with_app_id("lifecycle-tests".into());
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, &src, "orders", b"{\"id\":1}", props.clone()).await;
    let mut c = consume(&ch, &dlq, true).await;
    let m = get(&ch, &q, false)
        .await
        .expect("message in the source queue");
    reject(&m.delivery, false).await;
    let d = arrives(&mut c).await;
    assert_eq!(body(&d), "{\"id\":1}");
    assert_eq!(
        d.exchange.as_str(),
        dlx,
        "delivered from the dead letter exchange"
    );
    assert_eq!(d.routing_key.as_str(), "orders", "original routing key");
    assert!(!d.redelivered);
    assert_dead_letter_headers(
        &d,
        headers.clone(),
        &[death(1, "rejected", &q, &src, &["orders"])],
        ("rejected", &q, &src),
    );
    assert_eq!(
        d.properties.clone().with_headers(headers),
        props,
        "every other property is kept"
    );
    assert_eq!(count(&ch, &q).await, 0);
    cleanup(&b, &[&q, &dlq], &[&src, &dlx]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacked_messages_are_dead_lettered_with_the_dead_letter_routing_key() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let dlx = exchange(&ch, ExchangeKind::Direct).await;
    let q = unique("q-dl-nack");
    let dlq = unique("q-dl-nack-target");
    declare_args(
        &ch,
        &q,
        &[
            ("x-dead-letter-exchange", s(&dlx)),
            ("x-dead-letter-routing-key", s("dead")),
        ],
    )
    .await;
    declare_queue(&ch, &dlq).await;
    bind(&ch, &dlq, &dlx, "dead").await;
    let pch = confirm_channel(&conn).await;
    for body in ["n1", "n2"] {
        publish_acked(&pch, "", &q, body.as_bytes(), BasicProperties::default()).await;
    }
    let mut c = consume(&ch, &dlq, true).await;
    let _m1 = get(&ch, &q, false).await.expect("n1");
    let m2 = get(&ch, &q, false).await.expect("n2");
    t(m2.delivery.nack(BasicNackOptions {
        multiple: true,
        requeue: false,
    }))
    .await
    .expect("basic.nack");
    for want in ["n1", "n2"] {
        let d = arrives(&mut c).await;
        assert_eq!(body(&d), want);
        assert_eq!(d.exchange.as_str(), dlx);
        assert_eq!(d.routing_key.as_str(), "dead", "x-dead-letter-routing-key");
        assert_dead_letter_headers(
            &d,
            FieldTable::default(),
            &[death(1, "rejected", &q, "", &[q.as_str()])],
            ("rejected", &q, ""),
        );
    }
    cleanup(&b, &[&q, &dlq], &[&dlx]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeued_rejections_purges_and_deletes_do_not_dead_letter() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-dl-not");
    let dlq = unique("q-dl-not-target");
    declare_args(
        &ch,
        &q,
        &[
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&dlq)),
        ],
    )
    .await;
    declare_queue(&ch, &dlq).await;
    let pch = confirm_channel(&conn).await;
    for body in ["a", "b"] {
        publish_acked(&pch, "", &q, body.as_bytes(), BasicProperties::default()).await;
    }
    let m = get(&ch, &q, false).await.expect("a");
    reject(&m.delivery, true).await;
    let again = get(&ch, &q, true)
        .await
        .expect("requeued, not dead-lettered");
    assert_eq!(body(&again.delivery), "a");
    assert!(again.delivery.redelivered);
    let purged = t(ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default()))
        .await
        .expect("queue.purge");
    assert_eq!(purged, 1);
    publish_acked(&pch, "", &q, b"c", BasicProperties::default()).await;
    let deleted = t(ch.queue_delete(q.as_str().into(), Default::default()))
        .await
        .expect("queue.delete");
    assert_eq!(deleted, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&ch, &dlq).await, 0);
    cleanup(&b, &[&q, &dlq], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_messages_are_dead_lettered_with_reason_expired() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-dl-ttl");
    let dlq = unique("q-dl-ttl-target");
    declare_args(
        &ch,
        &q,
        &[
            ("x-message-ttl", int(100)),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&dlq)),
        ],
    )
    .await;
    declare_queue(&ch, &dlq).await;
    let mut c = consume(&ch, &dlq, true).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"timed out", BasicProperties::default()).await;
    let d = arrives(&mut c).await;
    assert_eq!(body(&d), "timed out");
    assert_eq!(
        (d.exchange.as_str(), d.routing_key.as_str()),
        ("", dlq.as_str())
    );
    assert_eq!(d.properties.expiration(), &None);
    assert_dead_letter_headers(
        &d,
        FieldTable::default(),
        &[death(1, "expired", &q, "", &[q.as_str()])],
        ("expired", &q, ""),
    );
    cleanup(&b, &[&q, &dlq], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_expiry_records_the_original_expiration() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-dl-exp");
    let dlq = unique("q-dl-exp-target");
    declare_args(
        &ch,
        &q,
        &[
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&dlq)),
        ],
    )
    .await;
    declare_queue(&ch, &dlq).await;
    let mut c = consume(&ch, &dlq, true).await;
    let pch = confirm_channel(&conn).await;
    let props = expiring("100").with_correlation_id("c-9".into());
    publish_acked(&pch, "", &q, b"per-message", props).await;
    let d = arrives(&mut c).await;
    assert_eq!(body(&d), "per-message");
    assert_eq!(
        d.properties.expiration(),
        &None,
        "the expiration property is removed"
    );
    assert_eq!(
        d.properties.correlation_id().as_ref().map(|c| c.as_str()),
        Some("c-9")
    );
    let keys = [q.as_str()];
    let mut entry = death(1, "expired", &q, "", &keys);
    entry.original_expiration = Some("100");
    assert_dead_letter_headers(&d, FieldTable::default(), &[entry], ("expired", &q, ""));
    cleanup(&b, &[&q, &dlq], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_length_drop_head_dead_letters_with_reason_maxlen() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-dl-maxlen");
    let dlq = unique("q-dl-maxlen-target");
    declare_args(
        &ch,
        &q,
        &[
            ("x-max-length", int(1)),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&dlq)),
        ],
    )
    .await;
    declare_queue(&ch, &dlq).await;
    let mut c = consume(&ch, &dlq, true).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"oldest", BasicProperties::default()).await;
    publish_acked(&pch, "", &q, b"newest", BasicProperties::default()).await;
    let d = arrives(&mut c).await;
    assert_eq!(body(&d), "oldest", "the head is dropped");
    assert_dead_letter_headers(
        &d,
        FieldTable::default(),
        &[death(1, "maxlen", &q, "", &[q.as_str()])],
        ("maxlen", &q, ""),
    );
    assert_eq!(drain(&ch, &q).await, vec!["newest"]);
    cleanup(&b, &[&q, &dlq], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_publish_dlx_nacks_and_dead_letters_the_refused_message() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-dl-rpdlx");
    let dlq = unique("q-dl-rpdlx-target");
    declare_args(
        &ch,
        &q,
        &[
            ("x-max-length", int(1)),
            ("x-overflow", s("reject-publish-dlx")),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&dlq)),
        ],
    )
    .await;
    declare_queue(&ch, &dlq).await;
    let mut c = consume(&ch, &dlq, true).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"fits", BasicProperties::default()).await;
    let refused = publish_confirm(&pch, "", &q, b"refused", BasicProperties::default()).await;
    assert!(
        refused.is_nack(),
        "the publisher is nacked, got {refused:?}"
    );
    let d = arrives(&mut c).await;
    assert_eq!(body(&d), "refused");
    assert_dead_letter_headers(
        &d,
        FieldTable::default(),
        &[death(1, "maxlen", &q, "", &[q.as_str()])],
        ("maxlen", &q, ""),
    );
    assert_eq!(drain(&ch, &q).await, vec!["fits"]);
    cleanup(&b, &[&q, &dlq], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_lettered_twice_has_two_x_death_entries_most_recent_first() {
    // q1 --rejected--> x1 --k2--> q2 --expired--> x2 --k3--> q3
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x1 = exchange(&ch, ExchangeKind::Direct).await;
    let x2 = exchange(&ch, ExchangeKind::Direct).await;
    let q1 = unique("q-dl-twice-1");
    let q2 = unique("q-dl-twice-2");
    let q3 = unique("q-dl-twice-3");
    declare_args(
        &ch,
        &q1,
        &[
            ("x-dead-letter-exchange", s(&x1)),
            ("x-dead-letter-routing-key", s("k2")),
        ],
    )
    .await;
    declare_args(
        &ch,
        &q2,
        &[
            ("x-message-ttl", int(100)),
            ("x-dead-letter-exchange", s(&x2)),
            ("x-dead-letter-routing-key", s("k3")),
        ],
    )
    .await;
    declare_queue(&ch, &q3).await;
    bind(&ch, &q2, &x1, "k2").await;
    bind(&ch, &q3, &x2, "k3").await;
    let mut c = consume(&ch, &q3, true).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q1, b"twice", BasicProperties::default()).await;
    let m = get(&ch, &q1, false).await.expect("in q1");
    reject(&m.delivery, false).await;
    let d = arrives(&mut c).await;
    assert_eq!(body(&d), "twice");
    assert_eq!(
        (d.exchange.as_str(), d.routing_key.as_str()),
        (x2.as_str(), "k3")
    );
    assert_dead_letter_headers(
        &d,
        FieldTable::default(),
        &[
            death(1, "expired", &q2, &x1, &["k2"]),
            death(1, "rejected", &q1, "", &[q1.as_str()]),
        ],
        ("rejected", &q1, ""),
    );
    cleanup(&b, &[&q1, &q2, &q3], &[&x1, &x2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_back_into_the_same_queue_increments_the_count() {
    // The queue's dead letter exchange is the default one and there is no dead letter
    // routing key, so a rejected message goes back to the queue under its original key.
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-dl-loop");
    declare_args(&ch, &q, &[("x-dead-letter-exchange", s(""))]).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"boomerang", BasicProperties::default()).await;
    let mut m = get(&ch, &q, false).await.expect("first delivery");
    assert_eq!(m.delivery.properties.headers(), &None);
    for n in 1..=3 {
        reject(&m.delivery, false).await;
        m = get_eventually(&ch, &q).await;
        assert_eq!(body(&m.delivery), "boomerang");
        assert!(!m.delivery.redelivered, "a dead-lettered message is new");
        assert_dead_letter_headers(
            &m.delivery,
            FieldTable::default(),
            &[death(n, "rejected", &q, "", &[q.as_str()])],
            ("rejected", &q, ""),
        );
    }
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_cycle_back_into_the_same_queue_drops_the_message() {
    // q expires into a fanout exchange bound to q itself and to an observer queue. The
    // copy for q would close a cycle with no rejection in it, so it is dropped at once;
    // the observer gets its copy.
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let fan = exchange(&ch, ExchangeKind::Fanout).await;
    let q = unique("q-dl-cycle");
    let obs = unique("q-dl-cycle-observer");
    declare_args(
        &ch,
        &q,
        &[
            ("x-message-ttl", int(100)),
            ("x-dead-letter-exchange", s(&fan)),
        ],
    )
    .await;
    declare_queue(&ch, &obs).await;
    bind(&ch, &q, &fan, "").await;
    bind(&ch, &obs, &fan, "").await;
    let mut c = consume(&ch, &obs, true).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"round and round", BasicProperties::default()).await;
    let d = arrives(&mut c).await;
    assert_eq!(body(&d), "round and round");
    assert_dead_letter_headers(
        &d,
        FieldTable::default(),
        &[death(1, "expired", &q, "", &[q.as_str()])],
        ("expired", &q, ""),
    );
    assert_no_delivery(&mut c, Duration::from_millis(500)).await;
    assert_eq!(count(&ch, &q).await, 0, "q did not get the message back");
    cleanup(&b, &[&q, &obs], &[&fan]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_cycle_through_two_queues_drops_the_message_when_it_returns() {
    // q1 --expired--> x --k2--> q2 --expired--> x --k1--> q1 (dropped: a cycle); an
    // observer bound with both keys sees both hops.
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = exchange(&ch, ExchangeKind::Direct).await;
    let q1 = unique("q-dl-cycle2-1");
    let q2 = unique("q-dl-cycle2-2");
    let obs = unique("q-dl-cycle2-observer");
    for (q, next_key) in [(&q1, "k2"), (&q2, "k1")] {
        declare_args(
            &ch,
            q,
            &[
                ("x-message-ttl", int(100)),
                ("x-dead-letter-exchange", s(&x)),
                ("x-dead-letter-routing-key", s(next_key)),
            ],
        )
        .await;
    }
    declare_queue(&ch, &obs).await;
    bind(&ch, &q1, &x, "k1").await;
    bind(&ch, &q2, &x, "k2").await;
    bind(&ch, &obs, &x, "k1").await;
    bind(&ch, &obs, &x, "k2").await;
    let mut c = consume(&ch, &obs, true).await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q1, b"cycle", BasicProperties::default()).await;

    let first = arrives(&mut c).await;
    assert_eq!(first.routing_key.as_str(), "k2");
    assert_dead_letter_headers(
        &first,
        FieldTable::default(),
        &[death(1, "expired", &q1, "", &[q1.as_str()])],
        ("expired", &q1, ""),
    );
    let second = arrives(&mut c).await;
    assert_eq!(second.routing_key.as_str(), "k1");
    assert_dead_letter_headers(
        &second,
        FieldTable::default(),
        &[
            death(1, "expired", &q2, &x, &["k2"]),
            death(1, "expired", &q1, "", &[q1.as_str()]),
        ],
        ("expired", &q1, ""),
    );
    assert_no_delivery(&mut c, Duration::from_millis(500)).await;
    assert_eq!(count(&ch, &q1).await, 0);
    assert_eq!(count(&ch, &q2).await, 0);
    cleanup(&b, &[&q1, &q2, &obs], &[&x]).await;
}

/// Headers with CC `b` and BCC `c`.
fn cc_bcc() -> FieldTable {
    table(&[("CC", strings(&["b"])), ("BCC", strings(&["c"]))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_lettering_routes_by_the_original_keys_including_cc_and_bcc() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let src = exchange(&ch, ExchangeKind::Direct).await;
    let dlx = exchange(&ch, ExchangeKind::Direct).await;
    let q = unique("q-dl-cc");
    let (qa, qb, qc) = (
        unique("q-dl-cc-a"),
        unique("q-dl-cc-b"),
        unique("q-dl-cc-c"),
    );
    declare_args(&ch, &q, &[("x-dead-letter-exchange", s(&dlx))]).await;
    bind(&ch, &q, &src, "a").await;
    for (dq, key) in [(&qa, "a"), (&qb, "b"), (&qc, "c")] {
        declare_queue(&ch, dq).await;
        bind(&ch, dq, &dlx, key).await;
    }
    let pch = confirm_channel(&conn).await;
    let props = BasicProperties::default().with_headers(cc_bcc());
    publish_acked(&pch, &src, "a", b"copied", props).await;
    let m = get(&ch, &q, false).await.expect("routed by key a");
    assert_eq!(
        m.delivery.properties.headers(),
        &Some(table(&[("CC", strings(&["b"]))])),
        "BCC is removed before delivery"
    );
    reject(&m.delivery, false).await;
    for dq in [&qa, &qb, &qc] {
        let d = get_eventually(&ch, dq).await;
        assert_eq!(body(&d.delivery), "copied", "in {dq}");
        assert_eq!(d.delivery.routing_key.as_str(), "a");
        assert_dead_letter_headers(
            &d.delivery,
            table(&[("CC", strings(&["b"]))]),
            &[death(1, "rejected", &q, &src, &["a", "b"])],
            ("rejected", &q, &src),
        );
    }
    cleanup(&b, &[&q, &qa, &qb, &qc], &[&src, &dlx]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_routing_key_replaces_cc_and_bcc_routing() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let src = exchange(&ch, ExchangeKind::Direct).await;
    let dlx = exchange(&ch, ExchangeKind::Direct).await;
    let q = unique("q-dl-ccrk");
    let (qd, qb, qc) = (
        unique("q-dl-ccrk-d"),
        unique("q-dl-ccrk-b"),
        unique("q-dl-ccrk-c"),
    );
    declare_args(
        &ch,
        &q,
        &[
            ("x-dead-letter-exchange", s(&dlx)),
            ("x-dead-letter-routing-key", s("d")),
        ],
    )
    .await;
    bind(&ch, &q, &src, "a").await;
    for (dq, key) in [(&qd, "d"), (&qb, "b"), (&qc, "c")] {
        declare_queue(&ch, dq).await;
        bind(&ch, dq, &dlx, key).await;
    }
    let pch = confirm_channel(&conn).await;
    let props = BasicProperties::default().with_headers(cc_bcc());
    publish_acked(&pch, &src, "a", b"redirected", props).await;
    let m = get(&ch, &q, false).await.expect("routed by key a");
    reject(&m.delivery, false).await;
    let d = get_eventually(&ch, &qd).await;
    assert_eq!(body(&d.delivery), "redirected");
    assert_eq!(d.delivery.routing_key.as_str(), "d");
    assert_dead_letter_headers(
        &d.delivery,
        FieldTable::default(),
        &[death(1, "rejected", &q, &src, &["a", "b"])],
        ("rejected", &q, &src),
    );
    assert_eq!(count(&ch, &qb).await, 0, "CC is not used");
    assert_eq!(count(&ch, &qc).await, 0, "BCC is not used");
    cleanup(&b, &[&q, &qd, &qb, &qc], &[&src, &dlx]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_lettering_to_a_missing_exchange_drops_the_message() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = unique("q-dl-nowhere");
    let missing = unique("x-dl-missing");
    declare_args(
        &ch,
        &q,
        &[
            ("x-dead-letter-exchange", s(&missing)),
            ("x-message-ttl", int(100)),
        ],
    )
    .await;
    let pch = confirm_channel(&conn).await;
    publish_acked(&pch, "", &q, b"rejected", BasicProperties::default()).await;
    let m = get(&ch, &q, false).await.expect("message");
    reject(&m.delivery, false).await;
    publish_acked(&pch, "", &q, b"expired", BasicProperties::default()).await;
    assert_eq!(wait_for_count(&ch, &q, 0).await, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(get(&ch, &q, true).await.is_none());
    assert!(ch.status().connected(), "no channel error");
    assert_connection_usable(&conn).await;
    cleanup(&b, &[&q], &[]).await;
}
