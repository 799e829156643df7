//! AMQP and STOMP on one broker: a message published by one protocol is consumed by
//! the other with its properties and headers mapped as RabbitMQ maps them.

use super::client::{body, server, unique, Stomp};
use super::common::{connect_url, t};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::BasicProperties;

async fn amqp(server: &warren::Server) -> (lapin::Connection, lapin::Channel) {
    let url = format!("amqp://guest:guest@{}/%2F", server.amqp_addr());
    let conn = t(connect_url(&url)).await.expect("amqp connect");
    let ch = t(conn.create_channel()).await.expect("channel");
    (conn, ch)
}

#[tokio::test]
async fn amqp_publish_reaches_stomp_with_properties_as_headers() {
    let server = server().await;
    let (_conn, ch) = amqp(&server).await;
    let queue = unique("interop");
    t(ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut stomp = Stomp::connect(server.stomp_addr()).await;
    stomp
        .subscribe("s", &format!("/amq/queue/{queue}"), &[])
        .await;
    let mut headers = FieldTable::default();
    headers.insert("x-text".into(), AMQPValue::LongString("hello".into()));
    headers.insert("x-number".into(), AMQPValue::LongInt(42));
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_correlation_id("corr-1".into())
        .with_reply_to("reply-queue".into())
        .with_delivery_mode(2)
        .with_priority(3)
        .with_expiration("60000".into())
        .with_message_id("mid-1".into())
        .with_type("greeting".into())
        .with_app_id("tests".into())
        .with_timestamp(1_700_000_000)
        .with_headers(headers);
    t(ch.basic_publish(
        "".into(),
        queue.as_str().into(),
        BasicPublishOptions::default(),
        b"{\"a\":1}",
        props,
    ))
    .await
    .unwrap();
    let m = stomp.message().await;
    assert_eq!(body(&m), "{\"a\":1}");
    let h = |name: &str| m.header(name).map(str::to_string);
    assert_eq!(h("destination").unwrap(), format!("/queue/{queue}"));
    assert_eq!(h("content-type").as_deref(), Some("application/json"));
    assert_eq!(h("correlation-id").as_deref(), Some("corr-1"));
    assert_eq!(h("reply-to").as_deref(), Some("/reply-queue/reply-queue"));
    assert_eq!(h("persistent").as_deref(), Some("true"));
    assert_eq!(h("priority").as_deref(), Some("3"));
    assert_eq!(h("expiration").as_deref(), Some("60000"));
    assert_eq!(h("amqp-message-id").as_deref(), Some("mid-1"));
    assert_eq!(h("type").as_deref(), Some("greeting"));
    assert_eq!(h("app-id").as_deref(), Some("tests"));
    assert_eq!(h("timestamp").as_deref(), Some("1700000000"));
    assert_eq!(h("x-text").as_deref(), Some("hello"));
    assert_eq!(h("x-number").as_deref(), Some("42"));
}

#[tokio::test]
async fn stomp_send_reaches_amqp_with_headers_as_properties() {
    let server = server().await;
    let (_conn, ch) = amqp(&server).await;
    let queue = unique("interop");
    t(ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut consumer = t(ch.basic_consume(
        queue.as_str().into(),
        "c".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut stomp = Stomp::connect(server.stomp_addr()).await;
    stomp
        .publish(
            &format!("/amq/queue/{queue}"),
            "from stomp",
            &[
                ("content-type", "text/plain"),
                ("correlation-id", "c-9"),
                ("reply-to", "/queue/answers"),
                ("persistent", "true"),
                ("priority", "7"),
                ("expiration", "30000"),
                ("amqp-message-id", "m-9"),
                ("type", "note"),
                ("x-custom", "custom value"),
            ],
        )
        .await;
    let delivery = t(consumer.next()).await.unwrap().unwrap();
    assert_eq!(&delivery.data[..], b"from stomp");
    assert_eq!(delivery.exchange.as_str(), "");
    assert_eq!(delivery.routing_key.as_str(), queue);
    let p = &delivery.properties;
    let s = |v: &Option<ShortString>| v.as_ref().map(|v| v.as_str().to_string());
    assert_eq!(s(p.content_type()).as_deref(), Some("text/plain"));
    assert_eq!(s(p.correlation_id()).as_deref(), Some("c-9"));
    assert_eq!(s(p.reply_to()).as_deref(), Some("/queue/answers"));
    assert_eq!(*p.delivery_mode(), Some(2));
    assert_eq!(*p.priority(), Some(7));
    assert_eq!(s(p.expiration()).as_deref(), Some("30000"));
    assert_eq!(s(p.message_id()).as_deref(), Some("m-9"));
    assert_eq!(s(p.kind()).as_deref(), Some("note"));
    let headers = p.headers().as_ref().expect("headers");
    let custom = headers.inner().get("x-custom").expect("x-custom header");
    assert_eq!(custom, &AMQPValue::LongString("custom value".into()));
    // As RabbitMQ's plugin: the destination stays out, the receipt goes in.
    assert!(headers.inner().get("destination").is_none());
    assert_eq!(
        headers.inner().get("receipt"),
        Some(&AMQPValue::LongString("sent".into()))
    );
    t(delivery.ack(BasicAckOptions::default())).await.unwrap();
}

#[tokio::test]
async fn stomp_topic_send_reaches_an_amqp_binding_on_amq_topic() {
    let server = server().await;
    let (_conn, ch) = amqp(&server).await;
    let queue = unique("topic-interop");
    t(ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let key = unique("k");
    t(ch.queue_bind(
        queue.as_str().into(),
        "amq.topic".into(),
        format!("{key}.#").as_str().into(),
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut stomp = Stomp::connect(server.stomp_addr()).await;
    stomp.publish(&format!("/topic/{key}.x"), "t", &[]).await;
    let got = t(ch.basic_get(queue.as_str().into(), Default::default()))
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(got.delivery.exchange.as_str(), "amq.topic");
    assert_eq!(got.delivery.routing_key.as_str(), format!("{key}.x"));
}
