//! exchange.* and queue.* methods: thin translations onto the core's validated
//! topology operations.

use super::Channel;
use crate::connection::Shared;
use crate::error::AmqpResult;
use amqp_codec::{
    ExchangeBind, ExchangeBindOk, ExchangeDeclare, ExchangeDeclareOk, ExchangeDelete,
    ExchangeDeleteOk, ExchangeUnbind, ExchangeUnbindOk, FieldTable, Method, QueueBind, QueueBindOk,
    QueueDeclare, QueueDeclareOk, QueueDelete, QueueDeleteOk, QueuePurge, QueuePurgeOk,
    QueueUnbind, QueueUnbindOk, ShortStr,
};
use bytes::BytesMut;
use warren_core::vhost::{self, BindingSpec, DestName};
use warren_core::Name;

impl Channel {
    pub(super) async fn exchange_declare(
        &mut self,
        m: ExchangeDeclare,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        shared
            .vhost
            .declare_exchange(vhost::ExchangeDeclare {
                access: &shared.access,
                name: m.exchange.as_str(),
                kind: m.kind.as_str(),
                passive: m.passive,
                durable: m.durable,
                auto_delete: m.auto_delete,
                internal: m.internal,
                arguments: m.arguments,
            })
            .await?;
        if !m.no_wait {
            self.send(out, &Method::ExchangeDeclareOk(ExchangeDeclareOk {}));
        }
        Ok(())
    }

    pub(super) async fn exchange_delete(
        &mut self,
        m: ExchangeDelete,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        shared
            .vhost
            .delete_exchange(&shared.access, m.exchange.as_str(), m.if_unused)
            .await?;
        if !m.no_wait {
            self.send(out, &Method::ExchangeDeleteOk(ExchangeDeleteOk {}));
        }
        Ok(())
    }

    pub(super) async fn exchange_bind(
        &mut self,
        m: ExchangeBind,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let ok = (!m.no_wait).then_some(Method::ExchangeBindOk(ExchangeBindOk {}));
        let binding = (m.destination, m.source, m.routing_key, m.arguments);
        self.exchange_binding(binding, false, ok, shared, out).await
    }

    pub(super) async fn exchange_unbind(
        &mut self,
        m: ExchangeUnbind,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let ok = (!m.no_wait).then_some(Method::ExchangeUnbindOk(ExchangeUnbindOk {}));
        let binding = (m.destination, m.source, m.routing_key, m.arguments);
        self.exchange_binding(binding, true, ok, shared, out).await
    }

    /// exchange.bind and exchange.unbind: (destination, source, key, arguments).
    async fn exchange_binding(
        &mut self,
        (destination, source, key, arguments): (ShortStr, ShortStr, ShortStr, FieldTable),
        unbind: bool,
        reply: Option<Method>,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        shared
            .vhost
            .bind(
                &shared.access,
                shared.id,
                BindingSpec {
                    source: Name::from(source.as_str()),
                    destination: DestName::Exchange(Name::from(destination.as_str())),
                    routing_key: key.to_string(),
                    arguments,
                },
                unbind,
            )
            .await?;
        if let Some(reply) = reply {
            self.send(out, &reply);
        }
        Ok(())
    }

    pub(super) async fn queue_declare(
        &mut self,
        m: QueueDeclare,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        if m.queue.as_str() == warren_core::reply_to::REPLY_TO_QUEUE && m.passive {
            // The direct reply-to pseudo-queue always "exists" with one consumer, as in
            // RabbitMQ.
            if !m.no_wait {
                self.send(
                    out,
                    &Method::QueueDeclareOk(QueueDeclareOk {
                        queue: m.queue.clone(),
                        message_count: 0,
                        consumer_count: 1,
                    }),
                );
            }
            return Ok(());
        }
        // queue.declare never means "the last queue": "" is server-named, and a passive
        // declare of "" looks for a queue named "".
        let name = m.queue.to_string();
        let declared = shared
            .vhost
            .declare_queue(vhost::QueueDeclare {
                access: &shared.access,
                name: &name,
                passive: m.passive,
                durable: m.durable,
                exclusive: m.exclusive,
                auto_delete: m.auto_delete,
                arguments: m.arguments,
                connection: shared.id,
            })
            .await?;
        self.last_queue = Some(declared.queue.name.clone());
        if !m.no_wait {
            self.send(
                out,
                &Method::QueueDeclareOk(QueueDeclareOk {
                    queue: declared.queue.name.to_string().into(),
                    message_count: declared.message_count,
                    consumer_count: declared.consumer_count,
                }),
            );
        }
        Ok(())
    }

    pub(super) async fn queue_bind(
        &mut self,
        m: QueueBind,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let queue = self.queue_name(m.queue.as_str())?;
        // Spec: with no queue and no key, the key is the (last declared) queue's name.
        let key = if m.queue.is_empty() && m.routing_key.is_empty() {
            queue.clone()
        } else {
            m.routing_key.to_string()
        };
        shared
            .vhost
            .bind(
                &shared.access,
                shared.id,
                BindingSpec {
                    source: Name::from(m.exchange.as_str()),
                    destination: DestName::Queue(Name::from(queue)),
                    routing_key: key,
                    arguments: m.arguments,
                },
                false,
            )
            .await?;
        if !m.no_wait {
            self.send(out, &Method::QueueBindOk(QueueBindOk {}));
        }
        Ok(())
    }

    pub(super) async fn queue_unbind(
        &mut self,
        m: QueueUnbind,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let queue = self.queue_name(m.queue.as_str())?;
        shared
            .vhost
            .bind(
                &shared.access,
                shared.id,
                BindingSpec {
                    source: Name::from(m.exchange.as_str()),
                    destination: DestName::Queue(Name::from(queue)),
                    routing_key: m.routing_key.to_string(),
                    arguments: m.arguments,
                },
                true,
            )
            .await?;
        self.send(out, &Method::QueueUnbindOk(QueueUnbindOk {}));
        Ok(())
    }

    pub(super) async fn queue_purge(
        &mut self,
        m: QueuePurge,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let queue = self.queue_name(m.queue.as_str())?;
        let message_count = shared
            .vhost
            .purge_queue(&shared.access, shared.id, &queue)
            .await?;
        if !m.no_wait {
            self.send(out, &Method::QueuePurgeOk(QueuePurgeOk { message_count }));
        }
        Ok(())
    }

    pub(super) async fn queue_delete(
        &mut self,
        m: QueueDelete,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let queue = self.queue_name(m.queue.as_str())?;
        let message_count = shared
            .vhost
            .delete_queue(&shared.access, shared.id, &queue, m.if_unused, m.if_empty)
            .await?;
        if !m.no_wait {
            self.send(out, &Method::QueueDeleteOk(QueueDeleteOk { message_count }));
        }
        Ok(())
    }
}
