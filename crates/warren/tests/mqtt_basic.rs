//! MQTT publish/subscribe, QoS 0/1/2, keepalive, client-id takeover and sessions,
//! over real TCP with a library client (rumqttc) and a raw one.

mod mqtt_common;

use mqtt_codec::{reason, Ack, Packet, QoS, Version};
use mqtt_common::*;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions};
use std::time::Duration;

fn options(server: &warren::Server, id: &str) -> MqttOptions {
    let addr = server.mqtt_addr();
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_credentials("guest", "guest");
    o.set_keep_alive(Duration::from_secs(30));
    o
}

#[tokio::test]
async fn rumqttc_publishes_and_receives_at_qos0_and_qos1() {
    let server = server().await;
    let (sub, mut sub_loop) = AsyncClient::new(options(&server, "sub-1"), 10);
    let (publ, mut pub_loop) = AsyncClient::new(options(&server, "pub-1"), 10);
    tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    sub.subscribe("sensors/+/temp", rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    // Wait for the SUBACK before publishing.
    let granted = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Event::Incoming(Incoming::SubAck(ack)) = sub_loop.poll().await.unwrap() {
                return ack.return_codes;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        granted,
        vec![rumqttc::SubscribeReasonCode::Success(
            rumqttc::QoS::AtLeastOnce
        )]
    );
    publ.publish(
        "sensors/kitchen/temp",
        rumqttc::QoS::AtMostOnce,
        false,
        "21.5",
    )
    .await
    .unwrap();
    publ.publish(
        "sensors/hall/temp",
        rumqttc::QoS::AtLeastOnce,
        false,
        "19.0",
    )
    .await
    .unwrap();
    publ.publish(
        "sensors/hall/humidity",
        rumqttc::QoS::AtLeastOnce,
        false,
        "no",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        while got.len() < 2 {
            if let Event::Incoming(Incoming::Publish(p)) = sub_loop.poll().await.unwrap() {
                got.push((p.topic.clone(), p.qos, p.payload.clone()));
            }
        }
    })
    .await
    .expect("both messages arrive");
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got[0].0, "sensors/hall/temp");
    assert_eq!(got[0].1, rumqttc::QoS::AtLeastOnce);
    assert_eq!(&got[0].2[..], b"19.0");
    assert_eq!(got[1].0, "sensors/kitchen/temp");
    assert_eq!(
        got[1].1,
        rumqttc::QoS::AtMostOnce,
        "QoS 0 publish stays QoS 0"
    );
    assert_eq!(&got[1].2[..], b"21.5");
}

#[tokio::test]
async fn qos1_publish_is_acknowledged_and_unsubscribe_stops_delivery() {
    let server = server().await;
    for version in [Version::V3_1, Version::V3_1_1, Version::V5] {
        let (mut sub, _) = Raw::connect(&server, version, "sub", true).await;
        assert_eq!(sub.subscribe("a/#", QoS::AtLeastOnce).await, vec![1]);
        let (mut publ, _) = Raw::connect(&server, version, "pub", true).await;
        publ.publish("a/b/c", QoS::AtLeastOnce, 7, b"x").await;
        match publ.recv().await {
            Some(Packet::PubAck(a)) => {
                assert_eq!(a.packet_id, 7);
                assert_eq!(a.reason, 0);
            }
            other => panic!("expected PUBACK, got {other:?}"),
        }
        let p = sub.next_publish().await;
        assert_eq!(p.topic, "a/b/c");
        assert_eq!(p.qos, QoS::AtLeastOnce);
        assert!(!p.dup);
        sub.send(&Packet::PubAck(Ack::new(p.packet_id.unwrap())))
            .await;
        sub.send(&Packet::Unsubscribe(mqtt_codec::Unsubscribe {
            packet_id: 2,
            properties: Default::default(),
            filters: vec!["a/#".into(), "never/subscribed".into()],
        }))
        .await;
        match sub.recv().await {
            Some(Packet::UnsubAck(u)) => {
                assert_eq!(u.packet_id, 2);
                if version.is_v5() {
                    assert_eq!(u.codes, vec![0, reason::NO_SUBSCRIPTION_EXISTED]);
                }
            }
            other => panic!("expected UNSUBACK, got {other:?}"),
        }
        publ.publish("a/b/c", QoS::AtLeastOnce, 8, b"y").await;
        if version.is_v5() {
            match publ.recv().await {
                Some(Packet::PubAck(a)) => assert_eq!(a.reason, reason::NO_MATCHING_SUBSCRIBERS),
                other => panic!("expected PUBACK, got {other:?}"),
            }
        }
        assert!(sub.no_publish_within(Duration::from_millis(300)).await);
        sub.send(&Packet::Disconnect(Default::default())).await;
        publ.send(&Packet::Disconnect(Default::default())).await;
    }
}

#[tokio::test]
async fn the_in_flight_window_holds_back_unacknowledged_deliveries() {
    let server = server().await;
    let mut c = connect_packet(Version::V5, "windowed", true);
    c.properties.receive_maximum = Some(2);
    let (mut sub, _, code) = Raw::connect_with(&server, c).await;
    assert_eq!(code, 0);
    sub.subscribe("w", QoS::AtLeastOnce).await;
    let (mut publ, _) = Raw::connect(&server, Version::V3_1_1, "w-pub", true).await;
    for i in 1..=5u16 {
        publ.publish("w", QoS::AtLeastOnce, i, &[i as u8]).await;
    }
    let first = sub.next_publish().await;
    let second = sub.next_publish().await;
    assert!(
        sub.no_publish_within(Duration::from_millis(300)).await,
        "a third delivery before any PUBACK breaks the receive maximum"
    );
    sub.send(&Packet::PubAck(Ack::new(first.packet_id.unwrap())))
        .await;
    let third = sub.next_publish().await;
    assert_eq!(&third.payload[..], &[3]);
    assert_eq!(&second.payload[..], &[2]);
}

/// Publishes `n` QoS 1 messages to `topic` and counts what a subscriber that never
/// acknowledges receives before deliveries stop.
async fn unacknowledged_deliveries(server: &warren::Server, topic: &str, n: u16) -> usize {
    let (mut sub, _) = Raw::connect(server, Version::V3_1_1, &format!("{topic}-sub"), true).await;
    sub.subscribe(topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = Raw::connect(server, Version::V3_1_1, &format!("{topic}-pub"), true).await;
    for i in 1..=n {
        publ.publish(topic, QoS::AtLeastOnce, i, b"w").await;
    }
    let mut received = 0;
    while !sub.no_publish_within(Duration::from_millis(300)).await {
        received += 1;
    }
    received
}

#[tokio::test]
async fn a_client_gets_1024_unacknowledged_deliveries_by_default() {
    let server = server().await;
    assert_eq!(unacknowledged_deliveries(&server, "wide", 1100).await, 1024);
}

#[tokio::test]
async fn the_configured_prefetch_is_the_in_flight_window() {
    let mut config = warren::Config::for_tests();
    config.mqtt.prefetch = 3;
    let server = warren::start(config).await.expect("broker starts");
    assert_eq!(unacknowledged_deliveries(&server, "narrow", 10).await, 3);
}

#[tokio::test]
async fn qos2_is_exactly_once_both_ways() {
    let server = server().await;
    let (mut sub, _) = Raw::connect(&server, Version::V5, "q2-sub", true).await;
    assert_eq!(sub.subscribe("q2", QoS::ExactlyOnce).await, vec![2]);
    let (mut publ, _) = Raw::connect(&server, Version::V5, "q2-pub", true).await;
    publ.publish("q2", QoS::ExactlyOnce, 42, b"once").await;
    assert!(matches!(publ.recv().await, Some(Packet::PubRec(a)) if a.packet_id == 42));
    // The client did not see the PUBREC and sends again, DUP set: not routed twice.
    publ.send(&Packet::Publish(mqtt_codec::Publish {
        dup: true,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: "q2".into(),
        packet_id: Some(42),
        properties: Default::default(),
        payload: bytes::Bytes::from_static(b"once"),
    }))
    .await;
    assert!(matches!(publ.recv().await, Some(Packet::PubRec(a)) if a.packet_id == 42));
    publ.send(&Packet::PubRel(Ack::new(42))).await;
    match publ.recv().await {
        Some(Packet::PubComp(a)) => assert_eq!((a.packet_id, a.reason), (42, 0)),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    let p = sub.next_publish().await;
    assert_eq!(p.qos, QoS::ExactlyOnce);
    assert_eq!(&p.payload[..], b"once");
    let id = p.packet_id.unwrap();
    sub.send(&Packet::PubRec(Ack::new(id))).await;
    match sub.recv().await {
        Some(Packet::PubRel(a)) => assert_eq!((a.packet_id, a.reason), (id, 0)),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    sub.send(&Packet::PubComp(Ack::new(id))).await;
    assert!(
        sub.no_publish_within(Duration::from_millis(300)).await,
        "the resent PUBLISH was delivered again"
    );
}

#[tokio::test]
async fn a_qos2_publish_resent_after_a_reconnect_is_not_routed_again() {
    let server = server().await;
    let (mut sub, _) = Raw::connect(&server, Version::V3_1_1, "q2r-sub", true).await;
    assert_eq!(sub.subscribe("q2r", QoS::AtLeastOnce).await, vec![1]);
    let (mut publ, _) = Raw::connect(&server, Version::V3_1_1, "q2r-pub", false).await;
    publ.publish("q2r", QoS::ExactlyOnce, 7, b"once").await;
    assert!(matches!(publ.recv().await, Some(Packet::PubRec(a)) if a.packet_id == 7));
    // The connection drops before the client saw the PUBREC: it comes back to its
    // session and sends the PUBLISH again, DUP set, then releases it.
    drop(publ);
    let (mut publ, _) = Raw::connect(&server, Version::V3_1_1, "q2r-pub", false).await;
    publ.send(&Packet::Publish(mqtt_codec::Publish {
        dup: true,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: "q2r".into(),
        packet_id: Some(7),
        properties: Default::default(),
        payload: bytes::Bytes::from_static(b"once"),
    }))
    .await;
    assert!(matches!(publ.recv().await, Some(Packet::PubRec(a)) if a.packet_id == 7));
    publ.send(&Packet::PubRel(Ack::new(7))).await;
    assert!(matches!(publ.recv().await, Some(Packet::PubComp(a)) if a.packet_id == 7));
    let p = sub.next_publish().await;
    assert_eq!(&p.payload[..], b"once");
    sub.send(&Packet::PubAck(Ack::new(p.packet_id.unwrap())))
        .await;
    assert!(
        sub.no_publish_within(Duration::from_millis(300)).await,
        "the PUBLISH resent after the reconnect was delivered again"
    );
    // Released: the same id is a new message now.
    publ.publish("q2r", QoS::ExactlyOnce, 7, b"next").await;
    assert!(matches!(publ.recv().await, Some(Packet::PubRec(a)) if a.packet_id == 7));
    assert_eq!(&sub.next_publish().await.payload[..], b"next");
}

#[tokio::test]
async fn keepalive_is_enforced() {
    let server = server().await;
    let mut c = connect_packet(Version::V5, "sleepy", true);
    c.keep_alive = 1;
    let (mut raw, _, _) = Raw::connect_with(&server, c).await;
    let started = std::time::Instant::now();
    let packets = raw.until_closed().await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");
    assert!(
        matches!(packets.last(), Some(Packet::Disconnect(d)) if d.reason == reason::KEEP_ALIVE_TIMEOUT),
        "{packets:?}"
    );
    // A client that pings stays.
    let mut c = connect_packet(Version::V3_1_1, "awake", true);
    c.keep_alive = 1;
    let (mut raw, _, _) = Raw::connect_with(&server, c).await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        raw.send(&Packet::PingReq).await;
        assert_eq!(raw.recv().await, Some(Packet::PingResp));
    }
}

#[tokio::test]
async fn a_second_connection_with_the_same_client_id_takes_over() {
    let server = server().await;
    let (mut first, _) = Raw::connect(&server, Version::V5, "twin", true).await;
    let (mut second, _) = Raw::connect(&server, Version::V5, "twin", true).await;
    let said = first.until_closed().await;
    assert!(
        matches!(said.last(), Some(Packet::Disconnect(d)) if d.reason == reason::SESSION_TAKEN_OVER),
        "{said:?}"
    );
    second.send(&Packet::PingReq).await;
    assert_eq!(second.recv().await, Some(Packet::PingResp));
    // Same id in another protocol version: the 3.1.1 connection just closes.
    let (mut third, _) = Raw::connect(&server, Version::V3_1_1, "twin3", true).await;
    let (_fourth, _) = Raw::connect(&server, Version::V3_1_1, "twin3", true).await;
    assert!(third.until_closed().await.is_empty());
}

#[tokio::test]
async fn persistent_sessions_keep_receiving_and_redeliver_unacknowledged_messages() {
    let server = server().await;
    let (mut sub, present) = Raw::connect(&server, Version::V3_1_1, "keeper", false).await;
    assert!(!present);
    sub.subscribe("news/#", QoS::AtLeastOnce).await;
    let (mut publ, _) = Raw::connect(&server, Version::V3_1_1, "newsroom", true).await;
    publ.publish("news/1", QoS::AtLeastOnce, 1, b"first").await;
    let p = sub.next_publish().await;
    assert_eq!(&p.payload[..], b"first");
    // Gone without acknowledging it, nor saying DISCONNECT.
    drop(sub);
    publ.publish("news/2", QoS::AtLeastOnce, 2, b"second").await;
    publ.recv().await;
    publ.recv().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut sub, present) = Raw::connect(&server, Version::V3_1_1, "keeper", false).await;
    assert!(present, "session present");
    let again = sub.next_publish().await;
    assert_eq!(&again.payload[..], b"first");
    assert!(again.dup, "an unacknowledged message comes again with DUP");
    let next = sub.next_publish().await;
    assert_eq!(&next.payload[..], b"second");
    assert!(!next.dup);
    for id in [again.packet_id.unwrap(), next.packet_id.unwrap()] {
        sub.send(&Packet::PubAck(Ack::new(id))).await;
    }
    sub.send(&Packet::Disconnect(Default::default())).await;
    assert!(sub.until_closed().await.is_empty());
    // A clean session discards it all.
    let (mut clean, present) = Raw::connect(&server, Version::V3_1_1, "keeper", true).await;
    assert!(!present);
    publ.publish("news/3", QoS::AtLeastOnce, 3, b"third").await;
    assert!(clean.no_publish_within(Duration::from_millis(300)).await);
    assert!(server
        .broker()
        .vhost("/")
        .unwrap()
        .queue("mqtt-subscription-keeperqos1")
        .is_none());
}

#[tokio::test]
async fn a_clean_session_leaves_nothing_behind() {
    let server = server().await;
    let (mut raw, _) = Raw::connect(&server, Version::V3_1_1, "tidy", true).await;
    raw.subscribe("t/0", QoS::AtMostOnce).await;
    raw.subscribe("t/1", QoS::AtLeastOnce).await;
    let vhost = server.broker().vhost("/").unwrap();
    assert!(vhost.queue("mqtt-subscription-tidyqos0").is_some());
    assert!(vhost.queue("mqtt-subscription-tidyqos1").is_some());
    drop(raw);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while vhost.queue("mqtt-subscription-tidyqos1").is_some()
        || vhost.queue("mqtt-subscription-tidyqos0").is_some()
    {
        assert!(tokio::time::Instant::now() < deadline, "queues still there");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_last_will_is_published_when_the_client_vanishes_only() {
    let server = server().await;
    let (mut watcher, _) = Raw::connect(&server, Version::V3_1_1, "watcher", true).await;
    watcher.subscribe("status/#", QoS::AtLeastOnce).await;
    for (id, polite) in [("polite", true), ("rude", false)] {
        let mut c = connect_packet(Version::V3_1_1, id, true);
        c.will = Some(mqtt_codec::Will {
            topic: format!("status/{id}"),
            payload: bytes::Bytes::from_static(b"offline"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Default::default(),
        });
        let (mut raw, _, _) = Raw::connect_with(&server, c).await;
        if polite {
            raw.send(&Packet::Disconnect(Default::default())).await;
            raw.until_closed().await;
        } else {
            drop(raw);
        }
    }
    let will = watcher.next_publish().await;
    assert_eq!(will.topic, "status/rude");
    assert_eq!(&will.payload[..], b"offline");
    watcher
        .send(&Packet::PubAck(Ack::new(will.packet_id.unwrap())))
        .await;
    assert!(watcher.no_publish_within(Duration::from_millis(300)).await);
}

#[tokio::test]
async fn mqtt5_deliveries_take_server_aliases_and_skip_packets_over_the_clients_maximum() {
    let server = server().await;
    let mut c = connect_packet(Version::V5, "small-sub", true);
    c.properties.topic_alias_maximum = Some(1);
    c.properties.maximum_packet_size = Some(100);
    let (mut sub, _, code) = Raw::connect_with(&server, c).await;
    assert_eq!(code, 0);
    sub.subscribe("big/#", QoS::AtMostOnce).await;
    let (mut publ, _) = Raw::connect(&server, Version::V5, "big-pub", true).await;
    // Over the subscriber's maximum: not sent, and its topic takes no alias.
    publ.publish("big/first", QoS::AtMostOnce, 0, &[b'x'; 200])
        .await;
    publ.publish("big/second", QoS::AtMostOnce, 0, b"fits")
        .await;
    publ.publish("big/second", QoS::AtMostOnce, 0, b"again")
        .await;
    publ.publish("big/first", QoS::AtMostOnce, 0, b"small now")
        .await;
    let seen = |p: &mqtt_codec::Publish| {
        (
            p.topic.clone(),
            p.properties.topic_alias,
            p.payload.to_vec(),
        )
    };
    let first = sub.next_publish().await;
    assert_eq!(
        seen(&first),
        ("big/second".to_string(), Some(1), b"fits".to_vec())
    );
    let second = sub.next_publish().await;
    assert_eq!(seen(&second), (String::new(), Some(1), b"again".to_vec()));
    // The one alias the client allows is taken: another topic goes by name.
    let third = sub.next_publish().await;
    assert_eq!(
        seen(&third),
        ("big/first".to_string(), None, b"small now".to_vec())
    );
}

#[tokio::test]
async fn mqtt5_topic_aliases_stand_for_their_topic() {
    let server = server().await;
    let (mut sub, _) = Raw::connect(&server, Version::V5, "alias-sub", true).await;
    sub.subscribe("long/topic/name", QoS::AtMostOnce).await;
    let mut raw = Raw::open(&server, Version::V5).await;
    raw.send(&Packet::Connect(Box::new(connect_packet(
        Version::V5,
        "alias-pub",
        true,
    ))))
    .await;
    let max = match raw.recv().await {
        Some(Packet::ConnAck(a)) => a.properties.topic_alias_maximum.unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(max >= 1);
    let with_alias = |topic: &str, payload: &'static [u8], alias: u16| {
        Packet::Publish(mqtt_codec::Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: topic.into(),
            packet_id: None,
            properties: mqtt_codec::Properties {
                topic_alias: Some(alias),
                ..Default::default()
            },
            payload: bytes::Bytes::from_static(payload),
        })
    };
    raw.send(&with_alias("long/topic/name", b"set", 1)).await;
    raw.send(&with_alias("", b"used", 1)).await;
    for expected in [&b"set"[..], b"used"] {
        let p = sub.next_publish().await;
        assert_eq!(p.topic, "long/topic/name");
        assert_eq!(&p.payload[..], expected);
    }
    // An alias never set, and one over the maximum, end the connection.
    raw.send(&with_alias("", b"x", 2)).await;
    let said = raw.until_closed().await;
    assert!(
        matches!(said.last(), Some(Packet::Disconnect(d)) if d.reason == reason::PROTOCOL_ERROR),
        "{said:?}"
    );
    let (mut raw, _) = Raw::connect(&server, Version::V5, "alias-pub2", true).await;
    raw.send(&with_alias("a", b"x", max + 1)).await;
    let said = raw.until_closed().await;
    assert!(
        matches!(said.last(), Some(Packet::Disconnect(d)) if d.reason == reason::TOPIC_ALIAS_INVALID),
        "{said:?}"
    );
}
