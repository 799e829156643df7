//! Topology operations, validated and authorized as RabbitMQ does it (the checks of
//! `rabbit_channel`, in its order), then applied as commands. Every protocol adapter
//! and the management API call these, so a rule is written once; the caller passes
//! the [`Access`] of the user acting.

use super::command::{BindingSpec, Command, DestName};
use super::dedup_exchange::{self, DEDUP_TYPE};
use super::exchange::{ExchangeSpec, PluginType, DELAYED_TYPE};
use super::{check_exclusive, VHost};
use crate::access::{Access, Perm, ResourceKind};
use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::exchange::{validate_binding_args, ExchangeKind};
use crate::names::{generated_name, Name};
use crate::queue::args::{parse_queue_args, type_name};
use crate::queue::{QueueRef, QueueSpec};
use amqp_codec::{FieldTable, FieldValue};

pub struct ExchangeDeclare<'a> {
    /// Who declares: needs configure on the exchange (and, for a new exchange with an
    /// alternate exchange, read on it and write on the alternate).
    pub access: &'a Access,
    pub name: &'a str,
    pub kind: &'a str,
    pub passive: bool,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
}

pub struct QueueDeclare<'a> {
    /// Who declares: needs configure on the queue (and, for a new queue with a
    /// dead-letter exchange, read on the queue and write on the exchange). A passive
    /// declare needs nothing.
    pub access: &'a Access,
    pub name: &'a str,
    pub passive: bool,
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
    /// The declaring connection (owner of an exclusive queue).
    pub connection: u64,
}

pub struct QueueDeclared {
    pub queue: QueueRef,
    pub message_count: u32,
    pub consumer_count: u32,
}

/// Queue arguments that take part in the equivalence check on redeclare (others,
/// e.g. unknown ones, are ignored as RabbitMQ ignores them).
const EQUIVALENCE_ARGS: &[&str] = &[
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-type",
    "x-single-active-consumer",
    "x-delivery-limit",
    "x-queue-version",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-delivery-records",
];

fn exclusive_locked(queue: &QueueRef) -> CoreError {
    CoreError::new(
        ErrorKind::ResourceLocked,
        super::exclusive_locked_text(queue),
    )
}

fn default_exchange_refused() -> CoreError {
    CoreError::access_refused("operation not permitted on the default exchange")
}

fn reserved_name(what: &str, name: &str) -> CoreError {
    CoreError::access_refused(format!(
        "{what} name '{name}' contains reserved prefix 'amq.*'"
    ))
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn unknown_type(name: &str) -> CoreError {
    CoreError::new(
        ErrorKind::CommandInvalid,
        format!("unknown exchange type '{name}'"),
    )
}

/// The routing type of a delayed exchange, from `x-delayed-type`, with the
/// delayed-message plugin's texts.
fn delayed_routing_kind(arguments: &FieldTable) -> CoreResult<ExchangeKind> {
    match arguments.get("x-delayed-type").and_then(|v| v.as_str()) {
        Some(DELAYED_TYPE) => Err(CoreError::precondition(
            "Invalid argument, 'x-delayed-message' can't be used for 'x-delayed-type'",
        )),
        Some(name) => ExchangeKind::parse(name).ok_or_else(|| unknown_type(name)),
        None => Err(CoreError::precondition(
            "Invalid argument, 'x-delayed-type' must be an existing exchange type",
        )),
    }
}

impl VHost {
    pub async fn declare_exchange(&self, d: ExchangeDeclare<'_>) -> CoreResult<()> {
        if d.name.is_empty() {
            return Err(default_exchange_refused());
        }
        if d.passive {
            return self.exchange_or_404(d.name).map(|_| ());
        }
        let kind = match d.kind {
            DELAYED_TYPE => delayed_routing_kind(&d.arguments)?,
            DEDUP_TYPE => {
                dedup_exchange::settings(&d.arguments)?;
                ExchangeKind::Fanout
            }
            other => ExchangeKind::parse(other).ok_or_else(|| unknown_type(other))?,
        };
        d.access.configure(ResourceKind::Exchange, d.name)?;
        if let Some(existing) = self.exchange(d.name) {
            let inequivalent = |arg: &str, received: &str, current: &str| {
                CoreError::precondition(format!(
                    "inequivalent arg '{arg}' for exchange '{}' in vhost '{}': received '{received}' but current is '{current}'",
                    d.name, self.name
                ))
            };
            if existing.type_name() != d.kind {
                return Err(inequivalent("type", d.kind, existing.type_name()));
            }
            if existing.durable != d.durable {
                return Err(inequivalent(
                    "durable",
                    bool_text(d.durable),
                    bool_text(existing.durable),
                ));
            }
            if existing.auto_delete != d.auto_delete {
                return Err(inequivalent(
                    "auto_delete",
                    bool_text(d.auto_delete),
                    bool_text(existing.auto_delete),
                ));
            }
            if existing.internal != d.internal {
                return Err(inequivalent(
                    "internal",
                    bool_text(d.internal),
                    bool_text(existing.internal),
                ));
            }
            check_args_equivalent(
                &[
                    "alternate-exchange",
                    "x-delayed-type",
                    "x-cache-size",
                    "x-cache-ttl",
                    "x-cache-persistence",
                ],
                &d.arguments,
                &existing.arguments,
                || format!("exchange '{}' in vhost '{}'", d.name, self.name),
            )?;
            return Ok(());
        }
        // The prefix refuses new exchanges only; built-in ones redeclare as above.
        if d.name.starts_with("amq.") {
            return Err(reserved_name("exchange", d.name));
        }
        if let Some(alternate) = d
            .arguments
            .get("alternate-exchange")
            .and_then(|v| v.as_str())
        {
            d.access.read(ResourceKind::Exchange, d.name)?;
            d.access.write(ResourceKind::Exchange, alternate)?;
        }
        self.commit(Command::DeclareExchange(ExchangeSpec {
            name: Name::from(d.name),
            kind,
            durable: d.durable,
            auto_delete: d.auto_delete,
            internal: d.internal,
            arguments: d.arguments,
            plugin: match d.kind {
                DELAYED_TYPE => Some(PluginType::Delayed {
                    store: self.new_queue_id(),
                }),
                DEDUP_TYPE => Some(PluginType::Deduplication {
                    store: self.new_queue_id(),
                }),
                _ => None,
            },
        }))
        .await?;
        if let Some(delayer) = self.exchange(d.name).as_ref().and_then(|e| e.delayer()) {
            delayer.start();
        }
        Ok(())
    }

    pub async fn delete_exchange(
        &self,
        access: &Access,
        name: &str,
        if_unused: bool,
    ) -> CoreResult<()> {
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        if name.starts_with("amq.") {
            return Err(CoreError::access_refused(format!(
                "deletion of system exchange '{name}' in vhost '{}' not allowed",
                self.name
            )));
        }
        access.configure(ResourceKind::Exchange, name)?;
        let Some(exchange) = self.exchange(name) else {
            return Ok(());
        };
        if if_unused && exchange.in_use() {
            return Err(CoreError::precondition(format!(
                "exchange '{name}' in vhost '{}' in use",
                self.name
            )));
        }
        self.commit(Command::DeleteExchange {
            name: exchange.name.clone(),
        })
        .await?;
        Ok(())
    }

    pub async fn declare_queue(&self, d: QueueDeclare<'_>) -> CoreResult<QueueDeclared> {
        if d.passive {
            let queue = self.queue_for(d.connection, d.name)?;
            let counts = queue.declared().await;
            return Ok(QueueDeclared {
                queue,
                message_count: counts.ready,
                consumer_count: counts.consumers,
            });
        }
        let name = if d.name.is_empty() {
            generated_name("amq.gen-")
        } else {
            if d.name.starts_with("amq.") {
                return Err(reserved_name("queue", d.name));
            }
            d.name.to_string()
        };
        d.access.configure(ResourceKind::Queue, &name)?;
        parse_queue_args(&d.arguments, &name, &self.name)?;
        if let Some(existing) = self.queue(&name) {
            check_exclusive(&existing, d.connection)?;
            self.check_queue_equivalent(&existing, &d)?;
            self.queue_lifecycle.declared();
            let counts = existing.declared().await;
            return Ok(QueueDeclared {
                queue: existing,
                message_count: counts.ready,
                consumer_count: counts.consumers,
            });
        }
        if let Some(dlx) = d
            .arguments
            .get("x-dead-letter-exchange")
            .and_then(|v| v.as_str())
        {
            d.access.read(ResourceKind::Queue, &name)?;
            d.access.write(ResourceKind::Exchange, dlx)?;
        }
        let name = Name::from(name);
        self.commit(Command::DeclareQueue(QueueSpec {
            id: self.new_queue_id(),
            name: name.clone(),
            durable: d.durable,
            auto_delete: d.auto_delete,
            exclusive_owner: d.exclusive.then_some(d.connection),
            arguments: d.arguments,
        }))
        .await?;
        // Another channel may have won the race with other properties: check again.
        let queue = self
            .queue(&name)
            .ok_or_else(|| CoreError::not_found("queue", &name, &self.name))?;
        check_exclusive(&queue, d.connection)?;
        self.queue_lifecycle.declared();
        self.queue_lifecycle.created();
        Ok(QueueDeclared {
            queue,
            message_count: 0,
            consumer_count: 0,
        })
    }

    fn check_queue_equivalent(&self, existing: &QueueRef, d: &QueueDeclare<'_>) -> CoreResult<()> {
        let inequivalent = |arg: &str, received: bool, current: bool| {
            CoreError::precondition(format!(
                "inequivalent arg '{arg}' for queue '{}' in vhost '{}': received '{}' but current is '{}'",
                existing.name,
                self.name,
                bool_text(received),
                bool_text(current)
            ))
        };
        if existing.durable != d.durable {
            return Err(inequivalent("durable", d.durable, existing.durable));
        }
        if existing.auto_delete != d.auto_delete {
            return Err(inequivalent(
                "auto_delete",
                d.auto_delete,
                existing.auto_delete,
            ));
        }
        // RabbitMQ treats an exclusive-flag mismatch as a lock conflict, even on the
        // owning connection.
        if existing.exclusive_owner.is_some() != d.exclusive {
            return Err(exclusive_locked(existing));
        }
        check_args_equivalent(EQUIVALENCE_ARGS, &d.arguments, &existing.arguments, || {
            format!("queue '{}' in vhost '{}'", existing.name, self.name)
        })
    }

    /// Deletes a queue; returns the number of messages it held.
    pub async fn delete_queue(
        &self,
        access: &Access,
        connection: u64,
        name: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> CoreResult<u32> {
        access.configure(ResourceKind::Queue, name)?;
        let Some(queue) = self.queue(name) else {
            return Ok(0);
        };
        check_exclusive(&queue, connection)?;
        let count = queue.delete(if_unused, if_empty).await?;
        self.forget_queue_logged(&queue).await?;
        Ok(count)
    }

    pub async fn purge_queue(
        &self,
        access: &Access,
        connection: u64,
        name: &str,
    ) -> CoreResult<u32> {
        access.read(ResourceKind::Queue, name)?;
        let queue = self.queue_for(connection, name)?;
        Ok(queue.purge().await)
    }

    /// Binds (or, with `unbind`, unbinds) a queue or exchange to an exchange: write
    /// on the destination, read on the source.
    pub async fn bind(
        &self,
        access: &Access,
        connection: u64,
        spec: BindingSpec,
        unbind: bool,
    ) -> CoreResult<()> {
        let BindingSpec {
            source,
            destination,
            routing_key,
            arguments,
        } = spec;
        match &destination {
            DestName::Queue(q) => access.write(ResourceKind::Queue, q)?,
            DestName::Exchange(e) => access.write(ResourceKind::Exchange, e)?,
        }
        if source.is_empty() {
            return Err(default_exchange_refused());
        }
        if let DestName::Exchange(e) = &destination {
            if e.is_empty() {
                return Err(default_exchange_refused());
            }
        }
        access.read(ResourceKind::Exchange, &source)?;
        let source_exchange = self.exchange(&source);
        if let Some(x) = &source_exchange {
            access.check_topic(Perm::Read, x.kind, &source, &routing_key)?;
        }
        let dest_exists = match &destination {
            DestName::Queue(q) => match self.queue(q) {
                Some(queue) => {
                    check_exclusive(&queue, connection)?;
                    true
                }
                None => false,
            },
            DestName::Exchange(e) => self.exchange(e).is_some(),
        };
        if unbind {
            // Unbinding what does not exist succeeds, as in RabbitMQ.
            if source_exchange.is_none() || !dest_exists {
                return Ok(());
            }
        } else {
            let source_exchange = source_exchange
                .ok_or_else(|| CoreError::not_found("exchange", &source, &self.name))?;
            if !dest_exists {
                return Err(match &destination {
                    DestName::Queue(q) => CoreError::not_found("queue", q, &self.name),
                    DestName::Exchange(e) => CoreError::not_found("exchange", e, &self.name),
                });
            }
            validate_binding_args(source_exchange.kind, &arguments)
                .map_err(CoreError::precondition)?;
        }
        let spec = BindingSpec {
            source,
            destination,
            routing_key,
            arguments,
        };
        self.commit(if unbind {
            Command::Unbind(spec)
        } else {
            Command::Bind(spec)
        })
        .await?;
        Ok(())
    }
}

fn value_text(v: &FieldValue) -> String {
    match v {
        FieldValue::LongStr(b) | FieldValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        FieldValue::Bool(b) => bool_text(*b).to_string(),
        other => match other.as_i64() {
            Some(i) => i.to_string(),
            None => format!("{other:?}"),
        },
    }
}

fn describe(v: Option<&FieldValue>) -> String {
    match v {
        None => "none".to_string(),
        Some(v) => format!("the value '{}' of type '{}'", value_text(v), type_name(v)),
    }
}

/// Integer arguments compare by value whatever their width (clients differ in which
/// integer type they send), as RabbitMQ does for the arguments it knows.
fn equivalent_values(a: &FieldValue, b: &FieldValue) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn check_args_equivalent(
    keys: &[&str],
    received: &FieldTable,
    current: &FieldTable,
    what: impl Fn() -> String,
) -> CoreResult<()> {
    for key in keys {
        let (r, c) = (received.get(key), current.get(key));
        let same = match (r, c) {
            (None, None) => true,
            (Some(a), Some(b)) => equivalent_values(a, b),
            _ => false,
        };
        if !same {
            // RabbitMQ quotes bare values when both sides have one, and names the
            // type when one side has none.
            let (received, current) = match (r, c) {
                (Some(a), Some(b)) => (
                    format!("'{}'", value_text(a)),
                    format!("'{}'", value_text(b)),
                ),
                _ => (describe(r), describe(c)),
            };
            return Err(CoreError::precondition(format!(
                "inequivalent arg '{key}' for {}: received {received} but current is {current}",
                what()
            )));
        }
    }
    Ok(())
}
