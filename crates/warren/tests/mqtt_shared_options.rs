//! MQTT 5 subscription options on shared subscriptions (spec 3.8.3.1, 4.8.2): the
//! group's copy of a message carries the shared subscription's own identifier
//! and follows its retain-as-published; no-local on one is a protocol error.

mod mqtt_common;

use bytes::Bytes;
use mqtt_codec::{reason, Packet, Properties, Publish, QoS, SubOptions, Subscribe, Version};
use mqtt_common::*;

async fn subscribe_with(raw: &mut Raw, filter: &str, options: SubOptions, identifier: u32) {
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: Properties {
            subscription_identifiers: vec![identifier],
            ..Properties::default()
        },
        filters: vec![(filter.into(), options)],
    }))
    .await;
    match raw.recv().await {
        Some(Packet::SubAck(s)) => assert_eq!(s.codes, vec![options.qos as u8]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

fn qos1(retain_as_published: bool) -> SubOptions {
    SubOptions {
        qos: QoS::AtLeastOnce,
        retain_as_published,
        ..SubOptions::default()
    }
}

#[tokio::test]
async fn the_groups_copy_carries_the_shared_subscriptions_own_options() {
    let server = server().await;
    let (mut c, _) = Raw::connect(&server, Version::V5, "shared-opts", true).await;
    subscribe_with(&mut c, "$share/g/so/t", qos1(true), 21).await;
    subscribe_with(&mut c, "so/#", qos1(false), 22).await;
    let (mut publ, _) = Raw::connect(&server, Version::V5, "shared-opts-pub", true).await;
    publ.send(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: "so/t".into(),
        packet_id: Some(1),
        properties: Properties::default(),
        payload: Bytes::from_static(b"both"),
    }))
    .await;
    // One copy from the group, one from the client's own subscription.
    let mut copies = Vec::new();
    for _ in 0..2 {
        let p = c.next_publish().await;
        assert_eq!(&p.payload[..], b"both");
        copies.push((p.properties.subscription_identifiers.clone(), p.retain));
        c.send(&Packet::PubAck(mqtt_codec::Ack::new(
            p.packet_id.expect("id"),
        )))
        .await;
    }
    copies.sort();
    assert_eq!(copies, vec![(vec![21], true), (vec![22], false)]);
    // Clear the retained message.
    publ.send(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: true,
        topic: "so/t".into(),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::new(),
    }))
    .await;
}

#[tokio::test]
async fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    let server = server().await;
    let (mut c, _) = Raw::connect(&server, Version::V5, "shared-nl", true).await;
    c.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: Properties::default(),
        filters: vec![(
            "$share/g/nl".into(),
            SubOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                ..SubOptions::default()
            },
        )],
    }))
    .await;
    match c.until_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::PROTOCOL_ERROR),
        other => panic!("expected DISCONNECT 0x82, got {other:?}"),
    }
}
