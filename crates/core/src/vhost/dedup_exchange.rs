//! The deduplication exchange: type `x-message-deduplication`, compatible with the
//! RabbitMQ message-deduplication plugin's exchange mode. It routes like a fanout
//! exchange, except that a message whose `x-deduplication-header` value was seen
//! within the window is not routed at all (its publisher still gets `basic.ack`).
//!
//! The window: at most `x-cache-size` keys (when full, the oldest key goes), each
//! for `x-cache-ttl` ms when set (a message's own `x-cache-ttl` header overrides it),
//! otherwise until pushed out. With `x-cache-persistence` = `disk` on a durable
//! exchange, each key is written to the store under the exchange's store id as it is
//! admitted (not waited for), and a restart reads the window back: after a clean
//! restart it is whole; after a crash the last keys admitted before it may be
//! missing.

use crate::error::{CoreError, CoreResult};
use amqp_codec::{FieldTable, FieldValue};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{HashMap, VecDeque};
use warren_store::{Record, RecoveredMessage, Store};

/// The exchange type of the RabbitMQ deduplication plugin.
pub const DEDUP_TYPE: &str = "x-message-deduplication";

/// An exchange's window of seen keys.
pub struct DedupCache {
    size: usize,
    ttl: Option<u64>,
    /// The store and this exchange's id in it, when the window is kept on disk.
    store: Option<(Store, u64)>,
    /// Key -> (expires at, ms since the epoch, or `u64::MAX`; its position).
    entries: HashMap<Bytes, (u64, u64)>,
    /// Keys in admission order, with their positions (stale ones are skipped).
    order: VecDeque<(u64, Bytes)>,
    next_position: u64,
}

/// The settings from the exchange's arguments, checked at declare.
pub struct DedupSettings {
    pub size: usize,
    pub ttl: Option<u64>,
    pub on_disk: bool,
}

fn positive(arguments: &FieldTable, key: &str) -> Result<Option<u64>, ()> {
    match arguments.get(key) {
        None => Ok(None),
        Some(FieldValue::LongStr(_)) => {
            let text = arguments
                .get(key)
                .and_then(FieldValue::as_str)
                .unwrap_or("");
            text.trim()
                .parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .map(Some)
                .ok_or(())
        }
        Some(v) => match v.as_i64() {
            Some(n) if n > 0 => Ok(Some(n as u64)),
            _ => Err(()),
        },
    }
}

/// Reads and checks `x-cache-size` (required), `x-cache-ttl` and
/// `x-cache-persistence`, with the plugin's texts.
pub fn settings(arguments: &FieldTable) -> CoreResult<DedupSettings> {
    let size = match positive(arguments, "x-cache-size") {
        Ok(Some(n)) => n as usize,
        _ => {
            return Err(CoreError::precondition(
                "Missing or invalid argument, 'x-cache-size' must be an integer greater than 0",
            ))
        }
    };
    let ttl = positive(arguments, "x-cache-ttl").map_err(|_| {
        CoreError::precondition("Invalid argument, 'x-cache-ttl' must be an integer greater than 0")
    })?;
    let on_disk = match arguments.get("x-cache-persistence").map(|v| v.as_str()) {
        None | Some(Some("memory")) => false,
        Some(Some("disk")) => true,
        Some(_) => {
            return Err(CoreError::precondition(
                "Invalid argument, 'x-cache-persistence' must be either 'disk' or 'memory'",
            ))
        }
    };
    Ok(DedupSettings { size, ttl, on_disk })
}

/// A message's deduplication key and its own TTL, from its headers.
pub fn key_of(headers: &FieldTable) -> Option<(Bytes, Option<u64>)> {
    let key = match headers.get("x-deduplication-header")? {
        FieldValue::LongStr(b) | FieldValue::Bytes(b) => b.clone(),
        other => Bytes::from(other.as_i64()?.to_string()),
    };
    let ttl = headers
        .get("x-cache-ttl")
        .and_then(FieldValue::as_i64)
        .filter(|&t| t > 0)
        .map(|t| t as u64);
    Some((key, ttl))
}

impl DedupCache {
    /// A window; `store` when it is kept on disk, with what the store kept of it.
    pub fn new(
        settings: &DedupSettings,
        store: Option<(Store, u64)>,
        recovered: Vec<RecoveredMessage>,
    ) -> DedupCache {
        let mut cache = DedupCache {
            size: settings.size.max(1),
            ttl: settings.ttl,
            store,
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_position: 1,
        };
        cache.restore(recovered);
        cache
    }

    fn restore(&mut self, recovered: Vec<RecoveredMessage>) {
        let Some((store, _)) = &self.store else {
            return;
        };
        let now = now_ms();
        let mut gone = Vec::new();
        let mut kept = Vec::new();
        for m in recovered {
            self.next_position = self.next_position.max(m.seq + 1);
            let entry = store.read(m.id, m.location).ok().and_then(|d| decode(&d));
            match entry {
                Some((expires, key)) if expires > now => kept.push((m.seq, expires, key)),
                _ => gone.push(m.seq),
            }
        }
        for (position, expires, key) in kept {
            self.entries.insert(key.clone(), (expires, position));
            self.order.push_back((position, key));
        }
        self.ack(gone);
        self.evict(now, 0);
    }

    /// Whether a message with `key` may be routed: true (and the key is remembered)
    /// unless it was seen within the window.
    pub fn admit(&mut self, key: Bytes, ttl: Option<u64>) -> bool {
        let now = now_ms();
        if let Some(&(expires, _)) = self.entries.get(&key) {
            if expires > now {
                return false;
            }
        }
        self.evict(now, 1);
        let expires = ttl.or(self.ttl).map_or(u64::MAX, |t| now.saturating_add(t));
        let position = self.next_position;
        self.next_position += 1;
        if let Some((store, queue)) = &self.store {
            let id = store.new_message_id();
            drop(store.append(vec![
                Record::Message {
                    id,
                    data: encode(expires, &key),
                },
                Record::Enqueue {
                    queue: *queue,
                    seq: position,
                    message: id,
                },
            ]));
        }
        if let Some((_, old)) = self.entries.insert(key.clone(), (expires, position)) {
            self.ack(vec![old]);
        }
        self.order.push_back((position, key));
        true
    }

    /// Drops expired keys at the front, and the oldest keys until `room` more fit.
    fn evict(&mut self, now: u64, room: usize) {
        let mut gone = Vec::new();
        while let Some((position, key)) = self.order.front() {
            let current = self.entries.get(key).copied();
            let stale = current.is_none_or(|(_, p)| p != *position);
            let expired = current.is_some_and(|(e, _)| e <= now);
            let full = self.entries.len() + room > self.size;
            if !(stale || expired || full) {
                break;
            }
            let (position, key) = self.order.pop_front().expect("front exists");
            if !stale {
                self.entries.remove(&key);
                gone.push(position);
            }
        }
        self.ack(gone);
    }

    fn ack(&self, seqs: Vec<u64>) {
        if let (Some((store, queue)), false) = (&self.store, seqs.is_empty()) {
            drop(store.append(vec![Record::Ack {
                queue: *queue,
                seqs,
            }]));
        }
    }

    /// The exchange is deleted: its window goes from the store too.
    pub fn discard(&self) {
        if let Some((store, queue)) = &self.store {
            drop(store.append(vec![Record::QueueDeleted { queue: *queue }]));
        }
    }

    /// Keys in the window now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn encode(expires: u64, key: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + key.len());
    b.put_u64(expires);
    b.put_slice(key);
    b.freeze()
}

fn decode(data: &[u8]) -> Option<(u64, Bytes)> {
    let expires = u64::from_be_bytes(data.get(..8)?.try_into().ok()?);
    Some((expires, Bytes::copy_from_slice(&data[8..])))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(size: usize, ttl: Option<u64>) -> DedupCache {
        let settings = DedupSettings {
            size,
            ttl,
            on_disk: false,
        };
        DedupCache::new(&settings, None, Vec::new())
    }

    #[test]
    fn a_key_is_admitted_once_and_the_oldest_goes_when_full() {
        let mut c = cache(2, None);
        assert!(c.admit(Bytes::from("a"), None));
        assert!(!c.admit(Bytes::from("a"), None));
        assert!(c.admit(Bytes::from("b"), None));
        assert!(c.admit(Bytes::from("c"), None), "pushes a out");
        assert_eq!(c.len(), 2);
        assert!(c.admit(Bytes::from("a"), None), "a was pushed out");
        assert!(!c.admit(Bytes::from("c"), None));
    }

    #[test]
    fn keys_expire_after_the_ttl() {
        let mut c = cache(10, Some(30));
        assert!(c.admit(Bytes::from("a"), None));
        assert!(c.admit(Bytes::from("b"), Some(10_000)));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert!(c.admit(Bytes::from("a"), None), "expired");
        assert!(!c.admit(Bytes::from("b"), None), "its own TTL is longer");
    }
}
