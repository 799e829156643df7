//! Group commit: one writer takes every append that arrived since its last turn,
//! encodes them into one buffer, writes it with one call, syncs once, and only then
//! resolves their tickets. Appending is a mutex push (and a wake-up when the writer
//! sleeps), so it is cheap from any number of tasks; the fsync is shared by all of them.
//!
//! A failed write or sync (full disk, I/O error) fails exactly the tickets whose bytes
//! were not made durable, cuts the file back to its last durable length, and leaves the
//! state untouched; the next batch tries again.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{error, warn};

use crate::error::{Result, StoreError};
use crate::io::{Io, IoFile};
use crate::reclaim::{should_copy, CopyJob};
use crate::record::{Record, FRAME_HEADER, MAX_FRAME};
use crate::segment::{segment_name, FileHeader, FILE_HEADER, SEGMENT_MAGIC};
use crate::state::{SegStats, State};
use crate::{Appended, Location, Options};

/// The largest append: its records must fit in one segment's 32-bit offsets.
const MAX_APPEND: u64 = 1 << 31;

pub(crate) struct Pending {
    pub records: Vec<Record>,
    pub tx: oneshot::Sender<Result<Appended>>,
}

#[derive(Default)]
pub(crate) struct Inbox {
    pub pending: Vec<Pending>,
    pub shutdown: bool,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub appends: AtomicU64,
    pub failed_appends: AtomicU64,
    pub batches: AtomicU64,
    pub syncs: AtomicU64,
    pub bytes_written: AtomicU64,
    pub bytes_copied: AtomicU64,
    pub segments_deleted: AtomicU64,
}

/// What the writer, the readers and the appenders share.
pub(crate) struct Shared {
    pub io: Arc<dyn Io>,
    pub msgs_dir: PathBuf,
    pub opts: Options,
    pub inbox: Mutex<Inbox>,
    pub wake: Condvar,
    pub state: Mutex<State>,
    pub files: RwLock<HashMap<u32, Arc<dyn IoFile>>>,
    pub next_id: AtomicU64,
    pub counters: Counters,
    /// Encoded bytes appended and not yet written (the inbox plus the batch being
    /// written): what a publisher that outruns the disk is throttled by.
    pub backlog_bytes: AtomicU64,
}

/// The bytes an append adds to the writer's backlog.
pub(crate) fn pending_bytes(records: &[Record]) -> u64 {
    records.iter().map(|r| r.encoded_len() as u64).sum()
}

impl Shared {
    /// Runs one step of `writer` on `batch`, keeping `backlog_bytes` current.
    pub(crate) fn step(&self, writer: &mut Writer, batch: Vec<Pending>) {
        let bytes: u64 = batch.iter().map(|p| pending_bytes(&p.records)).sum();
        writer.step(self, batch);
        self.backlog_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn read_lock<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write_lock<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn segment_path(&self, n: u32) -> PathBuf {
        self.msgs_dir.join(segment_name(n))
    }
}

/// One append in a batch (or reclaim's copies, which have no ticket).
struct Unit {
    records: Vec<Record>,
    tx: Option<oneshot::Sender<Result<Appended>>>,
    locations: Vec<Location>,
}

impl Unit {
    fn fail(self, sh: &Shared, e: &StoreError) {
        if let Some(tx) = self.tx {
            sh.counters.failed_appends.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(Err(e.clone()));
        }
    }
}

/// The writer's own state: the head segment and the reclaim in progress.
pub(crate) struct Writer {
    head: u32,
    head_file: Arc<dyn IoFile>,
    /// Bytes of the head known durable; the file is cut back here after a failure.
    durable_len: u64,
    buf: Vec<u8>,
    /// The last write or sync failed in a way that leaves the head suspect: start a
    /// new segment before writing again.
    poisoned: bool,
    /// The last step failed: do not spin on reclaim copies while the disk is full.
    pub backoff: bool,
    copy: Option<CopyJob>,
    reclaim_stuck: Option<u32>,
}

impl Writer {
    /// Starts the log with a new head segment after `last` (0: none yet), or with
    /// `last` itself when it holds nothing but its header (so restarts do not pile up
    /// empty segments).
    pub fn start(sh: &Shared, last: u32) -> Result<Writer> {
        let empty_last = lock(&sh.state)
            .segs
            .get(&last)
            .is_some_and(|s| s.len == FILE_HEADER);
        let reuse = if empty_last {
            read_lock(&sh.files).get(&last).cloned()
        } else {
            None
        };
        let (head, head_file) = match reuse {
            Some(file) => (last, file),
            None => {
                let head = last
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Invalid("segment numbers exhausted".into()))?;
                (head, create_segment(sh, head)?)
            }
        };
        Ok(Writer {
            head,
            head_file,
            durable_len: FILE_HEADER,
            buf: Vec::with_capacity(1 << 20),
            poisoned: false,
            backoff: false,
            copy: None,
            reclaim_stuck: None,
        })
    }

    /// Whether there is work without new appends (a copy in progress).
    pub fn has_work(&self) -> bool {
        self.copy.is_some() && !self.backoff
    }

    /// One group commit: `batch` plus the next chunk of reclaim copies.
    pub fn step(&mut self, sh: &Shared, batch: Vec<Pending>) {
        let mut failure: Option<StoreError> = None;
        if self.poisoned {
            if let Err(e) = self.roll(sh) {
                failure = Some(e);
            }
        }
        let mut units = Vec::with_capacity(batch.len() + 1);
        if let Some(job) = &mut self.copy {
            let file = read_lock(&sh.files).get(&job.seg).cloned();
            let mut st = lock(&sh.state);
            let records = job.next_chunk(&mut st, file.as_ref(), sh.opts.copy_chunk);
            drop(st);
            if job.done() {
                self.copy = None;
            }
            if !records.is_empty() {
                let bytes: usize = records.iter().map(Record::encoded_len).sum();
                sh.counters
                    .bytes_copied
                    .fetch_add(bytes as u64, Ordering::Relaxed);
                units.push(Unit {
                    records,
                    tx: None,
                    locations: Vec::new(),
                });
            }
        }
        {
            let st = lock(&sh.state);
            let mut ids = HashSet::new();
            for p in batch {
                match st.validate(&p.records, &mut ids) {
                    Ok(()) => units.push(Unit {
                        locations: Vec::with_capacity(p.records.len()),
                        records: p.records,
                        tx: Some(p.tx),
                    }),
                    Err(msg) => {
                        sh.counters.failed_appends.fetch_add(1, Ordering::Relaxed);
                        let _ = p.tx.send(Err(StoreError::Invalid(msg)));
                    }
                }
            }
        }
        if units.is_empty() {
            self.backoff = failure.is_some();
            return;
        }

        let mut durable: Vec<Unit> = Vec::with_capacity(units.len());
        let mut in_buf: Vec<Unit> = Vec::with_capacity(units.len());
        let mut free = FreeSpace::new();
        for mut u in units {
            if let Some(e) = &failure {
                u.fail(sh, e);
                continue;
            }
            let size: u64 = u.records.iter().map(|r| r.encoded_len() as u64).sum();
            if let Err(e) = free.take(sh, &u.records, size) {
                u.fail(sh, &e);
                continue;
            }
            let largest = u.records.iter().map(Record::encoded_len).max().unwrap_or(0);
            if largest > FRAME_HEADER + MAX_FRAME as usize {
                u.fail(
                    sh,
                    &StoreError::Invalid(format!(
                        "a record of {largest} bytes is larger than the {MAX_FRAME}-byte limit"
                    )),
                );
                continue;
            }
            if size > MAX_APPEND {
                u.fail(
                    sh,
                    &StoreError::Invalid(format!(
                        "an append of {size} bytes is larger than the {MAX_APPEND}-byte limit"
                    )),
                );
                continue;
            }
            let at = self.durable_len + self.buf.len() as u64;
            if at + size > sh.opts.segment_size && at > FILE_HEADER {
                match self.flush(sh) {
                    Ok(()) => durable.append(&mut in_buf),
                    Err(e) => {
                        in_buf.drain(..).for_each(|x| x.fail(sh, &e));
                        u.fail(sh, &e);
                        failure = Some(e);
                        continue;
                    }
                }
                if let Err(e) = self.roll(sh) {
                    u.fail(sh, &e);
                    failure = Some(e);
                    continue;
                }
            }
            for r in &u.records {
                let offset = self.durable_len + self.buf.len() as u64;
                r.encode(self.head, offset, &mut self.buf);
                u.locations.push(Location {
                    segment: self.head,
                    offset: offset as u32,
                    len: r.encoded_len() as u32,
                });
            }
            in_buf.push(u);
        }
        if !in_buf.is_empty() {
            match self.flush(sh) {
                Ok(()) => durable.append(&mut in_buf),
                Err(e) => {
                    in_buf.drain(..).for_each(|x| x.fail(sh, &e));
                    failure = Some(e);
                }
            }
        }
        self.backoff = failure.is_some();

        // Durable: now the state may know, then the appenders.
        {
            let mut st = lock(&sh.state);
            for u in &durable {
                for (r, l) in u.records.iter().zip(&u.locations) {
                    st.apply(r, *l);
                }
            }
            st.end_batch();
            if let Some(s) = st.segs.get_mut(&self.head) {
                s.len = self.durable_len;
            }
        }
        for u in durable {
            if let Some(tx) = u.tx {
                sh.counters.appends.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(Ok(Appended {
                    locations: u.locations,
                }));
            }
        }
        self.reclaim(sh);
    }

    /// Writes the buffer with one call and syncs once.
    fn flush(&mut self, sh: &Shared) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = || sh.segment_path(self.head);
        let written = self.head_file.append(&self.buf);
        let result = match written {
            Ok(()) => {
                sh.counters.syncs.fetch_add(1, Ordering::Relaxed);
                self.head_file
                    .sync_data()
                    .map_err(|e| StoreError::io("fdatasync", path(), e))
            }
            Err(e) => Err(StoreError::io("write", path(), e)),
        };
        let n = self.buf.len() as u64;
        self.buf.clear();
        match result {
            Ok(()) => {
                self.durable_len += n;
                sh.counters.batches.fetch_add(1, Ordering::Relaxed);
                sh.counters.bytes_written.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                warn!("{e}: failing the appends of this batch");
                // Cut back what may be half there. After a failed fsync the page cache
                // cannot be trusted: a fresh segment is the safe place for what follows.
                let cut = self.head_file.truncate(self.durable_len);
                let sync_failed = matches!(
                    &e,
                    StoreError::Io {
                        op: "fdatasync",
                        ..
                    }
                );
                if cut.is_err() || sync_failed {
                    self.poisoned = true;
                }
                Err(e)
            }
        }
    }

    /// Starts the next segment (the current head is already durable).
    fn roll(&mut self, sh: &Shared) -> Result<()> {
        let next = self
            .head
            .checked_add(1)
            .ok_or_else(|| StoreError::Invalid("segment numbers exhausted".into()))?;
        let file = create_segment(sh, next)?;
        {
            let mut st = lock(&sh.state);
            if let Some(s) = st.segs.get_mut(&self.head) {
                s.len = self.durable_len;
            }
        }
        self.head = next;
        self.head_file = file;
        self.durable_len = FILE_HEADER;
        self.poisoned = false;
        Ok(())
    }

    /// Deletes dead segments from the oldest on, or plans a copy of the oldest.
    pub fn reclaim(&mut self, sh: &Shared) {
        loop {
            let (oldest, dead, copy) = {
                let st = lock(&sh.state);
                let Some((&oldest, s)) = st.segs.first_key_value() else {
                    return;
                };
                if oldest == self.head {
                    return;
                }
                (
                    oldest,
                    s.is_dead(),
                    should_copy(&st, oldest, sh.opts.segment_size),
                )
            };
            if dead {
                if self.copy.as_ref().is_some_and(|j| j.seg == oldest) {
                    self.copy = None;
                }
                if let Err(e) = delete_segment(sh, oldest) {
                    warn!("reclaim: {e}; will try again");
                    return;
                }
                continue;
            }
            if self.copy.is_none() && copy && self.reclaim_stuck != Some(oldest) {
                let job = CopyJob::plan(&lock(&sh.state), oldest);
                if job.is_empty() {
                    error!(
                        "reclaim: segment {oldest} counts live data but none was found: \
                         reclaim stops (a bug; nothing is lost, the disk just is not freed)"
                    );
                    self.reclaim_stuck = Some(oldest);
                } else {
                    self.copy = Some(job);
                }
            }
            return;
        }
    }
}

/// Creates segment `n` durably: header written and synced, directory synced.
fn create_segment(sh: &Shared, n: u32) -> Result<Arc<dyn IoFile>> {
    let path = sh.segment_path(n);
    let result = (|| {
        let file = sh
            .io
            .create(&path)
            .map_err(|e| StoreError::io("create", &path, e))?;
        let header = FileHeader::new(SEGMENT_MAGIC, n, sh.next_id.load(Ordering::SeqCst));
        file.append(&header.encode())
            .map_err(|e| StoreError::io("write", &path, e))?;
        file.sync_data()
            .map_err(|e| StoreError::io("fdatasync", &path, e))?;
        sh.io
            .sync_dir(&sh.msgs_dir)
            .map_err(|e| StoreError::io("fsync", &sh.msgs_dir, e))?;
        Ok(file)
    })();
    match result {
        Ok(file) => {
            write_lock(&sh.files).insert(n, file.clone());
            lock(&sh.state).segs.insert(
                n,
                SegStats {
                    len: FILE_HEADER,
                    ..SegStats::default()
                },
            );
            Ok(file)
        }
        Err(e) => {
            // Recovery removes a segment with a torn header, so a leftover is harmless.
            let _ = sh.io.remove(&path);
            Err(e)
        }
    }
}

/// Removes the oldest segment, durably, before the next one may go: were a removal
/// undone by a crash while a later one stuck, acks in the later one would be gone
/// while the positions they acknowledged came back.
fn delete_segment(sh: &Shared, n: u32) -> Result<()> {
    let path = sh.segment_path(n);
    match sh.io.remove(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("remove", &path, e)),
    }
    sh.io
        .sync_dir(&sh.msgs_dir)
        .map_err(|e| StoreError::io("fsync", &sh.msgs_dir, e))?;
    write_lock(&sh.files).remove(&n);
    lock(&sh.state).segs.remove(&n);
    sh.counters.segments_deleted.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The space a step may still give to new messages, under `Options::min_free_bytes`.
struct FreeSpace {
    /// Bytes above the reserve; `None` until a message needs to know.
    left: Option<u64>,
}

impl FreeSpace {
    fn new() -> FreeSpace {
        FreeSpace { left: None }
    }

    /// Charges an append of `size` bytes; an append writing a message fails with
    /// "no space" when it would dig into the reserve. Settlements always pass.
    fn take(&mut self, sh: &Shared, records: &[Record], size: u64) -> Result<()> {
        let reserve = sh.opts.min_free_bytes;
        if reserve == 0 || !records.iter().any(|r| matches!(r, Record::Message { .. })) {
            return Ok(());
        }
        let left = *self.left.get_or_insert_with(|| {
            sh.io
                .free_bytes(&sh.msgs_dir)
                .map_or(u64::MAX, |free| free.saturating_sub(reserve))
        });
        if size > left {
            return Err(StoreError::Io {
                op: "write (the last free bytes are kept for acknowledgements)",
                path: sh.msgs_dir.clone(),
                source: Arc::new(std::io::Error::from_raw_os_error(libc::ENOSPC)),
            });
        }
        self.left = Some(left - size);
        Ok(())
    }
}

/// The writer thread: sleeps until there are appends (or reclaim work), runs a step,
/// and on shutdown finishes what was appended before it stops.
pub(crate) fn run(sh: Arc<Shared>, mut writer: Writer) {
    loop {
        let (batch, shutdown) = {
            let mut inbox = lock(&sh.inbox);
            while inbox.pending.is_empty() && !inbox.shutdown && !writer.has_work() {
                let timeout = if writer.backoff {
                    Duration::from_millis(100)
                } else {
                    Duration::from_secs(3600)
                };
                let (guard, waited) = sh
                    .wake
                    .wait_timeout(inbox, timeout)
                    .unwrap_or_else(|p| p.into_inner());
                inbox = guard;
                if waited.timed_out() {
                    writer.backoff = false;
                }
            }
            (std::mem::take(&mut inbox.pending), inbox.shutdown)
        };
        let empty = batch.is_empty();
        sh.step(&mut writer, batch);
        if shutdown && empty {
            return;
        }
    }
}
