//! Round trips over every method with generated arguments (see `testing.rs`).
//! Byte-level expectations live in the integration tests, so a mistake in the method
//! table cannot pass by being made the same way in both directions.

use crate::methods::sample_methods;
use crate::testing::Rng;
use crate::*;
use bytes::BytesMut;
use std::collections::HashSet;

#[test]
fn the_table_has_every_method_once() {
    let methods = sample_methods(&mut Rng::new(1));
    assert_eq!(methods.len(), 66);
    let ids: HashSet<_> = methods
        .iter()
        .map(|m| (m.class_id(), m.method_id()))
        .collect();
    let names: HashSet<_> = methods.iter().map(|m| m.name()).collect();
    assert_eq!(ids.len(), 66);
    assert_eq!(names.len(), 66);
    for m in &methods {
        assert_eq!(method_name(m.class_id(), m.method_id()), Some(m.name()));
        assert!(m.name().contains('.'));
    }
    let content: Vec<_> = methods
        .iter()
        .filter(|m| m.has_content())
        .map(|m| m.name())
        .collect();
    assert_eq!(
        content,
        [
            "basic.publish",
            "basic.return",
            "basic.deliver",
            "basic.get-ok"
        ]
    );
}

#[test]
fn every_method_round_trips_through_a_frame() {
    for seed in 0..200 {
        let mut rng = Rng::new(seed);
        for method in sample_methods(&mut rng) {
            let channel = (seed as u16).wrapping_mul(31);
            let mut buf = BytesMut::new();
            encode_method(&mut buf, channel, &method);
            let frame = decode_frame(&mut buf, 0)
                .unwrap_or_else(|e| panic!("{}: {e}", method.name()))
                .unwrap();
            assert!(buf.is_empty(), "{} left bytes", method.name());
            assert_eq!(frame, Frame::Method { channel, method });
        }
    }
}

#[test]
fn every_method_round_trips_fed_one_byte_at_a_time() {
    let methods = sample_methods(&mut Rng::new(7));
    let mut all = BytesMut::new();
    for m in &methods {
        encode_method(&mut all, 3, m);
    }
    let mut buf = BytesMut::new();
    let mut decoded = Vec::new();
    for &b in all.iter() {
        buf.extend_from_slice(&[b]);
        while let Some(frame) = decode_frame(&mut buf, FRAME_MIN_SIZE * 32).unwrap() {
            decoded.push(frame);
        }
    }
    assert!(buf.is_empty());
    let expected: Vec<_> = methods
        .into_iter()
        .map(|method| Frame::Method { channel: 3, method })
        .collect();
    assert_eq!(decoded, expected);
}

#[test]
fn truncating_any_method_frame_is_an_error_not_a_panic() {
    for method in sample_methods(&mut Rng::new(11)) {
        let mut buf = BytesMut::new();
        encode_method(&mut buf, 1, &method);
        let args_len = buf.len() - 8 - 4;
        // Cut the arguments short by one byte and fix up the frame size.
        if args_len == 0 {
            continue;
        }
        let mut cut = BytesMut::from(&buf[..buf.len() - 2]);
        let size = (cut.len() - 7) as u32;
        cut[3..7].copy_from_slice(&size.to_be_bytes());
        cut.extend_from_slice(&[FRAME_END]);
        let err = decode_frame(&mut cut, 0).unwrap_err();
        assert_eq!(err.code, reply_code::FRAME_ERROR, "{}", method.name());
        assert_eq!(
            (err.class_id, err.method_id),
            (method.class_id(), method.method_id())
        );
    }
}
