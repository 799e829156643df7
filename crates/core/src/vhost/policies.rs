//! Setting, clearing and listing a vhost's policies (the management API and
//! definitions import call these; each change is a logged `Command`).

use super::{Command, VHost};
use crate::error::CoreResult;
use crate::policy::{self, Applied, Policy, PolicyKind, PolicySpec};

impl VHost {
    /// Adds or replaces a policy after validating it as RabbitMQ does; matching
    /// queues and exchanges take it at once.
    pub async fn set_policy(&self, kind: PolicyKind, spec: PolicySpec) -> CoreResult<()> {
        Policy::new(kind, spec.clone())?;
        self.commit(Command::SetPolicy { kind, spec }).await
    }

    /// Removes a policy; queues and exchanges fall back to what else applies.
    pub async fn clear_policy(&self, kind: PolicyKind, name: &str) -> CoreResult<()> {
        if self.policy(kind, name).is_none() {
            return Err(policy::not_found(name, &self.name));
        }
        self.commit(Command::ClearPolicy {
            kind,
            name: name.into(),
        })
        .await
    }

    pub fn policy(&self, kind: PolicyKind, name: &str) -> Option<PolicySpec> {
        self.meta.lock().policies.get(kind, name).cloned()
    }

    /// The vhost's policies of one kind, by name.
    pub fn policies(&self, kind: PolicyKind) -> Vec<PolicySpec> {
        self.meta.lock().policies.list(kind)
    }

    /// What applies to a queue (its `policy`, `operator_policy` and
    /// `effective_policy_definition` in the management API).
    pub fn queue_policies(&self, queue: &str) -> Option<Applied> {
        self.queue(queue)?.applied_policies()
    }
}
