//! The byte encoding of metadata log records.
//!
//! The store's metadata log holds opaque byte strings and hands them back in order on
//! replay; this module turns a [`MetaRecord`] into such a byte string and back. A record
//! is self-contained: it starts with a format version and a record tag, then carries
//! its fields in a fixed order, with nothing after them.
//!
//! | Bytes  | Field                                                                 |
//! |--------|-----------------------------------------------------------------------|
//! | 1      | format version, currently `1`                                         |
//! | 1      | record tag: `1` = vhost command                                       |
//! | ...    | the record's fields, below                                            |
//!
//! Record `1`, vhost command: `str` vhost name, then a command tag byte and that
//! command's fields:
//!
//! | Tag | Command         | Fields, in order                                                   |
//! |-----|-----------------|--------------------------------------------------------------------|
//! | 1   | DeclareExchange | `str` name, `str` type, `bool` durable, `bool` auto_delete, `bool` internal, `table` arguments |
//! | 2   | DeleteExchange  | `str` name                                                         |
//! | 3   | DeclareQueue    | `u64` id, `str` name, `bool` durable, `bool` auto_delete, `opt` exclusive_owner, `table` arguments |
//! | 4   | DeleteQueue     | `str` name                                                         |
//! | 5   | Bind            | `str` source, `u8` destination kind (`1` queue, `2` exchange), `str` destination, `str` routing_key, `table` arguments |
//! | 6   | Unbind          | as Bind                                                            |
//! | 7   | SetPolicy       | `u8` kind (`1` policy, `2` operator policy), `str` name, `str` pattern, `u8` apply-to (`1` queues, `2` exchanges, `3` all), `u64` priority (two's complement), `table` definition |
//! | 8   | ClearPolicy     | `u8` kind, `str` name                                              |
//!
//! Field types: `u8` one byte; `u64` 8 bytes big-endian; `str` a u32 big-endian byte
//! length then that many bytes of UTF-8; `bool` one byte, `0` or `1` (other values are
//! rejected); `opt` a presence byte `0` (absent) or `1` followed by a `u64`; `table` an
//! AMQP 0-9-1 field table exactly as on the wire (u32 big-endian length, then the
//! entries with RabbitMQ's type tags), as [`amqp_codec::encode_table`] writes it. The
//! exchange type is its AMQP name (`direct`, `fanout`, `topic`, `headers`).
//!
//! Extending: a new kind of record (vhosts, users, permissions, policies) takes a new
//! record tag, a new vhost command a new command tag; existing tags keep their layout.
//! A change to an existing layout bumps the format version. A reader rejects versions
//! and tags it does not know, and any record that is truncated or has bytes left over,
//! with a [`DecodeError`] naming the byte offset.

use crate::exchange::ExchangeKind;
use crate::names::Name;
use crate::policy::{ApplyTo, PolicyKind, PolicySpec};
use crate::queue::QueueSpec;
use crate::vhost::{BindingSpec, Command, DestName, ExchangeSpec};
use amqp_codec::{decode_table, encode_table, FieldTable};
use bytes::{BufMut, BytesMut};
use std::fmt;

/// The format version this Warren writes, and the newest it reads.
pub const FORMAT_VERSION: u8 = 1;

const RECORD_VHOST: u8 = 1;

const CMD_DECLARE_EXCHANGE: u8 = 1;
const CMD_DELETE_EXCHANGE: u8 = 2;
const CMD_DECLARE_QUEUE: u8 = 3;
const CMD_DELETE_QUEUE: u8 = 4;
const CMD_BIND: u8 = 5;
const CMD_UNBIND: u8 = 6;
const CMD_SET_POLICY: u8 = 7;
const CMD_CLEAR_POLICY: u8 = 8;

const DEST_QUEUE: u8 = 1;
const DEST_EXCHANGE: u8 = 2;

/// One entry of the metadata log. More variants come later (vhosts, users,
/// permissions, policies), so the encoding is extensible: each variant has its own tag.
#[derive(Clone, Debug)]
pub enum MetaRecord {
    /// A topology change inside one vhost.
    VHost { vhost: Name, command: Command },
}

/// Why a byte string is not a metadata record, and where in it the problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    offset: usize,
    message: String,
}

impl DecodeError {
    fn new(offset: usize, message: impl Into<String>) -> DecodeError {
        DecodeError {
            offset,
            message: message.into(),
        }
    }
    /// The byte offset in the record at which decoding failed.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// What was wrong, without the offset.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid metadata record at byte {}: {}",
            self.offset, self.message
        )
    }
}

impl std::error::Error for DecodeError {}

/// Encodes `record` in the current format version.
pub fn encode(record: &MetaRecord) -> Vec<u8> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_u8(FORMAT_VERSION);
    match record {
        MetaRecord::VHost { vhost, command } => {
            buf.put_u8(RECORD_VHOST);
            put_str(&mut buf, vhost);
            put_command(&mut buf, command);
        }
    }
    buf.into()
}

/// Decodes one whole record; the input must hold exactly one record.
pub fn decode(bytes: &[u8]) -> Result<MetaRecord, DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u8("format version")?;
    if version == 0 {
        return Err(DecodeError::new(
            0,
            "metadata record version 0 is not valid",
        ));
    }
    if version > FORMAT_VERSION {
        return Err(DecodeError::new(
            0,
            format!(
                "metadata record version {version} is newer than this Warren supports \
                 (up to {FORMAT_VERSION})"
            ),
        ));
    }
    let at = r.pos;
    let record = match r.u8("record tag")? {
        RECORD_VHOST => {
            let vhost = r.name("vhost name")?;
            let command = read_command(&mut r)?;
            MetaRecord::VHost { vhost, command }
        }
        tag => {
            return Err(DecodeError::new(
                at,
                format!("unknown metadata record tag {tag}"),
            ))
        }
    };
    if r.pos != bytes.len() {
        return Err(DecodeError::new(
            r.pos,
            format!("{} trailing bytes after the record", bytes.len() - r.pos),
        ));
    }
    Ok(record)
}

fn put_command(buf: &mut BytesMut, command: &Command) {
    match command {
        Command::DeclareExchange(spec) => {
            buf.put_u8(CMD_DECLARE_EXCHANGE);
            put_str(buf, &spec.name);
            put_str(buf, spec.kind.as_str());
            put_bool(buf, spec.durable);
            put_bool(buf, spec.auto_delete);
            put_bool(buf, spec.internal);
            encode_table(buf, &spec.arguments);
        }
        Command::DeleteExchange { name } => {
            buf.put_u8(CMD_DELETE_EXCHANGE);
            put_str(buf, name);
        }
        Command::DeclareQueue(spec) => {
            buf.put_u8(CMD_DECLARE_QUEUE);
            buf.put_u64(spec.id);
            put_str(buf, &spec.name);
            put_bool(buf, spec.durable);
            put_bool(buf, spec.auto_delete);
            match spec.exclusive_owner {
                None => buf.put_u8(0),
                Some(owner) => {
                    buf.put_u8(1);
                    buf.put_u64(owner);
                }
            }
            encode_table(buf, &spec.arguments);
        }
        Command::DeleteQueue { name } => {
            buf.put_u8(CMD_DELETE_QUEUE);
            put_str(buf, name);
        }
        Command::Bind(spec) => {
            buf.put_u8(CMD_BIND);
            put_binding(buf, spec);
        }
        Command::Unbind(spec) => {
            buf.put_u8(CMD_UNBIND);
            put_binding(buf, spec);
        }
        Command::SetPolicy { kind, spec } => {
            buf.put_u8(CMD_SET_POLICY);
            buf.put_u8(policy_kind_tag(*kind));
            put_str(buf, &spec.name);
            put_str(buf, &spec.pattern);
            buf.put_u8(match spec.apply_to {
                ApplyTo::Queues => 1,
                ApplyTo::Exchanges => 2,
                ApplyTo::All => 3,
            });
            buf.put_u64(spec.priority as u64);
            encode_table(buf, &spec.definition);
        }
        Command::ClearPolicy { kind, name } => {
            buf.put_u8(CMD_CLEAR_POLICY);
            buf.put_u8(policy_kind_tag(*kind));
            put_str(buf, name);
        }
    }
}

fn policy_kind_tag(kind: PolicyKind) -> u8 {
    match kind {
        PolicyKind::Regular => 1,
        PolicyKind::Operator => 2,
    }
}

fn read_policy_kind(r: &mut Reader<'_>) -> Result<PolicyKind, DecodeError> {
    let at = r.pos;
    match r.u8("policy kind")? {
        1 => Ok(PolicyKind::Regular),
        2 => Ok(PolicyKind::Operator),
        other => Err(DecodeError::new(at, format!("unknown policy kind {other}"))),
    }
}

fn put_binding(buf: &mut BytesMut, spec: &BindingSpec) {
    put_str(buf, &spec.source);
    let (kind, name) = match &spec.destination {
        DestName::Queue(name) => (DEST_QUEUE, name),
        DestName::Exchange(name) => (DEST_EXCHANGE, name),
    };
    buf.put_u8(kind);
    put_str(buf, name);
    put_str(buf, &spec.routing_key);
    encode_table(buf, &spec.arguments);
}

fn put_str(buf: &mut BytesMut, s: &str) {
    let len = u32::try_from(s.len()).expect("metadata string longer than 4 GiB");
    buf.put_u32(len);
    buf.put_slice(s.as_bytes());
}

fn put_bool(buf: &mut BytesMut, b: bool) {
    buf.put_u8(b as u8);
}

fn read_command(r: &mut Reader<'_>) -> Result<Command, DecodeError> {
    let at = r.pos;
    Ok(match r.u8("command tag")? {
        CMD_DECLARE_EXCHANGE => {
            let name = r.name("exchange name")?;
            let kind_at = r.pos;
            let kind_name = r.str("exchange type")?;
            let kind = ExchangeKind::parse(kind_name).ok_or_else(|| {
                DecodeError::new(kind_at, format!("unknown exchange type {kind_name:?}"))
            })?;
            Command::DeclareExchange(ExchangeSpec {
                name,
                kind,
                durable: r.bool("durable flag")?,
                auto_delete: r.bool("auto-delete flag")?,
                internal: r.bool("internal flag")?,
                arguments: r.table("exchange arguments")?,
            })
        }
        CMD_DELETE_EXCHANGE => Command::DeleteExchange {
            name: r.name("exchange name")?,
        },
        CMD_DECLARE_QUEUE => Command::DeclareQueue(QueueSpec {
            id: r.u64("queue id")?,
            name: r.name("queue name")?,
            durable: r.bool("durable flag")?,
            auto_delete: r.bool("auto-delete flag")?,
            exclusive_owner: r.opt_u64("exclusive owner")?,
            arguments: r.table("queue arguments")?,
        }),
        CMD_DELETE_QUEUE => Command::DeleteQueue {
            name: r.name("queue name")?,
        },
        CMD_BIND => Command::Bind(read_binding(r)?),
        CMD_UNBIND => Command::Unbind(read_binding(r)?),
        CMD_SET_POLICY => {
            let kind = read_policy_kind(r)?;
            let name = r.name("policy name")?;
            let pattern = r.str("policy pattern")?.to_owned();
            let at = r.pos;
            let apply_to = match r.u8("policy apply-to")? {
                1 => ApplyTo::Queues,
                2 => ApplyTo::Exchanges,
                3 => ApplyTo::All,
                other => {
                    return Err(DecodeError::new(
                        at,
                        format!("unknown policy apply-to {other}"),
                    ))
                }
            };
            Command::SetPolicy {
                kind,
                spec: PolicySpec {
                    name,
                    pattern,
                    apply_to,
                    priority: r.u64("policy priority")? as i64,
                    definition: r.table("policy definition")?,
                },
            }
        }
        CMD_CLEAR_POLICY => Command::ClearPolicy {
            kind: read_policy_kind(r)?,
            name: r.name("policy name")?,
        },
        tag => {
            return Err(DecodeError::new(
                at,
                format!("unknown vhost command tag {tag}"),
            ))
        }
    })
}

fn read_binding(r: &mut Reader<'_>) -> Result<BindingSpec, DecodeError> {
    let source = r.name("binding source")?;
    let at = r.pos;
    let destination = match r.u8("binding destination kind")? {
        DEST_QUEUE => DestName::Queue(r.name("binding destination")?),
        DEST_EXCHANGE => DestName::Exchange(r.name("binding destination")?),
        kind => {
            return Err(DecodeError::new(
                at,
                format!("unknown binding destination kind {kind}"),
            ))
        }
    };
    Ok(BindingSpec {
        source,
        destination,
        routing_key: r.str("routing key")?.to_owned(),
        arguments: r.table("binding arguments")?,
    })
}

/// A cursor over the record; every read checks the length first, so truncated input
/// is an error, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err(DecodeError::new(
                self.pos,
                format!("truncated: {what} needs {n} bytes, {left} left"),
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(b))
    }

    fn bool(&mut self, what: &str) -> Result<bool, DecodeError> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::new(
                at,
                format!("{what} is {other}, not 0 or 1"),
            )),
        }
    }

    fn opt_u64(&mut self, what: &str) -> Result<Option<u64>, DecodeError> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(None),
            1 => self.u64(what).map(Some),
            other => Err(DecodeError::new(
                at,
                format!("{what} presence byte is {other}, not 0 or 1"),
            )),
        }
    }

    fn str(&mut self, what: &str) -> Result<&'a str, DecodeError> {
        let len = self.u32(what)? as usize;
        let at = self.pos;
        let raw = self.take(len, what)?;
        std::str::from_utf8(raw)
            .map_err(|e| DecodeError::new(at, format!("{what} is not UTF-8: {e}")))
    }

    fn name(&mut self, what: &str) -> Result<Name, DecodeError> {
        self.str(what).map(Name::from)
    }

    /// An AMQP field table with its u32 length prefix.
    fn table(&mut self, what: &str) -> Result<FieldTable, DecodeError> {
        let at = self.pos;
        let len = self.u32(what)? as usize;
        self.take(len, what)?;
        decode_table(&self.bytes[at..self.pos])
            .map_err(|e| DecodeError::new(at, format!("{what}: {}", e.text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_codec::{FieldValue, ShortStr};
    use bytes::Bytes;

    fn rich_table() -> FieldTable {
        let mut inner = FieldTable::new();
        inner.insert("deep", FieldValue::Table(FieldTable::new()));
        inner.insert("π", FieldValue::long_string("ünïcødé ✓"));
        inner.insert("", FieldValue::Void);
        let mut t = FieldTable::new();
        t.insert("x-message-ttl", FieldValue::I32(60_000));
        t.insert("x-max-length", FieldValue::I64(-1));
        t.insert("flag", FieldValue::Bool(true));
        t.insert("i8", FieldValue::I8(-8));
        t.insert("u8", FieldValue::U8(200));
        t.insert("i16", FieldValue::I16(-300));
        t.insert("u16", FieldValue::U16(65_000));
        t.insert("u32", FieldValue::U32(4_000_000_000));
        t.insert("f32", FieldValue::F32(1.5));
        t.insert("f64", FieldValue::F64(-2.25e300));
        t.insert("dec", FieldValue::Decimal(2, 12_345));
        t.insert("ts", FieldValue::Timestamp(1_700_000_000));
        t.insert(
            "bin",
            FieldValue::Bytes(Bytes::from_static(b"\x00\xff\x80")),
        );
        t.insert("nested", FieldValue::Table(inner.clone()));
        t.insert(
            "array",
            FieldValue::Array(vec![
                FieldValue::I32(1),
                FieldValue::long_string("two"),
                FieldValue::Array(vec![FieldValue::Void, FieldValue::Bool(false)]),
                FieldValue::Table(inner),
                FieldValue::Array(vec![]),
            ]),
        );
        t.insert(
            ShortStr::from("k".repeat(255)),
            FieldValue::long_string("key of maximal length"),
        );
        t
    }

    fn headers_args() -> FieldTable {
        let mut t = FieldTable::new();
        t.insert("x-match", FieldValue::long_string("any"));
        t.insert("format", FieldValue::long_string("pdf"));
        t.insert("size", FieldValue::U16(7));
        t
    }

    fn commands() -> Vec<Command> {
        let mut out = Vec::new();
        for (i, kind) in [
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Topic,
            ExchangeKind::Headers,
        ]
        .into_iter()
        .enumerate()
        {
            out.push(Command::DeclareExchange(ExchangeSpec {
                name: Name::from(format!("ex-{}", kind.as_str())),
                kind,
                durable: i % 2 == 0,
                auto_delete: i % 3 == 0,
                internal: i == 3,
                arguments: if i == 0 {
                    rich_table()
                } else {
                    FieldTable::new()
                },
            }));
        }
        out.push(Command::DeclareExchange(ExchangeSpec {
            name: Name::from("ümlaut.交換.🐇"),
            kind: ExchangeKind::Topic,
            durable: true,
            auto_delete: true,
            internal: true,
            arguments: rich_table(),
        }));
        out.push(Command::DeleteExchange {
            name: Name::from("ex-direct"),
        });
        out.push(Command::DeleteExchange {
            name: Name::from(""),
        });
        out.push(Command::DeclareQueue(QueueSpec {
            id: 1,
            name: Name::from("orders"),
            durable: true,
            auto_delete: false,
            exclusive_owner: None,
            arguments: rich_table(),
        }));
        out.push(Command::DeclareQueue(QueueSpec {
            id: u64::MAX,
            name: Name::from("amq.gen-JzTY20BRgKO-HjmUJj0wLg"),
            durable: false,
            auto_delete: true,
            exclusive_owner: Some(0x0102_0304_0506_0708),
            arguments: FieldTable::new(),
        }));
        out.push(Command::DeclareQueue(QueueSpec {
            id: 0,
            name: Name::from(""),
            durable: false,
            auto_delete: false,
            exclusive_owner: Some(0),
            arguments: headers_args(),
        }));
        out.push(Command::DeclareQueue(QueueSpec {
            id: 42,
            name: Name::from("q".repeat(255)),
            durable: true,
            auto_delete: true,
            exclusive_owner: None,
            arguments: FieldTable::new(),
        }));
        out.push(Command::DeleteQueue {
            name: Name::from("orders"),
        });
        out.push(Command::DeleteQueue {
            name: Name::from("очередь"),
        });
        out.push(Command::Bind(BindingSpec {
            source: Name::from("ex-topic"),
            destination: DestName::Queue(Name::from("orders")),
            routing_key: "orders.*.eu.#".into(),
            arguments: FieldTable::new(),
        }));
        out.push(Command::Bind(BindingSpec {
            source: Name::from("ex-headers"),
            destination: DestName::Exchange(Name::from("ümlaut.交換.🐇")),
            routing_key: String::new(),
            arguments: headers_args(),
        }));
        out.push(Command::Bind(BindingSpec {
            source: Name::from(""),
            destination: DestName::Queue(Name::from("")),
            routing_key: "ключ.".repeat(1000),
            arguments: rich_table(),
        }));
        out.push(Command::Unbind(BindingSpec {
            source: Name::from("ex-topic"),
            destination: DestName::Queue(Name::from("orders")),
            routing_key: "orders.*.eu.#".into(),
            arguments: FieldTable::new(),
        }));
        out.push(Command::Unbind(BindingSpec {
            source: Name::from("ex-fanout"),
            destination: DestName::Exchange(Name::from("ex-direct")),
            routing_key: "ignored".into(),
            arguments: rich_table(),
        }));
        out.push(Command::SetPolicy {
            kind: PolicyKind::Regular,
            spec: PolicySpec {
                name: Name::from("limits ü"),
                pattern: "^orders\\.".into(),
                apply_to: ApplyTo::Queues,
                priority: -3,
                definition: rich_table(),
            },
        });
        out.push(Command::SetPolicy {
            kind: PolicyKind::Operator,
            spec: PolicySpec {
                name: Name::from("cap"),
                pattern: ".*".into(),
                apply_to: ApplyTo::All,
                priority: i64::MAX,
                definition: FieldTable::new(),
            },
        });
        out.push(Command::ClearPolicy {
            kind: PolicyKind::Operator,
            name: Name::from("cap"),
        });
        out
    }

    fn records() -> Vec<MetaRecord> {
        let vhosts = ["/", "", "staging-ü"];
        commands()
            .into_iter()
            .enumerate()
            .map(|(i, command)| MetaRecord::VHost {
                vhost: Name::from(vhosts[i % vhosts.len()]),
                command,
            })
            .collect()
    }

    fn assert_exchange_eq(a: &ExchangeSpec, b: &ExchangeSpec) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.kind, b.kind);
        assert_eq!(a.durable, b.durable);
        assert_eq!(a.auto_delete, b.auto_delete);
        assert_eq!(a.internal, b.internal);
        assert_eq!(a.arguments, b.arguments);
    }

    fn assert_queue_eq(a: &QueueSpec, b: &QueueSpec) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.name, b.name);
        assert_eq!(a.durable, b.durable);
        assert_eq!(a.auto_delete, b.auto_delete);
        assert_eq!(a.exclusive_owner, b.exclusive_owner);
        assert_eq!(a.arguments, b.arguments);
    }

    fn assert_binding_eq(a: &BindingSpec, b: &BindingSpec) {
        assert_eq!(a.source, b.source);
        assert_eq!(a.destination, b.destination);
        assert_eq!(a.routing_key, b.routing_key);
        assert_eq!(a.arguments, b.arguments);
    }

    fn assert_record_eq(a: &MetaRecord, b: &MetaRecord) {
        let (
            MetaRecord::VHost {
                vhost: va,
                command: ca,
            },
            MetaRecord::VHost {
                vhost: vb,
                command: cb,
            },
        ) = (a, b);
        assert_eq!(va, vb);
        match (ca, cb) {
            (Command::DeclareExchange(x), Command::DeclareExchange(y)) => assert_exchange_eq(x, y),
            (Command::DeleteExchange { name: x }, Command::DeleteExchange { name: y }) => {
                assert_eq!(x, y)
            }
            (Command::DeclareQueue(x), Command::DeclareQueue(y)) => assert_queue_eq(x, y),
            (Command::DeleteQueue { name: x }, Command::DeleteQueue { name: y }) => {
                assert_eq!(x, y)
            }
            (Command::Bind(x), Command::Bind(y)) => assert_binding_eq(x, y),
            (Command::Unbind(x), Command::Unbind(y)) => assert_binding_eq(x, y),
            (
                Command::SetPolicy { kind: ka, spec: x },
                Command::SetPolicy { kind: kb, spec: y },
            ) => {
                assert_eq!(ka, kb);
                assert_eq!(x, y);
            }
            (
                Command::ClearPolicy { kind: ka, name: x },
                Command::ClearPolicy { kind: kb, name: y },
            ) => {
                assert_eq!(ka, kb);
                assert_eq!(x, y);
            }
            (x, y) => panic!("command kind changed: {x:?} became {y:?}"),
        }
    }

    #[test]
    fn every_command_round_trips() {
        let records = records();
        // Every command variant and both destination kinds are covered.
        let mut seen = [false; 10];
        for record in &records {
            let MetaRecord::VHost { command, .. } = record;
            let i = match command {
                Command::DeclareExchange(_) => 0,
                Command::DeleteExchange { .. } => 1,
                Command::DeclareQueue(_) => 2,
                Command::DeleteQueue { .. } => 3,
                Command::Bind(b) | Command::Unbind(b) => match b.destination {
                    DestName::Queue(_) => 4,
                    DestName::Exchange(_) => 5,
                },
                Command::SetPolicy { .. } => 8,
                Command::ClearPolicy { .. } => 9,
            };
            seen[i] = true;
            if let Command::Unbind(_) = command {
                seen[6] = true;
            }
            if let Command::Bind(_) = command {
                seen[7] = true;
            }
        }
        assert!(seen.iter().all(|s| *s), "coverage: {seen:?}");

        for record in &records {
            let bytes = encode(record);
            assert_eq!(bytes[0], FORMAT_VERSION);
            assert_eq!(bytes[1], RECORD_VHOST);
            let back = decode(&bytes).unwrap_or_else(|e| panic!("{e} decoding {record:?}"));
            assert_record_eq(record, &back);
            // Encoding is deterministic: the decoded record encodes to the same bytes.
            assert_eq!(encode(&back), bytes);
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let record = MetaRecord::VHost {
            vhost: Name::from("/"),
            command: Command::DeclareQueue(QueueSpec {
                id: 7,
                name: Name::from("q"),
                durable: true,
                auto_delete: false,
                exclusive_owner: Some(9),
                arguments: FieldTable::new(),
            }),
        };
        let expected: &[u8] = &[
            1, // version
            1, // record tag: vhost
            0, 0, 0, 1, b'/', // vhost
            3,    // command: DeclareQueue
            0, 0, 0, 0, 0, 0, 0, 7, // id
            0, 0, 0, 1, b'q', // name
            1,    // durable
            0,    // auto_delete
            1, 0, 0, 0, 0, 0, 0, 0, 9, // exclusive_owner
            0, 0, 0, 0, // empty arguments
        ];
        assert_eq!(encode(&record), expected);

        let bind = MetaRecord::VHost {
            vhost: Name::from(""),
            command: Command::Unbind(BindingSpec {
                source: Name::from("e"),
                destination: DestName::Exchange(Name::from("f")),
                routing_key: "k".into(),
                arguments: FieldTable::new(),
            }),
        };
        let expected: &[u8] = &[
            1, 1, 0, 0, 0, 0, // version, tag, empty vhost
            6, // command: Unbind
            0, 0, 0, 1, b'e', // source
            2, 0, 0, 0, 1, b'f', // exchange destination
            0, 0, 0, 1, b'k', // routing key
            0, 0, 0, 0, // arguments
        ];
        assert_eq!(encode(&bind), expected);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for record in records() {
            let bytes = encode(&record);
            for len in 0..bytes.len() {
                let err = decode(&bytes[..len])
                    .expect_err(&format!("prefix of {len} of {} bytes decoded", bytes.len()));
                assert!(err.offset() <= len, "{err} for prefix {len}");
            }
        }
    }

    #[test]
    fn newer_or_zero_version_is_rejected() {
        let mut bytes = encode(&records()[0]);
        for version in [2u8, 0x81, 0xff] {
            bytes[0] = version;
            let err = decode(&bytes).unwrap_err();
            assert_eq!(err.offset(), 0);
            assert_eq!(
                err.message(),
                format!("metadata record version {version} is newer than this Warren supports (up to 1)")
            );
            assert!(err
                .to_string()
                .contains(&format!("version {version} is newer")));
        }
        bytes[0] = 0;
        let err = decode(&bytes).unwrap_err();
        assert_eq!(err.message(), "metadata record version 0 is not valid");
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        for record in records() {
            let mut bytes = encode(&record);
            let len = bytes.len();
            bytes.extend_from_slice(b"\x00garbage");
            let err = decode(&bytes).unwrap_err();
            assert_eq!(err.offset(), len);
            assert_eq!(err.message(), "8 trailing bytes after the record");
        }
    }

    #[test]
    fn unknown_tags_and_bad_values_are_rejected() {
        let record = MetaRecord::VHost {
            vhost: Name::from("/"),
            command: Command::Bind(BindingSpec {
                source: Name::from("e"),
                destination: DestName::Queue(Name::from("q")),
                routing_key: "k".into(),
                arguments: FieldTable::new(),
            }),
        };
        let good = encode(&record);
        let with = |at: usize, byte: u8| {
            let mut b = good.clone();
            b[at] = byte;
            decode(&b).unwrap_err()
        };
        let err = with(1, 99);
        assert_eq!(
            (err.offset(), err.message()),
            (1, "unknown metadata record tag 99")
        );
        let err = with(7, 0);
        assert_eq!(
            (err.offset(), err.message()),
            (7, "unknown vhost command tag 0")
        );
        let err = with(13, 3);
        assert_eq!(
            (err.offset(), err.message()),
            (13, "unknown binding destination kind 3")
        );
        let err = with(18, 0xff); // first byte of the destination name
        assert!(err.message().contains("not UTF-8"), "{err}");

        let exchange = MetaRecord::VHost {
            vhost: Name::from("/"),
            command: Command::DeclareExchange(ExchangeSpec {
                name: Name::from("e"),
                kind: ExchangeKind::Fanout,
                durable: true,
                auto_delete: false,
                internal: false,
                arguments: FieldTable::new(),
            }),
        };
        let mut b = encode(&exchange);
        // version, tag, vhost (5), command tag, name (5), type length (4): "fanout" at 17.
        assert_eq!(&b[17..23], b"fanout");
        b[17] = b'g';
        let err = decode(&b).unwrap_err();
        assert_eq!(
            (err.offset(), err.message()),
            (13, "unknown exchange type \"ganout\"")
        );
        let mut b = encode(&exchange);
        b[23] = 2; // durable
        let err = decode(&b).unwrap_err();
        assert_eq!(
            (err.offset(), err.message()),
            (23, "durable flag is 2, not 0 or 1")
        );

        // A table whose contents are malformed: one entry with an unknown type tag.
        let mut b = encode(&exchange);
        b.truncate(b.len() - 4);
        b.extend_from_slice(&[0, 0, 0, 3, 1, b'k', b'?']);
        let err = decode(&b).unwrap_err();
        assert_eq!(err.offset(), 26);
        assert!(err.message().starts_with("exchange arguments: "), "{err}");
    }

    #[test]
    fn huge_length_prefixes_do_not_panic() {
        let mut b = vec![1, 1, 0xff, 0xff, 0xff, 0xff];
        let err = decode(&b).unwrap_err();
        assert_eq!(err.offset(), 6);
        assert!(err.message().starts_with("truncated: vhost name"), "{err}");
        b.extend_from_slice(&[0; 16]);
        assert!(decode(&b).is_err());
    }
}
