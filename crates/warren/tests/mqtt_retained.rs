//! Retained messages: kept per topic, sent to later subscribers with RETAIN set,
//! cleared by an empty payload, and still there after a restart.

mod mqtt_common;

use bytes::Bytes;
use mqtt_codec::{Ack, Packet, Properties, Publish, QoS, SubOptions, Subscribe, Version};
use mqtt_common::*;
use std::time::Duration;

async fn retain(raw: &mut Raw, topic: &str, qos: QoS, payload: &'static [u8]) {
    raw.send(&Packet::Publish(Publish {
        dup: false,
        qos,
        retain: true,
        topic: topic.into(),
        packet_id: (qos != QoS::AtMostOnce).then_some(5),
        properties: Properties::default(),
        payload: Bytes::from_static(payload),
    }))
    .await;
    if qos != QoS::AtMostOnce {
        assert!(matches!(raw.recv().await, Some(Packet::PubAck(_))));
    }
}

#[tokio::test]
async fn retained_messages_reach_later_subscribers_and_survive_a_restart() {
    let mut config = warren::Config::for_tests();
    config.remove_data_dir = false;
    let dir = config.data_dir.clone();
    let server = warren::start(config.clone()).await.unwrap();
    let (mut publ, _) = Raw::connect(&server, Version::V3_1_1, "retainer", true).await;
    retain(&mut publ, "home/lamp", QoS::AtLeastOnce, b"on").await;
    retain(&mut publ, "home/door", QoS::AtLeastOnce, b"closed").await;
    retain(&mut publ, "home/door", QoS::AtLeastOnce, b"open").await;
    retain(&mut publ, "home/gone", QoS::AtLeastOnce, b"x").await;
    retain(&mut publ, "home/gone", QoS::AtLeastOnce, b"").await;
    publ.send(&Packet::Disconnect(Default::default())).await;

    let (mut sub, _) = Raw::connect(&server, Version::V5, "late", true).await;
    assert_eq!(sub.subscribe("home/+", QoS::AtLeastOnce).await, vec![1]);
    let mut got = Vec::new();
    for _ in 0..2 {
        let p = sub.next_publish().await;
        assert!(p.retain, "sent because retained: RETAIN set");
        assert_eq!(p.qos, QoS::AtLeastOnce);
        sub.send(&Packet::PubAck(Ack::new(p.packet_id.unwrap())))
            .await;
        got.push((p.topic, p.payload));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("home/door".to_string(), Bytes::from_static(b"open")),
            ("home/lamp".to_string(), Bytes::from_static(b"on")),
        ]
    );
    assert!(sub.no_publish_within(Duration::from_millis(200)).await);
    // A live publish with RETAIN reaches a present subscriber without it (3.3.1.3).
    let (mut publ, _) = Raw::connect(&server, Version::V3_1_1, "retainer", true).await;
    retain(&mut publ, "home/lamp", QoS::AtMostOnce, b"off").await;
    let p = sub.next_publish().await;
    assert_eq!(&p.payload[..], b"off");
    assert!(!p.retain);
    // Retain handling 2: no retained messages.
    sub.send(&Packet::Subscribe(Subscribe {
        packet_id: 4,
        properties: Default::default(),
        filters: vec![(
            "home/#".into(),
            SubOptions {
                qos: QoS::AtMostOnce,
                retain_handling: 2,
                ..Default::default()
            },
        )],
    }))
    .await;
    assert!(matches!(sub.recv().await, Some(Packet::SubAck(_))));
    assert!(sub.no_publish_within(Duration::from_millis(200)).await);
    drop(sub);
    drop(publ);
    server.shutdown().await;

    let server = warren::start(config).await.unwrap();
    let (mut sub, _) = Raw::connect(&server, Version::V3_1_1, "after-restart", true).await;
    sub.subscribe("home/#", QoS::AtMostOnce).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let p = sub.next_publish().await;
        assert!(p.retain);
        got.push((p.topic, p.payload));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("home/door".to_string(), Bytes::from_static(b"open")),
            ("home/lamp".to_string(), Bytes::from_static(b"off")),
        ]
    );
    drop(sub);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
