//! One queue's settings from its arguments and the policies that apply to it.
//!
//! RabbitMQ resolves each key on its own (`rabbit_amqqueue_process`'s args/policy
//! table): for limits (`expires`, `message-ttl`, `max-length`, `max-length-bytes`,
//! `delivery-limit`) the lower of argument and policy wins; for everything else the
//! argument wins and the policy fills in what the queue was declared without.

use super::{Applied, Policies, PolicyKind, Target};
use crate::queue::args::{Overflow, QueueSettings};
use amqp_codec::{FieldTable, FieldValue};

/// The keys an operator policy may set: limits only.
pub const OPERATOR_KEYS: &[&str] = &[
    "expires",
    "message-ttl",
    "max-length",
    "max-length-bytes",
    "max-in-memory-length",
    "max-in-memory-bytes",
    "delivery-limit",
];

/// A queue's effective settings and where they came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resolved {
    pub settings: QueueSettings,
    pub applied: Applied,
}

/// Resolves a queue's settings: `from_args` are its declared arguments' settings
/// (`parse_queue_args`), `arguments` the arguments themselves (to know which keys the
/// queue set).
pub fn resolve_queue(
    name: &str,
    arguments: &FieldTable,
    from_args: &QueueSettings,
    policies: &Policies,
) -> Resolved {
    let policy = policies.best(PolicyKind::Regular, Target::Queue, name);
    let operator = policies.best(PolicyKind::Operator, Target::Queue, name);
    let mut definition = policy
        .as_ref()
        .map(|p| p.spec.definition.clone())
        .unwrap_or_default();
    if let Some(op) = &operator {
        for (key, value) in op.spec.definition.iter() {
            let merged = match (definition.get(key.as_str()).and_then(int), int(value)) {
                (Some(a), Some(b)) => FieldValue::I64(a.min(b)),
                _ => value.clone(),
            };
            definition.insert(key.clone(), merged);
        }
    }
    let mut settings = from_args.clone();
    for (key, value) in definition.iter() {
        apply_key(&mut settings, arguments, key.as_str(), value);
    }
    Resolved {
        settings,
        applied: Applied {
            policy: policy.map(|p| p.spec.name.clone()),
            operator_policy: operator.map(|p| p.spec.name.clone()),
            definition,
        },
    }
}

fn int(v: &FieldValue) -> Option<i64> {
    match v {
        FieldValue::F32(_) | FieldValue::F64(_) | FieldValue::Timestamp(_) => None,
        other => other.as_i64(),
    }
}

/// The lower of the queue's own limit (if it set one) and the policy's.
fn limit(declared: bool, current: Option<u64>, policy: &FieldValue) -> Option<u64> {
    let Some(p) = int(policy).map(|i| i.max(0) as u64) else {
        return current;
    };
    match current {
        Some(c) if declared => Some(c.min(p)),
        _ => Some(p),
    }
}

fn apply_key(s: &mut QueueSettings, arguments: &FieldTable, key: &str, value: &FieldValue) {
    let declared = arguments.get(&format!("x-{key}")).is_some();
    match key {
        "message-ttl" => s.message_ttl = limit(declared, s.message_ttl, value),
        "expires" => s.expires = limit(declared, s.expires, value),
        "max-length" => s.max_length = limit(declared, s.max_length, value),
        "max-length-bytes" => s.max_length_bytes = limit(declared, s.max_length_bytes, value),
        "delivery-limit" => s.delivery_limit = limit(declared, s.delivery_limit, value),
        _ if declared => {}
        "overflow" => {
            s.overflow = match value.as_str() {
                Some("reject-publish") => Overflow::RejectPublish,
                Some("reject-publish-dlx") => Overflow::RejectPublishDlx,
                _ => Overflow::DropHead,
            }
        }
        "dead-letter-exchange" => s.dead_letter_exchange = value.as_str().map(str::to_string),
        "dead-letter-routing-key" => s.dead_letter_routing_key = value.as_str().map(str::to_string),
        "message-deduplication" => s.deduplicate = value.as_bool().unwrap_or(false),
        "delivery-records" => s.delivery_records = value.as_bool().unwrap_or(false),
        "retry-delays" => {
            if let FieldValue::Array(delays) = value {
                s.retry_delays = Some(
                    delays
                        .iter()
                        .filter_map(int)
                        .map(|d| d.max(0) as u64)
                        .collect(),
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Name;
    use crate::policy::{ApplyTo, PolicySpec};
    use crate::queue::args::parse_queue_args;

    fn table(entries: &[(&'static str, FieldValue)]) -> FieldTable {
        let mut t = FieldTable::new();
        for (k, v) in entries {
            t.insert(*k, v.clone());
        }
        t
    }

    fn spec(name: &str, pattern: &str, priority: i64, def: FieldTable) -> PolicySpec {
        PolicySpec {
            name: Name::from(name),
            pattern: pattern.into(),
            apply_to: ApplyTo::Queues,
            priority,
            definition: def,
        }
    }

    fn resolve(args: FieldTable, policies: &Policies) -> Resolved {
        let from_args = parse_queue_args(&args, "orders", "/").unwrap();
        resolve_queue("orders", &args, &from_args, policies)
    }

    #[test]
    fn highest_priority_policy_fills_in_and_limits_take_the_lower() {
        let mut policies = Policies::default();
        policies.set(
            PolicyKind::Regular,
            spec(
                "low",
                "^ord",
                0,
                table(&[("max-length", FieldValue::I64(1))]),
            ),
        );
        policies.set(
            PolicyKind::Regular,
            spec(
                "high",
                "ders",
                5,
                table(&[
                    ("max-length", FieldValue::I64(100)),
                    ("message-ttl", FieldValue::I64(60_000)),
                    ("dead-letter-exchange", FieldValue::long_string("dlx")),
                ]),
            ),
        );
        let args = table(&[
            ("x-max-length", FieldValue::I64(10)),
            ("x-dead-letter-exchange", FieldValue::long_string("mine")),
        ]);
        let r = resolve(args, &policies);
        assert_eq!(r.applied.policy.as_deref(), Some("high"));
        assert_eq!(r.settings.max_length, Some(10), "argument 10 < policy 100");
        assert_eq!(r.settings.message_ttl, Some(60_000), "policy fills in");
        assert_eq!(r.settings.dead_letter_exchange.as_deref(), Some("mine"));
    }

    #[test]
    fn operator_policy_caps_policy_and_arguments() {
        let mut policies = Policies::default();
        policies.set(
            PolicyKind::Regular,
            spec("p", ".*", 0, table(&[("max-length", FieldValue::I64(50))])),
        );
        policies.set(
            PolicyKind::Operator,
            spec(
                "cap",
                ".*",
                0,
                table(&[
                    ("max-length", FieldValue::I64(20)),
                    ("message-ttl", FieldValue::I64(1000)),
                ]),
            ),
        );
        let r = resolve(
            table(&[("x-message-ttl", FieldValue::I64(5000))]),
            &policies,
        );
        assert_eq!(r.settings.max_length, Some(20));
        assert_eq!(r.settings.message_ttl, Some(1000));
        assert_eq!(r.applied.operator_policy.as_deref(), Some("cap"));
        assert_eq!(
            r.applied
                .definition
                .get("max-length")
                .and_then(|v| v.as_i64()),
            Some(20)
        );
    }

    #[test]
    fn no_matching_policy_leaves_the_arguments() {
        let mut policies = Policies::default();
        policies.set(
            PolicyKind::Regular,
            spec(
                "p",
                "^other$",
                0,
                table(&[("max-length", FieldValue::I64(5))]),
            ),
        );
        let args = table(&[("x-max-length", FieldValue::I64(10))]);
        let r = resolve(args, &policies);
        assert_eq!(r.settings.max_length, Some(10));
        assert_eq!(r.applied, Applied::default());
    }
}
