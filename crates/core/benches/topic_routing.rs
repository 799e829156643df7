//! Routing-table micro-benchmarks: a topic exchange with 10,000 bindings of realistic
//! shapes, each to its own destination, and a direct exchange of the same size.
//!
//! Run with `cargo bench -p warren-core --bench topic_routing`.

use amqp_codec::{FieldTable, FieldValue};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use warren_core::exchange::{ExchangeKind, Router};

/// Stands in for the broker's queue handle: cheap to clone, compared by name.
type Dest = Arc<str>;

const BINDINGS: usize = 10_000;

const DOMAINS: [&str; 12] = [
    "orders", "trades", "quotes", "audit", "users", "billing", "metrics", "logs", "alerts",
    "search", "email", "jobs",
];
const REGIONS: [&str; 8] = ["eu", "us", "apac", "latam", "mea", "cn", "jp", "uk"];

fn word(prefix: &str, n: usize) -> String {
    format!("{prefix}{n}")
}

/// A binding key of one of the shapes seen on real topic exchanges.
fn pattern(rng: &mut StdRng) -> String {
    let domain = DOMAINS[rng.random_range(0..DOMAINS.len())];
    let region = REGIONS[rng.random_range(0..REGIONS.len())];
    let entity = word("e", rng.random_range(0..200));
    match rng.random_range(0..10) {
        0..=2 => format!("stock.{}.*", word("sym", rng.random_range(0..3000))),
        3 => format!("#.{region}"),
        4 => format!("{domain}.*.{region}"),
        5 => format!("{domain}.{entity}.#"),
        6 => format!("*.{entity}.{region}"),
        7 => format!("{domain}.#"),
        _ => format!("{domain}.{entity}.{region}"),
    }
}

fn topic_router() -> Router<Dest> {
    let mut rng = StdRng::seed_from_u64(42);
    let mut r = Router::new(ExchangeKind::Topic);
    let none = FieldTable::new();
    for i in 0..BINDINGS {
        r.bind(&pattern(&mut rng), &none, format!("q{i}").into());
    }
    r
}

fn topic(c: &mut Criterion) {
    let r = topic_router();
    let mut out: Vec<Dest> = Vec::with_capacity(256);
    for key in ["stock.sym42.nyse", "orders.e17.eu", "nomatch.x.y"] {
        out.clear();
        r.route(key, None, &mut out);
        println!("topic: {key:?} -> {} destinations", out.len());
    }

    let mut g = c.benchmark_group("topic_10k");
    g.bench_function("route_match_stock", |b| {
        b.iter(|| {
            out.clear();
            r.route(black_box("stock.sym42.nyse"), None, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("route_match_orders_eu", |b| {
        b.iter(|| {
            out.clear();
            r.route(black_box("orders.e17.eu"), None, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("route_miss", |b| {
        b.iter(|| {
            out.clear();
            r.route(black_box("nomatch.x.y"), None, &mut out);
            black_box(out.len())
        })
    });
    let mut r = r;
    let none = FieldTable::new();
    let dest: Dest = "bench-q".into();
    g.bench_function("bind_then_unbind", |b| {
        b.iter(|| {
            let added = r.bind(black_box("audit.e5.*.deep.#"), &none, dest.clone());
            let removed = r.unbind(black_box("audit.e5.*.deep.#"), &none, &dest);
            black_box((added, removed))
        })
    });
    g.sample_size(10);
    g.bench_function("build_10k", |b| b.iter(|| black_box(topic_router().len())));
    g.bench_function("unbind_destination_all_10k", |b| {
        b.iter_batched(
            topic_router,
            |mut r| {
                for i in 0..BINDINGS {
                    let d: Dest = format!("q{i}").into();
                    r.unbind_destination(&d);
                }
                r
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn direct(c: &mut Criterion) {
    let mut r: Router<Dest> = Router::new(ExchangeKind::Direct);
    let none = FieldTable::new();
    for i in 0..BINDINGS {
        r.bind(&format!("task.queue.{i}"), &none, format!("q{i}").into());
    }
    let mut out: Vec<Dest> = Vec::with_capacity(16);
    let mut g = c.benchmark_group("direct_10k");
    g.bench_function("route_hit", |b| {
        b.iter(|| {
            out.clear();
            r.route(black_box("task.queue.4242"), None, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("route_miss", |b| {
        b.iter(|| {
            out.clear();
            r.route(black_box("task.queue.x"), None, &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn headers(c: &mut Criterion) {
    let mut r: Router<Dest> = Router::new(ExchangeKind::Headers);
    for i in 0..100 {
        let mut args = FieldTable::new();
        args.insert(
            "x-match",
            FieldValue::long_string(if i % 2 == 0 { "all" } else { "any" }),
        );
        args.insert("type", FieldValue::long_string(format!("t{}", i % 10)));
        args.insert(
            "region",
            FieldValue::long_string(REGIONS[i % REGIONS.len()]),
        );
        r.bind("", &args, format!("q{i}").into());
    }
    let mut headers = FieldTable::new();
    headers.insert("type", FieldValue::long_string("t3"));
    headers.insert("region", FieldValue::long_string("eu"));
    headers.insert("trace-id", FieldValue::long_string("abc"));
    let mut out: Vec<Dest> = Vec::with_capacity(128);
    c.bench_function("headers_100/route_unsorted_headers", |b| {
        b.iter(|| {
            out.clear();
            r.route("", black_box(Some(&headers)), &mut out);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, topic, direct, headers);
criterion_main!(benches);
