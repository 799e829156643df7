//! A queue's turns: take the commands in its mailbox, apply them to its state, then
//! deliver and flush once for all of them. A turn runs wherever the queue's state lock
//! is free: on the queue's own task (`actor.rs`), or right on the task of a publisher,
//! getter or acker that has just sent it a command (`QueueHandle::run_here`). The
//! second saves a hop per message: no wake-up of the queue's task, often on the other
//! CPU, between a publish and its delivery, or between a `basic.get` and its answer.
//!
//! The rules that keep this correct:
//! - Commands are taken from the mailbox only by the holder of the state lock, and
//!   applied before it is released, so they are applied in mailbox order, each once.
//! - The lock is only ever tried (`try_lock`) outside the queue's own task, never
//!   waited on, and nothing waits while holding it: no deadlock, whatever locks the
//!   caller holds.
//! - A sender pushes its command first and tries the lock second. If the lock is
//!   held, the holder looks at the mailbox again after releasing it and runs another
//!   turn (or hands over to the queue's task), so nothing is left behind.
//! - What only the queue's task can do, it still does: sleep until a deadline (a
//!   turn elsewhere that brings the next deadline closer nudges it) and end the queue
//!   (a turn elsewhere that deletes it leaves the rest of the stop to the task).

use super::state::QueueState;
use super::{QueueCmd, QueueHandle};
use crate::mailbox::Receiver;

/// How many commands one turn takes before delivering (bounds latency under load).
pub(super) const BATCH: usize = 256;

/// Turns a sender runs on its own task before it hands what is left to the queue's
/// task: enough for its own command and a little of others', never an unbounded
/// share of other publishers' work.
const HERE_TURNS: usize = 2;

/// Why a queue stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// `queue.delete` (the deleter removes it from its vhost).
    Deleted,
    /// Unused past `x-expires`, or an auto-delete queue lost its last consumer: the
    /// queue's task tells its vhost.
    AutoDelete,
}

/// What a turn did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ran {
    /// Nothing to run on: the queue's task has not made its state yet.
    NotStarted,
    /// Applied what was there; `full` when it took a whole batch (more may wait).
    Turned { full: bool },
    /// The queue has stopped (in this turn or before): only its task finishes it.
    Stopped,
}

/// The queue's state and its mailbox's receiving end, behind the queue's lock.
pub(super) struct Turns {
    /// None until the queue's task has made it (and after the queue ended).
    state: Option<QueueState>,
    inbox: Receiver<QueueCmd>,
    /// The wall-clock ms the queue's task's timer is set for.
    armed: Option<u64>,
    stop: Option<Stop>,
    /// Commands taken in the turn that deleted the queue, after the delete.
    unapplied: Vec<QueueCmd>,
}

impl Turns {
    pub fn new(inbox: Receiver<QueueCmd>) -> Turns {
        Turns {
            state: None,
            inbox,
            armed: None,
            stop: None,
            unapplied: Vec::new(),
        }
    }

    pub fn inbox(&self) -> &Receiver<QueueCmd> {
        &self.inbox
    }

    /// The state the queue's task made; turns run from now on.
    pub fn start(&mut self, state: QueueState) {
        self.state = Some(state);
    }

    /// Sets the queue's timer to its next deadline; returns when that is (wall-clock ms).
    pub fn arm(&mut self) -> Option<u64> {
        self.armed = self.state.as_ref().and_then(|s| s.next_deadline_ms());
        self.armed
    }

    /// Whether the queue now has a deadline before the one its task sleeps until.
    fn deadline_moved_up(&self) -> bool {
        let next = self.state.as_ref().and_then(|s| s.next_deadline_ms());
        match (next, self.armed) {
            (Some(next), Some(armed)) => next < armed,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Runs one turn: up to `BATCH` commands from the mailbox, then deliveries,
    /// expiry and one flush.
    pub fn run(&mut self, queue: &QueueHandle) -> Ran {
        if self.stop.is_some() {
            return Ran::Stopped;
        }
        let Some(state) = self.state.as_mut() else {
            return Ran::NotStarted;
        };
        state.begin_turn();
        state.release_retries();
        if state.lease_expired() {
            // Unused for its x-expires interval: the queue deletes itself.
            state.discard_stored();
            state.flush();
            self.stop = Some(Stop::AutoDelete);
            return Ran::Stopped;
        }
        // Taken into a fresh vector each turn: its storage goes with the turn instead
        // of staying with a queue that may now idle for hours.
        let mut commands = Vec::new();
        let taken = self.inbox.try_recv_many(&mut commands, BATCH);
        let mut commands = commands.into_iter();
        while let Some(cmd) = commands.next() {
            match &cmd {
                QueueCmd::Publish { messages, .. } => {
                    queue.took_published(messages.len());
                    queue.stats.add_published(messages.len());
                }
                QueueCmd::Settle {
                    seqs,
                    how: super::Settle::Ack,
                    ..
                } => queue.stats.add_acked(seqs.len()),
                _ => {}
            }
            if apply(state, cmd) {
                // What else was taken goes unapplied: the queue is gone. Its task
                // answers these with what is left in the mailbox.
                self.unapplied = commands.collect();
                self.stop = Some(Stop::Deleted);
                return Ran::Stopped;
            }
        }
        state.deliver();
        state.expire_head();
        state.flush();
        queue.stats.set_counts(state.counts());
        if state.should_auto_delete() {
            state.discard_stored();
            self.stop = Some(Stop::AutoDelete);
            return Ran::Stopped;
        }
        Ran::Turned {
            full: taken == BATCH,
        }
    }

    /// Ends the queue (its task, once a turn stopped it): flushes, refuses further
    /// commands, and lets the state go. Returns why it stopped and the commands that
    /// were still in the mailbox.
    pub fn finish(&mut self) -> (Option<Stop>, Vec<QueueCmd>, Option<QueueState>) {
        if let Some(state) = self.state.as_mut() {
            state.flush();
        }
        self.inbox.close();
        let mut left = std::mem::take(&mut self.unapplied);
        while self.inbox.try_recv_many(&mut left, usize::MAX) > 0 {}
        // The state holds the queue's handle: letting it go breaks that cycle.
        (self.stop, left, self.state.take())
    }
}

/// Runs the queue's pending turns on the caller's task, after it sent a command,
/// when the queue's lock is free (see the module's rules).
pub(super) fn run_here(queue: &QueueHandle) {
    for _ in 0..HERE_TURNS {
        let Some(mut turns) = queue.turns.try_lock() else {
            // The holder looks at the mailbox after it lets go.
            return;
        };
        let ran = turns.run(queue);
        let nudge = ran == Ran::Stopped || turns.deadline_moved_up();
        drop(turns);
        if nudge {
            queue.nudge_task();
        }
        if matches!(ran, Ran::Stopped | Ran::NotStarted) || !queue.has_commands() {
            return;
        }
    }
    // Still more: the queue's task takes it from here.
    queue.nudge_task();
}

/// Confirms publishes to a queue that no longer exists (RabbitMQ acks them too: the
/// broker has dealt with the message).
pub(super) fn confirm_dropped(to: &super::ConfirmTo, messages: &[super::Publish]) {
    let confirms = messages
        .iter()
        .map(|m| crate::outlet::Confirmation {
            channel: to.channel,
            channel_key: to.channel_key,
            seq: m.seq,
            accepted: true,
        })
        .collect();
    let _ = to.outlet.send(crate::outlet::ConnEvent::Confirms(confirms));
}

/// Applies one command; true when the queue has been deleted and must stop.
fn apply(state: &mut QueueState, cmd: QueueCmd) -> bool {
    match cmd {
        QueueCmd::Publish {
            messages,
            confirm,
            origin,
        } => state.publish_batch(messages, confirm, origin),
        QueueCmd::Consume { consumer, reply } => {
            let _ = reply.send(state.add_consumer(consumer));
        }
        QueueCmd::Cancel {
            channel,
            tag,
            reply,
        } => {
            let existed = state.remove_consumer(channel, &tag);
            // Deliveries made before the cancel must reach the consumer before its
            // cancel-ok does.
            state.flush();
            if let Some(reply) = reply {
                let _ = reply.send(existed);
            }
        }
        QueueCmd::Settle { channel, seqs, how } => state.settle(channel, seqs, how),
        QueueCmd::Get {
            channel,
            connection,
            no_ack,
            reply,
        } => {
            // Deliveries to consumers come first: a get must not jump the queue of
            // messages already promised this turn.
            state.deliver();
            let _ = reply.send(state.get(channel, connection, no_ack));
        }
        QueueCmd::ChannelClosed { channel } => state.channel_closed(channel),
        QueueCmd::Purge { reply } => {
            let _ = reply.send(state.purge());
        }
        QueueCmd::Counts { reply } => {
            state.deliver();
            let _ = reply.send(state.counts());
        }
        QueueCmd::Declared { reply } => {
            state.used();
            state.deliver();
            let _ = reply.send(state.counts());
        }
        QueueCmd::Delete {
            if_unused,
            if_empty,
            reply,
        } => match state.check_delete(if_unused, if_empty) {
            Ok(count) => {
                state.discard_stored();
                state.flush();
                state.cancel_all_consumers();
                let _ = reply.send(Ok(count));
                return true;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        },
        QueueCmd::Wake => {}
        QueueCmd::Settings(settings) => {
            state.apply_settings(*settings);
            state.settings_in_force();
        }
    }
    false
}
