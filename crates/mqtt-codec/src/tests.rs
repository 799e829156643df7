//! Round trips of every packet in both layouts, and the decode errors a broker must
//! turn into a reason code rather than a panic.

use super::*;
use bytes::{Bytes, BytesMut};

const MAX: usize = 1 << 20;

fn round_trip(packet: Packet, version: Version) {
    let mut buf = BytesMut::new();
    encode(&mut buf, &packet, version);
    let whole = buf.clone();
    // Every strict prefix is "need more", never an error.
    for cut in 0..whole.len() {
        let mut part = BytesMut::from(&whole[..cut]);
        assert_eq!(decode(&mut part, version, MAX), Ok(None), "cut {cut}");
        assert_eq!(part.len(), cut);
    }
    let back = decode(&mut buf, version, MAX).unwrap().unwrap();
    assert!(buf.is_empty());
    assert_eq!(back, packet);
}

fn full_properties() -> Properties {
    Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(60),
        content_type: Some("text/plain".into()),
        response_topic: Some("reply/here".into()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01corr")),
        subscription_identifiers: vec![1, 300_000],
        user_properties: vec![("k".into(), "v".into()), ("k".into(), "v2".into())],
        topic_alias: Some(3),
        ..Properties::default()
    }
}

#[test]
fn connect_round_trips_in_every_version() {
    for version in [Version::V3_1, Version::V3_1_1, Version::V5] {
        let v5 = version.is_v5();
        let props = |p: Properties| if v5 { p } else { Properties::default() };
        round_trip(
            Packet::Connect(Box::new(Connect {
                version,
                clean_start: true,
                keep_alive: 30,
                properties: props(Properties {
                    session_expiry_interval: Some(3600),
                    receive_maximum: Some(10),
                    maximum_packet_size: Some(4096),
                    ..Properties::default()
                }),
                client_id: "client-\u{e9}".into(),
                will: Some(Will {
                    topic: "last/will".into(),
                    payload: Bytes::from_static(b"bye"),
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    properties: props(Properties {
                        will_delay_interval: Some(5),
                        ..Properties::default()
                    }),
                }),
                username: Some("/:guest".into()),
                password: Some(Bytes::from_static(b"guest")),
            })),
            version,
        );
    }
}

#[test]
fn every_other_packet_round_trips() {
    for version in [Version::V3_1_1, Version::V5] {
        let v5 = version.is_v5();
        let props = |p: Properties| if v5 { p } else { Properties::default() };
        let reason = |r: u8| if v5 { r } else { 0 };
        let packets = vec![
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: 0,
                properties: props(Properties {
                    assigned_client_identifier: Some("x".into()),
                    ..Properties::default()
                }),
            }),
            Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: true,
                topic: "a/b".into(),
                packet_id: None,
                properties: props(full_properties()),
                payload: Bytes::from_static(b"payload"),
            }),
            Packet::Publish(Publish {
                dup: true,
                qos: QoS::ExactlyOnce,
                retain: false,
                topic: "a/b".into(),
                packet_id: Some(65535),
                properties: Properties::default(),
                payload: Bytes::new(),
            }),
            Packet::PubAck(Ack::new(7)),
            Packet::PubAck(Ack {
                packet_id: 7,
                reason: reason(0x10),
                properties: Properties::default(),
            }),
            Packet::PubRec(Ack {
                packet_id: 8,
                reason: reason(0x80),
                properties: props(Properties {
                    reason_string: Some("no".into()),
                    ..Properties::default()
                }),
            }),
            Packet::PubRel(Ack::new(9)),
            Packet::PubComp(Ack::new(10)),
            Packet::Subscribe(Subscribe {
                packet_id: 11,
                properties: props(Properties {
                    subscription_identifiers: vec![5],
                    ..Properties::default()
                }),
                filters: vec![
                    ("a/+".into(), SubOptions::default()),
                    (
                        "b/#".into(),
                        SubOptions {
                            qos: QoS::ExactlyOnce,
                            no_local: v5,
                            retain_as_published: v5,
                            retain_handling: if v5 { 2 } else { 0 },
                        },
                    ),
                ],
            }),
            Packet::SubAck(SubAck {
                packet_id: 11,
                properties: Properties::default(),
                codes: vec![0, 1, 2, 0x80],
            }),
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 12,
                properties: Properties::default(),
                filters: vec!["a/+".into(), "b".into()],
            }),
            Packet::UnsubAck(UnsubAck {
                packet_id: 12,
                properties: Properties::default(),
                codes: if v5 { vec![0, 0x11] } else { vec![] },
            }),
            Packet::PingReq,
            Packet::PingResp,
            Packet::Disconnect(Disconnect::default()),
        ];
        for p in packets {
            round_trip(p, version);
        }
    }
    round_trip(
        Packet::Disconnect(Disconnect {
            reason: reason::SESSION_TAKEN_OVER,
            properties: Properties {
                reason_string: Some("taken".into()),
                ..Properties::default()
            },
        }),
        Version::V5,
    );
    round_trip(
        Packet::Auth(Auth {
            reason: 0x18,
            properties: Properties {
                authentication_method: Some("PLAIN".into()),
                ..Properties::default()
            },
        }),
        Version::V5,
    );
}

fn decode_bytes(bytes: &[u8], version: Version) -> Result<Option<Packet>, DecodeError> {
    decode(&mut BytesMut::from(bytes), version, MAX)
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    use DecodeError::*;
    let v4 = Version::V3_1_1;
    // Reserved flags on PUBREL / SUBSCRIBE / PINGREQ.
    assert!(matches!(
        decode_bytes(&[0x60, 2, 0, 1], v4),
        Err(Malformed(_))
    ));
    assert!(matches!(
        decode_bytes(&[0x80, 5, 0, 1, 0, 0, 0], v4),
        Err(Malformed(_))
    ));
    assert!(matches!(decode_bytes(&[0xc1, 0], v4), Err(Malformed(_))));
    // QoS 3 publish.
    assert!(matches!(
        decode_bytes(&[0x36, 5, 0, 1, b'a', 0, 1], v4),
        Err(Malformed(_))
    ));
    // Type 0 and AUTH before 5.0.
    assert!(matches!(decode_bytes(&[0x00, 0], v4), Err(Malformed(_))));
    assert!(matches!(decode_bytes(&[0xf0, 0], v4), Err(Malformed(_))));
    // A fifth length byte.
    assert!(matches!(
        decode_bytes(&[0x30, 0xff, 0xff, 0xff, 0xff, 1], v4),
        Err(Malformed(_))
    ));
    // Invalid UTF-8 and U+0000 in a topic.
    assert_eq!(decode_bytes(&[0x30, 4, 0, 2, 0xc3, 0x28], v4), Err(BadUtf8));
    assert_eq!(decode_bytes(&[0x30, 3, 0, 1, 0], v4), Err(BadUtf8));
    // A string longer than its packet.
    assert!(matches!(
        decode_bytes(&[0x30, 3, 0, 9, b'a'], v4),
        Err(Malformed(_))
    ));
    // Packet id 0 on a QoS 1 publish.
    assert!(matches!(
        decode_bytes(&[0x32, 5, 0, 1, b'a', 0, 0], v4),
        Err(Protocol(_))
    ));
    // Trailing bytes after a PUBACK's id (3.1.1 has no reason code).
    assert!(matches!(
        decode_bytes(&[0x40, 3, 0, 1, 0], v4),
        Err(Malformed(_))
    ));
    // SUBSCRIBE with no filter.
    assert!(matches!(
        decode_bytes(&[0x82, 2, 0, 1], v4),
        Err(Protocol(_))
    ));
    // A property twice, and an unknown property.
    let twice = [0x40, 9, 0, 1, 0, 5, 0x1f, 0, 0, 0x1f, 0];
    assert!(matches!(
        decode_bytes(&twice[..], Version::V5),
        Err(Malformed(_)) | Err(Protocol(_))
    ));
    let twice = [0x40, 10, 0, 1, 0, 6, 0x1f, 0, 0, 0x1f, 0, 0];
    assert!(matches!(
        decode_bytes(&twice[..], Version::V5),
        Err(Protocol(_))
    ));
    assert!(matches!(
        decode_bytes(&[0x40, 5, 0, 1, 0, 1, 0x7f], Version::V5),
        Err(Malformed(_))
    ));
}

#[test]
fn connect_versions_and_flags_are_checked() {
    let connect = |name: &[u8], level: u8, flags: u8| {
        let mut body = vec![0, name.len() as u8];
        body.extend_from_slice(name);
        body.extend_from_slice(&[level, flags, 0, 60]);
        if level == 5 {
            body.push(0);
        }
        body.extend_from_slice(&[0, 1, b'c']);
        let mut packet = vec![0x10, body.len() as u8];
        packet.extend(body);
        decode_bytes(&packet, Version::V3_1_1)
    };
    assert!(matches!(
        connect(b"MQTT", 4, 2),
        Ok(Some(Packet::Connect(_)))
    ));
    assert!(matches!(
        connect(b"MQIsdp", 3, 2),
        Ok(Some(Packet::Connect(_)))
    ));
    assert!(matches!(
        connect(b"MQTT", 5, 2),
        Ok(Some(Packet::Connect(_)))
    ));
    assert_eq!(connect(b"MQTT", 6, 2), Err(DecodeError::UnsupportedVersion));
    assert_eq!(connect(b"MQTT", 3, 2), Err(DecodeError::UnsupportedVersion));
    assert!(matches!(
        connect(b"HTTP", 4, 2),
        Err(DecodeError::Protocol(_))
    ));
    // Reserved bit; will QoS without a will.
    assert!(matches!(
        connect(b"MQTT", 4, 3),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        connect(b"MQTT", 4, 0x0a),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn the_size_limit_is_checked_before_the_body_arrives() {
    // A header announcing 1000 bytes, with none of them here yet.
    let mut buf = BytesMut::from(&[0x30, 0xe8, 0x07][..]);
    assert_eq!(
        decode(&mut buf, Version::V3_1_1, 100),
        Err(DecodeError::TooLarge {
            size: 1003,
            max: 100
        })
    );
    assert_eq!(
        DecodeError::TooLarge { size: 1, max: 0 }.reason_code(),
        0x95
    );
}

#[test]
fn several_packets_in_one_buffer_decode_in_order() {
    let mut buf = BytesMut::new();
    encode(&mut buf, &Packet::PingReq, Version::V3_1_1);
    encode(&mut buf, &Packet::PubAck(Ack::new(3)), Version::V3_1_1);
    buf.extend_from_slice(&[0x30]);
    assert_eq!(
        decode(&mut buf, Version::V3_1_1, MAX),
        Ok(Some(Packet::PingReq))
    );
    assert_eq!(
        decode(&mut buf, Version::V3_1_1, MAX),
        Ok(Some(Packet::PubAck(Ack::new(3))))
    );
    assert_eq!(decode(&mut buf, Version::V3_1_1, MAX), Ok(None));
    assert_eq!(&buf[..], &[0x30]);
}
