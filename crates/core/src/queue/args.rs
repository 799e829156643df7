//! Queue arguments (`x-…`): validated at declare exactly as RabbitMQ validates them
//! (same checks, same error texts), and parsed into the settings the queue acts on.
//!
//! Policies will resolve into the same `QueueSettings`, so a queue's behaviour has one
//! source whichever way it was configured.

use crate::error::{CoreError, CoreResult};
use amqp_codec::{FieldTable, FieldValue};

/// What a queue does when it is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Drop (later: dead-letter) the oldest messages.
    #[default]
    DropHead,
    /// Refuse new messages; publishers with confirms get a nack.
    RejectPublish,
    /// As `RejectPublish`, and dead-letter the refused message.
    RejectPublishDlx,
}

/// The settings a queue acts on, from its arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSettings {
    /// `x-max-length`: ready messages (unacked ones do not count).
    pub max_length: Option<u64>,
    /// `x-max-length-bytes`: body bytes of ready messages.
    pub max_length_bytes: Option<u64>,
    pub overflow: Overflow,
    /// `x-message-ttl`, milliseconds.
    pub message_ttl: Option<u64>,
    /// `x-expires`: the queue is deleted after this many milliseconds unused.
    pub expires: Option<u64>,
    /// `x-dead-letter-exchange` ("" is the default exchange).
    pub dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key`.
    pub dead_letter_routing_key: Option<String>,
    /// `x-max-priority`: messages rank by their priority, up to this.
    pub max_priority: Option<u8>,
    /// `x-single-active-consumer`: one consumer at a time gets messages.
    pub single_active_consumer: bool,
    /// `x-retry-delays`: a message nacked with requeue comes back after the delay
    /// for its attempt (ms); after the last one it is dead-lettered or dropped.
    pub retry_delays: Option<Vec<u64>>,
    /// `x-message-deduplication`: duplicates of messages in the queue are dropped.
    pub deduplicate: bool,
    /// `x-delivery-limit`: a message returned to the queue more often than this is
    /// dead-lettered (reason `delivery_limit`) or dropped.
    pub delivery_limit: Option<u64>,
    /// `x-delivery-records`: the queue records what happens to each message
    /// (`crate::records`).
    pub delivery_records: bool,
}

/// The largest TTL/expiry RabbitMQ accepts (its timer limit), in milliseconds.
const MAX_EXPIRY: i64 = 315_360_000_000;
const MAX_PRIORITY: i64 = 255;

/// RabbitMQ's name for an AMQP field type, as its error texts print it.
pub fn type_name(v: &FieldValue) -> &'static str {
    match v {
        FieldValue::Bool(_) => "bool",
        FieldValue::I8(_) => "byte",
        FieldValue::U8(_) => "unsignedbyte",
        FieldValue::I16(_) => "short",
        FieldValue::U16(_) => "unsignedshort",
        FieldValue::I32(_) => "signedint",
        FieldValue::U32(_) => "unsignedint",
        FieldValue::I64(_) => "long",
        FieldValue::F32(_) => "float",
        FieldValue::F64(_) => "double",
        FieldValue::Decimal(..) => "decimal",
        FieldValue::LongStr(_) => "longstr",
        FieldValue::Timestamp(_) => "timestamp",
        FieldValue::Table(_) => "table",
        FieldValue::Array(_) => "array",
        FieldValue::Void => "void",
        FieldValue::Bytes(_) => "binary",
    }
}

/// Why an argument is refused, printed as RabbitMQ prints the Erlang term.
enum Invalid {
    /// A string reason, which Erlang's `~p` prints in quotes.
    Text(String),
    /// A bare term such as `{value_negative,-1}` or `invalid_overflow`.
    Term(String),
    /// A message of its own, followed by the queue and vhost.
    WholeText(String),
}

fn int_arg(v: &FieldValue) -> Result<i64, Invalid> {
    match v {
        FieldValue::Timestamp(_) | FieldValue::F32(_) | FieldValue::F64(_) => {}
        _ => {
            if let Some(i) = v.as_i64() {
                return Ok(i);
            }
        }
    }
    Err(Invalid::Text(format!(
        "expected integer, got {}",
        type_name(v)
    )))
}

fn non_neg_int(v: &FieldValue) -> Result<i64, Invalid> {
    let i = int_arg(v)?;
    if i < 0 {
        return Err(Invalid::Term(format!("{{value_negative,{i}}}")));
    }
    Ok(i)
}

fn expiry(i: i64) -> Result<i64, Invalid> {
    if i < 0 {
        Err(Invalid::Term(format!("{{value_negative,{i}}}")))
    } else if i > MAX_EXPIRY {
        Err(Invalid::Term(format!("{{value_too_large,{i}}}")))
    } else {
        Ok(i)
    }
}

fn string_arg(v: &FieldValue) -> Result<&str, Invalid> {
    match v {
        FieldValue::LongStr(_) => Ok(v.as_str().unwrap_or("")),
        other => Err(Invalid::Term(format!(
            "{{unacceptable_type,{}}}",
            type_name(other)
        ))),
    }
}

fn one_of(v: &FieldValue, allowed: &[&str], invalid: Invalid) -> Result<(), Invalid> {
    let s = string_arg(v)?;
    if allowed.contains(&s) {
        Ok(())
    } else {
        Err(invalid)
    }
}

/// Checks one known argument; unknown ones are accepted and ignored, as in RabbitMQ.
fn check(key: &str, v: &FieldValue, args: &FieldTable) -> Result<(), Invalid> {
    match key {
        "x-expires" => {
            let i = int_arg(v)?;
            if i == 0 {
                return Err(Invalid::Term("{value_zero,0}".into()));
            }
            expiry(i).map(|_| ())
        }
        "x-message-ttl" => expiry(int_arg(v)?).map(|_| ()),
        "x-consumer-timeout" | "x-delivery-limit" => non_neg_int(v).map(|_| ()),
        "x-message-deduplication" => match v {
            FieldValue::Bool(_) => Ok(()),
            other => Err(Invalid::Term(format!(
                "{{unacceptable_type,{}}}",
                type_name(other)
            ))),
        },
        "x-retry-delays" => match v {
            FieldValue::Array(delays) if !delays.is_empty() => {
                for d in delays {
                    expiry(int_arg(d)?)?;
                }
                Ok(())
            }
            FieldValue::Array(_) => {
                Err(Invalid::Text("expected a non-empty list of delays".into()))
            }
            other => Err(Invalid::Term(format!(
                "{{unacceptable_type,{}}}",
                type_name(other)
            ))),
        },
        "x-dead-letter-exchange" => match v {
            FieldValue::LongStr(_) => Ok(()),
            other => Err(Invalid::WholeText(format!(
                "invalid type '{}' for arg 'x-dead-letter-exchange'",
                type_name(other)
            ))),
        },
        "x-dead-letter-routing-key" => {
            string_arg(v)?;
            if args.get("x-dead-letter-exchange").is_none() {
                return Err(Invalid::Term("routing_key_but_no_dlx_defined".into()));
            }
            Ok(())
        }
        "x-max-length"
        | "x-max-length-bytes"
        | "x-max-in-memory-length"
        | "x-max-in-memory-bytes" => non_neg_int(v).map(|_| ()),
        "x-max-priority" => {
            let i = non_neg_int(v)?;
            if i > MAX_PRIORITY {
                return Err(Invalid::Term(format!("{{max_value_exceeded,{i}}}")));
            }
            Ok(())
        }
        "x-overflow" => one_of(
            v,
            &["drop-head", "reject-publish", "reject-publish-dlx"],
            Invalid::Term("invalid_overflow".into()),
        ),
        "x-queue-mode" => {
            let s = string_arg(v)?;
            one_of(
                v,
                &["default", "lazy"],
                Invalid::Text(format!("unsupported queue mode '{s}'")),
            )
        }
        "x-queue-version" => {
            let i = non_neg_int(v)?;
            if i == 1 || i == 2 {
                Ok(())
            } else {
                Err(Invalid::Text(format!("unsupported queue version '{i}'")))
            }
        }
        "x-single-active-consumer" | "x-delivery-records" => match v {
            FieldValue::Bool(_) => Ok(()),
            other => Err(Invalid::Term(format!(
                "{{unacceptable_type,{}}}",
                type_name(other)
            ))),
        },
        "x-queue-type" => {
            let s = string_arg(v)?;
            // Only classic queues exist so far; quorum queues and streams come with
            // clustering.
            one_of(
                v,
                &["classic"],
                Invalid::Text(format!("unsupported queue type '{s}'")),
            )
        }
        _ => Ok(()),
    }
}

/// Validates a queue's declare arguments and returns the settings they give.
pub fn parse_queue_args(args: &FieldTable, queue: &str, vhost: &str) -> CoreResult<QueueSettings> {
    for (key, value) in args.iter() {
        if let Err(invalid) = check(key.as_str(), value, args) {
            let reason = match invalid {
                Invalid::Text(t) => format!("\"{t}\""),
                Invalid::Term(t) => t,
                Invalid::WholeText(t) => {
                    return Err(CoreError::precondition(format!(
                        "{t} in queue '{queue}' in vhost '{vhost}'"
                    )))
                }
            };
            return Err(CoreError::precondition(format!(
                "invalid arg '{key}' for queue '{queue}' in vhost '{vhost}': {reason}"
            )));
        }
    }
    let int = |key: &str| {
        args.get(key)
            .and_then(|v| v.as_i64())
            .map(|i| i.max(0) as u64)
    };
    let overflow = match args.get("x-overflow").and_then(|v| v.as_str()) {
        Some("reject-publish") => Overflow::RejectPublish,
        Some("reject-publish-dlx") => Overflow::RejectPublishDlx,
        _ => Overflow::DropHead,
    };
    let string = |key: &str| args.get(key).and_then(|v| v.as_str()).map(str::to_string);
    Ok(QueueSettings {
        max_length: int("x-max-length"),
        max_length_bytes: int("x-max-length-bytes"),
        overflow,
        message_ttl: int("x-message-ttl"),
        expires: int("x-expires"),
        dead_letter_exchange: string("x-dead-letter-exchange"),
        dead_letter_routing_key: string("x-dead-letter-routing-key"),
        max_priority: int("x-max-priority").map(|p| p.min(255) as u8),
        single_active_consumer: args
            .get("x-single-active-consumer")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        delivery_records: args
            .get("x-delivery-records")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        deduplicate: args
            .get("x-message-deduplication")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        delivery_limit: int("x-delivery-limit"),
        retry_delays: match args.get("x-retry-delays") {
            Some(FieldValue::Array(delays)) => Some(
                delays
                    .iter()
                    .filter_map(|d| d.as_i64())
                    .map(|d| d.max(0) as u64)
                    .collect(),
            ),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&'static str, FieldValue)]) -> FieldTable {
        let mut t = FieldTable::new();
        for (k, v) in entries {
            t.insert(*k, v.clone());
        }
        t
    }

    fn error(entries: &[(&'static str, FieldValue)]) -> String {
        parse_queue_args(&table(entries), "q", "/")
            .unwrap_err()
            .message
    }

    #[test]
    fn rabbitmq_texts_for_invalid_arguments() {
        assert_eq!(
            error(&[("x-max-length", FieldValue::long_string("10"))]),
            "invalid arg 'x-max-length' for queue 'q' in vhost '/': \"expected integer, got longstr\""
        );
        assert_eq!(
            error(&[("x-max-length", FieldValue::I32(-1))]),
            "invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}"
        );
        assert_eq!(
            error(&[("x-expires", FieldValue::I32(0))]),
            "invalid arg 'x-expires' for queue 'q' in vhost '/': {value_zero,0}"
        );
        assert_eq!(
            error(&[("x-overflow", FieldValue::long_string("nope"))]),
            "invalid arg 'x-overflow' for queue 'q' in vhost '/': invalid_overflow"
        );
        assert_eq!(
            error(&[("x-max-priority", FieldValue::I32(256))]),
            "invalid arg 'x-max-priority' for queue 'q' in vhost '/': {max_value_exceeded,256}"
        );
        assert_eq!(
            error(&[("x-delivery-records", FieldValue::long_string("yes"))]),
            "invalid arg 'x-delivery-records' for queue 'q' in vhost '/': {unacceptable_type,longstr}"
        );
        assert_eq!(
            error(&[("x-dead-letter-routing-key", FieldValue::long_string("k"))]),
            "invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': routing_key_but_no_dlx_defined"
        );
    }

    #[test]
    fn settings_from_valid_arguments() {
        let s = parse_queue_args(
            &table(&[
                ("x-max-length", FieldValue::I64(5)),
                ("x-max-length-bytes", FieldValue::U16(100)),
                ("x-overflow", FieldValue::long_string("reject-publish")),
                ("x-custom", FieldValue::Void),
            ]),
            "q",
            "/",
        )
        .unwrap();
        assert_eq!(
            s,
            QueueSettings {
                max_length: Some(5),
                max_length_bytes: Some(100),
                overflow: Overflow::RejectPublish,
                ..QueueSettings::default()
            }
        );
    }
}
