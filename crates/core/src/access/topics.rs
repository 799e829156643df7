//! Topic permissions: per (user, vhost, topic exchange), a write and a read
//! expression matched against routing keys, as RabbitMQ's internal backend does
//! (`check_topic_access`). Publishing to the exchange needs write on the routing key;
//! binding from it (as source) needs read on the binding key. A user without topic
//! permissions for an exchange is not restricted by them.
//!
//! The expressions may name `{username}` and `{vhost}`, replaced (unescaped, as in
//! RabbitMQ) by the connection's user and vhost. The text is checked when set (with
//! the variables replaced by plain words) and compiled per connection with the real
//! values; one that then does not compile refuses everything.

use super::permissions::{Pattern, Perm};
use crate::error::{CoreError, CoreResult};
use crate::names::Name;
use std::collections::HashMap;

/// Topic permissions as set: the expressions' text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPermission {
    pub write: String,
    pub read: String,
}

impl TopicPermission {
    /// Checks that both expressions compile (with their variables replaced).
    pub fn new(write: &str, read: &str) -> CoreResult<TopicPermission> {
        for text in [write, read] {
            Pattern::new(&expand(text, "username", "vhost"))?;
        }
        Ok(TopicPermission {
            write: write.to_string(),
            read: read.to_string(),
        })
    }

    fn compile(&self, user: &str, vhost: &str) -> CompiledTopic {
        let compile = |text: &str| Pattern::new(&expand(text, user, vhost)).ok();
        CompiledTopic {
            write: compile(&self.write),
            read: compile(&self.read),
        }
    }
}

fn expand(text: &str, user: &str, vhost: &str) -> String {
    text.replace("{username}", user).replace("{vhost}", vhost)
}

/// One exchange's topic expressions compiled for a connection; `None`: the
/// expanded text did not compile, and nothing matches.
#[derive(Clone, Debug)]
struct CompiledTopic {
    write: Option<Pattern>,
    read: Option<Pattern>,
}

/// The topic permissions of one user in one vhost, by exchange, compiled.
#[derive(Clone, Debug, Default)]
pub struct TopicGrants {
    exchanges: HashMap<Name, CompiledTopic>,
}

impl TopicGrants {
    pub(crate) fn compile(
        user: &str,
        vhost: &str,
        set: Option<&HashMap<Name, TopicPermission>>,
    ) -> TopicGrants {
        let exchanges = set
            .into_iter()
            .flatten()
            .map(|(exchange, p)| (exchange.clone(), p.compile(user, vhost)))
            .collect();
        TopicGrants { exchanges }
    }

    pub fn is_empty(&self) -> bool {
        self.exchanges.is_empty()
    }

    /// Write or read on `routing_key` through topic exchange `exchange`, or 403 with
    /// RabbitMQ's text.
    pub(crate) fn check(
        &self,
        perm: Perm,
        exchange: &str,
        routing_key: &str,
        user: &str,
        vhost: &str,
    ) -> CoreResult<()> {
        let Some(compiled) = self.exchanges.get(exchange) else {
            return Ok(());
        };
        let pattern = match perm {
            Perm::Read => &compiled.read,
            _ => &compiled.write,
        };
        if pattern.as_ref().is_some_and(|p| p.matches(routing_key)) {
            return Ok(());
        }
        Err(CoreError::access_refused(format!(
            "access to topic '{routing_key}' in exchange '{exchange}' in vhost '{vhost}' \
             refused for user '{user}'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(write: &str, read: &str) -> TopicGrants {
        let mut set = HashMap::new();
        set.insert(
            Name::from("amq.topic"),
            TopicPermission::new(write, read).unwrap(),
        );
        TopicGrants::compile("bob", "/", Some(&set))
    }

    #[test]
    fn variables_are_replaced_by_the_connections_user_and_vhost() {
        let g = grants("^{username}\\.", "^{vhost}r\\.");
        assert!(g
            .check(Perm::Write, "amq.topic", "bob.x", "bob", "/")
            .is_ok());
        let err = g
            .check(Perm::Write, "amq.topic", "eve.x", "bob", "/")
            .unwrap_err();
        assert_eq!(
            err.message,
            "access to topic 'eve.x' in exchange 'amq.topic' in vhost '/' refused for user 'bob'"
        );
        assert!(g.check(Perm::Read, "amq.topic", "/r.x", "bob", "/").is_ok());
        assert!(g.check(Perm::Read, "amq.topic", "r.x", "bob", "/").is_err());
    }

    #[test]
    fn other_exchanges_and_users_without_topic_permissions_are_not_restricted() {
        let g = grants("", "");
        assert!(g.check(Perm::Write, "other", "any", "bob", "/").is_ok());
        assert!(g
            .check(Perm::Write, "amq.topic", "any", "bob", "/")
            .is_err());
        assert!(g.check(Perm::Write, "amq.topic", "", "bob", "/").is_ok());
        assert!(TopicGrants::default().is_empty());
    }

    #[test]
    fn an_expression_that_does_not_compile_is_refused_when_set() {
        assert!(TopicPermission::new("(", ".*").is_err());
        assert!(TopicPermission::new("^{username}\\.", "^{vhost}$").is_ok());
    }
}
