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
    /// The `expiration` property (per-message TTL), in milliseconds.
    pub expiration: Option<u64>,
    /// The `priority` property (0 when absent).
    pub priority: u8,
    /// The `BCC` keys it was published with: removed from its headers before any
    /// delivery, but dead-lettering routes to them again, as RabbitMQ does.
    pub bcc: Option<Arc<[String]>>,
}

/// The longest TTL RabbitMQ accepts: ten years, in milliseconds.
pub const MAX_TTL_MS: u64 = 315_360_000_000;

/// Parses an `expiration` property as RabbitMQ does (Erlang's `string:to_integer`,
/// then range checks): an optional sign and decimal digits, nothing after them; the
/// error is RabbitMQ's reason text.
pub fn parse_expiration(text: &str) -> Result<u64, String> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return Err("no_integer".to_string());
    }
    if end < digits.len() {
        return Err(format!("{{leftover_string,\"{}\"}}", &digits[end..]));
    }
    let number = digits.trim_start_matches('0');
    let value: u128 = if number.is_empty() {
        0
    } else if number.len() > 30 {
        u128::MAX
    } else {
        number.parse().unwrap_or(u128::MAX)
    };
    if negative && value > 0 {
        return Err(format!("{{value_negative,-{number}}}"));
    }
    if value > MAX_TTL_MS as u128 {
        return Err(format!("{{value_too_large,{number}}}"));
    }
    Ok(value as u64)
}

pub type MessageRef = Arc<Message>;

/// The first byte of a stored message: the layout version. Version 1 had no
/// `stored at`, version 2 no `BCC` keys; both are still read.
const STORED_VERSION: u8 = 3;
const STORED_PERSISTENT: u8 = 1;

impl Message {
    /// A copy with its headers changed by `edit` (everything else as it was, the
    /// body shared): for the headers the broker itself adds, such as
    /// `x-delivery-count` and `x-retry-attempt`.
    pub fn with_headers(&self, edit: impl FnOnce(&mut amqp_codec::FieldTable)) -> Message {
        let mut props = amqp_codec::BasicProperties::decode(&self.properties).unwrap_or_default();
        let mut headers = props.headers.take().unwrap_or_default();
        edit(&mut headers);
        props.headers = Some(headers);
        Message {
            exchange: self.exchange.clone(),
            routing_key: self.routing_key.clone(),
            properties: props.encode(),
            body: self.body.clone(),
            persistent: self.persistent,
            expiration: self.expiration,
            priority: self.priority,
            bcc: self.bcc.clone(),
        }
    }

    /// An integer header's value (the counters above).
    pub fn header_count(&self, name: &str) -> u64 {
        amqp_codec::BasicProperties::decode(&self.properties)
            .ok()
            .and_then(|p| p.headers)
            .and_then(|h| h.get(name).and_then(|v| v.as_i64()))
            .map_or(0, |i| i.max(0) as u64)
    }

    /// The bytes the store keeps for this message (its `Record::Message` data):
    ///
    /// | field        | bytes                                  |
    /// |--------------|----------------------------------------|
    /// | version      | 1 (`2`)                                |
    /// | flags        | 1 (bit 0: persistent)                  |
    /// | stored at    | 8, ms since the Unix epoch (TTLs count from it after a restart) |
    /// | exchange     | 1 length + UTF-8                       |
    /// | routing key  | 1 length + UTF-8                       |
    /// | BCC keys     | 1 count, then each: 1 length + UTF-8   |
    /// | properties   | 4 length (big-endian) + encoded props  |
    /// | body         | the rest                               |
    pub fn encode_stored(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.stored_len());
        out.push(STORED_VERSION);
        out.push(if self.persistent {
            STORED_PERSISTENT
        } else {
            0
        });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        out.extend_from_slice(&now.to_be_bytes());
        out.push(self.exchange.len() as u8);
        out.extend_from_slice(self.exchange.as_bytes());
        out.push(self.routing_key.len() as u8);
        out.extend_from_slice(self.routing_key.as_bytes());
        let bcc = self.bcc.as_deref().unwrap_or(&[]);
        let bcc = &bcc[..bcc.len().min(255)];
        out.push(bcc.len() as u8);
        for key in bcc {
            let key = &key.as_bytes()[..key.len().min(255)];
            out.push(key.len() as u8);
            out.extend_from_slice(key);
        }
        out.extend_from_slice(&(self.properties.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.properties);
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }

    /// How many bytes `encode_stored` produces.
    pub fn stored_len(&self) -> usize {
        let bcc: usize = self
            .bcc
            .iter()
            .flat_map(|b| b.iter())
            .map(|k| 1 + k.len())
            .sum();
        17 + bcc
            + self.exchange.len()
            + self.routing_key.len()
            + self.properties.len()
            + self.body.len()
    }

    /// Decodes what `encode_stored` wrote. The slices share `data`'s buffer.
    pub fn decode_stored(data: Bytes) -> Result<Message, String> {
        Message::decode_stored_at(data).map(|(m, _)| m)
    }

    /// `decode_stored`, with when it was stored (unknown in version 1 data).
    pub fn decode_stored_at(data: Bytes) -> Result<(Message, Option<u64>), String> {
        let mut at = 0usize;
        let take = |at: &mut usize, n: usize| -> Result<Bytes, String> {
            if data.len() < *at + n {
                return Err(format!("stored message truncated at byte {at}"));
            }
            let b = data.slice(*at..*at + n);
            *at += n;
            Ok(b)
        };
        let head = take(&mut at, 2)?;
        if !(1..=STORED_VERSION).contains(&head[0]) {
            return Err(format!("stored message version {} is unknown", head[0]));
        }
        let persistent = head[1] & STORED_PERSISTENT != 0;
        let stored_at = if head[0] >= 2 {
            let t = take(&mut at, 8)?;
            Some(u64::from_be_bytes(t[..].try_into().expect("8 bytes")))
        } else {
            None
        };
        let len = take(&mut at, 1)?[0] as usize;
        let exchange = take(&mut at, len)?;
        let exchange = std::str::from_utf8(&exchange)
            .map_err(|_| "stored exchange name is not UTF-8".to_string())?;
        let len = take(&mut at, 1)?[0] as usize;
        let routing_key = ShortStr::from_bytes(take(&mut at, len)?)
            .ok_or_else(|| "stored routing key is not UTF-8".to_string())?;
        let mut bcc = Vec::new();
        if head[0] >= 3 {
            let count = take(&mut at, 1)?[0];
            for _ in 0..count {
                let len = take(&mut at, 1)?[0] as usize;
                let key = take(&mut at, len)?;
                let key = std::str::from_utf8(&key)
                    .map_err(|_| "stored BCC key is not UTF-8".to_string())?;
                bcc.push(key.to_string());
            }
        }
        let len = take(&mut at, 4)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let properties = take(&mut at, len)?;
        let body = data.slice(at..);
        let view = amqp_codec::scan_properties(&properties).ok();
        let expiration = view
            .as_ref()
            .and_then(|view| view.expiration.and_then(|e| parse_expiration(e).ok()));
        let priority = view.and_then(|view| view.priority).unwrap_or(0);
        let message = Message {
            exchange: Name::from(exchange),
            routing_key,
            properties,
            body,
            persistent,
            expiration,
            priority,
            bcc: (!bcc.is_empty()).then(|| bcc.into()),
        };
        Ok((message, stored_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_and_refuses_damage() {
        let m = Message {
            exchange: Name::from("amq.topic"),
            routing_key: ShortStr::from("a.b.\u{e9}"),
            properties: Bytes::from_static(&[0x10, 0x00, 2]),
            body: Bytes::from_static(b"hello"),
            persistent: true,
            expiration: None,
            priority: 0,
            bcc: Some(vec!["x".to_string(), "y.z".to_string()].into()),
        };
        let data = m.encode_stored();
        assert_eq!(data.len(), m.stored_len());
        let back = Message::decode_stored(data.clone()).unwrap();
        assert_eq!(&*back.exchange, "amq.topic");
        assert_eq!(back.routing_key.as_str(), "a.b.\u{e9}");
        assert_eq!(back.properties, m.properties);
        assert_eq!(back.body, m.body);
        assert!(back.persistent);
        assert_eq!(back.bcc.as_deref(), m.bcc.as_deref());
        let body_start = data.len() - m.body.len();
        for cut in 0..body_start {
            assert!(
                Message::decode_stored(data.slice(..cut)).is_err(),
                "cut {cut}"
            );
        }
        let mut newer = data.to_vec();
        newer[0] = 9;
        assert!(Message::decode_stored(Bytes::from(newer)).is_err());
    }
}
