//! Recovery (open: replay and index) of 100,000 persistent 1 KB messages in 8 queues,
//! a tenth of them acked, on the real disk (warm page cache). `examples/measure.rs`
//! times 1M from a cold cache.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warren_store::{Options, Record, StdIo, Store};

const N: u64 = 100_000;

fn recovery(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("warren-store-rbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let (store, _) = Store::open(&dir, Arc::new(StdIo), Options::default()).unwrap();
        let body = Bytes::from(vec![0xCD; 1024]);
        let mut inflight = std::collections::VecDeque::new();
        for i in 0..N {
            let id = store.new_message_id();
            let (queue, seq) = (i % 8, i / 8);
            let mut recs = vec![
                Record::Message {
                    id,
                    data: body.clone(),
                },
                Record::Enqueue {
                    queue,
                    seq,
                    message: id,
                },
            ];
            if i % 10 == 9 {
                recs.push(Record::Ack {
                    queue,
                    seqs: vec![seq],
                });
            }
            inflight.push_back(store.append(recs));
            if inflight.len() > 4096 {
                inflight.pop_front().unwrap().wait().unwrap();
            }
        }
        for t in inflight {
            t.wait().unwrap();
        }
    }
    let mut g = c.benchmark_group("recovery");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(N));
    g.bench_function("100k_1k_messages", |b| {
        b.iter(|| {
            let (store, rec) = Store::open(&dir, Arc::new(StdIo), Options::default()).unwrap();
            assert_eq!(rec.report.positions as u64, N - N / 10);
            drop(store);
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, recovery);
criterion_main!(benches);
