//! What queues send to the connections of their consumers.
//!
//! Each connection has one inbox (`Outlet`). A queue batches the deliveries it makes in
//! one turn per connection and sends each batch in one message, so a connection wakes
//! once per batch, not once per message.

use crate::message::MessageRef;
use crate::names::Name;
use crate::queue::QueueRef;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// Identifies one channel across the broker, for as long as it is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelKey(pub u64);

/// One message handed to a consumer (or to `basic.get`).
#[derive(Debug)]
pub struct Delivery {
    pub channel: u16,
    /// The channel the delivery is for; a reopened channel with the same number has
    /// another key, so deliveries meant for its predecessor are recognised.
    pub channel_key: ChannelKey,
    pub consumer_tag: Name,
    /// None for direct reply-to deliveries, which belong to no queue.
    pub queue: Option<QueueRef>,
    /// The queue's sequence number for the message; acks name it.
    pub seq: u64,
    pub message: MessageRef,
    pub redelivered: bool,
    /// No ack will come: the queue has already forgotten the message.
    pub no_ack: bool,
}

/// A queue's word on one confirmed publish.
#[derive(Clone, Copy, Debug)]
pub struct Confirmation {
    pub channel: u16,
    pub channel_key: ChannelKey,
    pub seq: u64,
    /// False when the queue refused the message (`x-overflow=reject-publish`).
    pub accepted: bool,
}

/// Events for a connection's task.
#[derive(Debug)]
pub enum ConnEvent {
    Deliveries(Vec<Delivery>),
    /// Outcomes of publishes made with confirms, from one queue.
    Confirms(Vec<Confirmation>),
    /// The broker cancelled a consumer (its queue was deleted).
    ConsumerCancelled {
        channel: u16,
        consumer_tag: Name,
    },
    /// The broker closes the connection (shutdown, management request, vhost deleted).
    Close {
        code: u16,
        text: String,
    },
    /// A resource alarm went on (`Some(reason)`: publishing connections are blocked)
    /// or off (`None`).
    Alarm(Option<String>),
}

pub type Outlet = crate::mailbox::Sender<ConnEvent>;
/// A connection's end of its `Outlet`.
pub type Inbox = crate::mailbox::Receiver<ConnEvent>;

/// A window of deliveries shared by a channel's consumers.
///
/// Used twice per channel: as the shared prefetch window (`basic.qos` with
/// `global=true`; the channel gives credit back on ack), and as the transit window
/// that bounds deliveries sent to the connection but not yet written to its socket
/// (given back as they are encoded), so a client that reads slowly leaves messages
/// in their queue instead of in the connection's inbox. A queue that finds no credit marks the window `starved` and waits for
/// the channel to wake it.
#[derive(Debug, Default)]
pub struct ChannelCredit {
    limit: AtomicU32,
    in_flight: AtomicU32,
    starved: AtomicBool,
}

impl ChannelCredit {
    pub fn with_limit(limit: u32) -> ChannelCredit {
        let credit = ChannelCredit::default();
        credit.set_limit(limit);
        credit
    }
    pub fn set_limit(&self, limit: u32) {
        self.limit.store(limit, Ordering::Release);
    }
    pub fn limit(&self) -> u32 {
        self.limit.load(Ordering::Acquire)
    }
    /// Takes one unit of credit; false (and marks the window starved) when exhausted.
    pub fn try_take(&self) -> bool {
        let limit = self.limit();
        if limit == 0 {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        let mut current = self.in_flight.load(Ordering::Acquire);
        loop {
            if current >= limit {
                self.starved.store(true, Ordering::Release);
                return false;
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }
    /// Returns `n` units; true when some queue was starved and should be woken.
    pub fn give_back(&self, n: u32) -> bool {
        if n == 0 {
            return false;
        }
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
        self.starved.swap(false, Ordering::AcqRel)
    }
    /// Returns one unit taken by `try_take` that went unused, without waking anyone.
    pub fn untake(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(1))
            });
    }
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }
}

pub type ChannelCreditRef = Arc<ChannelCredit>;
