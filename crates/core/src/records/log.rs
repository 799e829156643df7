//! One vhost's delivery records: an append-only log of checksummed segments, on disk
//! under the data directory or (a broker without one) in memory with the same
//! bounds, and the index from message key to where its records are.
//!
//! A segment file is the magic `WDR1`, then frames `[length: u32][crc32c: u32]
//! [payload]` (little-endian; the checksum covers the payload, `event.rs` describes
//! it). Opening a log reads every segment and rebuilds the index; a torn or corrupt
//! frame ends its segment there (the newest is cut back to the last good frame, so
//! appends go on from a clean end). Retention drops whole segments, oldest first.

use super::event::Event;
use super::Limits;
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"WDR1";
const FRAME_HEADER: usize = 8;
/// Segments are this fraction of the size limit, so dropping one frees an eighth.
const SEGMENTS_PER_LIMIT: u64 = 8;
const MIN_SEGMENT: u64 = 4 << 10;
const MAX_SEGMENT: u64 = 16 << 20;

/// Where one record is.
#[derive(Clone, Copy, Debug)]
struct Pos {
    segment: u64,
    /// Offset of the payload in the segment.
    offset: u32,
    len: u32,
}

enum Body {
    File(File),
    Memory(Vec<u8>),
}

struct Segment {
    id: u64,
    body: Body,
    len: u64,
    /// The newest record's time: the segment goes when that is older than the age
    /// limit.
    newest: u64,
    /// The keys with records here, to clean the index when the segment goes.
    keys: Vec<Arc<str>>,
}

impl Segment {
    fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        match &self.body {
            Body::File(f) => {
                let mut buf = vec![0; len];
                f.read_exact_at(&mut buf, offset)?;
                Ok(buf)
            }
            Body::Memory(bytes) => bytes
                .get(offset as usize..offset as usize + len)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "past the end")),
        }
    }
}

pub(crate) struct VhostLog {
    /// `None`: in memory.
    dir: Option<PathBuf>,
    segments: VecDeque<Segment>,
    index: HashMap<Arc<str>, Vec<Pos>>,
    bytes: u64,
    /// The newest segment was written since the last sync.
    dirty: bool,
    /// The next segment's id (never reused, even when every segment has gone).
    next_id: u64,
}

fn segment_size(limits: &Limits) -> u64 {
    (limits.max_bytes / SEGMENTS_PER_LIMIT).clamp(MIN_SEGMENT, MAX_SEGMENT)
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.wdr"))
}

/// Splits a segment's bytes into payloads with their offsets; stops at the first
/// frame that is torn or fails its checksum. Returns the end of the last good frame.
fn frames(bytes: &[u8]) -> (Vec<(usize, &[u8])>, usize) {
    let mut out = Vec::new();
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return (out, 0);
    }
    let mut at = MAGIC.len();
    while bytes.len() >= at + FRAME_HEADER {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let start = at + FRAME_HEADER;
        let Some(payload) = bytes.get(start..start + len) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        out.push((start, payload));
        at = start + len;
    }
    (out, at)
}

impl VhostLog {
    pub(crate) fn in_memory() -> VhostLog {
        VhostLog {
            dir: None,
            segments: VecDeque::new(),
            index: HashMap::new(),
            bytes: 0,
            dirty: false,
            next_id: 1,
        }
    }

    /// Opens (creating if needed) the log in `dir`, reading what it holds.
    pub(crate) fn open(dir: PathBuf) -> io::Result<VhostLog> {
        std::fs::create_dir_all(&dir)?;
        let mut ids: Vec<u64> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".wdr")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let mut log = VhostLog {
            dir: Some(dir.clone()),
            ..VhostLog::in_memory()
        };
        let newest = ids.last().copied();
        log.next_id = newest.map_or(1, |id| id + 1);
        for id in ids {
            let path = segment_path(&dir, id);
            let bytes = std::fs::read(&path)?;
            let (found, end) = frames(&bytes);
            let mut segment = Segment {
                id,
                body: Body::File(OpenOptions::new().read(true).append(true).open(&path)?),
                len: end as u64,
                newest: 0,
                keys: Vec::new(),
            };
            if end < bytes.len() {
                tracing::warn!(
                    "delivery records: {} is damaged after byte {end}; reading what comes before",
                    path.display()
                );
                if Some(id) == newest {
                    // Appends must start from a clean end.
                    if let Body::File(f) = &segment.body {
                        f.set_len(end.max(MAGIC.len()) as u64)?;
                        if end < MAGIC.len() {
                            f.write_at(MAGIC, 0)?;
                            segment.len = MAGIC.len() as u64;
                        }
                    }
                }
            }
            for (offset, payload) in found {
                if let Some(event) = Event::decode(payload) {
                    segment.newest = segment.newest.max(event.at);
                    log.index_event(&mut segment, &event.key, offset, payload.len());
                }
            }
            log.bytes += segment.len;
            log.segments.push_back(segment);
        }
        Ok(log)
    }

    fn index_event(&mut self, segment: &mut Segment, key: &str, offset: usize, len: usize) {
        let pos = Pos {
            segment: segment.id,
            offset: offset as u32,
            len: len as u32,
        };
        match self.index.get_mut(key) {
            Some(positions) => {
                if positions.last().is_none_or(|p| p.segment != segment.id) {
                    segment
                        .keys
                        .push(self.index.get_key_value(key).expect("present").0.clone());
                }
                self.index.get_mut(key).expect("present").push(pos);
            }
            None => {
                let key: Arc<str> = Arc::from(key);
                segment.keys.push(key.clone());
                self.index.insert(key, vec![pos]);
            }
        }
    }

    /// Starts a new segment after the newest.
    fn roll(&mut self) -> io::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let body = match &self.dir {
            Some(dir) => {
                let mut f = OpenOptions::new()
                    .read(true)
                    .append(true)
                    .create(true)
                    .truncate(false)
                    .open(segment_path(dir, id))?;
                f.write_all(MAGIC)?;
                Body::File(f)
            }
            None => Body::Memory(MAGIC.to_vec()),
        };
        self.bytes += MAGIC.len() as u64;
        self.segments.push_back(Segment {
            id,
            body,
            len: MAGIC.len() as u64,
            newest: 0,
            keys: Vec::new(),
        });
        Ok(())
    }

    /// Appends a batch of events (not yet synced: `take_unsynced`): one write per
    /// segment the batch touches, not one per record.
    pub(crate) fn append(&mut self, events: &[Event], limits: &Limits) -> io::Result<()> {
        let limit = segment_size(limits);
        let mut buf = Vec::with_capacity(events.len() * 128);
        let mut placed = Vec::new();
        let mut next = 0;
        while next < events.len() {
            if self.segments.back().is_none_or(|s| s.len >= limit) {
                self.roll()?;
            }
            let mut segment = self.segments.pop_back().expect("rolled");
            buf.clear();
            placed.clear();
            while next < events.len() && segment.len + (buf.len() as u64) < limit {
                let at = buf.len();
                buf.extend_from_slice(&[0; FRAME_HEADER]);
                events[next].encode(&mut buf);
                let len = buf.len() - at - FRAME_HEADER;
                let crc = crc32c::crc32c(&buf[at + FRAME_HEADER..]);
                buf[at..at + 4].copy_from_slice(&(len as u32).to_le_bytes());
                buf[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
                placed.push((next, segment.len as usize + at + FRAME_HEADER, len));
                next += 1;
            }
            let written = match &mut segment.body {
                Body::File(f) => f.write_all(&buf).inspect_err(|_| {
                    // A partial write must not stay in front of later appends.
                    let _ = f.set_len(segment.len);
                }),
                Body::Memory(bytes) => {
                    bytes.extend_from_slice(&buf);
                    Ok(())
                }
            };
            if written.is_ok() {
                segment.len += buf.len() as u64;
                self.bytes += buf.len() as u64;
                for &(i, offset, len) in &placed {
                    segment.newest = segment.newest.max(events[i].at);
                    self.index_event(&mut segment, &events[i].key, offset, len);
                }
                self.dirty = true;
            }
            self.segments.push_back(segment);
            written?;
        }
        Ok(())
    }

    /// What must be synced for the appends so far to be durable: a handle on the
    /// newest segment's file (synced outside the lock).
    pub(crate) fn take_unsynced(&mut self) -> Option<File> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        match &self.segments.back()?.body {
            Body::File(f) => f.try_clone().ok(),
            Body::Memory(_) => None,
        }
    }

    /// Drops the oldest segments while the log is over its size limit or their
    /// newest record is older than the age limit. The newest segment stays unless
    /// it is too old itself.
    pub(crate) fn enforce(&mut self, limits: &Limits, now: u64) {
        let cutoff = now.saturating_sub(limits.max_age_ms);
        while let Some(oldest) = self.segments.front() {
            let too_big = self.bytes > limits.max_bytes && self.segments.len() > 1;
            let too_old = oldest.newest < cutoff && oldest.len > MAGIC.len() as u64;
            if !(too_big || too_old) {
                break;
            }
            let segment = self.segments.pop_front().expect("present");
            self.bytes -= segment.len;
            for key in &segment.keys {
                if let Some(positions) = self.index.get_mut(key) {
                    positions.retain(|p| p.segment != segment.id);
                    if positions.is_empty() {
                        self.index.remove(key);
                    }
                }
            }
            if let (Some(dir), Body::File(_)) = (&self.dir, &segment.body) {
                let path = segment_path(dir, segment.id);
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!("delivery records: cannot remove {}: {e}", path.display());
                }
            }
        }
    }

    fn read_at(&self, pos: Pos) -> Option<Event> {
        let first = self.segments.front()?.id;
        let segment = self
            .segments
            .get(pos.segment.checked_sub(first)? as usize)?;
        let bytes = segment.read(pos.offset as u64, pos.len as usize).ok()?;
        Event::decode(&bytes)
    }

    /// Every record of message `key`, in log order.
    pub(crate) fn find(&self, key: &str) -> Vec<Event> {
        self.index
            .get(key)
            .map(|positions| positions.iter().filter_map(|p| self.read_at(*p)).collect())
            .unwrap_or_default()
    }

    /// The newest `limit` records that `keep` accepts, oldest first.
    pub(crate) fn recent(&self, limit: usize, keep: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut out = Vec::new();
        for segment in self.segments.iter().rev() {
            let Ok(bytes) = segment.read(0, segment.len as usize) else {
                continue;
            };
            let (found, _) = frames(&bytes);
            let events: Vec<Event> = found
                .into_iter()
                .filter_map(|(_, payload)| Event::decode(payload))
                .filter(|e| keep(e))
                .collect();
            for e in events.into_iter().rev() {
                out.push(e);
                if out.len() == limit {
                    out.reverse();
                    return out;
                }
            }
        }
        out.reverse();
        out
    }

    /// Bytes the log holds (the size limit's measure).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::EventKind;
    use super::*;

    fn event(key: &str, at: u64) -> Event {
        Event {
            at,
            key: key.into(),
            queue: "q".into(),
            kind: EventKind::Acked,
        }
    }

    fn limits(max_bytes: u64) -> Limits {
        Limits {
            max_bytes,
            max_age_ms: 1_000_000,
        }
    }

    #[test]
    fn reopened_log_finds_what_was_written_and_survives_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("wdr-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = VhostLog::open(dir.clone()).unwrap();
        log.append(
            &[event("a", 1), event("b", 2), event("a", 3)],
            &limits(1 << 20),
        )
        .unwrap();
        drop(log);
        // A torn frame at the end, as a crash mid-write leaves it.
        let path = segment_path(&dir, 1);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[40, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let mut log = VhostLog::open(dir.clone()).unwrap();
        assert_eq!(log.find("a"), vec![event("a", 1), event("a", 3)]);
        log.append(&[event("b", 4)], &limits(1 << 20)).unwrap();
        let log = VhostLog::open(dir.clone()).unwrap();
        assert_eq!(log.find("b"), vec![event("b", 2), event("b", 4)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn size_limit_drops_the_oldest_segments_and_their_index() {
        let mut log = VhostLog::in_memory();
        let limits = limits(32 << 10);
        for i in 0..5000 {
            log.append(&[event(&format!("m{i}"), i)], &limits).unwrap();
            log.enforce(&limits, i);
        }
        assert!(log.bytes() <= 32 << 10, "{} bytes", log.bytes());
        assert!(log.find("m0").is_empty());
        assert_eq!(log.find("m4999"), vec![event("m4999", 4999)]);
        assert_eq!(
            log.recent(2, |_| true),
            vec![event("m4998", 4998), event("m4999", 4999)]
        );
    }

    #[test]
    fn age_limit_drops_old_segments() {
        let mut log = VhostLog::in_memory();
        let limits = Limits {
            max_bytes: 1 << 20,
            max_age_ms: 100,
        };
        log.append(&[event("old", 10)], &limits).unwrap();
        log.enforce(&limits, 500);
        assert!(log.find("old").is_empty());
        log.append(&[event("new", 510)], &limits).unwrap();
        log.enforce(&limits, 520);
        assert_eq!(log.find("new").len(), 1);
    }
}
