//! Methods against bytes worked out by hand from the spec, so the method table is
//! checked against something other than itself.

use amqp_codec::*;
use bytes::{Bytes, BytesMut};

fn frame_bytes(method: &Method) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_method(&mut buf, 5, method);
    buf.to_vec()
}

/// The frame around `args` for class/method on channel 5.
fn expected(class: u16, method: u16, args: &[u8]) -> Vec<u8> {
    let mut v = vec![1, 0, 5];
    v.extend_from_slice(&((args.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(&class.to_be_bytes());
    v.extend_from_slice(&method.to_be_bytes());
    v.extend_from_slice(args);
    v.push(0xCE);
    v
}

fn check(method: Method, class: u16, id: u16, args: &[u8]) {
    let want = expected(class, id, args);
    assert_eq!(frame_bytes(&method), want, "{}", method.name());
    let mut buf = BytesMut::from(&want[..]);
    assert_eq!(
        decode_frame(&mut buf, 0).unwrap(),
        Some(Frame::Method { channel: 5, method })
    );
}

#[test]
fn queue_declare_packs_its_five_bits_into_one_octet() {
    let m = QueueDeclare {
        queue: "q1".into(),
        passive: true,
        durable: false,
        exclusive: true,
        auto_delete: false,
        no_wait: true,
        arguments: FieldTable::new(),
    };
    // ticket, queue, bits 0b10101, empty table
    check(
        m.into(),
        50,
        10,
        &[0, 0, 2, b'q', b'1', 0b1_0101, 0, 0, 0, 0],
    );
    let m = QueueDeclare {
        durable: true,
        auto_delete: true,
        ..Default::default()
    };
    check(m.into(), 50, 10, &[0, 0, 0, 0b0_1010, 0, 0, 0, 0]);
}

#[test]
fn exchange_declare_has_type_then_five_bits_then_arguments() {
    let mut args = FieldTable::new();
    args.insert("alternate-exchange", FieldValue::long_string("ae"));
    let m = ExchangeDeclare {
        exchange: "logs".into(),
        kind: "fanout".into(),
        passive: false,
        durable: true,
        auto_delete: false,
        internal: true,
        no_wait: false,
        arguments: args,
    };
    let mut want = vec![0, 0, 4, b'l', b'o', b'g', b's', 6];
    want.extend_from_slice(b"fanout");
    want.push(0b0_1010);
    let table_body: Vec<u8> = [
        &[18u8][..],
        b"alternate-exchange",
        b"S",
        &[0, 0, 0, 2],
        b"ae",
    ]
    .concat();
    want.extend_from_slice(&(table_body.len() as u32).to_be_bytes());
    want.extend_from_slice(&table_body);
    check(m.into(), 40, 10, &want);
}

#[test]
fn basic_publish_and_deliver() {
    let m = BasicPublish {
        exchange: "amq.direct".into(),
        routing_key: "key".into(),
        mandatory: true,
        immediate: false,
    };
    let mut want = vec![0, 0, 10];
    want.extend_from_slice(b"amq.direct");
    want.push(3);
    want.extend_from_slice(b"key");
    want.push(1);
    check(m.into(), 60, 40, &want);

    let m = BasicDeliver {
        consumer_tag: "ct".into(),
        delivery_tag: 0x0102030405060708,
        redelivered: true,
        exchange: "".into(),
        routing_key: "rk".into(),
    };
    check(
        m.into(),
        60,
        60,
        &[2, b'c', b't', 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 2, b'r', b'k'],
    );
}

#[test]
fn connection_methods() {
    check(
        ConnectionTune {
            channel_max: 2047,
            frame_max: 131072,
            heartbeat: 60,
        }
        .into(),
        10,
        30,
        &[0x07, 0xff, 0, 2, 0, 0, 0, 60],
    );
    // virtual-host "/", reserved capabilities "" and insist bit 0.
    check(
        ConnectionOpen {
            virtual_host: "/".into(),
        }
        .into(),
        10,
        40,
        &[1, b'/', 0, 0],
    );
    check(ConnectionOpenOk.into(), 10, 41, &[0]);
    check(
        ConnectionClose {
            reply_code: 320,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        }
        .into(),
        10,
        50,
        &[1, 64, 3, b'b', b'y', b'e', 0, 0, 0, 0],
    );
    check(
        ConnectionUpdateSecret {
            new_secret: Bytes::from_static(b"tok"),
            reason: "r".into(),
        }
        .into(),
        10,
        70,
        &[0, 0, 0, 3, b't', b'o', b'k', 1, b'r'],
    );
    check(
        ConnectionBlocked {
            reason: "low on memory".into(),
        }
        .into(),
        10,
        60,
        &[[13u8].as_slice(), b"low on memory"].concat(),
    );
}

#[test]
fn connection_start_ok_with_client_properties() {
    let mut caps = FieldTable::new();
    caps.insert("publisher_confirms", FieldValue::Bool(true));
    let mut props = FieldTable::new();
    props.insert("capabilities", FieldValue::Table(caps));
    let m = ConnectionStartOk {
        client_properties: props,
        mechanism: "PLAIN".into(),
        response: Bytes::from_static(b"\0guest\0guest"),
        locale: "en_US".into(),
    };
    let caps_body: Vec<u8> = [&[18u8][..], b"publisher_confirms", b"t", &[1]].concat();
    let mut props_body = vec![12u8];
    props_body.extend_from_slice(b"capabilities");
    props_body.push(b'F');
    props_body.extend_from_slice(&(caps_body.len() as u32).to_be_bytes());
    props_body.extend_from_slice(&caps_body);
    let mut want = (props_body.len() as u32).to_be_bytes().to_vec();
    want.extend_from_slice(&props_body);
    want.extend_from_slice(b"\x05PLAIN\x00\x00\x00\x0c\x00guest\x00guest\x05en_US");
    check(m.into(), 10, 11, &want);
}

#[test]
fn rabbitmq_extensions_have_rabbitmq_ids() {
    check(ExchangeUnbindOk.into(), 40, 51, &[]);
    check(ConfirmSelect { no_wait: true }.into(), 85, 10, &[1]);
    check(ConfirmSelectOk.into(), 85, 11, &[]);
    check(
        BasicNack {
            delivery_tag: 9,
            multiple: false,
            requeue: true,
        }
        .into(),
        60,
        120,
        &[0, 0, 0, 0, 0, 0, 0, 9, 0b10],
    );
    check(ConnectionUnblocked.into(), 10, 61, &[]);
    check(ConnectionUpdateSecretOk.into(), 10, 71, &[]);
}

#[test]
fn methods_with_several_bit_groups_and_reserved_fields() {
    check(
        BasicConsume {
            queue: "q".into(),
            consumer_tag: "".into(),
            no_local: false,
            no_ack: true,
            exclusive: false,
            no_wait: true,
            arguments: FieldTable::new(),
        }
        .into(),
        60,
        20,
        &[0, 0, 1, b'q', 0, 0b1010, 0, 0, 0, 0],
    );
    check(
        QueueDelete {
            queue: "q".into(),
            if_unused: true,
            if_empty: true,
            no_wait: false,
        }
        .into(),
        50,
        40,
        &[0, 0, 1, b'q', 0b011],
    );
    check(
        BasicQos {
            prefetch_size: 0,
            prefetch_count: 10,
            global: true,
        }
        .into(),
        60,
        10,
        &[0, 0, 0, 0, 0, 10, 1],
    );
    check(
        BasicGetOk {
            delivery_tag: 1,
            redelivered: false,
            exchange: "x".into(),
            routing_key: "".into(),
            message_count: 7,
        }
        .into(),
        60,
        71,
        &[0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'x', 0, 0, 0, 0, 7],
    );
    check(ChannelOpen.into(), 20, 10, &[0]);
    check(
        ChannelOpenOk {
            channel_id: Bytes::new(),
        }
        .into(),
        20,
        11,
        &[0, 0, 0, 0],
    );
    check(TxSelect.into(), 90, 10, &[]);
}

#[test]
fn reserved_fields_are_skipped_whatever_they_hold() {
    // A basic.publish with ticket 0x1234 (old clients send it) decodes the same.
    let mut frame = expected(60, 40, &[0x12, 0x34, 0, 0, 0]);
    let mut buf = BytesMut::from(&frame[..]);
    assert_eq!(
        decode_frame(&mut buf, 0).unwrap(),
        Some(Frame::Method {
            channel: 5,
            method: BasicPublish::default().into()
        })
    );
    // connection.open with capabilities and insist set.
    frame = expected(10, 40, &[1, b'/', 2, b'x', b'y', 1]);
    let mut buf = BytesMut::from(&frame[..]);
    let Some(Frame::Method { method, .. }) = decode_frame(&mut buf, 0).unwrap() else {
        panic!("not a method")
    };
    assert_eq!(
        method,
        Method::ConnectionOpen(ConnectionOpen {
            virtual_host: "/".into()
        })
    );
}

#[test]
fn fast_path_writers_match_encode_method() {
    let deliver = BasicDeliver {
        consumer_tag: "amq.ctag-1".into(),
        delivery_tag: 42,
        redelivered: true,
        exchange: "ex".into(),
        routing_key: "a.b.c".into(),
    };
    let mut fast = BytesMut::new();
    encode_deliver(&mut fast, 9, "amq.ctag-1", 42, true, "ex", "a.b.c");
    let mut slow = BytesMut::new();
    encode_method(&mut slow, 9, &deliver.into());
    assert_eq!(fast, slow);

    let get_ok = BasicGetOk {
        delivery_tag: 3,
        redelivered: false,
        exchange: "".into(),
        routing_key: "q".into(),
        message_count: 17,
    };
    let (mut fast, mut slow) = (BytesMut::new(), BytesMut::new());
    encode_get_ok(&mut fast, 2, 3, false, "", "q", 17);
    encode_method(&mut slow, 2, &get_ok.into());
    assert_eq!(fast, slow);

    for multiple in [false, true] {
        let (mut fast, mut slow) = (BytesMut::new(), BytesMut::new());
        encode_ack(&mut fast, 1, 77, multiple);
        encode_method(
            &mut slow,
            1,
            &BasicAck {
                delivery_tag: 77,
                multiple,
            }
            .into(),
        );
        assert_eq!(fast, slow);
        for requeue in [false, true] {
            let (mut fast, mut slow) = (BytesMut::new(), BytesMut::new());
            encode_nack(&mut fast, 1, 78, multiple, requeue);
            encode_method(
                &mut slow,
                1,
                &BasicNack {
                    delivery_tag: 78,
                    multiple,
                    requeue,
                }
                .into(),
            );
            assert_eq!(fast, slow);
        }
    }
}

#[test]
fn fast_path_cuts_overlong_strings_instead_of_writing_a_bad_frame() {
    let long = "k".repeat(300);
    let mut buf = BytesMut::new();
    encode_deliver(&mut buf, 1, "t", 1, false, "x", &long);
    let Some(Frame::Method {
        method: Method::BasicDeliver(d),
        ..
    }) = decode_frame(&mut buf, 0).unwrap()
    else {
        panic!("not a deliver")
    };
    assert_eq!(d.routing_key.len(), 255);
}

#[test]
fn heartbeat_and_protocol_header() {
    let mut buf = BytesMut::new();
    encode_heartbeat(&mut buf);
    assert_eq!(&buf[..], &[8, 0, 0, 0, 0, 0, 0, 0xCE]);
    assert_eq!(
        decode_frame(&mut buf, 0).unwrap(),
        Some(Frame::Heartbeat { channel: 0 })
    );
    assert_eq!(PROTOCOL_HEADER, b"AMQP\0\0\x09\x01");
}

/// `data/pika-methods.hex`: one method frame per line, for each of the 66 methods, as
/// Python's pika 1.4.4 encodes them (`pika.frame.Method(3, m).marshal()`), with every
/// argument set to a non-default value (bits alternating true/false/true/true/false,
/// tables with S, I, l, t, F, A and D values). Written by an independent encoder, so it
/// checks our method table's field order and types from outside.
#[test]
fn every_method_matches_pikas_encoding() {
    let text = include_str!("data/pika-methods.hex");
    let mut decoded = Vec::new();
    for line in text.lines() {
        let bytes: Vec<u8> = (0..line.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
            .collect();
        let mut buf = BytesMut::from(&bytes[..]);
        let Some(Frame::Method { channel, method }) = decode_frame(&mut buf, 0).unwrap() else {
            panic!("not a method frame: {line}")
        };
        assert!(buf.is_empty());
        let mut again = BytesMut::new();
        encode_method(&mut again, channel, &method);
        assert_eq!(&again[..], &bytes[..], "{}", method.name());
        decoded.push(method);
    }
    assert_eq!(decoded.len(), 66);

    // Spot-check that values land in the right fields, bits included.
    let Some(Method::BasicConsume(c)) = decoded
        .iter()
        .find(|m| matches!(m, Method::BasicConsume(_)))
    else {
        panic!("no basic.consume")
    };
    assert_eq!(
        (c.queue.as_str(), c.consumer_tag.as_str()),
        ("s-queue", "s-consumer-tag")
    );
    assert_eq!(
        (c.no_local, c.no_ack, c.exclusive, c.no_wait),
        (true, false, true, true)
    );
    assert_eq!(c.arguments.get("n"), Some(&FieldValue::I32(5)));
    let Some(Method::ExchangeDeclare(x)) = decoded
        .iter()
        .find(|m| matches!(m, Method::ExchangeDeclare(_)))
    else {
        panic!("no exchange.declare")
    };
    assert_eq!(x.kind.as_str(), "s-type");
    assert_eq!(
        (x.passive, x.durable, x.auto_delete, x.internal, x.no_wait),
        (true, false, true, true, false)
    );
}
