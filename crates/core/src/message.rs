//! The protocol-neutral message.
//!
//! Properties are kept as the AMQP-encoded bytes the publisher sent (RabbitMQ does the
//! same: clients compare header tables byte for byte), and the body is one shared
//! buffer: fan-out to many queues clones the `Arc`, never the bytes.

use crate::names::Name;
use amqp_codec::ShortStr;
use bytes::Bytes;
use std::sync::Arc;

#[derive(Debug)]
pub struct Message {
    /// The exchange it was published to (shared with the exchange's own name).
    pub exchange: Name,
    pub routing_key: ShortStr,
    /// AMQP basic properties, encoded (property flags and list) as received.
    pub properties: Bytes,
    pub body: Bytes,
    /// `delivery_mode == 2`.
    pub persistent: bool,
}

pub type MessageRef = Arc<Message>;
