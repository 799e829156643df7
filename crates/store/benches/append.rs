//! Group commit on the real disk: 1 KB messages from 1 and 16 producers, each keeping a
//! window of appends in flight (as a confirm-mode publisher does). The figure is the
//! time per append; `examples/measure.rs` prints appends/s and fsyncs/s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use warren_store::{Options, Record, StdIo, Store};

fn run(store: &Store, producers: u64, window: usize, per_producer: u64) {
    let body = Bytes::from(vec![0xAB; 1024]);
    std::thread::scope(|s| {
        for q in 0..producers {
            let body = body.clone();
            s.spawn(move || {
                let mut inflight = std::collections::VecDeque::new();
                for seq in 0..per_producer {
                    let id = store.new_message_id();
                    inflight.push_back(store.append(vec![
                        Record::Message {
                            id,
                            data: body.clone(),
                        },
                        Record::Enqueue {
                            queue: q,
                            seq,
                            message: id,
                        },
                    ]));
                    if inflight.len() >= window {
                        inflight.pop_front().unwrap().wait().unwrap();
                    }
                }
                for t in inflight {
                    t.wait().unwrap();
                }
            });
        }
    });
}

fn group_commit(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("warren-store-bench-{}", std::process::id()));
    let mut g = c.benchmark_group("append_1k");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (producers, window) in [(1u64, 1usize), (1, 256), (16, 1), (16, 64)] {
        let per = if window == 1 { 200 } else { 5000 };
        g.throughput(Throughput::Elements(producers * per));
        g.bench_with_input(
            BenchmarkId::new(format!("{producers}_producers_window"), window),
            &(producers, window),
            |b, &(p, w)| {
                // A fresh store per iteration (not timed), so the log never grows
                // past what one iteration writes.
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let _ = std::fs::remove_dir_all(&dir);
                        let (store, _) =
                            Store::open(&dir, Arc::new(StdIo), Options::default()).unwrap();
                        let start = Instant::now();
                        run(&store, p, w, per);
                        total += start.elapsed();
                    }
                    total
                })
            },
        );
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, group_commit);
criterion_main!(benches);
