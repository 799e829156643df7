//! Writers for the methods sent once per message, straight from borrowed values.
//!
//! Building a `Method` for every delivery would mean a `ShortStr` (a `Bytes`) per
//! string; these write the same bytes as `encode_method` would, from `&str`s the broker
//! already holds, with no allocation. Strings longer than 255 bytes are cut at a
//! character boundary (names the broker accepted are never that long).

use crate::frame::{begin_frame, end_frame, FRAME_METHOD};
use crate::methods::{BasicAck, BasicDeliver, BasicGetOk, BasicNack};
use crate::wire::Writer;
use bytes::{BufMut, BytesMut};

/// Appends a basic.deliver method frame.
pub fn encode_deliver(
    buf: &mut BytesMut,
    channel: u16,
    consumer_tag: &str,
    delivery_tag: u64,
    redelivered: bool,
    exchange: &str,
    routing_key: &str,
) {
    let start = method_start(
        buf,
        channel,
        BasicDeliver::CLASS_ID,
        BasicDeliver::METHOD_ID,
    );
    let mut w = Writer::new(buf);
    w.shortstr(consumer_tag);
    w.longlong(delivery_tag);
    w.bit(redelivered);
    w.shortstr(exchange);
    w.shortstr(routing_key);
    end_frame(buf, start);
}

/// Appends a basic.get-ok method frame.
pub fn encode_get_ok(
    buf: &mut BytesMut,
    channel: u16,
    delivery_tag: u64,
    redelivered: bool,
    exchange: &str,
    routing_key: &str,
    message_count: u32,
) {
    let start = method_start(buf, channel, BasicGetOk::CLASS_ID, BasicGetOk::METHOD_ID);
    let mut w = Writer::new(buf);
    w.longlong(delivery_tag);
    w.bit(redelivered);
    w.shortstr(exchange);
    w.shortstr(routing_key);
    w.long(message_count);
    end_frame(buf, start);
}

/// Appends a basic.ack method frame (publisher confirms).
pub fn encode_ack(buf: &mut BytesMut, channel: u16, delivery_tag: u64, multiple: bool) {
    let start = method_start(buf, channel, BasicAck::CLASS_ID, BasicAck::METHOD_ID);
    buf.put_u64(delivery_tag);
    buf.put_u8(multiple as u8);
    end_frame(buf, start);
}

/// Appends a basic.nack method frame (publisher confirms).
pub fn encode_nack(
    buf: &mut BytesMut,
    channel: u16,
    delivery_tag: u64,
    multiple: bool,
    requeue: bool,
) {
    let start = method_start(buf, channel, BasicNack::CLASS_ID, BasicNack::METHOD_ID);
    buf.put_u64(delivery_tag);
    buf.put_u8(multiple as u8 | (requeue as u8) << 1);
    end_frame(buf, start);
}

#[inline]
fn method_start(buf: &mut BytesMut, channel: u16, class_id: u16, method_id: u16) -> usize {
    let start = begin_frame(buf, FRAME_METHOD, channel);
    buf.put_u16(class_id);
    buf.put_u16(method_id);
    start
}
