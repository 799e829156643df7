//! MQTT and AMQP on one broker: each publishes, the other consumes, and the
//! properties and headers come through on the other side as RabbitMQ maps them.

mod mqtt_common;

use bytes::Bytes;
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use mqtt_codec::{Ack, Packet, Properties, Publish, QoS, Version};
use mqtt_common::*;

async fn amqp(server: &warren::Server) -> (Connection, lapin::Channel) {
    let url = format!("amqp://guest:guest@{}/%2F", server.amqp_addr());
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("AMQP connect");
    let ch = conn.create_channel().await.expect("channel");
    (conn, ch)
}

#[tokio::test]
async fn mqtt5_publish_reaches_an_amqp_consumer_with_its_properties() {
    let server = server().await;
    let (_conn, ch) = amqp(&server).await;
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().clone(),
        "amq.topic".into(),
        "home.*.temp".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.name().clone(),
            "c".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let (mut publ, _) = Raw::connect(&server, Version::V5, "m5-pub", true).await;
    publ.send(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "home/kitchen/temp".into(),
        packet_id: Some(1),
        properties: Properties {
            content_type: Some("application/json".into()),
            response_topic: Some("replies/kitchen".into()),
            correlation_data: Some(Bytes::from_static(b"req-17")),
            message_expiry_interval: Some(60),
            user_properties: vec![("unit".into(), "celsius".into())],
            ..Properties::default()
        },
        payload: Bytes::from_static(b"{\"t\":21}"),
    }))
    .await;
    assert!(matches!(publ.recv().await, Some(Packet::PubAck(_))));
    let d = tokio::time::timeout(TIMEOUT, consumer.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(d.routing_key.as_str(), "home.kitchen.temp");
    assert_eq!(d.exchange.as_str(), "amq.topic");
    assert_eq!(&d.data[..], b"{\"t\":21}");
    let p = &d.properties;
    assert_eq!(p.delivery_mode(), &Some(2), "QoS 1 is persistent");
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(
        p.correlation_id().as_ref().map(|s| s.as_str()),
        Some("req-17")
    );
    assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("60000"));
    let headers = p.headers().as_ref().expect("headers");
    let h = headers.inner();
    assert_eq!(
        h.get("unit"),
        Some(&AMQPValue::LongString("celsius".into()))
    );
    assert_eq!(
        h.get("x-reply-to-topic"),
        Some(&AMQPValue::LongString("replies.kitchen".into()))
    );
    assert_eq!(
        h.get("x-mqtt-publish-qos"),
        Some(&AMQPValue::ShortShortInt(1))
    );
    d.ack(BasicAckOptions::default()).await.unwrap();

    // QoS 0 is transient.
    publ.publish("home/hall/temp", QoS::AtMostOnce, 0, b"20")
        .await;
    let d = tokio::time::timeout(TIMEOUT, consumer.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(d.properties.delivery_mode(), &Some(1));
}

#[tokio::test]
async fn amqp_publish_reaches_mqtt_subscribers_with_its_properties() {
    let server = server().await;
    let (mut sub5, _) = Raw::connect(&server, Version::V5, "m5-sub", true).await;
    assert_eq!(
        sub5.subscribe("orders/+/new", QoS::AtLeastOnce).await,
        vec![1]
    );
    let (mut sub3, _) = Raw::connect(&server, Version::V3_1_1, "m3-sub", true).await;
    assert_eq!(sub3.subscribe("orders/#", QoS::AtLeastOnce).await, vec![1]);
    let (_conn, ch) = amqp(&server).await;
    let mut headers = FieldTable::default();
    headers.insert("tenant".into(), AMQPValue::LongString("acme".into()));
    headers.insert("attempt".into(), AMQPValue::LongInt(3));
    headers.insert(
        "x-reply-to-topic".into(),
        AMQPValue::LongString("answers.eu".into()),
    );
    ch.basic_publish(
        "amq.topic".into(),
        "orders.eu.new".into(),
        BasicPublishOptions::default(),
        b"order-1",
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("text/plain".into())
            .with_correlation_id("c-9".into())
            .with_headers(headers),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let p = sub5.next_publish().await;
    assert_eq!(p.topic, "orders/eu/new");
    assert_eq!(
        p.qos,
        QoS::AtLeastOnce,
        "persistent AMQP message arrives at QoS 1"
    );
    assert_eq!(&p.payload[..], b"order-1");
    assert_eq!(p.properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.properties.correlation_data.as_deref(), Some(&b"c-9"[..]));
    assert_eq!(p.properties.response_topic.as_deref(), Some("answers/eu"));
    let mut user = p.properties.user_properties.clone();
    user.sort();
    assert_eq!(
        user,
        vec![
            ("attempt".to_string(), "3".to_string()),
            ("tenant".to_string(), "acme".to_string())
        ]
    );
    sub5.send(&Packet::PubAck(Ack::new(p.packet_id.unwrap())))
        .await;
    let p = sub3.next_publish().await;
    assert_eq!(p.topic, "orders/eu/new");
    assert!(p.properties.is_empty(), "3.1.1 has no properties");

    // A transient AMQP message is QoS 0 to MQTT, whatever the subscription's QoS.
    ch.basic_publish(
        "amq.topic".into(),
        "orders.us.new".into(),
        BasicPublishOptions::default(),
        b"order-2",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    let p = sub5.next_publish().await;
    assert_eq!(p.qos, QoS::AtMostOnce);
    assert_eq!(p.packet_id, None);
}

#[tokio::test]
async fn request_and_response_across_protocols() {
    // An MQTT 5 requester, an AMQP responder that answers to x-reply-to-topic with
    // the correlation id.
    let server = server().await;
    let (_conn, ch) = amqp(&server).await;
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().clone(),
        "amq.topic".into(),
        "rpc.time".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut requests = ch
        .basic_consume(
            q.name().clone(),
            "r".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let (mut client, _) = Raw::connect(&server, Version::V5, "requester", true).await;
    client
        .subscribe("rpc/replies/requester", QoS::AtMostOnce)
        .await;
    client
        .send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "rpc/time".into(),
            packet_id: None,
            properties: Properties {
                response_topic: Some("rpc/replies/requester".into()),
                correlation_data: Some(Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef])),
                ..Properties::default()
            },
            payload: Bytes::from_static(b"what time is it"),
        }))
        .await;
    let req = tokio::time::timeout(TIMEOUT, requests.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let headers = req.properties.headers().clone().unwrap();
    let reply_to = match headers.inner().get("x-reply-to-topic") {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("x-reply-to-topic: {other:?}"),
    };
    // Binary correlation data does not fit a short string: it travels as a header.
    let correlation = headers
        .inner()
        .get("x-correlation-id")
        .cloned()
        .expect("x-correlation-id");
    let mut reply_headers = FieldTable::default();
    reply_headers.insert("x-correlation-id".into(), correlation);
    ch.basic_publish(
        "amq.topic".into(),
        reply_to.as_str().into(),
        BasicPublishOptions::default(),
        b"noon",
        BasicProperties::default().with_headers(reply_headers),
    )
    .await
    .unwrap();
    let reply = client.next_publish().await;
    assert_eq!(reply.topic, "rpc/replies/requester");
    assert_eq!(&reply.payload[..], b"noon");
    assert_eq!(
        reply.properties.correlation_data.as_deref(),
        Some(&[0xde, 0xad, 0xbe, 0xef][..])
    );
}
