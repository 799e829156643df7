//! The delayed-message exchange: type `x-delayed-message` with the routing type in
//! `x-delayed-type`, and a per-message `x-delay` header in milliseconds, as RabbitMQ's
//! delayed-message plugin has it. A message with a positive `x-delay` is held and
//! routed through the exchange's bindings when it is due (bindings as they are then);
//! one without, or with zero or a negative delay, is routed at once.
//!
//! Unlike the plugin, which keeps every pending message in memory, the exchange's
//! actor (`Delayer`) writes each held message to the store and keeps only a 16-byte
//! index entry per message in memory (position and store id, in sorted chunks), plus
//! the first few MiB of messages, counted with what a `Message` costs beyond its
//! body: millions can wait. Positions in the store are numbered by due time (`due_ms << 20 | n`), so
//! after a restart the store hands them back already in due order. A durable
//! exchange keeps persistent messages across restarts under its own store id (logged
//! with the exchange); transient messages, and everything a transient exchange holds,
//! go under a store id no record names, which recovery drops.
//!
//! A publisher's confirm waits for the store append of the held message. Due messages
//! go through the same `PublishBatches` path as any publish; the held position's
//! `Ack` is written after the copies' `Enqueue`s, so a crash in between delivers a
//! message twice rather than never.

use super::{Publisher, VHost};
use crate::message::{Message, MessageRef, MAX_TTL_MS};
use crate::names::Name;
use crate::outlet::{Confirmation, ConnEvent};
use crate::publish_batch::PublishBatches;
use crate::queue::{ConfirmTo, QueueRef};
use amqp_codec::{FieldTable, FieldValue};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;
use warren_store::{Keyed, Record, RecoveredMessage, SortedChunks, Store};

/// Held messages kept in memory, counted by [`ram_cost`] (beyond it they are read
/// back from the store when due).
const RAM_BUDGET: u64 = 8 << 20;
/// What an in-memory held message costs beyond its body and properties: the
/// `Message` and its `Arc` counts, the `in_memory` map's slot, allocator headers.
const MESSAGE_OVERHEAD: u64 = std::mem::size_of::<Message>() as u64 + 64;
/// Due messages routed per turn before the actor looks at its mailbox again.
const RELEASE_BATCH: usize = 4096;
/// How long before their due time messages held only in the store are read back
/// (off the actor, in a blocking task), so that they go on time.
const READ_AHEAD_MS: u64 = 500;
/// Messages read back per blocking task (one runs at a time).
const READ_AHEAD_BATCH: usize = 4096;
/// Commands taken per turn.
const MAILBOX_BATCH: usize = 512;
/// Low bits of a store position: the order among messages due in the same ms.
const DUE_SHIFT: u32 = 20;

/// The delay of a message: its `x-delay` header, when positive (capped at ten years).
pub fn delay_of(headers: &FieldTable) -> Option<u64> {
    let delay = headers.get("x-delay").and_then(FieldValue::as_i64)?;
    (delay > 0).then(|| (delay as u64).min(MAX_TTL_MS))
}

enum DelayCmd {
    Hold {
        message: MessageRef,
        due: u64,
        confirm: Option<(ConfirmTo, u64)>,
    },
    /// Recovery is over (or the exchange was declared at run time): bindings exist,
    /// due messages may go.
    Start,
    /// The exchange is deleted: everything it holds goes.
    Delete,
    /// Messages read ahead from the store, by position.
    Loaded(Vec<(u64, MessageRef)>),
}

/// The handle an exchange of type `x-delayed-message` keeps to its actor.
pub struct Delayer {
    mailbox: mpsc::UnboundedSender<DelayCmd>,
    held: Arc<AtomicU64>,
}

impl Delayer {
    /// Starts the actor for exchange `exchange` of `vhost`. `store_id` is where its
    /// persistent messages live when the exchange is durable; `recovered` what the
    /// store kept there.
    pub(crate) fn spawn(
        vhost: Weak<VHost>,
        exchange: Name,
        store: Option<Store>,
        store_id: u64,
        durable: bool,
        recovered: Vec<RecoveredMessage>,
    ) -> Delayer {
        let (tx, rx) = mpsc::unbounded_channel();
        let own_mailbox = tx.downgrade();
        let held = Arc::new(AtomicU64::new(recovered.len() as u64));
        let mut state = DelayState {
            vhost,
            exchange,
            durable_id: (durable && store.is_some()).then_some(store_id),
            transient_id: (!durable).then_some(store_id),
            store,
            pending: SortedChunks::new(),
            in_memory: HashMap::new(),
            ram_bytes: 0,
            last_position: 0,
            unstored: Vec::new(),
            new_records: Vec::new(),
            confirms: Vec::new(),
            held: held.clone(),
            publisher: None,
            own_mailbox,
            reading: false,
            read_to: 0,
        };
        for m in recovered {
            // In position order: each lands at the end of the last chunk.
            state.pending.insert(Held {
                position: m.seq,
                slot: m.id,
            });
        }
        tokio::spawn(state.run(rx));
        Delayer { mailbox: tx, held }
    }

    /// Holds `message` for `delay` ms; `confirm` (with the publisher's sequence
    /// number) is answered once the message is stored.
    pub fn hold(&self, message: MessageRef, delay: u64, confirm: Option<(ConfirmTo, u64)>) {
        let due = now_ms() + delay;
        self.held.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::error::SendError(DelayCmd::Hold {
            confirm: Some((to, seq)),
            ..
        })) = self.mailbox.send(DelayCmd::Hold {
            message,
            due,
            confirm,
        }) {
            // The exchange is gone; the publisher still hears back.
            confirm_all(vec![(to, seq)], true);
        }
    }

    /// Lets due messages go (after recovery has rebuilt the bindings).
    pub(crate) fn start(&self) {
        let _ = self.mailbox.send(DelayCmd::Start);
    }

    pub(crate) fn delete(&self) {
        let _ = self.mailbox.send(DelayCmd::Delete);
    }

    /// Messages waiting for their time.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

/// Where the store keeps a held message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kept {
    /// Nowhere: the broker runs without storage.
    No,
    /// Under the durable exchange's id: survives a restart.
    Durable,
    /// Under an id no metadata names: forgotten at restart.
    Transient,
}

/// Set in `Held::slot` when the message is kept under the transient id (store ids
/// are a counter from 1 and never reach it).
const TRANSIENT_BIT: u64 = 1 << 63;

/// A held message in the index: 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    /// Store position: due time, then arrival.
    position: u64,
    /// The store's message id, with `TRANSIENT_BIT` (0 without storage).
    slot: u64,
}

impl Held {
    fn store_id(&self) -> u64 {
        self.slot & !TRANSIENT_BIT
    }

    fn kept(&self, store: Option<&Store>) -> Kept {
        match (store, self.slot & TRANSIENT_BIT != 0) {
            (None, _) => Kept::No,
            (Some(_), true) => Kept::Transient,
            (Some(_), false) => Kept::Durable,
        }
    }
}

impl Keyed for Held {
    fn key(&self) -> u64 {
        self.position
    }
}

/// What a held message costs in memory while it is kept there.
fn ram_cost(message: &Message) -> u64 {
    (message.body.len() + message.properties.len() + message.routing_key.len()) as u64
        + MESSAGE_OVERHEAD
}

struct DelayState {
    vhost: Weak<VHost>,
    exchange: Name,
    store: Option<Store>,
    /// Where persistent messages of a durable exchange go.
    durable_id: Option<u64>,
    /// Where everything else goes (made on first use for a durable exchange).
    transient_id: Option<u64>,
    /// By store position: due time, then arrival.
    pending: SortedChunks<Held>,
    /// By position, the held messages whose body is in memory: all of them without
    /// storage, else the first `RAM_BUDGET` (and those not yet written).
    in_memory: HashMap<u64, MessageRef>,
    /// What `in_memory` costs, by [`ram_cost`].
    ram_bytes: u64,
    last_position: u64,
    /// Positions whose body is in memory only until the store has written it.
    unstored: Vec<u64>,
    /// This turn's holds, for one store append.
    new_records: Vec<Record>,
    /// This turn's confirms, answered when that append is durable.
    confirms: Vec<(ConfirmTo, u64)>,
    held: Arc<AtomicU64>,
    publisher: Option<Box<Publisher>>,
    /// For read-ahead results (weak: the actor ends when the exchange drops it).
    own_mailbox: mpsc::WeakUnboundedSender<DelayCmd>,
    /// A read-ahead task is running.
    reading: bool,
    /// Positions below it were read ahead (or were in memory) when last looked at.
    read_to: u64,
}

impl DelayState {
    async fn run(mut self, mut mailbox: mpsc::UnboundedReceiver<DelayCmd>) {
        let mut started = false;
        let mut commands = Vec::new();
        loop {
            let next_due = if started { self.next_wake() } else { None };
            let received = match next_due {
                None => mailbox.recv_many(&mut commands, MAILBOX_BATCH).await,
                Some(due) => {
                    let wait = due.saturating_sub(now_ms());
                    let at = tokio::time::Instant::now() + std::time::Duration::from_millis(wait);
                    tokio::select! {
                        n = mailbox.recv_many(&mut commands, MAILBOX_BATCH) => n,
                        _ = tokio::time::sleep_until(at) => usize::MAX,
                    }
                }
            };
            if received == 0 {
                break;
            }
            for cmd in commands.drain(..) {
                match cmd {
                    DelayCmd::Hold {
                        message,
                        due,
                        confirm,
                    } => self.hold(message, due, confirm),
                    DelayCmd::Start => started = true,
                    DelayCmd::Loaded(loaded) => self.loaded(loaded),
                    DelayCmd::Delete => {
                        self.discard();
                        return;
                    }
                }
            }
            self.store_holds();
            if started && !self.release_due() {
                // The exchange is gone from under us.
                self.discard();
                return;
            }
            self.forget_stored_bodies();
            if started {
                self.read_ahead();
            }
            if started && self.due_now() {
                tokio::task::yield_now().await;
            }
        }
    }

    /// When the actor must next act by itself: the first due time, or earlier to
    /// read ahead what is due next.
    fn next_wake(&self) -> Option<u64> {
        let due = self.pending.first()?.position >> DUE_SHIFT;
        if self.reading || self.store.is_none() {
            return Some(due);
        }
        let next_unread = self.pending.iter_from(self.read_to).next();
        let read_at = next_unread.map(|h| (h.position >> DUE_SHIFT).saturating_sub(READ_AHEAD_MS));
        Some(read_at.map_or(due, |at| at.min(due)))
    }

    /// Starts reading back (in a blocking task) the messages due within
    /// `READ_AHEAD_MS` that only the store has.
    fn read_ahead(&mut self) {
        if self.reading {
            return;
        }
        let Some(store) = &self.store else {
            return;
        };
        let horizon = ((now_ms() + READ_AHEAD_MS + 1) << DUE_SHIFT).saturating_sub(1);
        let mut wanted = Vec::new();
        let mut read_to = self.read_to;
        for held in self.pending.iter_from(self.read_to) {
            if held.position > horizon || wanted.len() >= READ_AHEAD_BATCH {
                break;
            }
            read_to = held.position + 1;
            if !self.in_memory.contains_key(&held.position) {
                wanted.push((held.position, held.store_id()));
            }
        }
        self.read_to = read_to;
        if wanted.is_empty() {
            return;
        }
        let Some(mailbox) = self.own_mailbox.upgrade() else {
            return;
        };
        self.reading = true;
        let store = store.clone();
        let exchange = self.exchange.clone();
        tokio::task::spawn_blocking(move || {
            let loaded = wanted
                .into_iter()
                .filter_map(|(position, id)| {
                    load(Some(&store), &exchange, id).map(|m| (position, m))
                })
                .collect();
            let _ = mailbox.send(DelayCmd::Loaded(loaded));
        });
    }

    /// Read-ahead results: kept for the positions still held (those released in
    /// the meantime were read again on the spot).
    fn loaded(&mut self, loaded: Vec<(u64, MessageRef)>) {
        self.reading = false;
        for (position, message) in loaded {
            if self.pending.contains(position) && !self.in_memory.contains_key(&position) {
                self.ram_bytes += ram_cost(&message);
                self.in_memory.insert(position, message);
            }
        }
    }

    /// A store position for a message due at `due`: after every position taken for
    /// the same millisecond.
    fn position(&mut self, due: u64) -> u64 {
        let base = due << DUE_SHIFT;
        let mut position = if self.last_position >> DUE_SHIFT == due {
            self.last_position + 1
        } else {
            base
        };
        while self.pending.contains(position) {
            position += 1;
        }
        self.last_position = position;
        position
    }

    fn hold(&mut self, message: MessageRef, due: u64, confirm: Option<(ConfirmTo, u64)>) {
        let position = self.position(due);
        let (kept, slot) = match &self.store {
            None => (Kept::No, 0),
            Some(store) => {
                let (kept, queue) = match self.durable_id {
                    Some(id) if message.persistent => (Kept::Durable, id),
                    _ => (
                        Kept::Transient,
                        *self
                            .transient_id
                            .get_or_insert_with(|| store.new_message_id()),
                    ),
                };
                let id = store.new_message_id();
                self.new_records.push(Record::Message {
                    id,
                    data: message.encode_stored(),
                });
                self.new_records.push(Record::Enqueue {
                    queue,
                    seq: position,
                    message: id,
                });
                let bit = if kept == Kept::Transient {
                    TRANSIENT_BIT
                } else {
                    0
                };
                (kept, id | bit)
            }
        };
        if kept != Kept::No {
            self.unstored.push(position);
        }
        self.ram_bytes += ram_cost(&message);
        self.in_memory.insert(position, message);
        self.pending.insert(Held { position, slot });
        if let Some(confirm) = confirm {
            self.confirms.push(confirm);
        }
    }

    /// One append for this turn's holds; their confirms go when it is durable.
    fn store_holds(&mut self) {
        let confirms = std::mem::take(&mut self.confirms);
        let records = std::mem::take(&mut self.new_records);
        match (&self.store, records.is_empty()) {
            (Some(store), false) => {
                let ticket = store.append(records);
                if !confirms.is_empty() {
                    tokio::spawn(async move {
                        let stored = ticket.await;
                        if let Err(e) = &stored {
                            tracing::warn!("delayed messages not stored (nacked): {e}");
                        }
                        confirm_all(confirms, stored.is_ok());
                    });
                }
            }
            _ => confirm_all(confirms, true),
        }
    }

    fn due_now(&self) -> bool {
        self.pending
            .first()
            .is_some_and(|h| h.position >> DUE_SHIFT <= now_ms())
    }

    /// Routes what is due (up to a batch). False when the exchange no longer exists.
    fn release_due(&mut self) -> bool {
        let now = now_ms();
        let mut due = Vec::new();
        while due.len() < RELEASE_BATCH {
            match self.pending.first() {
                Some(h) if h.position >> DUE_SHIFT <= now => {
                    due.extend(self.pending.pop_first());
                }
                _ => break,
            }
        }
        if due.is_empty() {
            return true;
        }
        self.held.fetch_sub(due.len() as u64, Ordering::Relaxed);
        let Some(vhost) = self.vhost.upgrade() else {
            return false;
        };
        let publisher = self.publisher.get_or_insert_with(|| {
            // The publisher's write permission was checked when it published.
            let access = crate::access::Access::unrestricted(&vhost.name);
            Box::new(Publisher::new(vhost, access))
        });
        let Ok(exchange) = publisher.exchange(&self.exchange) else {
            return false;
        };
        let mut batches = PublishBatches::default();
        let mut queues: Vec<QueueRef> = Vec::new();
        let mut acked_durable = Vec::new();
        let mut acked_transient = Vec::new();
        for held in due {
            let position = held.position;
            match held.kept(self.store.as_ref()) {
                Kept::No => {}
                Kept::Durable => acked_durable.push(position),
                Kept::Transient => acked_transient.push(position),
            }
            let message = match self.in_memory.remove(&position) {
                Some(m) => {
                    self.ram_bytes -= ram_cost(&m);
                    m
                }
                None => match load(self.store.as_ref(), &self.exchange, held.store_id()) {
                    Some(m) => m,
                    None => continue,
                },
            };
            queues.clear();
            for key in routing_keys(&message) {
                publisher.route_released(&exchange, &key, &message.properties, &mut queues);
            }
            for (next, delay) in publisher.take_delayed() {
                if let Some(delayer) = next.delayer() {
                    delayer.hold(message.clone(), delay, None);
                }
            }
            for queue in queues.drain(..) {
                batches.add(queue, message.clone(), 0);
            }
        }
        let mut trailing = Vec::new();
        if let Some(queue) = self.durable_id.filter(|_| !acked_durable.is_empty()) {
            trailing.push(Record::Ack {
                queue,
                seqs: acked_durable,
            });
        }
        if let Some(queue) = self.transient_id.filter(|_| !acked_transient.is_empty()) {
            trailing.push(Record::Ack {
                queue,
                seqs: acked_transient,
            });
        }
        drop(batches.flush(None, &mut trailing, |_| {}));
        if let (Some(store), false) = (&self.store, trailing.is_empty()) {
            drop(store.append(trailing));
        }
        true
    }
}

/// Reads a held message back from the store.
fn load(store: Option<&Store>, exchange: &Name, id: u64) -> Option<MessageRef> {
    {
        let store = store?;
        let loaded = store
            .read_by_id(id)
            .map_err(|e| e.to_string())
            .and_then(Message::decode_stored_at);
        match loaded {
            Ok((message, _)) => Some(Arc::new(message)),
            Err(e) => {
                tracing::error!(
                    "delayed message {id} of exchange {exchange:?} unreadable, dropped: {e}"
                );
                None
            }
        }
    }
}

impl DelayState {
    /// Over the memory budget, messages the store has written leave memory.
    fn forget_stored_bodies(&mut self) {
        if self.ram_bytes <= RAM_BUDGET || self.unstored.is_empty() {
            return;
        }
        let Some(store) = &self.store else {
            return;
        };
        let mut keep = Vec::new();
        for position in std::mem::take(&mut self.unstored) {
            // Under the budget, or due within the read-ahead: stays.
            if self.ram_bytes <= RAM_BUDGET || position < self.read_to {
                continue;
            }
            let Some(held) = self.pending.get(position) else {
                continue;
            };
            if store.holds(held.store_id()) {
                if let Some(m) = self.in_memory.remove(&position) {
                    self.ram_bytes -= ram_cost(&m);
                }
            } else {
                keep.push(position);
            }
        }
        self.unstored = keep;
    }

    /// The exchange is gone: so is everything it held.
    fn discard(&mut self) {
        self.held.store(0, Ordering::Relaxed);
        confirm_all(std::mem::take(&mut self.confirms), true);
        let Some(store) = &self.store else {
            return;
        };
        let mut records = std::mem::take(&mut self.new_records);
        for queue in [self.durable_id, self.transient_id].into_iter().flatten() {
            records.push(Record::QueueDeleted { queue });
        }
        drop(store.append(records));
    }
}

/// The keys a due message is routed by: its own, its `CC` header's, and the `BCC`
/// keys it was published with.
fn routing_keys(message: &Message) -> Vec<String> {
    let mut keys = vec![message.routing_key.to_string()];
    let headers = amqp_codec::scan_properties(&message.properties)
        .ok()
        .and_then(|view| view.headers.map(amqp_codec::decode_table))
        .and_then(Result::ok);
    if let Some(FieldValue::Array(cc)) = headers.as_ref().and_then(|h| h.get("CC")) {
        keys.extend(cc.iter().filter_map(|k| k.as_str().map(str::to_string)));
    }
    if let Some(bcc) = &message.bcc {
        keys.extend(bcc.iter().cloned());
    }
    keys
}

/// Answers publishers, one event per run of confirms for the same channel.
fn confirm_all(confirms: Vec<(ConfirmTo, u64)>, accepted: bool) {
    let mut run: Vec<Confirmation> = Vec::new();
    let mut run_to: Option<ConfirmTo> = None;
    for (to, seq) in confirms {
        if run_to
            .as_ref()
            .is_some_and(|r| r.channel_key != to.channel_key)
        {
            if let Some(r) = run_to.take() {
                let _ = r.outlet.send(ConnEvent::Confirms(std::mem::take(&mut run)));
            }
        }
        run.push(Confirmation {
            channel: to.channel,
            channel_key: to.channel_key,
            seq,
            accepted,
        });
        run_to = Some(to);
    }
    if let Some(r) = run_to {
        let _ = r.outlet.send(ConnEvent::Confirms(run));
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
