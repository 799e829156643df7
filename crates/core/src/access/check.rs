//! The one place an operation is authorized: an [`Access`] is resolved once per
//! connection (user + vhost) and every protocol adapter asks it before acting, with
//! RabbitMQ's rules (`rabbit_access_control:check_resource_access`) and texts.
//!
//! An `Access` is a snapshot of the user's permissions in the vhost when the
//! connection opened: as in RabbitMQ, which caches checks per channel, a change of
//! permissions applies to connections opened after it. Deleting the user or the vhost
//! closes the connection.

use super::permissions::{Perm, Permission};
use super::topics::TopicGrants;
use crate::error::{CoreError, CoreResult};
use crate::exchange::ExchangeKind;
use crate::names::Name;
use std::sync::{Arc, LazyLock};

/// What a permission is checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    Queue,
    Exchange,
}

impl ResourceKind {
    fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Queue => "queue",
            ResourceKind::Exchange => "exchange",
        }
    }
}

/// A user's rights in one vhost.
#[derive(Clone, Debug)]
pub struct Access {
    user: Name,
    vhost: Name,
    /// `None`: the broker itself acting (no restriction).
    permission: Option<Arc<Permission>>,
    /// Topic permissions; empty for most users, and then free to check.
    topics: Arc<TopicGrants>,
}

impl Access {
    pub(crate) fn new(
        user: Name,
        vhost: Name,
        permission: Arc<Permission>,
        topics: TopicGrants,
    ) -> Access {
        // Most users have no topic permissions: their connections share one empty
        // table instead of each allocating its own.
        static NONE: LazyLock<Arc<TopicGrants>> = LazyLock::new(Arc::default);
        let topics = if topics.is_empty() {
            NONE.clone()
        } else {
            Arc::new(topics)
        };
        Access {
            user,
            vhost,
            permission: Some(permission),
            topics,
        }
    }

    /// Everything allowed: for work the broker does on its own account (replay,
    /// definitions import, tests of the core).
    pub fn unrestricted(vhost: &str) -> Access {
        Access {
            user: Name::from(""),
            vhost: Name::from(vhost),
            permission: None,
            topics: Arc::default(),
        }
    }

    pub fn user(&self) -> &Name {
        &self.user
    }

    pub fn vhost(&self) -> &Name {
        &self.vhost
    }

    /// Whether `perm` on the resource is granted. The default exchange is checked
    /// under its RabbitMQ name, `amq.default`.
    pub fn allows(&self, perm: Perm, kind: ResourceKind, name: &str) -> bool {
        let Some(permission) = &self.permission else {
            return true;
        };
        let name = match (kind, name) {
            (ResourceKind::Exchange, "") => "amq.default",
            _ => name,
        };
        permission.pattern(perm).matches(name)
    }

    /// `allows`, or 403 ACCESS_REFUSED with RabbitMQ's text:
    /// `access to queue 'q' in vhost '/' refused for user 'bob'`.
    pub fn check(&self, perm: Perm, kind: ResourceKind, name: &str) -> CoreResult<()> {
        if self.allows(perm, kind, name) {
            return Ok(());
        }
        let shown = match (kind, name) {
            (ResourceKind::Exchange, "") => "amq.default",
            _ => name,
        };
        Err(CoreError::access_refused(format!(
            "access to {} '{shown}' in vhost '{}' refused for user '{}'",
            kind.as_str(),
            self.vhost,
            self.user
        )))
    }

    pub fn configure(&self, kind: ResourceKind, name: &str) -> CoreResult<()> {
        self.check(Perm::Configure, kind, name)
    }

    pub fn write(&self, kind: ResourceKind, name: &str) -> CoreResult<()> {
        self.check(Perm::Write, kind, name)
    }

    pub fn read(&self, kind: ResourceKind, name: &str) -> CoreResult<()> {
        self.check(Perm::Read, kind, name)
    }

    /// The topic permission (`Perm::Write` to publish, `Perm::Read` to bind from) on
    /// `routing_key` through `exchange`. Only topic exchanges are checked; a user
    /// without topic permissions passes at the cost of one branch.
    pub fn check_topic(
        &self,
        perm: Perm,
        kind: ExchangeKind,
        exchange: &str,
        routing_key: &str,
    ) -> CoreResult<()> {
        if self.topics.is_empty() || kind != ExchangeKind::Topic {
            return Ok(());
        }
        self.topics
            .check(perm, exchange, routing_key, &self.user, &self.vhost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn bob(configure: &str, write: &str, read: &str) -> Access {
        Access::new(
            Name::from("bob"),
            Name::from("/"),
            Arc::new(Permission::new(configure, write, read).unwrap()),
            TopicGrants::default(),
        )
    }

    #[test]
    fn each_permission_uses_its_own_expression() {
        let a = bob("^c", "^w", "^r");
        assert!(a.configure(ResourceKind::Queue, "cq").is_ok());
        assert!(a.configure(ResourceKind::Queue, "wq").is_err());
        assert!(a.write(ResourceKind::Exchange, "wx").is_ok());
        assert!(a.write(ResourceKind::Exchange, "rx").is_err());
        assert!(a.read(ResourceKind::Queue, "rq").is_ok());
        assert!(a.read(ResourceKind::Queue, "cq").is_err());
    }

    #[test]
    fn refusals_read_as_rabbitmq_writes_them() {
        let a = bob("", "", "");
        let err = a.configure(ResourceKind::Queue, "q").unwrap_err();
        assert_eq!(err.kind, ErrorKind::AccessRefused);
        assert_eq!(
            err.reply_text(),
            "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'bob'"
        );
        let err = a.write(ResourceKind::Exchange, "").unwrap_err();
        assert_eq!(
            err.message,
            "access to exchange 'amq.default' in vhost '/' refused for user 'bob'"
        );
    }

    #[test]
    fn the_default_exchange_is_checked_as_amq_default() {
        let a = bob("", "^amq\\.default$", "");
        assert!(a.write(ResourceKind::Exchange, "").is_ok());
        // A queue named "" is not the default exchange.
        let a = bob("^$", "^$", "^$");
        assert!(a.write(ResourceKind::Exchange, "").is_err());
        assert!(a.read(ResourceKind::Queue, "").is_ok());
    }

    #[test]
    fn unrestricted_allows_everything() {
        let a = Access::unrestricted("/");
        assert!(a.configure(ResourceKind::Queue, "anything").is_ok());
        assert!(a.write(ResourceKind::Exchange, "").is_ok());
    }
}
