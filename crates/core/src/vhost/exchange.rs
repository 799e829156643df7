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
}

pub struct Exchange {
    id: u64,
    pub name: Name,
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
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

/// What policies decide for an exchange.
struct ExchangePolicy {
    alternate: Option<Name>,
    policy: Option<Name>,
}

static NEXT_EXCHANGE_ID: AtomicU64 = AtomicU64::new(1);

impl Exchange {
    pub(crate) fn new(spec: ExchangeSpec) -> ExchangeRef {
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
            policy: RwLock::new(ExchangePolicy {
                alternate,
                policy: None,
            }),
            inbound: AtomicU64::new(0),
            deleted: AtomicBool::new(false),
        })
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
