//! The metadata log: the broker's topology commands (declare, bind, delete, users …)
//! as opaque records, one fsync per append (they are rare), and a snapshot that
//! replaces the log atomically.
//!
//! Files: `meta.snapshot` and `meta.log`, each a 32-byte header (magic, version,
//! generation) and frames of kind [`KIND_META`]. The generation ties them: the log
//! continues the snapshot of the same generation. `compact` writes the snapshot of
//! generation g+1 (temp file, fsync, rename, fsync dir), then an empty log of g+1 the
//! same way. A crash between the two leaves a log of generation g, which open ignores
//! (the snapshot already holds it). So at every instant the directory holds exactly
//! the old state or the new one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tracing::{error, warn};

use crate::error::{io_err, Result, StoreError};
use crate::io::{Io, IoFile};
use crate::record::{encode_frame, KIND_META};
use crate::segment::{FileHeader, HeaderError, Scanned, Scanner, FILE_HEADER};

pub const LOG_MAGIC: [u8; 8] = *b"WRNMETAL";
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"WRNMETAS";
pub const LOG_NAME: &str = "meta.log";
pub const SNAPSHOT_NAME: &str = "meta.snapshot";

pub(crate) struct MetaLog {
    io: Arc<dyn Io>,
    dir: PathBuf,
    file: Option<Arc<dyn IoFile>>,
    generation: u32,
    len: u64,
}

/// Problems found reading the metadata files (the records around them are kept).
#[derive(Debug, Default, Clone)]
pub struct MetaReport {
    pub damage: Vec<crate::Damage>,
}

fn exists(io: &dyn Io, dir: &Path, name: &str) -> Result<bool> {
    Ok(io
        .list(dir)
        .map_err(io_err("list", dir))?
        .iter()
        .any(|n| n == name))
}

/// Reads the frames of a metadata file after its header. A torn tail is cut off when
/// `repair` (the log); any other damage is reported and skipped.
fn read_records(
    file: &dyn IoFile,
    path: &Path,
    generation: u32,
    repair: bool,
    report: &mut MetaReport,
) -> Result<(Vec<Bytes>, u64)> {
    let len = file.len().map_err(io_err("stat", path))?;
    let mut out = Vec::new();
    let mut end = len;
    let mut scanner = Scanner::new(file, generation, FILE_HEADER, len);
    while let Some(item) = scanner.next_item().map_err(io_err("read", path))? {
        let (offset, bytes, kind, reason) = match item {
            Scanned::Frame { frame, .. } if frame.kind == KIND_META => {
                out.push(frame.payload);
                continue;
            }
            Scanned::Frame { offset, frame } => (
                offset,
                frame.len as u64,
                crate::DamageKind::BadRecord,
                format!("record of kind {} in a metadata file", frame.kind),
            ),
            Scanned::Corrupt {
                offset,
                skipped,
                reason,
            } => (
                offset,
                skipped,
                crate::DamageKind::Corrupt,
                reason.to_string(),
            ),
            Scanned::TornTail {
                offset,
                dropped,
                reason,
            } => {
                if repair {
                    warn!(
                        "{}: torn tail at offset {offset} ({reason}): truncating, {dropped} bytes \
                         dropped",
                        path.display()
                    );
                    file.truncate(offset).map_err(io_err("truncate", path))?;
                    file.sync_data().map_err(io_err("sync", path))?;
                    end = offset;
                }
                (
                    offset,
                    dropped,
                    crate::DamageKind::TornTail,
                    reason.to_string(),
                )
            }
        };
        if kind != crate::DamageKind::TornTail || !repair {
            error!(
                "{} at offset {offset}: {reason}: {bytes} bytes skipped",
                path.display()
            );
        }
        report.damage.push(crate::Damage {
            path: path.to_path_buf(),
            offset,
            bytes,
            kind,
            reason,
        });
    }
    Ok((out, end))
}

impl MetaLog {
    /// Opens (or creates) the metadata files; returns the snapshot's records followed
    /// by the log's.
    pub fn open(io: Arc<dyn Io>, dir: &Path) -> Result<(MetaLog, Vec<Bytes>, MetaReport)> {
        let mut report = MetaReport::default();
        let snap_path = dir.join(SNAPSHOT_NAME);
        let log_path = dir.join(LOG_NAME);
        let mut records = Vec::new();
        let mut generation = 0;
        if exists(&*io, dir, SNAPSHOT_NAME)? {
            let f = io.open(&snap_path).map_err(io_err("open", &snap_path))?;
            let h = check_header(&*f, &snap_path, SNAPSHOT_MAGIC)?;
            generation = h.number;
            let (r, _) = read_records(&*f, &snap_path, generation, false, &mut report)?;
            records = r;
        }
        let mut meta = MetaLog {
            io: io.clone(),
            dir: dir.to_path_buf(),
            file: None,
            generation,
            len: FILE_HEADER,
        };
        let mut fresh = true;
        if exists(&*io, dir, LOG_NAME)? {
            let f = io.open(&log_path).map_err(io_err("open", &log_path))?;
            match FileHeader::read(&*f, LOG_MAGIC).map_err(io_err("read", &log_path))? {
                Ok(h) if h.number == generation => {
                    let (r, end) = read_records(&*f, &log_path, generation, true, &mut report)?;
                    records.extend(r);
                    meta.file = Some(f);
                    meta.len = end;
                    fresh = false;
                }
                Ok(h) if h.number < generation => {
                    warn!(
                        "{}: generation {} precedes the snapshot's {generation} (a compaction \
                         was interrupted): the snapshot holds it; starting a new log",
                        log_path.display(),
                        h.number
                    );
                }
                Ok(h) => {
                    return Err(StoreError::Corrupt {
                        path: log_path,
                        offset: 0,
                        reason: format!(
                            "log generation {} is newer than the snapshot's ({generation}): \
                             is meta.snapshot missing?",
                            h.number
                        ),
                    })
                }
                Err(HeaderError::Short(_)) => {
                    warn!("{}: torn header: starting a new log", log_path.display());
                }
                Err(HeaderError::Version(version)) => {
                    return Err(StoreError::UnsupportedVersion {
                        path: log_path,
                        version,
                        supported: crate::segment::FORMAT_VERSION,
                    })
                }
                Err(e) => {
                    return Err(StoreError::Corrupt {
                        path: log_path,
                        offset: 0,
                        reason: e.to_string(),
                    })
                }
            }
        }
        if fresh {
            meta.new_log(generation)?;
        }
        Ok((meta, records, report))
    }

    /// Appends one command record and syncs it.
    pub fn append(&mut self, record: &[u8]) -> Result<()> {
        if record.len() as u64 >= crate::record::MAX_FRAME as u64 {
            return Err(StoreError::Invalid(format!(
                "a metadata record of {} bytes",
                record.len()
            )));
        }
        if self.file.is_none() {
            self.new_log(self.generation)?;
        }
        let file = self.file.clone().expect("log open");
        let path = self.dir.join(LOG_NAME);
        let mut buf = Vec::with_capacity(record.len() + 16);
        encode_frame(KIND_META, record, self.generation, self.len, &mut buf);
        let r = file
            .append(&buf)
            .map_err(io_err("write", &path))
            .and_then(|()| file.sync_data().map_err(io_err("fdatasync", &path)));
        match r {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                if file.truncate(self.len).is_err() {
                    // Start over from the snapshot's generation next time: the torn bytes
                    // stay behind in a file recovery will cut.
                    self.file = None;
                }
                Err(e)
            }
        }
    }

    /// Replaces snapshot and log by `snapshot` (the whole current metadata).
    pub fn compact(&mut self, snapshot: &[Bytes]) -> Result<()> {
        let next = self.generation + 1;
        let snap_path = self.dir.join(SNAPSHOT_NAME);
        let mut buf = FileHeader::new(SNAPSHOT_MAGIC, next, 0).encode().to_vec();
        for r in snapshot {
            let at = buf.len() as u64;
            encode_frame(KIND_META, r, next, at, &mut buf);
        }
        self.write_atomically(&snap_path, &buf)?;
        // From here the snapshot of `next` is the truth; the old log is ignored on open.
        self.generation = next;
        self.file = None;
        self.new_log(next)
    }

    fn new_log(&mut self, generation: u32) -> Result<()> {
        let path = self.dir.join(LOG_NAME);
        let header = FileHeader::new(LOG_MAGIC, generation, 0).encode();
        self.write_atomically(&path, &header)?;
        self.file = Some(self.io.open(&path).map_err(io_err("open", &path))?);
        self.generation = generation;
        self.len = FILE_HEADER;
        Ok(())
    }

    /// Temp file, fsync, rename over `path`, fsync the directory.
    fn write_atomically(&self, path: &Path, contents: &[u8]) -> Result<()> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("meta");
        let tmp = path.with_file_name(format!("{name}.tmp"));
        let r = (|| {
            let f = self.io.create(&tmp).map_err(io_err("create", &tmp))?;
            f.append(contents).map_err(io_err("write", &tmp))?;
            f.sync_data().map_err(io_err("fdatasync", &tmp))?;
            self.io.rename(&tmp, path).map_err(io_err("rename", &tmp))?;
            self.io
                .sync_dir(&self.dir)
                .map_err(io_err("fsync", &self.dir))
        })();
        if r.is_err() {
            let _ = self.io.remove(&tmp);
        }
        r
    }
}

fn check_header(file: &dyn IoFile, path: &Path, magic: [u8; 8]) -> Result<FileHeader> {
    match FileHeader::read(file, magic).map_err(io_err("read", path))? {
        Ok(h) => Ok(h),
        Err(HeaderError::Version(version)) => Err(StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
            supported: crate::segment::FORMAT_VERSION,
        }),
        Err(e) => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: e.to_string(),
        }),
    }
}
