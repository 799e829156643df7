//! Bad input and refused logins: each gets the protocol's answer and a closed
//! connection, and other connections carry on.

mod mqtt_common;

use mqtt_codec::{connack_v3, reason, Packet, QoS, Version};
use mqtt_common::*;
use std::time::Duration;
use warren_core::PasswordInput;

#[tokio::test]
async fn wrong_credentials_and_unknown_vhosts_are_refused_in_each_version() {
    let server = server().await;
    let cases: Vec<(Version, Option<&str>, &str, u8)> = vec![
        (
            Version::V3_1_1,
            Some("guest"),
            "wrong",
            connack_v3::BAD_USERNAME_OR_PASSWORD,
        ),
        (
            Version::V3_1,
            Some("nobody"),
            "x",
            connack_v3::BAD_USERNAME_OR_PASSWORD,
        ),
        (
            Version::V5,
            Some("guest"),
            "wrong",
            reason::BAD_USER_NAME_OR_PASSWORD,
        ),
        (
            Version::V3_1_1,
            Some("novhost:guest"),
            "guest",
            connack_v3::NOT_AUTHORIZED,
        ),
        (
            Version::V5,
            Some("novhost:guest"),
            "guest",
            reason::NOT_AUTHORIZED,
        ),
    ];
    for (version, user, password, code) in cases {
        let mut c = connect_packet(version, "refused", true);
        c.username = user.map(str::to_string);
        c.password = Some(bytes::Bytes::copy_from_slice(password.as_bytes()));
        let (mut raw, present, got) = Raw::connect_with(&server, c).await;
        assert_eq!((got, present), (code, false), "{version:?} {user:?}");
        assert!(raw.until_closed().await.is_empty());
    }
    // The explicit "/:guest" form and the anonymous login work.
    let mut c = connect_packet(Version::V3_1_1, "explicit", true);
    c.username = Some("/:guest".into());
    let (_, _, code) = Raw::connect_with(&server, c).await;
    assert_eq!(code, 0);
    let mut c = connect_packet(Version::V3_1_1, "anon", true);
    c.username = None;
    c.password = None;
    let (_, _, code) = Raw::connect_with(&server, c).await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn unsupported_versions_and_missing_ids_are_refused() {
    let server = server().await;
    // Protocol level 6.
    let mut raw = Raw::open(&server, Version::V3_1_1).await;
    raw.send_bytes(&[
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 6, 2, 0, 60, 0, 1, b'c',
    ])
    .await;
    match raw.recv().await {
        Some(Packet::ConnAck(a)) => assert_eq!(a.code, connack_v3::UNACCEPTABLE_PROTOCOL_VERSION),
        other => panic!("{other:?}"),
    }
    assert!(raw.until_closed().await.is_empty());
    // 3.1.1: an empty client id needs a clean session.
    let (mut raw, _, code) =
        Raw::connect_with(&server, connect_packet(Version::V3_1_1, "", false)).await;
    assert_eq!(code, connack_v3::IDENTIFIER_REJECTED);
    assert!(raw.until_closed().await.is_empty());
    // 5.0: the server assigns one.
    let mut raw = Raw::open(&server, Version::V5).await;
    raw.send(&Packet::Connect(Box::new(connect_packet(
        Version::V5,
        "",
        true,
    ))))
    .await;
    match raw.recv().await {
        Some(Packet::ConnAck(a)) => {
            assert_eq!(a.code, 0);
            assert!(a
                .properties
                .assigned_client_identifier
                .is_some_and(|id| !id.is_empty()));
        }
        other => panic!("{other:?}"),
    }
    // Something other than CONNECT first: closed without an answer.
    let mut raw = Raw::open(&server, Version::V3_1_1).await;
    raw.send(&Packet::PingReq).await;
    assert!(raw.until_closed().await.is_empty());
}

#[tokio::test]
async fn malformed_packets_close_only_their_connection() {
    let server = server().await;
    let (mut bystander, _) = Raw::connect(&server, Version::V3_1_1, "bystander", true).await;
    bystander.subscribe("ok", QoS::AtMostOnce).await;
    let bad: Vec<(&str, Vec<u8>, u8)> = vec![
        (
            "reserved flags on SUBSCRIBE",
            vec![0x80, 6, 0, 1, 0, 1, b'a', 0],
            reason::MALFORMED_PACKET,
        ),
        (
            "QoS 3 PUBLISH",
            vec![0x36, 5, 0, 1, b'a', 0, 1],
            reason::MALFORMED_PACKET,
        ),
        (
            "invalid UTF-8 topic",
            vec![0x30, 5, 0, 2, 0xc3, 0x28, b'x'],
            reason::MALFORMED_PACKET,
        ),
        (
            "U+0000 in a topic",
            vec![0x30, 4, 0, 1, 0, b'x'],
            reason::MALFORMED_PACKET,
        ),
        (
            "wildcard in a topic name",
            vec![0x30, 4, 0, 1, b'#', b'x'],
            reason::TOPIC_NAME_INVALID,
        ),
        (
            "length longer than 4 bytes",
            vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x01],
            reason::MALFORMED_PACKET,
        ),
        ("packet type 0", vec![0x00, 0], reason::MALFORMED_PACKET),
        (
            "second CONNECT",
            vec![0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 0, 0, 0],
            reason::PROTOCOL_ERROR,
        ),
    ];
    for (what, bytes, code) in bad {
        for version in [Version::V3_1_1, Version::V5] {
            let (mut raw, _) = Raw::connect(&server, version, "victim", true).await;
            let mut bytes = bytes.clone();
            if version.is_v5() && bytes[0] == 0x30 && bytes[1] < 0x80 {
                // MQTT 5 has a properties length after the topic: make room for it.
                let topic_end = 4 + bytes[3] as usize;
                bytes.insert(topic_end, 0);
                bytes[1] = bytes[1].wrapping_add(1);
            }
            raw.send_bytes(&bytes).await;
            let said = raw.until_closed().await;
            if version.is_v5() {
                assert!(
                    matches!(said.last(), Some(Packet::Disconnect(d)) if d.reason == code),
                    "{what}: {said:?}"
                );
            } else {
                assert!(said.is_empty(), "{what}: {said:?}");
            }
        }
    }
    // The bystander still works.
    bystander
        .publish("ok", QoS::AtMostOnce, 0, b"still here")
        .await;
    assert_eq!(&bystander.next_publish().await.payload[..], b"still here");
}

#[tokio::test]
async fn oversized_packets_are_refused_before_they_arrive() {
    let mut config = warren::Config::for_tests();
    config.mqtt.max_packet_size = 1024;
    let server = warren::start(config).await.unwrap();
    let (mut raw, _) = Raw::connect(&server, Version::V5, "big", true).await;
    // Announces 1 MB, sends 10 bytes of it.
    raw.send_bytes(&[0x30, 0x80, 0x80, 0x40, 0, 1, b'a', 0, 1, 2, 3])
        .await;
    let said = raw.until_closed().await;
    assert!(
        matches!(said.last(), Some(Packet::Disconnect(d)) if d.reason == reason::PACKET_TOO_LARGE),
        "{said:?}"
    );
    // Before CONNECT the limit is 64 KiB.
    let mut raw = Raw::open(&server, Version::V3_1_1).await;
    raw.send_bytes(&[0x10, 0x80, 0x80, 0x10]).await;
    assert!(raw.until_closed().await.is_empty());
}

#[tokio::test]
async fn permissions_decide_who_publishes_and_subscribes() {
    let server = server().await;
    let broker = server.broker();
    broker
        .add_user("sensor", PasswordInput::Plain("pw".into()), vec![])
        .await
        .unwrap();
    // May write to amq.topic and read from it, only under "sensors.".
    broker
        .set_permissions("sensor", "/", ".*", ".*", ".*")
        .await
        .unwrap();
    broker
        .set_topic_permissions("sensor", "/", "amq.topic", "^sensors\\.", "^sensors\\.")
        .await
        .unwrap();
    let login = |version, id: &str| {
        let mut c = connect_packet(version, id, true);
        c.username = Some("sensor".into());
        c.password = Some(bytes::Bytes::from_static(b"pw"));
        c
    };
    let (mut v5, _, code) = Raw::connect_with(&server, login(Version::V5, "s5")).await;
    assert_eq!(code, 0);
    v5.send(&Packet::Subscribe(mqtt_codec::Subscribe {
        packet_id: 3,
        properties: Default::default(),
        filters: vec![
            ("sensors/#".into(), Default::default()),
            ("secrets/#".into(), Default::default()),
        ],
    }))
    .await;
    match v5.recv().await {
        Some(Packet::SubAck(s)) => assert_eq!(s.codes, vec![0, reason::NOT_AUTHORIZED]),
        other => panic!("{other:?}"),
    }
    v5.publish("secrets/x", QoS::AtLeastOnce, 9, b"no").await;
    match v5.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!((a.packet_id, a.reason), (9, reason::NOT_AUTHORIZED)),
        other => panic!("{other:?}"),
    }
    v5.publish("sensors/x", QoS::AtLeastOnce, 10, b"yes").await;
    let p = v5.next_publish().await;
    assert_eq!(p.topic, "sensors/x");
    // 3.1.1 cannot say "not authorized" to a publish: the connection closes.
    let (mut v3, _, _) = Raw::connect_with(&server, login(Version::V3_1_1, "s3")).await;
    v3.publish("secrets/x", QoS::AtLeastOnce, 1, b"no").await;
    assert!(v3.until_closed().await.is_empty());
    // No permissions in the vhost at all: refused at CONNECT.
    broker.clear_permissions("sensor", "/").await.unwrap();
    let (_, _, code) = Raw::connect_with(&server, login(Version::V3_1_1, "s3b")).await;
    assert_eq!(code, connack_v3::NOT_AUTHORIZED);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
