//! Records and their framing.
//!
//! A frame is `[sync: 4][length: u32][crc32c: u32][kind: u8][payload]`, little-endian;
//! `length` counts kind and payload. The checksum covers the length, kind and payload,
//! and is seeded with the frame's position (file number and offset), so a valid frame
//! copied to another place (a stale block, a record embedded in a message body) does
//! not validate there. The sync marker lets a reader find the next frame after a
//! corrupt one.

use bytes::Bytes;

/// Marks the start of every frame.
pub const SYNC: [u8; 4] = [0xF3, b'W', b'r', 0x1A];
/// Sync marker, length, checksum.
pub const FRAME_HEADER: usize = 12;
/// Upper bound on `length`: a reader never believes (or allocates for) more.
pub const MAX_FRAME: u32 = 1 << 30;

pub const KIND_MESSAGE: u8 = 1;
pub const KIND_ENQUEUE: u8 = 2;
pub const KIND_ACK: u8 = 3;
pub const KIND_DELIVERED: u8 = 4;
pub const KIND_QUEUE_DELETED: u8 = 5;
pub const KIND_ENQUEUE_DELIVERED: u8 = 6;
/// An opaque metadata command (in `meta.log` and `meta.snapshot` only).
pub const KIND_META: u8 = 16;

/// One entry of the message log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A message's bytes, written once however many queues it goes to. `data` is
    /// opaque to the store (the broker's encoding of exchange, key, properties, body).
    Message { id: u64, data: Bytes },
    /// Message `message` is at position `seq` of `queue`.
    Enqueue { queue: u64, seq: u64, message: u64 },
    /// `Enqueue` and `Delivered` in one record, so a crash cannot keep one without the
    /// other. Reclaim copies delivered positions forward with it.
    EnqueueDelivered { queue: u64, seq: u64, message: u64 },
    /// These positions of `queue` are gone (acknowledged, rejected without requeue,
    /// dropped by a length limit or TTL): they never come back.
    Ack { queue: u64, seqs: Vec<u64> },
    /// These positions were handed to a consumer: after a restart they come back with
    /// `redelivered` set. A requeue is this plus no `Ack`.
    Delivered { queue: u64, seqs: Vec<u64> },
    /// The queue and everything in it are gone.
    QueueDeleted { queue: u64 },
}

impl Record {
    pub fn kind(&self) -> u8 {
        match self {
            Record::Message { .. } => KIND_MESSAGE,
            Record::Enqueue { .. } => KIND_ENQUEUE,
            Record::EnqueueDelivered { .. } => KIND_ENQUEUE_DELIVERED,
            Record::Ack { .. } => KIND_ACK,
            Record::Delivered { .. } => KIND_DELIVERED,
            Record::QueueDeleted { .. } => KIND_QUEUE_DELETED,
        }
    }

    fn payload_len(&self) -> usize {
        match self {
            Record::Message { data, .. } => 8 + data.len(),
            Record::Enqueue { .. } | Record::EnqueueDelivered { .. } => 24,
            Record::Ack { seqs, .. } | Record::Delivered { seqs, .. } => 12 + 8 * seqs.len(),
            Record::QueueDeleted { .. } => 8,
        }
    }

    /// Bytes this record takes in a segment, framing included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER + 1 + self.payload_len()
    }

    /// Appends the framed record, as it must be stored at `offset` of file `file_no`.
    pub fn encode(&self, file_no: u32, offset: u64, out: &mut Vec<u8>) {
        let start = out.len();
        let len = (1 + self.payload_len()) as u32;
        out.extend_from_slice(&SYNC);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(self.kind());
        match self {
            Record::Message { id, data } => {
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(data);
            }
            Record::Enqueue {
                queue,
                seq,
                message,
            }
            | Record::EnqueueDelivered {
                queue,
                seq,
                message,
            } => {
                out.extend_from_slice(&queue.to_le_bytes());
                out.extend_from_slice(&seq.to_le_bytes());
                out.extend_from_slice(&message.to_le_bytes());
            }
            Record::Ack { queue, seqs } | Record::Delivered { queue, seqs } => {
                out.extend_from_slice(&queue.to_le_bytes());
                out.extend_from_slice(&(seqs.len() as u32).to_le_bytes());
                for s in seqs {
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
            Record::QueueDeleted { queue } => out.extend_from_slice(&queue.to_le_bytes()),
        }
        let crc = frame_crc(
            file_no,
            offset,
            &out[start + 4..start + 8],
            &out[start + 12..],
        );
        out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decodes a payload whose frame checksum already matched.
    pub fn decode(kind: u8, payload: &Bytes) -> Result<Record, FrameError> {
        let p = &payload[..];
        let bad = || FrameError::BadPayload { kind };
        match kind {
            KIND_MESSAGE => {
                let id = u64_at(p, 0).ok_or_else(bad)?;
                Ok(Record::Message {
                    id,
                    data: payload.slice(8..),
                })
            }
            KIND_ENQUEUE if p.len() == 24 => Ok(Record::Enqueue {
                queue: u64_at(p, 0).ok_or_else(bad)?,
                seq: u64_at(p, 8).ok_or_else(bad)?,
                message: u64_at(p, 16).ok_or_else(bad)?,
            }),
            KIND_ENQUEUE_DELIVERED if p.len() == 24 => Ok(Record::EnqueueDelivered {
                queue: u64_at(p, 0).ok_or_else(bad)?,
                seq: u64_at(p, 8).ok_or_else(bad)?,
                message: u64_at(p, 16).ok_or_else(bad)?,
            }),
            KIND_ACK | KIND_DELIVERED => {
                let queue = u64_at(p, 0).ok_or_else(bad)?;
                let n = u32_at(p, 8).ok_or_else(bad)? as usize;
                if p.len() != 12 + 8 * n {
                    return Err(bad());
                }
                let seqs = p[12..]
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect();
                Ok(if kind == KIND_ACK {
                    Record::Ack { queue, seqs }
                } else {
                    Record::Delivered { queue, seqs }
                })
            }
            KIND_QUEUE_DELETED if p.len() == 8 => Ok(Record::QueueDeleted {
                queue: u64_at(p, 0).ok_or_else(bad)?,
            }),
            _ => Err(bad()),
        }
    }
}

fn u64_at(p: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(p.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(p: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(p.get(at..at + 4)?.try_into().ok()?))
}

fn frame_crc(file_no: u32, offset: u64, len: &[u8], body: &[u8]) -> u32 {
    let mut seed = [0u8; 12];
    seed[..4].copy_from_slice(&file_no.to_le_bytes());
    seed[4..].copy_from_slice(&offset.to_le_bytes());
    let crc = crc32c::crc32c(&seed);
    let crc = crc32c::crc32c_append(crc, len);
    crc32c::crc32c_append(crc, body)
}

/// Appends a frame of any kind (the metadata files use this with [`KIND_META`]).
pub fn encode_frame(kind: u8, payload: &[u8], file_no: u32, offset: u64, out: &mut Vec<u8>) {
    let start = out.len();
    let len = (1 + payload.len()) as u32;
    out.extend_from_slice(&SYNC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    out.extend_from_slice(payload);
    let crc = frame_crc(
        file_no,
        offset,
        &out[start + 4..start + 8],
        &out[start + 12..],
    );
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// Why the bytes at some offset are not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer ends before the frame does; `need` is the whole frame's length if
    /// known (header read), else the header's.
    Short {
        need: usize,
    },
    BadSync,
    BadLength(u32),
    BadCrc,
    /// The frame is intact but its payload is not a record this version knows.
    BadPayload {
        kind: u8,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Short { need } => write!(f, "truncated record ({need} bytes needed)"),
            FrameError::BadSync => write!(f, "no record marker"),
            FrameError::BadLength(n) => write!(f, "impossible record length {n}"),
            FrameError::BadCrc => write!(f, "checksum mismatch"),
            FrameError::BadPayload { kind } => write!(f, "malformed record of kind {kind}"),
        }
    }
}

/// A checked frame: its kind, payload (a slice of the input) and total length.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub payload: Bytes,
    pub len: usize,
}

/// Parses the frame at the start of `buf`, which was read from `offset` of `file_no`.
pub fn decode_frame(buf: &Bytes, file_no: u32, offset: u64) -> Result<Frame, FrameError> {
    if buf.len() < FRAME_HEADER {
        return Err(FrameError::Short { need: FRAME_HEADER });
    }
    if buf[..4] != SYNC {
        return Err(FrameError::BadSync);
    }
    let len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if len == 0 || len > MAX_FRAME {
        return Err(FrameError::BadLength(len));
    }
    let total = FRAME_HEADER + len as usize;
    if buf.len() < total {
        return Err(FrameError::Short { need: total });
    }
    let crc = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    if frame_crc(file_no, offset, &buf[4..8], &buf[12..total]) != crc {
        return Err(FrameError::BadCrc);
    }
    Ok(Frame {
        kind: buf[12],
        payload: buf.slice(13..total),
        len: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<Record> {
        vec![
            Record::Message {
                id: 7,
                data: Bytes::from_static(b"hello"),
            },
            Record::Message {
                id: u64::MAX,
                data: Bytes::new(),
            },
            Record::Enqueue {
                queue: 1,
                seq: 2,
                message: 7,
            },
            Record::Ack {
                queue: 1,
                seqs: vec![2, 3, u64::MAX],
            },
            Record::Ack {
                queue: 9,
                seqs: vec![],
            },
            Record::Delivered {
                queue: 1,
                seqs: vec![5],
            },
            Record::EnqueueDelivered {
                queue: 1,
                seq: 6,
                message: 7,
            },
            Record::QueueDeleted { queue: 3 },
        ]
    }

    #[test]
    fn every_kind_round_trips_at_its_position() {
        for rec in all_kinds() {
            let mut buf = Vec::new();
            rec.encode(4, 1000, &mut buf);
            assert_eq!(buf.len(), rec.encoded_len());
            let bytes = Bytes::from(buf);
            let frame = decode_frame(&bytes, 4, 1000).unwrap();
            assert_eq!(frame.len, bytes.len());
            assert_eq!(Record::decode(frame.kind, &frame.payload).unwrap(), rec);
        }
    }

    #[test]
    fn a_frame_does_not_validate_elsewhere() {
        let mut buf = Vec::new();
        all_kinds()[0].encode(4, 1000, &mut buf);
        let bytes = Bytes::from(buf);
        assert_eq!(
            decode_frame(&bytes, 4, 1001).unwrap_err(),
            FrameError::BadCrc
        );
        assert_eq!(
            decode_frame(&bytes, 5, 1000).unwrap_err(),
            FrameError::BadCrc
        );
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let mut buf = Vec::new();
        all_kinds()[3].encode(1, 32, &mut buf);
        for i in 0..buf.len() {
            let mut b = buf.clone();
            b[i] ^= 0x01;
            let b = Bytes::from(b);
            assert!(
                decode_frame(&b, 1, 32).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn every_truncation_is_short() {
        let mut buf = Vec::new();
        all_kinds()[0].encode(1, 32, &mut buf);
        for cut in 0..buf.len() {
            let b = Bytes::copy_from_slice(&buf[..cut]);
            assert!(matches!(
                decode_frame(&b, 1, 32),
                Err(FrameError::Short { .. })
            ));
        }
    }

    #[test]
    fn lengths_are_bounded_before_reading() {
        let mut b = SYNC.to_vec();
        b.extend_from_slice(&(MAX_FRAME + 1).to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        assert_eq!(
            decode_frame(&Bytes::from(b), 1, 0).unwrap_err(),
            FrameError::BadLength(MAX_FRAME + 1)
        );
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for kind in 0..=255u8 {
            for len in [0usize, 1, 7, 8, 11, 12, 13, 20, 24, 25] {
                let p = Bytes::from(vec![0xAB; len]);
                let _ = Record::decode(kind, &p);
            }
        }
        // An Ack whose count disagrees with its length.
        let mut p = 1u64.to_le_bytes().to_vec();
        p.extend_from_slice(&1000u32.to_le_bytes());
        assert!(Record::decode(KIND_ACK, &Bytes::from(p)).is_err());
    }
}
