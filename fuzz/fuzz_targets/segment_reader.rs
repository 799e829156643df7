//! Any byte sequence in the data directory: the segment reader and the whole recovery
//! (`Store::open` on a directory holding those bytes) must not panic, and must hand
//! back only messages that read back intact.
//!
//! The first byte picks the mode:
//! - 0: the input is a segment file, verbatim.
//! - 1: a valid segment header, then the input (reaches record parsing at once).
//! - 2: the input is `meta.log` (after a valid header), then `meta.snapshot`.
//! - 3: the input describes records (a small op language), which are written as a
//!   valid segment; then one byte is flipped and the file cut where the input says.
//!   Without damage, recovery must match a model replay exactly; with damage, every
//!   message it returns must be one that was written, at its place in its queue.

#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use warren_store::raw::{FileHeader, Scanned, Scanner, FILE_HEADER, KIND_META, SEGMENT_MAGIC};
use warren_store::{Io, MemIo, Options, Record, Store};

const DIR: &str = "/data";
const SEG: &str = "/data/msgs/00000001.seg";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => segment_bytes(rest.to_vec()),
        1 => {
            let mut file = FileHeader::new(SEGMENT_MAGIC, 1, 0).encode().to_vec();
            file.extend_from_slice(rest);
            segment_bytes(file)
        }
        2 => meta_bytes(rest),
        _ => structured(rest),
    }
});

fn opts() -> Options {
    Options {
        manual_writer: true,
        segment_size: 4096,
        ..Options::default()
    }
}

fn scan_all(io: &MemIo, path: &Path) {
    let f = io.open(path).unwrap();
    let len = f.len().unwrap();
    let mut s = Scanner::new(&*f, 1, FILE_HEADER.min(len), len);
    let mut last = 0u64;
    while let Some(item) = s.next_item().unwrap() {
        let (off, n) = match item {
            Scanned::Frame { offset, frame } => (offset, frame.len as u64),
            Scanned::Corrupt {
                offset, skipped, ..
            } => (offset, skipped),
            Scanned::TornTail {
                offset, dropped, ..
            } => (offset, dropped),
        };
        assert!(off >= last && n > 0 && off + n <= len, "items tile the file");
        last = off + n;
    }
}

fn segment_bytes(file: Vec<u8>) {
    let io = MemIo::new(1);
    io.write_file(Path::new(SEG), &file);
    scan_all(&io, Path::new(SEG));
    open_and_read(&io);
}

fn meta_bytes(rest: &[u8]) {
    let io = MemIo::new(1);
    let mut log = warren_store::raw::FileHeader::new(*b"WRNMETAL", 0, 0)
        .encode()
        .to_vec();
    log.extend_from_slice(rest);
    io.write_file(Path::new("/data/meta.log"), &log);
    if rest.first().is_some_and(|b| b & 1 == 1) {
        io.write_file(Path::new("/data/meta.snapshot"), rest);
    }
    let _ = KIND_META;
    open_and_read(&io);
}

/// Opens the store on `io`; whatever it returns must read back (or fail cleanly).
fn open_and_read(io: &MemIo) -> Option<BTreeMap<u64, Vec<(u64, u64, Bytes, bool)>>> {
    let (store, rec) = Store::open(DIR, Arc::new(io.clone()), opts()).ok()?;
    let mut out = BTreeMap::new();
    for (&q, msgs) in &rec.queues {
        let mut list = Vec::new();
        let mut prev = None;
        for m in msgs {
            assert!(prev < Some(m.seq), "seq order");
            prev = Some(m.seq);
            let data = store.read(m.id, m.location).expect("recovered messages read back");
            list.push((m.seq, m.id, data, m.delivered));
        }
        out.insert(q, list);
    }
    // The store must keep working on what it recovered.
    let id = store.new_message_id();
    let mut t = store.append(vec![
        Record::Message {
            id,
            data: Bytes::from_static(b"after"),
        },
        Record::Enqueue {
            queue: 1 << 40,
            seq: 0,
            message: id,
        },
    ]);
    store.step();
    t.try_take().expect("resolved").expect("append after recovery");
    Some(out)
}

/// A little op language over the input bytes.
fn records_from(input: &[u8]) -> (Vec<Record>, usize) {
    let mut recs = Vec::new();
    let mut next_id = 0u64;
    let mut next_seq: HashMap<u64, u64> = HashMap::new();
    let mut i = 0;
    while i + 2 <= input.len() && recs.len() < 200 {
        let (op, arg) = (input[i], input[i + 1]);
        i += 2;
        let queue = (arg % 3) as u64;
        match op % 5 {
            0 | 1 => {
                let id = next_id;
                next_id += 1;
                let len = (arg as usize * 7) % 300;
                recs.push(Record::Message {
                    id,
                    data: Bytes::from(vec![arg; len]),
                });
                let seq = next_seq.entry(queue).or_default();
                recs.push(Record::Enqueue {
                    queue,
                    seq: *seq,
                    message: id,
                });
                *seq += 1;
                if op % 5 == 1 {
                    // Fan-out to a second queue.
                    let q2 = queue + 10;
                    let s2 = next_seq.entry(q2).or_default();
                    recs.push(Record::Enqueue {
                        queue: q2,
                        seq: *s2,
                        message: id,
                    });
                    *s2 += 1;
                }
            }
            2 => recs.push(Record::Ack {
                queue,
                seqs: vec![(arg / 3) as u64 % 8, (arg / 24) as u64],
            }),
            3 if arg & 0x80 != 0 && next_id > 0 => {
                // A copy as reclaim makes it: an existing message, delivered.
                recs.push(Record::EnqueueDelivered {
                    queue,
                    seq: (arg / 3) as u64 % 8,
                    message: (arg as u64) % next_id,
                })
            }
            3 => recs.push(Record::Delivered {
                queue,
                seqs: vec![(arg / 3) as u64 % 8],
            }),
            _ => {
                if arg % 16 == 0 {
                    recs.push(Record::QueueDeleted { queue });
                }
            }
        }
    }
    (recs, i)
}

type Model = BTreeMap<u64, Vec<(u64, u64, Bytes, bool)>>;

fn model(recs: &[Record]) -> Model {
    let mut msgs = HashMap::new();
    let mut queues: BTreeMap<u64, BTreeMap<u64, (u64, bool)>> = BTreeMap::new();
    for r in recs {
        match r {
            Record::Message { id, data } => {
                msgs.insert(*id, data.clone());
            }
            Record::Enqueue {
                queue,
                seq,
                message,
            } => {
                let q = queues.entry(*queue).or_default();
                let d = q.get(seq).is_some_and(|e| e.1);
                q.insert(*seq, (*message, d));
            }
            Record::EnqueueDelivered {
                queue,
                seq,
                message,
            } => {
                queues.entry(*queue).or_default().insert(*seq, (*message, true));
            }
            Record::Ack { queue, seqs } => {
                if let Some(q) = queues.get_mut(queue) {
                    for s in seqs {
                        q.remove(s);
                    }
                }
            }
            Record::Delivered { queue, seqs } => {
                if let Some(q) = queues.get_mut(queue) {
                    for s in seqs {
                        if let Some(e) = q.get_mut(s) {
                            e.1 = true;
                        }
                    }
                }
            }
            Record::QueueDeleted { queue } => {
                queues.remove(queue);
            }
        }
    }
    queues
        .into_iter()
        .map(|(q, m)| {
            let list = m
                .into_iter()
                .map(|(seq, (id, d))| (seq, id, msgs[&id].clone(), d))
                .collect();
            (q, list)
        })
        .collect()
}

fn structured(input: &[u8]) {
    let (recs, used) = records_from(input);
    let mut file = FileHeader::new(SEGMENT_MAGIC, 1, 0).encode().to_vec();
    for r in &recs {
        let at = file.len() as u64;
        r.encode(1, at, &mut file);
    }
    let tail = &input[used..];
    let mut damaged = false;
    if tail.len() >= 3 {
        let at = u16::from_le_bytes([tail[0], tail[1]]) as usize % file.len();
        if tail[2] & 1 == 1 {
            file[at] ^= tail[2] | 1;
        } else {
            file.truncate(at);
        }
        damaged = true;
    }
    let io = MemIo::new(2);
    io.write_file(Path::new(SEG), &file);
    let got = open_and_read(&io).expect("a damaged segment never stops recovery");
    let want = model(&recs);
    let strip = |m: &Model| -> Model {
        m.iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    };
    if !damaged {
        assert_eq!(strip(&got), strip(&want));
        return;
    }
    // Damaged: every message recovered was written, with its data, in its queue. (It
    // may be one the model had acked, if the damage took the ack.)
    let written: HashMap<u64, Bytes> = recs
        .iter()
        .filter_map(|r| match r {
            Record::Message { id, data } => Some((*id, data.clone())),
            _ => None,
        })
        .collect();
    for list in got.values() {
        for (_, id, data, _) in list {
            assert_eq!(written.get(id), Some(data), "message {id} is intact");
        }
    }
}
