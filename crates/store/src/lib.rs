//! Warren's storage engine.
//!
//! One append-only message log shared by every durable queue (`msgs/NNNNNNNN.seg`),
//! written by one writer with group commit: a publisher's [`Ticket`] resolves only
//! once its records are on disk, and one fsync covers every append that arrived
//! meanwhile. A message going to several queues is one `Message` record plus one small
//! `Enqueue` per queue. Acks, deliveries and queue deletions are records too, so
//! [`Store::open`] gives back, per queue and in order, exactly the confirmed messages
//! not yet acknowledged, with their `redelivered` flag. Segments whose content is all
//! dead are deleted (live content is copied forward first when that pays), so disk use
//! follows the live backlog. Bodies stay on disk: the broker keeps a [`Location`] and
//! reads a body back with [`Store::read`] when a consumer needs it.
//!
//! Beside it, a metadata log with snapshots for the broker's topology commands, and a
//! directory lock. All I/O goes through [`Io`]; [`MemIo`] injects faults for tests.
//! The on-disk format and the recovery algorithm are in `docs/storage.md`.

mod error;
mod io;
mod io_mem;
mod lock;
mod meta;
mod reclaim;
mod record;
mod recovery;
mod segment;
mod sorted_chunks;
mod state;
mod writer;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

pub use error::{Result, StoreError};
pub use io::{Io, IoFile, StdIo};
pub use io_mem::{MemIo, MemStats, SimRng};
pub use meta::MetaReport;
pub use record::Record;
pub use sorted_chunks::{Keyed, SortedChunks};

/// Internals exposed for the fuzz targets and benches; not a stable API.
#[doc(hidden)]
pub mod raw {
    pub use crate::record::{decode_frame, encode_frame, Frame, FrameError, KIND_META};
    pub use crate::segment::{
        segment_name, FileHeader, HeaderError, Scanned, Scanner, FILE_HEADER, FORMAT_VERSION,
        SEGMENT_MAGIC,
    };
}

use meta::MetaLog;
use writer::{lock, read_lock, Inbox, Pending, Shared, Writer};

/// The file a clean close leaves in the data directory.
const CLEAN_NAME: &str = "CLEAN";

/// Where a record is: segment number, byte offset, length (framing included). 12
/// bytes, so the broker can keep one per message in RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    pub segment: u32,
    pub offset: u32,
    pub len: u32,
}

/// Tuning; the defaults are what the broker should use.
#[derive(Debug, Clone)]
pub struct Options {
    /// A segment is closed once the next batch would take it past this size.
    pub segment_size: u64,
    /// Tests: no writer thread; [`Store::step`] runs one group commit on the caller's
    /// thread, which makes a run with [`MemIo`] exactly replayable.
    pub manual_writer: bool,
    /// Bytes of messages reclaim copies forward per group commit.
    pub copy_chunk: usize,
    /// Recovery logs its progress every this many bytes.
    pub progress_every: u64,
    /// Appends that write messages fail (as with a full disk) while the file system
    /// has less than this free, so the space left is kept for acknowledgements and
    /// deletions, whose records let reclaim free space again. 0: no reserve.
    pub min_free_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: 64 << 20,
            manual_writer: false,
            copy_chunk: 4 << 20,
            progress_every: 256 << 20,
            min_free_bytes: 0,
        }
    }
}

/// A durable append: the location of each of its records, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub locations: Vec<Location>,
}

/// Resolves once the append is durable (or failed: then none of it is stored). Await
/// it, block on it with [`Ticket::wait`] (not from inside a tokio runtime), or poll it
/// with [`Ticket::try_take`].
#[derive(Debug)]
pub struct Ticket(oneshot::Receiver<Result<Appended>>);

impl Ticket {
    pub fn wait(self) -> Result<Appended> {
        self.0.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }

    /// `None` while the append is in flight.
    pub fn try_take(&mut self) -> Option<Result<Appended>> {
        match self.0.try_recv() {
            Ok(r) => Some(r),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(StoreError::Closed)),
        }
    }
}

impl Future for Ticket {
    type Output = Result<Appended>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(StoreError::Closed)))
    }
}

/// A live message of a queue, as recovery found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveredMessage {
    pub seq: u64,
    pub id: u64,
    pub location: Location,
    /// It had been delivered (and not acked): deliver it with `redelivered` set.
    pub delivered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    /// No good record from here to the end of the file: cut off.
    TornTail,
    /// Bad bytes with good records after them: skipped, the rest kept.
    Corrupt,
    /// An intact record of a kind this version does not know: skipped.
    BadRecord,
    /// A file whose header is not a segment's: left alone, not read.
    BadFile,
}

/// Something recovery found wrong, and what it did about it (also logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub path: PathBuf,
    pub offset: u64,
    pub bytes: u64,
    pub kind: DamageKind,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub segments: usize,
    /// Bytes of segments read.
    pub bytes: u64,
    pub records: u64,
    /// Live messages and live queue positions.
    pub messages: usize,
    pub positions: usize,
    /// Positions dropped because their message's record was damaged or missing.
    pub lost_positions: u64,
    pub damage: Vec<Damage>,
    pub elapsed: Duration,
}

/// What [`Store::open`] found.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// The last run closed the store cleanly. After a crash, the last `Delivered`
    /// records may be missing: a broker should then treat every recovered message as
    /// possibly delivered.
    pub clean_shutdown: bool,
    /// Per queue id, its live messages in seq order.
    pub queues: BTreeMap<u64, Vec<RecoveredMessage>>,
    /// The metadata records: the snapshot's, then the log's.
    pub meta: Vec<Bytes>,
    pub report: RecoveryReport,
    pub meta_report: MetaReport,
}

/// Counters and sizes, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub appends: u64,
    pub failed_appends: u64,
    /// Group commits that reached the disk, and the fsyncs they cost.
    pub batches: u64,
    pub syncs: u64,
    pub bytes_written: u64,
    /// Bytes reclaim re-appended, and segments it deleted.
    pub bytes_copied: u64,
    pub segments_deleted: u64,
    pub segments: u64,
    pub disk_bytes: u64,
    /// Live message record bytes plus live positions' `Enqueue` bytes.
    pub live_bytes: u64,
    pub live_messages: u64,
    pub live_positions: u64,
    /// RAM the store's index takes (hash map and deques, allocated capacity).
    pub index_bytes: u64,
}

/// The storage engine. Cheap to clone; the writer stops when the last clone is dropped,
/// after finishing what was appended before.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// The writer when `manual_writer` is set.
    manual: Option<Mutex<Writer>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    meta: Mutex<MetaLog>,
    dir_lock: Mutex<Option<lock::DirLock>>,
    dir: PathBuf,
}

impl Inner {
    /// Stops the writer once it has finished what was appended, then unlocks the
    /// directory. Appends made after this fail with `Closed`.
    fn close(&self) {
        lock(&self.shared.inbox).shutdown = true;
        self.shared.wake.notify_all();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
        let mut dir_lock = lock(&self.dir_lock);
        if dir_lock.is_some() {
            // Everything appended is written: the next open may trust the records.
            let io = &self.shared.io;
            let marked = io
                .create(&self.dir.join(CLEAN_NAME))
                .and_then(|f| f.sync_data())
                .and_then(|()| io.sync_dir(&self.dir));
            if let Err(e) = marked {
                tracing::warn!("could not mark the clean shutdown: {e}");
            }
        }
        dir_lock.take();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: locks it, reads the metadata,
    /// replays the message log, and starts a new head segment and the writer.
    pub fn open(
        dir: impl AsRef<Path>,
        io: Arc<dyn Io>,
        opts: Options,
    ) -> Result<(Store, Recovered)> {
        let dir = dir.as_ref().to_path_buf();
        let mut opts = opts;
        // Offsets are 32-bit: a segment plus one maximal append must stay below 4 GiB.
        opts.segment_size = opts.segment_size.min(1 << 31);
        io.create_dir_all(&dir)
            .map_err(|e| StoreError::io("mkdir", &dir, e))?;
        let dir_lock = lock::acquire(&*io, &dir)?;
        // Present only after a clean close; removed now, so a crash from here on is
        // seen as one at the next open.
        let clean_shutdown = io
            .list(&dir)
            .map_err(|e| StoreError::io("list", &dir, e))?
            .iter()
            .any(|n| n == CLEAN_NAME);
        if clean_shutdown {
            let path = dir.join(CLEAN_NAME);
            io.remove(&path)
                .map_err(|e| StoreError::io("remove", &path, e))?;
            io.sync_dir(&dir)
                .map_err(|e| StoreError::io("fsync", &dir, e))?;
        }
        let msgs_dir = dir.join("msgs");
        io.create_dir_all(&msgs_dir)
            .map_err(|e| StoreError::io("mkdir", &msgs_dir, e))?;
        io.sync_dir(&dir)
            .map_err(|e| StoreError::io("fsync", &dir, e))?;
        let (meta, meta_records, meta_report) = MetaLog::open(io.clone(), &dir)?;
        let replayed = recovery::recover(&*io, &msgs_dir, &opts)?;
        let shared = Arc::new(Shared {
            io,
            msgs_dir,
            opts: opts.clone(),
            inbox: Mutex::new(Inbox::default()),
            wake: Condvar::new(),
            state: Mutex::new(replayed.state),
            files: RwLock::new(replayed.files),
            next_id: AtomicU64::new(replayed.next_message_id),
            counters: Default::default(),
            backlog_bytes: AtomicU64::new(0),
        });
        let mut writer = Writer::start(&shared, replayed.last_segment)?;
        // What the last run left dead goes now, not at the first append.
        writer.reclaim(&shared);
        let (manual, thread) = if opts.manual_writer {
            (Some(Mutex::new(writer)), None)
        } else {
            let sh = shared.clone();
            let t = std::thread::Builder::new()
                .name("warren-store-writer".into())
                .spawn(move || writer::run(sh, writer))
                .map_err(|e| StoreError::io("spawn writer thread", &dir, e))?;
            (None, Some(t))
        };
        let store = Store {
            inner: Arc::new(Inner {
                shared,
                manual,
                thread: Mutex::new(thread),
                meta: Mutex::new(meta),
                dir_lock: Mutex::new(Some(dir_lock)),
                dir,
            }),
        };
        let recovered = Recovered {
            clean_shutdown,
            queues: replayed.queues,
            meta: meta_records,
            report: replayed.report,
            meta_report,
        };
        Ok((store, recovered))
    }

    /// [`Store::open`] on the real file system with default options.
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<(Store, Recovered)> {
        Store::open(dir, Arc::new(StdIo), Options::default())
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Finishes the appends already made, stops the writer and unlocks the directory,
    /// even while other clones are still around (a broker shutting down). Appends
    /// after this fail with [`StoreError::Closed`]; reads still work.
    pub fn close(&self) {
        self.inner.close();
    }

    /// A fresh message id: never handed out before, across restarts too.
    pub fn new_message_id(&self) -> u64 {
        self.inner.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues `records` for the next group commit. They are written together, in
    /// order, after every append made before this call returned. Rules: a `Message`
    /// id is new (from [`Store::new_message_id`]); an `Enqueue` names a message written
    /// in this append, an earlier one, or one still in some queue; a queue's seqs grow
    /// and are never reused; queue ids are never reused. An append breaking them fails
    /// with [`StoreError::Invalid`] and nothing of it is written.
    pub fn append(&self, records: Vec<Record>) -> Ticket {
        let (tx, rx) = oneshot::channel();
        let sh = &self.inner.shared;
        let mut inbox = lock(&sh.inbox);
        if inbox.shutdown {
            let _ = tx.send(Err(StoreError::Closed));
            return Ticket(rx);
        }
        sh.backlog_bytes
            .fetch_add(writer::pending_bytes(&records), Ordering::Relaxed);
        inbox.pending.push(Pending { records, tx });
        let first = inbox.pending.len() == 1;
        drop(inbox);
        if first {
            sh.wake.notify_one();
        }
        Ticket(rx)
    }

    /// Reads message `id`'s data back from `loc` (as returned by its append or by
    /// recovery). If reclaim has moved it since, it is read from its new place.
    pub fn read(&self, id: u64, loc: Location) -> Result<Bytes> {
        let sh = &self.inner.shared;
        let file = read_lock(&sh.files).get(&loc.segment).cloned();
        let first = file.map(|f| reclaim::read_message(&*f, loc.segment, loc.offset, loc.len, id));
        if let Some(Ok(data)) = first {
            return Ok(data);
        }
        let current = lock(&sh.state).msgs.get(id).map(|m| m.location());
        match (current, first) {
            (Some(cur), _) if cur != loc => {
                let file = read_lock(&sh.files).get(&cur.segment).cloned();
                let file = file.ok_or(StoreError::NotFound { id })?;
                reclaim::read_message(&*file, cur.segment, cur.offset, cur.len, id).map_err(
                    |reason| StoreError::Corrupt {
                        path: sh.segment_path(cur.segment),
                        offset: cur.offset as u64,
                        reason,
                    },
                )
            }
            (Some(_), Some(Err(reason))) => Err(StoreError::Corrupt {
                path: sh.segment_path(loc.segment),
                offset: loc.offset as u64,
                reason,
            }),
            _ => Err(StoreError::NotFound { id }),
        }
    }

    /// Reads message `id` back from wherever it is now.
    pub fn read_by_id(&self, id: u64) -> Result<Bytes> {
        let current = lock(&self.inner.shared.state)
            .msgs
            .get(id)
            .map(|m| m.location());
        match current {
            Some(loc) => self.read(id, loc),
            None => Err(StoreError::NotFound { id }),
        }
    }

    /// Whether message `id` is on disk (its append has been written, and some queue
    /// position still holds it).
    pub fn holds(&self, id: u64) -> bool {
        lock(&self.inner.shared.state).msgs.contains(id)
    }

    /// Appends one metadata command and syncs it (blocking: call it from a blocking
    /// context; metadata changes are rare).
    pub fn append_meta(&self, record: &[u8]) -> Result<()> {
        lock(&self.inner.meta).append(record)
    }

    /// Atomically replaces the metadata log and snapshot by `snapshot`, the complete
    /// current metadata (blocking).
    pub fn compact_meta(&self, snapshot: &[Bytes]) -> Result<()> {
        lock(&self.inner.meta).compact(snapshot)
    }

    /// Bytes appended and not yet on disk. A broker pauses publishers while it is
    /// high: the disk is not keeping up.
    pub fn backlog_bytes(&self) -> u64 {
        self.inner.shared.backlog_bytes.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> StoreStats {
        let sh = &self.inner.shared;
        let c = &sh.counters;
        let st = lock(&sh.state);
        StoreStats {
            appends: c.appends.load(Ordering::Relaxed),
            failed_appends: c.failed_appends.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            bytes_copied: c.bytes_copied.load(Ordering::Relaxed),
            segments_deleted: c.segments_deleted.load(Ordering::Relaxed),
            segments: st.segs.len() as u64,
            disk_bytes: st.disk_bytes(),
            live_bytes: st.live_bytes(),
            live_messages: st.msgs.len() as u64,
            live_positions: st.live_entries(),
            index_bytes: st.index_bytes(),
        }
    }

    /// With `manual_writer`: runs one group commit of everything appended so far (and
    /// a chunk of reclaim work) on this thread. Returns whether there was anything to
    /// do. Without `manual_writer` it does nothing.
    pub fn step(&self) -> bool {
        let Some(w) = &self.inner.manual else {
            return false;
        };
        let mut w = lock(w);
        let batch = std::mem::take(&mut lock(&self.inner.shared.inbox).pending);
        let work = !batch.is_empty() || w.has_work();
        if work {
            self.inner.shared.step(&mut w, batch);
        }
        work
    }
}
