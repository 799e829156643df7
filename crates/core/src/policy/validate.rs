//! Policy definitions checked key by key, with RabbitMQ's texts (`rabbit_policies`),
//! so an operator sees the same "Validation failed" reasons from either broker.

use super::{ApplyTo, PolicyKind};
use crate::error::{CoreError, CoreResult};
use amqp_codec::{FieldTable, FieldValue};

/// The largest TTL/expiry accepted, in milliseconds (as for queue arguments).
const MAX_EXPIRY: i64 = 315_360_000_000;

/// A policy refused: RabbitMQ's "Validation failed" shape.
pub(crate) fn failed(reason: String) -> CoreError {
    CoreError::precondition(format!("Validation failed\n\n{reason}\n"))
}

/// Checks every key of a definition; the first bad one is reported.
pub fn validate(kind: PolicyKind, _apply_to: ApplyTo, definition: &FieldTable) -> CoreResult<()> {
    if definition.is_empty() {
        return Err(failed("no policy provided".into()));
    }
    let mut unknown = Vec::new();
    for (key, value) in definition.iter() {
        let key = key.as_str();
        let allowed = match kind {
            PolicyKind::Regular => is_policy_key(key),
            PolicyKind::Operator => super::OPERATOR_KEYS.contains(&key),
        };
        if !allowed {
            unknown.push(format!("{{<<\"{key}\">>,{}}}", erlang_term(value)));
            continue;
        }
        check(key, value).map_err(failed)?;
    }
    if !unknown.is_empty() {
        return Err(failed(format!(
            "[{}] are not recognised policy settings",
            unknown.join(",")
        )));
    }
    Ok(())
}

/// Keys RabbitMQ knows (those Warren does not act on, such as classic mirroring's
/// `ha-*`, are accepted so that definitions exported from RabbitMQ import), and
/// Warren's own.
fn is_policy_key(key: &str) -> bool {
    matches!(
        key,
        "alternate-exchange"
            | "dead-letter-exchange"
            | "dead-letter-routing-key"
            | "dead-letter-strategy"
            | "message-ttl"
            | "expires"
            | "max-length"
            | "max-length-bytes"
            | "max-in-memory-length"
            | "max-in-memory-bytes"
            | "overflow"
            | "queue-mode"
            | "queue-version"
            | "delivery-limit"
            | "consumer-timeout"
            | "queue-master-locator"
            | "queue-leader-locator"
            | "initial-cluster-size"
            | "max-age"
            | "stream-max-segment-size-bytes"
            | "federation-upstream"
            | "federation-upstream-set"
            | "ha-mode"
            | "ha-params"
            | "ha-sync-mode"
            | "ha-sync-batch-size"
            | "ha-promote-on-shutdown"
            | "ha-promote-on-failure"
            | "retry-delays"
            | "message-deduplication"
            | "delivery-records"
    )
}

fn int(v: &FieldValue) -> Option<i64> {
    match v {
        FieldValue::Timestamp(_) | FieldValue::F32(_) | FieldValue::F64(_) => None,
        other => other.as_i64(),
    }
}

fn check(key: &str, v: &FieldValue) -> Result<(), String> {
    let is_string = matches!(v, FieldValue::LongStr(_));
    let bad = |what: &str| Err(format!("{} is not a valid {what}", erlang_term(v)));
    let int_at_least = |min: i64, what: &str| match int(v) {
        Some(i) if i >= min && i <= MAX_EXPIRY => Ok(()),
        _ => bad(what),
    };
    match key {
        "alternate-exchange" if !is_string => bad("alternate exchange name"),
        "dead-letter-exchange" if !is_string => bad("dead letter exchange name"),
        "dead-letter-routing-key" if !is_string => bad("dead letter routing key"),
        "message-ttl" => int_at_least(0, "message TTL"),
        "expires" => int_at_least(1, "queue expiry"),
        "max-length" => int_at_least(0, "maximum length"),
        "max-length-bytes" => int_at_least(0, "maximum length in bytes"),
        "max-in-memory-length" => int_at_least(0, "maximum memory length"),
        "max-in-memory-bytes" => int_at_least(0, "maximum memory in bytes"),
        "delivery-limit" => int_at_least(0, "delivery limit"),
        "consumer-timeout" => int_at_least(0, "consumer timeout"),
        "overflow" => match v.as_str() {
            Some("drop-head" | "reject-publish" | "reject-publish-dlx") if is_string => Ok(()),
            _ => bad("overflow value"),
        },
        "queue-mode" => match v.as_str() {
            Some("default" | "lazy") if is_string => Ok(()),
            _ => bad("queue-mode value"),
        },
        "queue-version" => match int(v) {
            Some(1 | 2) => Ok(()),
            _ => bad("queue version"),
        },
        "message-deduplication" if !matches!(v, FieldValue::Bool(_)) => {
            bad("message deduplication setting")
        }
        "delivery-records" if !matches!(v, FieldValue::Bool(_)) => bad("delivery records setting"),
        "retry-delays" => match v {
            FieldValue::Array(delays)
                if !delays.is_empty()
                    && delays
                        .iter()
                        .all(|d| int(d).is_some_and(|i| (0..=MAX_EXPIRY).contains(&i))) =>
            {
                Ok(())
            }
            _ => bad("list of retry delays"),
        },
        _ => Ok(()),
    }
}

/// How Erlang's `~p` prints a value that came from JSON: `<<"text">>`, `5`, `true`.
pub(crate) fn erlang_term(v: &FieldValue) -> String {
    match v {
        FieldValue::LongStr(_) => format!("<<\"{}\">>", v.as_str().unwrap_or("")),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::F32(f) => f.to_string(),
        FieldValue::F64(f) => f.to_string(),
        FieldValue::Array(items) => format!(
            "[{}]",
            items.iter().map(erlang_term).collect::<Vec<_>>().join(",")
        ),
        FieldValue::Table(t) => format!(
            "[{}]",
            t.iter()
                .map(|(k, v)| format!("{{<<\"{}\">>,{}}}", k.as_str(), erlang_term(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        FieldValue::Void => "null".into(),
        other => other
            .as_i64()
            .map_or_else(|| format!("{other:?}"), |i| i.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(entries: &[(&'static str, FieldValue)]) -> FieldTable {
        let mut t = FieldTable::new();
        for (k, v) in entries {
            t.insert(*k, v.clone());
        }
        t
    }

    fn reason(kind: PolicyKind, entries: &[(&'static str, FieldValue)]) -> String {
        validate(kind, ApplyTo::All, &def(entries))
            .unwrap_err()
            .message
    }

    #[test]
    fn rabbitmq_reasons() {
        // Each text as RabbitMQ 3.10's management API gave it for the same definition.
        assert_eq!(
            reason(
                PolicyKind::Regular,
                &[("foo", FieldValue::long_string("bar"))]
            ),
            "Validation failed\n\n[{<<\"foo\">>,<<\"bar\">>}] are not recognised policy settings\n"
        );
        assert_eq!(
            reason(
                PolicyKind::Regular,
                &[("message-ttl", FieldValue::long_string("abc"))]
            ),
            "Validation failed\n\n<<\"abc\">> is not a valid message TTL\n"
        );
        assert_eq!(
            reason(PolicyKind::Regular, &[("message-ttl", FieldValue::I64(-1))]),
            "Validation failed\n\n-1 is not a valid message TTL\n"
        );
        assert_eq!(
            reason(PolicyKind::Regular, &[("expires", FieldValue::I64(0))]),
            "Validation failed\n\n0 is not a valid queue expiry\n"
        );
        assert_eq!(
            reason(
                PolicyKind::Regular,
                &[("overflow", FieldValue::long_string("nope"))]
            ),
            "Validation failed\n\n<<\"nope\">> is not a valid overflow value\n"
        );
        assert_eq!(
            reason(
                PolicyKind::Regular,
                &[("delivery-records", FieldValue::long_string("on"))]
            ),
            "Validation failed\n\n<<\"on\">> is not a valid delivery records setting\n"
        );
        assert_eq!(
            reason(PolicyKind::Regular, &[]),
            "Validation failed\n\nno policy provided\n"
        );
        assert_eq!(
            reason(
                PolicyKind::Operator,
                &[("dead-letter-exchange", FieldValue::long_string("dlx"))]
            ),
            "Validation failed\n\n[{<<\"dead-letter-exchange\">>,<<\"dlx\">>}] are not recognised policy settings\n"
        );
    }

    #[test]
    fn accepts_what_rabbitmq_accepts() {
        let ok = def(&[
            ("message-ttl", FieldValue::I64(1000)),
            ("max-length", FieldValue::I64(5)),
            ("dead-letter-exchange", FieldValue::long_string("dlx")),
            ("ha-mode", FieldValue::long_string("all")),
            (
                "retry-delays",
                FieldValue::Array(vec![FieldValue::I64(10), FieldValue::I64(100)]),
            ),
        ]);
        assert!(validate(PolicyKind::Regular, ApplyTo::All, &ok).is_ok());
        let op = def(&[
            ("max-length", FieldValue::I64(5)),
            ("delivery-limit", FieldValue::I64(3)),
        ]);
        assert!(validate(PolicyKind::Operator, ApplyTo::All, &op).is_ok());
    }
}
