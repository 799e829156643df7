//! Content: the header frame (class, body size, raw properties) and the body frames.
//!
//! The properties stay as the bytes the publisher sent (flags word(s) + property list)
//! and are written back out unchanged: re-encoding on the hot path would cost time and
//! could change bytes that clients compare (header tables), as RabbitMQ also avoids.

use crate::frame::{begin_frame, end_frame, FRAME_BODY, FRAME_HEADER, FRAME_OVERHEAD};
use bytes::{BufMut, Bytes, BytesMut};

/// The only class with content in AMQP 0-9-1.
pub const BASIC_CLASS_ID: u16 = 60;

/// A decoded content header frame.
#[derive(Clone, Debug, PartialEq)]
pub struct ContentHeader {
    pub class_id: u16,
    pub body_size: u64,
    /// Property flags word(s) + property list, exactly as received (a zero-copy slice).
    pub properties: Bytes,
}

/// Appends the content header frame and the body frames, splitting the body so that no
/// frame exceeds `frame_max` (0 = unlimited). An empty body writes no body frame.
///
/// The header frame is never split (the protocol has no way to): properties larger than
/// `frame_max` - 22 make a header frame over the limit, so callers must keep them
/// smaller (RabbitMQ's clients cannot publish such a header in the first place).
pub fn encode_content(
    buf: &mut BytesMut,
    channel: u16,
    class_id: u16,
    properties: &[u8],
    body: &[u8],
    frame_max: u32,
) {
    let chunk = max_body_chunk(frame_max);
    let body_frames = body.len().div_ceil(chunk);
    buf.reserve(FRAME_OVERHEAD + 12 + properties.len() + body.len() + body_frames * FRAME_OVERHEAD);

    let start = begin_frame(buf, FRAME_HEADER, channel);
    buf.put_u16(class_id);
    buf.put_u16(0); // weight
    buf.put_u64(body.len() as u64);
    buf.put_slice(properties);
    end_frame(buf, start);

    for piece in body.chunks(chunk) {
        let start = begin_frame(buf, FRAME_BODY, channel);
        buf.put_slice(piece);
        end_frame(buf, start);
    }
}

/// The largest body payload one frame may carry under `frame_max`.
fn max_body_chunk(frame_max: u32) -> usize {
    match frame_max as usize {
        0 => usize::MAX,
        // A frame_max below the overhead cannot hold any payload; one octet per frame is
        // the closest we can get without looping forever.
        max => max.saturating_sub(FRAME_OVERHEAD).max(1),
    }
}
