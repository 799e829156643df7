//! Feeds arbitrary bytes to the STOMP frame decoder as a connection's read loop
//! would, under each version's escaping and small limits. Nothing may panic, and
//! every decoded frame must re-encode to bytes that decode to the same frame.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use warren_stomp::frame::{decode, encode, Decoded, Limits, Version};
use warren_stomp::next_websocket_frame;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the version and the limits.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let version = [Version::V1_0, Version::V1_1, Version::V1_2][pick as usize % 3];
    let limits = if pick & 0x80 != 0 {
        Limits {
            max_header_bytes: 64,
            max_headers: 4,
            max_body: 32,
        }
    } else {
        Limits::default()
    };
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(decoded)) = decode(&mut buf, version, &limits) {
        let Decoded::Frame(frame) = decoded else {
            continue;
        };
        // A bare CR inside a header cannot be written unescaped before 1.2.
        if frame
            .headers
            .iter()
            .any(|(n, v)| n.contains('\r') || v.contains('\r'))
        {
            continue;
        }
        let mut once = BytesMut::new();
        encode(&mut once, &frame, version);
        // Over WebSocket each frame the server writes is cut out whole, heart-beat
        // included, from a stream that holds more behind it. The splitter reads
        // the content-length the server's encoder writes (the body's length in
        // digits; MESSAGE frames never carry one from elsewhere), not whatever a
        // client may put there.
        let own_length = frame
            .header("content-length")
            .is_none_or(|v| v == frame.body.len().to_string());
        let mut stream = BytesMut::from(&b"\n"[..]);
        stream.extend_from_slice(&once);
        stream.extend_from_slice(b"MESSAGE\n");
        assert_eq!(next_websocket_frame(&mut stream).as_deref(), Some(&b"\n"[..]));
        if own_length {
            assert_eq!(next_websocket_frame(&mut stream).as_deref(), Some(&once[..]));
            assert_eq!(&stream[..], b"MESSAGE\n");
        }
        let big = Limits::default();
        match decode(&mut once, version, &big) {
            Ok(Some(Decoded::Frame(mut again))) => {
                // The encoder adds the content-length the original may have lacked.
                if frame.header("content-length").is_none() {
                    again.headers.retain(|(n, _)| n != "content-length");
                }
                assert_eq!(again, frame);
            }
            other => panic!("re-encoded {frame:?} decoded as {other:?}"),
        }
        assert!(once.is_empty());
    }
});
