//! Routing one message to a fanout exchange bound to many queues: what
//! `Publisher::route` costs per destination queue (its de-duplication of queues
//! reached twice included).
//!
//! Run with `cargo bench -p warren-core --bench fanout_route`.

use amqp_codec::FieldTable;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use warren_core::access::Access;
use warren_core::vhost::{BindingSpec, DestName, ExchangeDeclare, QueueDeclare, VHost};
use warren_core::{Publisher, QueueRef};

fn fanout(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    for queues in [10usize, 1_000, 10_000] {
        let vhost = VHost::new("/", None);
        let access = Access::unrestricted("/");
        runtime.block_on(async {
            vhost
                .declare_exchange(ExchangeDeclare {
                    access: &access,
                    name: "fan",
                    kind: "fanout",
                    passive: false,
                    durable: false,
                    auto_delete: false,
                    internal: false,
                    arguments: FieldTable::new(),
                })
                .await
                .unwrap();
            for i in 0..queues {
                let name = format!("q{i}");
                vhost
                    .declare_queue(QueueDeclare {
                        access: &access,
                        name: &name,
                        passive: false,
                        durable: false,
                        exclusive: false,
                        auto_delete: false,
                        arguments: FieldTable::new(),
                        connection: 0,
                    })
                    .await
                    .unwrap();
                let spec = BindingSpec {
                    source: "fan".into(),
                    destination: DestName::Queue(name.as_str().into()),
                    routing_key: String::new(),
                    arguments: FieldTable::new(),
                };
                vhost.bind(&access, 0, spec, false).await.unwrap();
            }
        });
        let mut publisher = Publisher::new(vhost.clone(), access.clone());
        let exchange = publisher.exchange("fan").unwrap();
        let mut out: Vec<QueueRef> = Vec::with_capacity(queues);
        c.bench_function(&format!("fanout route to {queues} queues"), |b| {
            b.iter(|| {
                out.clear();
                publisher.route(&exchange, black_box(""), &[0, 0], &mut out);
                assert_eq!(out.len(), queues);
            })
        });
    }
}

criterion_group!(benches, fanout);
criterion_main!(benches);
