//! Who is connected: connections, their channels and the channels' consumers, as the
//! protocol adapters register them, for the management API's `connections`,
//! `channels` and `consumers`. Off the message path: entries change on open, close,
//! qos, consume and cancel; byte counters are relaxed atomic adds per socket call.
//!
//! Registrations are guards: dropping a `ConnectionRegistration` or a
//! `ChannelRegistration` removes the entry, so an adapter cannot leak one on an
//! early return.

use crate::metrics::{ChannelCounters, ChannelCounts, Lifecycle, LifecycleCounts};
use crate::names::Name;
use crate::queue::QueueRef;
use amqp_codec::FieldTable;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// What a connection was opened with.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// RabbitMQ's connection name: `"127.0.0.1:53412 -> 127.0.0.1:5672"`.
    pub name: String,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub user: Name,
    pub vhost: Name,
    /// The client's properties (`connection.start-ok`), kept encoded as they came:
    /// a decoded table is a few KB per connection, and only listings read it.
    pub client_properties_encoded: bytes::Bytes,
    /// Milliseconds since the Unix epoch.
    pub connected_at: u64,
    /// `"AMQP 0-9-1"`.
    pub protocol: &'static str,
    pub auth_mechanism: String,
    pub frame_max: u32,
    pub channel_max: u16,
    /// Negotiated heartbeat interval, seconds (0: none).
    pub heartbeat: u16,
}

impl ConnectionInfo {
    /// The client's properties, decoded.
    pub fn client_properties(&self) -> FieldTable {
        amqp_codec::decode_table_bytes(&self.client_properties_encoded).unwrap_or_default()
    }

    /// Encodes `properties` for `client_properties_encoded`.
    pub fn encode_client_properties(properties: &FieldTable) -> bytes::Bytes {
        let mut buf = bytes::BytesMut::new();
        amqp_codec::encode_table(&mut buf, properties);
        buf.freeze()
    }

    /// The name RabbitMQ gives a connection from `peer` to `local`.
    pub fn name_for(peer: SocketAddr, local: SocketAddr) -> String {
        fn show(a: SocketAddr) -> String {
            match a {
                SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
                SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                    Some(v4) => format!("{v4}:{}", v6.port()),
                    None => format!("{}:{}", v6.ip(), v6.port()),
                },
            }
        }
        format!("{} -> {}", show(peer), show(local))
    }
}

/// A consumer as listings show it.
#[derive(Clone, Debug)]
pub struct ConsumerInfo {
    pub tag: Name,
    pub queue: QueueRef,
    pub no_ack: bool,
    pub exclusive: bool,
    pub prefetch_count: u32,
    pub arguments: FieldTable,
}

#[derive(Clone, Debug, Default)]
pub struct ChannelState {
    pub prefetch_count: u32,
    pub global_prefetch_count: u32,
    pub confirm: bool,
    pub transactional: bool,
    pub consumers: BTreeMap<Name, ConsumerInfo>,
}

pub struct ChannelEntry {
    pub number: u16,
    state: Mutex<ChannelState>,
    unacked: AtomicU32,
    /// What the channel published and had delivered (the Prometheus exporter's).
    pub counters: ChannelCounters,
}

impl ChannelEntry {
    pub fn state(&self) -> ChannelState {
        self.state.lock().clone()
    }
    /// Deliveries the channel holds unacknowledged (refreshed by the adapter).
    pub fn unacked(&self) -> u32 {
        self.unacked.load(Ordering::Relaxed)
    }
}

pub struct ConnectionEntry {
    pub id: u64,
    pub info: ConnectionInfo,
    channels: Mutex<BTreeMap<u16, Arc<ChannelEntry>>>,
    recv_oct: AtomicU64,
    send_oct: AtomicU64,
    recv_cnt: AtomicU64,
    send_cnt: AtomicU64,
}

/// A connection's traffic counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Traffic {
    pub recv_oct: u64,
    pub send_oct: u64,
    pub recv_cnt: u64,
    pub send_cnt: u64,
}

impl ConnectionEntry {
    pub fn channels(&self) -> Vec<Arc<ChannelEntry>> {
        self.channels.lock().values().cloned().collect()
    }
    pub fn traffic(&self) -> Traffic {
        Traffic {
            recv_oct: self.recv_oct.load(Ordering::Relaxed),
            send_oct: self.send_oct.load(Ordering::Relaxed),
            recv_cnt: self.recv_cnt.load(Ordering::Relaxed),
            send_cnt: self.send_cnt.load(Ordering::Relaxed),
        }
    }
}

/// Every live connection, by the id `Broker::register_connection` gave it.
#[derive(Default)]
pub struct Registry {
    connections: RwLock<BTreeMap<u64, Arc<ConnectionEntry>>>,
    /// The counters of every channel that has closed, summed. Its lock is held
    /// while a closing channel moves its counts here and while a scrape sums the
    /// live channels, so a sum counts each channel exactly once.
    retired: Mutex<ChannelCounts>,
    /// Connections and channels opened and closed.
    pub(crate) lifecycle: Lifecycle,
}

impl Registry {
    /// Registers connection `id`; the entry goes when the guard is dropped.
    pub fn register(self: &Arc<Self>, id: u64, info: ConnectionInfo) -> ConnectionRegistration {
        let entry = Arc::new(ConnectionEntry {
            id,
            info,
            channels: Mutex::new(BTreeMap::new()),
            recv_oct: AtomicU64::new(0),
            send_oct: AtomicU64::new(0),
            recv_cnt: AtomicU64::new(0),
            send_cnt: AtomicU64::new(0),
        });
        self.connections.write().insert(id, entry.clone());
        ConnectionRegistration {
            registry: self.clone(),
            entry,
        }
    }

    pub fn connections(&self) -> Vec<Arc<ConnectionEntry>> {
        self.connections.read().values().cloned().collect()
    }

    pub fn connection(&self, id: u64) -> Option<Arc<ConnectionEntry>> {
        self.connections.read().get(&id).cloned()
    }

    /// The broker-wide channel counters: those of the channels that have closed
    /// plus the live ones', each live channel also shown to `each` with its
    /// connection. Closing channels wait while this runs.
    pub fn channel_counts(
        &self,
        mut each: impl FnMut(&ConnectionEntry, &ChannelEntry, &ChannelCounts),
    ) -> ChannelCounts {
        let retired = self.retired.lock();
        let mut total = *retired;
        for connection in self.connections() {
            for channel in connection.channels.lock().values() {
                let counts = channel.counters.snapshot();
                each(&connection, channel, &counts);
                total.add(&counts);
            }
        }
        total
    }

    /// Connections and channels opened and closed since the start.
    pub fn lifecycle(&self) -> LifecycleCounts {
        self.lifecycle.snapshot()
    }

    /// The connection of that RabbitMQ-style name.
    pub fn connection_named(&self, name: &str) -> Option<Arc<ConnectionEntry>> {
        self.connections
            .read()
            .values()
            .find(|c| c.info.name == name)
            .cloned()
    }
}

/// A registered connection; dropping it unregisters the connection.
pub struct ConnectionRegistration {
    registry: Arc<Registry>,
    entry: Arc<ConnectionEntry>,
}

impl ConnectionRegistration {
    pub fn entry(&self) -> &Arc<ConnectionEntry> {
        &self.entry
    }

    /// Registers an open channel; it goes when the guard is dropped.
    pub fn open_channel(&self, number: u16) -> ChannelRegistration {
        let channel = Arc::new(ChannelEntry {
            number,
            state: Mutex::new(ChannelState::default()),
            unacked: AtomicU32::new(0),
            counters: ChannelCounters::default(),
        });
        self.entry.channels.lock().insert(number, channel.clone());
        self.registry.lifecycle.channel_opened();
        ChannelRegistration {
            registry: self.registry.clone(),
            connection: self.entry.clone(),
            channel,
        }
    }

    /// Bytes read from the socket (one call of `read`).
    pub fn received(&self, bytes: usize) {
        self.entry
            .recv_oct
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.entry.recv_cnt.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes written to the socket (one call of `write`).
    pub fn sent(&self, bytes: usize) {
        self.entry
            .send_oct
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.entry.send_cnt.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for ConnectionRegistration {
    fn drop(&mut self) {
        let mut connections = self.registry.connections.write();
        if connections
            .get(&self.entry.id)
            .is_some_and(|e| Arc::ptr_eq(e, &self.entry))
        {
            connections.remove(&self.entry.id);
        }
    }
}

/// A registered channel; dropping it unregisters the channel.
pub struct ChannelRegistration {
    registry: Arc<Registry>,
    connection: Arc<ConnectionEntry>,
    channel: Arc<ChannelEntry>,
}

impl ChannelRegistration {
    /// The channel's counters, to add to.
    pub fn counters(&self) -> &ChannelCounters {
        &self.channel.counters
    }

    pub fn update(&self, change: impl FnOnce(&mut ChannelState)) {
        change(&mut self.channel.state.lock());
    }

    pub fn consumer_added(&self, consumer: ConsumerInfo) {
        self.update(|s| {
            s.consumers.insert(consumer.tag.clone(), consumer);
        });
    }

    pub fn consumer_removed(&self, tag: &str) {
        self.update(|s| {
            s.consumers.remove(tag);
        });
    }

    pub fn set_unacked(&self, n: usize) {
        self.channel.unacked.store(n as u32, Ordering::Relaxed);
    }
}

impl Drop for ChannelRegistration {
    fn drop(&mut self) {
        // The retired lock first (as `channel_counts` takes it): the counts leave
        // the live channels and join the retired ones in one step.
        let mut retired = self.registry.retired.lock();
        let mut channels = self.connection.channels.lock();
        if channels
            .get(&self.channel.number)
            .is_some_and(|c| Arc::ptr_eq(c, &self.channel))
        {
            channels.remove(&self.channel.number);
        }
        retired.add(&self.channel.counters.snapshot());
        self.registry.lifecycle.channel_closed();
    }
}
