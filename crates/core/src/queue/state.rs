//! A queue's state and the rules that move messages through it: ready in order,
//! handed to consumers round-robin within their prefetch windows, held unacked until
//! settled, requeued to their original position.
//!
//! The actor owns one `QueueState` and calls these methods; nothing here awaits.

use super::args::{parse_queue_args, Overflow, QueueSettings};
use super::backing::{Backing, Kept};
use super::deadletter::DeadLetterer;
use super::dedup::Dedup;
use super::memory::MemoryShare;
use super::ready::{Ready, ReadyList, TailContent};
use super::records::{PublishOrigin, QueueRecords};
use super::{ConfirmTo, GetOk, Publish, QueueRef, Settle};
use crate::error::{CoreError, CoreResult};
use crate::fast_hash::FastMap;
use crate::message::{Message, MessageRef};
use crate::names::Name;
use crate::outlet::{ChannelCreditRef, ChannelKey, Confirmation, ConnEvent, Delivery, Outlet};
use crate::records::{EventKind, RecorderRef};
use crate::vhost::VHost;
use amqp_codec::FieldValue;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::Weak;
use warren_store::RecoveredMessage;

/// A consumer as the queue sees it.
pub struct Consumer {
    pub tag: Name,
    pub channel: ChannelKey,
    /// The channel's number on its connection, for the frames.
    pub channel_number: u16,
    pub connection: u64,
    pub no_ack: bool,
    pub exclusive: bool,
    /// Per-consumer prefetch (`basic.qos` global=false); 0 is unlimited.
    pub prefetch: u32,
    /// The channel's shared window (`basic.qos` global=true).
    pub channel_credit: ChannelCreditRef,
    /// The channel's transit window: deliveries not yet written to the socket.
    pub transit: ChannelCreditRef,
    pub outlet: Outlet,
    /// Deliveries this consumer holds unacked.
    pub unacked: u32,
    /// `x-priority`: consumers of a higher priority get messages first; lower ones
    /// only while all higher ones are out of room.
    pub priority: i64,
}

impl Consumer {
    fn has_own_room(&self) -> bool {
        self.no_ack || self.prefetch == 0 || self.unacked < self.prefetch
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub ready: u32,
    pub unacked: u32,
    pub consumers: u32,
}

/// Why a message left its queue without being acknowledged, in `x-death` terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeathReason {
    Rejected,
    Expired,
    MaxLen,
    DeliveryLimit,
}

impl DeathReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeathReason::Rejected => "rejected",
            DeathReason::Expired => "expired",
            DeathReason::MaxLen => "maxlen",
            DeathReason::DeliveryLimit => "delivery_limit",
        }
    }
}

/// A message to dead-letter at the end of the turn.
pub(crate) struct Dead {
    pub seq: u64,
    pub message: MessageRef,
    pub kept: Kept,
    pub reason: DeathReason,
}

/// `Ready::expires_at` of a recovered message not yet looked at.
const EXPIRY_UNKNOWN: u64 = u64::MAX;

/// Wall-clock milliseconds: TTLs are deadlines that must mean the same after a
/// restart.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Unacked {
    message: MessageRef,
    channel: ChannelKey,
    /// None for a `basic.get` delivery.
    consumer: Option<Name>,
    store_id: u64,
    kept: Kept,
    expires_at: u64,
}

/// A ready message taken off the queue, with its content.
struct Taken {
    seq: u64,
    message: MessageRef,
    redelivered: bool,
    store_id: u64,
    kept: Kept,
    expires_at: u64,
}

/// What one turn sends to one connection.
struct Outgoing {
    connection: u64,
    outlet: Outlet,
    deliveries: Vec<Delivery>,
    confirms: Vec<Confirmation>,
}

pub(crate) struct QueueState {
    queue: QueueRef,
    settings: QueueSettings,
    /// Ordered by `seq`: requeued messages go back where they were.
    ready: ReadyList,
    /// Body bytes of the ready messages (`x-max-length-bytes`).
    ready_bytes: u64,
    /// The part of `ram_bytes` already on its way to disk.
    paging_bytes: u64,
    /// Positions (and store ids) being paged out, oldest first: their content leaves
    /// memory once the store holds it.
    paging: VecDeque<(u64, u64, u8)>,
    unacked: FastMap<u64, Unacked>,
    consumers: Vec<Consumer>,
    /// Index of the consumer to try first next time (round-robin).
    next_consumer: usize,
    had_consumers: bool,
    /// Deliveries and confirms made this turn, batched per connection.
    outbox: Vec<Outgoing>,
    /// What the store holds of this queue, and this turn's records for it.
    backing: Backing,
    /// This queue's part of the broker's account of queue content in memory.
    memory: MemoryShare,
    /// This turn's clock (ms since the Unix epoch).
    now: u64,
    /// When the queue was last used (consumer, get, declare): `x-expires` counts
    /// from here.
    last_used: u64,
    /// Messages to dead-letter (or drop) at the end of the turn.
    dead: Vec<Dead>,
    /// Nacked messages waiting out their retry delay, by (due time, position).
    retrying: BTreeMap<(u64, u64), Ready>,
    /// `x-message-deduplication`: the keys of the messages in the queue.
    dedup: Option<Box<Dedup>>,
    dead_letterer: DeadLetterer,
    /// The vhost's recorder (none for a queue without a vhost, in tests).
    recorder: Option<RecorderRef>,
    /// `x-delivery-records`: what this queue records of its messages.
    records: Option<Box<QueueRecords>>,
}

impl QueueState {
    pub(crate) fn new(queue: QueueRef, owner: Weak<VHost>) -> QueueState {
        // The arguments were validated at declare; these are their settings.
        let settings =
            parse_queue_args(&queue.arguments, &queue.name, &queue.vhost).unwrap_or_default();
        let backing = Backing::new(queue.id(), queue.page_store().cloned());
        let settings_dedup = settings.deduplicate;
        let compact = settings.max_priority.is_none();
        let recorder = owner.upgrade().map(|v| v.records().clone());
        let memory = MemoryShare::new(queue.memory().clone());
        let mut state = QueueState {
            queue,
            settings,
            // A priority queue's order is not its arrival order: it keeps every
            // entry where it can be placed.
            ready: ReadyList::new(compact),
            ready_bytes: 0,
            paging_bytes: 0,
            paging: VecDeque::new(),
            unacked: FastMap::default(),
            consumers: Vec::new(),
            next_consumer: 0,
            had_consumers: false,
            outbox: Vec::new(),
            memory,
            backing,
            now: now_ms(),
            last_used: now_ms(),
            dead: Vec::new(),
            retrying: BTreeMap::new(),
            dedup: settings_dedup.then(Box::<Dedup>::default),
            dead_letterer: DeadLetterer::new(owner),
            recorder,
            records: None,
        };
        state.switch_records();
        state
    }

    /// Starts or stops keeping delivery records as the settings say. Switched on,
    /// it knows only the messages that arrive after (and what it recovers).
    fn switch_records(&mut self) {
        let on = self.settings.delivery_records && self.recorder.is_some();
        match (&self.records, &self.recorder) {
            (None, Some(recorder)) if on => {
                self.records = Some(Box::new(QueueRecords::new(
                    recorder.clone(),
                    self.queue.vhost.clone(),
                    &self.queue.name,
                )));
            }
            (Some(_), _) if !on => {
                if let Some(r) = &mut self.records {
                    r.flush();
                }
                self.records = None;
            }
            _ => {}
        }
        self.queue.set_recording(on);
    }

    /// Records what happened to the message at `seq`, when the queue records.
    fn record(&mut self, seq: u64, kind: impl FnOnce() -> EventKind) {
        if let Some(r) = &mut self.records {
            r.outcome(self.now, seq, kind());
        }
    }

    /// What the queue acts on changed (a policy): limits apply at once, so a lowered
    /// `max-length` drops or dead-letters the excess as RabbitMQ does; a new TTL
    /// applies to messages arriving from now on (a message's deadline is fixed when it
    /// arrives). Deduplication switched on knows only the keys of messages that arrive
    /// after.
    pub(crate) fn apply_settings(&mut self, settings: QueueSettings) {
        match (self.dedup.is_some(), settings.deduplicate) {
            (false, true) => self.dedup = Some(Box::default()),
            (true, false) => self.dedup = None,
            _ => {}
        }
        self.settings = settings;
        self.switch_records();
        if self.settings.overflow == Overflow::DropHead {
            self.drop_head_over_limit();
        }
    }

    /// Tells the handle whether the settings now in force can refuse a publish (see
    /// `QueueHandle::publish_answered`); called once per settings the actor applies.
    pub(crate) fn settings_in_force(&self) {
        let limited =
            self.settings.max_length.is_some() || self.settings.max_length_bytes.is_some();
        let refusing = matches!(
            self.settings.overflow,
            Overflow::RejectPublish | Overflow::RejectPublishDlx
        );
        self.queue.settings_applied(limited && refusing);
    }

    /// Starts a turn: reads the clock once for all of it.
    pub(crate) fn begin_turn(&mut self) {
        self.now = now_ms();
    }

    /// A consumer, a get or a declare used the queue: its `x-expires` lease renews.
    pub(crate) fn used(&mut self) {
        self.last_used = self.now.max(now_ms());
    }

    /// Whether the queue has gone unused for its `x-expires` interval.
    pub(crate) fn lease_expired(&self) -> bool {
        match self.settings.expires {
            Some(ms) => self.consumers.is_empty() && self.now >= self.last_used + ms,
            None => false,
        }
    }

    /// When the queue must take a turn with no command (wall-clock ms): the head
    /// message's expiry, the end of the unused lease, or the next retry. Reads no
    /// clock, so a turn can ask cheaply whether the queue's timer must move.
    pub(crate) fn next_deadline_ms(&self) -> Option<u64> {
        let head = self
            .ready
            .front()
            .map(|r| r.expires_at)
            .filter(|&at| at != 0 && at != EXPIRY_UNKNOWN);
        let lease = match self.settings.expires {
            Some(ms) if self.consumers.is_empty() => Some(self.last_used + ms),
            _ => None,
        };
        let retry = self.retrying.keys().next().map(|(due, _)| *due);
        [head, lease, retry].into_iter().flatten().min()
    }

    /// Where a message ranks: its priority, capped at the queue's `x-max-priority`
    /// (without one, every message ranks the same).
    fn rank_for(&self, message: &Message) -> u8 {
        match self.settings.max_priority {
            Some(max) => 255 - message.priority.min(max),
            None => 255,
        }
    }

    /// When a message arriving now expires: the lower of the queue's TTL and its own.
    fn expiry_for(&self, message: &MessageRef) -> u64 {
        let ttl = match (self.settings.message_ttl, message.expiration) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        ttl.map_or(0, |ttl| self.now + ttl)
    }

    /// Removes expired messages from the head (RabbitMQ expires at the head only: a
    /// message behind one that lives longer waits for it). Messages whose deadline is
    /// now go too: a TTL of 0 means "deliver now or never".
    pub(crate) fn expire_head(&mut self) {
        while self.resolve_head_expiry() {}
        while let Some(r) = self.ready.front() {
            if r.expires_at == 0 || r.expires_at > self.now {
                break;
            }
            let r = self.pop_ready().expect("not empty");
            self.die(r, DeathReason::Expired);
            while self.resolve_head_expiry() {}
        }
    }

    /// A recovered message at the head: reads it to learn its deadline (stored at +
    /// the lower of the queue's TTL and its own), keeping it in memory for delivery.
    /// True when it could not be read and was dropped (look at the next one).
    fn resolve_head_expiry(&mut self) -> bool {
        let Some(r) = self.ready.front() else {
            return false;
        };
        if r.expires_at != EXPIRY_UNKNOWN {
            return false;
        }
        match self.backing.load(r.store_id) {
            Ok((message, stored_at)) => {
                let ttl = match (self.settings.message_ttl, message.expiration) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let from = stored_at.unwrap_or(self.now);
                if let Some(due) = self.retry_due(&message, stored_at) {
                    // Recovered while waiting out a retry delay: it goes on waiting.
                    let mut r = self.pop_ready().expect("not empty");
                    r.expires_at = ttl.map_or(0, |ttl| (from + ttl).max(1));
                    r.message = Some(message);
                    self.retrying.insert((due, r.seq), r);
                    return true;
                }
                self.ready
                    .set_front_expiry(ttl.map_or(0, |ttl| (from + ttl).max(1)));
                self.ready.set_front_message(message);
                false
            }
            Err(e) => {
                let r = self.pop_ready().expect("not empty");
                tracing::error!(
                    "{:?}: message at position {} is unreadable and is dropped: {e}",
                    self.queue,
                    r.seq
                );
                self.gone(r.kept, r.seq);
                true
            }
        }
    }

    /// When a recovered message that was waiting for a retry is due, if that is
    /// still to come: it was stored when it was nacked, with its delay in
    /// `x-retry-delay`.
    fn retry_due(&self, message: &Message, stored_at: Option<u64>) -> Option<u64> {
        self.settings.retry_delays.as_ref()?;
        let delay = message.header_count("x-retry-delay");
        let due = stored_at? + delay;
        (delay > 0 && due > self.now).then_some(due)
    }

    /// Position `seq` has left the queue for good.
    fn gone(&mut self, kept: Kept, seq: u64) {
        if let Some(dedup) = &mut self.dedup {
            dedup.forget(seq);
        }
        if let Some(r) = &mut self.records {
            r.forget(seq);
        }
        self.backing.gone(kept, seq);
    }

    /// A consumer took position `seq` (for good, with `no_ack`).
    fn taken(&mut self, kept: Kept, seq: u64, no_ack: bool) {
        if no_ack {
            if let Some(dedup) = &mut self.dedup {
                dedup.forget(seq);
            }
            if let Some(r) = &mut self.records {
                r.forget(seq);
            }
        }
        self.backing.taken(kept, seq, no_ack);
    }

    /// Dead-letters (or drops) this turn's dead messages.
    fn flush_dead(&mut self) {
        if self.dead.is_empty() {
            return;
        }
        let dead = std::mem::take(&mut self.dead);
        if let (Some(r), Some(exchange)) = (&mut self.records, &self.settings.dead_letter_exchange)
        {
            for d in &dead {
                r.outcome(
                    self.now,
                    d.seq,
                    EventKind::DeadLettered {
                        reason: d.reason.as_str().to_string(),
                        exchange: exchange.clone(),
                    },
                );
            }
        }
        let gone = match &self.settings.dead_letter_exchange {
            Some(exchange) => self.dead_letterer.publish(
                &self.queue,
                exchange,
                self.settings.dead_letter_routing_key.as_deref(),
                dead,
            ),
            None => dead.iter().map(|d| (d.kept, d.seq)).collect(),
        };
        for (kept, seq) in gone {
            self.gone(kept, seq);
        }
    }

    /// A ready message leaves without being delivered: dead-lettered when the queue
    /// has a dead-letter exchange, dropped otherwise.
    fn die(&mut self, r: Ready, reason: DeathReason) {
        if self.settings.dead_letter_exchange.is_none() {
            self.record(r.seq, || match reason {
                DeathReason::Expired => EventKind::Expired,
                other => EventKind::Dropped {
                    reason: other.as_str().to_string(),
                },
            });
            self.gone(r.kept, r.seq);
            return;
        }
        let Some(message) = self.load(&r) else {
            return;
        };
        self.dead.push(Dead {
            seq: r.seq,
            message,
            kept: r.kept,
            reason,
        });
    }

    /// Refills a durable queue with what the store recovered, in order. Bodies stay
    /// on disk until a consumer needs them.
    pub(crate) fn restore(&mut self, recovered: Vec<RecoveredMessage>) {
        // Deadlines are worked out from the stored message when it reaches the head.
        let expires_at = EXPIRY_UNKNOWN;
        let mut ready = Vec::with_capacity(recovered.len());
        for m in recovered {
            // The body's size is not known without reading it; the record's is close.
            let size = m.location.len;
            self.ready_bytes += size as u64;
            ready.push(Ready {
                seq: m.seq,
                message: None,
                store_id: m.id,
                size,
                redelivered: m.delivered,
                kept: Kept::Durable,
                paging: false,
                expires_at,
                rank: 255,
            });
        }
        if self.settings.max_priority.is_some() || self.dedup.is_some() || self.records.is_some() {
            // A priority queue's order depends on each message's priority, and a
            // deduplicating or recording queue needs each message's key, both in its
            // stored properties: read them once.
            for r in &mut ready {
                if let Ok((message, _)) = self.backing.load(r.store_id) {
                    r.rank = self.rank_for(&message);
                    if let Some(dedup) = &mut self.dedup {
                        if let Some(key) = Dedup::key(&message) {
                            dedup.remember(r.seq, key);
                        }
                    }
                    if let Some(records) = &mut self.records {
                        records.restored(r.seq, &message);
                    }
                }
            }
            ready.sort_by_key(Ready::order);
        }
        for r in ready {
            self.ready.insert_head(r);
        }
    }

    /// The queue is being deleted: the store forgets its messages.
    pub(crate) fn discard_stored(&mut self) {
        if let Some(r) = &mut self.records {
            // The queue is going: its ready messages can be taken out.
            let ready = self.ready.drain_positions();
            let seqs = ready
                .into_iter()
                .map(|(_, seq)| seq)
                .chain(self.retrying.keys().map(|(_, seq)| *seq))
                .chain(self.unacked.keys().copied());
            for seq in seqs {
                r.outcome(self.now, seq, EventKind::Deleted);
            }
        }
        self.backing.discard(self.queue.store().is_some());
    }

    /// Reads a ready message's content back from the store; `None` (after logging
    /// why) when the store cannot give it back.
    fn load(&mut self, r: &Ready) -> Option<MessageRef> {
        if let Some(message) = &r.message {
            return Some(message.clone());
        }
        match self.backing.load(r.store_id) {
            Ok((message, _)) => Some(message),
            Err(e) => {
                tracing::error!(
                    "{:?}: message at position {} is unreadable and is dropped: {e}",
                    self.queue,
                    r.seq
                );
                self.gone(r.kept, r.seq);
                None
            }
        }
    }

    /// Over its paging limit (`memory.rs`: the broker's, or its own), a queue sends each new
    /// message to disk as it arrives: consumers reach the newest last, and the oldest
    /// stay in memory for them. A persistent message is on disk already; any other is
    /// written out under the queue's paging id. Either way its content leaves memory
    /// once the store holds it (`release_paged`).
    fn page_if_over_budget(&mut self, index: usize) {
        let over = self.over_budget();
        if !over || !self.backing.can_page() {
            return;
        }
        let r = self.ready.head_entry(index);
        let Some(message) = &r.message else {
            return;
        };
        if r.kept == Kept::No {
            match self.backing.page_out(r.seq, message) {
                Some(id) => {
                    r.store_id = id;
                    r.kept = Kept::Paged;
                }
                None => return,
            }
        }
        r.paging = true;
        self.paging_bytes += r.ram_cost();
        self.paging.push_back((r.seq, r.store_id, r.rank));
    }

    /// Whether the ready messages in memory, less what is on its way to disk, are
    /// over the queue's budget; tells publishers (they slow down to the disk's pace).
    fn over_budget(&self) -> bool {
        let over = self.memory.over(self.ram_in_memory());
        self.queue.set_over_budget(over);
        over
    }

    /// What the ready messages cost in memory, less what is on its way to disk.
    fn ram_in_memory(&self) -> u64 {
        self.ready.ram_bytes() - self.paging_bytes - self.ready.tail_paging_bytes()
    }

    /// Drops from memory the content of paged-out messages the store now holds.
    fn release_paged(&mut self) {
        while let Some(&(seq, id, rank)) = self.paging.front() {
            if !self.backing.holds(id) {
                break;
            }
            self.paging.pop_front();
            // Gone already (delivered, dropped) if it is not there or not paging.
            if let Some(cost) = self.ready.release_paged((rank, seq)) {
                self.paging_bytes -= cost;
            }
        }
        let backing = &self.backing;
        self.ready.release_tail_paged(|id| backing.holds(id));
    }

    pub(crate) fn counts(&self) -> QueueCounts {
        QueueCounts {
            // Messages waiting for a retry are still the queue's.
            ready: (self.ready.len() + self.retrying.len()) as u32,
            unacked: self.unacked.len() as u32,
            consumers: self.consumers.len() as u32,
        }
    }

    /// Takes a batch of published messages, applying the length limits, and records
    /// each outcome for its publisher when it wants a confirm.
    pub(crate) fn publish_batch(
        &mut self,
        messages: Vec<Publish>,
        confirm: Option<ConfirmTo>,
        origin: Option<PublishOrigin>,
    ) {
        for p in messages {
            if let Some(r) = &mut self.records {
                r.published(self.now, &p, origin);
            }
            let Publish {
                message,
                seq,
                position,
                stored,
            } = p;
            let accepted = self.publish_at(position, message, stored);
            if let Some(to) = &confirm {
                self.outgoing(to.connection, &to.outlet)
                    .confirms
                    .push(Confirmation {
                        channel: to.channel,
                        channel_key: to.channel_key,
                        seq,
                        accepted,
                    });
            }
        }
    }

    /// Enqueues one message at a fresh position (tests).
    #[cfg(test)]
    pub(crate) fn publish(&mut self, message: MessageRef) -> bool {
        let position = self.queue.reserve_positions(1);
        self.publish_at(position, message, None)
    }

    /// Enqueues one message at its reserved position; false when the queue refused it
    /// (full, reject-publish).
    fn publish_at(&mut self, seq: u64, message: MessageRef, stored: Option<u64>) -> bool {
        let size = message.body.len() as u64;
        let kept = if stored.is_some() {
            Kept::Durable
        } else {
            Kept::No
        };
        let dedup_key = self.dedup.as_ref().and_then(|_| Dedup::key(&message));
        if let (Some(dedup), Some(key)) = (&self.dedup, &dedup_key) {
            if dedup.is_duplicate(key) {
                // Dropped, and still confirmed: the queue has this message already.
                if let Some(r) = &mut self.records {
                    r.outcome(
                        self.now,
                        seq,
                        EventKind::Dropped {
                            reason: "duplicate".into(),
                        },
                    );
                    r.forget(seq);
                }
                self.backing.gone(kept, seq);
                return true;
            }
        }
        if self.settings.overflow != Overflow::DropHead && self.would_overflow(size) {
            // A waiting consumer may take what is ready and make room: RabbitMQ
            // delivers before it counts.
            self.deliver();
            if self.would_overflow(size) {
                if self.settings.overflow == Overflow::RejectPublishDlx
                    && self.settings.dead_letter_exchange.is_some()
                {
                    self.dead.push(Dead {
                        seq,
                        message,
                        kept,
                        reason: DeathReason::MaxLen,
                    });
                } else {
                    self.record(seq, || EventKind::Dropped {
                        reason: "overflow".into(),
                    });
                    self.gone(kept, seq);
                }
                return false;
            }
        }
        if let (Some(dedup), Some(key)) = (&mut self.dedup, dedup_key) {
            dedup.remember(seq, key);
        }
        let expires_at = self.expiry_for(&message);
        let rank = self.rank_for(&message);
        let placed = self.insert_ready(Ready {
            seq,
            message: Some(message),
            store_id: stored.unwrap_or(0),
            size: size as u32,
            redelivered: false,
            kept,
            paging: false,
            expires_at,
            rank,
        });
        if let Some(index) = placed {
            self.page_if_over_budget(index);
        }
        if self.settings.overflow == Overflow::DropHead {
            self.drop_head_over_limit();
        }
        true
    }

    /// Whether one more message of `size` bytes would exceed a limit.
    fn would_overflow(&self, size: u64) -> bool {
        let len = self.ready.len() as u64;
        self.settings.max_length.is_some_and(|max| len >= max)
            || self
                .settings
                .max_length_bytes
                .is_some_and(|max| self.ready_bytes + size > max)
    }

    fn drop_head_over_limit(&mut self) {
        if self.settings.max_length.is_none() && self.settings.max_length_bytes.is_none() {
            return;
        }
        // Deliver first: a consumer with room takes messages before they are dropped.
        self.deliver();
        loop {
            let over_len = self
                .settings
                .max_length
                .is_some_and(|max| self.ready.len() as u64 > max);
            let over_bytes = self
                .settings
                .max_length_bytes
                .is_some_and(|max| self.ready_bytes > max);
            if !(over_len || over_bytes) {
                break;
            }
            match self.pop_ready() {
                Some(dropped) => self.die(dropped, DeathReason::MaxLen),
                None => break,
            }
        }
    }

    fn pop_ready(&mut self) -> Option<Ready> {
        let r = self.ready.pop_front()?;
        self.ready_bytes -= r.size as u64;
        if r.paging {
            self.paging_bytes -= r.ram_cost();
        }
        Some(r)
    }

    /// Puts a message where its position says: usually the back (new messages) or the
    /// front (requeued ones, older than anything ready); positions reserved by two
    /// publishers at once may arrive in either order. A long queue's newest messages
    /// go to the compact tail, their content to disk when the queue is over its
    /// budget and can page.
    /// Returns the entry's index when it went to the head.
    fn insert_ready(&mut self, mut entry: Ready) -> Option<usize> {
        self.ready_bytes += entry.size as u64;
        if !self.ready.takes_in_tail(&entry) {
            return Some(self.ready.insert_head(entry));
        }
        let mut content = TailContent::Keep;
        if self.over_budget() && self.backing.can_page() {
            match entry.kept {
                Kept::No => {
                    if let Some(id) = entry
                        .message
                        .as_ref()
                        .and_then(|m| self.backing.page_out(entry.seq, m))
                    {
                        entry.store_id = id;
                        entry.kept = Kept::Paged;
                        content = TailContent::Paging;
                    }
                }
                Kept::Durable | Kept::Paged => content = TailContent::Paging,
            }
        }
        self.ready.push_tail(entry, content);
        None
    }

    fn outgoing(&mut self, connection: u64, outlet: &Outlet) -> &mut Outgoing {
        let pos = match self.outbox.iter().position(|o| o.connection == connection) {
            Some(pos) => pos,
            None => {
                self.outbox.push(Outgoing {
                    connection,
                    outlet: outlet.clone(),
                    deliveries: Vec::new(),
                    confirms: Vec::new(),
                });
                self.outbox.len() - 1
            }
        };
        &mut self.outbox[pos]
    }

    pub(crate) fn add_consumer(&mut self, consumer: Consumer) -> CoreResult<()> {
        let in_exclusive_use = self.consumers.iter().any(|c| c.exclusive);
        if in_exclusive_use || (consumer.exclusive && !self.consumers.is_empty()) {
            return Err(CoreError::access_refused(format!(
                "queue '{}' in vhost '{}' in exclusive use",
                self.queue.name, self.queue.vhost
            )));
        }
        // Most queues have one consumer: room for exactly that, not the four a first
        // push makes.
        self.consumers.reserve_exact(1);
        self.consumers.push(consumer);
        self.had_consumers = true;
        self.used();
        Ok(())
    }

    /// Removes a consumer; its unacked messages stay with its channel until settled.
    pub(crate) fn remove_consumer(&mut self, channel: ChannelKey, tag: &str) -> bool {
        let Some(pos) = self
            .consumers
            .iter()
            .position(|c| c.channel == channel && &*c.tag == tag)
        else {
            return false;
        };
        self.consumers.remove(pos);
        if self.next_consumer > pos {
            self.next_consumer -= 1;
        }
        if self.consumers.is_empty() {
            // x-expires counts from the moment the last consumer went.
            self.used();
        }
        true
    }

    /// An auto-delete queue goes when it has had consumers and has none left.
    pub(crate) fn should_auto_delete(&self) -> bool {
        self.queue.auto_delete && self.had_consumers && self.consumers.is_empty()
    }

    pub(crate) fn settle(&mut self, channel: ChannelKey, seqs: Vec<u64>, how: Settle) {
        for seq in seqs {
            let Some(entry) = self.unacked.remove(&seq) else {
                continue;
            };
            if entry.channel != channel {
                // Not this channel's to settle; the channel validated its own tags, so
                // this cannot happen unless a seq was reused. Keep the message.
                self.unacked.insert(seq, entry);
                continue;
            }
            self.release_consumer_slot(&entry);
            self.record(seq, || match how {
                Settle::Ack => EventKind::Acked,
                Settle::Requeue => EventKind::Requeued,
                Settle::Nack => EventKind::Rejected { requeue: true },
                Settle::Discard => EventKind::Rejected { requeue: false },
            });
            match how {
                Settle::Nack if self.settings.retry_delays.is_some() => self.retry(seq, entry),
                Settle::Requeue | Settle::Nack => self.requeue(seq, entry),
                Settle::Ack => self.gone(entry.kept, seq),
                Settle::Discard => self.rejected(seq, entry),
            }
        }
    }

    /// Rejected for good: dead-lettered when the queue has a dead-letter exchange,
    /// dropped otherwise.
    fn rejected(&mut self, seq: u64, entry: Unacked) {
        self.unacked_dies(seq, entry, DeathReason::Rejected);
    }

    /// An unacknowledged message leaves for good: dead-lettered when the queue has a
    /// dead-letter exchange, dropped otherwise.
    fn unacked_dies(&mut self, seq: u64, entry: Unacked, reason: DeathReason) {
        if self.settings.dead_letter_exchange.is_some() {
            self.dead.push(Dead {
                seq,
                message: entry.message,
                kept: entry.kept,
                reason,
            });
        } else {
            if reason != DeathReason::Rejected {
                // A reject is recorded as such when it is settled.
                self.record(seq, || EventKind::Dropped {
                    reason: reason.as_str().to_string(),
                });
            }
            self.gone(entry.kept, seq);
        }
    }

    /// A nack with requeue on a queue with `x-retry-delays`: the message waits out the
    /// delay for its attempt, then is ready again with `x-retry-attempt` (1 for the
    /// first retry) and `x-retry-delay` headers; past the last delay it dies
    /// (`rejected`).
    fn retry(&mut self, seq: u64, entry: Unacked) {
        let delays = self.settings.retry_delays.as_deref().unwrap_or(&[]);
        let done = entry.message.header_count("x-retry-attempt") as usize;
        let Some(&delay) = delays.get(done) else {
            self.rejected(seq, entry);
            return;
        };
        let message = Arc::new(entry.message.with_headers(|headers| {
            headers.insert("x-retry-attempt", FieldValue::I64(done as i64 + 1));
            headers.insert("x-retry-delay", FieldValue::I64(delay as i64));
        }));
        let due = self.now + delay;
        let durable = entry.kept == Kept::Durable;
        let mut ready = self.back_to_ready(seq, entry, message);
        if durable {
            // Stored with its new headers: after a restart it waits out the rest of
            // its delay (its stored time plus `x-retry-delay`).
            if let Some(id) = ready
                .message
                .as_ref()
                .and_then(|m| self.backing.rewrite_durable(seq, m))
            {
                ready.store_id = id;
            }
        }
        self.retrying.insert((due, seq), ready);
    }

    /// An unacked message as a ready one again (redelivered, its deadline kept, as
    /// with RabbitMQ), with `message` as its content.
    fn back_to_ready(&self, seq: u64, entry: Unacked, message: MessageRef) -> Ready {
        Ready {
            seq,
            size: message.body.len() as u32,
            rank: self.rank_for(&message),
            message: Some(message),
            store_id: entry.store_id,
            redelivered: true,
            kept: entry.kept,
            paging: false,
            expires_at: entry.expires_at,
        }
    }

    /// Retries whose delay is over go back to the ready messages.
    pub(crate) fn release_retries(&mut self) {
        while let Some(entry) = self.retrying.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let ready = entry.remove();
            self.insert_ready(ready);
        }
    }

    /// Requeues everything a closed channel held and drops its consumers.
    pub(crate) fn channel_closed(&mut self, channel: ChannelKey) {
        let had = self.consumers.len();
        self.consumers.retain(|c| c.channel != channel);
        if had > 0 && self.consumers.is_empty() {
            self.used();
        }
        if self.next_consumer >= self.consumers.len() {
            self.next_consumer = 0;
        }
        let seqs: Vec<u64> = self
            .unacked
            .iter()
            .filter(|(_, u)| u.channel == channel)
            .map(|(s, _)| *s)
            .collect();
        for seq in seqs {
            if let Some(entry) = self.unacked.remove(&seq) {
                self.record(seq, || EventKind::Requeued);
                self.requeue(seq, entry);
            }
        }
    }

    fn release_consumer_slot(&mut self, entry: &Unacked) {
        if let Some(tag) = &entry.consumer {
            if let Some(c) = self
                .consumers
                .iter_mut()
                .find(|c| c.channel == entry.channel && &c.tag == tag)
            {
                c.unacked = c.unacked.saturating_sub(1);
            }
        }
    }

    /// An unacked message goes back to its place. With `x-delivery-limit` each return
    /// counts (the `x-delivery-count` header, as RabbitMQ's quorum queues write it),
    /// and a message returned more often than the limit dies (`delivery_limit`).
    fn requeue(&mut self, seq: u64, entry: Unacked) {
        let message = match self.settings.delivery_limit {
            None => entry.message.clone(),
            Some(limit) => {
                let returns = entry.message.header_count("x-delivery-count") + 1;
                if returns > limit {
                    self.unacked_dies(seq, entry, DeathReason::DeliveryLimit);
                    return;
                }
                Arc::new(entry.message.with_headers(|headers| {
                    headers.insert("x-delivery-count", FieldValue::I64(returns as i64));
                }))
            }
        };
        let ready = self.back_to_ready(seq, entry, message);
        self.insert_ready(ready);
    }

    pub(crate) fn get(
        &mut self,
        channel: ChannelKey,
        connection: u64,
        no_ack: bool,
    ) -> Option<GetOk> {
        self.used();
        let Taken {
            seq,
            message,
            redelivered,
            store_id,
            kept,
            expires_at,
        } = self.pop_loaded()?;
        if let Some(r) = &mut self.records {
            r.delivered(self.now, seq, connection, 0, None, redelivered, no_ack);
        }
        self.taken(kept, seq, no_ack);
        if !no_ack {
            self.unacked.insert(
                seq,
                Unacked {
                    message: message.clone(),
                    channel,
                    consumer: None,
                    store_id,
                    kept,
                    expires_at,
                },
            );
        }
        self.queue.stats.add_delivered(1, redelivered as usize);
        Some(GetOk {
            seq,
            message,
            redelivered,
            remaining: self.ready.len() as u32,
        })
    }

    /// The next ready message with its content, skipping any the store cannot read.
    /// Expired messages met on the way are dead-lettered (or dropped): only the
    /// strictly past ones, so a TTL of 0 still reaches a consumer waiting this turn.
    fn pop_loaded(&mut self) -> Option<Taken> {
        loop {
            while self.resolve_head_expiry() {}
            let r = self.pop_ready()?;
            if r.expires_at != 0 && r.expires_at < self.now {
                self.die(r, DeathReason::Expired);
                continue;
            }
            if let Some(message) = self.load(&r) {
                return Some(Taken {
                    seq: r.seq,
                    message,
                    redelivered: r.redelivered,
                    store_id: r.store_id,
                    kept: r.kept,
                    expires_at: r.expires_at,
                });
            }
        }
    }

    pub(crate) fn purge(&mut self) -> u32 {
        let ready = self.ready.drain_positions();
        let retrying = std::mem::take(&mut self.retrying).into_values();
        let n = (ready.len() + retrying.len()) as u32;
        for (kept, seq) in ready.into_iter().chain(retrying.map(|r| (r.kept, r.seq))) {
            self.record(seq, || EventKind::Purged);
            self.gone(kept, seq);
        }
        self.ready_bytes = 0;
        self.paging_bytes = 0;
        self.paging.clear();
        n
    }

    pub(crate) fn check_delete(&self, if_unused: bool, if_empty: bool) -> CoreResult<u32> {
        if if_unused && !self.consumers.is_empty() {
            return Err(CoreError::precondition(format!(
                "queue '{}' in vhost '{}' in use",
                self.queue.name, self.queue.vhost
            )));
        }
        if if_empty && !(self.ready.is_empty() && self.retrying.is_empty()) {
            return Err(CoreError::precondition(format!(
                "queue '{}' in vhost '{}' not empty",
                self.queue.name, self.queue.vhost
            )));
        }
        Ok(self.ready.len() as u32)
    }

    /// Tells every consumer's connection that the broker cancelled it.
    pub(crate) fn cancel_all_consumers(&mut self) {
        for c in self.consumers.drain(..) {
            let _ = c.outlet.send(ConnEvent::ConsumerCancelled {
                channel: c.channel_number,
                consumer_tag: c.tag.clone(),
            });
        }
    }

    /// Hands ready messages to consumers with room, round-robin, until either runs out.
    pub(crate) fn deliver(&mut self) {
        if self.consumers.is_empty() {
            return;
        }
        while !self.ready.is_empty() {
            let Some(index) = self.pick_consumer() else {
                break;
            };
            let Some(Taken {
                seq,
                message,
                redelivered,
                store_id,
                kept,
                expires_at,
            }) = self.pop_loaded()
            else {
                // Nothing readable was left: give the credit back.
                let c = &self.consumers[index];
                c.transit.untake();
                if !c.no_ack {
                    c.channel_credit.untake();
                }
                break;
            };
            let consumer = &mut self.consumers[index];
            let no_ack = consumer.no_ack;
            if let Some(r) = &mut self.records {
                r.delivered(
                    self.now,
                    seq,
                    consumer.connection,
                    consumer.channel_number,
                    Some(&*consumer.tag),
                    redelivered,
                    no_ack,
                );
            }
            self.taken(kept, seq, no_ack);
            let consumer = &mut self.consumers[index];
            if !consumer.no_ack {
                consumer.unacked += 1;
                self.unacked.insert(
                    seq,
                    Unacked {
                        message: message.clone(),
                        channel: consumer.channel,
                        consumer: Some(consumer.tag.clone()),
                        store_id,
                        kept,
                        expires_at,
                    },
                );
            }
            let delivery = Delivery {
                channel: consumer.channel_number,
                channel_key: consumer.channel,
                consumer_tag: consumer.tag.clone(),
                queue: Some(self.queue.clone()),
                seq,
                message,
                redelivered,
                no_ack: consumer.no_ack,
            };
            let (connection, outlet) = (consumer.connection, consumer.outlet.clone());
            self.outgoing(connection, &outlet).deliveries.push(delivery);
        }
    }

    /// The consumer that may take a message now: with `x-single-active-consumer`
    /// only the first one (the others wait their turn); otherwise round-robin from
    /// `next_consumer` among those of the highest priority that has room.
    fn pick_consumer(&mut self) -> Option<usize> {
        let n = self.consumers.len();
        if self.settings.single_active_consumer {
            return (n > 0 && self.take_credit(0)).then_some(0);
        }
        let top = self.consumers.iter().map(|c| c.priority).max()?;
        let bottom = self.consumers.iter().map(|c| c.priority).min()?;
        let mut priority = top;
        loop {
            for step in 0..n {
                let index = (self.next_consumer + step) % n;
                if self.consumers[index].priority == priority && self.take_credit(index) {
                    self.next_consumer = (index + 1) % n;
                    return Some(index);
                }
            }
            // The next lower priority present, if any.
            if priority == bottom {
                return None;
            }
            priority = self
                .consumers
                .iter()
                .map(|c| c.priority)
                .filter(|&p| p < priority)
                .max()?;
        }
    }

    /// Whether consumer `index` has room for one more delivery; if so, takes it.
    fn take_credit(&self, index: usize) -> bool {
        let c = &self.consumers[index];
        if !c.has_own_room() {
            return false;
        }
        // Taking credit comes last: it has a side effect.
        if !c.transit.try_take() {
            return false;
        }
        if !c.no_ack && !c.channel_credit.try_take() {
            c.transit.untake();
            return false;
        }
        true
    }

    /// Sends this turn's deliveries and confirms, one batch of each per connection;
    /// pages bodies out if the queue is over its memory budget, and records this
    /// turn's page-outs, deliveries and settlements in the store.
    pub(crate) fn flush(&mut self) {
        self.release_paged();
        let in_memory = self.ram_in_memory();
        self.memory.report(in_memory);
        self.flush_dead();
        if let Some(r) = &mut self.records {
            r.flush();
        }
        self.backing.flush();
        for out in self.outbox.drain(..) {
            if !out.deliveries.is_empty() {
                let redelivered = out.deliveries.iter().filter(|d| d.redelivered).count();
                self.queue
                    .stats
                    .add_delivered(out.deliveries.len(), redelivered);
                let _ = out.outlet.send(ConnEvent::Deliveries(out.deliveries));
            }
            if !out.confirms.is_empty() {
                let _ = out.outlet.send(ConnEvent::Confirms(out.confirms));
            }
        }
    }
}
