//! A virtual host: its exchanges, queues and bindings.
//!
//! Topology lives behind one short mutex (`Meta`), taken by declare/delete/bind and by
//! cache misses; publishing goes through per-channel caches (`route::Publisher`) and the
//! exchanges' own read locks, so steady-state traffic never takes the vhost lock.

mod command;
mod exchange;
mod ops;
mod route;

pub use command::{BindingSpec, Command, DestName};
pub use exchange::{Dest, Exchange, ExchangeRef, ExchangeSpec};
pub use ops::{ExchangeDeclare, QueueDeclare, QueueDeclared};
pub use route::Publisher;

use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::exchange::ExchangeKind;
use crate::names::Name;
use crate::queue::QueueRef;
use amqp_codec::FieldTable;
use command::Meta;
use parking_lot::Mutex;
use std::sync::{Arc, Weak};

pub type VHostRef = Arc<VHost>;

pub struct VHost {
    pub name: Name,
    meta: Mutex<Meta>,
    myself: Weak<VHost>,
}

/// The exchanges every vhost has, as RabbitMQ creates them.
const BUILTIN_EXCHANGES: &[(&str, ExchangeKind, bool)] = &[
    ("", ExchangeKind::Direct, false),
    ("amq.direct", ExchangeKind::Direct, false),
    ("amq.fanout", ExchangeKind::Fanout, false),
    ("amq.topic", ExchangeKind::Topic, false),
    ("amq.headers", ExchangeKind::Headers, false),
    ("amq.match", ExchangeKind::Headers, false),
    ("amq.rabbitmq.trace", ExchangeKind::Topic, true),
];

impl VHost {
    pub fn new(name: &str) -> VHostRef {
        let vhost = Arc::new_cyclic(|myself| VHost {
            name: Name::from(name),
            meta: Mutex::new(Meta::default()),
            myself: myself.clone(),
        });
        for (name, kind, internal) in BUILTIN_EXCHANGES {
            vhost.apply(Command::DeclareExchange(ExchangeSpec {
                name: Name::from(*name),
                kind: *kind,
                durable: true,
                auto_delete: false,
                internal: *internal,
                arguments: FieldTable::new(),
            }));
        }
        vhost
    }

    /// Applies a validated metadata change.
    pub fn apply(&self, cmd: Command) {
        self.meta.lock().apply(&self.myself, &self.name, cmd);
    }

    pub fn exchange(&self, name: &str) -> Option<ExchangeRef> {
        self.meta.lock().exchanges.get(name).cloned()
    }

    pub fn exchange_or_404(&self, name: &str) -> CoreResult<ExchangeRef> {
        self.exchange(name)
            .ok_or_else(|| CoreError::not_found("exchange", name, &self.name))
    }

    pub fn queue(&self, name: &str) -> Option<QueueRef> {
        self.meta.lock().queues.get(name).cloned()
    }

    /// A queue the connection may use: 404 when missing, 405 when it is another
    /// connection's exclusive queue.
    pub fn queue_for(&self, connection: u64, name: &str) -> CoreResult<QueueRef> {
        let queue = self
            .queue(name)
            .ok_or_else(|| CoreError::not_found("queue", name, &self.name))?;
        check_exclusive(&queue, connection)?;
        Ok(queue)
    }

    pub fn exchanges(&self) -> Vec<ExchangeRef> {
        self.meta.lock().exchanges.values().cloned().collect()
    }

    pub fn queues(&self) -> Vec<QueueRef> {
        self.meta.lock().queues.values().cloned().collect()
    }

    /// Removes a queue that has stopped by itself (auto-delete).
    pub(crate) fn forget_queue(&self, queue: &QueueRef) {
        let mut meta = self.meta.lock();
        if meta
            .queues
            .get(&queue.name)
            .is_some_and(|q| q.id() == queue.id())
        {
            meta.apply(
                &self.myself,
                &self.name,
                Command::DeleteQueue {
                    name: queue.name.clone(),
                },
            );
        }
    }

    /// A connection closed: its exclusive queues go with it.
    pub fn connection_closed(&self, connection: u64) {
        let owned: Vec<QueueRef> = self
            .meta
            .lock()
            .queues
            .values()
            .filter(|q| q.exclusive_owner == Some(connection))
            .cloned()
            .collect();
        for queue in owned {
            self.forget_queue(&queue);
            // Stop the actor; nobody waits for the answer.
            tokio::spawn(async move {
                let _ = queue.delete(false, false).await;
            });
        }
    }
}

pub(crate) fn check_exclusive(queue: &QueueRef, connection: u64) -> CoreResult<()> {
    match queue.exclusive_owner {
        Some(owner) if owner != connection => Err(CoreError::new(
            ErrorKind::ResourceLocked,
            exclusive_locked_text(queue),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn exclusive_locked_text(queue: &QueueRef) -> String {
    format!(
        "cannot obtain exclusive access to locked queue '{}' in vhost '{}'. It could be \
         originally declared on another connection or the exclusive property value does not \
         match that of the original declaration.",
        queue.name, queue.vhost
    )
}
