//! Retries with an agreed next delivery time (`x-retry-delays`, a Warren extension):
//! a message nacked or rejected with requeue comes back after the delay for its
//! attempt, with `x-retry-attempt` and `x-retry-delay` headers; after the last delay
//! it is dead-lettered (`rejected`) or dropped. Other requeues (`basic.recover`, a
//! channel closing) are immediate, as without the argument.

mod common;

use common::{broker, publish, t, unique};
use lapin::options::{
    BasicGetOptions, BasicNackOptions, BasicRejectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable};
use lapin::{Channel, ExchangeKind};
use std::time::{Duration, Instant};

async fn retry_queue(ch: &Channel, delays: &[i32], dlx: Option<&str>) -> String {
    let q = unique("retry");
    let mut args = FieldTable::default();
    let delays: Vec<AMQPValue> = delays.iter().map(|d| AMQPValue::LongInt(*d)).collect();
    args.insert(
        "x-retry-delays".into(),
        AMQPValue::FieldArray(FieldArray::from(delays)),
    );
    if let Some(dlx) = dlx {
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.into()),
        );
    }
    t(ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), args))
        .await
        .expect("declare");
    q
}

/// Polls with basic.get until a message arrives (or `limit` passes).
async fn get_within(
    ch: &Channel,
    q: &str,
    limit: Duration,
) -> Option<lapin::message::BasicGetMessage> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(m) = t(ch.basic_get(q.into(), BasicGetOptions::default()))
            .await
            .expect("get")
        {
            return Some(m);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn header(m: &lapin::message::BasicGetMessage, key: &str) -> Option<i64> {
    let headers = m.delivery.properties.headers().as_ref()?;
    match headers.inner().get(key)? {
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongInt(v) => Some(*v as i64),
        _ => None,
    }
}

#[tokio::test]
async fn a_nacked_message_comes_back_after_each_delay_then_is_dead_lettered() {
    let b = broker().await;
    if b.is_external() {
        return; // a Warren extension: RabbitMQ has no x-retry-delays
    }
    let (_conn, ch) = b.connect_channel().await;
    let dlx = unique("retry-dlx");
    t(ch.exchange_declare(
        dlx.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let parked = unique("parked");
    t(ch.queue_declare(
        parked.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    t(ch.queue_bind(
        parked.as_str().into(),
        dlx.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let q = retry_queue(&ch, &[200, 400], Some(&dlx)).await;
    publish(&ch, "", &q, b"job").await;

    let first = get_within(&ch, &q, Duration::from_secs(2))
        .await
        .expect("first delivery");
    assert!(!first.delivery.redelivered);
    assert_eq!(header(&first, "x-retry-attempt"), None);
    t(first.delivery.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .unwrap();
    let nacked = Instant::now();
    // Waiting out its delay, it still counts as the queue's.
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let declared = t(ch.queue_declare(q.as_str().into(), passive, FieldTable::default()))
        .await
        .unwrap();
    assert_eq!(declared.message_count(), 1);

    let second = get_within(&ch, &q, Duration::from_secs(2))
        .await
        .expect("first retry");
    assert!(
        nacked.elapsed() >= Duration::from_millis(190),
        "{:?}",
        nacked.elapsed()
    );
    assert!(second.delivery.redelivered);
    assert_eq!(header(&second, "x-retry-attempt"), Some(1));
    assert_eq!(header(&second, "x-retry-delay"), Some(200));
    t(second.delivery.reject(BasicRejectOptions { requeue: true }))
        .await
        .unwrap();
    let rejected = Instant::now();

    let third = get_within(&ch, &q, Duration::from_secs(2))
        .await
        .expect("second retry");
    assert!(
        rejected.elapsed() >= Duration::from_millis(390),
        "{:?}",
        rejected.elapsed()
    );
    assert_eq!(header(&third, "x-retry-attempt"), Some(2));
    assert_eq!(header(&third, "x-retry-delay"), Some(400));
    t(third.delivery.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .unwrap();

    // No delay left: dead-lettered as rejected.
    let dead = get_within(&ch, &parked, Duration::from_secs(2))
        .await
        .expect("dead-lettered");
    assert_eq!(&dead.delivery.data[..], b"job");
    let headers = dead.delivery.properties.headers().as_ref().unwrap().inner();
    let Some(AMQPValue::FieldArray(deaths)) = headers.get("x-death") else {
        panic!("x-death: {headers:?}");
    };
    let Some(AMQPValue::FieldTable(death)) = deaths.as_slice().first() else {
        panic!("x-death entry");
    };
    assert_eq!(
        death.inner().get("reason"),
        Some(&AMQPValue::LongString("rejected".into()))
    );
    assert!(get_within(&ch, &q, Duration::from_millis(300))
        .await
        .is_none());
    for name in [&q, &parked] {
        t(ch.queue_delete(name.as_str().into(), QueueDeleteOptions::default()))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn without_a_dead_letter_exchange_the_last_nack_drops_the_message() {
    let b = broker().await;
    if b.is_external() {
        return; // a Warren extension: RabbitMQ has no x-retry-delays
    }
    let (_conn, ch) = b.connect_channel().await;
    let q = retry_queue(&ch, &[100], None).await;
    publish(&ch, "", &q, b"job").await;
    for _ in 0..2 {
        let m = get_within(&ch, &q, Duration::from_secs(2))
            .await
            .expect("delivery");
        t(m.delivery.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        }))
        .await
        .unwrap();
    }
    assert!(get_within(&ch, &q, Duration::from_millis(400))
        .await
        .is_none());
    t(ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
}

#[tokio::test]
async fn invalid_retry_delays_are_refused() {
    let b = broker().await;
    if b.is_external() {
        return; // a Warren extension: RabbitMQ has no x-retry-delays
    }
    for (value, text) in [
        (
            AMQPValue::LongString("1000".into()),
            "{unacceptable_type,longstr}".to_string(),
        ),
        (
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongInt(-5)])),
            "{value_negative,-5}".to_string(),
        ),
    ] {
        let (_conn, ch) = b.connect_channel().await;
        let q = unique("retry-bad");
        let mut args = FieldTable::default();
        args.insert("x-retry-delays".into(), value);
        let res =
            t(ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), args)).await;
        common::assert_channel_error(
            res,
            406,
            &format!(
                "PRECONDITION_FAILED - invalid arg 'x-retry-delays' for queue '{q}' in vhost '/': {text}"
            ),
        );
    }
}

#[tokio::test]
async fn a_persistent_message_waiting_for_its_retry_keeps_waiting_after_a_restart() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("retry-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || warren::Config {
        data_dir: dir.clone(),
        remove_data_dir: false,
        ..warren::Config::for_tests()
    };
    let url = |server: &warren::Server| {
        format!(
            "amqp://guest:guest@127.0.0.1:{}/%2F",
            server.amqp_addr().port()
        )
    };
    let server = t(warren::start(config())).await.unwrap();
    let conn = common::connect_url(&url(&server)).await.unwrap();
    let ch = common::confirm_channel(&conn).await;
    let mut args = FieldTable::default();
    args.insert(
        "x-retry-delays".into(),
        AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongInt(1500)])),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    t(ch.queue_declare("retried".into(), durable, args))
        .await
        .unwrap();
    let confirm = t(ch.basic_publish(
        "".into(),
        "retried".into(),
        lapin::options::BasicPublishOptions::default(),
        b"job",
        lapin::BasicProperties::default().with_delivery_mode(2),
    ))
    .await
    .unwrap();
    t(confirm).await.unwrap();
    let first = get_within(&ch, "retried", Duration::from_secs(2))
        .await
        .expect("first delivery");
    t(first.delivery.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .unwrap();
    let nacked = Instant::now();
    drop(conn);
    server.shutdown().await;

    let server = t(warren::start(config())).await.unwrap();
    let conn = common::connect_url(&url(&server)).await.unwrap();
    let ch = common::confirm_channel(&conn).await;
    let again = get_within(&ch, "retried", Duration::from_secs(4))
        .await
        .expect("back after its delay");
    assert!(
        nacked.elapsed() >= Duration::from_millis(1400),
        "came back after {:?}, before its delay",
        nacked.elapsed()
    );
    assert_eq!(header(&again, "x-retry-attempt"), Some(1));
    assert!(again.delivery.redelivered);
    drop(conn);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
