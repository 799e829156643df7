//! Feeds arbitrary bytes to `decode_frame` as a connection's read loop would. Every
//! decoded method must re-encode to bytes that decode to the same method; every content
//! header's properties must scan and decode consistently.

#![no_main]

use amqp_codec::{
    decode_frame, decode_table, encode_method, encode_table, scan_properties, BasicProperties,
    FieldTable, Frame,
};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a frame_max, so the size checks are exercised too.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let frame_max = [0, 4096, 131_072, 16][pick as usize % 4];
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(frame)) = decode_frame(&mut buf, frame_max) {
        match frame {
            Frame::Method { channel, method } => check_method(channel, &method),
            Frame::Header { header, .. } => check_properties(&header.properties),
            Frame::Body { .. } | Frame::Heartbeat { .. } => {}
        }
    }
});

fn check_method(channel: u16, method: &amqp_codec::Method) {
    let mut once = BytesMut::new();
    encode_method(&mut once, channel, method);
    let mut copy = once.clone();
    let again = match decode_frame(&mut copy, 0) {
        Ok(Some(Frame::Method { method, .. })) => method,
        other => panic!("re-encoded {} decoded as {other:?}", method.name()),
    };
    assert!(copy.is_empty());
    let mut twice = BytesMut::new();
    encode_method(&mut twice, channel, &again);
    assert_eq!(once, twice, "{}", method.name());
    // Floats inside tables may be NaN, which never equals itself; the byte comparison
    // above covers those.
    if !format!("{method:?}").contains("NaN") {
        assert_eq!(method, &again);
    }
}

/// Tables compared by their encoding, which (unlike `==`) treats a NaN as itself.
fn encoded(t: &FieldTable) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_table(&mut buf, t);
    buf
}

fn check_properties(raw: &[u8]) {
    let scanned = scan_properties(raw);
    let decoded = BasicProperties::decode(raw);
    // Decode is stricter (UTF-8 in every string), never laxer.
    assert!(
        scanned.is_ok() || decoded.is_err(),
        "decode accepts what scan refuses"
    );
    let (Ok(view), Ok(props)) = (scanned, decoded) else {
        return;
    };
    assert_eq!(view.delivery_mode, props.delivery_mode);
    assert_eq!(view.priority, props.priority);
    assert_eq!(view.expiration, props.expiration.as_deref());
    assert_eq!(view.user_id, props.user_id.as_deref());
    assert_eq!(view.reply_to, props.reply_to.as_deref());
    match (view.headers, &props.headers) {
        (Some(h), Some(t)) => {
            let scanned = decode_table(h).expect("a scanned headers table decodes");
            assert_eq!(encoded(&scanned), encoded(t));
        }
        (None, None) => {}
        other => panic!("scan and decode disagree on headers: {other:?}"),
    }
    // Re-encoding the decoded properties gives something that decodes the same.
    let raw_again = props.encode();
    let again = BasicProperties::decode(&raw_again).expect("re-encoded properties decode");
    assert_eq!(again.encode(), raw_again);
    if !format!("{props:?}").contains("NaN") {
        assert_eq!(again, props);
    }
}
