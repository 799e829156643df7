//! Policies (and operator policies): settings applied by name pattern to queues and
//! exchanges at run time, resolved with the queue's own arguments as RabbitMQ does
//! (for limits the lower wins; otherwise the argument wins and the policy fills in).
//! Validated against RabbitMQ 3.10 with `WARREN_TEST_AMQP_URL` (policies are then set
//! through its management API on port 15672).

mod common;

use common::{
    broker, cleanup, confirm_channel, drain, publish_confirmed, t, unique, PolicyValue, TestBroker,
};
use lapin::options::{
    BasicGetOptions, BasicNackOptions, BasicRejectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};
use std::time::Duration;
use PolicyValue::{Int, Str};

/// A pattern that matches exactly `name` (unique names contain dots).
fn exactly(name: &str) -> String {
    format!("^{}$", name.replace('.', "\\."))
}

async fn count(ch: &Channel, q: &str) -> u32 {
    let ok = t(ch.queue_declare(
        q.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("passive declare");
    ok.message_count()
}

async fn declare(ch: &Channel, q: &str, args: FieldTable) {
    t(ch.queue_declare(q.into(), QueueDeclareOptions::default(), args))
        .await
        .expect("declare");
}

async fn publish_n(ch: &Channel, q: &str, n: usize) {
    for i in 0..n {
        publish_confirmed(ch, "", q, format!("m{i}").as_bytes()).await;
    }
}

fn int_arg(key: &str, v: i32) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(key.into(), AMQPValue::LongInt(v));
    args
}

async fn setup() -> (TestBroker, lapin::Connection, Channel) {
    let b = broker().await;
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    (b, conn, ch)
}

#[tokio::test]
async fn a_policy_limits_a_queue_declared_without_arguments_and_lowering_it_drops_the_excess() {
    let (b, _conn, ch) = setup().await;
    let q = unique("pol-maxlen");
    let p = unique("pol");
    declare(&ch, &q, FieldTable::default()).await;
    publish_n(&ch, &q, 5).await;
    assert_eq!(count(&ch, &q).await, 5);
    b.set_policy(
        false,
        &p,
        &exactly(&q),
        "queues",
        0,
        &[("max-length", Int(2))],
    )
    .await;
    // The limit applies at once: the oldest messages go.
    assert_eq!(count(&ch, &q).await, 2);
    publish_n(&ch, &q, 3).await;
    assert_eq!(drain(&ch, &q).await, vec!["m1", "m2"]);
    b.clear_policy(false, &p).await;
    publish_n(&ch, &q, 4).await;
    assert_eq!(count(&ch, &q).await, 4, "no limit once the policy is gone");
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test]
async fn the_lower_of_argument_and_policy_limits_wins() {
    let (b, _conn, ch) = setup().await;
    let q = unique("pol-min");
    let p = unique("pol");
    declare(&ch, &q, int_arg("x-max-length", 3)).await;
    b.set_policy(
        false,
        &p,
        &exactly(&q),
        "all",
        0,
        &[("max-length", Int(10))],
    )
    .await;
    publish_n(&ch, &q, 6).await;
    assert_eq!(
        count(&ch, &q).await,
        3,
        "argument 3 is lower than policy 10"
    );
    b.set_policy(false, &p, &exactly(&q), "all", 0, &[("max-length", Int(1))])
        .await;
    assert_eq!(count(&ch, &q).await, 1, "policy 1 is lower than argument 3");
    b.clear_policy(false, &p).await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test]
async fn the_highest_priority_policy_applies_and_an_operator_policy_caps_it() {
    let (b, _conn, ch) = setup().await;
    let q = unique("pol-prio");
    let (low, high, op) = (unique("low"), unique("high"), unique("op"));
    declare(&ch, &q, FieldTable::default()).await;
    b.set_policy(
        false,
        &low,
        &exactly(&q),
        "queues",
        1,
        &[("max-length", Int(1))],
    )
    .await;
    b.set_policy(
        false,
        &high,
        &exactly(&q),
        "queues",
        5,
        &[("max-length", Int(4))],
    )
    .await;
    publish_n(&ch, &q, 6).await;
    assert_eq!(count(&ch, &q).await, 4, "priority 5 beats priority 1");
    b.set_policy(
        true,
        &op,
        &exactly(&q),
        "queues",
        0,
        &[("max-length", Int(2))],
    )
    .await;
    assert_eq!(count(&ch, &q).await, 2, "the operator policy's lower limit");
    b.clear_policy(true, &op).await;
    b.clear_policy(false, &high).await;
    b.clear_policy(false, &low).await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test]
async fn a_policy_ttl_expires_messages_published_after_it() {
    let (b, _conn, ch) = setup().await;
    let q = unique("pol-ttl");
    let p = unique("pol");
    declare(&ch, &q, FieldTable::default()).await;
    b.set_policy(
        false,
        &p,
        &exactly(&q),
        "queues",
        0,
        &[("message-ttl", Int(50))],
    )
    .await;
    publish_n(&ch, &q, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&ch, &q).await, 0, "expired by the policy's TTL");
    b.clear_policy(false, &p).await;
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test]
async fn a_policy_dead_letter_exchange_fills_in_but_the_argument_wins() {
    let (b, _conn, ch) = setup().await;
    let (q, mine, theirs) = (unique("pol-dlx"), unique("dl-mine"), unique("dl-policy"));
    let (ex_mine, ex_theirs) = (unique("dlx-mine"), unique("dlx-policy"));
    let p = unique("pol");
    for (ex, dq) in [(&ex_mine, &mine), (&ex_theirs, &theirs)] {
        t(ch.exchange_declare(
            ex.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ))
        .await
        .expect("declare dlx");
        declare(&ch, dq, FieldTable::default()).await;
        t(ch.queue_bind(
            dq.as_str().into(),
            ex.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ))
        .await
        .expect("bind");
    }
    declare(&ch, &q, FieldTable::default()).await;
    let theirs_name: &'static str = Box::leak(ex_theirs.clone().into_boxed_str());
    b.set_policy(
        false,
        &p,
        &exactly(&q),
        "queues",
        0,
        &[("dead-letter-exchange", Str(theirs_name))],
    )
    .await;
    publish_confirmed(&ch, "", &q, b"rejected").await;
    let m = t(ch.basic_get(q.as_str().into(), BasicGetOptions::default()))
        .await
        .expect("get")
        .expect("a message");
    t(m.delivery.reject(BasicRejectOptions { requeue: false }))
        .await
        .expect("reject");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(drain(&ch, &theirs).await, vec!["rejected"]);

    // A queue declared with its own dead-letter exchange keeps it.
    let q2 = unique("pol-dlx-arg");
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(ex_mine.as_str().into()),
    );
    declare(&ch, &q2, args).await;
    b.set_policy(
        false,
        &p,
        &format!("{}|{}", exactly(&q), exactly(&q2)),
        "queues",
        0,
        &[("dead-letter-exchange", Str(theirs_name))],
    )
    .await;
    publish_confirmed(&ch, "", &q2, b"mine").await;
    let m = t(ch.basic_get(q2.as_str().into(), BasicGetOptions::default()))
        .await
        .expect("get")
        .expect("a message");
    t(m.delivery.nack(BasicNackOptions {
        requeue: false,
        multiple: false,
    }))
    .await
    .expect("nack");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(drain(&ch, &mine).await, vec!["mine"]);
    assert!(drain(&ch, &theirs).await.is_empty());
    b.clear_policy(false, &p).await;
    cleanup(&b, &[&q, &q2, &mine, &theirs], &[&ex_mine, &ex_theirs]).await;
}

#[tokio::test]
async fn a_policy_gives_an_exchange_its_alternate_exchange() {
    let (b, _conn, ch) = setup().await;
    let (ex, ae, q) = (unique("pol-ex"), unique("pol-ae"), unique("pol-ae-q"));
    let p = unique("pol");
    t(ch.exchange_declare(
        ex.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("declare");
    t(ch.exchange_declare(
        ae.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("declare ae");
    declare(&ch, &q, FieldTable::default()).await;
    t(ch.queue_bind(
        q.as_str().into(),
        ae.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("bind");
    publish_confirmed(&ch, &ex, "nowhere", b"lost").await;
    let ae_name: &'static str = Box::leak(ae.clone().into_boxed_str());
    b.set_policy(
        false,
        &p,
        &exactly(&ex),
        "exchanges",
        0,
        &[("alternate-exchange", Str(ae_name))],
    )
    .await;
    publish_confirmed(&ch, &ex, "nowhere", b"caught").await;
    assert_eq!(drain(&ch, &q).await, vec!["caught"]);
    b.clear_policy(false, &p).await;
    cleanup(&b, &[&q], &[&ex, &ae]).await;
}

#[tokio::test]
async fn a_policy_for_exchanges_does_not_touch_queues() {
    let (b, _conn, ch) = setup().await;
    let q = unique("pol-apply");
    let p = unique("pol");
    declare(&ch, &q, FieldTable::default()).await;
    b.set_policy(
        false,
        &p,
        &exactly(&q),
        "exchanges",
        0,
        &[("max-length", Int(1))],
    )
    .await;
    publish_n(&ch, &q, 3).await;
    assert_eq!(count(&ch, &q).await, 3);
    b.clear_policy(false, &p).await;
    cleanup(&b, &[&q], &[]).await;
}

/// `x-delivery-limit` (RabbitMQ has it on quorum queues only): a message returned more
/// often than the limit is dead-lettered with reason `delivery_limit`; each return
/// before that counts in `x-delivery-count`.
#[tokio::test]
async fn delivery_limit_dead_letters_a_message_returned_too_often() {
    let (b, _conn, ch) = setup().await;
    if b.is_external() {
        return; // classic queues in RabbitMQ ignore x-delivery-limit
    }
    let (q, dq) = (unique("limit"), unique("limit-dl"));
    declare(&ch, &dq, FieldTable::default()).await;
    let mut args = int_arg("x-delivery-limit", 1);
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dq.as_str().into()),
    );
    declare(&ch, &q, args).await;
    publish_confirmed(&ch, "", &q, b"poison").await;
    let mut counts = Vec::new();
    for _ in 0..2 {
        let m = t(ch.basic_get(q.as_str().into(), BasicGetOptions::default()))
            .await
            .expect("get")
            .expect("the message is back");
        let delivery_count = m
            .delivery
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("x-delivery-count").cloned());
        counts.push(delivery_count);
        t(m.delivery.nack(BasicNackOptions {
            requeue: true,
            multiple: false,
        }))
        .await
        .expect("nack");
    }
    assert_eq!(counts, vec![None, Some(AMQPValue::LongLongInt(1))]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count(&ch, &q).await, 0, "returned twice with a limit of 1");
    let m = t(ch.basic_get(dq.as_str().into(), BasicGetOptions::default()))
        .await
        .expect("get")
        .expect("dead-lettered");
    let headers = m.delivery.properties.headers().clone().expect("headers");
    let reason = headers.inner().get("x-first-death-reason").cloned();
    assert_eq!(reason, Some(AMQPValue::LongString("delivery_limit".into())));
    cleanup(&b, &[&q, &dq], &[]).await;
}

/// Publishes on a confirm channel and waits for the broker's answer: true for an ack.
async fn publish_acked(ch: &Channel, q: &str, body: &[u8]) -> bool {
    let confirm = t(ch.basic_publish(
        "".into(),
        q.into(),
        lapin::options::BasicPublishOptions::default(),
        body,
        lapin::BasicProperties::default(),
    ))
    .await
    .expect("publish");
    t(confirm).await.expect("confirm").is_ack()
}

/// A queue that accepts everything has its confirms answered without waiting for the
/// queue; a policy that makes it refuse (reject-publish with a limit) must take effect
/// for the very next publish, and its removal too.
#[tokio::test]
async fn a_reject_publish_policy_nacks_the_next_publish_and_clearing_it_acks_again() {
    let (b, _conn, ch) = setup().await;
    let q = unique("pol-reject");
    let p = unique("pol");
    declare(&ch, &q, FieldTable::default()).await;
    for i in 0..3 {
        assert!(publish_acked(&ch, &q, format!("m{i}").as_bytes()).await);
    }
    b.set_policy(
        false,
        &p,
        &exactly(&q),
        "queues",
        0,
        &[("max-length", Int(3)), ("overflow", Str("reject-publish"))],
    )
    .await;
    assert!(
        !publish_acked(&ch, &q, b"over").await,
        "full under the policy: nacked"
    );
    b.clear_policy(false, &p).await;
    assert!(
        publish_acked(&ch, &q, b"m3").await,
        "no limit once the policy is gone"
    );
    assert_eq!(drain(&ch, &q).await, vec!["m0", "m1", "m2", "m3"]);
    cleanup(&b, &[&q], &[]).await;
}
