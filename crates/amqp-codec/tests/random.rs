//! Randomized robustness: `decode_frame` never panics on random bytes or on mutated
//! valid frames, and whatever it decodes re-encodes to something that decodes the same.
//! A hand-written xorshift keeps it deterministic and dependency-free; `fuzz/` runs the
//! same idea under libFuzzer for longer.

use amqp_codec::*;
use bytes::BytesMut;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Valid traffic to mutate: one frame of each kind, methods with tables and bits.
fn seed_stream() -> BytesMut {
    let mut buf = BytesMut::new();
    let mut args = FieldTable::new();
    args.insert("x-message-ttl", FieldValue::I32(60_000));
    args.insert("x-dead-letter-exchange", FieldValue::long_string("dlx"));
    let mut nested = FieldTable::new();
    nested.insert(
        "a",
        FieldValue::Array(vec![FieldValue::F64(1.0), FieldValue::Void]),
    );
    args.insert("nested", FieldValue::Table(nested));
    let methods: Vec<Method> = vec![
        QueueDeclare {
            queue: "orders".into(),
            durable: true,
            arguments: args.clone(),
            ..Default::default()
        }
        .into(),
        ConnectionStartOk {
            client_properties: args,
            mechanism: "PLAIN".into(),
            response: "\0guest\0guest".into(),
            locale: "en_US".into(),
        }
        .into(),
        BasicPublish {
            exchange: "amq.topic".into(),
            routing_key: "a.b".into(),
            mandatory: true,
            immediate: false,
        }
        .into(),
        BasicNack {
            delivery_tag: 5,
            multiple: true,
            requeue: false,
        }
        .into(),
        ConnectionTune {
            channel_max: 10,
            frame_max: 4096,
            heartbeat: 5,
        }
        .into(),
    ];
    for m in &methods {
        encode_method(&mut buf, 1, m);
    }
    let mut headers = FieldTable::new();
    headers.insert("h", FieldValue::long_string("v"));
    let props = BasicProperties {
        headers: Some(headers),
        delivery_mode: Some(2),
        expiration: Some("1000".into()),
        ..Default::default()
    }
    .encode();
    encode_content(&mut buf, 1, 60, &props, b"some body bytes", 4096);
    encode_heartbeat(&mut buf);
    buf
}

/// Decodes everything it can; checks every method and header on the way.
fn exercise(bytes: &[u8], frame_max: u32) {
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(frame)) = decode_frame(&mut buf, frame_max) {
        match frame {
            Frame::Method { channel, method } => {
                let mut once = BytesMut::new();
                encode_method(&mut once, channel, &method);
                let mut copy = once.clone();
                let again = decode_frame(&mut copy, 0)
                    .expect("a re-encoded method decodes")
                    .expect("a re-encoded method is complete");
                let mut twice = BytesMut::new();
                let Frame::Method { method: m2, .. } = &again else {
                    panic!("re-encoded method decoded as {again:?}")
                };
                encode_method(&mut twice, channel, m2);
                assert_eq!(once, twice, "{}", method.name());
                if !format!("{method:?}").contains("NaN") {
                    assert_eq!(&method, m2);
                }
            }
            Frame::Header { header, .. } => {
                let scanned = scan_properties(&header.properties);
                let decoded = BasicProperties::decode(&header.properties);
                // Decode is stricter (UTF-8 in every string), never laxer.
                assert!(scanned.is_ok() || decoded.is_err());
                if let (Ok(view), Ok(props)) = (scanned, decoded) {
                    assert_eq!(view.delivery_mode, props.delivery_mode);
                    assert_eq!(view.expiration, props.expiration.as_deref());
                    // Compared encoded: a NaN float never equals itself.
                    let encoded = |t: &FieldTable| {
                        let mut buf = BytesMut::new();
                        encode_table(&mut buf, t);
                        buf
                    };
                    let scanned = view.headers.map(|h| encoded(&decode_table(h).unwrap()));
                    assert_eq!(scanned, props.headers.as_ref().map(encoded));
                }
            }
            Frame::Body { .. } | Frame::Heartbeat { .. } => {}
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Give the header a plausible type and size now and then, so payload code runs.
        if len >= 8 && rng.below(2) == 0 {
            bytes[0] = [1, 2, 3, 8][rng.below(4)];
            bytes[3..7].copy_from_slice(&((len - 8) as u32).to_be_bytes());
            bytes[len - 1] = 0xCE;
        }
        exercise(&bytes, [0, 4096, 16][rng.below(3)]);
    }
}

#[test]
fn mutated_valid_frames_never_panic() {
    let seed = seed_stream();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let mut bytes = seed.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] = rng.next() as u8,
                1 => bytes[at] ^= 1 << rng.below(8),
                2 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, rng.next() as u8),
            }
        }
        exercise(&bytes, 0);
    }
}

#[test]
fn the_unmutated_stream_decodes_completely() {
    let seed = seed_stream();
    let mut buf = seed.clone();
    let mut n = 0;
    while decode_frame(&mut buf, 4096).unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 5 + 2 + 1);
    assert!(buf.is_empty());
}
