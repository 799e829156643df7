//! The broker: vhosts, users, and the registry of live connections. Managing users,
//! vhosts and permissions is in `crate::access::admin`.

use crate::access::{
    Access, AccessState, BrokerCommand, HashingAlgorithm, PasswordHash, Permission, TopicGrants,
    User, VHostSettings,
};
use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::journal::codec::{self, MetaRecord};
use crate::names::Name;
use crate::outlet::{ConnEvent, Outlet};
use crate::reply_to::ReplyRegistry;
use crate::storage::StorageRef;
use crate::vhost::{VHost, VHostRef};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub type BrokerRef = Arc<Broker>;

/// What a broker creates on a new data directory, and who may connect from
/// loopback only (RabbitMQ's `default_user`, `default_pass`, `default_vhost` and
/// `loopback_users`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defaults {
    pub user: String,
    pub password: String,
    pub vhost: String,
    pub loopback_users: Vec<String>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            user: "guest".into(),
            password: "guest".into(),
            vhost: "/".into(),
            loopback_users: vec!["guest".into()],
        }
    }
}

/// A vhost and what the management API keeps about it.
pub(crate) struct VHostEntry {
    pub vhost: VHostRef,
    pub settings: VHostSettings,
}

/// A live connection as the broker knows it: where to send it events, and whose it
/// is (so deleting a user or a vhost can close it).
#[derive(Clone, Debug)]
pub struct ConnectionEntry {
    pub outlet: Outlet,
    pub user: Name,
    pub vhost: Name,
}

pub struct Broker {
    pub(crate) vhosts: RwLock<HashMap<Name, VHostEntry>>,
    pub(crate) access: RwLock<AccessState>,
    connections: Mutex<HashMap<u64, ConnectionEntry>>,
    next_connection: AtomicU64,
    next_channel: AtomicU64,
    pub reply_to: ReplyRegistry,
    /// MQTT retained messages (`crate::retained`).
    pub(crate) retained: crate::retained::RetainedStore,
    pub(crate) storage: Option<StorageRef>,
    /// The memory and disk alarms.
    alarms: crate::alarms::Alarms,
    /// Live connections, channels and consumers, for the management API.
    pub registry: Arc<crate::registry::Registry>,
    /// Delivery records of the queues that keep them.
    pub records: crate::records::RecorderRef,
    defaults: RwLock<Defaults>,
}

impl Broker {
    /// A broker in memory with RabbitMQ's defaults: vhost `/` and user `guest`/`guest`
    /// (tag administrator, all permissions on `/`), who may connect from loopback only.
    pub fn new() -> BrokerRef {
        let broker = Broker::with_storage(None);
        broker.create_defaults();
        broker
    }

    /// A broker whose users, vhosts, durable objects and persistent messages live in
    /// `storage`. It starts empty: call `recover` next, before serving clients (it
    /// creates the defaults on a new data directory).
    pub fn with_storage(storage: Option<StorageRef>) -> BrokerRef {
        let registry: Arc<crate::registry::Registry> = Arc::default();
        let broker = Broker {
            records: crate::records::Recorder::new(registry.clone()),
            vhosts: RwLock::new(HashMap::new()),
            access: RwLock::new(AccessState::default()),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
            next_channel: AtomicU64::new(1),
            reply_to: ReplyRegistry::default(),
            retained: Default::default(),
            storage,
            alarms: crate::alarms::Alarms::default(),
            registry,
            defaults: RwLock::new(Defaults::default()),
        };
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

    /// Sets what a new data directory starts with and who is loopback-only; call it
    /// before `recover`.
    pub fn set_defaults(&self, defaults: Defaults) {
        *self.defaults.write() = defaults;
    }

    /// The commands that create the defaults (RabbitMQ's: vhost `/`, `guest` with
    /// every permission on it, unless configured otherwise).
    fn default_commands(&self) -> Vec<BrokerCommand> {
        let d = self.defaults.read().clone();
        vec![
            BrokerCommand::AddVHost {
                name: Name::from(d.vhost.as_str()),
                settings: VHostSettings {
                    description: "Default virtual host".into(),
                    ..VHostSettings::default()
                },
            },
            BrokerCommand::AddUser {
                name: Name::from(d.user.as_str()),
                password: PasswordHash::new(HashingAlgorithm::Sha256, &d.password),
                tags: vec!["administrator".into()],
            },
            BrokerCommand::SetPermissions {
                user: Name::from(d.user.as_str()),
                vhost: Name::from(d.vhost.as_str()),
                permission: Arc::new(Permission::all()),
            },
        ]
    }

    /// Creates the defaults and returns them as records, marker last.
    fn create_defaults(&self) -> Vec<MetaRecord> {
        let mut records = Vec::new();
        for command in self.default_commands() {
            records.push(MetaRecord::Broker(command.clone()));
            self.apply_broker(command);
        }
        records.push(MetaRecord::DefaultsCreated);
        records
    }

    /// Rebuilds users, vhosts, permissions and the durable topology from the metadata
    /// log's records (in order) and hands each durable queue its recovered messages.
    /// A log that never recorded the defaults (a new data directory, or one written
    /// before users were recorded) gets them now, written to the log. Returns what it
    /// did.
    pub fn recover(&self, records: &[bytes::Bytes]) -> Recovery {
        let mut recovery = Recovery::default();
        let mut defaults_created = false;
        for (index, bytes) in records.iter().enumerate() {
            match codec::decode(bytes) {
                Ok(MetaRecord::VHost { vhost, command }) => {
                    match self.vhost(&vhost) {
                        Some(v) => v.apply(command),
                        // Before users and vhosts were recorded, a vhost existed by
                        // having topology.
                        None if !defaults_created => self.ensure_vhost(&vhost).apply(command),
                        // Recorded after its vhost was deleted (an auto-delete racing
                        // the deletion): nothing to apply it to.
                        None => continue,
                    }
                    recovery.commands += 1;
                }
                Ok(MetaRecord::Broker(command)) => {
                    self.apply_broker(command);
                    recovery.commands += 1;
                }
                Ok(MetaRecord::DefaultsCreated) => defaults_created = true,
                Ok(MetaRecord::Retained {
                    vhost,
                    topic,
                    message,
                }) => {
                    self.retained.apply(vhost, topic, message);
                    recovery.commands += 1;
                }
                Err(e) => {
                    tracing::error!("metadata record {index} skipped: {e}");
                    recovery.skipped += 1;
                }
            }
        }
        if !defaults_created {
            let records = self.create_defaults();
            recovery.created_defaults = true;
            if let Some(storage) = &self.storage {
                for record in records {
                    if let Err(e) = storage.store().append_meta(&codec::encode(&record)) {
                        tracing::error!("metadata log: the defaults were not recorded: {e}");
                    }
                }
            }
        }
        if let Some(storage) = &self.storage {
            recovery.discarded_messages = storage.discard_unclaimed();
        }
        for vhost in self.vhost_refs() {
            vhost.start_delayed();
        }
        for vhost in self.vhost_refs() {
            for queue in vhost.queues() {
                if queue.store().is_some() {
                    recovery.queues += 1;
                }
            }
        }
        recovery
    }

    /// Every vhost.
    pub(crate) fn vhost_refs(&self) -> Vec<VHostRef> {
        self.vhosts
            .read()
            .values()
            .map(|e| e.vhost.clone())
            .collect()
    }

    /// Everything that must survive a restart, as metadata records: the defaults
    /// marker, vhosts, users, permissions, then every vhost's durable topology.
    fn durable_records(&self) -> Vec<MetaRecord> {
        let mut records = vec![MetaRecord::DefaultsCreated];
        records.extend(self.access_records().into_iter().map(MetaRecord::Broker));
        for vhost in self.vhost_refs() {
            for command in vhost.durable_commands() {
                records.push(MetaRecord::VHost {
                    vhost: vhost.name.clone(),
                    command,
                });
            }
        }
        records.extend(self.retained.records());
        records
    }

    /// The vhost of that name; none while it is being deleted.
    pub fn vhost(&self, name: &str) -> Option<VHostRef> {
        self.vhosts
            .read()
            .get(name)
            .map(|e| e.vhost.clone())
            .filter(|v| !v.is_deleted())
    }

    /// Every live vhost itself (for the management API's listings; in no
    /// particular order).
    pub fn live_vhosts(&self) -> Vec<VHostRef> {
        self.vhosts
            .read()
            .values()
            .map(|e| e.vhost.clone())
            .filter(|v| !v.is_deleted())
            .collect()
    }

    /// The vhost of that name, created (without settings) if missing.
    pub(crate) fn ensure_vhost(&self, name: &str) -> VHostRef {
        self.vhosts
            .write()
            .entry(Name::from(name))
            .or_insert_with(|| VHostEntry {
                vhost: VHost::with_records(name, self.storage.clone(), self.records.clone()),
                settings: VHostSettings::default(),
            })
            .vhost
            .clone()
    }

    /// Checks a username and password; the user on success. A user without a
    /// password hash never logs in with a password, and a blank password is refused
    /// whatever the hash (RabbitMQ's internal backend does the same).
    pub fn authenticate(&self, name: &str, password: &str) -> Option<User> {
        if password.is_empty() {
            return None;
        }
        let access = self.access.read();
        let user = access.users.get(name)?;
        user.password.verify(password).then(|| User {
            name: user.name.clone(),
            tags: user.tags.clone(),
            loopback_only: self
                .defaults
                .read()
                .loopback_users
                .iter()
                .any(|u| u == name),
        })
    }

    /// The user named by an already verified identity (a client certificate's CN,
    /// for the EXTERNAL mechanism): no password is checked. None if no such user.
    pub fn authenticate_external(&self, name: &str) -> Option<User> {
        let access = self.access.read();
        let user = access.users.get(name)?;
        Some(User {
            name: user.name.clone(),
            tags: user.tags.clone(),
            loopback_only: self
                .defaults
                .read()
                .loopback_users
                .iter()
                .any(|u| u == name),
        })
    }

    /// The user's rights in the vhost, resolved once for a connection; 530
    /// NOT_ALLOWED when the user has no permissions there (RabbitMQ's text).
    pub fn access(&self, user: &str, vhost: &str) -> CoreResult<Access> {
        let access = self.access.read();
        let key = (Name::from(user), Name::from(vhost));
        // The names the table keeps are the ones the connection keeps, so that it
        // does not hold two allocations of its own for them.
        match access.permissions.get_key_value(&key) {
            Some(((user_name, vhost_name), permission)) => Ok(Access::new(
                user_name.clone(),
                vhost_name.clone(),
                permission.clone(),
                TopicGrants::compile(user, vhost, access.topic_permissions.get(&key)),
            )),
            None => Err(CoreError::new(
                ErrorKind::NotAllowed,
                format!("access to vhost '{vhost}' refused for user '{user}'"),
            )),
        }
    }

    /// Registers a connection; returns its id. A connection registered while an
    /// alarm is on hears of it at once.
    pub fn register_connection(&self, entry: ConnectionEntry) -> u64 {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let mut connections = self.connections.lock();
        if let Some(reason) = self.alarms.reason() {
            let _ = entry.outlet.send(ConnEvent::Alarm(Some(reason.into())));
        }
        connections.insert(id, entry);
        self.registry.lifecycle.connection_opened();
        id
    }

    /// Asks one connection to close with `code` and `text` (the whole reply text,
    /// e.g. `CONNECTION_FORCED - Closed via management plugin`). False when there is
    /// no such connection.
    pub fn close_connection(&self, id: u64, code: u16, text: &str) -> bool {
        match self.connections.lock().get(&id) {
            Some(entry) => {
                let _ = entry.outlet.send(ConnEvent::Close {
                    code,
                    text: text.to_string(),
                });
                true
            }
            None => false,
        }
    }

    /// Closes every connection `which` selects; returns how many.
    pub(crate) fn close_connections_where(
        &self,
        which: impl Fn(&ConnectionEntry) -> bool,
        code: u16,
        text: &str,
    ) -> usize {
        let connections = self.connections.lock();
        let mut closed = 0;
        for entry in connections.values().filter(|e| which(e)) {
            let _ = entry.outlet.send(ConnEvent::Close {
                code,
                text: text.to_string(),
            });
            closed += 1;
        }
        closed
    }

    /// The live connections, by id.
    pub fn connections(&self) -> Vec<(u64, ConnectionEntry)> {
        self.connections
            .lock()
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect()
    }

    pub(crate) fn alarms(&self) -> &crate::alarms::Alarms {
        &self.alarms
    }

    /// The connection registry, locked: alarm changes are made and sent while it
    /// is held, so a connection registering meanwhile misses none.
    pub(crate) fn connections_locked(
        &self,
    ) -> parking_lot::MutexGuard<'_, HashMap<u64, ConnectionEntry>> {
        self.connections.lock()
    }

    pub fn unregister_connection(&self, id: u64) {
        if self.connections.lock().remove(&id).is_some() {
            self.registry.lifecycle.connection_closed();
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.lock().len()
    }

    /// A broker-wide unique id for a channel (its `ChannelKey`).
    pub fn next_channel_id(&self) -> u64 {
        self.next_channel.fetch_add(1, Ordering::Relaxed)
    }

    /// Asks every connection to close with `code` and `text` (e.g. 320 on shutdown).
    pub fn close_all_connections(&self, code: u16, text: &str) {
        for entry in self.connections.lock().values() {
            let _ = entry.outlet.send(ConnEvent::Close {
                code,
                text: text.to_string(),
            });
        }
    }
}

pub use crate::alarms::DISK_ALARM_REASON;

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
    /// The log had no defaults yet: vhost `/`, guest and its permissions were created.
    pub created_defaults: bool,
}
