//! Measures group commit and recovery on the real disk (the figures in docs/storage.md):
//!
//!     cargo run --release -p warren-store --example measure -- [DIR] [MESSAGES]
//!
//! DIR defaults to target/store-measure (removed first), MESSAGES (for recovery) to
//! 1,000,000. Every message is 1 KB. The last step pushes 10 GB through a queue that
//! holds a small backlog, to show disk use staying small.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warren_store::{Options, Record, StdIo, Store, Ticket};

const BODY: usize = 1024;

fn message(store: &Store, queue: u64, seq: u64, body: &Bytes) -> Vec<Record> {
    let id = store.new_message_id();
    vec![
        Record::Message {
            id,
            data: body.clone(),
        },
        Record::Enqueue {
            queue,
            seq,
            message: id,
        },
    ]
}

/// `producers` threads publish for `secs`, each keeping up to `window` appends in
/// flight (1: wait for each confirm before the next publish).
fn throughput(dir: &std::path::Path, producers: u64, window: usize, secs: f64) {
    let _ = std::fs::remove_dir_all(dir);
    let (store, _) = Store::open(dir, Arc::new(StdIo), Options::default()).unwrap();
    let body = Bytes::from(vec![0xAB; BODY]);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..producers)
        .map(|q| {
            let (store, body, stop) = (store.clone(), body.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut inflight: std::collections::VecDeque<Ticket> = Default::default();
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    inflight.push_back(store.append(message(&store, q, seq, &body)));
                    seq += 1;
                    if inflight.len() >= window {
                        inflight.pop_front().unwrap().wait().unwrap();
                    }
                }
                for t in inflight {
                    t.wait().unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let el = start.elapsed().as_secs_f64();
    let s = store.stats();
    println!(
        "{producers:>2} producer(s), window {window:>4}: {:>9.0} appends/s, {:>7.0} fsyncs/s, \
         {:>6.1} appends/fsync, {:>6.1} MB/s",
        s.appends as f64 / el,
        s.syncs as f64 / el,
        s.appends as f64 / s.syncs.max(1) as f64,
        s.bytes_written as f64 / el / 1e6
    );
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn recovery(dir: &std::path::Path, n: u64) {
    let _ = std::fs::remove_dir_all(dir);
    let (store, _) = Store::open(dir, Arc::new(StdIo), Options::default()).unwrap();
    let body = Bytes::from(vec![0xCD; BODY]);
    let start = Instant::now();
    let mut inflight = std::collections::VecDeque::new();
    for seq in 0..n {
        inflight.push_back(store.append(message(&store, seq % 16, seq / 16, &body)));
        if inflight.len() >= 4096 {
            inflight.pop_front().unwrap().wait().unwrap();
        }
    }
    for t in inflight {
        t.wait().unwrap();
    }
    let s = store.stats();
    println!(
        "wrote {n} messages of {BODY} B to 16 queues in {:.1} s ({} MiB on disk)",
        start.elapsed().as_secs_f64(),
        s.disk_bytes >> 20
    );
    drop(store);
    // Page cache dropped where allowed (root), so this is a cold read; else warm.
    let cold = std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok();
    let rss0 = rss_bytes();
    let start = Instant::now();
    let (store, rec) = Store::open(dir, Arc::new(StdIo), Options::default()).unwrap();
    let el = start.elapsed();
    let positions: usize = rec.queues.values().map(Vec::len).sum();
    assert_eq!(positions as u64, n);
    let rss1 = rss_bytes();
    let s = store.stats();
    println!(
        "recovered {positions} messages ({} MiB) in {:.2} s, {} page cache; RSS +{} MiB \
         (store index {} MiB = {:.0} B/message; the Recovered lists {} B/message)",
        rec.report.bytes >> 20,
        el.as_secs_f64(),
        if cold { "cold" } else { "warm" },
        (rss1.saturating_sub(rss0)) >> 20,
        s.index_bytes >> 20,
        s.index_bytes as f64 / n as f64,
        std::mem::size_of::<warren_store::RecoveredMessage>()
    );
}

/// `total_mb` of 1 KB messages through one queue that keeps a backlog of `backlog`
/// (each append acks the message published `backlog` appends earlier), plus one
/// message that is never acked: disk use must stay near the backlog.
fn reclaim(dir: &std::path::Path, total_mb: u64, backlog: u64) {
    let _ = std::fs::remove_dir_all(dir);
    let (store, _) = Store::open(dir, Arc::new(StdIo), Options::default()).unwrap();
    let body = Bytes::from(vec![0xEF; BODY]);
    store.append(message(&store, 99, 0, &body)).wait().unwrap();
    let n = total_mb * 1_000_000 / BODY as u64;
    let start = Instant::now();
    let mut inflight = std::collections::VecDeque::new();
    let mut max_disk = 0;
    for seq in 0..n {
        let mut recs = message(&store, 1, seq, &body);
        if seq >= backlog {
            recs.push(Record::Ack {
                queue: 1,
                seqs: vec![seq - backlog],
            });
        }
        inflight.push_back(store.append(recs));
        if inflight.len() >= 1024 {
            inflight.pop_front().unwrap().wait().unwrap();
        }
        if seq % 10_000 == 0 {
            max_disk = max_disk.max(store.stats().disk_bytes);
        }
    }
    for t in inflight {
        t.wait().unwrap();
    }
    let s = store.stats();
    println!(
        "reclaim: {} MB through a queue with a backlog of {backlog} (+1 never acked) in {:.1} s: \
         disk peaked at {} MiB, ends at {} MiB for {} KiB live; {} segments deleted, {} KiB \
         copied forward",
        s.bytes_written / 1_000_000,
        start.elapsed().as_secs_f64(),
        max_disk >> 20,
        s.disk_bytes >> 20,
        s.live_bytes >> 10,
        s.segments_deleted,
        s.bytes_copied >> 10
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or("target/store-measure".into()));
    let n: u64 = args.next().map_or(1_000_000, |a| a.parse().unwrap());
    for (producers, window) in [(1, 1), (1, 256), (16, 1), (16, 64)] {
        throughput(&dir, producers, window, 3.0);
    }
    recovery(&dir, n);
    reclaim(&dir, 10_000, 1000);
    let _ = std::fs::remove_dir_all(&dir);
}
