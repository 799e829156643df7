//! MQTT 5 shared subscriptions (spec 4.8.2): `$share/<group>/<filter>`. Each group
//! and filter is one queue, `mqtt-shared-<group>-<filter as routing key>`, bound to
//! the exchange like any subscription; every member consumes from it, so the queue
//! hands each message to one member, round-robin, as it does for AMQP consumers.
//!
//! The queue lives as long as its members: it goes with the last one's consumer
//! (auto-delete), unless a member's session outlives its connection, in which
//! case it is durable and stays. A member's unacknowledged messages go back to
//! the queue, for the others, when it leaves.
//!
//! A member whose session is kept is recorded by a binding of the group's queue
//! that names it (`stored_subscription::member_args`), and its session has its
//! QoS 1 queue even with no other subscription, so that the session's expiry
//! (`x-expires`) and presence are where they are for every session. A resumed
//! session rejoins its groups; a clean start or an expired session leaves them.

use crate::connection::Ctx;
use crate::session::{Lifetime, Session};
use crate::stored_subscription::{member_args, member_of};
use crate::subscription_options::Options;
use amqp_codec::FieldTable;
use mqtt_codec::QoS;
use std::collections::HashSet;
use warren_core::vhost::{Dest, QueueDeclare};
use warren_core::{Consumer, CoreResult, Name, QueueRef};

/// A kept member's binding, as found among the exchange's bindings.
struct Membership {
    queue: QueueRef,
    key: String,
    args: FieldTable,
    group: String,
    qos: QoS,
    options: Options,
}

pub(crate) struct SharedSubscription {
    pub queue: QueueRef,
    pub qos: QoS,
    /// Its MQTT 5 subscription identifier and retain-as-published (no-local is
    /// refused on a shared subscription, spec 3.8.3.1).
    pub options: Options,
    /// The consumer tag its deliveries carry.
    pub tag: Name,
    /// The binding that records a kept session's membership (key, arguments).
    member_binding: Option<(String, FieldTable)>,
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
        (group, filter): (&str, &str),
        qos: QoS,
        options: Options,
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
        let key = crate::mapping::to_amqp(filter);
        self.bind(ctx, &queue.name, &key, FieldTable::new(), false)
            .await?;
        let member_binding = if kept {
            // The session's own queue marks it as present, and expires it.
            self.ensure_queue(ctx, 1).await?;
            self.consume(ctx, 1).await?;
            let scan = || all_members(ctx);
            let vhost = &ctx.vhost.name;
            ctx.registry.set_member(vhost, &self.client_id, true, scan);
            let args = member_args(&self.client_id, group, qos, &options);
            self.bind(ctx, &queue.name, &key, args.clone(), false)
                .await?;
            Some((key, args))
        } else {
            None
        };
        self.join(ctx, queue, shared_filter, (qos, options), member_binding)
            .await?;
        Ok(qos)
    }

    /// Starts consuming from a group's queue as a member.
    async fn join(
        &mut self,
        ctx: &Ctx,
        queue: QueueRef,
        shared_filter: &str,
        (qos, options): (QoS, Options),
        member_binding: Option<(String, FieldTable)>,
    ) -> CoreResult<()> {
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
                transit: self.transit_window(),
                outlet: ctx.outlet.clone(),
                unacked: 0,
                priority: 0,
            })
            .await?;
        self.shared.insert(
            shared_filter,
            SharedSubscription {
                queue,
                qos,
                options,
                tag,
                member_binding,
            },
        );
        Ok(())
    }

    /// Leaves a group; false when not a member. What it had unacknowledged goes
    /// back to the queue for the others.
    pub async fn unsubscribe_shared(&mut self, ctx: &Ctx, shared_filter: &str) -> CoreResult<bool> {
        let Some(sub) = self.shared.remove(shared_filter) else {
            return Ok(false);
        };
        sub.queue.cancel(self.key, sub.tag.clone()).await;
        if let Some((key, args)) = sub.member_binding {
            self.bind(ctx, &sub.queue.name, &key, args, true).await?;
        }
        Ok(true)
    }

    /// The bindings that record this client as a kept member.
    fn memberships(&self, ctx: &Ctx) -> Vec<Membership> {
        let scan = || all_members(ctx);
        if !ctx
            .registry
            .may_be_member(&ctx.vhost.name, &self.client_id, scan)
        {
            // The common case: no need to look through every binding.
            return Vec::new();
        }
        let Some(exchange) = ctx.vhost.exchange(&ctx.config.exchange) else {
            return Vec::new();
        };
        exchange
            .bindings()
            .into_iter()
            .filter_map(|(key, args, dest)| {
                let Dest::Queue(queue) = dest else {
                    return None;
                };
                let member = member_of(&args)?;
                if *member.client_id != *self.client_id {
                    return None;
                }
                let (group, qos, options) = (member.group.to_string(), member.qos, member.options);
                Some(Membership {
                    queue,
                    key,
                    args,
                    group,
                    qos,
                    options,
                })
            })
            .collect()
    }

    /// A resumed session rejoins the groups it was a member of.
    pub(crate) async fn resume_shared(&mut self, ctx: &Ctx) -> CoreResult<()> {
        for m in self.memberships(ctx) {
            let shared_filter = format!("$share/{}/{}", m.group, crate::mapping::to_mqtt(&m.key));
            let binding = Some((m.key, m.args));
            self.join(ctx, m.queue, &shared_filter, (m.qos, m.options), binding)
                .await?;
        }
        Ok(())
    }

    /// A session that starts afresh is no longer a member of the groups an earlier
    /// one joined.
    pub(crate) async fn forget_shared(&mut self, ctx: &Ctx) {
        let memberships = self.memberships(ctx);
        if memberships.is_empty() {
            return;
        }
        for m in memberships {
            let _ = self.bind(ctx, &m.queue.name, &m.key, m.args, true).await;
        }
        let scan = || all_members(ctx);
        let vhost = &ctx.vhost.name;
        ctx.registry.set_member(vhost, &self.client_id, false, scan);
    }

    /// The shared subscription a delivery with `tag` came from.
    pub fn shared_by_tag(&self, tag: &Name) -> Option<&SharedSubscription> {
        self.shared.values().find(|s| s.tag == *tag)
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

/// The client ids the exchange's bindings name as kept members of shared groups.
fn all_members(ctx: &Ctx) -> HashSet<String> {
    let Some(exchange) = ctx.vhost.exchange(&ctx.config.exchange) else {
        return HashSet::new();
    };
    exchange
        .bindings()
        .iter()
        .filter_map(|(_, args, _)| member_of(args).map(|m| m.client_id.to_string()))
        .collect()
}
