//! One AMQP channel: its consumers and unacked deliveries, its publishing mode
//! (plain, confirms or transaction), and the content it is receiving.
//!
//! The methods are grouped by what they act on: `topology` (exchange and queue
//! methods), `consume` (qos, consume, cancel, get, deliveries), `publish` (publish,
//! content frames, confirms, returns), `settle` (ack, nack, reject, recover) and `tx`.

mod confirms;
mod consume;
mod outgoing;
mod publish;
mod settle;
mod topology;
mod tx;

use crate::connection::Shared;
use crate::error::{AmqpError, AmqpResult};
use amqp_codec::{encode_method, AccessRequestOk, ChannelFlowOk, Method};
use bytes::BytesMut;
use confirms::Confirms;
use outgoing::Outgoing;
use publish::PendingContent;
use settle::Unacked;
use std::collections::VecDeque;
use std::sync::Arc;
use tx::Transaction;
pub(crate) use warren_core::back_pressure::Behind;
use warren_core::fast_hash::FastMap;
use warren_core::metrics::ChannelCounter;
use warren_core::{ChannelCredit, ChannelCreditRef, ChannelKey, Name, Publisher, QueueRef};

/// How many deliveries may be on their way from queues to one channel before they
/// are written out; beyond it, messages wait in their queues.
const TRANSIT_WINDOW: u32 = 2000;

/// A consumer as its channel knows it.
struct ChannelConsumer {
    /// None for the direct reply-to pseudo-consumer.
    queue: Option<QueueRef>,
}

pub(crate) struct Channel {
    pub number: u16,
    pub key: ChannelKey,
    publisher: Publisher,
    /// A publish waiting for its content header and body.
    content: Option<PendingContent>,
    /// The last queue this channel declared: an empty queue name means it.
    last_queue: Option<Name>,
    consumers: FastMap<Name, ChannelConsumer>,
    /// `basic.qos` with global=false: the window of consumers created from now on.
    consumer_prefetch: u32,
    /// `basic.qos` with global=true: one window shared by all the channel's consumers.
    credit: ChannelCreditRef,
    /// Deliveries on their way from queues to this channel's socket writes.
    transit: ChannelCreditRef,
    next_delivery_tag: u64,
    /// Deliveries awaiting ack, in delivery-tag order.
    unacked: VecDeque<Unacked>,
    /// Queues that may hold this channel's consumers or unacked messages.
    touched: Vec<QueueRef>,
    /// The direct reply-to consumer's tag and address.
    reply_to: Option<(Name, String)>,
    confirms: Option<Confirms>,
    /// Publishes routed but not yet handed to their queues (one batch per queue).
    outgoing: Outgoing,
    tx: Option<Transaction>,
    /// Scratch list for routing.
    route_buf: Vec<QueueRef>,
    /// This channel in the broker's registry; unregistered when the channel drops.
    registration: warren_core::registry::ChannelRegistration,
}

impl Channel {
    pub fn new(number: u16, key: ChannelKey, shared: &Shared) -> Channel {
        Channel {
            number,
            key,
            registration: shared.registration.open_channel(number),
            publisher: Publisher::new(shared.vhost.clone(), shared.access.clone()),
            content: None,
            last_queue: None,
            consumers: FastMap::default(),
            consumer_prefetch: 0,
            credit: Arc::new(ChannelCredit::default()),
            transit: Arc::new(ChannelCredit::with_limit(TRANSIT_WINDOW)),
            next_delivery_tag: 1,
            unacked: VecDeque::new(),
            touched: Vec::new(),
            reply_to: None,
            confirms: None,
            outgoing: Outgoing::new(warren_core::queue::PublishOrigin {
                connection: shared.id,
                channel: number,
            }),
            tx: None,
            route_buf: Vec::new(),
        }
    }

    fn send(&self, out: &mut BytesMut, method: &Method) {
        encode_method(out, self.number, method);
    }

    /// Handles one method frame (other than channel.open/close, which the connection
    /// handles). An error closes the channel or the connection, as its scope says.
    pub async fn handle(
        &mut self,
        method: Method,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        if let Some(pending) = &self.content {
            let expected = if pending.has_header() {
                "expected content body, got non content body frame instead"
            } else {
                "expected content header for class 60, got non content header frame instead"
            };
            // RabbitMQ names the publish the content belongs to.
            return Err(AmqpError::new(505, expected).on_ids(60, 40));
        }
        let (class_id, method_id) = (method.class_id(), method.method_id());
        let result = match method {
            Method::ChannelFlow(m) => {
                if !m.active {
                    Err(AmqpError::new(540, "active=false"))
                } else {
                    self.send(out, &Method::ChannelFlowOk(ChannelFlowOk { active: true }));
                    Ok(())
                }
            }
            Method::ChannelFlowOk(_) => Ok(()),
            // Tickets mean nothing since 0-9-1; old clients still ask for one.
            Method::AccessRequest(_) => {
                self.send(out, &Method::AccessRequestOk(AccessRequestOk { ticket: 1 }));
                Ok(())
            }
            Method::ExchangeDeclare(m) => self.exchange_declare(m, shared, out).await,
            Method::ExchangeDelete(m) => self.exchange_delete(m, shared, out).await,
            Method::ExchangeBind(m) => self.exchange_bind(m, shared, out).await,
            Method::ExchangeUnbind(m) => self.exchange_unbind(m, shared, out).await,
            Method::QueueDeclare(m) => self.queue_declare(m, shared, out).await,
            Method::QueueBind(m) => self.queue_bind(m, shared, out).await,
            Method::QueueUnbind(m) => self.queue_unbind(m, shared, out).await,
            Method::QueuePurge(m) => self.queue_purge(m, shared, out).await,
            Method::QueueDelete(m) => self.queue_delete(m, shared, out).await,
            Method::BasicQos(m) => self.basic_qos(m, out),
            Method::BasicConsume(m) => self.basic_consume(m, shared, out).await,
            Method::BasicCancel(m) => self.basic_cancel(m, shared, out).await,
            Method::BasicGet(m) => self.basic_get(m, shared, out).await,
            Method::BasicPublish(m) => self.basic_publish(m),
            Method::BasicAck(m) => self.ack(m.delivery_tag, m.multiple),
            Method::BasicNack(m) => self.reject(m.delivery_tag, m.multiple, m.requeue),
            Method::BasicReject(m) => self.reject(m.delivery_tag, false, m.requeue),
            Method::BasicRecover(m) => self.recover(m.requeue, true, out),
            Method::BasicRecoverAsync(m) => self.recover(m.requeue, false, out),
            Method::ConfirmSelect(m) => self.confirm_select(m.no_wait, out),
            Method::TxSelect(_) => self.tx_select(out),
            Method::TxCommit(_) => self.tx_commit(shared, out).await,
            Method::TxRollback(_) => self.tx_rollback(out),
            // Methods only a server sends (deliver, get-ok, ...).
            _ => Err(AmqpError::new(503, "unimplemented method")),
        };
        naming_method(result, class_id, method_id)
    }

    /// `basic.ack`, for the connection's hot path (`Connection::handle_hot_frame`),
    /// with its errors naming the method as `handle` would.
    pub fn basic_ack(&mut self, m: amqp_codec::BasicAck) -> AmqpResult<()> {
        naming_method(self.ack(m.delivery_tag, m.multiple), 60, 80)
    }

    /// Whether a publish's header or body is still to come (any other frame is then
    /// a 505).
    pub fn has_pending_content(&self) -> bool {
        self.content.is_some()
    }

    /// Remembers a queue as one that may hold this channel's state.
    fn touch(&mut self, queue: &QueueRef) {
        if !self.touched.iter().any(|q| q.id() == queue.id()) {
            self.touched.push(queue.clone());
        }
    }

    /// The queue named in a method, where "" means the channel's last declared queue.
    fn queue_name(&self, name: &str) -> AmqpResult<String> {
        if !name.is_empty() {
            return Ok(name.to_string());
        }
        match &self.last_queue {
            Some(q) => Ok(q.to_string()),
            None => Err(AmqpError::new(404, "no previously declared queue")),
        }
    }

    /// Hands every routed publish to its queue, one batch per queue. Returns a queue
    /// that is not keeping up with its publishers, if one is.
    pub fn flush_publishes(&mut self, shared: &Shared) -> Option<Behind> {
        let flushed = self.flush_outgoing(shared);
        for &seq in &flushed.answered {
            self.confirmed(seq, true);
        }
        if let (Some((ticket, seqs)), Some(to)) = (flushed.stored, self.confirm_to(shared)) {
            // The store's word is one more answer each of these publishes waits for.
            let broker = shared.broker.clone();
            tokio::spawn(async move {
                let accepted = match ticket.await {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!("persistent messages not stored (nacked): {e}");
                        if e.is_no_space() {
                            broker.set_disk_alarm(true);
                        }
                        false
                    }
                };
                let confirms = seqs
                    .into_iter()
                    .map(|seq| warren_core::Confirmation {
                        channel: to.channel,
                        channel_key: to.channel_key,
                        seq,
                        accepted,
                    })
                    .collect();
                let _ = to.outlet.send(warren_core::ConnEvent::Confirms(confirms));
            });
        }
        flushed.behind
    }

    fn flush_outgoing(&mut self, shared: &Shared) -> outgoing::Flushed {
        let confirm_to = self.confirm_to(shared);
        self.outgoing.flush(confirm_to, shared.vhost.records())
    }

    fn confirm_to(&self, shared: &Shared) -> Option<warren_core::ConfirmTo> {
        self.confirms.as_ref().map(|_| warren_core::ConfirmTo {
            outlet: shared.outlet.clone(),
            connection: shared.id,
            channel: self.number,
            channel_key: self.key,
        })
    }

    pub fn has_outgoing(&self) -> bool {
        !self.outgoing.is_empty()
    }

    pub fn has_unacked(&self) -> bool {
        !self.unacked.is_empty()
    }

    /// A delivery held unacknowledged past its consumer timeout (the queue's
    /// `x-consumer-timeout`, else `default`): the error that closes the channel.
    pub fn timed_out_delivery(&self, default: Option<std::time::Duration>) -> Option<AmqpError> {
        let now = std::time::Instant::now();
        for u in &self.unacked {
            let timeout = match u
                .queue
                .arguments
                .get("x-consumer-timeout")
                .and_then(|v| v.as_i64())
            {
                Some(ms) => Some(std::time::Duration::from_millis(ms.max(0) as u64)),
                None => default,
            };
            if let Some(timeout) = timeout {
                if now.duration_since(u.delivered_at) > timeout {
                    return Some(AmqpError::new(
                        406,
                        format!(
                            "delivery acknowledgement on channel {} timed out. Timeout value \
                             used: {} ms. This timeout value can be configured, see consumers \
                             doc guide to learn more",
                            self.number,
                            timeout.as_millis()
                        ),
                    ));
                }
            }
        }
        None
    }

    /// Writes the confirms that are settled.
    pub fn flush_confirms(&mut self, out: &mut BytesMut) {
        if let Some(confirms) = &mut self.confirms {
            let acked = confirms.flush(self.number, out);
            self.registration
                .counters()
                .add(ChannelCounter::Confirmed, acked);
        }
        self.registration.set_unacked(self.unacked.len());
    }

    /// A queue's answer for a publish made with confirms.
    pub fn confirmed(&mut self, seq: u64, accepted: bool) {
        if let Some(confirms) = &mut self.confirms {
            confirms.answered(seq, accepted);
        }
    }

    /// The channel is closing: requeue what it holds, drop its consumers. Publishes
    /// it already routed still go to their queues.
    pub fn cleanup(&mut self, shared: &Shared) {
        let _ = self.flush_publishes(shared);
        for queue in self.touched.drain(..) {
            queue.channel_closed(self.key);
        }
        self.unacked.clear();
        self.consumers.clear();
        self.registration.update(|s| s.consumers.clear());
        if let Some((_, address)) = self.reply_to.take() {
            shared.broker.reply_to.unregister(&address);
        }
        self.content = None;
        self.tx = None;
    }
}

/// An error that names no method is about the one being handled.
fn naming_method(result: AmqpResult<()>, class_id: u16, method_id: u16) -> AmqpResult<()> {
    result.map_err(|e| {
        if e.class_id == 0 {
            e.on_ids(class_id, method_id)
        } else {
            e
        }
    })
}
