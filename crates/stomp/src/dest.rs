//! Destinations, as RabbitMQ's STOMP plugin names them:
//!
//! - `/queue/<name>`: a durable queue, declared on first use; published to through
//!   the default exchange.
//! - `/amq/queue/<name>`: a queue that must already exist.
//! - `/topic/<key>`: `amq.topic` with that routing key (a pattern when subscribing).
//! - `/exchange/<name>[/<key>]`: any existing exchange.
//! - `/temp-queue/<name>`: a private reply queue (in `reply-to`).
//! - `/reply-queue/<queue>`: where a reply to a temp queue is sent.
//!
//! Names are percent-decoded (`%2F` is a `/` inside a name); names in the
//! `destination` header of MESSAGE frames are encoded the same way.

use crate::error::{StompError, StompResult};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    Queue(String),
    AmqQueue(String),
    Topic(String),
    Exchange { name: String, key: String },
    TempQueue(String),
    ReplyQueue(String),
}

impl Dest {
    pub fn parse(text: &str) -> StompResult<Dest> {
        let bad = || {
            StompError::new(
                "Unknown destination",
                format!(
                    "'{text}' is not a valid destination.\nValid destination types are: \
                     /temp-queue, /exchange, /topic, /queue, /amq/queue, /reply-queue/.\n"
                ),
            )
        };
        let one = |rest: &str| -> StompResult<String> {
            if rest.is_empty() || rest.contains('/') {
                return Err(bad());
            }
            decode(rest).ok_or_else(bad)
        };
        if let Some(rest) = text.strip_prefix("/queue/") {
            return Ok(Dest::Queue(one(rest)?));
        }
        if let Some(rest) = text.strip_prefix("/amq/queue/") {
            return Ok(Dest::AmqQueue(one(rest)?));
        }
        if let Some(rest) = text.strip_prefix("/topic/") {
            // A topic key may contain slashes: they are dots to nobody but RabbitMQ's
            // users, who write keys like `a.b`; keep them as given.
            return Ok(Dest::Topic(decode(rest).ok_or_else(bad)?));
        }
        if let Some(rest) = text.strip_prefix("/exchange/") {
            let (name, key) = match rest.split_once('/') {
                Some((name, key)) => (name, key),
                None => (rest, ""),
            };
            if name.is_empty() || key.contains('/') {
                return Err(bad());
            }
            return Ok(Dest::Exchange {
                name: decode(name).ok_or_else(bad)?,
                key: decode(key).ok_or_else(bad)?,
            });
        }
        if let Some(rest) = text.strip_prefix("/temp-queue/") {
            return Ok(Dest::TempQueue(one(rest)?));
        }
        if let Some(rest) = text.strip_prefix("/reply-queue/") {
            return Ok(Dest::ReplyQueue(one(rest)?));
        }
        Err(bad())
    }
}

/// Percent-decoding; None for a broken escape or non-UTF-8 result.
fn decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'/' => out.push_str("%2F"),
            b'%' => out.push_str("%25"),
            b if !(32..=127).contains(&b) => out.push_str(&format!("%{b:02X}")),
            b => out.push(b as char),
        }
    }
    out
}

/// The `destination` of a MESSAGE frame, from where the message was published.
pub fn format_destination(exchange: &str, routing_key: &str) -> String {
    match (exchange, routing_key) {
        ("", key) => format!("/queue/{}", encode(key)),
        ("amq.topic", key) => format!("/topic/{}", encode(key)),
        (x, "") => format!("/exchange/{}", encode(x)),
        (x, key) => format!("/exchange/{}/{}", encode(x), encode(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(Dest::parse("/queue/a"), Ok(Dest::Queue("a".into())));
        assert_eq!(Dest::parse("/queue/a%2Fb"), Ok(Dest::Queue("a/b".into())));
        assert_eq!(Dest::parse("/amq/queue/q"), Ok(Dest::AmqQueue("q".into())));
        assert_eq!(Dest::parse("/topic/a.*.#"), Ok(Dest::Topic("a.*.#".into())));
        assert_eq!(
            Dest::parse("/exchange/amq.direct/k"),
            Ok(Dest::Exchange {
                name: "amq.direct".into(),
                key: "k".into()
            })
        );
        assert_eq!(
            Dest::parse("/exchange/x"),
            Ok(Dest::Exchange {
                name: "x".into(),
                key: "".into()
            })
        );
        assert_eq!(
            Dest::parse("/temp-queue/r"),
            Ok(Dest::TempQueue("r".into()))
        );
        for bad in [
            "/queue/",
            "queue/a",
            "/nowhere/a",
            "/queue/a/b",
            "/queue/%zz",
            "/exchange/",
        ] {
            assert!(Dest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_as_rabbitmq_does() {
        assert_eq!(format_destination("", "q/1"), "/queue/q%2F1");
        assert_eq!(format_destination("amq.topic", "a.b"), "/topic/a.b");
        assert_eq!(format_destination("x", ""), "/exchange/x");
        assert_eq!(format_destination("x", "k"), "/exchange/x/k");
    }
}
