//! MQTT 5 shared subscriptions (spec 4.8.2): `$share/<group>/<filter>`. Each group
//! and filter is one queue, `mqtt-shared-<group>-<filter as routing key>`, bound to
//! the exchange like any subscription; every member consumes from it, so the queue
//! hands each message to one member, round-robin, as it does for AMQP consumers.
//!
//! The queue lives as long as its members: it goes with the last one's consumer
//! (auto-delete), unless a member's session outlives its connection, in which
//! case it is durable and stays. A member's unacknowledged messages go back to
//! the queue, for the others, when it leaves.

use crate::connection::Ctx;
use crate::session::{Lifetime, Session};
use amqp_codec::FieldTable;
use mqtt_codec::QoS;
use warren_core::vhost::{BindingSpec, DestName, QueueDeclare};
use warren_core::{Consumer, CoreResult, Name, QueueRef};

pub(crate) struct SharedSubscription {
    pub queue: QueueRef,
    pub qos: QoS,
    /// The consumer tag its deliveries carry.
    pub tag: Name,
}

/// The queue of a group's subscription to `filter`.
pub(crate) fn queue_name(group: &str, filter: &str) -> String {
    format!("mqtt-shared-{group}-{}", crate::mapping::to_amqp(filter))
}

fn consumer_tag(shared_filter: &str) -> Name {
    Name::from(format!("mqtt-shared:{shared_filter}"))
}

impl Session {
    /// Joins the group of `shared_filter` (`$share/<group>/<filter>`) at `qos`.
    pub async fn subscribe_shared(
        &mut self,
        ctx: &Ctx,
        shared_filter: &str,
        group: &str,
        filter: &str,
        qos: QoS,
    ) -> CoreResult<QoS> {
        if self.shared.contains_key(shared_filter) {
            // Already a member (perhaps at another QoS): join again afresh.
            self.unsubscribe_shared(ctx, shared_filter).await?;
        }
        let name = queue_name(group, filter);
        let kept = self.lifetime != Lifetime::Connection;
        let declared = ctx
            .vhost
            .declare_queue(QueueDeclare {
                access: &ctx.access,
                name: &name,
                passive: false,
                durable: kept,
                exclusive: false,
                auto_delete: !kept,
                arguments: FieldTable::new(),
                connection: ctx.id,
            })
            .await?;
        let queue = declared.queue;
        ctx.vhost
            .bind(
                &ctx.access,
                ctx.id,
                BindingSpec {
                    source: Name::from(ctx.config.exchange.as_str()),
                    destination: DestName::Queue(queue.name.clone()),
                    routing_key: crate::mapping::to_amqp(filter),
                    arguments: FieldTable::new(),
                },
                false,
            )
            .await?;
        let tag = consumer_tag(shared_filter);
        let at_most_once = qos == QoS::AtMostOnce;
        queue
            .consume(Consumer {
                tag: tag.clone(),
                channel: self.key,
                channel_number: 1,
                connection: ctx.id,
                no_ack: at_most_once,
                exclusive: false,
                prefetch: if at_most_once { 0 } else { self.prefetch() },
                channel_credit: self.credit(),
                transit: self.transit.clone(),
                outlet: ctx.outlet.clone(),
                unacked: 0,
                priority: 0,
            })
            .await?;
        self.shared.insert(
            shared_filter.to_string(),
            SharedSubscription { queue, qos, tag },
        );
        Ok(qos)
    }

    /// Leaves a group; false when not a member. What it had unacknowledged goes
    /// back to the queue for the others.
    pub async fn unsubscribe_shared(
        &mut self,
        _ctx: &Ctx,
        shared_filter: &str,
    ) -> CoreResult<bool> {
        let Some(sub) = self.shared.remove(shared_filter) else {
            return Ok(false);
        };
        sub.queue.cancel(self.key, sub.tag.clone()).await;
        Ok(true)
    }

    /// The QoS of the shared subscription a delivery with `tag` came from.
    pub fn shared_qos(&self, tag: &Name) -> Option<QoS> {
        self.shared.values().find(|s| s.tag == *tag).map(|s| s.qos)
    }

    /// The connection is going: its consumers leave the shared queues, and what
    /// it had unacknowledged goes back to them.
    pub fn close_shared(&mut self) {
        for sub in self.shared.values() {
            sub.queue.channel_closed(self.key);
        }
        self.shared.clear();
    }
}
