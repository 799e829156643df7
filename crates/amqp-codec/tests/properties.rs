//! Basic properties: full round trip, the wire layout, the cheap scan and its errors.

use amqp_codec::*;

fn all_set() -> BasicProperties {
    let mut headers = FieldTable::new();
    headers.insert("x-match", FieldValue::long_string("any"));
    headers.insert("n", FieldValue::I32(5));
    BasicProperties {
        content_type: Some("application/json".into()),
        content_encoding: Some("gzip".into()),
        headers: Some(headers),
        delivery_mode: Some(2),
        priority: Some(9),
        correlation_id: Some("corr".into()),
        reply_to: Some("amq.rabbitmq.reply-to".into()),
        expiration: Some("60000".into()),
        message_id: Some("m-1".into()),
        timestamp: Some(1_700_000_000),
        kind: Some("order.created".into()),
        user_id: Some("guest".into()),
        app_id: Some("shop".into()),
        cluster_id: Some("c".into()),
    }
}

#[test]
fn every_property_round_trips() {
    let p = all_set();
    let raw = p.encode();
    assert_eq!(&raw[..2], &[0xFF, 0xFC], "all fourteen flags");
    assert_eq!(BasicProperties::decode(&raw).unwrap(), p);
    assert_eq!(BasicProperties::decode_bytes(&raw).unwrap(), p);
    assert_eq!(
        BasicProperties::decode(&[0, 0]).unwrap(),
        BasicProperties::default()
    );
    assert_eq!(&BasicProperties::default().encode()[..], &[0, 0]);
}

#[test]
fn each_property_alone_uses_its_own_flag_bit() {
    let p = all_set();
    let singles = [
        BasicProperties {
            content_type: p.content_type.clone(),
            ..Default::default()
        },
        BasicProperties {
            content_encoding: p.content_encoding.clone(),
            ..Default::default()
        },
        BasicProperties {
            headers: p.headers.clone(),
            ..Default::default()
        },
        BasicProperties {
            delivery_mode: p.delivery_mode,
            ..Default::default()
        },
        BasicProperties {
            priority: p.priority,
            ..Default::default()
        },
        BasicProperties {
            correlation_id: p.correlation_id.clone(),
            ..Default::default()
        },
        BasicProperties {
            reply_to: p.reply_to.clone(),
            ..Default::default()
        },
        BasicProperties {
            expiration: p.expiration.clone(),
            ..Default::default()
        },
        BasicProperties {
            message_id: p.message_id.clone(),
            ..Default::default()
        },
        BasicProperties {
            timestamp: p.timestamp,
            ..Default::default()
        },
        BasicProperties {
            kind: p.kind.clone(),
            ..Default::default()
        },
        BasicProperties {
            user_id: p.user_id.clone(),
            ..Default::default()
        },
        BasicProperties {
            app_id: p.app_id.clone(),
            ..Default::default()
        },
        BasicProperties {
            cluster_id: p.cluster_id.clone(),
            ..Default::default()
        },
    ];
    for (i, single) in singles.iter().enumerate() {
        let raw = single.encode();
        assert_eq!(
            u16::from_be_bytes([raw[0], raw[1]]),
            1 << (15 - i),
            "property {i}"
        );
        assert_eq!(&BasicProperties::decode(&raw).unwrap(), single);
    }
}

#[test]
fn the_wire_layout_matches_the_spec() {
    let p = BasicProperties {
        content_type: Some("text/plain".into()),
        delivery_mode: Some(2),
        ..Default::default()
    };
    let mut want = vec![0x90, 0x00, 10];
    want.extend_from_slice(b"text/plain");
    want.push(2);
    assert_eq!(&p.encode()[..], &want[..]);
}

#[test]
fn scan_reads_the_fields_the_broker_acts_on() {
    let p = all_set();
    let raw = p.encode();
    let view = scan_properties(&raw).unwrap();
    assert_eq!(view.delivery_mode, Some(2));
    assert_eq!(view.priority, Some(9));
    assert_eq!(view.expiration, Some("60000"));
    assert_eq!(view.user_id, Some("guest"));
    assert_eq!(view.reply_to, Some("amq.rabbitmq.reply-to"));
    let headers = view.headers.unwrap();
    assert_eq!(&decode_table(headers).unwrap(), p.headers.as_ref().unwrap());

    assert_eq!(scan_properties(&[0, 0]).unwrap(), PropsView::default());
    let only_mode = BasicProperties {
        delivery_mode: Some(1),
        ..Default::default()
    }
    .encode();
    let v = scan_properties(&only_mode).unwrap();
    assert_eq!(
        (v.delivery_mode, v.priority, v.headers),
        (Some(1), None, None)
    );
}

#[test]
fn bit_one_of_the_flags_is_ignored_as_rabbitmq_ignores_it() {
    let mut raw = BasicProperties {
        priority: Some(3),
        ..Default::default()
    }
    .encode()
    .to_vec();
    raw[1] |= 0b10;
    assert_eq!(scan_properties(&raw).unwrap().priority, Some(3));
    assert_eq!(BasicProperties::decode(&raw).unwrap().priority, Some(3));
}

#[test]
fn malformed_property_lists_are_syntax_errors() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],                                      // no flags
        vec![0x10, 0x00],                            // delivery-mode flagged, absent
        vec![0x80, 0x00, 5, b'a'],                   // content-type cut short
        vec![0x01, 0x00, 2, 0xC3, 0x28],             // expiration not UTF-8
        vec![0x20, 0x00, 0, 0, 0, 2, 1, b'k'],       // headers table malformed
        vec![0x20, 0x00, 0, 0, 0, 3, 1, b'k', b'?'], // headers table with a bad tag
        vec![0x10, 0x00, 2, 0xEE],                   // trailing byte
        vec![0x00, 0x40, 0, 0, 0],                   // timestamp cut short
    ];
    for raw in cases {
        let e = scan_properties(&raw).unwrap_err();
        assert_eq!(e.code, reply_code::SYNTAX_ERROR, "{raw:?}");
        assert!(
            e.text
                .starts_with("SYNTAX_ERROR - invalid basic properties"),
            "{}",
            e.text
        );
        // Whatever the scan rejects, the full decode rejects too.
        assert_eq!(
            BasicProperties::decode(&raw).unwrap_err().code,
            reply_code::SYNTAX_ERROR
        );
    }
}

#[test]
fn errors_name_the_property() {
    let e = scan_properties(&[0x01, 0x00, 2, 0xC3, 0x28]).unwrap_err();
    assert_eq!(
        e.text,
        "SYNTAX_ERROR - invalid basic properties: expiration: malformed UTF-8 in shortstr"
    );
}

#[test]
fn binary_strings_the_broker_does_not_read_pass_the_scan() {
    // A correlation-id of raw bytes, as Go clients can send: RabbitMQ forwards it, so the
    // scan accepts it; only the full decode, which needs UTF-8, refuses.
    let raw = [0x04, 0x00, 2, 0xC3, 0x28];
    assert_eq!(scan_properties(&raw).unwrap(), PropsView::default());
    assert_eq!(
        BasicProperties::decode(&raw).unwrap_err().code,
        reply_code::SYNTAX_ERROR
    );
}

#[test]
fn matches_pikas_encoding_of_every_property() {
    // pika 1.4.4: frame.Header(1, 10, BasicProperties(<the values of all_set()>)).marshal()
    let hex = "02000100000089003c0000000000000000000afffc106170706c69636174696f6e2f6a736f6e04677a69700000001707782d6d617463685300000003616e79016e4900000005020904636f727215616d712e7261626269746d712e7265706c792d746f053630303030036d2d31000000006553f1000d6f726465722e637265617465640567756573740473686f700163ce";
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut buf = bytes::BytesMut::from(&bytes[..]);
    let Some(Frame::Header { channel, header }) = decode_frame(&mut buf, 0).unwrap() else {
        panic!("not a header frame")
    };
    assert_eq!((channel, header.class_id, header.body_size), (1, 60, 10));
    assert_eq!(
        BasicProperties::decode(&header.properties).unwrap(),
        all_set()
    );
    assert_eq!(all_set().encode(), header.properties);
    let mut ours = bytes::BytesMut::new();
    encode_content(&mut ours, 1, 60, &header.properties, &[], 0);
    // Same header frame, except that ours announces the (empty) body we gave it.
    assert_eq!(&ours[..11], &bytes[..11]);
    assert_eq!(&ours[19..], &bytes[19..]);
}
