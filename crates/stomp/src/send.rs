//! SEND: the destination names an exchange and a routing key; the headers become
//! AMQP properties (`mapping`); the message is routed as an AMQP publish would be
//! (write permission, topic permissions, deduplication, delayed exchanges) and
//! batched per queue until the end of the read.

use crate::dest::Dest;
use crate::error::{StompError, StompResult};
use crate::frame::Frame;
use crate::mapping::properties_from_send;
use crate::session::{AckMode, Session, Subscription};
use std::sync::Arc;
use warren_core::access::{Perm, ResourceKind};
use warren_core::vhost::QueueDeclare;
use warren_core::{Consumer, Message, Name, QueueRef};

impl Session {
    pub(crate) async fn send(&mut self, frame: &Frame) -> StompResult<()> {
        let text = frame
            .header("destination")
            .ok_or_else(|| StompError::missing_header("SEND", "destination"))?;
        let (exchange, key) = match Dest::parse(text)? {
            Dest::Queue(q) => {
                self.declare_queue(&q, frame).await?;
                (String::new(), q)
            }
            Dest::AmqQueue(q) | Dest::ReplyQueue(q) => (String::new(), q),
            Dest::Topic(k) => ("amq.topic".to_string(), k),
            Dest::Exchange { name, key } => (name, key),
            Dest::TempQueue(t) => (String::new(), self.temp_queue(&t).await?.to_string()),
        };
        let reply_to = match frame.header("reply-to") {
            Some(r) => Some(match r.strip_prefix("/temp-queue/") {
                Some(name) if !name.is_empty() => self.temp_queue(name).await?.to_string(),
                _ => match r.strip_prefix("/reply-queue/") {
                    Some(queue) => queue.to_string(),
                    None => r.to_string(),
                },
            }),
            None => None,
        };
        let props = properties_from_send(frame, reply_to)?;
        if let Some(user_id) = &props.user_id {
            if user_id.as_str() != &*self.user.name {
                return Err(StompError::new(
                    "precondition_failed",
                    format!(
                        "PRECONDITION_FAILED - user_id property set to '{user_id}' but authenticated user was '{}'",
                        self.user.name
                    ),
                ));
            }
        }
        let expiration = match &props.expiration {
            Some(text) => Some(
                warren_core::message::parse_expiration(text).map_err(|reason| {
                    StompError::new(
                        "precondition_failed",
                        format!("PRECONDITION_FAILED - invalid expiration '{text}': {reason}"),
                    )
                })?,
            ),
            None => None,
        };
        let exchange = self.publisher.exchange(&exchange)?;
        if exchange.internal {
            return Err(StompError::new(
                "access_refused",
                format!(
                    "ACCESS_REFUSED - cannot publish to internal exchange '{}' in vhost '{}'",
                    exchange.name, self.vhost.name
                ),
            ));
        }
        self.access
            .check_topic(Perm::Write, exchange.kind, &exchange.name, &key)?;
        let message = Arc::new(Message {
            exchange: exchange.name.clone(),
            routing_key: key.into(),
            persistent: props.delivery_mode == Some(2),
            priority: props.priority.unwrap_or(0),
            properties: props.encode(),
            body: frame.body.clone(),
            expiration,
            bcc: None,
        });
        if !exchange.admit(&message.properties) {
            // A duplicate at a deduplication exchange: dropped.
            return Ok(());
        }
        let mut queues = std::mem::take(&mut self.route_buf);
        queues.clear();
        self.publisher.route(
            &exchange,
            message.routing_key.as_str(),
            &message.properties,
            &mut queues,
        );
        if self.vhost.tracing() {
            self.vhost
                .trace_publish(&message, &queues, self.trace_origin());
        }
        for queue in queues.drain(..) {
            self.batches.add(queue, message.clone(), 0);
        }
        self.route_buf = queues;
        for (exchange, delay) in self.publisher.take_delayed() {
            if let Some(delayer) = exchange.delayer() {
                delayer.hold(message.clone(), delay, None);
            }
        }
        Ok(())
    }

    /// `/queue/<name>`: a durable queue, declared if it is not there (configure
    /// permission); `x-*` headers such as `x-max-length` are its arguments, as
    /// RabbitMQ's plugin takes them.
    pub(crate) async fn declare_queue(
        &mut self,
        name: &str,
        frame: &Frame,
    ) -> StompResult<QueueRef> {
        if let Some(queue) = self.vhost.queue(name) {
            // Already there: no declare, so no equivalence check, as for a SEND in
            // RabbitMQ's plugin to a queue declared by AMQP with other arguments.
            return Ok(queue);
        }
        let declared = self
            .vhost
            .declare_queue(QueueDeclare {
                access: &self.access,
                name,
                passive: false,
                durable: header_bool(frame, "durable")
                    .or(header_bool(frame, "persistent").filter(|_| frame.command != "SEND"))
                    .unwrap_or(true),
                exclusive: header_bool(frame, "exclusive").unwrap_or(false),
                auto_delete: header_bool(frame, "auto-delete").unwrap_or(false),
                arguments: crate::subscribe::queue_arguments(frame)?,
                connection: self.id,
            })
            .await?;
        Ok(declared.queue)
    }

    /// The queue behind `/temp-queue/<name>`: made (exclusive, auto-delete) the first
    /// time the session names it, with a subscription of id `/temp-queue/<name>`
    /// that delivers its replies.
    pub(crate) async fn temp_queue(&mut self, name: &str) -> StompResult<Name> {
        if let Some(queue) = self.temp_queues.get(name) {
            return Ok(queue.clone());
        }
        // An empty name: the core names it `amq.gen-...`.
        let declared = self
            .vhost
            .declare_queue(QueueDeclare {
                access: &self.access,
                name: "",
                passive: false,
                durable: false,
                exclusive: true,
                auto_delete: true,
                arguments: Default::default(),
                connection: self.id,
            })
            .await?;
        let queue = declared.queue;
        let id = format!("/temp-queue/{name}");
        self.access.read(ResourceKind::Queue, &queue.name)?;
        queue.consume(self.consumer(&id, AckMode::Auto, 0)).await?;
        self.touch(&queue);
        self.subscriptions.insert(
            id,
            Subscription {
                queue: queue.clone(),
                ack: AckMode::Auto,
            },
        );
        self.temp_queues
            .insert(name.to_string(), queue.name.clone());
        Ok(queue.name.clone())
    }

    pub(crate) fn consumer(&self, id: &str, ack: AckMode, prefetch: u32) -> Consumer {
        Consumer {
            tag: Name::from(format!("T_{id}")),
            channel: self.key,
            channel_number: 1,
            connection: self.id,
            no_ack: ack == AckMode::Auto,
            exclusive: false,
            prefetch,
            channel_credit: self.credit.clone(),
            transit: self.transit.clone(),
            outlet: self.outlet.clone(),
            unacked: 0,
            priority: 0,
        }
    }
}

/// `true`/`True` or `false`/`False`, as RabbitMQ's plugin reads boolean headers.
pub(crate) fn header_bool(frame: &Frame, name: &str) -> Option<bool> {
    match frame.header(name)? {
        "true" | "True" => Some(true),
        "false" | "False" => Some(false),
        _ => None,
    }
}
