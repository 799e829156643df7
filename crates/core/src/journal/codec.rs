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
//! | 1      | record tag: `1` vhost command, `2` broker command, `3` defaults created |
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
//! | 9   | DeclareExchange of a plugin type | as tag 1 (the type is the routing type: `x-delayed-type`'s, or `fanout`), then `u8` plugin type (`1` `x-delayed-message`, `2` `x-message-deduplication`) and `u64` the store id of what it keeps |
//! | 10  | SetTracing      | `bool` on                                                          |
//!
//! Record `2`, broker command (users, vhosts, permissions): a command tag byte and
//! that command's fields:
//!
//! | Tag | Command          | Fields, in order                                                  |
//! |-----|------------------|-------------------------------------------------------------------|
//! | 1   | AddUser          | `str` name, `u8` hashing algorithm, `bytes` password hash, `strs` tags |
//! | 2   | DeleteUser       | `str` name                                                        |
//! | 3   | SetUserTags      | `str` name, `strs` tags                                           |
//! | 4   | ChangePassword   | `str` name, `u8` hashing algorithm, `bytes` password hash         |
//! | 5   | AddVHost         | `str` name, `str` description, `strs` tags, `optstr` default queue type |
//! | 6   | DeleteVHost      | `str` name                                                        |
//! | 7   | SetPermissions   | `str` user, `str` vhost, `str` configure, `str` write, `str` read |
//! | 8   | ClearPermissions | `str` user, `str` vhost                                           |
//! | 9   | SetTopicPermissions | `str` user, `str` vhost, `str` exchange, `str` write, `str` read |
//! | 10  | ClearTopicPermissions | `str` user, `str` vhost, `optstr` exchange (absent: all)   |
//!
//! The hashing algorithm byte: `1` SHA-256, `2` SHA-512, `3` MD5. The password hash
//! is salt ++ digest as RabbitMQ stores it (empty: the user has no password).
//! Permission expressions are stored as set and compiled when read; one that no
//! longer compiles makes the record invalid.
//!
//! Record `3`, defaults created, has no fields: it says the broker's defaults (vhost
//! `/`, user `guest` and its permissions) were created once, so a broker whose
//! administrator deleted them does not get them back at the next start. A log
//! without it (a new data directory, or one written before users were recorded)
//! gets the defaults at recovery.
//!
//! Field types: `u8` one byte; `u64` 8 bytes big-endian; `str` a u32 big-endian byte
//! length then that many bytes of UTF-8; `bool` one byte, `0` or `1` (other values are
//! rejected); `opt` a presence byte `0` (absent) or `1` followed by a `u64`; `optstr` likewise
//! followed by a `str`; `bytes` a u32 big-endian length then that many bytes; `strs`
//! a u32 big-endian count then that many `str`; `table` an
//! AMQP 0-9-1 field table exactly as on the wire (u32 big-endian length, then the
//! entries with RabbitMQ's type tags), as [`amqp_codec::encode_table`] writes it. The
//! exchange type is its AMQP name (`direct`, `fanout`, `topic`, `headers`).
//!
//! Extending: a new kind of record (vhosts, users, permissions, policies) takes a new
//! record tag, a new vhost command a new command tag; existing tags keep their layout.
//! A change to an existing layout bumps the format version. A reader rejects versions
//! and tags it does not know, and any record that is truncated or has bytes left over,
//! with a [`DecodeError`] naming the byte offset.

use crate::access::{
    BrokerCommand, HashingAlgorithm, PasswordHash, Permission, TopicPermission, VHostSettings,
};
use crate::exchange::ExchangeKind;
use crate::names::Name;
use crate::policy::{ApplyTo, PolicyKind, PolicySpec};
use crate::queue::QueueSpec;
use crate::vhost::{BindingSpec, Command, DestName, ExchangeSpec, PluginType};
use amqp_codec::{decode_table, encode_table, FieldTable};
use bytes::{BufMut, BytesMut};
use std::fmt;
use std::sync::Arc;

/// The format version this Warren writes, and the newest it reads.
pub const FORMAT_VERSION: u8 = 1;

const RECORD_VHOST: u8 = 1;
const RECORD_BROKER: u8 = 2;
const RECORD_DEFAULTS_CREATED: u8 = 3;

const BCMD_ADD_USER: u8 = 1;
const BCMD_DELETE_USER: u8 = 2;
const BCMD_SET_USER_TAGS: u8 = 3;
const BCMD_CHANGE_PASSWORD: u8 = 4;
const BCMD_ADD_VHOST: u8 = 5;
const BCMD_DELETE_VHOST: u8 = 6;
const BCMD_SET_PERMISSIONS: u8 = 7;
const BCMD_CLEAR_PERMISSIONS: u8 = 8;
const BCMD_SET_TOPIC_PERMISSIONS: u8 = 9;
const BCMD_CLEAR_TOPIC_PERMISSIONS: u8 = 10;

const HASH_SHA256: u8 = 1;
const HASH_SHA512: u8 = 2;
const HASH_MD5: u8 = 3;

const CMD_DECLARE_EXCHANGE: u8 = 1;
const CMD_DELETE_EXCHANGE: u8 = 2;
const CMD_DECLARE_QUEUE: u8 = 3;
const CMD_DELETE_QUEUE: u8 = 4;
const CMD_BIND: u8 = 5;
const CMD_UNBIND: u8 = 6;
const CMD_SET_POLICY: u8 = 7;
const CMD_CLEAR_POLICY: u8 = 8;
const CMD_DECLARE_PLUGIN_EXCHANGE: u8 = 9;
const CMD_SET_TRACING: u8 = 10;

const DEST_QUEUE: u8 = 1;
const DEST_EXCHANGE: u8 = 2;

/// One entry of the metadata log. More variants come later (policies), so the
/// encoding is extensible: each variant has its own tag.
#[derive(Clone, Debug)]
pub enum MetaRecord {
    /// A topology change inside one vhost.
    VHost { vhost: Name, command: Command },
    /// A change of users, vhosts or permissions.
    Broker(BrokerCommand),
    /// The default vhost, user and permissions were created (once per data directory).
    DefaultsCreated,
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
        MetaRecord::Broker(command) => {
            buf.put_u8(RECORD_BROKER);
            put_broker_command(&mut buf, command);
        }
        MetaRecord::DefaultsCreated => buf.put_u8(RECORD_DEFAULTS_CREATED),
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
        RECORD_BROKER => MetaRecord::Broker(read_broker_command(&mut r)?),
        RECORD_DEFAULTS_CREATED => MetaRecord::DefaultsCreated,
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
            buf.put_u8(match spec.plugin {
                None => CMD_DECLARE_EXCHANGE,
                Some(_) => CMD_DECLARE_PLUGIN_EXCHANGE,
            });
            put_str(buf, &spec.name);
            put_str(buf, spec.kind.as_str());
            put_bool(buf, spec.durable);
            put_bool(buf, spec.auto_delete);
            put_bool(buf, spec.internal);
            encode_table(buf, &spec.arguments);
            if let Some(plugin) = spec.plugin {
                buf.put_u8(match plugin {
                    PluginType::Delayed { .. } => 1,
                    PluginType::Deduplication { .. } => 2,
                });
                buf.put_u64(plugin.store());
            }
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
        Command::SetTracing(on) => {
            buf.put_u8(CMD_SET_TRACING);
            put_bool(buf, *on);
        }
    }
}

fn policy_kind_tag(kind: PolicyKind) -> u8 {
    match kind {
        PolicyKind::Regular => 1,
        PolicyKind::Operator => 2,
    }
}

fn read_plugin_type(r: &mut Reader<'_>) -> Result<PluginType, DecodeError> {
    let at = r.pos;
    let tag = r.u8("exchange plugin type")?;
    let store = r.u64("exchange store id")?;
    match tag {
        1 => Ok(PluginType::Delayed { store }),
        2 => Ok(PluginType::Deduplication { store }),
        other => Err(DecodeError::new(
            at,
            format!("unknown exchange plugin type {other}"),
        )),
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
        tag @ (CMD_DECLARE_EXCHANGE | CMD_DECLARE_PLUGIN_EXCHANGE) => {
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
                plugin: match tag {
                    CMD_DECLARE_PLUGIN_EXCHANGE => Some(read_plugin_type(r)?),
                    _ => None,
                },
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
        CMD_SET_TRACING => Command::SetTracing(r.bool("tracing flag")?),
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

fn put_broker_command(buf: &mut BytesMut, command: &BrokerCommand) {
    match command {
        BrokerCommand::AddUser {
            name,
            password,
            tags,
        } => {
            buf.put_u8(BCMD_ADD_USER);
            put_str(buf, name);
            put_password(buf, password);
            put_strs(buf, tags);
        }
        BrokerCommand::DeleteUser { name } => {
            buf.put_u8(BCMD_DELETE_USER);
            put_str(buf, name);
        }
        BrokerCommand::SetUserTags { name, tags } => {
            buf.put_u8(BCMD_SET_USER_TAGS);
            put_str(buf, name);
            put_strs(buf, tags);
        }
        BrokerCommand::ChangePassword { name, password } => {
            buf.put_u8(BCMD_CHANGE_PASSWORD);
            put_str(buf, name);
            put_password(buf, password);
        }
        BrokerCommand::AddVHost { name, settings } => {
            buf.put_u8(BCMD_ADD_VHOST);
            put_str(buf, name);
            put_str(buf, &settings.description);
            put_strs(buf, &settings.tags);
            put_opt_str(buf, settings.default_queue_type.as_deref());
        }
        BrokerCommand::DeleteVHost { name } => {
            buf.put_u8(BCMD_DELETE_VHOST);
            put_str(buf, name);
        }
        BrokerCommand::SetPermissions {
            user,
            vhost,
            permission,
        } => {
            buf.put_u8(BCMD_SET_PERMISSIONS);
            put_str(buf, user);
            put_str(buf, vhost);
            put_str(buf, permission.configure.as_str());
            put_str(buf, permission.write.as_str());
            put_str(buf, permission.read.as_str());
        }
        BrokerCommand::ClearPermissions { user, vhost } => {
            buf.put_u8(BCMD_CLEAR_PERMISSIONS);
            put_str(buf, user);
            put_str(buf, vhost);
        }
        BrokerCommand::SetTopicPermissions {
            user,
            vhost,
            exchange,
            permission,
        } => {
            buf.put_u8(BCMD_SET_TOPIC_PERMISSIONS);
            put_str(buf, user);
            put_str(buf, vhost);
            put_str(buf, exchange);
            put_str(buf, &permission.write);
            put_str(buf, &permission.read);
        }
        BrokerCommand::ClearTopicPermissions {
            user,
            vhost,
            exchange,
        } => {
            buf.put_u8(BCMD_CLEAR_TOPIC_PERMISSIONS);
            put_str(buf, user);
            put_str(buf, vhost);
            put_opt_str(buf, exchange.as_deref());
        }
    }
}

fn put_password(buf: &mut BytesMut, password: &PasswordHash) {
    buf.put_u8(match password.algorithm() {
        HashingAlgorithm::Sha256 => HASH_SHA256,
        HashingAlgorithm::Sha512 => HASH_SHA512,
        HashingAlgorithm::Md5 => HASH_MD5,
    });
    let bytes = password.as_bytes();
    buf.put_u32(u32::try_from(bytes.len()).expect("password hash longer than 4 GiB"));
    buf.put_slice(bytes);
}

fn put_opt_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        None => buf.put_u8(0),
        Some(s) => {
            buf.put_u8(1);
            put_str(buf, s);
        }
    }
}

fn put_strs(buf: &mut BytesMut, strs: &[String]) {
    buf.put_u32(u32::try_from(strs.len()).expect("more than 4G strings"));
    for s in strs {
        put_str(buf, s);
    }
}

fn read_broker_command(r: &mut Reader<'_>) -> Result<BrokerCommand, DecodeError> {
    let at = r.pos;
    Ok(match r.u8("broker command tag")? {
        BCMD_ADD_USER => BrokerCommand::AddUser {
            name: r.name("user name")?,
            password: read_password(r)?,
            tags: r.strs("user tags")?,
        },
        BCMD_DELETE_USER => BrokerCommand::DeleteUser {
            name: r.name("user name")?,
        },
        BCMD_SET_USER_TAGS => BrokerCommand::SetUserTags {
            name: r.name("user name")?,
            tags: r.strs("user tags")?,
        },
        BCMD_CHANGE_PASSWORD => BrokerCommand::ChangePassword {
            name: r.name("user name")?,
            password: read_password(r)?,
        },
        BCMD_ADD_VHOST => {
            let name = r.name("vhost name")?;
            let description = r.str("vhost description")?.to_owned();
            let tags = r.strs("vhost tags")?;
            let default_queue_type = r.opt_str("default queue type")?;
            BrokerCommand::AddVHost {
                name,
                settings: VHostSettings {
                    description,
                    tags,
                    default_queue_type,
                },
            }
        }
        BCMD_DELETE_VHOST => BrokerCommand::DeleteVHost {
            name: r.name("vhost name")?,
        },
        BCMD_SET_PERMISSIONS => {
            let user = r.name("user name")?;
            let vhost = r.name("vhost name")?;
            let at = r.pos;
            let configure = r.str("configure permission")?;
            let write = r.str("write permission")?;
            let read = r.str("read permission")?;
            let permission = Permission::new(configure, write, read)
                .map_err(|e| DecodeError::new(at, e.message))?;
            BrokerCommand::SetPermissions {
                user,
                vhost,
                permission: Arc::new(permission),
            }
        }
        BCMD_CLEAR_PERMISSIONS => BrokerCommand::ClearPermissions {
            user: r.name("user name")?,
            vhost: r.name("vhost name")?,
        },
        BCMD_SET_TOPIC_PERMISSIONS => {
            let user = r.name("user name")?;
            let vhost = r.name("vhost name")?;
            let exchange = r.name("exchange name")?;
            let at = r.pos;
            let write = r.str("topic write permission")?;
            let read = r.str("topic read permission")?;
            let permission =
                TopicPermission::new(write, read).map_err(|e| DecodeError::new(at, e.message))?;
            BrokerCommand::SetTopicPermissions {
                user,
                vhost,
                exchange,
                permission,
            }
        }
        BCMD_CLEAR_TOPIC_PERMISSIONS => BrokerCommand::ClearTopicPermissions {
            user: r.name("user name")?,
            vhost: r.name("vhost name")?,
            exchange: r.opt_str("exchange name")?.map(Name::from),
        },
        tag => {
            return Err(DecodeError::new(
                at,
                format!("unknown broker command tag {tag}"),
            ))
        }
    })
}

fn read_password(r: &mut Reader<'_>) -> Result<PasswordHash, DecodeError> {
    let at = r.pos;
    let algorithm = match r.u8("hashing algorithm")? {
        HASH_SHA256 => HashingAlgorithm::Sha256,
        HASH_SHA512 => HashingAlgorithm::Sha512,
        HASH_MD5 => HashingAlgorithm::Md5,
        other => {
            return Err(DecodeError::new(
                at,
                format!("unknown hashing algorithm {other}"),
            ))
        }
    };
    let len = r.u32("password hash")? as usize;
    let bytes = r.take(len, "password hash")?.to_vec();
    Ok(PasswordHash::from_bytes(algorithm, bytes))
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

    /// A presence byte, then a string when it is 1.
    fn opt_str(&mut self, what: &str) -> Result<Option<String>, DecodeError> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(self.str(what)?.to_owned())),
            other => Err(DecodeError::new(
                at,
                format!("{what} presence byte is {other}, not 0 or 1"),
            )),
        }
    }

    /// A u32 count, then that many strings. The count is not trusted for allocation.
    fn strs(&mut self, what: &str) -> Result<Vec<String>, DecodeError> {
        let count = self.u32(what)?;
        let mut out = Vec::new();
        for _ in 0..count {
            out.push(self.str(what)?.to_owned());
        }
        Ok(out)
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
                plugin: None,
            }));
        }
        out.push(Command::DeclareExchange(ExchangeSpec {
            name: Name::from("ümlaut.交換.🐇"),
            kind: ExchangeKind::Topic,
            durable: true,
            auto_delete: true,
            internal: true,
            arguments: rich_table(),
            plugin: Some(PluginType::Delayed {
                store: u64::MAX - 7,
            }),
        }));
        out.push(Command::DeclareExchange(ExchangeSpec {
            name: Name::from("dedup"),
            kind: ExchangeKind::Fanout,
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: rich_table(),
            plugin: Some(PluginType::Deduplication { store: 3 }),
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
        out.push(Command::SetTracing(true));
        out.push(Command::SetTracing(false));
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
        assert_eq!(a.plugin, b.plugin);
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
        ) = (a, b)
        else {
            panic!("not vhost records: {a:?}, {b:?}");
        };
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
            (Command::SetTracing(x), Command::SetTracing(y)) => assert_eq!(x, y),
            (x, y) => panic!("command kind changed: {x:?} became {y:?}"),
        }
    }

    #[test]
    fn every_command_round_trips() {
        let records = records();
        // Every command variant and both destination kinds are covered.
        let mut seen = [false; 11];
        for record in &records {
            let MetaRecord::VHost { command, .. } = record else {
                unreachable!("records() makes vhost records only");
            };
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
                Command::SetTracing(_) => 10,
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
                plugin: None,
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

    fn broker_commands() -> Vec<BrokerCommand> {
        vec![
            BrokerCommand::AddUser {
                name: Name::from("bob"),
                password: PasswordHash::new(HashingAlgorithm::Sha256, "secret"),
                tags: vec!["administrator".into(), "ünïcødé tag".into()],
            },
            BrokerCommand::AddUser {
                name: Name::from("nopass"),
                password: PasswordHash::none(),
                tags: vec![],
            },
            BrokerCommand::ChangePassword {
                name: Name::from("bob"),
                password: PasswordHash::new(HashingAlgorithm::Sha512, "other"),
            },
            BrokerCommand::ChangePassword {
                name: Name::from("bob"),
                password: PasswordHash::new(HashingAlgorithm::Md5, "md5"),
            },
            BrokerCommand::SetUserTags {
                name: Name::from("bob"),
                tags: vec!["monitoring".into()],
            },
            BrokerCommand::DeleteUser {
                name: Name::from("bob"),
            },
            BrokerCommand::AddVHost {
                name: Name::from("staging-ü"),
                settings: VHostSettings {
                    description: "the staging vhost".into(),
                    tags: vec!["a".into(), "b".into()],
                    default_queue_type: Some("quorum".into()),
                },
            },
            BrokerCommand::AddVHost {
                name: Name::from("/"),
                settings: VHostSettings::default(),
            },
            BrokerCommand::DeleteVHost {
                name: Name::from("staging-ü"),
            },
            BrokerCommand::SetPermissions {
                user: Name::from("bob"),
                vhost: Name::from("/"),
                permission: Arc::new(Permission::new("^app\\.", "", ".*").unwrap()),
            },
            BrokerCommand::ClearPermissions {
                user: Name::from("bob"),
                vhost: Name::from("/"),
            },
            BrokerCommand::SetTopicPermissions {
                user: Name::from("bob"),
                vhost: Name::from("/"),
                exchange: Name::from("amq.topic"),
                permission: TopicPermission::new("^{username}\\.", "").unwrap(),
            },
            BrokerCommand::ClearTopicPermissions {
                user: Name::from("bob"),
                vhost: Name::from("/"),
                exchange: Some(Name::from("amq.topic")),
            },
            BrokerCommand::ClearTopicPermissions {
                user: Name::from("bob"),
                vhost: Name::from("/"),
                exchange: None,
            },
        ]
    }

    /// A canonical text of a broker command, to compare a round trip.
    fn describe_broker(c: &BrokerCommand) -> String {
        match c {
            BrokerCommand::AddUser {
                name,
                password,
                tags,
            } => format!(
                "add {name} {:?} {} {tags:?}",
                password.algorithm(),
                password.to_base64()
            ),
            BrokerCommand::ChangePassword { name, password } => {
                format!(
                    "pw {name} {:?} {}",
                    password.algorithm(),
                    password.to_base64()
                )
            }
            BrokerCommand::SetPermissions {
                user,
                vhost,
                permission: p,
            } => format!(
                "perm {user} {vhost} {:?} {:?} {:?}",
                p.configure.as_str(),
                p.write.as_str(),
                p.read.as_str()
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn every_broker_command_round_trips() {
        let mut records: Vec<MetaRecord> = broker_commands()
            .into_iter()
            .map(MetaRecord::Broker)
            .collect();
        records.push(MetaRecord::DefaultsCreated);
        for record in &records {
            let bytes = encode(record);
            assert_eq!(bytes[0], FORMAT_VERSION);
            let back = decode(&bytes).unwrap_or_else(|e| panic!("{e} decoding {record:?}"));
            match (record, &back) {
                (MetaRecord::Broker(a), MetaRecord::Broker(b)) => {
                    assert_eq!(describe_broker(a), describe_broker(b))
                }
                (MetaRecord::DefaultsCreated, MetaRecord::DefaultsCreated) => {}
                (a, b) => panic!("record kind changed: {a:?} became {b:?}"),
            }
            assert_eq!(encode(&back), bytes);
            for len in 0..bytes.len() {
                assert!(decode(&bytes[..len]).is_err(), "prefix {len} of {record:?}");
            }
        }
        // A decoded permission is compiled and matches as the original did.
        let MetaRecord::Broker(BrokerCommand::SetPermissions { permission, .. }) =
            decode(&encode(&MetaRecord::Broker(broker_commands()[9].clone()))).unwrap()
        else {
            panic!("not a permission");
        };
        assert!(permission.configure.matches("app.q"));
        assert!(!permission.configure.matches("other"));
        assert!(permission.write.matches(""));
        assert!(!permission.write.matches("x"));
    }

    #[test]
    fn broker_record_layout_is_as_documented() {
        let record = MetaRecord::Broker(BrokerCommand::AddUser {
            name: Name::from("u"),
            password: PasswordHash::from_bytes(HashingAlgorithm::Sha512, vec![9, 8]),
            tags: vec!["t".into()],
        });
        let expected: &[u8] = &[
            1, // version
            2, // record tag: broker command
            1, // command: AddUser
            0, 0, 0, 1, b'u', // name
            2,    // SHA-512
            0, 0, 0, 2, 9, 8, // hash
            0, 0, 0, 1, 0, 0, 0, 1, b't', // tags
        ];
        assert_eq!(encode(&record), expected);
        assert_eq!(encode(&MetaRecord::DefaultsCreated), [1, 3]);
    }

    #[test]
    fn records_written_before_users_existed_still_decode() {
        // A version-1 vhost record as the first release wrote it (from
        // layout_is_as_documented): DeclareQueue 'q' in '/'.
        let old: &[u8] = &[
            1, 1, 0, 0, 0, 1, b'/', 3, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, b'q', 1, 0, 1, 0, 0, 0,
            0, 0, 0, 0, 9, 0, 0, 0, 0,
        ];
        let MetaRecord::VHost {
            vhost,
            command: Command::DeclareQueue(spec),
        } = decode(old).unwrap()
        else {
            panic!("not a queue declaration");
        };
        assert_eq!((&*vhost, &*spec.name, spec.id), ("/", "q", 7));
    }

    #[test]
    fn bad_broker_records_are_rejected() {
        let err = decode(&[1, 2, 99]).unwrap_err();
        assert_eq!(
            (err.offset(), err.message()),
            (2, "unknown broker command tag 99")
        );
        let mut bytes = encode(&MetaRecord::Broker(broker_commands()[0].clone()));
        bytes[10] = 7; // the hashing algorithm byte, after the tags and the name "bob"
        let err = decode(&bytes).unwrap_err();
        assert_eq!(
            (err.offset(), err.message()),
            (10, "unknown hashing algorithm 7")
        );
        // A permission expression that does not compile.
        let bad = [
            &[1u8, 2, 7][..],
            &[0, 0, 0, 1, b'u', 0, 0, 0, 1, b'/'],
            &[0, 0, 0, 1, b'('],
            &[0, 0, 0, 0, 0, 0, 0, 0],
        ]
        .concat();
        let err = decode(&bad).unwrap_err();
        assert_eq!(err.offset(), 13);
        assert!(
            err.message()
                .starts_with("regular expression '(' is invalid"),
            "{err}"
        );
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
