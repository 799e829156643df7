//! Policies: settings that apply to every queue or exchange whose name matches a
//! pattern, changed at run time without redeclaring anything (RabbitMQ's policies and
//! operator policies).
//!
//! A policy's definition uses the argument names without their `x-` prefix
//! (`message-ttl`, `dead-letter-exchange`, `max-length` …). It does not work beside the
//! queue's arguments but through them: `resolve` merges the queue's declared arguments
//! with the policy and the operator policy that apply, and the queue acts on the one
//! `QueueSettings` that comes out, as if it had been declared with them. Changing or
//! clearing a policy re-resolves every queue and exchange of the vhost.
//!
//! Which policy applies: of the policies whose pattern matches the name (an unanchored
//! regular expression, as RabbitMQ's) and whose `apply-to` fits, the one with the
//! highest priority (ties: the first name in order). Operator policies are chosen the
//! same way among themselves; their keys are limits an operator imposes, so where both
//! a policy and an operator policy (or the queue's argument) set one, the lower wins.

mod resolve;
mod validate;

pub use resolve::{resolve_queue, Resolved, OPERATOR_KEYS};
pub use validate::validate;

use crate::error::{CoreError, CoreResult};
use crate::names::Name;
use amqp_codec::FieldTable;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Regular policies, or the operator policies that cap them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    Regular,
    Operator,
}

/// What kind of object a policy applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ApplyTo {
    Queues,
    Exchanges,
    #[default]
    All,
}

impl ApplyTo {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
            ApplyTo::All => "all",
        }
    }

    /// RabbitMQ's names; newer ones (`classic_queues`) mean queues here, where every
    /// queue is classic.
    pub fn parse(s: &str) -> CoreResult<ApplyTo> {
        match s {
            "queues" | "classic_queues" => Ok(ApplyTo::Queues),
            "exchanges" => Ok(ApplyTo::Exchanges),
            "all" => Ok(ApplyTo::All),
            other => Err(validate::failed(format!(
                "apply-to '{other}' unrecognised; should be 'queues', 'exchanges' or 'all'"
            ))),
        }
    }

    fn covers(self, target: Target) -> bool {
        matches!(
            (self, target),
            (ApplyTo::All, _)
                | (ApplyTo::Queues, Target::Queue)
                | (ApplyTo::Exchanges, Target::Exchange)
        )
    }
}

/// What a policy is being matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Queue,
    Exchange,
}

/// A policy as set: the value that commands, the log and definitions carry.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicySpec {
    pub name: Name,
    pub pattern: String,
    pub apply_to: ApplyTo,
    pub priority: i64,
    /// Keys without the `x-` prefix, values as AMQP field values (JSON numbers are
    /// integers or doubles, strings long strings, lists arrays).
    pub definition: FieldTable,
}

/// A validated policy with its pattern compiled.
#[derive(Clone, Debug)]
pub struct Policy {
    pub spec: PolicySpec,
    pattern: regex::Regex,
}

impl Policy {
    /// Checks a policy as RabbitMQ does (pattern, apply-to, every definition key and
    /// value); the error says what is wrong.
    pub fn new(kind: PolicyKind, spec: PolicySpec) -> CoreResult<Policy> {
        let pattern = regex::Regex::new(&spec.pattern).map_err(|e| {
            validate::failed(format!(
                "pattern should be regular expression but is invalid: {}",
                first_line(&e.to_string())
            ))
        })?;
        validate(kind, spec.apply_to, &spec.definition)?;
        Ok(Policy { spec, pattern })
    }

    fn matches(&self, target: Target, name: &str) -> bool {
        self.spec.apply_to.covers(target) && self.pattern.is_match(name)
    }
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

/// A vhost's policies of both kinds.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    regular: BTreeMap<Name, Arc<Policy>>,
    operator: BTreeMap<Name, Arc<Policy>>,
}

impl Policies {
    fn of(&self, kind: PolicyKind) -> &BTreeMap<Name, Arc<Policy>> {
        match kind {
            PolicyKind::Regular => &self.regular,
            PolicyKind::Operator => &self.operator,
        }
    }

    fn of_mut(&mut self, kind: PolicyKind) -> &mut BTreeMap<Name, Arc<Policy>> {
        match kind {
            PolicyKind::Regular => &mut self.regular,
            PolicyKind::Operator => &mut self.operator,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.regular.is_empty() && self.operator.is_empty()
    }

    /// Adds or replaces a policy. A spec that does not validate (it was validated
    /// before it was committed, so only a damaged log gives one) is skipped.
    pub fn set(&mut self, kind: PolicyKind, spec: PolicySpec) {
        match Policy::new(kind, spec) {
            Ok(policy) => {
                self.of_mut(kind)
                    .insert(policy.spec.name.clone(), Arc::new(policy));
            }
            Err(e) => tracing::error!("policy skipped: {}", e.message),
        }
    }

    /// Removes a policy; whether it existed.
    pub fn clear(&mut self, kind: PolicyKind, name: &str) -> bool {
        self.of_mut(kind).remove(name).is_some()
    }

    pub fn get(&self, kind: PolicyKind, name: &str) -> Option<&PolicySpec> {
        self.of(kind).get(name).map(|p| &p.spec)
    }

    pub fn list(&self, kind: PolicyKind) -> Vec<PolicySpec> {
        self.of(kind).values().map(|p| p.spec.clone()).collect()
    }

    /// The policy of `kind` that applies to the object: the highest priority among the
    /// matching ones; on a tie, the first by name.
    pub fn best(&self, kind: PolicyKind, target: Target, name: &str) -> Option<Arc<Policy>> {
        let mut best: Option<&Arc<Policy>> = None;
        for policy in self.of(kind).values() {
            if !policy.matches(target, name) {
                continue;
            }
            if best.is_none_or(|b| policy.spec.priority > b.spec.priority) {
                best = Some(policy);
            }
        }
        best.cloned()
    }
}

/// The policies in force for one object, and the definition they make together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    pub policy: Option<Name>,
    pub operator_policy: Option<Name>,
    /// The merged definition (RabbitMQ's `effective_policy_definition`).
    pub definition: FieldTable,
}

/// The exchange's alternate exchange: its argument, else its policy's.
pub fn alternate_exchange(arguments: &FieldTable, policy: Option<&Policy>) -> Option<Name> {
    arguments
        .get("alternate-exchange")
        .and_then(|v| v.as_str())
        .or_else(|| {
            policy
                .and_then(|p| p.spec.definition.get("alternate-exchange"))
                .and_then(|v| v.as_str())
        })
        .map(Name::from)
}

/// Refuses the removal of a policy that does not exist, as the management API does.
pub fn not_found(name: &str, vhost: &str) -> CoreError {
    CoreError::new(
        crate::error::ErrorKind::NotFound,
        format!("no policy '{name}' in vhost '{vhost}'"),
    )
}
