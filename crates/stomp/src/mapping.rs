//! STOMP headers to AMQP properties and back, as RabbitMQ's plugin maps them.
//!
//! SEND: `content-type`, `content-encoding`, `persistent` (true is delivery mode 2),
//! `priority`, `correlation-id`, `reply-to`, `expiration`, `amqp-message-id`
//! (`message_id`), `timestamp`, `type`, `user-id` and `app-id` become properties;
//! every other header but `destination` and `message-id` goes into the `headers`
//! table as a long string (`receipt` and `content-length` too, as RabbitMQ does).
//!
//! MESSAGE: the same properties become the same headers (delivery mode 2 is
//! `persistent:true`), and the string and integer entries of the headers table
//! become headers too; tables, arrays and other types are left out.

use crate::error::{StompError, StompResult};
use crate::frame::Frame;
use amqp_codec::{BasicProperties, FieldTable, FieldValue, ShortStr};

/// Headers not copied into the headers table. RabbitMQ's plugin copies the rest,
/// `receipt` and `content-length` included, and so does Warren.
const FRAME_HEADERS: &[&str] = &["destination", "message-id"];

/// Headers that map onto a property.
const PROPERTY_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "persistent",
    "priority",
    "correlation-id",
    "reply-to",
    "expiration",
    "amqp-message-id",
    "timestamp",
    "type",
    "user-id",
    "app-id",
];

fn short(frame: &Frame, name: &str) -> StompResult<Option<ShortStr>> {
    match frame.header(name) {
        None => Ok(None),
        Some(v) if v.len() > 255 => Err(StompError::new(
            "Bad header",
            format!("header '{name}' is longer than 255 bytes"),
        )),
        Some(v) => Ok(Some(ShortStr::from(v.to_string()))),
    }
}

fn integer<T: std::str::FromStr>(frame: &Frame, name: &str) -> StompResult<Option<T>> {
    match frame.header(name) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            StompError::new(
                "Invalid header",
                format!("header '{name}' has an invalid value '{v}'"),
            )
        }),
    }
}

/// The properties of a message a SEND frame carries; `reply_to` is the AMQP
/// `reply_to` to store (the caller resolves temp queues).
pub fn properties_from_send(
    frame: &Frame,
    reply_to: Option<String>,
) -> StompResult<BasicProperties> {
    let mut headers = FieldTable::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &frame.headers {
        let name = name.as_str();
        if FRAME_HEADERS.contains(&name) || PROPERTY_HEADERS.contains(&name) {
            continue;
        }
        // The first of repeated headers wins, as for every other header.
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        if name.len() > 255 {
            return Err(StompError::new(
                "Bad header",
                "header names are limited to 255 bytes",
            ));
        }
        headers.insert(
            ShortStr::from(name.to_string()),
            FieldValue::long_string(value.clone()),
        );
    }
    let persistent = matches!(frame.header("persistent"), Some("true") | Some("True"));
    Ok(BasicProperties {
        content_type: short(frame, "content-type")?,
        content_encoding: short(frame, "content-encoding")?,
        headers: (!headers.is_empty()).then_some(headers),
        delivery_mode: persistent.then_some(2),
        priority: integer::<u8>(frame, "priority")?,
        correlation_id: short(frame, "correlation-id")?,
        reply_to: match reply_to {
            Some(r) if r.len() > 255 => {
                return Err(StompError::new(
                    "Bad header",
                    "reply-to is longer than 255 bytes",
                ))
            }
            r => r.map(ShortStr::from),
        },
        expiration: short(frame, "expiration")?,
        message_id: short(frame, "amqp-message-id")?,
        timestamp: integer::<u64>(frame, "timestamp")?,
        kind: short(frame, "type")?,
        user_id: short(frame, "user-id")?,
        app_id: short(frame, "app-id")?,
        cluster_id: None,
    })
}

/// The headers of a MESSAGE frame for a message with these properties. A
/// `reply_to` that is no destination is a queue name: `/reply-queue/` is put before
/// it, as RabbitMQ does, so a STOMP client can send its reply there.
pub fn headers_from_properties(p: &BasicProperties, out: &mut Vec<(String, String)>) {
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            out.push((name.to_string(), v));
        }
    };
    let s = |v: &Option<ShortStr>| v.as_ref().map(|v| v.as_str().to_string());
    put("content-type", s(&p.content_type));
    put("content-encoding", s(&p.content_encoding));
    put(
        "persistent",
        (p.delivery_mode == Some(2)).then(|| "true".into()),
    );
    put("priority", p.priority.map(|v| v.to_string()));
    put("correlation-id", s(&p.correlation_id));
    put(
        "reply-to",
        p.reply_to.as_ref().map(|r| {
            let r = r.as_str();
            let is_dest = [
                "/exchange/",
                "/topic/",
                "/queue/",
                "/amq/queue/",
                "/temp-queue/",
                "/reply-queue/",
            ]
            .iter()
            .any(|prefix| r.starts_with(prefix));
            if is_dest {
                r.to_string()
            } else {
                format!("/reply-queue/{r}")
            }
        }),
    );
    put("expiration", s(&p.expiration));
    put("amqp-message-id", s(&p.message_id));
    put("timestamp", p.timestamp.map(|v| v.to_string()));
    put("type", s(&p.kind));
    put("user-id", s(&p.user_id));
    put("app-id", s(&p.app_id));
    if let Some(table) = &p.headers {
        for (name, value) in table.iter() {
            if name.as_str() == "content-length" {
                // The frame's own length is written by the encoder.
                continue;
            }
            let text = match value {
                FieldValue::LongStr(b) => String::from_utf8_lossy(b).into_owned(),
                FieldValue::Bool(_) | FieldValue::Table(_) | FieldValue::Array(_) => continue,
                FieldValue::F32(_) | FieldValue::F64(_) | FieldValue::Decimal(..) => continue,
                FieldValue::Void | FieldValue::Bytes(_) | FieldValue::Timestamp(_) => continue,
                other => match other.as_i64() {
                    Some(n) => n.to_string(),
                    None => continue,
                },
            };
            out.push((name.as_str().to_string(), text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_headers_become_properties_and_back() {
        let frame = Frame::new("SEND")
            .with("destination", "/queue/a")
            .with("receipt", "r1")
            .with("content-type", "text/plain")
            .with("persistent", "true")
            .with("priority", "5")
            .with("correlation-id", "c1")
            .with("expiration", "60000")
            .with("amqp-message-id", "m1")
            .with("x-custom", "v")
            .with("x-custom", "ignored");
        let p = properties_from_send(&frame, Some("amq.gen-1".into())).unwrap();
        assert_eq!(p.delivery_mode, Some(2));
        assert_eq!(p.priority, Some(5));
        assert_eq!(p.message_id.as_deref(), Some("m1"));
        let headers = p.headers.clone().unwrap();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers.get("receipt").and_then(|v| v.as_str()), Some("r1"));
        assert_eq!(headers.get("x-custom").and_then(|v| v.as_str()), Some("v"));
        let mut out = Vec::new();
        headers_from_properties(&p, &mut out);
        let get = |n: &str| out.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("persistent"), Some("true"));
        assert_eq!(get("reply-to"), Some("/reply-queue/amq.gen-1"));
        assert_eq!(get("x-custom"), Some("v"));
        assert_eq!(get("destination"), None);
    }

    #[test]
    fn bad_numbers_are_errors() {
        let frame = Frame::new("SEND").with("priority", "high");
        assert!(properties_from_send(&frame, None).is_err());
    }
}
