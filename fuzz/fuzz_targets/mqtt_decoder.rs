//! Feeds arbitrary bytes to `mqtt_codec::decode` in a loop, as a connection's read
//! loop would. Every decoded packet must re-encode to bytes that decode to the same
//! packet, and re-encode identically again.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqtt_codec::{decode, encode, Packet, Version};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the connection's version and the packet size limit.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let version = [Version::V3_1, Version::V3_1_1, Version::V5][pick as usize % 3];
    let max = [268_435_460, 64, 4096][(pick as usize / 3) % 3];
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(packet)) = decode(&mut buf, version, max) {
        // A CONNECT names its own version; everything after it uses it, as a server would.
        let layout = match &packet {
            Packet::Connect(c) => c.version,
            _ => version,
        };
        check(&packet, layout);
    }
});

fn check(packet: &Packet, version: Version) {
    let mut once = BytesMut::new();
    encode(&mut once, packet, version);
    let mut copy = once.clone();
    let again = match decode(&mut copy, version, usize::MAX) {
        Ok(Some(p)) => p,
        other => panic!("re-encoded {} decoded as {other:?}", packet.name()),
    };
    assert!(copy.is_empty());
    assert_eq!(&again, packet);
    let mut twice = BytesMut::new();
    encode(&mut twice, &again, version);
    assert_eq!(once, twice);
}
