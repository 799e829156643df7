//! Deduplication (`x-message-deduplication`, as the RabbitMQ deduplication plugin
//! does it for queues): a message whose key equals that of a message still in the
//! queue (ready, unacknowledged or waiting for a retry) is dropped, and its publisher
//! is still sent `basic.ack`. The key is the `x-deduplication-header` header's
//! value, or the `message_id` property when the header is absent; messages with
//! neither are never duplicates. After a restart a durable queue knows the keys of
//! the messages it recovered, so the guarantee holds across restarts.

use crate::message::Message;
use amqp_codec::{BasicProperties, FieldValue};
use bytes::Bytes;
use std::collections::HashMap;

#[derive(Default)]
pub(crate) struct Dedup {
    by_key: HashMap<Bytes, u64>,
    by_seq: HashMap<u64, Bytes>,
}

impl Dedup {
    /// The message's deduplication key, if it has one.
    pub fn key(message: &Message) -> Option<Bytes> {
        let props = BasicProperties::decode(&message.properties).ok()?;
        match props
            .headers
            .as_ref()
            .and_then(|h| h.get("x-deduplication-header"))
        {
            Some(FieldValue::LongStr(b)) | Some(FieldValue::Bytes(b)) => return Some(b.clone()),
            Some(other) => {
                if let Some(i) = other.as_i64() {
                    return Some(Bytes::from(i.to_string()));
                }
            }
            None => {}
        }
        props.message_id.map(|id| id.as_bytes().clone())
    }

    pub fn is_duplicate(&self, key: &Bytes) -> bool {
        self.by_key.contains_key(key)
    }

    /// Position `seq` holds a message with `key`.
    pub fn remember(&mut self, seq: u64, key: Bytes) {
        self.by_key.insert(key.clone(), seq);
        self.by_seq.insert(seq, key);
    }

    /// Position `seq` has left the queue: its key is free again.
    pub fn forget(&mut self, seq: u64) {
        if let Some(key) = self.by_seq.remove(&seq) {
            if self.by_key.get(&key) == Some(&seq) {
                self.by_key.remove(&key);
            }
        }
    }
}
