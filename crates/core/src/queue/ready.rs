//! A queue's ready messages: a short head of full entries, and behind it a compact
//! tail for the backlog.
//!
//! Consumers only ever look at the head, so only the head needs each message as a
//! shared `Message` with its own allocations (≈400 B for a small message, most of it
//! the read buffer the body still points into). Once the head holds `HEAD_CAP`
//! entries, newer messages are written into the tail instead: one record each,
//! appended to 64 KiB segments — flags, position, and the message itself (exchange and
//! routing key only when they differ from the previous record's, properties, body).
//! A 128-byte message then costs about 140 bytes in memory. As the head drains, the
//! tail's oldest records are decoded back into entries; their properties and bodies
//! are slices of the (frozen) segment, not copies. Messages past the queue's
//! memory budget are in the store already (or written there); their records keep
//! only where they are.
//!
//! Order: the tail holds only messages newer than everything in the head when they
//! arrive, and the head is refilled from the tail's front, so the head stays ordered
//! by (rank, position) and the tail is (nearly) so; requeued messages, older than
//! the tail, go into the head. Priority queues keep everything in the head.

use super::backing::Kept;
use crate::message::{Message, MessageRef};
use crate::names::Name;
use amqp_codec::ShortStr;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::Arc;

/// What a message in memory costs beyond its body (the shared message, its
/// properties, the ready entry, the read buffer it pins), for the budget.
pub(super) const RAM_OVERHEAD: u64 = 256;

/// Entries the head holds before newer messages go to the tail.
const HEAD_CAP: usize = 2048;
/// The head is refilled from the tail when it has fewer entries than this.
const REFILL_BELOW: usize = 1024;
/// Bodies larger than this stay shared in the tail (a copy would cost more than the
/// few hundred bytes it saves).
const INLINE_MAX: usize = 4096;
/// Size of a tail segment (one allocation per this many bytes of records).
const SEGMENT: usize = 64 * 1024;
/// The most a record takes besides its properties and body: flags, five varints,
/// exchange and routing key (255 bytes each, with their lengths), priority.
const RECORD_HEADER_MAX: usize = 1 + 5 * 10 + 2 * 256 + 1;

pub(super) struct Ready {
    pub seq: u64,
    /// `None` once the content is only in the store.
    pub message: Option<MessageRef>,
    /// The store's id for the message (0 when not in the store).
    pub store_id: u64,
    /// Body bytes (`x-max-length-bytes`).
    pub size: u32,
    pub redelivered: bool,
    pub kept: Kept,
    /// Being paged out: written (or being written) to the store, still in memory
    /// until the store holds it.
    pub paging: bool,
    /// When it expires (TTL), in ms since the Unix epoch; 0: never.
    pub expires_at: u64,
    /// 255 minus its priority (`x-max-priority` queues; 255 elsewhere): `ready` is
    /// ordered by (rank, seq), so higher priorities come first, each in order.
    pub rank: u8,
}

impl Ready {
    pub fn order(&self) -> (u8, u64) {
        (self.rank, self.seq)
    }

    pub fn ram_cost(&self) -> u64 {
        match self.message {
            Some(_) => self.size as u64 + RAM_OVERHEAD,
            None => 0,
        }
    }
}

// A queued message whose content is on disk costs this entry and the store's index:
// keep it small (docs/storage.md states the figure).
const _: () = assert!(std::mem::size_of::<Ready>() == 40);

/// How a message goes into the tail.
pub(super) enum TailContent {
    /// With its content, in memory.
    Keep,
    /// Its content is (being) written to the store under `store_id`: in memory only
    /// until the store holds it.
    Paging,
}

pub(super) struct ReadyList {
    head: VecDeque<Ready>,
    /// What the head's entries cost (`Ready::ram_cost`).
    head_ram: u64,
    /// Made when the head first overflows and dropped once empty again: a queue
    /// without a backlog does not carry a tail's ~250 bytes.
    tail: Option<Box<Tail>>,
    /// Whether the tail may be used (not for priority queues).
    compact: bool,
}

impl ReadyList {
    pub fn new(compact: bool) -> ReadyList {
        ReadyList {
            head: VecDeque::new(),
            head_ram: 0,
            tail: None,
            compact,
        }
    }

    pub fn len(&self) -> usize {
        self.head.len() + self.tail_len()
    }

    fn tail_len(&self) -> usize {
        self.tail.as_ref().map_or(0, |t| t.len)
    }

    /// Lets an emptied tail go.
    fn drop_tail_if_empty(&mut self) {
        if self.tail.as_ref().is_some_and(|t| t.len == 0) {
            self.tail = None;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the ready messages in memory cost, head and tail.
    pub fn ram_bytes(&self) -> u64 {
        self.head_ram
            + self
                .tail
                .as_ref()
                .map_or(0, |t| t.resident + t.pending_bytes)
    }

    /// The part of `ram_bytes` in the tail waiting for the store to hold it.
    pub fn tail_paging_bytes(&self) -> u64 {
        self.tail.as_ref().map_or(0, |t| t.pending_bytes)
    }

    pub fn front(&self) -> Option<&Ready> {
        self.head.front()
    }

    /// Gives the head entry its content (read back from the store).
    pub fn set_front_message(&mut self, message: MessageRef) {
        if let Some(r) = self.head.front_mut() {
            if r.message.is_none() {
                r.message = Some(message);
                self.head_ram += r.ram_cost();
            }
        }
    }

    pub fn set_front_expiry(&mut self, expires_at: u64) {
        if let Some(r) = self.head.front_mut() {
            r.expires_at = expires_at;
        }
    }

    pub fn pop_front(&mut self) -> Option<Ready> {
        if self.head.is_empty() && self.tail_len() > 0 {
            // Not expected (refills keep the head from running dry), but cheap.
            self.refill();
        }
        let r = self.head.pop_front()?;
        self.head_ram -= r.ram_cost();
        if self.head.len() < REFILL_BELOW && self.tail_len() > 0 {
            self.refill();
        }
        Some(r)
    }

    /// Whether `entry` belongs in the tail: the head is full (or the tail has begun)
    /// and it is newer than everything in the head.
    pub fn takes_in_tail(&self, entry: &Ready) -> bool {
        // Records carry neither a redelivered flag nor a rank: such entries (a
        // requeue is older than the head anyway) stay in the head.
        self.compact
            && entry.message.is_some()
            && !entry.redelivered
            && entry.rank == 255
            && (self.tail_len() > 0 || self.head.len() >= HEAD_CAP)
            && self
                .head
                .back()
                .is_some_and(|last| last.order() < entry.order())
    }

    /// Appends `entry` to the tail (see `takes_in_tail`).
    pub fn push_tail(&mut self, entry: Ready, content: TailContent) {
        self.tail
            .get_or_insert_with(Box::default)
            .push(entry, content);
    }

    /// Puts an entry into the head where its order says; returns its index.
    pub fn insert_head(&mut self, entry: Ready) -> usize {
        self.head_ram += entry.ram_cost();
        match (self.head.front(), self.head.back()) {
            (None, _) => {
                self.head.push_back(entry);
                0
            }
            (_, Some(last)) if last.order() < entry.order() => {
                self.head.push_back(entry);
                self.head.len() - 1
            }
            (Some(first), _) if entry.order() < first.order() => {
                self.head.push_front(entry);
                0
            }
            _ => {
                let pos = self.head.partition_point(|r| r.order() < entry.order());
                self.head.insert(pos, entry);
                pos
            }
        }
    }

    pub fn head_entry(&mut self, index: usize) -> &mut Ready {
        &mut self.head[index]
    }

    /// Drops from memory the content of the head entry of this order, if it is
    /// there and being paged out; returns what that freed.
    pub fn release_paged(&mut self, order: (u8, u64)) -> Option<u64> {
        let i = self.head.binary_search_by_key(&order, Ready::order).ok()?;
        let r = &mut self.head[i];
        if !r.paging {
            return None;
        }
        let cost = r.ram_cost();
        r.message = None;
        r.paging = false;
        self.head_ram -= cost;
        Some(cost)
    }

    /// Lets the tail drop the content of paged-out messages the store now holds.
    pub fn release_tail_paged(&mut self, holds: impl Fn(u64) -> bool) {
        if let Some(tail) = self.tail.as_mut() {
            tail.release_pending(holds);
        }
    }

    /// Takes every position out (a purge): (where it is kept, position).
    pub fn drain_positions(&mut self) -> Vec<(Kept, u64)> {
        let mut out: Vec<(Kept, u64)> = self.head.drain(..).map(|r| (r.kept, r.seq)).collect();
        self.head_ram = 0;
        if let Some(mut tail) = self.tail.take() {
            while let Some(r) = tail.pop(false) {
                out.push((r.kept, r.seq));
            }
        }
        out
    }

    /// Moves the tail's oldest records into the head, up to `HEAD_CAP` entries.
    fn refill(&mut self) {
        while self.head.len() < HEAD_CAP {
            let Some(entry) = self.tail.as_mut().and_then(|t| t.pop(true)) else {
                break;
            };
            self.insert_head(entry);
        }
        self.drop_tail_if_empty();
    }
}

/// Record flags. A record is: flags, position (difference to the previous one's),
/// store id (only when kept in the store), expiry (only with `HAS_EXPIRY`); then
/// for an inline one: extras (with `EXTRAS`), route (without `SAME_ROUTE`),
/// properties (without `SAME_PROPS`), body; for any other, the body's size.
const INLINE: u8 = 1;
/// Content shared in `Tail::large`.
const LARGE: u8 = 1 << 1;
const KEPT_DURABLE: u8 = 1 << 2;
const KEPT_PAGED: u8 = 1 << 3;
const HAS_EXPIRY: u8 = 1 << 4;
/// Exchange and routing key as in the previous inline record.
const SAME_ROUTE: u8 = 1 << 5;
/// Properties as in the previous inline record (one publisher's messages usually
/// share theirs).
const SAME_PROPS: u8 = 1 << 6;
/// An extras byte follows: what most messages do not have.
const EXTRAS: u8 = 1 << 7;

/// Extras: persistence other than the position's (a position kept durable holds a
/// persistent message, any other a transient one, unless this says otherwise) ...
const EXTRA_PERSISTENCE_DIFFERS: u8 = 1;
/// ... a per-message TTL (`expiration`, a varint) ...
const EXTRA_EXPIRATION: u8 = 1 << 1;
/// ... a priority other than 0 (a byte).
const EXTRA_PRIORITY: u8 = 1 << 2;

#[derive(Default)]
struct Tail {
    /// Records being written, oldest first; the last one takes new records.
    segments: VecDeque<BytesMut>,
    /// Records taken from the front segment to be read: frozen, so decoded messages
    /// can share it.
    reading: Bytes,
    /// Records.
    len: usize,
    /// What the segments and the large messages cost.
    resident: u64,
    /// Messages above `INLINE_MAX`, shared, in record order.
    large: VecDeque<MessageRef>,
    /// Content of paged-out messages until the store holds them: (store id, message).
    pending: VecDeque<(u64, MessageRef)>,
    pending_bytes: u64,
    /// The previous record's position (records store the difference) and route,
    /// as written and as read: both sides walk the same records in the same order.
    write_seq: u64,
    read_seq: u64,
    write_route: Option<(Name, ShortStr)>,
    read_route: Option<(Name, ShortStr)>,
    /// The previous inline record's properties, as written and as read.
    write_props: Option<Bytes>,
    read_props: Option<Bytes>,
}

impl Tail {
    fn push(&mut self, entry: Ready, content: TailContent) {
        let Ready {
            seq,
            message,
            store_id,
            size,
            redelivered: _,
            kept,
            paging: _,
            expires_at,
            rank: _,
        } = entry;
        let message = message.expect("tail entries come with their content");
        let mut flags = match kept {
            Kept::No => 0,
            Kept::Durable => KEPT_DURABLE,
            Kept::Paged => KEPT_PAGED,
        };
        if expires_at != 0 {
            flags |= HAS_EXPIRY;
        }
        let inline = matches!(content, TailContent::Keep)
            && message.body.len() <= INLINE_MAX
            && message.bcc.is_none();
        match content {
            TailContent::Paging => {
                self.pending_bytes += size as u64 + RAM_OVERHEAD;
                self.pending.push_back((store_id, message.clone()));
            }
            TailContent::Keep if !inline => {
                flags |= LARGE;
                self.resident += size as u64 + RAM_OVERHEAD;
                self.large.push_back(message.clone());
            }
            TailContent::Keep => {
                flags |= INLINE;
                if extras_of(&message, kept) != 0 {
                    flags |= EXTRAS;
                }
                if self.write_route.as_ref().is_some_and(|(exchange, key)| {
                    **exchange == *message.exchange && *key == message.routing_key
                }) {
                    flags |= SAME_ROUTE;
                } else {
                    self.write_route =
                        Some((message.exchange.clone(), message.routing_key.clone()));
                }
                if self
                    .write_props
                    .as_ref()
                    .is_some_and(|p| *p == message.properties)
                {
                    flags |= SAME_PROPS;
                } else {
                    self.write_props = Some(message.properties.clone());
                }
            }
        }
        let delta = zigzag(seq.wrapping_sub(self.write_seq) as i64);
        // Only an inline record carries the content; the others are a few varints.
        let need = if flags & INLINE != 0 {
            RECORD_HEADER_MAX + message.properties.len() + message.body.len()
        } else {
            RECORD_HEADER_MAX
        };
        let out = self.writable_segment(need);
        let start = out.len();
        out.put_u8(flags);
        put_varint(out, delta);
        if kept != Kept::No {
            put_varint(out, store_id);
        }
        if expires_at != 0 {
            put_varint(out, expires_at);
        }
        if flags & INLINE == 0 {
            put_varint(out, size as u64);
        } else {
            if flags & EXTRAS != 0 {
                let extras = extras_of(&message, kept);
                out.put_u8(extras);
                if let Some(expiration) = message.expiration {
                    put_varint(out, expiration);
                }
                if extras & EXTRA_PRIORITY != 0 {
                    out.put_u8(message.priority);
                }
            }
            if flags & SAME_ROUTE == 0 {
                put_short(out, message.exchange.as_bytes());
                put_short(out, message.routing_key.as_bytes());
            }
            if flags & SAME_PROPS == 0 {
                put_varint(out, message.properties.len() as u64);
                out.extend_from_slice(&message.properties);
            }
            put_varint(out, message.body.len() as u64);
            out.extend_from_slice(&message.body);
        }
        let written = (out.len() - start) as u64;
        if flags & INLINE != 0 {
            self.resident += written;
        }
        self.write_seq = seq;
        self.len += 1;
    }

    /// The segment to append a record of at most `need` bytes to: the last one, or a
    /// new one when that has no room left (a segment never grows: readers may share
    /// its memory).
    fn writable_segment(&mut self, need: usize) -> &mut BytesMut {
        let full = self
            .segments
            .back()
            .is_none_or(|s| s.capacity() - s.len() < need);
        if full {
            self.segments
                .push_back(BytesMut::with_capacity(SEGMENT.max(need)));
        }
        self.segments.back_mut().expect("just ensured")
    }

    /// Takes the oldest record as an entry; with `content` false, skips decoding the
    /// message (the caller wants the position only).
    fn pop(&mut self, content: bool) -> Option<Ready> {
        while self.reading.is_empty() {
            self.reading = match self.segments.len() {
                0 => return None,
                // The one being written to: take what it has so far.
                1 if self.segments[0].is_empty() => return None,
                1 => self.segments[0].split().freeze(),
                // A full one (possibly emptied already by a read while it was last).
                _ => self.segments.pop_front().expect("not empty").freeze(),
            };
        }
        let reading = self.reading.clone();
        let mut input = &reading[..];
        let before = input.len();
        let flags = take_u8(&mut input);
        let seq = self
            .read_seq
            .wrapping_add(unzigzag(take_varint(&mut input)) as u64);
        let kept = if flags & KEPT_DURABLE != 0 {
            Kept::Durable
        } else if flags & KEPT_PAGED != 0 {
            Kept::Paged
        } else {
            Kept::No
        };
        let store_id = if kept == Kept::No {
            0
        } else {
            take_varint(&mut input)
        };
        let expires_at = if flags & HAS_EXPIRY != 0 {
            take_varint(&mut input)
        } else {
            0
        };
        let (size, message) = if flags & INLINE != 0 {
            let extras = if flags & EXTRAS != 0 {
                take_u8(&mut input)
            } else {
                0
            };
            let expiration = (extras & EXTRA_EXPIRATION != 0).then(|| take_varint(&mut input));
            let priority = if extras & EXTRA_PRIORITY != 0 {
                take_u8(&mut input)
            } else {
                0
            };
            let persistent = (kept == Kept::Durable) != (extras & EXTRA_PERSISTENCE_DIFFERS != 0);
            if flags & SAME_ROUTE == 0 {
                let exchange = take_short(&mut input);
                let key = take_short(&mut input);
                self.read_route = Some((
                    Name::from(std::str::from_utf8(exchange).unwrap_or_default()),
                    ShortStr::from_bytes(Bytes::copy_from_slice(key)).unwrap_or_default(),
                ));
            }
            if flags & SAME_PROPS == 0 {
                let properties_len = take_varint(&mut input) as usize;
                let at = before - input.len();
                input = &input[properties_len..];
                self.read_props = Some(reading.slice(at..at + properties_len));
            }
            let body_len = take_varint(&mut input) as usize;
            let at = before - input.len();
            input = &input[body_len..];
            let message = content.then(|| {
                let (exchange, routing_key) = self
                    .read_route
                    .clone()
                    .expect("an inline record names its route or follows one that does");
                Arc::new(Message {
                    exchange,
                    routing_key,
                    properties: self
                        .read_props
                        .clone()
                        .expect("an inline record has its properties or follows one that does"),
                    body: reading.slice(at..at + body_len),
                    persistent,
                    expiration,
                    priority,
                    bcc: None,
                })
            });
            (body_len as u32, message)
        } else {
            let size = take_varint(&mut input) as u32;
            let message = if flags & LARGE != 0 {
                self.resident -= size as u64 + RAM_OVERHEAD;
                self.large.pop_front()
            } else {
                self.take_pending(store_id)
            };
            (size, message.filter(|_| content))
        };
        let used = before - input.len();
        if flags & INLINE != 0 {
            self.resident -= used as u64;
        }
        self.reading.advance(used);
        self.read_seq = seq;
        self.len -= 1;
        Some(Ready {
            seq,
            message,
            store_id,
            size,
            redelivered: false,
            kept,
            paging: false,
            expires_at,
            rank: 255,
        })
    }

    /// The content of a paged-out message still waiting for the store, if any.
    fn take_pending(&mut self, store_id: u64) -> Option<MessageRef> {
        // Pending entries are in record order, and every earlier one was taken or
        // released already: this record's is the front one, or gone.
        if self.pending.front().is_none_or(|(id, _)| *id != store_id) {
            return None;
        }
        let (_, message) = self.pending.pop_front()?;
        self.pending_bytes -= message.body.len() as u64 + RAM_OVERHEAD;
        Some(message)
    }

    fn release_pending(&mut self, holds: impl Fn(u64) -> bool) {
        while let Some((id, message)) = self.pending.front() {
            if !holds(*id) {
                break;
            }
            self.pending_bytes -= message.body.len() as u64 + RAM_OVERHEAD;
            self.pending.pop_front();
        }
    }
}

/// The extras byte an inline record of `message`, kept as `kept`, needs (0: none).
fn extras_of(message: &Message, kept: Kept) -> u8 {
    let mut extras = 0;
    if message.persistent != (kept == Kept::Durable) {
        extras |= EXTRA_PERSISTENCE_DIFFERS;
    }
    if message.expiration.is_some() {
        extras |= EXTRA_EXPIRATION;
    }
    if message.priority != 0 {
        extras |= EXTRA_PRIORITY;
    }
    extras
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn put_varint(out: &mut impl BufMut, mut n: u64) {
    while n >= 0x80 {
        out.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    out.put_u8(n as u8);
}

fn put_short(out: &mut impl BufMut, bytes: &[u8]) {
    // Exchange names and routing keys are AMQP shortstrs: at most 255 bytes.
    out.put_u8(bytes.len() as u8);
    out.put_slice(bytes);
}

// The readers below walk records this module wrote itself, in memory: they cannot be
// malformed, so running short is a bug and panics like an index out of bounds.

fn take_u8(input: &mut &[u8]) -> u8 {
    let (&b, rest) = input.split_first().expect("tail record");
    *input = rest;
    b
}

fn take_varint(input: &mut &[u8]) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let b = take_u8(input);
        n |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            return n;
        }
        shift += 7;
    }
}

fn take_short<'a>(input: &mut &'a [u8]) -> &'a [u8] {
    let len = take_u8(input) as usize;
    let (bytes, rest) = input.split_at(len);
    *input = rest;
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(exchange: &str, key: &str, body: Vec<u8>, expiration: Option<u64>) -> MessageRef {
        Arc::new(Message {
            exchange: Name::from(exchange),
            routing_key: ShortStr::from(key.to_string()),
            properties: Bytes::from_static(&[0x10, 0, 2]),
            body: Bytes::from(body),
            persistent: true,
            expiration,
            priority: 3,
            bcc: None,
        })
    }

    fn entry(seq: u64, message: MessageRef, kept: Kept, store_id: u64, expires_at: u64) -> Ready {
        Ready {
            seq,
            size: message.body.len() as u32,
            message: Some(message),
            store_id,
            redelivered: false,
            kept,
            paging: false,
            expires_at,
            rank: 255,
        }
    }

    fn push(list: &mut ReadyList, r: Ready, content: TailContent) {
        if list.takes_in_tail(&r) {
            list.push_tail(r, content);
        } else {
            list.insert_head(r);
        }
    }

    #[test]
    fn messages_come_back_from_the_tail_as_they_went_in() {
        let mut list = ReadyList::new(true);
        let n = HEAD_CAP as u64 * 3;
        for seq in 1..=n {
            // Routes change every 7 messages, sizes cross INLINE_MAX, some expire.
            let exchange = format!("x{}", seq / 7);
            let size = if seq % 100 == 0 {
                INLINE_MAX + 10
            } else {
                (seq % 300) as usize
            };
            let body = vec![(seq % 251) as u8; size];
            let expiration = (seq % 3 == 0).then_some(seq * 10);
            let mut m = message(&exchange, "key.a", body, expiration);
            // Properties change every 11 messages; persistence and priority vary
            // apart from them (a durable position usually holds a persistent one).
            let m_mut = Arc::get_mut(&mut m).expect("fresh");
            m_mut.properties = Bytes::from(vec![0x10, 0, (seq / 11 % 200) as u8]);
            m_mut.persistent = seq % 4 != 0;
            m_mut.priority = (seq % 6) as u8;
            let kept = if seq % 5 == 0 {
                Kept::Durable
            } else {
                Kept::No
            };
            push(
                &mut list,
                entry(seq, m, kept, seq * 2 * (seq % 5 == 0) as u64, seq % 2),
                TailContent::Keep,
            );
        }
        assert_eq!(list.len() as u64, n);
        assert!(list.tail_len() > 0, "the backlog went to the tail");
        for seq in 1..=n {
            let r = list.pop_front().expect("an entry");
            assert_eq!(r.seq, seq);
            let m = r.message.expect("content");
            let size = if seq % 100 == 0 {
                INLINE_MAX + 10
            } else {
                (seq % 300) as usize
            };
            assert_eq!(r.size as usize, size);
            assert_eq!(&m.body[..], &vec![(seq % 251) as u8; size][..]);
            assert_eq!(&*m.exchange, format!("x{}", seq / 7));
            assert_eq!(m.routing_key.as_str(), "key.a");
            assert_eq!(m.expiration, (seq % 3 == 0).then_some(seq * 10));
            assert_eq!(&m.properties[..], &[0x10, 0, (seq / 11 % 200) as u8]);
            assert_eq!(m.persistent, seq % 4 != 0, "{seq}");
            assert_eq!(m.priority, (seq % 6) as u8);
            assert_eq!(r.expires_at, seq % 2);
            assert_eq!(
                r.kept,
                if seq % 5 == 0 {
                    Kept::Durable
                } else {
                    Kept::No
                }
            );
            assert_eq!(r.store_id, seq * 2 * (seq % 5 == 0) as u64);
        }
        assert!(list.pop_front().is_none());
        assert_eq!(list.ram_bytes(), 0, "nothing is left accounted");
    }

    #[test]
    fn a_small_message_in_the_tail_costs_little_more_than_its_body() {
        let mut list = ReadyList::new(true);
        for seq in 1..=100_000u64 {
            let mut m = message("", "work", vec![7; 128], None);
            let plain = Arc::get_mut(&mut m).expect("fresh");
            plain.persistent = false;
            plain.priority = 0;
            push(&mut list, entry(seq, m, Kept::No, 0, 0), TailContent::Keep);
        }
        let tail = list.tail.as_ref().expect("a tail");
        let tail_per_message = tail.resident / tail.len as u64;
        // Flags, position and body length: 4 bytes besides the body when route and
        // properties are those of the message before.
        assert!(tail_per_message <= 132, "{tail_per_message} B per message");
    }

    #[test]
    fn paged_records_keep_their_content_until_the_store_holds_it() {
        let mut list = ReadyList::new(true);
        for seq in 1..=(HEAD_CAP as u64 + 10) {
            let m = message("", "q", vec![1; 10], None);
            let paging = seq > HEAD_CAP as u64;
            let r = entry(seq, m, if paging { Kept::Paged } else { Kept::No }, seq, 0);
            push(
                &mut list,
                r,
                if paging {
                    TailContent::Paging
                } else {
                    TailContent::Keep
                },
            );
        }
        assert_eq!(list.tail_paging_bytes(), 10 * (10 + RAM_OVERHEAD));
        // The store holds the first five: their content leaves memory.
        list.release_tail_paged(|id| id <= HEAD_CAP as u64 + 5);
        assert_eq!(list.tail_paging_bytes(), 5 * (10 + RAM_OVERHEAD));
        let mut with_content = Vec::new();
        while let Some(r) = list.pop_front() {
            if r.seq > HEAD_CAP as u64 {
                assert_eq!(r.kept, Kept::Paged);
                assert_eq!(r.store_id, r.seq);
                with_content.push(r.message.is_some());
            }
        }
        assert_eq!(
            with_content,
            [false, false, false, false, false, true, true, true, true, true]
        );
        assert_eq!(list.ram_bytes(), 0);
    }

    #[test]
    fn records_without_their_content_take_a_few_bytes_whatever_the_body() {
        let mut list = ReadyList::new(true);
        for seq in 1..=(HEAD_CAP as u64 + 100) {
            let m = message("", "q", vec![0; 100_000], None);
            let paging = seq > HEAD_CAP as u64;
            let r = entry(seq, m, if paging { Kept::Paged } else { Kept::No }, seq, 0);
            push(
                &mut list,
                r,
                if paging {
                    TailContent::Paging
                } else {
                    TailContent::Keep
                },
            );
        }
        assert_eq!(
            list.tail.as_ref().expect("a tail").segments.len(),
            1,
            "100 paged records, one segment"
        );
        assert!(
            list.tail.as_ref().expect("a tail").segments[0].capacity()
                <= SEGMENT + RECORD_HEADER_MAX
        );
    }

    #[test]
    fn older_entries_go_to_the_head_in_order_and_purge_sees_everything() {
        let mut list = ReadyList::new(true);
        for seq in 10..(10 + HEAD_CAP as u64 + 100) {
            push(
                &mut list,
                entry(seq, message("", "q", vec![0; 4], None), Kept::No, 0, 0),
                TailContent::Keep,
            );
        }
        // A requeued message, older than everything.
        let old = entry(3, message("", "q", vec![0; 4], None), Kept::No, 0, 0);
        assert!(!list.takes_in_tail(&old));
        list.insert_head(old);
        assert_eq!(list.front().map(|r| r.seq), Some(3));
        let positions = list.drain_positions();
        assert_eq!(positions.len(), HEAD_CAP + 101);
        assert!(list.pop_front().is_none());
        assert_eq!(list.len(), 0);
    }

    #[test]
    fn priority_queues_keep_everything_in_the_head() {
        let mut list = ReadyList::new(false);
        for seq in 1..=(HEAD_CAP as u64 * 2) {
            push(
                &mut list,
                entry(seq, message("", "q", vec![0; 4], None), Kept::No, 0, 0),
                TailContent::Keep,
            );
        }
        assert_eq!(list.tail_len(), 0);
        assert!(list.tail.is_none(), "a priority queue makes no tail");
    }

    #[test]
    fn reading_while_writing_keeps_every_record() {
        // Consumers keep up with a long queue: the tail's last segment is read while
        // it is still being written, and new segments start behind emptied ones.
        let mut list = ReadyList::new(true);
        let mut next_in = 1u64;
        let mut next_out = 1u64;
        for round in 0..200u64 {
            for _ in 0..(HEAD_CAP as u64 / 2 + round * 7) {
                let m = message("", "q", vec![(next_in % 251) as u8; 300], None);
                push(
                    &mut list,
                    entry(next_in, m, Kept::No, 0, 0),
                    TailContent::Keep,
                );
                next_in += 1;
            }
            for _ in 0..(HEAD_CAP as u64 / 2) {
                let r = list.pop_front().expect("an entry");
                assert_eq!(r.seq, next_out);
                let body = r.message.expect("content").body.clone();
                assert_eq!(&body[..], &vec![(next_out % 251) as u8; 300][..]);
                next_out += 1;
            }
        }
        while let Some(r) = list.pop_front() {
            assert_eq!(r.seq, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
        assert_eq!(list.ram_bytes(), 0);
        assert!(
            list.tail.is_none(),
            "the drained tail's segments are let go"
        );
    }

    #[test]
    fn varints_and_zigzag_round_trip() {
        for n in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            assert_eq!(take_varint(&mut &out[..]), n);
        }
        for d in [0i64, 1, -1, 1000, -1000, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(d)), d);
        }
    }
}
