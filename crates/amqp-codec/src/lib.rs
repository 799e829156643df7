//! AMQP 0-9-1 as RabbitMQ speaks it: frames, methods, field tables, content headers.
//! Bytes in, values out, and back; no I/O and no broker state.
//!
//! Reading: feed the connection's read buffer to [`decode_frame`] until it returns
//! `Ok(None)`; every payload it hands out is a zero-copy slice of that buffer. A
//! [`FrameError`] carries the reply code and text to close the connection with.
//!
//! Writing: every encoder appends to a `BytesMut`, so a writer can batch many frames
//! into one buffer and one write call. The per-message frames (basic.deliver,
//! basic.get-ok, confirms) have allocation-free writers in addition to
//! [`encode_method`].
//!
//! Content properties are kept raw ([`ContentHeader::properties`]) and forwarded as
//! received; [`scan_properties`] reads the few the broker acts on without allocating.

#[macro_use]
mod method_macros;

mod content;
mod domain;
mod error;
mod fast_path;
mod frame;
pub mod methods;
mod properties;
pub mod reply_code;
mod table;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
pub mod types;
mod wire;

pub use content::{encode_content, ContentHeader, BASIC_CLASS_ID};
pub use error::FrameError;
pub use fast_path::{encode_ack, encode_deliver, encode_get_ok, encode_nack};
pub use frame::{
    decode_frame, encode_heartbeat, encode_method, Frame, FRAME_BODY, FRAME_END, FRAME_HEADER,
    FRAME_HEARTBEAT, FRAME_METHOD, FRAME_OVERHEAD,
};
pub use methods::*;
pub use properties::{scan_properties, BasicProperties, PropsView};
pub use table::{decode_table, decode_table_bytes, encode_table, MAX_DEPTH};
pub use types::{FieldTable, FieldValue, ShortStr};

/// What a client sends first: "AMQP", 0, then protocol version 0-9-1.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// The smallest frame_max a peer may negotiate, and the limit before tuning.
pub const FRAME_MIN_SIZE: u32 = 4096;
