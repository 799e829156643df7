//! The 16-byte stamp at the front of every body: send time and sequence number.
//!
//! Bytes 0..8: nanoseconds on the process's monotonic clock ([`now_ns`]) when the batch
//! holding the message was written; bytes 8..16: the sequence number, with the producer
//! id in its top 16 bits so a consumer can tell producers apart and check that each
//! one's messages arrive in order. Big-endian, like everything else on the wire. Bodies
//! shorter than 16 bytes carry no stamp (and so give no latency).

use std::sync::OnceLock;
use std::time::Instant;

pub const STAMP_LEN: usize = 16;
const PRODUCER_SHIFT: u32 = 48;
const SEQ_MASK: u64 = (1 << PRODUCER_SHIFT) - 1;

/// Nanoseconds since the first call in this process. Producers and consumers run in the
/// same process, so they share this clock; it is `CLOCK_MONOTONIC` underneath (a vDSO
/// call, ~20 ns), read once per batch rather than once per message.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A producer's sequence number as carried in the stamp.
pub fn tagged_seq(producer: u16, seq: u64) -> u64 {
    (producer as u64) << PRODUCER_SHIFT | (seq & SEQ_MASK)
}

/// Writes the stamp into the first 16 bytes of `body` (which must be that long).
#[inline]
pub fn write_stamp(body: &mut [u8], sent_ns: u64, tagged_seq: u64) {
    body[..8].copy_from_slice(&sent_ns.to_be_bytes());
    body[8..16].copy_from_slice(&tagged_seq.to_be_bytes());
}

/// A decoded stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub sent_ns: u64,
    pub producer: u16,
    pub seq: u64,
}

/// Reads the stamp from the start of a body (`None` if it is shorter than 16 bytes).
#[inline]
pub fn read_stamp(body: &[u8]) -> Option<Stamp> {
    let head = body.first_chunk::<STAMP_LEN>()?;
    let sent_ns = u64::from_be_bytes(head[..8].try_into().ok()?);
    let tagged = u64::from_be_bytes(head[8..].try_into().ok()?);
    Some(Stamp {
        sent_ns,
        producer: (tagged >> PRODUCER_SHIFT) as u16,
        seq: tagged & SEQ_MASK,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip() {
        let mut body = vec![0xAAu8; 64];
        write_stamp(&mut body, 123_456_789_012, tagged_seq(7, 42));
        assert_eq!(
            read_stamp(&body),
            Some(Stamp {
                sent_ns: 123_456_789_012,
                producer: 7,
                seq: 42
            })
        );
        // The rest of the body is left alone.
        assert!(body[16..].iter().all(|&b| b == 0xAA));
        // The widest producer id and sequence number survive.
        write_stamp(&mut body, u64::MAX, tagged_seq(u16::MAX, SEQ_MASK));
        let s = read_stamp(&body).unwrap();
        assert_eq!(
            (s.sent_ns, s.producer, s.seq),
            (u64::MAX, u16::MAX, SEQ_MASK)
        );
    }

    #[test]
    fn short_bodies_have_no_stamp() {
        assert_eq!(read_stamp(&[0u8; 15]), None);
        assert!(read_stamp(&[0u8; 16]).is_some());
    }

    #[test]
    fn clock_is_monotonic() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
    }
}
