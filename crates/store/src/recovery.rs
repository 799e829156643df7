//! Rebuilding the live state from the message log at start.
//!
//! Every segment is replayed in number order, every frame checked. A torn tail (no good
//! frame from some offset to the end) is cut off; a bad stretch with good frames after
//! it is reported with file and offset and skipped; either way the rest is served.
//! Replay is idempotent per queue position, so the copies reclaim makes (a message and
//! its positions re-appended later in the log) simply overwrite the originals. See
//! `docs/storage.md` for why this gives back exactly the confirmed, unacked messages.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tracing::{error, info, warn};

use crate::error::{io_err, Result, StoreError};
use crate::io::{Io, IoFile};
use crate::record::Record;
use crate::segment::{
    parse_segment_name, segment_name, FileHeader, HeaderError, Scanned, Scanner, FILE_HEADER,
    SEGMENT_MAGIC,
};
use crate::state::{Entry, MsgEntry, QueueIndex, SegStats, State, DELIVERED};
use crate::{Damage, DamageKind, Location, Options, RecoveredMessage, RecoveryReport};

/// Position of a queue during replay (messages may be resolved only later).
struct Pos {
    msg: u64,
    seg: u32,
    delivered: bool,
}

pub(crate) struct Replayed {
    pub state: State,
    pub files: HashMap<u32, Arc<dyn IoFile>>,
    pub queues: BTreeMap<u64, Vec<RecoveredMessage>>,
    /// Highest segment number present (0: none).
    pub last_segment: u32,
    pub next_message_id: u64,
    pub report: RecoveryReport,
}

struct Replay {
    msgs: HashMap<u64, Location>,
    queues: HashMap<u64, BTreeMap<u64, Pos>>,
    max_id: Option<u64>,
    records: u64,
}

impl Replay {
    fn enqueue(&mut self, queue: u64, seq: u64, message: u64, loc: Location, delivered: bool) {
        let q = self.queues.entry(queue).or_default();
        let delivered = delivered || q.get(&seq).is_some_and(|p| p.delivered);
        q.insert(
            seq,
            Pos {
                msg: message,
                seg: loc.segment,
                delivered,
            },
        );
    }

    fn apply(&mut self, rec: Record, loc: Location) {
        self.records += 1;
        match rec {
            Record::Message { id, .. } => {
                self.max_id = self.max_id.max(Some(id));
                self.msgs.insert(id, loc);
            }
            Record::Enqueue {
                queue,
                seq,
                message,
            } => self.enqueue(queue, seq, message, loc, false),
            Record::EnqueueDelivered {
                queue,
                seq,
                message,
            } => self.enqueue(queue, seq, message, loc, true),
            Record::Ack { queue, seqs } => {
                if let Some(q) = self.queues.get_mut(&queue) {
                    for s in seqs {
                        q.remove(&s);
                    }
                }
            }
            Record::Delivered { queue, seqs } => {
                if let Some(q) = self.queues.get_mut(&queue) {
                    for s in seqs {
                        if let Some(p) = q.get_mut(&s) {
                            p.delivered = true;
                        }
                    }
                }
            }
            Record::QueueDeleted { queue } => {
                self.queues.remove(&queue);
            }
        }
    }
}

pub(crate) fn recover(io: &dyn Io, msgs_dir: &Path, opts: &Options) -> Result<Replayed> {
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    let mut numbers = Vec::new();
    for name in io.list(msgs_dir).map_err(io_err("list", msgs_dir))? {
        match parse_segment_name(&name) {
            Some(n) => numbers.push(n),
            None => warn!(
                "ignoring {}: not a segment file",
                msgs_dir.join(&name).display()
            ),
        }
    }
    numbers.sort_unstable();
    let last_segment = numbers.last().copied().unwrap_or(0);

    let mut opened = Vec::new();
    let mut total = 0u64;
    for &n in &numbers {
        let path = msgs_dir.join(segment_name(n));
        let file = io.open(&path).map_err(io_err("open", &path))?;
        let len = file.len().map_err(io_err("stat", &path))?;
        total += len;
        opened.push((n, path, file, len));
    }
    if total >= opts.progress_every {
        info!(
            "recovering {} segments, {} MiB, in {}",
            opened.len(),
            total >> 20,
            msgs_dir.display()
        );
    }

    let mut replay = Replay {
        msgs: HashMap::new(),
        queues: HashMap::new(),
        max_id: None,
        records: 0,
    };
    let mut files = HashMap::new();
    let mut lens = BTreeMap::new();
    let mut id_hint = 0u64;
    let mut done = 0u64;
    let mut next_progress = opts.progress_every;
    let mut dir_changed = false;
    for (n, path, file, len) in opened {
        let header = FileHeader::read(&*file, SEGMENT_MAGIC).map_err(io_err("read", &path))?;
        let header = match header {
            Ok(h) if h.number == n => h,
            Ok(h) => {
                bad_file(
                    &mut report,
                    &path,
                    format!("header says segment {}", h.number),
                );
                continue;
            }
            Err(HeaderError::Version(version)) => {
                return Err(StoreError::UnsupportedVersion {
                    path,
                    version,
                    supported: crate::segment::FORMAT_VERSION,
                })
            }
            Err(HeaderError::Short(got)) => {
                // Created during a crash, before its header was durable: holds nothing.
                warn!(
                    "{}: torn file header ({got} bytes): removing the empty segment",
                    path.display()
                );
                report.damage.push(Damage {
                    path: path.clone(),
                    offset: 0,
                    bytes: got as u64,
                    kind: DamageKind::TornTail,
                    reason: "torn file header".into(),
                });
                io.remove(&path).map_err(io_err("remove", &path))?;
                dir_changed = true;
                continue;
            }
            Err(e) => {
                bad_file(&mut report, &path, e.to_string());
                continue;
            }
        };
        id_hint = id_hint.max(header.aux);
        let mut end = len;
        let mut scanner = Scanner::new(&*file, n, FILE_HEADER, len);
        while let Some(item) = scanner.next_item().map_err(io_err("read", &path))? {
            match item {
                Scanned::Frame { offset, frame } => {
                    let loc = Location {
                        segment: n,
                        offset: offset as u32,
                        len: frame.len as u32,
                    };
                    match Record::decode(frame.kind, &frame.payload) {
                        Ok(rec) => replay.apply(rec, loc),
                        Err(e) => {
                            error!("{} at offset {offset}: {e}: record skipped", path.display());
                            report.damage.push(Damage {
                                path: path.clone(),
                                offset,
                                bytes: frame.len as u64,
                                kind: DamageKind::BadRecord,
                                reason: e.to_string(),
                            });
                        }
                    }
                }
                Scanned::Corrupt {
                    offset,
                    skipped,
                    reason,
                } => {
                    error!(
                        "{} at offset {offset}: {reason}: {skipped} bytes skipped to the next \
                         good record; the records before and after are kept",
                        path.display()
                    );
                    report.damage.push(Damage {
                        path: path.clone(),
                        offset,
                        bytes: skipped,
                        kind: DamageKind::Corrupt,
                        reason: reason.to_string(),
                    });
                }
                Scanned::TornTail {
                    offset,
                    dropped,
                    reason,
                } => {
                    warn!(
                        "{}: torn tail at offset {offset} ({reason}): truncating, {dropped} \
                         bytes dropped (writes that were never confirmed)",
                        path.display()
                    );
                    report.damage.push(Damage {
                        path: path.clone(),
                        offset,
                        bytes: dropped,
                        kind: DamageKind::TornTail,
                        reason: reason.to_string(),
                    });
                    file.truncate(offset).map_err(io_err("truncate", &path))?;
                    file.sync_data().map_err(io_err("sync", &path))?;
                    end = offset;
                }
            }
        }
        done += len;
        if done >= next_progress {
            info!(
                "recovery: {} of {} MiB read, {} records, {:.1} s",
                done >> 20,
                total >> 20,
                replay.records,
                started.elapsed().as_secs_f64()
            );
            next_progress = done + opts.progress_every;
        }
        report.segments += 1;
        report.bytes += end;
        lens.insert(n, end);
        files.insert(n, file);
    }
    if dir_changed {
        io.sync_dir(msgs_dir).map_err(io_err("sync", msgs_dir))?;
    }

    let (state, queues) = build_state(replay.msgs, replay.queues, &lens, &mut report);
    report.records = replay.records;
    report.elapsed = started.elapsed();
    let next_message_id = replay.max_id.map_or(0, |m| m + 1).max(id_hint);
    if total >= opts.progress_every || !report.damage.is_empty() {
        info!(
            "recovered {} messages in {} queues from {} MiB in {:.2} s ({} damaged regions)",
            report.messages,
            queues.len(),
            report.bytes >> 20,
            report.elapsed.as_secs_f64(),
            report.damage.len()
        );
    }
    Ok(Replayed {
        state,
        files,
        queues,
        last_segment,
        next_message_id,
        report,
    })
}

fn bad_file(report: &mut RecoveryReport, path: &Path, reason: String) {
    error!(
        "{}: {reason}: the file is left as it is and not read",
        path.display()
    );
    report.damage.push(Damage {
        path: PathBuf::from(path),
        offset: 0,
        bytes: 0,
        kind: DamageKind::BadFile,
        reason,
    });
}

/// Joins positions to messages, counts what is live where, and lists each queue.
fn build_state(
    msgs: HashMap<u64, Location>,
    queues: HashMap<u64, BTreeMap<u64, Pos>>,
    lens: &BTreeMap<u32, u64>,
    report: &mut RecoveryReport,
) -> (State, BTreeMap<u64, Vec<RecoveredMessage>>) {
    let mut state = State::default();
    for (&n, &len) in lens {
        state.segs.insert(
            n,
            SegStats {
                len,
                ..SegStats::default()
            },
        );
    }
    let mut out = BTreeMap::new();
    for (queue, positions) in queues {
        let mut list = Vec::with_capacity(positions.len());
        let mut index = VecDeque::with_capacity(positions.len());
        let mut lost = 0u64;
        for (seq, p) in positions {
            let Some(&loc) = msgs.get(&p.msg) else {
                lost += 1;
                continue;
            };
            list.push(RecoveredMessage {
                seq,
                id: p.msg,
                location: loc,
                delivered: p.delivered,
            });
            index.push_back(Entry {
                seq,
                msg: p.msg,
                seg: p.seg,
                flags: if p.delivered { DELIVERED } else { 0 },
            });
            if let Some(s) = state.segs.get_mut(&p.seg) {
                s.live_entries += 1;
            }
            match state.msgs.get_mut(p.msg) {
                Some(m) => m.refs += 1,
                None => {
                    state.msgs.insert(MsgEntry {
                        id: p.msg,
                        seg: loc.segment,
                        off: loc.offset,
                        len: loc.len,
                        refs: 1,
                    });
                    if let Some(s) = state.segs.get_mut(&loc.segment) {
                        s.live_msgs += 1;
                        s.live_bytes += loc.len as u64;
                    }
                }
            }
        }
        if lost > 0 {
            error!(
                "queue {queue}: {lost} positions refer to messages whose records are damaged \
                 or missing: they are dropped"
            );
            report.lost_positions += lost;
        }
        report.positions += list.len();
        state.queues.insert(queue, QueueIndex::from_sorted(index));
        out.insert(queue, list);
    }
    report.messages = state.msgs.len();
    (state, out)
}
