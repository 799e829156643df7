//! Deterministic simulation: random publishes (to one or two of several queues), acks
//! and delivery marks against the fault-injecting disk, with full disks, failing
//! fsyncs and crashes at random points, then a restart and a check against a model:
//!
//! - every position whose publish was confirmed and whose ack was never attempted
//!   comes back, exactly once, in seq order, with its data;
//! - nothing whose ack was confirmed comes back;
//! - a confirmed delivery mark comes back as `delivered`, and a position never marked
//!   does not;
//! - nothing comes back that was never published.
//!
//! The writer runs on the test's thread (`manual_writer`), so a seed replays exactly:
//! `SIM_SEED=1234 cargo test -p warren-store --test simulation` reruns one.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use warren_store::{MemIo, Options, Record, Recovered, SimRng, Store, StoreError, Ticket};

const QUEUES: u64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    None,
    Pending,
    Ok,
    /// Failed or never resolved: the record may or may not have reached the disk.
    Unsure,
}

#[derive(Debug, Clone)]
struct Pos {
    id: u64,
    data: Bytes,
    enq: St,
    ack: St,
    delivered: St,
}

enum Op {
    Publish(Vec<(u64, u64)>),
    Ack(u64, Vec<u64>),
    Deliver(u64, Vec<u64>),
}

struct Sim {
    seed: u64,
    rng: SimRng,
    io: MemIo,
    opts: Options,
    model: BTreeMap<(u64, u64), Pos>,
    next_seq: [u64; QUEUES as usize],
    outstanding: Vec<(Ticket, Op)>,
    restarts: u32,
    confirmed: u64,
}

fn resolve(model: &mut BTreeMap<(u64, u64), Pos>, op: &Op, ok: bool) -> u64 {
    let st = if ok { St::Ok } else { St::Unsure };
    match op {
        Op::Publish(positions) => {
            for p in positions {
                if let Some(m) = model.get_mut(p) {
                    m.enq = st;
                }
            }
            ok as u64
        }
        Op::Ack(q, seqs) | Op::Deliver(q, seqs) => {
            for s in seqs {
                if let Some(m) = model.get_mut(&(*q, *s)) {
                    if matches!(op, Op::Ack(..)) {
                        m.ack = st;
                    } else if m.delivered != St::Ok {
                        m.delivered = st;
                    }
                }
            }
            0
        }
    }
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = SimRng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let opts = Options {
            manual_writer: true,
            segment_size: 512 + rng.below(4096),
            copy_chunk: 256 + rng.below(2048) as usize,
            progress_every: u64::MAX,
            min_free_bytes: 0,
        };
        Sim {
            seed,
            rng,
            io: MemIo::new(seed),
            opts,
            model: BTreeMap::new(),
            next_seq: [0; QUEUES as usize],
            outstanding: Vec::new(),
            restarts: 0,
            confirmed: 0,
        }
    }

    fn open(&mut self) -> Store {
        let (store, rec) = Store::open(
            Path::new("/data"),
            Arc::new(self.io.clone()),
            self.opts.clone(),
        )
        .unwrap_or_else(|e| panic!("seed {}: open failed: {e}", self.seed));
        self.check(&store, &rec);
        store
    }

    fn check(&mut self, store: &Store, rec: &Recovered) {
        let seed = self.seed;
        let mut seen = BTreeMap::new();
        for (&q, msgs) in &rec.queues {
            let mut prev = None;
            for m in msgs {
                assert!(prev < Some(m.seq), "seed {seed}: queue {q} out of order");
                prev = Some(m.seq);
                let pos = self.model.get(&(q, m.seq)).unwrap_or_else(|| {
                    panic!(
                        "seed {seed}: ({q}, {}) came back but was never published",
                        m.seq
                    )
                });
                assert_eq!(pos.id, m.id, "seed {seed}: ({q}, {}) message id", m.seq);
                let data = store
                    .read(m.id, m.location)
                    .unwrap_or_else(|e| panic!("seed {seed}: read ({q}, {}): {e}", m.seq));
                assert_eq!(data, pos.data, "seed {seed}: ({q}, {}) data", m.seq);
                assert_ne!(
                    pos.ack,
                    St::Ok,
                    "seed {seed}: ({q}, {}) was acked but came back",
                    m.seq
                );
                match pos.delivered {
                    St::Ok => assert!(
                        m.delivered,
                        "seed {seed}: ({q}, {}) lost its delivered flag",
                        m.seq
                    ),
                    St::None => assert!(
                        !m.delivered,
                        "seed {seed}: ({q}, {}) delivered out of nowhere",
                        m.seq
                    ),
                    _ => {}
                }
                seen.insert((q, m.seq), m.delivered);
            }
        }
        for (k, pos) in &self.model {
            if pos.enq == St::Ok && pos.ack == St::None {
                assert!(
                    seen.contains_key(k),
                    "seed {seed}: confirmed {k:?} was lost (restart {})",
                    self.restarts
                );
            }
        }
        // What came back is now the truth; what did not is gone for good.
        self.model.retain(|k, _| seen.contains_key(k));
        for (k, pos) in self.model.iter_mut() {
            pos.enq = St::Ok;
            pos.ack = St::None;
            pos.delivered = if seen[k] { St::Ok } else { St::None };
        }
    }

    fn collect(&mut self) {
        let mut i = 0;
        while i < self.outstanding.len() {
            if let Some(r) = self.outstanding[i].0.try_take() {
                let (_, op) = self.outstanding.swap_remove(i);
                if let Err(e) = &r {
                    assert!(
                        matches!(e, StoreError::Io { .. } | StoreError::Closed),
                        "seed {}: unexpected error {e}",
                        self.seed
                    );
                }
                self.confirmed += resolve(&mut self.model, &op, r.is_ok());
            } else {
                i += 1;
            }
        }
    }

    fn publish(&mut self, store: &Store) {
        let mut records = Vec::new();
        let mut positions = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let id = store.new_message_id();
            let len = self.rng.below(300) as usize;
            let data = Bytes::from(vec![(id % 251) as u8; len]);
            records.push(Record::Message {
                id,
                data: data.clone(),
            });
            let q1 = self.rng.below(QUEUES);
            let mut qs = vec![q1];
            if self.rng.chance(4) {
                qs.push((q1 + 1) % QUEUES);
            }
            for q in qs {
                let seq = self.next_seq[q as usize];
                self.next_seq[q as usize] += 1;
                records.push(Record::Enqueue {
                    queue: q,
                    seq,
                    message: id,
                });
                positions.push((q, seq));
                self.model.insert(
                    (q, seq),
                    Pos {
                        id,
                        data: data.clone(),
                        enq: St::Pending,
                        ack: St::None,
                        delivered: St::None,
                    },
                );
            }
        }
        let t = store.append(records);
        self.outstanding.push((t, Op::Publish(positions)));
    }

    /// Acks or marks delivered a few positions of one queue, mostly the oldest.
    fn settle(&mut self, store: &Store, ack: bool) {
        let q = self.rng.below(QUEUES);
        let candidates: Vec<u64> = self
            .model
            .range((q, 0)..(q + 1, 0))
            .filter(|(_, p)| p.enq != St::Unsure && p.ack == St::None)
            .map(|(k, _)| k.1)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let n = 1 + self.rng.below(4) as usize;
        let mut seqs = Vec::new();
        for _ in 0..n {
            let i = if self.rng.chance(3) {
                self.rng.below(candidates.len() as u64) as usize
            } else {
                self.rng.below(candidates.len().min(3) as u64) as usize
            };
            if !seqs.contains(&candidates[i]) {
                seqs.push(candidates[i]);
            }
        }
        for s in &seqs {
            let p = self.model.get_mut(&(q, *s)).expect("candidate");
            if ack {
                p.ack = St::Pending;
            } else if p.delivered != St::Ok {
                p.delivered = St::Pending;
            }
        }
        let (rec, op) = if ack {
            (
                Record::Ack {
                    queue: q,
                    seqs: seqs.clone(),
                },
                Op::Ack(q, seqs),
            )
        } else {
            (
                Record::Delivered {
                    queue: q,
                    seqs: seqs.clone(),
                },
                Op::Deliver(q, seqs),
            )
        };
        let t = store.append(vec![rec]);
        self.outstanding.push((t, op));
    }

    fn crash_and_restart(&mut self, store: Store) -> Store {
        self.io.crash();
        store.step();
        drop(store);
        self.collect();
        assert!(self.outstanding.is_empty());
        // The operator frees space before restarting (a full disk fails `open` cleanly).
        self.io.set_space_limit(None);
        self.io.restart();
        self.restarts += 1;
        self.open()
    }

    fn run(mut self, ops: usize) -> (u32, u64) {
        let mut store = self.open();
        for _ in 0..ops {
            match self.rng.below(100) {
                0..=34 => self.publish(&store),
                35..=59 => self.settle(&store, true),
                60..=69 => self.settle(&store, false),
                70..=89 => {
                    store.step();
                    self.collect();
                }
                90..=92 => self.io.crash_after(self.rng.below(12)),
                93..=94 => {
                    let used = self.io.used();
                    self.io.set_space_limit(Some(used + self.rng.below(2000)));
                }
                95..=96 => self.io.set_space_limit(None),
                97 => self.io.fail_next_syncs(1),
                _ => store = self.crash_and_restart(store),
            }
            if self.io.is_crashed() {
                store = self.crash_and_restart(store);
            }
        }
        // Settle everything and check once more.
        self.io.set_space_limit(None);
        store.step();
        self.collect();
        let _ = self.crash_and_restart(store);
        (self.restarts, self.confirmed)
    }
}

#[test]
fn confirmed_messages_survive_crashes_exactly_once() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => (0..300).collect(),
    };
    let mut restarts = 0;
    let mut confirmed = 0;
    for seed in seeds {
        let (r, c) = Sim::new(seed).run(400);
        restarts += r;
        confirmed += c;
    }
    // The test must have exercised something.
    assert!(restarts > 300, "{restarts} restarts");
    assert!(confirmed > 1000, "{confirmed} confirmed publishes");
}

#[test]
fn long_run_with_tiny_segments_reclaims_and_recovers() {
    // Few crashes, many steps: reclaim (deletion and copy-forward) runs often.
    for seed in 1000..1010 {
        let mut sim = Sim::new(seed);
        sim.opts.segment_size = 600;
        let mut store = sim.open();
        let mut deleted = 0;
        for i in 0..3000 {
            match sim.rng.below(10) {
                0..=2 => sim.publish(&store),
                3..=6 => sim.settle(&store, true),
                7 => sim.settle(&store, false),
                _ => {
                    store.step();
                    sim.collect();
                }
            }
            if i % 1000 == 500 {
                deleted += store.stats().segments_deleted;
                store = sim.crash_and_restart(store);
            }
        }
        while store.step() {}
        sim.collect();
        let stats = store.stats();
        deleted += stats.segments_deleted;
        assert!(deleted > 30, "seed {seed}: {deleted} segments deleted");
        assert!(
            stats.disk_bytes <= 2 * stats.live_bytes + 3 * sim.opts.segment_size,
            "seed {seed}: disk use not bounded by the live data: {stats:?}"
        );
        let _ = sim.crash_and_restart(store);
    }
}
