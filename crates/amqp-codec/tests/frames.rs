//! Frame boundaries, content splitting, zero-copy payloads and every decode error with
//! the reply code RabbitMQ uses for it.

use amqp_codec::*;
use bytes::{Bytes, BytesMut};

fn raw_frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&channel.to_be_bytes());
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v.push(0xCE);
    v
}

fn decode_all(bytes: &[u8], frame_max: u32) -> Result<Vec<Frame>, FrameError> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(f) = decode_frame(&mut buf, frame_max)? {
        out.push(f);
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(out)
}

fn err_of(bytes: &[u8], frame_max: u32) -> FrameError {
    decode_frame(&mut BytesMut::from(bytes), frame_max).unwrap_err()
}

fn publish_sequence(body: &[u8], frame_max: u32) -> (BytesMut, Bytes) {
    let props = BasicProperties {
        content_type: Some("text/plain".into()),
        delivery_mode: Some(2),
        ..Default::default()
    }
    .encode();
    let mut buf = BytesMut::new();
    encode_method(
        &mut buf,
        1,
        &BasicPublish {
            exchange: "".into(),
            routing_key: "q".into(),
            mandatory: false,
            immediate: false,
        }
        .into(),
    );
    encode_content(&mut buf, 1, 60, &props, body, frame_max);
    (buf, props)
}

#[test]
fn a_publish_sequence_decodes_into_method_header_and_bodies() {
    let body: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let (buf, props) = publish_sequence(&body, 4096);
    let frames = decode_all(&buf, 4096).unwrap();
    assert_eq!(
        frames.len(),
        2 + 3,
        "10000 bytes at 4088 per frame is 3 body frames"
    );
    assert!(matches!(&frames[0], Frame::Method { channel: 1, method } if method.has_content()));
    assert_eq!(
        frames[1],
        Frame::Header {
            channel: 1,
            header: ContentHeader {
                class_id: 60,
                body_size: 10_000,
                properties: props
            }
        }
    );
    let mut joined = Vec::new();
    for f in &frames[2..] {
        let Frame::Body {
            channel: 1,
            payload,
        } = f
        else {
            panic!("not a body: {f:?}")
        };
        assert!(payload.len() + 8 <= 4096);
        joined.extend_from_slice(payload);
    }
    assert_eq!(joined, body);
}

#[test]
fn content_splitting_respects_frame_max_exactly() {
    let body = vec![7u8; 4088 * 2];
    let mut buf = BytesMut::new();
    encode_content(&mut buf, 1, 60, &[0, 0], &body, 4096);
    let frames = decode_all(&buf, 4096).unwrap();
    assert_eq!(frames.len(), 3);
    // Every body frame is exactly frame_max on the wire.
    assert_eq!(buf.len(), (8 + 12 + 2) + 2 * 4096);
}

#[test]
fn an_empty_body_writes_no_body_frame_and_unlimited_writes_one() {
    let mut buf = BytesMut::new();
    encode_content(&mut buf, 1, 60, &[0, 0], &[], 4096);
    let frames = decode_all(&buf, 0).unwrap();
    assert_eq!(frames.len(), 1);

    let mut buf = BytesMut::new();
    encode_content(&mut buf, 1, 60, &[0, 0], &vec![1u8; 100_000], 0);
    assert_eq!(decode_all(&buf, 0).unwrap().len(), 2);
}

#[test]
fn feeding_one_byte_at_a_time_yields_the_same_frames() {
    let body: Vec<u8> = (0..9000u32).map(|i| (i * 7) as u8).collect();
    let (mut all, _) = publish_sequence(&body, 4096);
    encode_heartbeat(&mut all);
    let (more, _) = publish_sequence(b"second", 4096);
    all.extend_from_slice(&more);
    let whole = decode_all(&all, 4096).unwrap();

    let mut buf = BytesMut::new();
    let mut piecewise = Vec::new();
    for (i, &b) in all.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        let before = buf.len();
        match decode_frame(&mut buf, 4096).unwrap() {
            Some(f) => piecewise.push(f),
            // An incomplete frame consumes nothing.
            None => assert_eq!(buf.len(), before, "byte {i}"),
        }
    }
    assert!(buf.is_empty());
    assert_eq!(piecewise, whole);
}

#[test]
fn payloads_are_slices_of_the_read_buffer() {
    let (buf, _) = publish_sequence(b"hello zero copy", 4096);
    let mut buf = BytesMut::from(&buf[..]);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let inside = |b: &[u8]| range.contains(&(b.as_ptr() as usize));
    let Some(Frame::Method {
        method: Method::BasicPublish(p),
        ..
    }) = decode_frame(&mut buf, 0).unwrap()
    else {
        panic!()
    };
    assert!(inside(p.routing_key.as_bytes()));
    let Some(Frame::Header { header, .. }) = decode_frame(&mut buf, 0).unwrap() else {
        panic!()
    };
    assert!(inside(&header.properties));
    let Some(Frame::Body { payload, .. }) = decode_frame(&mut buf, 0).unwrap() else {
        panic!()
    };
    assert!(inside(&payload));
    assert_eq!(&payload[..], b"hello zero copy");
}

#[test]
fn an_oversized_frame_is_rejected_from_its_header_alone() {
    // Only the 7-byte header has arrived.
    let mut header = vec![3, 0, 1];
    header.extend_from_slice(&200_000u32.to_be_bytes());
    let e = err_of(&header, 131_072);
    assert_eq!(e.code, reply_code::FRAME_ERROR);
    assert_eq!(
        e.text,
        "FRAME_ERROR - frame size 200008 exceeds frame_max 131072"
    );
}

#[test]
fn frame_max_allows_rabbitmqs_eight_byte_slack() {
    // Payload of exactly frame_max (8 over the strict limit) is accepted, as RabbitMQ
    // does for clients that get the limit wrong; one more is not.
    let ok = raw_frame(3, 1, &vec![0u8; 4096]);
    assert_eq!(decode_all(&ok, 4096).unwrap().len(), 1);
    let too_big = raw_frame(3, 1, &vec![0u8; 4097]);
    assert_eq!(err_of(&too_big, 4096).code, reply_code::FRAME_ERROR);
    // 0 means unlimited.
    let big = raw_frame(3, 1, &vec![0u8; 300_000]);
    assert_eq!(decode_all(&big, 0).unwrap().len(), 1);
}

#[test]
fn a_wrong_frame_end_is_a_frame_error() {
    let mut f = raw_frame(8, 0, &[]);
    *f.last_mut().unwrap() = 0xCD;
    let e = err_of(&f, 0);
    assert_eq!(e.code, reply_code::FRAME_ERROR);
    assert!(e.text.contains("0xcd"), "{}", e.text);
}

#[test]
fn an_unknown_frame_type_is_a_frame_error_without_waiting_for_the_payload() {
    let mut f = vec![4, 0, 1];
    f.extend_from_slice(&100u32.to_be_bytes());
    let e = err_of(&f, 0);
    assert_eq!(e.code, reply_code::FRAME_ERROR);
    assert!(e.text.starts_with("FRAME_ERROR - unknown frame type 4"));
}

#[test]
fn short_payloads_for_their_frame_type_are_frame_errors() {
    for f in [
        raw_frame(1, 1, &[0, 60, 0]),       // method without full ids
        raw_frame(2, 1, &[0, 60, 0, 0, 0]), // header without body size
        raw_frame(8, 0, &[0]),              // heartbeat with payload
    ] {
        assert_eq!(err_of(&f, 0).code, reply_code::FRAME_ERROR, "{f:?}");
    }
}

#[test]
fn unknown_methods_are_not_implemented_and_carry_their_ids() {
    for (class, method) in [(60u16, 200u16), (30, 99), (99, 1), (10, 12)] {
        let mut payload = class.to_be_bytes().to_vec();
        payload.extend_from_slice(&method.to_be_bytes());
        let e = err_of(&raw_frame(1, 1, &payload), 0);
        assert_eq!(e.code, reply_code::NOT_IMPLEMENTED);
        assert_eq!((e.class_id, e.method_id), (class, method));
    }
}

/// A method frame for class/method with the given argument bytes.
fn method_frame(class: u16, method: u16, args: &[u8]) -> Vec<u8> {
    let mut payload = class.to_be_bytes().to_vec();
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(args);
    raw_frame(1, 1, &payload)
}

fn assert_bad_args(frame: &[u8], class: u16, method: u16, text_part: &str) {
    let e = err_of(frame, 0);
    // RabbitMQ's code for method arguments it cannot decode.
    assert_eq!(e.code, reply_code::FRAME_ERROR, "{}", e.text);
    assert_eq!((e.class_id, e.method_id), (class, method));
    assert!(
        e.text.contains(text_part),
        "{:?} lacks {text_part:?}",
        e.text
    );
}

#[test]
fn malformed_method_arguments_are_frame_errors_naming_the_method() {
    // basic.publish cut inside the routing key.
    assert_bad_args(
        &method_frame(60, 40, &[0, 0, 0, 5, b'a']),
        60,
        40,
        "cannot decode basic.publish arguments: field 'routing_key': truncated",
    );
    // Trailing garbage after the last field.
    assert_bad_args(
        &method_frame(60, 80, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0xAA]),
        60,
        80,
        "1 unexpected trailing octets",
    );
    // Invalid UTF-8 in a shortstr.
    assert_bad_args(
        &method_frame(50, 10, &[0, 0, 2, 0xC3, 0x28, 0, 0, 0, 0, 0]),
        50,
        10,
        "field 'queue': malformed UTF-8",
    );
    // A table value with an unknown type tag.
    assert_bad_args(
        &method_frame(50, 10, &[0, 0, 0, 0, 0, 0, 0, 3, 1, b'k', b'Z']),
        50,
        10,
        "field 'arguments': unknown field value type 'Z'",
    );
    // A table whose length runs past the frame.
    assert_bad_args(
        &method_frame(50, 10, &[0, 0, 0, 0, 0, 0, 0, 9]),
        50,
        10,
        "field 'arguments': truncated",
    );
}

fn nested_table(depth: usize) -> Vec<u8> {
    // depth tables, each the only value of its parent.
    let mut inner: Vec<u8> = Vec::new();
    for _ in 1..depth {
        let mut t = vec![1, b'n', b'F'];
        t.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        t.extend_from_slice(&inner);
        inner = t;
    }
    let mut out = (inner.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&inner);
    out
}

#[test]
fn tables_nested_deeper_than_64_are_rejected() {
    let mut ok = vec![0, 0, 0, 0];
    ok.extend_from_slice(&nested_table(64));
    assert!(decode_all(&method_frame(50, 10, &ok), 0).is_ok());

    let mut deep = vec![0, 0, 0, 0];
    deep.extend_from_slice(&nested_table(65));
    assert_bad_args(
        &method_frame(50, 10, &deep),
        50,
        10,
        "nested deeper than 64",
    );
    assert_eq!(
        decode_table(&nested_table(65)).unwrap_err().code,
        reply_code::SYNTAX_ERROR
    );
}

fn header_payload(class: u16, weight: u16, props: &[u8]) -> Vec<u8> {
    let mut p = class.to_be_bytes().to_vec();
    p.extend_from_slice(&weight.to_be_bytes());
    p.extend_from_slice(&5u64.to_be_bytes());
    p.extend_from_slice(props);
    p
}

#[test]
fn a_content_header_with_weight_is_unexpected() {
    let e = err_of(&raw_frame(2, 1, &header_payload(60, 1, &[0, 0])), 0);
    assert_eq!(e.code, reply_code::UNEXPECTED_FRAME);
}

#[test]
fn content_headers_of_other_classes_are_left_to_the_adapter() {
    // Only the adapter knows the class the pending method expects, and RabbitMQ's 505
    // text names it; so the header decodes, and its (absent) properties are not checked.
    let frames = decode_all(&raw_frame(2, 1, &header_payload(50, 0, &[])), 0).unwrap();
    let Frame::Header { header, .. } = &frames[0] else {
        panic!("{frames:?}")
    };
    assert_eq!((header.class_id, header.body_size), (50, 5));
    assert!(header.properties.is_empty());
}

#[test]
fn malformed_property_flags_are_syntax_errors() {
    for props in [
        &[][..],                   // no flags word
        &[0x10],                   // half a flags word
        &[0x10, 0x01],             // continuation bit, no second word
        &[0x00, 0x01, 0x80, 0x00], // continuation word flags an unknown property
    ] {
        let e = err_of(&raw_frame(2, 1, &header_payload(60, 0, props)), 0);
        assert_eq!(e.code, reply_code::SYNTAX_ERROR, "{props:?}: {}", e.text);
    }
    // An empty continuation word is fine.
    let ok = raw_frame(2, 1, &header_payload(60, 0, &[0x00, 0x01, 0x00, 0x00]));
    assert_eq!(decode_all(&ok, 0).unwrap().len(), 1);
}

#[test]
fn frame_errors_display_their_text() {
    let e = err_of(&raw_frame(9, 0, &[]), 0);
    assert_eq!(e.to_string(), e.text);
    assert_eq!((e.class_id, e.method_id), (0, 0));
}
