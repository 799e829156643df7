//! Delivery records: for queues that opt in (`x-delivery-records`, or the policy
//! key `delivery-records`), what happened to each message: when and by whom it was
//! published, each delivery, and its outcome. See `docs/delivery-records.md`.
//!
//! Queues hand their events to the `Recorder` once per turn; a writer thread of its
//! own appends them to the vhost's log and syncs once per batch, so a recording
//! queue never waits for the disk and a queue that does not record pays nothing.

mod event;
mod log;

pub use event::{Event, EventKind, Party};

use crate::registry::Registry;
use log::VhostLog;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How much a vhost's records may hold before the oldest go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of records per vhost.
    pub max_bytes: u64,
    /// Records older than this (ms) go, a segment at a time.
    pub max_age_ms: u64,
}

pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;
pub const DEFAULT_MAX_AGE_MS: u64 = 7 * 24 * 3600 * 1000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_age_ms: DEFAULT_MAX_AGE_MS,
        }
    }
}

/// How long a query waits for the records sent before it to be written.
const QUERY_WAIT: Duration = Duration::from_secs(2);
/// How often an idle writer drops records that have aged out.
const AGE_CHECK: Duration = Duration::from_secs(60);
/// Records sent to the writer and not yet written, past which new ones are dropped
/// (and counted in the log) rather than held in memory without bound.
const MAX_PENDING: usize = 1 << 20;
/// Records waiting for the writer above which publishers to recording queues pause
/// (AMQP channels; see `Recorder::backlog`), and below which they resume: far under
/// `MAX_PENDING`, so records are dropped only when something other than a paused
/// publisher keeps producing them.
pub const PUBLISH_HIGH_WATER: usize = 1 << 17;
pub const PUBLISH_LOW_WATER: usize = 1 << 15;

enum Cmd {
    Events(crate::names::Name, Vec<Event>),
    /// Answered once everything sent before it is in the log.
    Barrier(mpsc::SyncSender<()>),
}

struct Logs {
    /// `None`: records live in memory.
    dir: Option<PathBuf>,
    limits: Limits,
    vhosts: HashMap<String, VhostLog>,
}

impl Logs {
    fn log(&mut self, vhost: &str) -> std::io::Result<&mut VhostLog> {
        if !self.vhosts.contains_key(vhost) {
            let log = match &self.dir {
                Some(dir) => VhostLog::open(dir.join(dir_name(vhost)))?,
                None => VhostLog::in_memory(),
            };
            self.vhosts.insert(vhost.to_string(), log);
        }
        Ok(self.vhosts.get_mut(vhost).expect("inserted"))
    }
}

/// A vhost's directory: its name in hex, so any name is a valid file name.
fn dir_name(vhost: &str) -> String {
    vhost.bytes().map(|b| format!("{b:02x}")).collect()
}

fn vhost_from_dir(name: &str) -> Option<String> {
    if !name.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..name.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(name.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The broker's delivery records.
pub struct Recorder {
    registry: Arc<Registry>,
    logs: Arc<Mutex<Logs>>,
    /// The writer's mailbox; the writer starts with the first record.
    writer: OnceLock<mpsc::Sender<Cmd>>,
    /// After `close`: records are dropped.
    closed: AtomicBool,
    /// Records waiting for the writer, and those dropped because too many were.
    backlog: Arc<Backlog>,
}

#[derive(Default)]
struct Backlog {
    pending: AtomicUsize,
    dropped: AtomicU64,
}

pub type RecorderRef = Arc<Recorder>;

impl Recorder {
    /// Records in memory with the default limits, until `open_dir`.
    pub fn new(registry: Arc<Registry>) -> RecorderRef {
        Arc::new(Recorder {
            registry,
            logs: Arc::new(Mutex::new(Logs {
                dir: None,
                limits: Limits::default(),
                vhosts: HashMap::new(),
            })),
            writer: OnceLock::new(),
            closed: AtomicBool::new(false),
            backlog: Arc::default(),
        })
    }

    /// Keeps records under `dir` (one directory per vhost) from now on, reading
    /// what an earlier run left there and dropping what is past `limits`. Called at
    /// start-up, before any queue records.
    pub fn open_dir(&self, dir: PathBuf, limits: Limits) -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let mut vhosts = HashMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let Some(vhost) = entry.file_name().to_str().and_then(vhost_from_dir) else {
                continue;
            };
            let mut log = VhostLog::open(entry.path())?;
            log.enforce(&limits, now_ms());
            vhosts.insert(vhost, log);
        }
        *self.logs.lock() = Logs {
            dir: Some(dir),
            limits,
            vhosts,
        };
        Ok(())
    }

    /// Changes the limits of a broker that keeps its records in memory.
    pub fn set_limits(&self, limits: Limits) {
        self.logs.lock().limits = limits;
    }

    /// Who is on connection `id`, channel `channel`, for a record.
    pub fn party(&self, connection: u64, channel: u16) -> Party {
        match self.registry.connection(connection) {
            Some(c) => Party {
                user: Arc::from(&*c.info.user),
                peer: Arc::from(c.info.peer.to_string()),
                connection: Arc::from(c.info.name.as_str()),
                channel,
            },
            None => Party {
                channel,
                ..Party::default()
            },
        }
    }

    /// Records sent to the writer and not yet written. Publishers to recording
    /// queues pause above `PUBLISH_HIGH_WATER` (so the log keeps every record while
    /// the disk keeps up with anything), and resume below `PUBLISH_LOW_WATER`.
    pub fn backlog(&self) -> usize {
        self.backlog.pending.load(Ordering::Relaxed)
    }

    /// Queues `events` of `vhost` for the log.
    pub fn record(&self, vhost: crate::names::Name, events: Vec<Event>) {
        if events.is_empty() || self.closed.load(Ordering::Relaxed) {
            return;
        }
        let n = events.len();
        if self.backlog.pending.fetch_add(n, Ordering::Relaxed) > MAX_PENDING {
            // The disk is not keeping up: losing records beats running out of memory.
            self.backlog.pending.fetch_sub(n, Ordering::Relaxed);
            self.backlog.dropped.fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        let _ = self.writer().send(Cmd::Events(vhost, events));
    }

    fn writer(&self) -> &mpsc::Sender<Cmd> {
        self.writer.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let logs = self.logs.clone();
            let backlog = self.backlog.clone();
            std::thread::Builder::new()
                .name("delivery-records".into())
                .spawn(move || write_loop(rx, logs, backlog))
                .expect("spawn the delivery records writer");
            tx
        })
    }

    /// The broker is stopping: what was recorded so far is written and synced, and
    /// nothing recorded after is (the next run may already own the directory).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.caught_up();
    }

    /// Waits until what was recorded before this call is in the log.
    fn caught_up(&self) {
        let Some(writer) = self.writer.get() else {
            return;
        };
        let (tx, rx) = mpsc::sync_channel(1);
        if writer.send(Cmd::Barrier(tx)).is_ok() {
            let _ = rx.recv_timeout(QUERY_WAIT);
        }
    }

    /// Every record of message `key` in `vhost` (in `queue` only, when given), in
    /// time order, with each delivery's count.
    pub fn find(&self, vhost: &str, key: &str, queue: Option<&str>) -> Vec<Event> {
        self.caught_up();
        let mut events = match self.logs.lock().vhosts.get(vhost) {
            Some(log) => log.find(key),
            None => return Vec::new(),
        };
        // Stable: records of the same millisecond keep their log order.
        events.sort_by_key(|e| e.at);
        let mut counts: HashMap<Arc<str>, u32> = HashMap::new();
        for e in &mut events {
            if let EventKind::Delivered { delivery_count, .. } = &mut e.kind {
                let n = counts.entry(e.queue.clone()).or_default();
                *n += 1;
                *delivery_count = *n;
            }
        }
        if let Some(queue) = queue {
            events.retain(|e| &*e.queue == queue);
        }
        events
    }

    /// The newest `limit` records of `vhost` (of `queue` only, when given), oldest
    /// first. Deliveries carry no count here (0): that needs the message's history.
    pub fn recent(&self, vhost: &str, queue: Option<&str>, limit: usize) -> Vec<Event> {
        self.caught_up();
        match self.logs.lock().vhosts.get(vhost) {
            Some(log) => log.recent(limit, |e| queue.is_none_or(|q| &*e.queue == q)),
            None => Vec::new(),
        }
    }
}

fn write_loop(rx: mpsc::Receiver<Cmd>, logs: Arc<Mutex<Logs>>, backlog: Arc<Backlog>) {
    let mut batch = Vec::new();
    let mut failing = false;
    loop {
        match rx.recv_timeout(AGE_CHECK) {
            Ok(cmd) => batch.push(cmd),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let mut logs = logs.lock();
                let limits = logs.limits;
                for log in logs.vhosts.values_mut() {
                    log.enforce(&limits, now_ms());
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // Everything already waiting goes into this batch: one sync for all of it.
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        let mut barriers = Vec::new();
        let mut to_sync = Vec::new();
        let mut written = 0;
        {
            let mut logs = logs.lock();
            let limits = logs.limits;
            let mut touched = Vec::new();
            for cmd in batch.drain(..) {
                if let Cmd::Events(_, events) = &cmd {
                    written += events.len();
                }
                match cmd {
                    Cmd::Barrier(b) => barriers.push(b),
                    Cmd::Events(vhost, events) => match logs.log(&vhost) {
                        Ok(log) => {
                            let result = log.append(&events, &limits);
                            if let Err(e) = result {
                                if !failing {
                                    tracing::error!("delivery records of vhost '{vhost}': {e}");
                                }
                                failing = true;
                            } else {
                                failing = false;
                            }
                            if !touched.contains(&vhost) {
                                touched.push(vhost);
                            }
                        }
                        Err(e) => {
                            if !failing {
                                tracing::error!("delivery records of vhost '{vhost}': {e}");
                            }
                            failing = true;
                        }
                    },
                }
            }
            let now = now_ms();
            for vhost in touched {
                if let Some(log) = logs.vhosts.get_mut(&*vhost) {
                    log.enforce(&limits, now);
                    to_sync.extend(log.take_unsynced());
                }
            }
        }
        backlog.pending.fetch_sub(written, Ordering::Relaxed);
        let dropped = backlog.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!("delivery records: {dropped} records dropped, the disk did not keep up");
        }
        for file in to_sync {
            if let Err(e) = file.sync_data() {
                tracing::error!("delivery records: sync failed: {e}");
            }
        }
        for b in barriers {
            let _ = b.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vhost_names_make_directory_names_and_back() {
        for name in ["/", "prod", "a b/ü"] {
            assert_eq!(vhost_from_dir(&dir_name(name)).as_deref(), Some(name));
        }
        assert_eq!(vhost_from_dir("zz"), None);
    }
}
