//! Micro-benchmarks of the per-message codec work: decoding what a publisher sends,
//! encoding what a consumer receives, and decoding a header table.
//!
//! Run with `cargo bench -p amqp-codec`. Figures are per message (Throughput::Elements).
//! Decoding copies its input into a fresh buffer before each batch, untimed, so the
//! bytes are in cache as they would be right after a socket read.

use amqp_codec::{
    decode_frame, decode_table, encode_content, encode_deliver, encode_method, encode_table,
    scan_properties, BasicProperties, BasicPublish, FieldTable, FieldValue, Frame, Method,
};
use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const BATCH: usize = 100;
const FRAME_MAX: u32 = 131_072;

fn properties() -> Bytes {
    BasicProperties {
        content_type: Some("application/json".into()),
        delivery_mode: Some(2),
        message_id: Some("4f1d3c2a-8d8e-4a55-9a43-1f2a3b4c5d6e".into()),
        ..Default::default()
    }
    .encode()
}

fn headers() -> FieldTable {
    let mut t = FieldTable::new();
    t.insert("x-match", FieldValue::long_string("all"));
    t.insert("format", FieldValue::long_string("pdf"));
    t.insert("type", FieldValue::long_string("report"));
    t.insert("x-retries", FieldValue::I32(3));
    t.insert("x-first-seen", FieldValue::Timestamp(1_700_000_000));
    t.insert("priority-hint", FieldValue::U8(5));
    t.insert("trace", FieldValue::Bool(true));
    let mut nested = FieldTable::new();
    nested.insert("host", FieldValue::long_string("worker-17"));
    nested.insert("pid", FieldValue::I64(4242));
    t.insert("origin", FieldValue::Table(nested));
    t
}

fn publish_batch(body: &[u8]) -> Bytes {
    let props = properties();
    let mut buf = BytesMut::new();
    let publish = Method::BasicPublish(BasicPublish {
        exchange: "amq.direct".into(),
        routing_key: "orders.created".into(),
        mandatory: false,
        immediate: false,
    });
    for _ in 0..BATCH {
        encode_method(&mut buf, 1, &publish);
        encode_content(&mut buf, 1, 60, &props, body, FRAME_MAX);
    }
    buf.freeze()
}

fn decode_publish(c: &mut Criterion) {
    let body = vec![0x5a; 256];
    let input = publish_batch(&body);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("publish+header+body (256 B)", |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
            |mut buf| {
                while let Some(frame) = decode_frame(&mut buf, FRAME_MAX).unwrap() {
                    black_box(frame);
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("publish+header+body+scan_properties", |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
            |mut buf| {
                while let Some(frame) = decode_frame(&mut buf, FRAME_MAX).unwrap() {
                    if let Frame::Header { header, .. } = &frame {
                        black_box(scan_properties(&header.properties).unwrap());
                    }
                    black_box(frame);
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn encode_deliveries(c: &mut Criterion) {
    let props = properties();
    let body = vec![0x5a; 256];
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut buf = BytesMut::with_capacity(64 * 1024);
    group.bench_function("deliver+content (256 B)", |b| {
        b.iter(|| {
            buf.clear();
            for tag in 0..BATCH as u64 {
                encode_deliver(
                    &mut buf,
                    1,
                    "amq.ctag-Xb3kz9Q0r1t2y3u4i5o6p7",
                    tag + 1,
                    false,
                    "amq.direct",
                    "orders.created",
                );
                encode_content(&mut buf, 1, 60, &props, &body, FRAME_MAX);
            }
            black_box(buf.len());
        })
    });
    group.finish();
}

fn table_decode(c: &mut Criterion) {
    let mut encoded = BytesMut::new();
    encode_table(&mut encoded, &headers());
    let encoded = encoded.freeze();
    let mut group = c.benchmark_group("table");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("decode headers ({} B)", encoded.len()), |b| {
        b.iter(|| black_box(decode_table(black_box(&encoded)).unwrap()))
    });
    group.bench_function("decode_table_bytes (zero-copy)", |b| {
        b.iter(|| black_box(amqp_codec::decode_table_bytes(black_box(&encoded)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, decode_publish, encode_deliveries, table_decode);
criterion_main!(benches);
