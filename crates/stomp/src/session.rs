//! One connected STOMP client: its subscriptions, the deliveries it holds
//! unacknowledged, its open transactions and temp queues, and the dispatch of the
//! frames it sends after CONNECT.
//!
//! A session is to the core what one AMQP channel is: one `ChannelKey`, one
//! `Publisher`, one consumer per subscription (tag `T_<id>`, as in RabbitMQ's
//! plugin). SEND is in `send`, subscriptions and acknowledgements in `subscribe`.

use crate::error::{StompError, StompResult};
use crate::frame::{encode, Frame, Version};
use bytes::BytesMut;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use warren_core::back_pressure::Behind;
use warren_core::publish_batch::PublishBatches;
use warren_core::{
    Access, BrokerRef, ChannelCredit, ChannelCreditRef, ChannelKey, Name, Outlet, Publisher,
    QueueRef, User, VHostRef,
};

/// Deliveries on their way from queues to this session's socket, at most.
const TRANSIT_WINDOW: u32 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckMode {
    Auto,
    /// An ACK acknowledges its message and every earlier one of the subscription.
    Client,
    ClientIndividual,
}

pub(crate) struct Subscription {
    pub queue: QueueRef,
    pub ack: AckMode,
}

/// A delivery the client has not acknowledged yet.
pub(crate) struct Unacked {
    pub tag: u64,
    pub subscription: String,
    pub queue: QueueRef,
    pub seq: u64,
}

/// What the connection does after a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// DISCONNECT: send what is written (the receipt) and close.
    Disconnect,
}

pub(crate) struct Session {
    pub broker: BrokerRef,
    pub vhost: VHostRef,
    pub user: User,
    pub access: Access,
    /// The connection's id with the broker (owner of its exclusive queues).
    pub id: u64,
    pub outlet: Outlet,
    pub key: ChannelKey,
    pub version: Version,
    pub session_id: String,
    /// `peer -> local`, as connections are named in traces and logs.
    pub name: String,
    pub(crate) publisher: Publisher,
    pub(crate) batches: PublishBatches,
    /// A queue (or the store) this client's SENDs outran: the connection reads
    /// nothing more until it has caught up (`warren_core::back_pressure`).
    pub(crate) behind: Option<Behind>,
    pub(crate) route_buf: Vec<QueueRef>,
    pub(crate) subscriptions: HashMap<String, Subscription>,
    /// In delivery order.
    pub(crate) unacked: VecDeque<Unacked>,
    pub(crate) next_tag: u64,
    /// Open transactions and the SEND, ACK and NACK frames they hold.
    transactions: HashMap<String, Vec<Frame>>,
    /// Queues that may hold this session's consumers or unacked messages.
    pub(crate) touched: Vec<QueueRef>,
    pub(crate) credit: ChannelCreditRef,
    pub(crate) transit: ChannelCreditRef,
    /// `/temp-queue/<name>` -> the queue made for it.
    pub(crate) temp_queues: HashMap<String, Name>,
}

pub(crate) struct SessionParts {
    pub broker: BrokerRef,
    pub vhost: VHostRef,
    pub user: User,
    pub access: Access,
    pub id: u64,
    pub outlet: Outlet,
    pub version: Version,
    pub session_id: String,
    pub name: String,
}

impl Session {
    pub fn new(p: SessionParts) -> Session {
        let key = ChannelKey(p.broker.next_channel_id());
        Session {
            publisher: Publisher::new(p.vhost.clone(), p.access.clone()),
            vhost: p.vhost,
            user: p.user,
            access: p.access,
            broker: p.broker,
            id: p.id,
            outlet: p.outlet,
            key,
            version: p.version,
            session_id: p.session_id,
            name: p.name,
            batches: PublishBatches::with_origin(warren_core::queue::PublishOrigin {
                connection: p.id,
                channel: 0,
            })
            .run_queues_here(),
            behind: None,
            route_buf: Vec::new(),
            subscriptions: HashMap::new(),
            unacked: VecDeque::new(),
            next_tag: 1,
            transactions: HashMap::new(),
            touched: Vec::new(),
            credit: Arc::new(ChannelCredit::default()),
            transit: Arc::new(ChannelCredit::with_limit(TRANSIT_WINDOW)),
            temp_queues: HashMap::new(),
        }
    }

    pub fn write(&self, out: &mut BytesMut, frame: &Frame) {
        encode(out, frame, self.version);
    }

    /// Handles one frame; a `receipt` header is answered once it is done.
    pub async fn handle(&mut self, frame: Frame, out: &mut BytesMut) -> StompResult<Flow> {
        if frame.command != "SEND" {
            // What was sent before is in its queues before anything else happens.
            self.flush();
        }
        let receipt = frame.header("receipt").map(str::to_string);
        let flow = match frame.command.as_str() {
            "SEND" | "ACK" | "NACK" if frame.header("transaction").is_some() => {
                self.hold(frame)?;
                Flow::Continue
            }
            "SEND" | "ACK" | "NACK" => {
                self.apply(&frame).await?;
                if receipt.is_some() {
                    self.flush_and_store().await?;
                }
                Flow::Continue
            }
            "SUBSCRIBE" => {
                self.subscribe(&frame).await?;
                Flow::Continue
            }
            "UNSUBSCRIBE" => {
                self.unsubscribe(&frame).await?;
                Flow::Continue
            }
            "BEGIN" => {
                let tx = transaction(&frame)?;
                if self.transactions.contains_key(&tx) {
                    return Err(StompError::new(
                        "Bad transaction",
                        format!("Transaction '{tx}' is already open"),
                    ));
                }
                self.transactions.insert(tx, Vec::new());
                Flow::Continue
            }
            "COMMIT" => {
                let held = self.take_transaction(&frame)?;
                for f in held {
                    self.apply(&f).await?;
                }
                // As for a SEND: a receipt says the persistent messages are stored.
                if receipt.is_some() {
                    self.flush_and_store().await?;
                } else {
                    self.flush();
                }
                Flow::Continue
            }
            "ABORT" => {
                self.take_transaction(&frame)?;
                Flow::Continue
            }
            "DISCONNECT" => Flow::Disconnect,
            "CONNECT" | "STOMP" => {
                return Err(StompError::new(
                    "Unexpected frame",
                    "This connection is already connected",
                ))
            }
            other => {
                return Err(StompError::new(
                    "Bad command",
                    format!("Could not interpret command {other}"),
                ))
            }
        };
        if let Some(id) = receipt {
            self.write(out, &Frame::new("RECEIPT").with("receipt-id", id));
        }
        Ok(flow)
    }

    /// SEND, ACK or NACK, now (outside a transaction, or at its commit).
    async fn apply(&mut self, frame: &Frame) -> StompResult<()> {
        match frame.command.as_str() {
            "SEND" => self.send(frame).await,
            "ACK" => self.ack(frame, false),
            _ => self.ack(frame, true),
        }
    }

    fn hold(&mut self, frame: Frame) -> StompResult<()> {
        let tx = transaction(&frame)?;
        match self.transactions.get_mut(&tx) {
            Some(held) => {
                held.push(frame);
                Ok(())
            }
            None => Err(unknown_transaction(&tx)),
        }
    }

    fn take_transaction(&mut self, frame: &Frame) -> StompResult<Vec<Frame>> {
        let tx = transaction(frame)?;
        self.transactions
            .remove(&tx)
            .ok_or_else(|| unknown_transaction(&tx))
    }

    /// As `flush`, and waits until the store has the persistent messages for
    /// durable queues: a RECEIPT for a SEND then means what AMQP's publisher
    /// confirm means.
    async fn flush_and_store(&mut self) -> StompResult<()> {
        let Some(stored) = self.hand_over() else {
            return Ok(());
        };
        if let Some(behind) = Behind::of_store(&stored.store) {
            self.behind = Some(behind);
        }
        match stored.ticket.await {
            Ok(_) => Ok(()),
            Err(e) => {
                if e.is_no_space() {
                    self.broker.set_disk_alarm(true);
                }
                Err(StompError::new(
                    "Message not stored",
                    format!("The persistent message could not be written: {e}"),
                ))
            }
        }
    }

    /// Hands the routed messages to their queues.
    pub fn flush(&mut self) {
        // Without confirms nobody waits for the store's word; the append is made.
        if let Some(stored) = self.hand_over() {
            if let Some(behind) = Behind::of_store(&stored.store) {
                self.behind = Some(behind);
            }
        }
    }

    /// Sends the batches, noting a queue that is far behind.
    fn hand_over(&mut self) -> Option<warren_core::publish_batch::Stored> {
        let recorder = self.vhost.records().clone();
        let mut behind = None;
        let stored = self.batches.flush(None, &mut Vec::new(), |queue| {
            if let Some(b) = Behind::of_queue(queue, &recorder) {
                behind = Some(b);
            }
        });
        if behind.is_some() {
            self.behind = behind;
        }
        stored
    }

    /// Who did it, for the firehose (`amq.rabbitmq.trace`).
    pub(crate) fn trace_origin(&self) -> warren_core::vhost::trace::TraceOrigin<'_> {
        warren_core::vhost::trace::TraceOrigin {
            connection: &self.name,
            channel: 1,
            user: &self.user.name,
        }
    }

    pub(crate) fn touch(&mut self, queue: &QueueRef) {
        if !self.touched.iter().any(|q| q.id() == queue.id()) {
            self.touched.push(queue.clone());
        }
    }

    /// The connection is going: what was sent goes to its queues, what was delivered
    /// and not acknowledged goes back to them, consumers and exclusive queues go.
    pub fn cleanup(&mut self) {
        self.flush();
        for queue in self.touched.drain(..) {
            queue.channel_closed(self.key);
        }
        self.unacked.clear();
        self.subscriptions.clear();
        self.transactions.clear();
        self.vhost.connection_closed(self.id);
    }
}

fn transaction(frame: &Frame) -> StompResult<String> {
    frame
        .header("transaction")
        .map(str::to_string)
        .ok_or_else(|| StompError::missing_header(&frame.command, "transaction"))
}

fn unknown_transaction(tx: &str) -> StompError {
    StompError::new(
        "Bad transaction",
        format!("Invalid transaction identifier: {tx}"),
    )
}
