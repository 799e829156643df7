//! A client's session on the broker: its queues (`mqtt-subscription-<id>qos0` for
//! QoS 0 subscriptions, `…qos1` for QoS 1 and 2, RabbitMQ's names), the bindings
//! that are its subscriptions, and its consumers.
//!
//! A session that ends with the connection (clean session, or MQTT 5 session expiry
//! 0) has exclusive queues, which go when the connection closes. One that outlives
//! it has durable queues, which keep receiving while the client is away; MQTT 5's
//! session expiry becomes their `x-expires`. Reconnecting finds the queues, their
//! bindings (the subscriptions) and their messages, and the messages the previous
//! connection had not acknowledged come again, marked redelivered (DUP).

use crate::connection::Ctx;
use crate::filter_map::FilterMap;
use amqp_codec::{FieldTable, FieldValue};
use mqtt_codec::QoS;
use std::sync::LazyLock;
use warren_core::vhost::{BindingSpec, Dest, DestName, QueueDeclare};
use warren_core::{
    ChannelCredit, ChannelCreditRef, ChannelKey, Consumer, CoreResult, Name, QueueRef, Settle,
};

/// Deliveries sent to the connection but not yet written, per queue consumer.
const TRANSIT_WINDOW: u32 = 256;

/// The queue of QoS 0 subscriptions (index 0) or QoS 1 and 2 ones (index 1).
pub(crate) fn queue_name(client_id: &str, index: usize) -> String {
    format!("mqtt-subscription-{client_id}qos{index}")
}

/// How long the session lives after its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lifetime {
    /// Ends with the connection.
    Connection,
    /// Survives it: forever (`None`), or this many seconds unused.
    Kept(Option<u32>),
}

pub(crate) struct Subscription {
    pub qos: QoS,
    /// Which queue holds it (0 or 1; a byte, as one is kept per subscription).
    pub index: u8,
    /// MQTT 5 options that act on deliveries (kept with the binding, so a resumed
    /// session has them too: `stored_subscription`).
    pub options: crate::subscription_options::Options,
    /// The arguments its binding has (which keep the QoS and options): as found
    /// on a resumed session's binding, so it is that binding that goes, even
    /// when a definitions import wrote the numbers in another integer type.
    binding: FieldTable,
}

pub(crate) struct Session {
    /// Boxed, not a String: fixed for the session, and 8 bytes smaller in the
    /// task of every connection.
    pub client_id: Box<str>,
    pub lifetime: Lifetime,
    pub key: ChannelKey,
    queues: [Option<QueueRef>; 2],
    consuming: [bool; 2],
    /// By topic filter.
    pub subscriptions: FilterMap<Subscription>,
    /// Shared subscriptions, by their `$share/<group>/<filter>`.
    pub shared: FilterMap<crate::shared::SharedSubscription>,
    prefetch: u32,
    /// What its consumers share: the channel's credit and the deliveries in
    /// transit to the connection. Made by the first consumer: a client that never
    /// subscribes has no use for them.
    credits: Option<Credits>,
}

struct Credits {
    credit: ChannelCreditRef,
    transit: ChannelCreditRef,
}

impl Session {
    pub fn new(ctx: &Ctx, client_id: String, lifetime: Lifetime, prefetch: u32) -> Session {
        Session {
            client_id: client_id.into_boxed_str(),
            lifetime,
            key: ChannelKey(ctx.broker.next_channel_id()),
            queues: [None, None],
            consuming: [false, false],
            subscriptions: FilterMap::default(),
            shared: FilterMap::default(),
            prefetch,
            credits: None,
        }
    }

    /// Starts the session: a clean start deletes what an earlier one left; otherwise
    /// the earlier session's queues are resumed. True when a session was resumed
    /// ("session present").
    pub async fn open(&mut self, ctx: &Ctx, clean: bool) -> CoreResult<bool> {
        let mut present = false;
        for index in 0..2 {
            let name = queue_name(&self.client_id, index);
            let Some(queue) = ctx.vhost.queue(&name) else {
                continue;
            };
            if clean || queue.exclusive_owner.is_some() {
                // An exclusive queue still here belongs to a connection that is
                // going away; it takes the queue with it if this cannot.
                let _ = ctx
                    .vhost
                    .delete_queue(&ctx.access, ctx.id, &name, false, false)
                    .await;
                continue;
            }
            self.queues[index] = Some(queue);
            present = true;
        }
        if present {
            self.recover_subscriptions(ctx);
            for index in 0..2 {
                if self.queues[index].is_some() {
                    self.consume(ctx, index).await?;
                }
            }
            self.resume_shared(ctx).await?;
        } else {
            // A clean start, or a session that expired: its group memberships go.
            self.forget_shared(ctx).await;
        }
        Ok(present)
    }

    /// The subscriptions of a resumed session: its queues' bindings, with the QoS
    /// and options their arguments keep.
    fn recover_subscriptions(&mut self, ctx: &Ctx) {
        let Some(exchange) = ctx.vhost.exchange(&ctx.config.exchange) else {
            return;
        };
        for (key, args, dest) in exchange.bindings() {
            let Dest::Queue(q) = dest else { continue };
            for index in 0..2 {
                if self.queues[index]
                    .as_ref()
                    .is_some_and(|mine| mine.id() == q.id())
                {
                    let (qos, options) =
                        crate::stored_subscription::from_binding_args(index, &args);
                    self.subscriptions.insert(
                        &crate::mapping::to_mqtt(&key),
                        Subscription {
                            qos,
                            index: index as u8,
                            options,
                            binding: args.clone(),
                        },
                    );
                }
            }
        }
    }

    /// Declares the queue for `index` if the session has none yet.
    pub(crate) async fn ensure_queue(&mut self, ctx: &Ctx, index: usize) -> CoreResult<QueueRef> {
        if let Some(q) = &self.queues[index] {
            if !q.is_deleted() {
                return Ok(q.clone());
            }
        }
        let name = queue_name(&self.client_id, index);
        let mut arguments = FieldTable::new();
        let kept = match self.lifetime {
            Lifetime::Connection => false,
            Lifetime::Kept(expiry) => {
                if let Some(seconds) = expiry {
                    let ms = (u64::from(seconds) * 1000).clamp(1, i64::MAX as u64);
                    arguments.insert("x-expires", FieldValue::I64(ms as i64));
                }
                true
            }
        };
        let declared = ctx
            .vhost
            .declare_queue(QueueDeclare {
                access: &ctx.access,
                name: &name,
                passive: false,
                durable: kept,
                exclusive: !kept,
                auto_delete: false,
                arguments,
                connection: ctx.id,
            })
            .await?;
        self.queues[index] = Some(declared.queue.clone());
        self.consuming[index] = false;
        Ok(declared.queue)
    }

    pub(crate) async fn consume(&mut self, ctx: &Ctx, index: usize) -> CoreResult<()> {
        if self.consuming[index] {
            return Ok(());
        }
        let Some(queue) = self.queues[index].clone() else {
            return Ok(());
        };
        queue
            .consume(Consumer {
                tag: consumer_tag(index),
                channel: self.key,
                channel_number: 1,
                connection: ctx.id,
                no_ack: index == 0,
                exclusive: false,
                prefetch: if index == 0 { 0 } else { self.prefetch },
                channel_credit: self.credit(),
                transit: self.transit_window(),
                outlet: ctx.outlet.clone(),
                unacked: 0,
                priority: 0,
            })
            .await?;
        self.consuming[index] = true;
        Ok(())
    }

    /// Subscribes (or changes the QoS or options of a subscription): binds the filter
    /// to the queue for its QoS, with arguments that keep the QoS and options, and
    /// removes the binding it had before. Returns the granted QoS.
    pub async fn subscribe(
        &mut self,
        ctx: &Ctx,
        filter: &str,
        qos: QoS,
        options: crate::subscription_options::Options,
    ) -> CoreResult<QoS> {
        let index = (qos != QoS::AtMostOnce) as usize;
        let queue = self.ensure_queue(ctx, index).await?;
        let key = crate::mapping::to_amqp(filter);
        let args = crate::stored_subscription::binding_args(index, qos, &options);
        let subscription = Subscription {
            qos,
            index: index as u8,
            options,
            binding: args.clone(),
        };
        self.bind(ctx, &queue.name, &key, args.clone(), false)
            .await?;
        if let Some(old) = self.subscriptions.get(filter) {
            if usize::from(old.index) != index || old.binding != args {
                if let Some(from) = self.queues[usize::from(old.index)].clone() {
                    let old_args = old.binding.clone();
                    self.bind(ctx, &from.name, &key, old_args, true).await?;
                }
            }
        }
        self.consume(ctx, index).await?;
        self.subscriptions.insert(filter, subscription);
        Ok(qos)
    }

    /// The queue a subscription at `qos` is bound from.
    pub fn queue_for(&self, qos: QoS) -> Option<QueueRef> {
        self.queues[(qos != QoS::AtMostOnce) as usize].clone()
    }

    /// Removes a subscription; false when there was none.
    pub async fn unsubscribe(&mut self, ctx: &Ctx, filter: &str) -> CoreResult<bool> {
        let Some(sub) = self.subscriptions.remove(filter) else {
            return Ok(false);
        };
        if let Some(queue) = self.queues[usize::from(sub.index)].clone() {
            let key = crate::mapping::to_amqp(filter);
            self.bind(ctx, &queue.name, &key, sub.binding, true).await?;
        }
        Ok(true)
    }

    pub(crate) async fn bind(
        &self,
        ctx: &Ctx,
        queue: &Name,
        key: &str,
        arguments: FieldTable,
        unbind: bool,
    ) -> CoreResult<()> {
        ctx.vhost
            .bind(
                &ctx.access,
                ctx.id,
                BindingSpec {
                    source: Name::from(ctx.config.exchange.as_str()),
                    destination: DestName::Queue(queue.clone()),
                    routing_key: key.to_string(),
                    arguments,
                },
                unbind,
            )
            .await
    }

    /// The most a message from the QoS 1 queue with `routing_key` is delivered with:
    /// the highest QoS of the subscriptions there whose filters match it (spec
    /// 3.3.4; a QoS 2 subscription does not raise a QoS 1 one's messages).
    pub fn max_qos(&self, routing_key: &str) -> QoS {
        let qos2 = self
            .subscriptions
            .values()
            .any(|s| s.qos == QoS::ExactlyOnce);
        if !qos2 {
            // Nothing to tell apart: no matching needed.
            return QoS::AtLeastOnce;
        }
        let topic = crate::mapping::to_mqtt(routing_key);
        self.subscriptions
            .iter()
            .filter(|(filter, s)| s.index == 1 && mqtt_codec::topic::matches(filter, &topic))
            .map(|(_, s)| s.qos)
            .max()
            .unwrap_or(QoS::AtLeastOnce)
    }

    /// The in-flight window of acknowledging consumers.
    pub fn prefetch(&self) -> u32 {
        self.prefetch
    }

    fn credits(&mut self) -> &Credits {
        self.credits.get_or_insert_with(|| Credits {
            credit: std::sync::Arc::new(ChannelCredit::default()),
            transit: std::sync::Arc::new(ChannelCredit::with_limit(TRANSIT_WINDOW)),
        })
    }

    /// The channel credit a new consumer shares.
    pub fn credit(&mut self) -> ChannelCreditRef {
        self.credits().credit.clone()
    }

    /// The transit window a new consumer shares.
    pub fn transit_window(&mut self) -> ChannelCreditRef {
        self.credits().transit.clone()
    }

    /// The transit window of the consumers, once there is one.
    pub fn transit(&self) -> Option<&ChannelCreditRef> {
        self.credits.as_ref().map(|c| &c.transit)
    }

    /// The queue a delivery for `tag` came from, if it is one of ours.
    pub fn queue_index(&self, tag: &Name) -> Option<usize> {
        CONSUMER_TAGS.iter().position(|t| t == tag)
    }

    pub fn settle(&self, queue: &QueueRef, seq: u64, how: Settle) {
        queue.settle(self.key, vec![seq], how);
    }

    /// The connection is gone: the queues take back what was unacknowledged, and a
    /// session that ends with its connection deletes them (a resumed session's
    /// durable queues are not exclusive, so they would not go by themselves).
    pub async fn close(&mut self, ctx: &Ctx) {
        self.close_shared();
        for queue in self.queues.iter().flatten() {
            queue.channel_closed(self.key);
        }
        if self.lifetime == Lifetime::Connection {
            for queue in self.queues.iter().flatten() {
                let _ = ctx
                    .vhost
                    .delete_queue(&ctx.access, ctx.id, &queue.name, false, false)
                    .await;
            }
        }
    }
}

/// The two consumer tags, made once: each consumer (every session's queue) holds
/// a clone, and deliveries are told apart by them.
static CONSUMER_TAGS: LazyLock<[Name; 2]> =
    LazyLock::new(|| [Name::from("mqtt-qos0"), Name::from("mqtt-qos1")]);

fn consumer_tag(index: usize) -> Name {
    CONSUMER_TAGS[index].clone()
}
