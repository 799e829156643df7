//! Frames: the 7-byte header (type, channel, size), the payload and the end octet.
//!
//! Decoding looks at the header first, so a half-read frame costs a few comparisons and
//! nothing is consumed until the whole frame is there. Payloads are zero-copy: the frame
//! is split off the read buffer and frozen, and everything decoded from it (bodies,
//! properties, strings) shares that memory.
//!
//! Error codes follow RabbitMQ's reader (`rabbit_reader`, `rabbit_command_assembler`):
//! an oversized frame, a bad end octet, an unknown frame type or a payload too short for
//! its type is 501 FRAME_ERROR; a content header with a non-zero weight is 505
//! UNEXPECTED_FRAME. A content header's class is left for the adapter to check against
//! the method it belongs to (505 too, naming the expected class).

use crate::content::ContentHeader;
use crate::error::FrameError;
use crate::methods::Method;
use crate::properties;
use crate::reply_code;
use crate::wire::{len_u32, Writer};
use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const FRAME_METHOD: u8 = 1;
pub const FRAME_HEADER: u8 = 2;
pub const FRAME_BODY: u8 = 3;
pub const FRAME_HEARTBEAT: u8 = 8;
pub const FRAME_END: u8 = 0xCE;
/// Header (7) plus end octet (1): what a frame costs beyond its payload.
pub const FRAME_OVERHEAD: usize = 8;
const HEADER_LEN: usize = 7;

/// One decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Method {
        channel: u16,
        method: Method,
    },
    Header {
        channel: u16,
        header: ContentHeader,
    },
    /// A zero-copy slice of the read buffer.
    Body {
        channel: u16,
        payload: Bytes,
    },
    /// The channel should be 0; the adapter checks (RabbitMQ answers a heartbeat on
    /// another channel with 505 UNEXPECTED_FRAME).
    Heartbeat {
        channel: u16,
    },
}

impl Frame {
    pub fn channel(&self) -> u16 {
        match *self {
            Frame::Method { channel, .. }
            | Frame::Header { channel, .. }
            | Frame::Body { channel, .. }
            | Frame::Heartbeat { channel } => channel,
        }
    }
}

/// Decodes one complete frame from the front of `buf`, advancing it.
///
/// `Ok(None)`: no complete frame yet, nothing consumed. `frame_max` is the negotiated
/// maximum frame size including the 8 bytes of header and end octet (0 = unlimited;
/// before connection.tune-ok pass [`crate::FRAME_MIN_SIZE`], as RabbitMQ does). Like
/// RabbitMQ, a frame may exceed it by up to 8 bytes, because many clients get the limit
/// off by one or by the overhead; a larger declared size is rejected from the header
/// alone, before any payload is buffered.
pub fn decode_frame(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, FrameError> {
    let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let kind = header[0];
    let channel = u16::from_be_bytes([header[1], header[2]]);
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]);

    if frame_max != 0 && size > frame_max {
        return Err(FrameError::frame(format_args!(
            "frame size {} exceeds frame_max {frame_max}",
            size as u64 + FRAME_OVERHEAD as u64
        )));
    }
    if !matches!(
        kind,
        FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
    ) {
        return Err(FrameError::frame(format_args!(
            "unknown frame type {kind} on channel {channel}"
        )));
    }
    let Some(total) = (size as usize).checked_add(FRAME_OVERHEAD) else {
        return Err(FrameError::frame(format_args!(
            "frame size {size} too large"
        )));
    };
    if buf.len() < total {
        return Ok(None);
    }
    let end = buf[total - 1];
    if end != FRAME_END {
        return Err(FrameError::frame(format_args!(
            "invalid frame end octet 0x{end:02x} (expected 0xce) in frame of type {kind} on channel {channel}"
        )));
    }

    // One split per frame, then narrowed to the payload (cheap on a `Bytes`):
    // everything decoded from it shares that one reference.
    let mut payload = buf.split_to(total).freeze();
    payload.advance(HEADER_LEN);
    payload.truncate(size as usize);
    Ok(Some(match kind {
        FRAME_METHOD => Frame::Method {
            channel,
            method: decode_method(&payload)?,
        },
        FRAME_HEADER => Frame::Header {
            channel,
            header: decode_header(payload)?,
        },
        FRAME_BODY => Frame::Body { channel, payload },
        _ => {
            if !payload.is_empty() {
                return Err(FrameError::frame(format_args!(
                    "heartbeat frame with a {}-octet payload",
                    payload.len()
                )));
            }
            Frame::Heartbeat { channel }
        }
    }))
}

fn decode_method(payload: &Bytes) -> Result<Method, FrameError> {
    let Some((ids, args)) = payload.split_first_chunk::<4>() else {
        return Err(FrameError::frame(format_args!(
            "method frame of {} octets is too short for class and method ids",
            payload.len()
        )));
    };
    let class_id = u16::from_be_bytes([ids[0], ids[1]]);
    let method_id = u16::from_be_bytes([ids[2], ids[3]]);
    Method::decode_in(class_id, method_id, payload, args)
}

fn decode_header(mut payload: Bytes) -> Result<ContentHeader, FrameError> {
    let Some(fixed) = payload.first_chunk::<12>() else {
        return Err(FrameError::frame(format_args!(
            "content header frame of {} octets is too short",
            payload.len()
        )));
    };
    let class_id = u16::from_be_bytes([fixed[0], fixed[1]]);
    let weight = u16::from_be_bytes([fixed[2], fixed[3]]);
    let mut size = [0u8; 8];
    size.copy_from_slice(&fixed[4..12]);
    let body_size = u64::from_be_bytes(size);
    // A header of another class is the channel's to refuse: it knows which method the
    // content was meant for and names it in the error, as RabbitMQ does. Its property
    // bytes are only checked for class 60, whose layout we know.
    if weight != 0 {
        return Err(FrameError::new(
            reply_code::UNEXPECTED_FRAME,
            format_args!("content header with weight {weight}; weight must be 0"),
        ));
    }
    payload.advance(12);
    if class_id == crate::content::BASIC_CLASS_ID {
        properties::check_flags(&payload)?;
    }
    Ok(ContentHeader {
        class_id,
        body_size,
        properties: payload,
    })
}

/// Starts a frame: writes the header with a size placeholder; returns where it began.
#[inline]
pub(crate) fn begin_frame(buf: &mut BytesMut, kind: u8, channel: u16) -> usize {
    let start = buf.len();
    buf.put_u8(kind);
    buf.put_u16(channel);
    buf.put_u32(0);
    start
}

/// Ends a frame begun at `start`: fills in the size and appends the end octet.
#[inline]
pub(crate) fn end_frame(buf: &mut BytesMut, start: usize) {
    let size = len_u32(buf.len() - start - HEADER_LEN);
    buf[start + 3..start + HEADER_LEN].copy_from_slice(&size.to_be_bytes());
    buf.put_u8(FRAME_END);
}

/// Appends a method frame.
pub fn encode_method(buf: &mut BytesMut, channel: u16, method: &Method) {
    let start = begin_frame(buf, FRAME_METHOD, channel);
    buf.put_u16(method.class_id());
    buf.put_u16(method.method_id());
    method.encode_args(&mut Writer::new(buf));
    end_frame(buf, start);
}

/// Appends a heartbeat frame (always on channel 0).
pub fn encode_heartbeat(buf: &mut BytesMut) {
    buf.put_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}
