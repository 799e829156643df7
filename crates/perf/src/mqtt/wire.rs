//! The load generator's hot path on the wire: PUBLISH packets stamped from a
//! template, and incoming packets scanned in place.
//!
//! CONNECT and SUBSCRIBE go through `mqtt_codec` (see `session.rs`); the packets that
//! come and go per message do not, so a message costs a copy and two patches to send
//! and a few bounds checks to read, with no allocation either way.

use crate::payload::{write_stamp, STAMP_LEN};
use anyhow::{bail, Result};
use bytes::{Bytes, BytesMut};
use mqtt_codec::wire::decode_varint;
use mqtt_codec::{encode, Packet, Properties, Publish, QoS, Version};

/// One PUBLISH laid out once; [`PublishTemplate::append`] copies it and writes the
/// packet id and the stamp in place.
pub struct PublishTemplate {
    bytes: Vec<u8>,
    /// Offset of the packet id (QoS 1 and 2 only).
    id_at: Option<usize>,
    payload_at: usize,
}

impl PublishTemplate {
    /// `size` is the payload length; at least [`STAMP_LEN`] so every message carries
    /// its send time and sequence number.
    pub fn new(topic: &str, qos: QoS, version: Version, size: usize) -> PublishTemplate {
        let size = size.max(STAMP_LEN);
        let publish = Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.to_owned(),
            packet_id: (qos != QoS::AtMostOnce).then_some(1),
            properties: Properties::default(),
            payload: Bytes::from(vec![b'x'; size]),
        };
        let mut out = BytesMut::new();
        encode(&mut out, &Packet::Publish(publish), version);
        let (_, used) = decode_varint(&out[1..])
            .ok()
            .flatten()
            .expect("the encoder writes a valid length");
        let fixed_header = 1 + used;
        let id_at = (qos != QoS::AtMostOnce).then_some(fixed_header + 2 + topic.len());
        PublishTemplate {
            payload_at: out.len() - size,
            bytes: out.to_vec(),
            id_at,
        }
    }

    /// Bytes per packet on the wire.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn append(&self, out: &mut BytesMut, packet_id: u16, sent_ns: u64, tagged_seq: u64) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        if let Some(at) = self.id_at {
            out[start + at..start + at + 2].copy_from_slice(&packet_id.to_be_bytes());
        }
        write_stamp(&mut out[start + self.payload_at..], sent_ns, tagged_seq);
    }
}

/// The four two-byte acknowledgements (in MQTT 5 a remaining length of 2 means
/// "success, no properties").
pub fn put_ack(out: &mut BytesMut, first_byte: u8, packet_id: u16) {
    let id = packet_id.to_be_bytes();
    out.extend_from_slice(&[first_byte, 2, id[0], id[1]]);
}
pub const PUBACK: u8 = 0x40;
pub const PUBREC: u8 = 0x50;
pub const PUBREL: u8 = 0x62;
pub const PUBCOMP: u8 = 0x70;

/// A packet read in place from the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Publish {
        qos: u8,
        packet_id: u16,
        payload: &'a [u8],
    },
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    /// A server DISCONNECT (MQTT 5 carries a reason code; 3.x servers just close).
    Disconnect(u8),
    /// Anything else (PINGRESP, a late SUBACK): the packet type, skipped.
    Other(u8),
}

/// Reads one packet off the front of `buf`: the packet and its length, or `None` if
/// it is not complete yet. A packet too short for its own fields is an error.
pub fn next_packet(buf: &[u8], v5: bool) -> Result<Option<(Incoming<'_>, usize)>> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let Some((len, used)) = decode_varint(&buf[1..])? else {
        return Ok(None);
    };
    let total = 1 + used + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let body = &buf[1 + used..total];
    let id = || -> Result<u16> {
        match body {
            [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
            _ => bail!("acknowledgement without a packet id"),
        }
    };
    let packet = match first >> 4 {
        3 => {
            let qos = (first >> 1) & 3;
            let Some(&[a, b]) = body.first_chunk::<2>() else {
                bail!("PUBLISH without a topic");
            };
            let mut at = 2 + u16::from_be_bytes([a, b]) as usize;
            let mut packet_id = 0;
            if qos > 0 {
                let Some(&[a, b]) = body.get(at..at + 2).and_then(|s| s.first_chunk::<2>()) else {
                    bail!("PUBLISH without a packet id");
                };
                packet_id = u16::from_be_bytes([a, b]);
                at += 2;
            }
            if v5 {
                let Some((props, n)) = body.get(at..).and_then(|s| decode_varint(s).ok()?) else {
                    bail!("PUBLISH without properties");
                };
                at += n + props as usize;
            }
            let Some(payload) = body.get(at..) else {
                bail!("PUBLISH shorter than its header");
            };
            Incoming::Publish {
                qos,
                packet_id,
                payload,
            }
        }
        4 => Incoming::PubAck(id()?),
        5 => Incoming::PubRec(id()?),
        6 => Incoming::PubRel(id()?),
        7 => Incoming::PubComp(id()?),
        14 => Incoming::Disconnect(body.first().copied().unwrap_or(0)),
        t => Incoming::Other(t),
    };
    Ok(Some((packet, total)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{read_stamp, tagged_seq, Stamp};

    /// What the template writes decodes, with Warren's own codec, to the PUBLISH it
    /// stands for; and the in-place scanner reads the same fields back.
    #[test]
    fn template_round_trips_through_the_codec_and_the_scanner() {
        for version in [Version::V3_1_1, Version::V5] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let t = PublishTemplate::new("sensors/7/temp", qos, version, 64);
                let mut out = BytesMut::new();
                t.append(&mut out, 513, 99, tagged_seq(7, 1234));
                t.append(&mut out, 514, 100, tagged_seq(7, 1235));
                assert_eq!(out.len(), 2 * t.len());

                let mut copy = out.clone();
                let Some(Packet::Publish(p)) =
                    mqtt_codec::decode(&mut copy, version, 1 << 20).unwrap()
                else {
                    panic!("not a PUBLISH")
                };
                assert_eq!(p.topic, "sensors/7/temp");
                assert_eq!(p.qos, qos);
                let want_id = (qos != QoS::AtMostOnce).then_some(513);
                assert_eq!(p.packet_id, want_id);
                assert_eq!(p.payload.len(), 64);

                let (first, n) = next_packet(&out, version.is_v5()).unwrap().unwrap();
                let Incoming::Publish {
                    qos: q,
                    packet_id,
                    payload,
                } = first
                else {
                    panic!("not a PUBLISH: {first:?}")
                };
                assert_eq!(q, qos as u8);
                assert_eq!(packet_id, want_id.unwrap_or(0));
                assert_eq!(
                    read_stamp(payload),
                    Some(Stamp {
                        sent_ns: 99,
                        producer: 7,
                        seq: 1234
                    })
                );
                let (second, _) = next_packet(&out[n..], version.is_v5()).unwrap().unwrap();
                assert!(matches!(second, Incoming::Publish { packet_id, .. }
                    if packet_id == want_id.map_or(0, |_| 514)));
            }
        }
    }

    #[test]
    fn payloads_shorter_than_the_stamp_are_widened() {
        let t = PublishTemplate::new("t", QoS::AtMostOnce, Version::V3_1_1, 4);
        let mut out = BytesMut::new();
        t.append(&mut out, 0, 1, 2);
        let (Incoming::Publish { payload, .. }, _) = next_packet(&out, false).unwrap().unwrap()
        else {
            panic!()
        };
        assert_eq!(payload.len(), STAMP_LEN);
    }

    #[test]
    fn acks_and_partial_packets() {
        let mut out = BytesMut::new();
        put_ack(&mut out, PUBACK, 1);
        put_ack(&mut out, PUBREC, 2);
        put_ack(&mut out, PUBREL, 3);
        put_ack(&mut out, PUBCOMP, 65535);
        let mut at = 0;
        let mut seen = Vec::new();
        while let Some((p, n)) = next_packet(&out[at..], true).unwrap() {
            seen.push(format!("{p:?}"));
            at += n;
        }
        assert_eq!(
            seen,
            ["PubAck(1)", "PubRec(2)", "PubRel(3)", "PubComp(65535)"]
        );
        // Half a packet waits for the rest; an empty buffer has nothing.
        assert_eq!(next_packet(&out[..3], false).unwrap(), None);
        assert_eq!(next_packet(&[], false).unwrap(), None);
        // PINGRESP and a server DISCONNECT with a reason code.
        assert_eq!(
            next_packet(&[0xd0, 0], false).unwrap(),
            Some((Incoming::Other(13), 2))
        );
        assert_eq!(
            next_packet(&[0xe0, 1, 0x8e], true).unwrap(),
            Some((Incoming::Disconnect(0x8e), 3))
        );
    }

    #[test]
    fn truncated_fields_are_errors_not_panics() {
        // PUBACK with a one-byte body.
        assert!(next_packet(&[0x40, 1, 0], false).is_err());
        // QoS 1 PUBLISH whose topic length runs past the packet.
        assert!(next_packet(&[0x32, 3, 0, 9, b'a'], false).is_err());
        // QoS 1 PUBLISH with a topic but no packet id.
        assert!(next_packet(&[0x32, 3, 0, 1, b'a'], false).is_err());
    }
}
