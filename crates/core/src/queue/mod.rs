//! Queues. Everything talks to a queue through `QueueHandle`, whose mailbox keeps the
//! order in which a channel sent its commands. The queue's state (its messages and
//! consumers) sits behind a lock and changes in turns (`turns.rs`), run by the
//! queue's own task (`actor.rs`) or, for publishes, gets and acks, right on the
//! sender's task when the lock is free.

mod actor;
pub mod args;
mod backing;
mod deadletter;
mod dedup;
pub mod memory;
mod ready;
mod records;
mod state;
#[cfg(test)]
mod state_tests;
pub mod stats;
mod turns;

pub use records::PublishOrigin;
pub use state::{Consumer, QueueCounts};
pub use stats::{QueueStats, QueueStatsSnapshot, QueueTotals};

use crate::error::CoreResult;
use crate::message::MessageRef;
use crate::names::Name;
use crate::outlet::{ChannelKey, Outlet};
use amqp_codec::FieldTable;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;
use warren_store::{RecoveredMessage, Store};

pub type QueueRef = Arc<QueueHandle>;

/// What happens to a settled delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Acknowledged: the message is done.
    Ack,
    /// Back to its original position, marked redelivered (`basic.recover`, or a
    /// closed channel).
    Requeue,
    /// Rejected or nacked with requeue: as `Requeue`, except that a queue with
    /// `x-retry-delays` redelivers it after the delay for its attempt.
    Nack,
    /// Rejected without requeue: dropped (later: dead-lettered).
    Discard,
}

/// A message handed out by `basic.get`.
#[derive(Debug)]
pub struct GetOk {
    pub seq: u64,
    pub message: MessageRef,
    pub redelivered: bool,
    /// Messages left in the queue after this one.
    pub remaining: u32,
}

/// Where a queue reports the outcome of publishes that want a confirm.
#[derive(Clone, Debug)]
pub struct ConfirmTo {
    pub outlet: Outlet,
    pub connection: u64,
    pub channel: u16,
    pub channel_key: ChannelKey,
}

/// One published message for a queue; `seq` is the publisher's confirm sequence
/// number (unused without `ConfirmTo`), `position` the queue position the publisher
/// reserved for it (`QueueHandle::reserve_positions`), `stored` the store's id for the
/// message when the publisher wrote it there for this queue (message and `Enqueue`).
#[derive(Debug)]
pub struct Publish {
    pub message: MessageRef,
    pub seq: u64,
    pub position: u64,
    pub stored: Option<u64>,
}

/// The commands a queue's actor takes, in mailbox order.
pub(crate) enum QueueCmd {
    Publish {
        messages: Vec<Publish>,
        confirm: Option<ConfirmTo>,
        /// Only for a queue that records deliveries.
        origin: Option<PublishOrigin>,
    },
    Consume {
        consumer: Consumer,
        reply: oneshot::Sender<CoreResult<()>>,
    },
    Cancel {
        channel: ChannelKey,
        tag: Name,
        reply: Option<oneshot::Sender<bool>>,
    },
    Settle {
        channel: ChannelKey,
        seqs: Vec<u64>,
        how: Settle,
    },
    Get {
        channel: ChannelKey,
        /// The getting connection (0: none, the HTTP API), for delivery records.
        connection: u64,
        no_ack: bool,
        reply: oneshot::Sender<Option<GetOk>>,
    },
    /// The channel is gone: drop its consumers and requeue all it held unacked.
    ChannelClosed {
        channel: ChannelKey,
    },
    Purge {
        reply: oneshot::Sender<u32>,
    },
    Counts {
        reply: oneshot::Sender<QueueCounts>,
    },
    /// Declared again (passive too): counts, and the queue is in use (`x-expires`).
    Declared {
        reply: oneshot::Sender<QueueCounts>,
    },
    Delete {
        if_unused: bool,
        if_empty: bool,
        reply: oneshot::Sender<CoreResult<u32>>,
    },
    /// A channel's shared prefetch window has room again.
    Wake,
    /// A policy changed: the settings the queue acts on from now on.
    Settings(Box<args::QueueSettings>),
}

/// The public face of a queue: its immutable declaration and its mailbox.
pub struct QueueHandle {
    id: u64,
    pub name: Name,
    pub vhost: Name,
    pub durable: bool,
    pub auto_delete: bool,
    /// The connection that owns an exclusive queue.
    pub exclusive_owner: Option<u64>,
    pub arguments: FieldTable,
    mailbox: crate::mailbox::Sender<QueueCmd>,
    /// The queue's state and the mailbox's receiving end (`turns.rs`).
    turns: parking_lot::Mutex<turns::Turns>,
    /// Published messages sent to the mailbox and not yet taken by a turn: the
    /// measure publishers are throttled by.
    backlog: AtomicU64,
    deleted: AtomicBool,
    /// The next free queue position. Publishers reserve positions before they write a
    /// persistent message to the store, so the store and the queue agree on the order.
    next_position: AtomicU64,
    /// The broker's store: where a durable queue keeps its persistent messages, and
    /// where any long queue pages message bodies out to.
    store: Option<Store>,
    /// Durable and not exclusive: persistent messages are kept across restarts.
    persistent: bool,
    /// The broker's account of queue content in memory: when new messages page out.
    memory: memory::QueueMemoryRef,
    /// Over budget: new messages go to disk (publishers then also wait for the store).
    over_budget: AtomicBool,
    /// The queue keeps delivery records: publishers send who they are with each batch.
    recording: AtomicBool,
    /// Settings sent to the actor and not yet applied (1 at the start, until the actor
    /// has its first settings).
    settings_pending: AtomicU32,
    /// The settings in force can refuse a publish (`reject-publish` with a length
    /// limit). With neither this nor pending settings, every publish is accepted, and
    /// a publisher may answer its own confirm (`publish_answered`).
    may_refuse: AtomicBool,
    /// Counters the actor refreshes once per turn, for listings.
    pub stats: QueueStats,
    /// The policies in force, when any apply (most queues have none: kept boxed).
    applied: parking_lot::Mutex<Option<Box<crate::policy::Applied>>>,
}

/// What a queue starts with besides its declaration.
pub(crate) struct QueueStart {
    pub store: Option<Store>,
    pub memory: memory::QueueMemoryRef,
    /// Its messages from the store, in order (after a restart).
    pub recovered: Vec<RecoveredMessage>,
    /// Its settings when a policy applies to it.
    pub resolved: Option<crate::policy::Resolved>,
}

/// How a queue is declared.
#[derive(Clone, Debug)]
pub struct QueueSpec {
    /// Never reused, across restarts too: the store keys a queue's messages by it.
    pub id: u64,
    pub name: Name,
    pub durable: bool,
    pub auto_delete: bool,
    pub exclusive_owner: Option<u64>,
    pub arguments: FieldTable,
}

impl QueueHandle {
    /// Starts the queue's actor. `on_auto_delete` runs (once) when an auto-delete queue
    /// loses its last consumer.
    pub(crate) fn spawn(
        vhost: Name,
        owner: std::sync::Weak<crate::vhost::VHost>,
        spec: QueueSpec,
        start: QueueStart,
        on_auto_delete: Box<dyn FnOnce(QueueRef) + Send>,
    ) -> QueueRef {
        let QueueStart {
            store,
            memory,
            recovered,
            resolved,
        } = start;
        let (tx, rx) = crate::mailbox::channel();
        // Exclusive queues never outlive their connection, so never their broker.
        let persistent = spec.durable && spec.exclusive_owner.is_none();
        let next_position = recovered.last().map_or(1, |m| m.seq + 1);
        let handle = Arc::new(QueueHandle {
            id: spec.id,
            name: spec.name,
            vhost,
            durable: spec.durable,
            auto_delete: spec.auto_delete,
            exclusive_owner: spec.exclusive_owner,
            arguments: spec.arguments,
            mailbox: tx,
            turns: parking_lot::Mutex::new(turns::Turns::new(rx)),
            backlog: AtomicU64::new(0),
            deleted: AtomicBool::new(false),
            next_position: AtomicU64::new(next_position),
            store,
            persistent,
            memory,
            over_budget: AtomicBool::new(false),
            recording: AtomicBool::new(false),
            settings_pending: AtomicU32::new(1),
            may_refuse: AtomicBool::new(true),
            stats: QueueStats::default(),
            applied: parking_lot::Mutex::new(None),
        });
        let settings = resolved.map(|r| {
            *handle.applied.lock() = Some(Box::new(r.applied));
            r.settings
        });
        actor::spawn(handle.clone(), owner, recovered, settings, on_auto_delete);
        handle
    }

    /// A handle whose mailbox goes nowhere, for testing `QueueState` directly.
    #[cfg(test)]
    pub(crate) fn detached(name: &str, auto_delete: bool) -> QueueRef {
        let (tx, rx) = crate::mailbox::channel();
        Arc::new(QueueHandle {
            id: 1,
            name: Name::from(name),
            vhost: Name::from("/"),
            durable: false,
            auto_delete,
            exclusive_owner: None,
            arguments: FieldTable::new(),
            mailbox: tx,
            turns: parking_lot::Mutex::new(turns::Turns::new(rx)),
            backlog: AtomicU64::new(0),
            deleted: AtomicBool::new(false),
            next_position: AtomicU64::new(1),
            store: None,
            persistent: false,
            memory: memory::QueueMemory::unlimited(),
            over_budget: AtomicBool::new(false),
            recording: AtomicBool::new(false),
            settings_pending: AtomicU32::new(1),
            may_refuse: AtomicBool::new(true),
            stats: QueueStats::default(),
            applied: parking_lot::Mutex::new(None),
        })
    }

    /// The policy and operator policy in force, and the definition they make.
    pub fn applied_policies(&self) -> Option<crate::policy::Applied> {
        self.applied.lock().as_deref().cloned()
    }

    /// Re-resolves the queue's settings after a policy change; tells the actor when
    /// a policy applies now or applied before.
    pub(crate) fn reapply_policies(&self, policies: &crate::policy::Policies) {
        let from_args =
            args::parse_queue_args(&self.arguments, &self.name, &self.vhost).unwrap_or_default();
        let resolved =
            crate::policy::resolve_queue(&self.name, &self.arguments, &from_args, policies);
        let mut applied = self.applied.lock();
        let none_now = resolved.applied == crate::policy::Applied::default();
        if applied.is_none() && none_now {
            return;
        }
        if applied.as_deref() == Some(&resolved.applied) {
            return;
        }
        *applied = (!none_now).then(|| Box::new(resolved.applied));
        // Counted before the send: a publisher that finds no settings pending knows
        // none is ahead of its publish in the mailbox.
        self.settings_pending.fetch_add(1, Ordering::SeqCst);
        let _ = self
            .mailbox
            .send(QueueCmd::Settings(Box::new(resolved.settings)));
    }

    /// The declaration that recreates this queue.
    pub fn spec(&self) -> QueueSpec {
        QueueSpec {
            id: self.id,
            name: self.name.clone(),
            durable: self.durable,
            auto_delete: self.auto_delete,
            exclusive_owner: self.exclusive_owner,
            arguments: self.arguments.clone(),
        }
    }

    /// Reserves `n` consecutive positions; returns the first.
    pub fn reserve_positions(&self, n: usize) -> u64 {
        self.next_position.fetch_add(n as u64, Ordering::Relaxed)
    }

    /// The store, when this queue keeps persistent messages there (durable and not
    /// exclusive, on a broker with storage).
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref().filter(|_| self.persistent)
    }

    /// The broker's account of queue content in memory (`memory.rs`): past its
    /// limits, new messages go to disk until consumers have caught up.
    pub fn memory(&self) -> &memory::QueueMemoryRef {
        &self.memory
    }

    /// Whether new messages currently page out (the queue, or the broker, is over
    /// its paging limit).
    pub fn over_budget(&self) -> bool {
        self.over_budget.load(Ordering::Relaxed)
    }

    pub(crate) fn set_over_budget(&self, over: bool) {
        if self.over_budget.load(Ordering::Relaxed) != over {
            self.over_budget.store(over, Ordering::Relaxed);
        }
    }

    /// Whether the queue keeps delivery records (`x-delivery-records`), so a
    /// publisher should say who it is (`publish`'s `origin`).
    pub fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    pub(crate) fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// The store this queue pages bodies out to when it grows long (any queue on a
    /// broker with storage).
    pub fn page_store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Published messages on their way into the queue (in its mailbox). A publisher
    /// that finds it high should pause: the queue is not keeping up.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    pub(crate) fn took_published(&self, n: usize) {
        self.backlog.fetch_sub(n as u64, Ordering::Relaxed);
    }

    /// The actor applied a settings command: whether those settings can refuse a
    /// publish.
    pub(crate) fn settings_applied(&self, may_refuse: bool) {
        self.may_refuse.store(may_refuse, Ordering::SeqCst);
        self.settings_pending.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
    }

    fn send(&self, cmd: QueueCmd) {
        // A closed mailbox means the queue is gone; what was sent to it goes with it.
        let _ = self.mailbox.send(cmd);
    }

    /// Sends `cmd` and runs the queue's turn on this task when the queue's lock is
    /// free (`turns.rs`); else whoever holds it takes the command.
    fn send_here(&self, cmd: QueueCmd) {
        if self.mailbox.send_quiet(cmd).is_ok() {
            self.run_here();
        }
    }

    fn run_here(&self) {
        turns::run_here(self);
    }

    /// Wakes the queue's task: it has work a turn elsewhere left to it.
    fn nudge_task(&self) {
        self.mailbox.nudge();
    }

    fn has_commands(&self) -> bool {
        self.mailbox.has_queued()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> QueueCmd) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx));
        rx.await.ok()
    }

    /// As `ask`, answered on this task when the queue's lock is free.
    async fn ask_here<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> QueueCmd) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.send_here(make(tx));
        rx.await.ok()
    }

    /// Hands the queue a batch of messages. With `confirm`, the queue reports each
    /// message's outcome (accepted, or refused because the queue is full) there.
    /// `origin` is who published them, wanted only by a queue that is `recording`.
    /// The queue's task takes the batch (see `publish_here`).
    pub fn publish(
        &self,
        messages: Vec<Publish>,
        confirm: Option<ConfirmTo>,
        origin: Option<PublishOrigin>,
    ) {
        self.publish_via(messages, confirm, origin, false)
    }

    /// As `publish`, with the queue's turn run on this task when its lock is free:
    /// for publishers that hold no lock of their own (connections), not for a queue
    /// dead-lettering into another from inside its own turn.
    pub fn publish_here(
        &self,
        messages: Vec<Publish>,
        confirm: Option<ConfirmTo>,
        origin: Option<PublishOrigin>,
    ) {
        self.publish_via(messages, confirm, origin, true)
    }

    fn publish_via(
        &self,
        messages: Vec<Publish>,
        confirm: Option<ConfirmTo>,
        origin: Option<PublishOrigin>,
        here: bool,
    ) {
        self.backlog
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        self.send_publish(
            || QueueCmd::Publish {
                messages,
                confirm,
                origin,
            },
            here,
        );
    }

    /// Sends the publish `make` builds under the mailbox's lock (waking the queue's
    /// task, or with `here` running its turn on this task); a queue already gone
    /// confirms it: its messages went with it, and that is their outcome.
    fn send_publish(&self, make: impl FnOnce() -> QueueCmd, here: bool) {
        let sent = if here {
            self.mailbox.send_with_quiet(make)
        } else {
            self.mailbox.send_with(make)
        };
        match sent {
            Ok(()) if here => self.run_here(),
            Ok(()) => {}
            Err(crate::mailbox::SendError(QueueCmd::Publish {
                messages,
                confirm: Some(to),
                ..
            })) => turns::confirm_dropped(&to, &messages),
            Err(_) => {}
        }
    }

    /// As `publish` for a publisher in confirm mode, except that when the queue is sure
    /// to accept the batch (no settings that could refuse it are in force or on their
    /// way, decided under the mailbox's lock) the batch goes without `confirm` and the
    /// answer is true: the publisher counts each message as accepted by this queue
    /// itself, without waiting for the queue's word. That saves a round trip through
    /// the queue per confirm. The outcome is the same: such a queue accepts every
    /// publish, and a queue already gone is confirmed too (`confirm_dropped`). With
    /// `here`, as `publish_here`.
    pub fn publish_answered(
        &self,
        messages: Vec<Publish>,
        confirm: ConfirmTo,
        origin: Option<PublishOrigin>,
        here: bool,
    ) -> bool {
        self.backlog
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        let mut answered = false;
        let make = || {
            answered = self.settings_pending.load(Ordering::SeqCst) == 0
                && !self.may_refuse.load(Ordering::SeqCst);
            QueueCmd::Publish {
                messages,
                confirm: (!answered).then_some(confirm),
                origin,
            }
        };
        self.send_publish(make, here);
        answered
    }

    pub async fn consume(&self, consumer: Consumer) -> CoreResult<()> {
        let name = self.name.clone();
        let vhost = self.vhost.clone();
        self.ask(|reply| QueueCmd::Consume { consumer, reply })
            .await
            .unwrap_or_else(|| Err(crate::error::CoreError::not_found("queue", &name, &vhost)))
    }
    /// Cancels a consumer; true if it existed.
    pub async fn cancel(&self, channel: ChannelKey, tag: Name) -> bool {
        self.ask(|reply| QueueCmd::Cancel {
            channel,
            tag,
            reply: Some(reply),
        })
        .await
        .unwrap_or(false)
    }
    /// Cancels without waiting for the answer.
    pub fn cancel_nowait(&self, channel: ChannelKey, tag: Name) {
        self.send(QueueCmd::Cancel {
            channel,
            tag,
            reply: None,
        });
    }
    /// Settles deliveries; the turn that frees their room (and delivers more) runs on
    /// this task when the queue's lock is free.
    pub fn settle(&self, channel: ChannelKey, seqs: Vec<u64>, how: Settle) {
        self.send_here(QueueCmd::Settle { channel, seqs, how });
    }
    /// `basic.get` on `channel` of `connection` (0 for none: the HTTP API).
    /// Answered on this task when the queue's lock is free.
    pub async fn get(&self, channel: ChannelKey, connection: u64, no_ack: bool) -> Option<GetOk> {
        self.ask_here(|reply| QueueCmd::Get {
            channel,
            connection,
            no_ack,
            reply,
        })
        .await
        .flatten()
    }
    pub fn channel_closed(&self, channel: ChannelKey) {
        self.send(QueueCmd::ChannelClosed { channel });
    }
    pub async fn purge(&self) -> u32 {
        self.ask(|reply| QueueCmd::Purge { reply })
            .await
            .unwrap_or(0)
    }
    pub async fn counts(&self) -> QueueCounts {
        self.ask(|reply| QueueCmd::Counts { reply })
            .await
            .unwrap_or_default()
    }
    /// A declare found this queue: its counts; renews an `x-expires` lease.
    pub async fn declared(&self) -> QueueCounts {
        self.ask(|reply| QueueCmd::Declared { reply })
            .await
            .unwrap_or_default()
    }
    /// Asks the queue to stop; returns the number of messages it held. The caller
    /// removes it from its vhost.
    pub(crate) async fn delete(&self, if_unused: bool, if_empty: bool) -> CoreResult<u32> {
        self.ask(|reply| QueueCmd::Delete {
            if_unused,
            if_empty,
            reply,
        })
        .await
        .unwrap_or(Ok(0))
    }
    pub fn wake(&self) {
        self.send(QueueCmd::Wake);
    }
}

impl PartialEq for QueueHandle {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for QueueHandle {}
impl Hash for QueueHandle {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}
impl std::fmt::Debug for QueueHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "queue '{}' in vhost '{}'", self.name, self.vhost)
    }
}
