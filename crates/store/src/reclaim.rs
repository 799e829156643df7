//! Giving disk space back. Segments go oldest first, never the head: the oldest goes
//! as soon as nothing live is in it; when it is mostly dead, or the log holds more than
//! twice the live data, what is still live in it is copied to the head first (a new
//! `Message` record for each live message, `Enqueue` + `Delivered` for each live
//! position) in chunks between client batches, and it goes once that copy is durable.
//! `docs/storage.md` has the invariant that makes this safe.

use std::sync::Arc;

use bytes::Bytes;
use tracing::error;

use crate::io::{read_full, IoFile};
use crate::record::{decode_frame, Record};
use crate::state::State;

/// Whether the oldest segment `seg` should be copied forward now.
pub(crate) fn should_copy(state: &State, seg: u32, segment_size: u64) -> bool {
    let Some(s) = state.segs.get(&seg) else {
        return false;
    };
    let live_here = s.live_bytes + s.live_entries * crate::state::ENTRY_DISK_BYTES;
    let mostly_dead = live_here * 2 < s.len;
    let too_much_disk = state.disk_bytes() > 2 * state.live_bytes() + segment_size;
    mostly_dead || too_much_disk
}

/// The live content of one segment, copied a chunk at a time.
pub(crate) struct CopyJob {
    pub seg: u32,
    /// (offset, id) of the messages whose current record is in `seg`, by offset.
    msgs: Vec<(u32, u64)>,
    /// (queue, seq) of the positions whose newest `Enqueue` is in `seg`.
    positions: Vec<(u64, u64)>,
    next_msg: usize,
    next_pos: usize,
}

/// Positions per chunk (each costs an `Enqueue` record of 37 bytes).
const POSITIONS_PER_CHUNK: usize = 32 * 1024;

impl CopyJob {
    pub fn plan(state: &State, seg: u32) -> CopyJob {
        let mut msgs: Vec<(u32, u64)> = state
            .msgs
            .iter()
            .filter(|m| m.seg == seg)
            .map(|m| (m.off, m.id))
            .collect();
        msgs.sort_unstable();
        let mut positions = Vec::new();
        for (&q, index) in &state.queues {
            positions.extend(index.iter().filter(|e| e.seg == seg).map(|e| (q, e.seq)));
        }
        CopyJob {
            seg,
            msgs,
            positions,
            next_msg: 0,
            next_pos: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty() && self.positions.is_empty()
    }

    pub fn done(&self) -> bool {
        self.next_msg >= self.msgs.len() && self.next_pos >= self.positions.len()
    }

    /// The next chunk of copies (about `budget` bytes of messages, then positions),
    /// checked against the current state: what died since the plan is skipped. A
    /// message that cannot be read back is reported and forgotten (its positions then
    /// fail to read, which the broker sees as a lost message).
    pub fn next_chunk(
        &mut self,
        state: &mut State,
        file: Option<&Arc<dyn IoFile>>,
        budget: usize,
    ) -> Vec<Record> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while self.next_msg < self.msgs.len() && bytes < budget {
            let (off, id) = self.msgs[self.next_msg];
            self.next_msg += 1;
            let Some(m) = state.msgs.get(id).copied() else {
                continue;
            };
            if m.seg != self.seg || m.off != off {
                continue;
            }
            match file.map(|f| read_message(f.as_ref(), self.seg, off, m.len, id)) {
                Some(Ok(data)) => {
                    bytes += data.len();
                    out.push(Record::Message { id, data });
                }
                other => {
                    let why = match other {
                        Some(Err(why)) => why,
                        _ => "the segment is not open".to_string(),
                    };
                    error!(
                        "reclaim: message {id} in segment {} at offset {off} cannot be read \
                         back ({why}); it is lost",
                        self.seg
                    );
                    state.forget_message(id);
                }
            }
        }
        if bytes >= budget {
            return out;
        }
        let end = (self.next_pos + POSITIONS_PER_CHUNK).min(self.positions.len());
        for &(queue, seq) in &self.positions[self.next_pos..end] {
            let Some(e) = state.queues.get(&queue).and_then(|q| q.get(seq)) else {
                continue;
            };
            if e.seg != self.seg {
                continue;
            }
            // One record per position, flag included: a crash may keep any prefix of
            // this chunk, and a copy without its flag would shadow the older
            // `Delivered` record once this segment is gone.
            out.push(if e.delivered() {
                Record::EnqueueDelivered {
                    queue,
                    seq,
                    message: e.msg,
                }
            } else {
                Record::Enqueue {
                    queue,
                    seq,
                    message: e.msg,
                }
            });
        }
        self.next_pos = end;
        out
    }
}

/// Reads and checks the `Message` record `id` at `seg`:`off` (`Err`: why not).
pub(crate) fn read_message(
    file: &dyn IoFile,
    seg: u32,
    off: u32,
    len: u32,
    id: u64,
) -> Result<Bytes, String> {
    let mut buf = vec![0u8; len as usize];
    let n = read_full(file, &mut buf, off as u64).map_err(|e| e.to_string())?;
    if n != buf.len() {
        return Err(format!("short read: {n} of {len} bytes"));
    }
    let frame = decode_frame(&Bytes::from(buf), seg, off as u64).map_err(|e| e.to_string())?;
    match Record::decode(frame.kind, &frame.payload).map_err(|e| e.to_string())? {
        Record::Message { id: got, data } if got == id => Ok(data),
        _ => Err(format!("the record there is not message {id}")),
    }
}
