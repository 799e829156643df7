//! A virtual host: its exchanges, queues and bindings.
//!
//! Topology lives behind one short mutex (`Meta`), taken by declare/delete/bind and by
//! cache misses; publishing goes through per-channel caches (`route::Publisher`) and the
//! exchanges' own read locks, so steady-state traffic never takes the vhost lock.

mod command;
pub mod dedup_exchange;
pub mod delayed;
mod exchange;
mod ops;
mod policies;
mod route;
pub mod trace;

pub use command::{BindingSpec, Command, DestName};
pub use exchange::{Dest, Exchange, ExchangeRef, ExchangeSpec, PluginType, DELAYED_TYPE};
pub use ops::{ExchangeDeclare, QueueDeclare, QueueDeclared};
pub use route::Publisher;

use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::exchange::ExchangeKind;
use crate::journal::codec::MetaRecord;
use crate::names::Name;
use crate::policy::PolicyKind;
use crate::queue::{QueueRef, QueueTotals};
use crate::storage::StorageRef;
use amqp_codec::FieldTable;
use command::Meta;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

pub type VHostRef = Arc<VHost>;

pub struct VHost {
    pub name: Name,
    meta: Mutex<Meta>,
    myself: Weak<VHost>,
    /// Where durable topology and persistent messages go; `None` runs in memory only.
    storage: Option<StorageRef>,
    /// The vhost was deleted: connections still holding it can change nothing.
    deleted: AtomicBool,
    /// Firehose tracing is on (`trace.rs`).
    tracing: AtomicBool,
    /// Queues declared, created and deleted here (the Prometheus exporter's).
    pub queue_lifecycle: crate::metrics::QueueLifecycle,
    /// Where the vhost's recording queues send their delivery records.
    records: crate::records::RecorderRef,
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
    /// A vhost of its own, its delivery records in memory (tests, benchmarks).
    pub fn new(name: &str, storage: Option<StorageRef>) -> VHostRef {
        let records = crate::records::Recorder::new(Arc::default());
        VHost::with_records(name, storage, records)
    }

    /// A vhost of a broker, whose recorder keeps its delivery records.
    pub fn with_records(
        name: &str,
        storage: Option<StorageRef>,
        records: crate::records::RecorderRef,
    ) -> VHostRef {
        let vhost = Arc::new_cyclic(|myself| VHost {
            name: Name::from(name),
            meta: Mutex::new(Meta::new(storage.clone())),
            myself: myself.clone(),
            storage,
            deleted: AtomicBool::new(false),
            tracing: AtomicBool::new(false),
            queue_lifecycle: Default::default(),
            records,
        });
        for (name, kind, internal) in BUILTIN_EXCHANGES {
            vhost.apply(Command::DeclareExchange(ExchangeSpec {
                name: Name::from(*name),
                kind: *kind,
                durable: true,
                auto_delete: false,
                internal: *internal,
                arguments: FieldTable::new(),
                plugin: None,
            }));
        }
        vhost
    }

    /// The delivery records of the vhost's recording queues.
    pub fn records(&self) -> &crate::records::RecorderRef {
        &self.records
    }

    /// Applies a validated metadata change, without logging it (replay, and what
    /// never outlives the broker).
    pub fn apply(&self, cmd: Command) {
        if let Command::SetTracing(on) = cmd {
            self.apply_tracing(on);
            return;
        }
        self.meta.lock().apply(&self.myself, &self.name, cmd);
    }

    /// Applies a validated metadata change; one that concerns durable objects is
    /// written to the metadata log first, and not applied if that fails.
    pub async fn commit(&self, cmd: Command) -> CoreResult<()> {
        if self.is_deleted() {
            return Err(CoreError::new(
                ErrorKind::NotAllowed,
                format!("vhost '{}' is deleted", self.name),
            ));
        }
        let Some(storage) = &self.storage else {
            self.apply(cmd);
            return Ok(());
        };
        let record = || {
            self.is_durable_change(&cmd).then(|| MetaRecord::VHost {
                vhost: self.name.clone(),
                command: cmd.clone(),
            })
        };
        storage.commit(record, || self.apply(cmd.clone())).await
    }

    /// Whether a command changes what must survive a restart: durable exchanges,
    /// durable non-exclusive queues, and bindings between two durable ends.
    fn is_durable_change(&self, cmd: &Command) -> bool {
        let meta = self.meta.lock();
        let durable_queue = |name: &Name| meta.queues.get(name).is_some_and(is_durable);
        let durable_exchange = |name: &Name| meta.exchanges.get(name).is_some_and(|e| e.durable);
        match cmd {
            Command::DeclareExchange(spec) => {
                spec.durable && !meta.exchanges.contains_key(&spec.name)
            }
            Command::DeleteExchange { name } => durable_exchange(name),
            Command::DeclareQueue(spec) => {
                spec.durable
                    && spec.exclusive_owner.is_none()
                    && !meta.queues.contains_key(&spec.name)
            }
            Command::DeleteQueue { name } => durable_queue(name),
            // Policies are always durable, as RabbitMQ's runtime parameters are.
            Command::SetPolicy { .. } | Command::ClearPolicy { .. } | Command::SetTracing(_) => {
                true
            }
            Command::Bind(b) | Command::Unbind(b) => {
                durable_exchange(&b.source)
                    && match &b.destination {
                        DestName::Queue(q) => durable_queue(q),
                        DestName::Exchange(e) => durable_exchange(e),
                    }
            }
        }
    }

    /// Every durable object of this vhost as the commands that recreate it: exchanges,
    /// then queues, then bindings (for a metadata snapshot).
    pub fn durable_commands(&self) -> Vec<Command> {
        let meta = self.meta.lock();
        // Policies first, so that recovered queues start with their settings.
        let mut commands = Vec::new();
        if self.tracing() {
            commands.push(Command::SetTracing(true));
        }
        for kind in [PolicyKind::Regular, PolicyKind::Operator] {
            for spec in meta.policies.list(kind) {
                commands.push(Command::SetPolicy { kind, spec });
            }
        }
        let mut bindings = Vec::new();
        for e in meta.exchanges.values().filter(|e| e.durable) {
            commands.push(Command::DeclareExchange(e.spec()));
            for (routing_key, arguments, dest) in e.router.read().bindings() {
                let destination = match dest {
                    Dest::Queue(q) if is_durable(&q) => DestName::Queue(q.name.clone()),
                    Dest::Exchange(x) if x.durable => DestName::Exchange(x.name.clone()),
                    _ => continue,
                };
                bindings.push(Command::Bind(BindingSpec {
                    source: e.name.clone(),
                    destination,
                    routing_key: routing_key.to_string(),
                    arguments: arguments.clone(),
                }));
            }
        }
        for q in meta.queues.values().filter(|q| is_durable(q)) {
            commands.push(Command::DeclareQueue(q.spec()));
        }
        commands.extend(bindings);
        commands
    }

    /// Lets every delayed exchange route its due messages: recovery has rebuilt the
    /// queues and bindings they route to.
    pub fn start_delayed(&self) {
        for exchange in self.exchanges() {
            if let Some(delayer) = exchange.delayer() {
                delayer.start();
            }
        }
    }

    /// The vhost is being deleted: new connections cannot open it, and commands
    /// from connections still on it are refused.
    pub(crate) fn mark_deleting(&self) {
        self.deleted.store(true, Ordering::Release);
    }

    /// The broker removed this vhost. Queues still in it (replay of a deletion
    /// whose queue records were not all logged) stop.
    pub(crate) fn mark_deleted(&self) {
        self.mark_deleting();
        let left: Vec<QueueRef> = self.meta.lock().queues.values().cloned().collect();
        for queue in left {
            self.forget_queue(&queue);
            if tokio::runtime::Handle::try_current().is_ok() {
                tokio::spawn(async move {
                    let _ = queue.delete(false, false).await;
                });
            }
        }
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Deletes a queue whoever owns it, as `queue.delete` would (the vhost is being
    /// deleted).
    pub(crate) async fn delete_queue_unchecked(&self, queue: &QueueRef) -> CoreResult<()> {
        queue.delete(false, false).await?;
        self.forget_queue_logged(queue).await
    }

    /// A fresh queue id (from the store when there is one: never reused).
    pub(crate) fn new_queue_id(&self) -> u64 {
        match &self.storage {
            Some(storage) => storage.new_queue_id(),
            None => crate::ids::new_queue_id(),
        }
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

    pub fn queue_count(&self) -> usize {
        self.meta.lock().queues.len()
    }

    /// Every queue's counters added up, read in place under the vhost's lock
    /// (atomic loads, no copy of the queue list): a vhost of 100,000 queues costs
    /// about a millisecond, not the clone of every queue reference.
    pub fn queue_totals(&self) -> QueueTotals {
        let mut totals = QueueTotals::default();
        for queue in self.meta.lock().queues.values() {
            totals.add(&queue.stats.snapshot());
        }
        totals
    }

    /// Removes a queue whose actor has stopped (deleted, auto-deleted, or its exclusive
    /// owner gone), unless another queue has taken its name meanwhile.
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
            self.queue_lifecycle.deleted();
        }
    }

    /// `forget_queue`, logged when the queue is durable.
    pub(crate) async fn forget_queue_logged(&self, queue: &QueueRef) -> CoreResult<()> {
        let Some(storage) = self.storage.as_ref().filter(|_| is_durable(queue)) else {
            self.forget_queue(queue);
            return Ok(());
        };
        let still_there = || {
            self.meta
                .lock()
                .queues
                .get(&queue.name)
                .is_some_and(|q| q.id() == queue.id())
        };
        let record = || {
            still_there().then(|| MetaRecord::VHost {
                vhost: self.name.clone(),
                command: Command::DeleteQueue {
                    name: queue.name.clone(),
                },
            })
        };
        storage.commit(record, || self.forget_queue(queue)).await
    }

    /// The auto-delete callback: runs in the queue's task, so a logged forget goes to
    /// a task of its own.
    pub(crate) fn queue_stopped(&self, queue: QueueRef) {
        if self.storage.is_some() && is_durable(&queue) {
            if let Some(vhost) = self.myself.upgrade() {
                tokio::spawn(async move {
                    if let Err(e) = vhost.forget_queue_logged(&queue).await {
                        tracing::error!("{queue:?}: auto-delete not recorded: {e:?}");
                    }
                });
            }
        } else {
            self.forget_queue(&queue);
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

/// Durable and not exclusive: a queue that survives a restart.
pub(crate) fn is_durable(queue: &QueueRef) -> bool {
    queue.durable && queue.exclusive_owner.is_none()
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
