//! An allocation-free frame scanner for the hot loops.
//!
//! `amqp_codec::decode_frame` splits each frame off the buffer and decodes every
//! argument into owned values (a `Bytes` per string), which is what a broker wants.
//! A consumer only needs a delivery's tag and the first 16 bytes of its body, so this
//! walks the read buffer in place with borrowed slices; the frames it does not handle
//! itself (anything but deliveries, get-ok/empty and confirms) are handed to the codec
//! with [`RawFrame::decode_method`].

use amqp_codec::{
    FrameError, Method, FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD,
};
use anyhow::{anyhow, bail, Result};
use bytes::Bytes;

pub const BASIC: u16 = 60;
pub const BASIC_DELIVER: u16 = 60;
pub const BASIC_GET_OK: u16 = 71;
pub const BASIC_GET_EMPTY: u16 = 72;
pub const BASIC_ACK: u16 = 80;
pub const BASIC_NACK: u16 = 120;

/// One frame, borrowed from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawFrame<'a> {
    Method {
        channel: u16,
        class_id: u16,
        method_id: u16,
        args: &'a [u8],
    },
    Header {
        channel: u16,
        body_size: u64,
    },
    Body {
        channel: u16,
        payload: &'a [u8],
    },
    Heartbeat,
}

impl<'a> RawFrame<'a> {
    /// Decodes a method frame's arguments with the codec (off the hot path).
    pub fn decode_method(class_id: u16, method_id: u16, args: &[u8]) -> Result<Method> {
        Method::decode(class_id, method_id, &Bytes::copy_from_slice(args))
            .map_err(|e: FrameError| anyhow!("undecodable method from the broker: {e}"))
    }
}

/// The frame at `buf[*pos..]`, advancing `pos` past it; `None` if it is incomplete.
/// Frames larger than `limit` bytes of payload are an error (a broken stream).
pub fn next_frame<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    limit: usize,
) -> Result<Option<RawFrame<'a>>> {
    let rest = &buf[*pos..];
    let Some(head) = rest.first_chunk::<7>() else {
        return Ok(None);
    };
    let kind = head[0];
    let channel = u16::from_be_bytes([head[1], head[2]]);
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
    if size > limit {
        bail!("broker sent a frame of {size} bytes, over frame_max");
    }
    let total = 7 + size + 1;
    if rest.len() < total {
        return Ok(None);
    }
    if rest[total - 1] != FRAME_END {
        bail!("bad frame end octet from the broker (frame type {kind}, channel {channel})");
    }
    let payload = &rest[7..7 + size];
    *pos += total;
    Ok(Some(match kind {
        FRAME_METHOD => {
            let Some((ids, args)) = payload.split_first_chunk::<4>() else {
                bail!("short method frame from the broker");
            };
            RawFrame::Method {
                channel,
                class_id: u16::from_be_bytes([ids[0], ids[1]]),
                method_id: u16::from_be_bytes([ids[2], ids[3]]),
                args,
            }
        }
        FRAME_HEADER => {
            let Some(fixed) = payload.first_chunk::<12>() else {
                bail!("short content header from the broker");
            };
            RawFrame::Header {
                channel,
                body_size: u64::from_be_bytes(fixed[4..12].try_into()?),
            }
        }
        FRAME_BODY => RawFrame::Body { channel, payload },
        FRAME_HEARTBEAT => RawFrame::Heartbeat,
        other => bail!("unknown frame type {other} from the broker"),
    }))
}

/// basic.deliver arguments: the delivery tag and the redelivered flag.
pub fn deliver_tag(args: &[u8]) -> Result<(u64, bool)> {
    let tag_len = *args.first().ok_or_else(|| anyhow!("short basic.deliver"))? as usize;
    let at = 1 + tag_len;
    let Some(fixed) = args.get(at..at + 9) else {
        bail!("short basic.deliver");
    };
    Ok((
        u64::from_be_bytes(fixed[..8].try_into()?),
        fixed[8] & 1 != 0,
    ))
}

/// basic.get-ok arguments: the delivery tag and the redelivered flag.
pub fn get_ok_tag(args: &[u8]) -> Result<(u64, bool)> {
    let Some(fixed) = args.first_chunk::<9>() else {
        bail!("short basic.get-ok");
    };
    Ok((
        u64::from_be_bytes(fixed[..8].try_into()?),
        fixed[8] & 1 != 0,
    ))
}

/// basic.ack / basic.nack arguments (confirms): the tag and the multiple flag.
pub fn confirm_tag(args: &[u8]) -> Result<(u64, bool)> {
    let Some(fixed) = args.first_chunk::<9>() else {
        bail!("short basic.ack/nack");
    };
    Ok((
        u64::from_be_bytes(fixed[..8].try_into()?),
        fixed[8] & 1 != 0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_codec::{encode_ack, encode_content, encode_deliver, encode_get_ok};
    use bytes::BytesMut;

    #[test]
    fn scans_what_the_codec_writes() {
        let mut buf = BytesMut::new();
        encode_deliver(&mut buf, 3, "ctag", 77, true, "ex", "rk");
        encode_content(&mut buf, 3, 60, &[0x10, 0x00, 1], b"hello world", 0);
        encode_get_ok(&mut buf, 4, 9, false, "", "q", 5);
        encode_ack(&mut buf, 5, 12, true);
        buf.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
        let mut pos = 0;
        let mut next = || next_frame(&buf, &mut pos, 1 << 20).unwrap();
        let Some(RawFrame::Method {
            channel: 3,
            class_id: BASIC,
            method_id: BASIC_DELIVER,
            args,
        }) = next()
        else {
            panic!("expected deliver")
        };
        assert_eq!(deliver_tag(args).unwrap(), (77, true));
        assert_eq!(
            next(),
            Some(RawFrame::Header {
                channel: 3,
                body_size: 11
            })
        );
        assert_eq!(
            next(),
            Some(RawFrame::Body {
                channel: 3,
                payload: b"hello world"
            })
        );
        let Some(RawFrame::Method {
            method_id: BASIC_GET_OK,
            args,
            ..
        }) = next()
        else {
            panic!("expected get-ok")
        };
        assert_eq!(get_ok_tag(args).unwrap(), (9, false));
        let Some(RawFrame::Method {
            method_id: BASIC_ACK,
            args,
            ..
        }) = next()
        else {
            panic!("expected ack")
        };
        assert_eq!(confirm_tag(args).unwrap(), (12, true));
        assert_eq!(next(), Some(RawFrame::Heartbeat));
        assert_eq!(next(), None);
    }

    #[test]
    fn incomplete_and_broken_frames() {
        let mut buf = BytesMut::new();
        encode_ack(&mut buf, 1, 1, false);
        let whole = buf.len();
        let mut pos = 0;
        assert_eq!(
            next_frame(&buf[..whole - 1], &mut pos, 1 << 20).unwrap(),
            None
        );
        assert_eq!(pos, 0);
        let mut bad = buf.to_vec();
        bad[whole - 1] = 0;
        assert!(next_frame(&bad, &mut pos, 1 << 20).is_err());
        assert!(next_frame(&buf, &mut pos, 4).is_err());
    }
}
