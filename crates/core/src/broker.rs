//! The broker: vhosts, users, and the registry of live connections.

use crate::journal::codec::{self, MetaRecord};
use crate::names::Name;
use crate::outlet::{ConnEvent, Outlet};
use crate::reply_to::ReplyRegistry;
use crate::storage::StorageRef;
use crate::vhost::{VHost, VHostRef};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub type BrokerRef = Arc<Broker>;

#[derive(Clone, Debug)]
pub struct User {
    pub name: Name,
    password: String,
    pub tags: Vec<String>,
    /// Allowed to connect from loopback addresses only (RabbitMQ's `loopback_users`).
    pub loopback_only: bool,
}

pub struct Broker {
    vhosts: RwLock<HashMap<Name, VHostRef>>,
    users: RwLock<HashMap<Name, User>>,
    connections: Mutex<HashMap<u64, Outlet>>,
    next_connection: AtomicU64,
    next_channel: AtomicU64,
    pub reply_to: ReplyRegistry,
    storage: Option<StorageRef>,
    /// The disk alarm: free space under the limit, or the store found the disk full.
    disk_alarm: AtomicBool,
    /// Live connections, channels and consumers, for the management API.
    pub registry: Arc<crate::registry::Registry>,
}

impl Broker {
    /// A broker with RabbitMQ's defaults: vhost `/` and user `guest`/`guest`, who may
    /// connect from loopback only.
    pub fn new() -> BrokerRef {
        Broker::with_storage(None)
    }

    /// A broker whose durable objects and persistent messages live in `storage`. Call
    /// `recover` next, before serving clients.
    pub fn with_storage(storage: Option<StorageRef>) -> BrokerRef {
        let broker = Broker {
            vhosts: RwLock::new(HashMap::new()),
            users: RwLock::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
            next_channel: AtomicU64::new(1),
            reply_to: ReplyRegistry::default(),
            storage,
            disk_alarm: AtomicBool::new(false),
            registry: Arc::default(),
        };
        broker.add_vhost("/");
        broker.add_user("guest", "guest", vec!["administrator".into()], true);
        let broker = Arc::new(broker);
        if let Some(storage) = &broker.storage {
            let weak = Arc::downgrade(&broker);
            storage.set_snapshot_source(Box::new(move || {
                weak.upgrade()
                    .map_or_else(Vec::new, |b| b.durable_records())
            }));
        }
        broker
    }

    pub fn storage(&self) -> Option<&StorageRef> {
        self.storage.as_ref()
    }

    pub fn add_vhost(&self, name: &str) -> VHostRef {
        self.vhosts
            .write()
            .entry(Name::from(name))
            .or_insert_with(|| VHost::new(name, self.storage.clone()))
            .clone()
    }

    /// Rebuilds the durable topology from the metadata log's records (in order) and
    /// hands each durable queue its recovered messages. Returns what it did.
    pub fn recover(&self, records: &[bytes::Bytes]) -> Recovery {
        let mut recovery = Recovery::default();
        for (index, bytes) in records.iter().enumerate() {
            match codec::decode(bytes) {
                Ok(MetaRecord::VHost { vhost, command }) => {
                    self.add_vhost(&vhost).apply(command);
                    recovery.commands += 1;
                }
                Err(e) => {
                    tracing::error!("metadata record {index} skipped: {e}");
                    recovery.skipped += 1;
                }
            }
        }
        if let Some(storage) = &self.storage {
            recovery.discarded_messages = storage.discard_unclaimed();
        }
        for vhost in self.vhosts.read().values() {
            vhost.start_delayed();
        }
        for vhost in self.vhosts.read().values() {
            for queue in vhost.queues() {
                if queue.store().is_some() {
                    recovery.queues += 1;
                }
            }
        }
        recovery
    }

    /// Every durable object of every vhost, as metadata records.
    fn durable_records(&self) -> Vec<MetaRecord> {
        let vhosts: Vec<VHostRef> = self.vhosts.read().values().cloned().collect();
        let mut records = Vec::new();
        for vhost in vhosts {
            for command in vhost.durable_commands() {
                records.push(MetaRecord::VHost {
                    vhost: vhost.name.clone(),
                    command,
                });
            }
        }
        records
    }

    pub fn vhost(&self, name: &str) -> Option<VHostRef> {
        self.vhosts.read().get(name).cloned()
    }

    /// Every vhost (for listings; in no particular order).
    pub fn vhosts(&self) -> Vec<VHostRef> {
        self.vhosts.read().values().cloned().collect()
    }

    pub fn add_user(&self, name: &str, password: &str, tags: Vec<String>, loopback_only: bool) {
        let user = User {
            name: Name::from(name),
            password: password.to_string(),
            tags,
            loopback_only,
        };
        self.users.write().insert(Name::from(name), user);
    }

    /// Checks a username and password; the user on success.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<User> {
        let users = self.users.read();
        let user = users.get(name)?;
        constant_time_eq(user.password.as_bytes(), password.as_bytes()).then(|| user.clone())
    }

    /// Whether the user may open the vhost. Every user may use every vhost until
    /// permissions exist.
    pub fn may_access(&self, _user: &User, _vhost: &VHost) -> bool {
        true
    }

    /// Registers a connection's outlet; returns its id. A connection registered while
    /// an alarm is on hears of it at once.
    pub fn register_connection(&self, outlet: Outlet) -> u64 {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let mut connections = self.connections.lock();
        if self.disk_alarm() {
            let _ = outlet.send(ConnEvent::Alarm(Some(DISK_ALARM_REASON.into())));
        }
        connections.insert(id, outlet);
        id
    }

    /// Whether the disk alarm is on: publishing connections are blocked.
    pub fn disk_alarm(&self) -> bool {
        self.disk_alarm.load(Ordering::Acquire)
    }

    /// Raises or clears the disk alarm, telling every connection when it changes.
    pub fn set_disk_alarm(&self, on: bool) {
        let connections = self.connections.lock();
        if self.disk_alarm.swap(on, Ordering::AcqRel) == on {
            return;
        }
        if on {
            tracing::warn!("disk alarm: free disk space is low; publishers are blocked");
        } else {
            tracing::info!("disk alarm cleared; publishers may go on");
        }
        for outlet in connections.values() {
            let _ = outlet.send(ConnEvent::Alarm(on.then(|| DISK_ALARM_REASON.into())));
        }
    }

    pub fn unregister_connection(&self, id: u64) {
        self.connections.lock().remove(&id);
    }

    pub fn connection_count(&self) -> usize {
        self.connections.lock().len()
    }

    /// A broker-wide unique id for a channel (its `ChannelKey`).
    pub fn next_channel_id(&self) -> u64 {
        self.next_channel.fetch_add(1, Ordering::Relaxed)
    }

    /// Asks one connection to close with `code` and `text` (the management API's
    /// DELETE); false when there is no such connection.
    pub fn close_connection(&self, id: u64, code: u16, text: &str) -> bool {
        match self.connections.lock().get(&id) {
            Some(outlet) => outlet
                .send(ConnEvent::Close {
                    code,
                    text: text.to_string(),
                })
                .is_ok(),
            None => false,
        }
    }

    /// Asks every connection to close with `code` and `text` (e.g. 320 on shutdown).
    pub fn close_all_connections(&self, code: u16, text: &str) {
        for outlet in self.connections.lock().values() {
            let _ = outlet.send(ConnEvent::Close {
                code,
                text: text.to_string(),
            });
        }
    }
}

/// The `connection.blocked` reason RabbitMQ gives for its disk alarm.
pub const DISK_ALARM_REASON: &str = "low on disk";

/// What `Broker::recover` rebuilt.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recovery {
    /// Metadata commands replayed.
    pub commands: usize,
    /// Metadata records that could not be decoded.
    pub skipped: usize,
    /// Durable queues now running.
    pub queues: usize,
    /// Messages whose queue no longer exists, dropped.
    pub discarded_messages: usize,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
