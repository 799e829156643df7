//! An in-memory [`Io`] that fails the way disks and kernels do, for tests.
//!
//! Every file keeps two images: what has been written, and what an `fsync` made durable.
//! Directory entries likewise: what exists now, and what a `sync_dir` made durable.
//! [`MemIo::crash`] kills the "process" (every call fails from then on, as if it had
//! died); [`MemIo::restart`] then brings back what a real machine could show after
//! power loss: the durable image of every durably named file, plus a torn prefix of
//! whatever was written after its last sync (sometimes zero-filled, as ext4 can leave
//! it). Faults are scheduled by operation count (`crash_after`), by bytes (a space
//! limit that makes appends fail with ENOSPC part-way), or directly (`corrupt`,
//! `fail_next_syncs`); every random choice comes from the seed, so with the store's
//! manual writer a failing case replays exactly.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::io::{Io, IoFile};

/// SplitMix64: tiny, fast, and good enough to pick crash points and torn lengths.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

#[derive(Default)]
struct FileData {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// `data[..diverged] == durable[..diverged]`: only bytes from here on are at risk.
    diverged: usize,
}

impl FileData {
    fn modified_from(&mut self, at: usize) {
        self.diverged = self.diverged.min(at);
    }
}

struct Mem {
    rng: SimRng,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    files: HashMap<u64, FileData>,
    next_file: u64,
    /// Bumped by `restart`: handles of the dead process keep failing.
    epoch: u64,
    crashed: bool,
    ops_until_crash: Option<u64>,
    space_limit: Option<u64>,
    fail_syncs: u32,
    locks: BTreeSet<PathBuf>,
    stats: MemStats,
}

/// What the store asked of the disk.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemStats {
    pub appends: u64,
    pub bytes_appended: u64,
    pub syncs: u64,
    pub dir_syncs: u64,
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the process is dead")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl Mem {
    fn alive(&self, epoch: u64) -> io::Result<()> {
        if self.crashed || epoch != self.epoch {
            Err(crashed())
        } else {
            Ok(())
        }
    }

    /// Counts one mutating operation; `Ok(true)` means "this is the one that crashes".
    fn tick(&mut self, epoch: u64) -> io::Result<bool> {
        self.alive(epoch)?;
        match self.ops_until_crash {
            Some(0) => {
                self.crashed = true;
                Ok(true)
            }
            Some(n) => {
                self.ops_until_crash = Some(n - 1);
                Ok(false)
            }
            None => Ok(false),
        }
    }

    fn used(&self) -> u64 {
        let ids: BTreeSet<u64> = self.names.values().copied().collect();
        ids.iter()
            .filter_map(|id| self.files.get(id))
            .map(|f| f.data.len() as u64)
            .sum()
    }

    fn file(&mut self, id: u64) -> io::Result<&mut FileData> {
        self.files.get_mut(&id).ok_or_else(crashed)
    }
}

/// The fault-injecting in-memory disk. Cheap to clone; clones share the disk.
#[derive(Clone)]
pub struct MemIo {
    mem: Arc<Mutex<Mem>>,
}

impl MemIo {
    pub fn new(seed: u64) -> Self {
        let mut dirs = BTreeSet::new();
        dirs.insert(PathBuf::from("/"));
        MemIo {
            mem: Arc::new(Mutex::new(Mem {
                rng: SimRng::new(seed),
                names: BTreeMap::new(),
                durable_names: BTreeMap::new(),
                dirs,
                files: HashMap::new(),
                next_file: 1,
                epoch: 0,
                crashed: false,
                ops_until_crash: None,
                space_limit: None,
                fail_syncs: 0,
                locks: BTreeSet::new(),
                stats: MemStats::default(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Mem> {
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The process dies after `ops` more mutating calls (append, sync, create, rename,
    /// remove, truncate, sync_dir); an append that dies writes a random prefix first.
    pub fn crash_after(&self, ops: u64) {
        self.lock().ops_until_crash = Some(ops);
    }

    /// The process dies now.
    pub fn crash(&self) {
        self.lock().crashed = true;
    }

    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Power comes back: keep what was durable, plus a torn (seeded) prefix of what was
    /// not, and forget undurable directory changes. Locks of the dead process are gone.
    pub fn restart(&self) {
        let mut m = self.lock();
        let m = &mut *m;
        m.crashed = true;
        m.epoch += 1;
        m.ops_until_crash = None;
        m.fail_syncs = 0;
        m.locks.clear();
        m.names = m.durable_names.clone();
        let live: BTreeSet<u64> = m.names.values().copied().collect();
        m.files.retain(|id, _| live.contains(id));
        let mut ids: Vec<u64> = m.files.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let f = m.files.get_mut(&id).expect("listed");
            let at_risk = f.data.len().saturating_sub(f.diverged) as u64;
            let only_appended = f.diverged >= f.durable.len();
            if only_appended || m.rng.chance(2) {
                let keep = m.rng.below(at_risk + 1) as usize;
                f.data.truncate(f.diverged + keep);
                if keep > 0 && m.rng.chance(4) {
                    let start = f.diverged;
                    f.data[start..].fill(0);
                }
            } else {
                f.data = f.durable.clone();
            }
            f.durable = f.data.clone();
            f.diverged = f.data.len();
        }
        m.crashed = false;
    }

    /// Appends fail with ENOSPC once the files hold `limit` bytes (`None`: no limit).
    pub fn set_space_limit(&self, limit: Option<u64>) {
        self.lock().space_limit = limit;
    }

    /// The next `n` `sync_data` calls fail with EIO (and make nothing durable).
    pub fn fail_next_syncs(&self, n: u32) {
        self.lock().fail_syncs = n;
    }

    /// Flips every bit of the byte at `offset` of `path`, in the written and the
    /// durable image alike (bit rot, not a torn write).
    pub fn corrupt(&self, path: &Path, offset: u64) -> bool {
        let mut m = self.lock();
        let Some(&id) = m.names.get(path) else {
            return false;
        };
        let f = m.files.get_mut(&id).expect("named file exists");
        let o = offset as usize;
        if o >= f.data.len() {
            return false;
        }
        f.data[o] ^= 0xFF;
        if o < f.durable.len() {
            f.durable[o] ^= 0xFF;
        }
        true
    }

    /// Puts a file with these contents in place, durably (for tests and fuzzing).
    pub fn write_file(&self, path: &Path, contents: &[u8]) {
        let mut m = self.lock();
        if let Some(parent) = path.parent() {
            let mut p = parent.to_path_buf();
            loop {
                m.dirs.insert(p.clone());
                if !p.pop() {
                    break;
                }
            }
        }
        let id = m.next_file;
        m.next_file += 1;
        m.files.insert(
            id,
            FileData {
                data: contents.to_vec(),
                durable: contents.to_vec(),
                diverged: contents.len(),
            },
        );
        m.names.insert(path.to_path_buf(), id);
        m.durable_names.insert(path.to_path_buf(), id);
    }

    /// The written image of a file.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let m = self.lock();
        let id = m.names.get(path)?;
        Some(m.files.get(id)?.data.clone())
    }

    /// Every file name and its written length.
    pub fn files(&self) -> Vec<(PathBuf, u64)> {
        let m = self.lock();
        m.names
            .iter()
            .map(|(p, id)| {
                (
                    p.clone(),
                    m.files.get(id).map_or(0, |f| f.data.len() as u64),
                )
            })
            .collect()
    }

    /// Total bytes in files.
    pub fn used(&self) -> u64 {
        self.lock().used()
    }

    pub fn stats(&self) -> MemStats {
        self.lock().stats
    }

    fn handle(&self, id: u64, epoch: u64) -> Arc<dyn IoFile> {
        Arc::new(MemFile {
            mem: self.mem.clone(),
            id,
            epoch,
        })
    }
}

struct MemFile {
    mem: Arc<Mutex<Mem>>,
    id: u64,
    epoch: u64,
}

impl MemFile {
    fn lock(&self) -> MutexGuard<'_, Mem> {
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl IoFile for MemFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        let mut m = self.lock();
        let dies = m.tick(self.epoch)?;
        let room = match m.space_limit {
            Some(limit) => limit.saturating_sub(m.used()) as usize,
            None => usize::MAX,
        };
        let mut n = buf.len().min(room);
        if dies {
            n = m.rng.below(n as u64 + 1) as usize;
        }
        m.stats.appends += 1;
        m.stats.bytes_appended += n as u64;
        let f = m.file(self.id)?;
        let at = f.data.len();
        f.modified_from(at);
        f.data.extend_from_slice(&buf[..n]);
        if dies {
            Err(crashed())
        } else if n < buf.len() {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        } else {
            Ok(())
        }
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut m = self.lock();
        m.alive(self.epoch)?;
        let f = m.file(self.id)?;
        let len = f.data.len() as u64;
        if offset >= len {
            return Ok(0);
        }
        let n = buf.len().min((len - offset) as usize);
        buf[..n].copy_from_slice(&f.data[offset as usize..offset as usize + n]);
        Ok(n)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut m = self.lock();
        if m.tick(self.epoch)? {
            return Err(crashed());
        }
        m.stats.syncs += 1;
        if m.fail_syncs > 0 {
            m.fail_syncs -= 1;
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let f = m.file(self.id)?;
        let d = f.diverged.min(f.durable.len());
        f.durable.truncate(d);
        let from = d.min(f.data.len());
        let tail = f.data[from..].to_vec();
        f.durable.truncate(from);
        f.durable.extend_from_slice(&tail);
        f.diverged = f.data.len();
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut m = self.lock();
        m.alive(self.epoch)?;
        Ok(m.file(self.id)?.data.len() as u64)
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        let mut m = self.lock();
        if m.tick(self.epoch)? {
            return Err(crashed());
        }
        let f = m.file(self.id)?;
        let len = len as usize;
        if len < f.data.len() {
            f.modified_from(len);
            f.data.truncate(len);
        } else {
            let at = f.data.len();
            f.modified_from(at);
            f.data.resize(len, 0);
        }
        Ok(())
    }
}

struct MemLock {
    mem: Arc<Mutex<Mem>>,
    path: PathBuf,
    epoch: u64,
}

impl Drop for MemLock {
    fn drop(&mut self) {
        let mut m = self.mem.lock().unwrap_or_else(|p| p.into_inner());
        if m.epoch == self.epoch {
            m.locks.remove(&self.path);
        }
    }
}

impl Io for MemIo {
    fn free_bytes(&self, _dir: &Path) -> io::Result<u64> {
        let m = self.lock();
        Ok(m.space_limit
            .map_or(u64::MAX, |limit| limit.saturating_sub(m.used())))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn IoFile>> {
        let m = self.lock();
        let epoch = m.epoch;
        m.alive(epoch)?;
        let id = *m.names.get(path).ok_or_else(|| not_found(path))?;
        drop(m);
        Ok(self.handle(id, epoch))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn IoFile>> {
        let mut m = self.lock();
        let epoch = m.epoch;
        if m.tick(epoch)? {
            return Err(crashed());
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        if !m.dirs.contains(parent) {
            return Err(not_found(parent));
        }
        let id = match m.names.get(path) {
            Some(&id) => {
                let f = m.file(id)?;
                f.modified_from(0);
                f.data.clear();
                id
            }
            None => {
                let id = m.next_file;
                m.next_file += 1;
                m.files.insert(id, FileData::default());
                m.names.insert(path.to_path_buf(), id);
                id
            }
        };
        drop(m);
        Ok(self.handle(id, epoch))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut m = self.lock();
        let epoch = m.epoch;
        if m.tick(epoch)? {
            return Err(crashed());
        }
        let id = m.names.remove(from).ok_or_else(|| not_found(from))?;
        m.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut m = self.lock();
        let epoch = m.epoch;
        if m.tick(epoch)? {
            return Err(crashed());
        }
        m.names.remove(path).ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let m = self.lock();
        m.alive(m.epoch)?;
        if !m.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let files = m.names.keys().map(|p| p.as_path());
        let dirs = m.dirs.iter().map(|p| p.as_path());
        Ok(files
            .chain(dirs)
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut m = self.lock();
        m.alive(m.epoch)?;
        let mut p = dir.to_path_buf();
        loop {
            m.dirs.insert(p.clone());
            if !p.pop() {
                break;
            }
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut m = self.lock();
        let epoch = m.epoch;
        if m.tick(epoch)? {
            return Err(crashed());
        }
        m.stats.dir_syncs += 1;
        let m = &mut *m;
        m.durable_names.retain(|p, _| p.parent() != Some(dir));
        for (p, id) in &m.names {
            if p.parent() == Some(dir) {
                m.durable_names.insert(p.clone(), *id);
            }
        }
        Ok(())
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>> {
        let mut m = self.lock();
        let epoch = m.epoch;
        m.alive(epoch)?;
        if !m.locks.insert(path.to_path_buf()) {
            return Ok(None);
        }
        if !m.names.contains_key(path) {
            let id = m.next_file;
            m.next_file += 1;
            m.files.insert(id, FileData::default());
            m.names.insert(path.to_path_buf(), id);
        }
        Ok(Some(Box::new(MemLock {
            mem: self.mem.clone(),
            path: path.to_path_buf(),
            epoch,
        })))
    }
}
