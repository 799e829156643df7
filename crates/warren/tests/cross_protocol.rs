//! Every protocol to every protocol: AMQP 0-9-1, MQTT 5 and STOMP each publish to
//! `amq.topic` (routing key `matrix.<from>.<to>`), and each consumes what is meant
//! for it. Besides the payload, the properties the mappings carry across are
//! checked on the consuming side: content type, correlation id, persistence and
//! an application header (docs/mqtt.md, docs/stomp.md).

mod common;
mod mqtt_common;
#[allow(dead_code)]
#[path = "stomp/client.rs"]
mod stomp_client;

use bytes::Bytes;
use futures_lite::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use mqtt_codec::{Packet, Properties, Publish, QoS, Version};
use mqtt_common::{Raw, TIMEOUT};
use stomp_client::Stomp;
use warren_stomp::frame::Frame;

const PROTOCOLS: [&str; 3] = ["amqp", "mqtt", "stomp"];

/// What a consumer saw of one message.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    key: String,
    body: Vec<u8>,
    content_type: Option<String>,
    correlation: Option<String>,
    persistent: bool,
    origin: Option<String>,
}

/// What every publisher sends from `from` to `to`.
fn expected(from: &str, to: &str) -> Seen {
    Seen {
        key: format!("matrix.{from}.{to}"),
        body: format!("{from} to {to}").into_bytes(),
        content_type: Some("text/plain".into()),
        correlation: Some(format!("corr-{from}-{to}")),
        persistent: true,
        origin: Some(from.to_string()),
    }
}

fn header_text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

#[tokio::test]
async fn each_protocol_reaches_each_protocol_with_its_properties() {
    let server = mqtt_common::server().await;
    let url = format!("amqp://guest:guest@{}/%2F", server.amqp_addr());
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("AMQP connect");
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();

    // The consumers.
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
        "matrix.*.amqp".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut amqp_in = ch
        .basic_consume(
            q.name().clone(),
            "matrix".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let (mut mqtt_in, _) = Raw::connect(&server, Version::V5, "matrix-in", true).await;
    assert_eq!(
        mqtt_in.subscribe("matrix/+/mqtt", QoS::AtLeastOnce).await,
        vec![1]
    );
    let mut stomp_in = Stomp::connect(server.stomp_addr()).await;
    stomp_in.subscribe("m", "/topic/matrix.*.stomp", &[]).await;

    // The publishers.
    let (mut mqtt_out, _) = Raw::connect(&server, Version::V5, "matrix-out", true).await;
    let mut stomp_out = Stomp::connect(server.stomp_addr()).await;
    for (n, to) in PROTOCOLS.iter().enumerate() {
        let e = expected("amqp", to);
        let mut headers = FieldTable::default();
        headers.insert("origin".into(), AMQPValue::LongString("amqp".into()));
        let props = BasicProperties::default()
            .with_content_type(ShortString::from("text/plain"))
            .with_correlation_id(ShortString::from(e.correlation.clone().unwrap()))
            .with_delivery_mode(2)
            .with_headers(headers);
        ch.basic_publish(
            "amq.topic".into(),
            e.key.as_str().into(),
            BasicPublishOptions::default(),
            &e.body,
            props,
        )
        .await
        .unwrap()
        .await
        .unwrap();

        let e = expected("mqtt", to);
        let packet_id = n as u16 + 1;
        mqtt_out
            .send(&Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: e.key.replace('.', "/"),
                packet_id: Some(packet_id),
                properties: Properties {
                    content_type: e.content_type.clone(),
                    correlation_data: e.correlation.clone().map(Bytes::from),
                    user_properties: vec![("origin".into(), "mqtt".into())],
                    ..Properties::default()
                },
                payload: Bytes::from(e.body.clone()),
            }))
            .await;
        match mqtt_out.recv().await {
            Some(Packet::PubAck(a)) => assert_eq!((a.packet_id, a.reason), (packet_id, 0)),
            other => panic!("expected PUBACK, got {other:?}"),
        }

        let e = expected("stomp", to);
        let mut frame = Frame::new("SEND")
            .with("destination", format!("/topic/{}", e.key))
            .with("content-type", "text/plain")
            .with("correlation-id", e.correlation.clone().unwrap())
            .with("persistent", "true")
            .with("origin", "stomp")
            .with("receipt", format!("r-{to}"));
        frame.body = Bytes::from(e.body.clone());
        stomp_out.send(&frame).await;
        assert_eq!(stomp_out.recv().await.command, "RECEIPT");
    }

    // What each consumer got, in any order.
    let mut amqp_seen = Vec::new();
    for _ in 0..3 {
        let d = tokio::time::timeout(TIMEOUT, amqp_in.next())
            .await
            .expect("a delivery in time")
            .unwrap()
            .unwrap();
        let p = &d.properties;
        amqp_seen.push(Seen {
            key: d.routing_key.to_string(),
            body: d.data.clone(),
            content_type: p.content_type().as_ref().map(|s| s.to_string()),
            correlation: p.correlation_id().as_ref().map(|s| s.to_string()),
            persistent: p.delivery_mode() == &Some(2),
            origin: p
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("origin").and_then(header_text)),
        });
    }
    let mut mqtt_seen = Vec::new();
    for _ in 0..3 {
        let p = mqtt_in.next_publish().await;
        if let Some(id) = p.packet_id {
            mqtt_in
                .send(&Packet::PubAck(mqtt_codec::Ack::new(id)))
                .await;
        }
        mqtt_seen.push(Seen {
            key: p.topic.replace('/', "."),
            body: p.payload.to_vec(),
            content_type: p.properties.content_type.clone(),
            correlation: p
                .properties
                .correlation_data
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            persistent: p.qos == QoS::AtLeastOnce,
            origin: p
                .properties
                .user_properties
                .iter()
                .find(|(k, _)| k == "origin")
                .map(|(_, v)| v.clone()),
        });
    }
    let mut stomp_seen = Vec::new();
    for _ in 0..3 {
        let m = stomp_in.recv().await;
        assert_eq!(m.command, "MESSAGE", "{m:?}");
        stomp_seen.push(Seen {
            key: m
                .header("destination")
                .and_then(|d| d.strip_prefix("/topic/"))
                .unwrap_or_default()
                .to_string(),
            body: m.body.to_vec(),
            content_type: m.header("content-type").map(str::to_string),
            correlation: m.header("correlation-id").map(str::to_string),
            persistent: m.header("persistent") == Some("true"),
            origin: m.header("origin").map(str::to_string),
        });
    }
    for (to, mut seen) in [
        ("amqp", amqp_seen),
        ("mqtt", mqtt_seen),
        ("stomp", stomp_seen),
    ] {
        seen.sort_by(|a, b| a.key.cmp(&b.key));
        let want: Vec<Seen> = PROTOCOLS.iter().map(|from| expected(from, to)).collect();
        assert_eq!(seen, want, "what the {to} consumer got");
    }
    server.shutdown().await;
}
