//! Firehose tracing, as RabbitMQ's: with tracing on, every publish and every
//! delivery in the vhost is copied to `amq.rabbitmq.trace` (`publish.<exchange>`,
//! `deliver.<queue>`) with headers naming the exchange, keys, properties,
//! connection, channel and user. Checked against RabbitMQ 3.10 with
//! `WARREN_TEST_AMQP_URL` (tracing is then switched with `rabbitmqctl`).

mod common;

use common::{broker, cleanup, t, unique};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, ExchangeKind};
use std::time::Duration;

fn header<'a>(m: &'a lapin::message::BasicGetMessage, key: &str) -> &'a AMQPValue {
    let headers = m.delivery.properties.headers().as_ref().expect("headers");
    headers
        .inner()
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {headers:?}"))
}

fn text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(s) => s.to_string(),
        other => panic!("expected a long string, got {other:?}"),
    }
}

#[tokio::test]
async fn publishes_and_deliveries_are_copied_to_the_trace_exchange_while_tracing_is_on() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let (ex, q, traced) = (unique("trace-ex"), unique("trace-q"), unique("trace-sink"));
    t(ch.exchange_declare(
        ex.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for name in [&q, &traced] {
        t(ch.queue_declare(
            name.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    t(ch.queue_bind(
        q.as_str().into(),
        ex.as_str().into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for key in [format!("publish.{ex}"), format!("deliver.{q}")] {
        t(ch.queue_bind(
            traced.as_str().into(),
            "amq.rabbitmq.trace".into(),
            key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    b.set_tracing(true).await;
    let mut headers = FieldTable::default();
    headers.insert("app".into(), AMQPValue::LongString("billing".into()));
    let props = BasicProperties::default()
        .with_content_type(ShortString::from("text/plain"))
        .with_headers(headers);
    t(ch.basic_publish(
        ex.as_str().into(),
        "k".into(),
        BasicPublishOptions::default(),
        b"traced body",
        props,
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = t(ch.basic_get(q.as_str().into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("the message");
    assert_eq!(got.delivery.data, b"traced body");
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.set_tracing(false).await;

    let publish = t(ch.basic_get(traced.as_str().into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("a publish trace");
    assert_eq!(
        publish.delivery.routing_key.as_str(),
        format!("publish.{ex}")
    );
    assert_eq!(publish.delivery.data, b"traced body");
    assert_eq!(text(header(&publish, "exchange_name")), ex);
    assert_eq!(text(header(&publish, "user")), "guest");
    assert_eq!(text(header(&publish, "vhost")), "/");
    assert_eq!(header(&publish, "channel"), &AMQPValue::LongInt(1));
    match header(&publish, "routing_keys") {
        AMQPValue::FieldArray(keys) => {
            assert_eq!(keys.as_slice(), &[AMQPValue::LongString("k".into())])
        }
        other => panic!("routing_keys: {other:?}"),
    }
    match header(&publish, "routed_queues") {
        AMQPValue::FieldArray(queues) => {
            assert_eq!(
                queues.as_slice(),
                &[AMQPValue::LongString(q.as_str().into())]
            )
        }
        other => panic!("routed_queues: {other:?}"),
    }
    match header(&publish, "properties") {
        AMQPValue::FieldTable(p) => {
            assert_eq!(
                p.inner().get("content_type"),
                Some(&AMQPValue::LongString("text/plain".into()))
            );
            assert!(p.inner().contains_key("headers"), "{p:?}");
        }
        other => panic!("properties: {other:?}"),
    }
    assert!(text(header(&publish, "connection")).contains(" -> "));

    let deliver = t(ch.basic_get(traced.as_str().into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("a deliver trace");
    assert_eq!(
        deliver.delivery.routing_key.as_str(),
        format!("deliver.{q}")
    );
    assert_eq!(header(&deliver, "redelivered"), &AMQPValue::LongInt(0));
    assert_eq!(text(header(&deliver, "exchange_name")), ex);

    // Tracing is off again: nothing more is copied.
    t(ch.basic_publish(
        ex.as_str().into(),
        "k".into(),
        BasicPublishOptions::default(),
        b"untraced",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let none = t(ch.basic_get(traced.as_str().into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap();
    assert!(none.is_none(), "traced after trace_off");
    cleanup(&b, &[&q, &traced], &[&ex]).await;
}
