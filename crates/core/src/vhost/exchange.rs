//! An exchange as the broker holds it: its declaration and its routing table.

use crate::exchange::{ExchangeKind, Router};
use crate::names::Name;
use crate::queue::QueueRef;
use amqp_codec::FieldTable;
use parking_lot::RwLock;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub type ExchangeRef = Arc<Exchange>;

/// Where a binding leads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dest {
    Queue(QueueRef),
    Exchange(ExchangeRef),
}

impl Dest {
    pub fn name(&self) -> &Name {
        match self {
            Dest::Queue(q) => &q.name,
            Dest::Exchange(e) => &e.name,
        }
    }
}

/// How an exchange is declared.
#[derive(Clone, Debug)]
pub struct ExchangeSpec {
    pub name: Name,
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    /// The types RabbitMQ gets from plugins, built in here; `None` for the AMQP
    /// types.
    pub plugin: Option<PluginType>,
}

/// Exchange types beyond AMQP's, each with the store id of what it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginType {
    /// `x-delayed-message`: `kind` is the routing type from `x-delayed-type`; the
    /// store holds the messages waiting for their time.
    Delayed { store: u64 },
    /// `x-message-deduplication`: routes as fanout; the store holds its window of
    /// keys (`x-cache-persistence` = `disk`).
    Deduplication { store: u64 },
}

impl PluginType {
    pub fn type_name(self) -> &'static str {
        match self {
            PluginType::Delayed { .. } => DELAYED_TYPE,
            PluginType::Deduplication { .. } => super::dedup_exchange::DEDUP_TYPE,
        }
    }
    pub fn store(self) -> u64 {
        match self {
            PluginType::Delayed { store } | PluginType::Deduplication { store } => store,
        }
    }
}

pub struct Exchange {
    id: u64,
    pub name: Name,
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    plugin: Option<PluginType>,
    /// The actor holding delayed messages (`x-delayed-message` exchanges).
    delayer: Option<super::delayed::Delayer>,
    /// The window of seen keys (`x-message-deduplication` exchanges).
    dedup: Option<parking_lot::Mutex<super::dedup_exchange::DedupCache>>,
    /// Where unroutable messages go: the `alternate-exchange` argument, else the
    /// policy's; and the name of the policy in force.
    policy: RwLock<ExchangePolicy>,
    /// Read-locked by publishers (shared only among publishers to this exchange),
    /// write-locked by bind and unbind.
    pub(crate) router: RwLock<Router<Dest>>,
    /// How many bindings have this exchange as their destination (auto-delete of
    /// exchanges counts bindings in both directions).
    pub(crate) inbound: AtomicU64,
    deleted: AtomicBool,
}

/// The exchange type of RabbitMQ's delayed-message plugin.
pub const DELAYED_TYPE: &str = "x-delayed-message";

/// What a plugin-type exchange starts with.
#[derive(Default)]
pub(crate) struct PluginState {
    pub delayer: Option<super::delayed::Delayer>,
    pub dedup: Option<super::dedup_exchange::DedupCache>,
}

/// What policies decide for an exchange.
struct ExchangePolicy {
    alternate: Option<Name>,
    policy: Option<Name>,
}

static NEXT_EXCHANGE_ID: AtomicU64 = AtomicU64::new(1);

impl Exchange {
    pub(crate) fn new(spec: ExchangeSpec, extra: PluginState) -> ExchangeRef {
        let alternate = crate::policy::alternate_exchange(&spec.arguments, None);
        Arc::new(Exchange {
            id: NEXT_EXCHANGE_ID.fetch_add(1, Ordering::Relaxed),
            router: RwLock::new(Router::new(spec.kind)),
            name: spec.name,
            kind: spec.kind,
            durable: spec.durable,
            auto_delete: spec.auto_delete,
            internal: spec.internal,
            arguments: spec.arguments,
            plugin: spec.plugin,
            delayer: extra.delayer,
            dedup: extra.dedup.map(parking_lot::Mutex::new),
            policy: RwLock::new(ExchangePolicy {
                alternate,
                policy: None,
            }),
            inbound: AtomicU64::new(0),
            deleted: AtomicBool::new(false),
        })
    }
    /// Whether a message with these encoded properties may be routed: false for a
    /// duplicate at a deduplication exchange (true everywhere else).
    pub fn admit(&self, properties: &[u8]) -> bool {
        let Some(dedup) = &self.dedup else {
            return true;
        };
        let headers = amqp_codec::scan_properties(properties)
            .ok()
            .and_then(|view| view.headers.map(amqp_codec::decode_table))
            .and_then(Result::ok);
        match headers.as_ref().and_then(super::dedup_exchange::key_of) {
            Some((key, ttl)) => dedup.lock().admit(key, ttl),
            None => true,
        }
    }

    /// Deleted: what it keeps in the store goes.
    pub(crate) fn discard_kept(&self) {
        if let Some(delayer) = &self.delayer {
            delayer.delete();
        }
        if let Some(dedup) = &self.dedup {
            dedup.lock().discard();
        }
    }

    /// The type a client declared (`x-delayed-message`, `x-message-deduplication`
    /// for those).
    pub fn type_name(&self) -> &'static str {
        match self.plugin {
            Some(plugin) => plugin.type_name(),
            None => self.kind.as_str(),
        }
    }

    /// The actor holding this exchange's delayed messages, if it is one.
    pub fn delayer(&self) -> Option<&super::delayed::Delayer> {
        self.delayer.as_ref()
    }

    /// Where messages this exchange cannot route go.
    pub fn alternate(&self) -> Option<Name> {
        self.policy.read().alternate.clone()
    }

    /// The policy in force for this exchange.
    pub fn policy_name(&self) -> Option<Name> {
        self.policy.read().policy.clone()
    }

    /// Takes the policy that applies to it now (its alternate exchange may change).
    pub(crate) fn reapply_policies(&self, policies: &crate::policy::Policies) {
        let best = policies.best(
            crate::policy::PolicyKind::Regular,
            crate::policy::Target::Exchange,
            &self.name,
        );
        let alternate = crate::policy::alternate_exchange(&self.arguments, best.as_deref());
        *self.policy.write() = ExchangePolicy {
            alternate,
            policy: best.map(|p| p.spec.name.clone()),
        };
    }

    /// The declaration that recreates this exchange.
    pub fn spec(&self) -> ExchangeSpec {
        ExchangeSpec {
            name: self.name.clone(),
            kind: self.kind,
            durable: self.durable,
            auto_delete: self.auto_delete,
            internal: self.internal,
            arguments: self.arguments.clone(),
            plugin: self.plugin,
        }
    }
    /// The nameless default exchange routes by queue name; it has no table.
    pub fn is_default(&self) -> bool {
        self.name.is_empty()
    }
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
    }
    /// Whether any binding has this exchange as source or destination.
    pub fn in_use(&self) -> bool {
        !self.router.read().is_empty() || self.inbound.load(Ordering::Acquire) > 0
    }
    pub fn bindings(&self) -> Vec<(String, FieldTable, Dest)> {
        self.router.read().bindings()
    }

    /// Calls `f` with every binding in place, under the exchange's read lock (so
    /// `f` must not bind or unbind): a listing of 100,000 bindings copies only
    /// what it keeps.
    pub fn for_each_binding(&self, f: impl FnMut(&str, &FieldTable, &Dest)) {
        self.router.read().for_each_binding(f)
    }

    pub fn binding_count(&self) -> usize {
        self.router.read().len()
    }

    /// Whether some binding of this exchange leads to `dest` (an index lookup).
    pub fn has_destination(&self, dest: &Dest) -> bool {
        self.router.read().has_destination(dest)
    }
}

impl PartialEq for Exchange {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Exchange {}
impl Hash for Exchange {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}
impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exchange '{}'", self.name)
    }
}
