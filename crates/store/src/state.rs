//! What the store knows about the live data, kept in RAM: where each live message is,
//! which queue positions refer to it, and per segment how much is still live. The
//! writer changes it after each group commit, in log order; recovery builds it.
//!
//! RAM: a message costs one `MsgEntry` (24 bytes in sorted chunks, about 29 with
//! their slack) and each queue position one `Entry` (24 bytes in a deque, about 34 in
//! the sorted chunks of a queue whose positions arrive out of order). Bodies are
//! never held here.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::record::Record;
use crate::sorted_chunks::{Keyed, SortedChunks};
use crate::Location;

#[derive(Debug, Clone, Copy)]
pub(crate) struct MsgEntry {
    pub id: u64,
    pub seg: u32,
    pub off: u32,
    pub len: u32,
    /// Live queue positions referring to this message.
    pub refs: u32,
}

impl Keyed for MsgEntry {
    fn key(&self) -> u64 {
        self.id
    }
}

impl MsgEntry {
    pub fn location(&self) -> Location {
        Location {
            segment: self.seg,
            offset: self.off,
            len: self.len,
        }
    }
}

pub(crate) const DELIVERED: u8 = 1;
const DEAD: u8 = 2;

/// One position of a queue. `seg` is the segment of its newest `Enqueue` record: the
/// position survives the deletion of every segment before that one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub seq: u64,
    pub msg: u64,
    pub seg: u32,
    pub flags: u8,
}

impl Keyed for Entry {
    fn key(&self) -> u64 {
        self.seq
    }
}

impl Entry {
    pub fn delivered(&self) -> bool {
        self.flags & DELIVERED != 0
    }
    fn dead(&self) -> bool {
        self.flags & DEAD != 0
    }
}

/// A queue's positions in seq order. Acks usually hit the front, so a dead entry is a
/// tombstone until the front moves past it; many tombstones are swept in one pass.
///
/// Positions normally arrive in order (a queue reserves them in order), and a deque
/// holds them in 24 bytes each. A queue whose positions arrive out of order on
/// purpose (a delayed exchange numbers its messages by due time) would make every
/// insert shift the deque; past a few out-of-order inserts into a long index it
/// moves to sorted chunks instead ([`SortedChunks`]: 24 bytes an entry over how full
/// the chunks are, about 34 for shuffled inserts), which insert in O(log n) moving at
/// most half a chunk.
#[derive(Debug, Default)]
pub(crate) struct QueueIndex {
    entries: VecDeque<Entry>,
    live: usize,
    /// Used instead of `entries` once inserts came out of order too often.
    tree: Option<SortedChunks<Entry>>,
    out_of_order: u32,
}

/// Out-of-order inserts into a deque longer than `TREE_AFTER_LEN` before the index
/// becomes a tree.
const TREE_AFTER_INSERTS: u32 = 64;
const TREE_AFTER_LEN: usize = 4096;

impl QueueIndex {
    pub fn from_sorted(entries: VecDeque<Entry>) -> Self {
        let live = entries.len();
        QueueIndex {
            entries,
            live,
            tree: None,
            out_of_order: 0,
        }
    }

    pub fn len(&self) -> usize {
        match &self.tree {
            Some(tree) => tree.len(),
            None => self.live,
        }
    }

    fn find(&self, seq: u64) -> Option<usize> {
        let i = self.entries.binary_search_by_key(&seq, |e| e.seq).ok()?;
        (!self.entries[i].dead()).then_some(i)
    }

    pub fn get(&self, seq: u64) -> Option<&Entry> {
        match &self.tree {
            Some(tree) => tree.get(seq),
            None => self.find(seq).map(|i| &self.entries[i]),
        }
    }

    /// The live position `seq`, to update in place.
    pub fn get_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        if self.tree.is_some() {
            return self.tree.as_mut().and_then(|tree| tree.get_mut(seq));
        }
        let i = self.find(seq)?;
        Some(&mut self.entries[i])
    }

    fn insert(&mut self, e: Entry) {
        if let Some(tree) = &mut self.tree {
            tree.insert(e);
            return;
        }
        match self.entries.back() {
            Some(last) if last.seq >= e.seq => {
                match self.entries.binary_search_by_key(&e.seq, |x| x.seq) {
                    Ok(i) => self.entries[i] = e, // a dead tombstone (live ones are updated)
                    Err(i) => {
                        self.entries.insert(i, e);
                        self.out_of_order += 1;
                    }
                }
            }
            _ => self.entries.push_back(e),
        }
        self.live += 1;
        if self.out_of_order > TREE_AFTER_INSERTS && self.entries.len() > TREE_AFTER_LEN {
            let mut tree = SortedChunks::new();
            for e in self.entries.drain(..).filter(|e| !e.dead()) {
                tree.insert(e);
            }
            self.entries = VecDeque::new();
            self.tree = Some(tree);
        }
    }

    /// Removes the live position `seq`.
    fn remove(&mut self, seq: u64) -> Option<Entry> {
        if let Some(tree) = &mut self.tree {
            return tree.remove(seq);
        }
        let i = self.find(seq)?;
        let e = self.entries[i];
        self.entries[i].flags |= DEAD;
        self.live -= 1;
        while self.entries.front().is_some_and(Entry::dead) {
            self.entries.pop_front();
        }
        let dead = self.entries.len() - self.live;
        if dead > 1024 && dead > self.live {
            self.entries.retain(|e| !e.dead());
        }
        Some(e)
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = &Entry> + '_> {
        match &self.tree {
            Some(tree) => Box::new(tree.iter()),
            None => Box::new(self.entries.iter().filter(|e| !e.dead())),
        }
    }

    /// Allocated bytes, roughly: a deque slot per entry, or the chunks' slots.
    fn allocated_bytes(&self) -> usize {
        match &self.tree {
            Some(tree) => tree.allocated_bytes() + 64,
            None => self.entries.capacity() * std::mem::size_of::<Entry>() + 64,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SegStats {
    /// Bytes in the file.
    pub len: u64,
    /// Live messages whose current `Message` record is here, and their record bytes.
    pub live_msgs: u64,
    pub live_bytes: u64,
    /// Live queue positions whose newest `Enqueue` record is here.
    pub live_entries: u64,
}

impl SegStats {
    pub fn is_dead(&self) -> bool {
        self.live_msgs == 0 && self.live_entries == 0
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// By id. Sorted chunks rather than a hash map: ids come from a counter, so they
    /// arrive nearly in order and the chunks stay full (about 29 bytes a message,
    /// where a hash map's slots cost 25 bytes at 44–88% load, 28–57 bytes each).
    pub msgs: SortedChunks<MsgEntry>,
    pub queues: HashMap<u64, QueueIndex>,
    pub segs: BTreeMap<u32, SegStats>,
    /// Messages that had no reference at some point of this batch: dropped at its end
    /// if they still have none (a batch may release a message and re-enqueue it).
    maybe_unreferenced: Vec<u64>,
}

/// Roughly what a live queue position costs on disk (its `Enqueue` record), for the
/// "disk use ≤ 2 × live data" rule.
pub(crate) const ENTRY_DISK_BYTES: u64 = 37;

impl State {
    /// Checks an append before it is written: message ids must be new, enqueues must
    /// name a message the store holds or this batch writes. `batch_ids` collects this
    /// batch's message ids (and is left unchanged when the append is refused).
    pub fn validate(&self, records: &[Record], batch_ids: &mut HashSet<u64>) -> Result<(), String> {
        let mut added = Vec::new();
        let mut result = Ok(());
        for r in records {
            match r {
                Record::Message { id, .. } => {
                    if self.msgs.contains(*id) || !batch_ids.insert(*id) {
                        result = Err(format!("message id {id} is already stored"));
                        break;
                    }
                    added.push(*id);
                }
                Record::Enqueue {
                    queue,
                    seq,
                    message,
                }
                | Record::EnqueueDelivered {
                    queue,
                    seq,
                    message,
                } if !self.msgs.contains(*message) && !batch_ids.contains(message) => {
                    result = Err(format!(
                        "enqueue of message {message} (queue {queue}, seq {seq}), which the \
                         store does not hold"
                    ));
                    break;
                }
                _ => {}
            }
        }
        if result.is_err() {
            for id in added {
                batch_ids.remove(&id);
            }
        }
        result
    }

    fn seg(&mut self, n: u32) -> Option<&mut SegStats> {
        self.segs.get_mut(&n)
    }

    /// Applies one durable record written at `loc`.
    pub fn apply(&mut self, rec: &Record, loc: Location) {
        match rec {
            Record::Message { id, .. } => self.put_message(*id, loc),
            Record::Enqueue {
                queue,
                seq,
                message,
            } => self.enqueue(*queue, *seq, *message, loc.segment, 0),
            Record::EnqueueDelivered {
                queue,
                seq,
                message,
            } => self.enqueue(*queue, *seq, *message, loc.segment, DELIVERED),
            Record::Ack { queue, seqs } => {
                for &seq in seqs {
                    self.remove_entry(*queue, seq);
                }
            }
            Record::Delivered { queue, seqs } => {
                if let Some(q) = self.queues.get_mut(queue) {
                    for &seq in seqs {
                        if let Some(e) = q.get_mut(seq) {
                            e.flags |= DELIVERED;
                        }
                    }
                }
            }
            Record::QueueDeleted { queue } => {
                if let Some(q) = self.queues.remove(queue) {
                    for e in q.iter() {
                        if let Some(s) = self.seg(e.seg) {
                            s.live_entries = s.live_entries.saturating_sub(1);
                        }
                        self.release(e.msg);
                    }
                }
            }
        }
    }

    fn put_message(&mut self, id: u64, loc: Location) {
        let (old, refs) = match self.msgs.get(id) {
            Some(m) => (Some(*m), m.refs),
            None => (None, 0),
        };
        if let Some(old) = old {
            // A copy made by reclaim: the message moves.
            if let Some(s) = self.seg(old.seg) {
                s.live_msgs = s.live_msgs.saturating_sub(1);
                s.live_bytes = s.live_bytes.saturating_sub(old.len as u64);
            }
        } else {
            self.maybe_unreferenced.push(id);
        }
        self.msgs.insert(MsgEntry {
            id,
            seg: loc.segment,
            off: loc.offset,
            len: loc.len,
            refs,
        });
        if let Some(s) = self.seg(loc.segment) {
            s.live_msgs += 1;
            s.live_bytes += loc.len as u64;
        }
    }

    fn enqueue(&mut self, queue: u64, seq: u64, message: u64, seg: u32, flags: u8) {
        let q = self.queues.entry(queue).or_default();
        let old = q.get_mut(seq).map(|e| {
            let old = *e;
            e.seg = seg;
            e.msg = message;
            e.flags |= flags;
            old
        });
        match old {
            Some(old) => {
                // Reclaim's copy of a live position: it now lives in `seg`.
                if let Some(s) = self.seg(old.seg) {
                    s.live_entries = s.live_entries.saturating_sub(1);
                }
                if old.msg != message {
                    self.release(old.msg);
                    self.add_ref(message);
                }
            }
            None => {
                q.insert(Entry {
                    seq,
                    msg: message,
                    seg,
                    flags,
                });
                self.add_ref(message);
            }
        }
        if let Some(s) = self.seg(seg) {
            s.live_entries += 1;
        }
    }

    fn add_ref(&mut self, id: u64) {
        if let Some(m) = self.msgs.get_mut(id) {
            m.refs += 1;
        }
    }

    fn remove_entry(&mut self, queue: u64, seq: u64) {
        let Some(q) = self.queues.get_mut(&queue) else {
            return;
        };
        let Some(e) = q.remove(seq) else {
            return;
        };
        if let Some(s) = self.seg(e.seg) {
            s.live_entries = s.live_entries.saturating_sub(1);
        }
        self.release(e.msg);
    }

    fn release(&mut self, id: u64) {
        if let Some(m) = self.msgs.get_mut(id) {
            m.refs = m.refs.saturating_sub(1);
            if m.refs == 0 {
                self.maybe_unreferenced.push(id);
            }
        }
    }

    /// Ends a batch: messages that no queue refers to are gone.
    pub fn end_batch(&mut self) {
        for id in std::mem::take(&mut self.maybe_unreferenced) {
            if let Some(m) = self.msgs.get(id).copied() {
                if m.refs == 0 {
                    self.forget_message(id);
                }
            }
        }
    }

    /// Drops a message from the index (unreferenced, or unreadable during reclaim).
    pub fn forget_message(&mut self, id: u64) {
        if let Some(m) = self.msgs.remove(id) {
            if let Some(s) = self.seg(m.seg) {
                s.live_msgs = s.live_msgs.saturating_sub(1);
                s.live_bytes = s.live_bytes.saturating_sub(m.len as u64);
            }
        }
    }

    /// Bytes of live data, counting each live position as its `Enqueue` record.
    pub fn live_bytes(&self) -> u64 {
        self.segs
            .values()
            .map(|s| s.live_bytes + s.live_entries * ENTRY_DISK_BYTES)
            .sum()
    }

    pub fn disk_bytes(&self) -> u64 {
        self.segs.values().map(|s| s.len).sum()
    }

    /// Allocated bytes of the index: the chunks' slots of messages and positions.
    pub fn index_bytes(&self) -> u64 {
        let msgs = self.msgs.allocated_bytes();
        let queues: usize = self.queues.values().map(QueueIndex::allocated_bytes).sum();
        (msgs + queues) as u64
    }

    pub fn live_entries(&self) -> u64 {
        self.queues.values().map(|q| q.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn loc(segment: u32, offset: u32, len: u32) -> Location {
        Location {
            segment,
            offset,
            len,
        }
    }

    fn state(segs: &[u32]) -> State {
        let mut s = State::default();
        for &n in segs {
            s.segs.insert(n, SegStats::default());
        }
        s
    }

    fn msg(id: u64) -> Record {
        Record::Message {
            id,
            data: Bytes::new(),
        }
    }

    fn enq(queue: u64, seq: u64, message: u64) -> Record {
        Record::Enqueue {
            queue,
            seq,
            message,
        }
    }

    #[test]
    fn live_counts_follow_messages_and_positions() {
        let mut s = state(&[1, 2]);
        s.apply(&msg(10), loc(1, 32, 100));
        s.apply(&enq(1, 1, 10), loc(1, 132, 37));
        s.apply(&enq(2, 1, 10), loc(1, 169, 37));
        s.end_batch();
        let st = s.segs[&1];
        assert_eq!((st.live_msgs, st.live_bytes, st.live_entries), (1, 100, 2));
        assert_eq!(s.msgs.get(10).unwrap().refs, 2);

        s.apply(
            &Record::Ack {
                queue: 1,
                seqs: vec![1],
            },
            loc(2, 32, 29),
        );
        s.end_batch();
        assert_eq!(s.msgs.get(10).unwrap().refs, 1);
        assert_eq!(s.segs[&1].live_entries, 1);

        s.apply(&Record::QueueDeleted { queue: 2 }, loc(2, 61, 21));
        s.end_batch();
        assert!(s.msgs.is_empty());
        assert!(s.segs[&1].is_dead());
    }

    #[test]
    fn a_message_no_queue_took_is_dropped_at_the_end_of_the_batch() {
        let mut s = state(&[1]);
        s.apply(&msg(1), loc(1, 32, 50));
        s.end_batch();
        assert!(s.msgs.is_empty());
        assert!(s.segs[&1].is_dead());
    }

    #[test]
    fn released_and_re_enqueued_in_one_batch_stays() {
        // Dead-lettering: ack on one queue, enqueue on another, in one append.
        let mut s = state(&[1]);
        s.apply(&msg(1), loc(1, 32, 50));
        s.apply(&enq(1, 1, 1), loc(1, 82, 37));
        s.end_batch();
        s.apply(
            &Record::Ack {
                queue: 1,
                seqs: vec![1],
            },
            loc(1, 119, 29),
        );
        s.apply(&enq(2, 1, 1), loc(1, 148, 37));
        s.end_batch();
        assert_eq!(s.msgs.get(1).unwrap().refs, 1);
    }

    #[test]
    fn copies_move_messages_and_positions_keeping_flags() {
        let mut s = state(&[1, 2]);
        s.apply(&msg(1), loc(1, 32, 50));
        s.apply(&enq(1, 5, 1), loc(1, 82, 37));
        s.apply(
            &Record::Delivered {
                queue: 1,
                seqs: vec![5],
            },
            loc(1, 119, 29),
        );
        s.end_batch();
        s.apply(&msg(1), loc(2, 32, 50));
        s.apply(
            &Record::EnqueueDelivered {
                queue: 1,
                seq: 5,
                message: 1,
            },
            loc(2, 82, 37),
        );
        s.end_batch();
        assert!(s.segs[&1].is_dead());
        assert_eq!(s.segs[&2].live_msgs, 1);
        assert_eq!(s.segs[&2].live_entries, 1);
        assert_eq!(s.msgs.get(1).unwrap().refs, 1);
        assert!(s.queues[&1].get(5).unwrap().delivered());
    }

    #[test]
    fn validation() {
        let mut s = state(&[1]);
        s.apply(&msg(1), loc(1, 32, 50));
        s.apply(&enq(1, 1, 1), loc(1, 82, 37));
        s.end_batch();
        let mut ids = HashSet::new();
        assert!(s.validate(&[msg(1)], &mut ids).is_err());
        assert!(s.validate(&[enq(1, 2, 9)], &mut ids).is_err());
        assert!(s.validate(&[msg(2), enq(1, 2, 2)], &mut ids).is_ok());
        assert!(s.validate(&[enq(3, 1, 2)], &mut ids).is_ok(), "same batch");
        assert!(s.validate(&[msg(3), msg(2)], &mut ids).is_err());
        assert!(!ids.contains(&3), "a refused append leaves no trace");
    }

    #[test]
    fn queue_index_sweeps_tombstones() {
        let mut q = QueueIndex::default();
        for seq in 0..10_000 {
            q.insert(Entry {
                seq,
                msg: seq,
                seg: 1,
                flags: 0,
            });
        }
        // Ack everything but the first: tombstones pile up behind it, then are swept.
        for seq in 1..10_000 {
            q.remove(seq).unwrap();
        }
        assert_eq!(q.len(), 1);
        assert!(q.entries.len() < 2100, "{} entries kept", q.entries.len());
        q.remove(0).unwrap();
        assert!(q.entries.is_empty());
        // Out-of-order inserts land in order.
        for seq in [5, 3, 9, 1] {
            q.insert(Entry {
                seq,
                msg: 0,
                seg: 1,
                flags: 0,
            });
        }
        assert_eq!(
            q.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 3, 5, 9]
        );
    }

    #[test]
    fn queue_index_with_many_out_of_order_inserts_moves_to_sorted_chunks_and_stays_ordered() {
        let mut q = QueueIndex::default();
        // A pseudo-random permutation of 0..20_000 (7919 is prime to 20_000).
        let seqs: Vec<u64> = (0..20_000u64).map(|i| (i * 7919) % 20_000).collect();
        for &seq in &seqs {
            q.insert(Entry {
                seq,
                msg: seq,
                seg: 1,
                flags: 0,
            });
        }
        assert!(
            q.tree.is_some(),
            "out-of-order inserts moved it to sorted chunks"
        );
        assert_eq!(q.len(), 20_000);
        for seq in (0..20_000).step_by(2) {
            assert_eq!(q.remove(seq).map(|e| e.msg), Some(seq));
        }
        assert!(q.remove(0).is_none(), "gone already");
        q.get_mut(1).unwrap().flags |= DELIVERED;
        assert!(q.get(1).unwrap().delivered());
        let left: Vec<u64> = q.iter().map(|e| e.seq).collect();
        assert_eq!(left, (1..20_000).step_by(2).collect::<Vec<_>>());
    }
}
