//! Metadata changes as values. Every declare, delete, bind and unbind that the ops
//! layer has validated becomes a `Command`, and `Meta::apply` is the only code that
//! changes the vhost's topology. Persistence (replaying a log), definitions import and
//! cluster replication feed the same commands through the same function.

use super::dedup_exchange;
use super::delayed::Delayer;
use super::exchange::{Dest, Exchange, ExchangeSpec, PluginState, PluginType};
use super::VHost;
use crate::fast_hash::FastMap;
use crate::names::Name;
use crate::policy::{Policies, PolicyKind, PolicySpec};
use crate::queue::{QueueHandle, QueueRef, QueueSpec, QueueStart};
use crate::storage::StorageRef;
use amqp_codec::FieldTable;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

/// The destination of a binding, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestName {
    Queue(Name),
    Exchange(Name),
}

#[derive(Clone, Debug)]
pub struct BindingSpec {
    pub source: Name,
    pub destination: DestName,
    pub routing_key: String,
    pub arguments: FieldTable,
}

#[derive(Clone, Debug)]
pub enum Command {
    DeclareExchange(ExchangeSpec),
    DeleteExchange {
        name: Name,
    },
    DeclareQueue(QueueSpec),
    DeleteQueue {
        name: Name,
    },
    Bind(BindingSpec),
    Unbind(BindingSpec),
    /// Adds or replaces a policy; every queue and exchange is re-resolved.
    SetPolicy {
        kind: PolicyKind,
        spec: PolicySpec,
    },
    ClearPolicy {
        kind: PolicyKind,
        name: Name,
    },
    /// Firehose tracing on or off for the vhost (applied by `VHost::apply`).
    SetTracing(bool),
}

/// A vhost's topology: exchanges and queues by name.
pub(crate) struct Meta {
    pub exchanges: FastMap<Name, Arc<Exchange>>,
    pub queues: FastMap<Name, QueueRef>,
    pub policies: Policies,
    storage: Option<StorageRef>,
}

impl Meta {
    pub(crate) fn new(storage: Option<StorageRef>) -> Meta {
        Meta {
            exchanges: FastMap::default(),
            queues: FastMap::default(),
            policies: Policies::default(),
            storage,
        }
    }

    /// Applies a validated command. Commands that no longer fit (a binding whose queue
    /// went meanwhile) change nothing.
    pub(crate) fn apply(&mut self, vhost: &Weak<VHost>, vhost_name: &Name, cmd: Command) {
        match cmd {
            Command::DeclareExchange(spec) => {
                if !self.exchanges.contains_key(&spec.name) {
                    let extra = self.plugin_state(vhost, &spec);
                    let exchange = Exchange::new(spec, extra);
                    exchange.reapply_policies(&self.policies);
                    self.exchanges.insert(exchange.name.clone(), exchange);
                }
            }
            Command::DeleteExchange { name } => self.delete_exchange(&name),
            Command::DeclareQueue(spec) => {
                if self.queues.contains_key(&spec.name) {
                    return;
                }
                let weak = vhost.clone();
                let store = self.storage.as_ref().map(|s| s.store().clone());
                let recovered = match &self.storage {
                    Some(storage) => storage.take_recovered(spec.id),
                    None => Vec::new(),
                };
                let memory = self
                    .storage
                    .as_ref()
                    .map_or_else(crate::queue::memory::QueueMemory::unlimited, |s| {
                        s.queue_memory().clone()
                    });
                let resolved = self.resolve_queue(&spec);
                let queue = QueueHandle::spawn(
                    vhost_name.clone(),
                    vhost.clone(),
                    spec,
                    QueueStart {
                        store,
                        memory,
                        recovered,
                        resolved,
                    },
                    Box::new(move |queue: QueueRef| {
                        if let Some(vhost) = weak.upgrade() {
                            vhost.queue_stopped(queue);
                        }
                    }),
                );
                self.queues.insert(queue.name.clone(), queue);
            }
            Command::DeleteQueue { name } => self.delete_queue(&name),
            Command::Bind(spec) => {
                let (Some(source), Some(dest)) = (
                    self.exchanges.get(&spec.source).cloned(),
                    self.dest(&spec.destination),
                ) else {
                    return;
                };
                let added =
                    source
                        .router
                        .write()
                        .bind(&spec.routing_key, &spec.arguments, dest.clone());
                if added {
                    if let Dest::Exchange(e) = &dest {
                        e.inbound.fetch_add(1, Ordering::AcqRel);
                    }
                }
            }
            Command::Unbind(spec) => {
                let (Some(source), Some(dest)) = (
                    self.exchanges.get(&spec.source).cloned(),
                    self.dest(&spec.destination),
                ) else {
                    return;
                };
                let removed =
                    source
                        .router
                        .write()
                        .unbind(&spec.routing_key, &spec.arguments, &dest);
                if removed {
                    if let Dest::Exchange(e) = &dest {
                        e.inbound.fetch_sub(1, Ordering::AcqRel);
                    }
                    self.auto_delete_exchange(&source);
                }
            }
            Command::SetPolicy { kind, spec } => {
                self.policies.set(kind, spec);
                self.reapply_policies();
            }
            Command::ClearPolicy { kind, name } => {
                if self.policies.clear(kind, &name) {
                    self.reapply_policies();
                }
            }
            Command::SetTracing(_) => {}
        }
    }

    /// The actor or window a plugin-type exchange needs, with what the store kept of
    /// it when it is durable.
    fn plugin_state(&self, vhost: &Weak<VHost>, spec: &ExchangeSpec) -> PluginState {
        let Some(plugin) = spec.plugin else {
            return PluginState::default();
        };
        let store = self.storage.as_ref().map(|s| s.store().clone());
        let recovered = match (&self.storage, spec.durable) {
            (Some(storage), true) => storage.take_recovered(plugin.store()),
            _ => Vec::new(),
        };
        match plugin {
            PluginType::Delayed { store: id } => PluginState {
                delayer: Some(Delayer::spawn(
                    vhost.clone(),
                    spec.name.clone(),
                    store,
                    id,
                    spec.durable,
                    recovered,
                )),
                dedup: None,
            },
            PluginType::Deduplication { store: id } => {
                let settings = dedup_exchange::settings(&spec.arguments).unwrap_or(
                    dedup_exchange::DedupSettings {
                        size: 1,
                        ttl: None,
                        on_disk: false,
                    },
                );
                let kept = store.filter(|_| settings.on_disk && spec.durable);
                PluginState {
                    delayer: None,
                    dedup: Some(dedup_exchange::DedupCache::new(
                        &settings,
                        kept.map(|s| (s, id)),
                        recovered,
                    )),
                }
            }
        }
    }

    /// A new queue's settings when a policy applies to it.
    fn resolve_queue(&self, spec: &QueueSpec) -> Option<crate::policy::Resolved> {
        if self.policies.is_empty() {
            return None;
        }
        let from_args =
            crate::queue::args::parse_queue_args(&spec.arguments, &spec.name, "").ok()?;
        let resolved =
            crate::policy::resolve_queue(&spec.name, &spec.arguments, &from_args, &self.policies);
        (resolved.applied != crate::policy::Applied::default()).then_some(resolved)
    }

    /// After a policy change: every queue and exchange takes what applies to it now.
    fn reapply_policies(&self) {
        for queue in self.queues.values() {
            queue.reapply_policies(&self.policies);
        }
        for exchange in self.exchanges.values() {
            exchange.reapply_policies(&self.policies);
        }
    }

    fn dest(&self, name: &DestName) -> Option<Dest> {
        match name {
            DestName::Queue(q) => self.queues.get(q).cloned().map(Dest::Queue),
            DestName::Exchange(e) => self.exchanges.get(e).cloned().map(Dest::Exchange),
        }
    }

    fn delete_queue(&mut self, name: &Name) {
        let Some(queue) = self.queues.remove(name) else {
            return;
        };
        queue.mark_deleted();
        let dest = Dest::Queue(queue);
        self.remove_bindings_to(&dest);
    }

    fn delete_exchange(&mut self, name: &Name) {
        let Some(exchange) = self.exchanges.remove(name) else {
            return;
        };
        exchange.mark_deleted();
        exchange.discard_kept();
        // Bindings from it: destinations that are exchanges lose an inbound binding.
        for (_, _, dest) in exchange.router.read().bindings() {
            if let Dest::Exchange(e) = dest {
                e.inbound.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let dest = Dest::Exchange(exchange);
        self.remove_bindings_to(&dest);
    }

    /// Removes every binding leading to `dest`, then deletes auto-delete exchanges left
    /// without bindings as a consequence.
    fn remove_bindings_to(&mut self, dest: &Dest) {
        let mut emptied = Vec::new();
        for exchange in self.exchanges.values() {
            let mut router = exchange.router.write();
            if router.has_destination(dest) && router.unbind_destination(dest) > 0 {
                emptied.push(exchange.clone());
            }
        }
        for exchange in emptied {
            self.auto_delete_exchange(&exchange);
        }
    }

    /// An auto-delete exchange goes when its last binding (as source) goes.
    fn auto_delete_exchange(&mut self, exchange: &Arc<Exchange>) {
        if exchange.auto_delete && exchange.router.read().is_empty() {
            self.delete_exchange(&exchange.name);
        }
    }
}
