//! The Prometheus exporter over HTTP: `/metrics` and `/metrics/per-object` with
//! RabbitMQ's metric names, types and labels, their values following what AMQP
//! clients do, no credentials needed, and the optional port of its own.

mod http_common;

use http_common::{start, start_with, t, unique, TestApi};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// One scrape, parsed: each family's type and help, and every sample.
#[derive(Debug, Default)]
struct Scrape {
    types: HashMap<String, String>,
    helps: HashMap<String, String>,
    samples: Vec<Sample>,
}

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A small parser of the text exposition format: it fails the test on any line
/// that is not a `# TYPE`, a `# HELP` or a sample of a family typed before it.
fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "untyped"].contains(&kind),
                "bad type in {line:?}"
            );
            let old = scrape.types.insert(name.into(), kind.into());
            assert!(old.is_none(), "family {name} typed twice");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "empty help for {name}");
            scrape.helps.insert(name.into(), help.into());
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("number in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => (
                name.to_string(),
                parse_labels(rest.strip_suffix('}').expect("closing brace")),
            ),
        };
        assert!(
            scrape.types.contains_key(&name) && scrape.helps.contains_key(&name),
            "sample {name} before its TYPE and HELP"
        );
        scrape.samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    scrape
}

/// `a="x",b="y\"z"` into a map, undoing the format's escapes.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label {name} quoted");
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => panic!("dangling escape"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

impl Scrape {
    /// The value of the unlabelled sample of `name`.
    fn value(&self, name: &str) -> f64 {
        let found: Vec<&Sample> = self.samples.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "one sample of {name}: {found:?}");
        assert!(found[0].labels.is_empty(), "{name} is unlabelled");
        found[0].value
    }

    /// The samples of `name` whose labels include `labels`.
    fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the one sample of `name` with `labels`.
    fn labelled(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.matching(name, labels);
        assert_eq!(found.len(), 1, "one {name} with {labels:?}: {found:?}");
        found[0].value
    }

    fn kind(&self, name: &str) -> &str {
        self.types
            .get(name)
            .unwrap_or_else(|| panic!("no family {name}"))
    }
}

async fn scrape(api: &TestApi, path: &str) -> Scrape {
    let reply = api.raw("GET", path, None, None).await;
    assert_eq!(reply.status, 200, "GET {path} without credentials");
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(std::str::from_utf8(&reply.body).expect("UTF-8"))
}

/// Scrapes `path` until `check` holds (queue gauges refresh once per queue turn).
async fn scrape_until(api: &TestApi, path: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let s = scrape(api, path).await;
        if check(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scrape never matched: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn aggregated_metrics_have_rabbitmq_names_and_types() {
    let api = start().await;
    let s = scrape(&api, "/metrics").await;
    for (name, kind) in [
        ("rabbitmq_connections", "gauge"),
        ("rabbitmq_channels", "gauge"),
        ("rabbitmq_consumers", "gauge"),
        ("rabbitmq_queues", "gauge"),
        ("rabbitmq_queue_messages_ready", "gauge"),
        ("rabbitmq_queue_messages_unacked", "gauge"),
        ("rabbitmq_queue_messages", "gauge"),
        ("rabbitmq_connections_opened_total", "counter"),
        ("rabbitmq_connections_closed_total", "counter"),
        ("rabbitmq_queues_declared_total", "counter"),
        ("rabbitmq_queues_created_total", "counter"),
        ("rabbitmq_queues_deleted_total", "counter"),
        ("rabbitmq_channel_messages_published_total", "counter"),
        ("rabbitmq_channel_messages_confirmed_total", "counter"),
        (
            "rabbitmq_channel_messages_unroutable_dropped_total",
            "counter",
        ),
        (
            "rabbitmq_channel_messages_unroutable_returned_total",
            "counter",
        ),
        ("rabbitmq_channel_messages_redelivered_total", "counter"),
        ("rabbitmq_process_resident_memory_bytes", "gauge"),
        ("rabbitmq_disk_space_available_bytes", "gauge"),
        ("rabbitmq_alarms_memory_used_watermark", "untyped"),
        ("rabbitmq_alarms_free_disk_space_watermark", "untyped"),
        ("rabbitmq_build_info", "untyped"),
        ("rabbitmq_identity_info", "untyped"),
    ] {
        assert_eq!(s.kind(name), kind, "type of {name}");
    }
    // Aggregated: every family but the info ones is one unlabelled sample.
    for sample in &s.samples {
        if !sample.name.ends_with("_info") {
            assert!(sample.labels.is_empty(), "{sample:?} is unlabelled");
        }
    }
    assert_eq!(s.value("rabbitmq_queues"), 0.0);
    assert_eq!(s.value("rabbitmq_connections"), 0.0);
    assert_eq!(s.value("rabbitmq_alarms_memory_used_watermark"), 0.0);
    assert!(s.value("rabbitmq_process_resident_memory_bytes") > 1_000_000.0);
    assert!(s.value("rabbitmq_resident_memory_limit_bytes") > 0.0);
    assert_eq!(
        s.value("rabbitmq_disk_space_available_limit_bytes"),
        warren::DEFAULT_DISK_FREE_LIMIT as f64
    );
    let build = s.matching("rabbitmq_build_info", &[]);
    assert_eq!(build[0].labels["rabbitmq_version"], "3.10.8");
    let node = warren_http::node_name();
    assert_eq!(
        s.labelled("rabbitmq_identity_info", &[("rabbitmq_node", &node)]),
        1.0
    );
}

#[tokio::test]
async fn aggregated_values_follow_amqp_traffic() {
    let api = start().await;
    let queue = unique("prom");
    let conn = api.amqp().await;
    let ch = t(conn.create_channel()).await.expect("channel");
    t(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .expect("confirm.select");
    t(ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("declare");
    let publish = |key: String, mandatory: bool| {
        let ch = ch.clone();
        async move {
            t(t(ch.basic_publish(
                "".into(),
                key.as_str().into(),
                BasicPublishOptions {
                    mandatory,
                    ..Default::default()
                },
                b"m",
                BasicProperties::default(),
            ))
            .await
            .expect("publish"))
            .await
            .expect("confirm");
        }
    };
    for _ in 0..3 {
        publish(queue.clone(), false).await;
    }
    publish(unique("nowhere"), false).await;
    publish(unique("nowhere"), true).await;
    let s = scrape_until(&api, "/metrics", |s| {
        s.value("rabbitmq_queue_messages_ready") == 3.0
    })
    .await;
    assert_eq!(s.value("rabbitmq_queues"), 1.0);
    assert_eq!(s.value("rabbitmq_queue_messages"), 3.0);
    assert_eq!(s.value("rabbitmq_connections"), 1.0);
    assert_eq!(s.value("rabbitmq_channels"), 1.0);
    assert_eq!(s.value("rabbitmq_connections_opened_total"), 1.0);
    assert_eq!(s.value("rabbitmq_queues_created_total"), 1.0);
    assert_eq!(s.value("rabbitmq_queues_declared_total"), 1.0);
    assert_eq!(s.value("rabbitmq_channel_messages_published_total"), 5.0);
    assert_eq!(s.value("rabbitmq_channel_messages_confirmed_total"), 5.0);
    assert_eq!(
        s.value("rabbitmq_channel_messages_unroutable_dropped_total"),
        1.0
    );
    assert_eq!(
        s.value("rabbitmq_channel_messages_unroutable_returned_total"),
        1.0
    );
    assert_eq!(s.value("rabbitmq_queue_messages_published_total"), 3.0);
    assert!(s.value("rabbitmq_connection_incoming_bytes_total") > 0.0);

    // One get with manual ack, acknowledged; one requeued and fetched again.
    let got = t(ch.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false }))
        .await
        .expect("get")
        .expect("a message");
    t(got.delivery.ack(BasicAckOptions::default()))
        .await
        .expect("ack");
    let got = t(ch.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false }))
        .await
        .expect("get")
        .expect("a message");
    t(got.delivery.nack(lapin::options::BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .expect("nack");
    let s = scrape_until(&api, "/metrics", |s| {
        s.value("rabbitmq_queue_messages_ready") == 2.0
    })
    .await;
    assert_eq!(s.value("rabbitmq_channel_get_ack_total"), 2.0);
    assert_eq!(s.value("rabbitmq_channel_messages_acked_total"), 1.0);
    assert_eq!(s.value("rabbitmq_channel_messages_redelivered_total"), 0.0);
    t(ch.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true }))
        .await
        .expect("get")
        .expect("the requeued message first");
    let s = scrape(&api, "/metrics").await;
    assert_eq!(s.value("rabbitmq_channel_get_total"), 1.0);
    assert_eq!(s.value("rabbitmq_channel_messages_redelivered_total"), 1.0);

    t(ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()))
        .await
        .expect("delete");
    t(conn.close(200, "bye".into())).await.expect("close");
    // Counters of the closed channel stay in the totals; the gauges drop.
    let s = scrape_until(&api, "/metrics", |s| {
        s.value("rabbitmq_connections_closed_total") == 1.0
            && s.value("rabbitmq_channels_closed_total") == 1.0
    })
    .await;
    assert_eq!(s.value("rabbitmq_connections"), 0.0);
    assert_eq!(s.value("rabbitmq_channels"), 0.0);
    assert_eq!(s.value("rabbitmq_queues"), 0.0);
    assert_eq!(s.value("rabbitmq_queues_deleted_total"), 1.0);
    assert_eq!(s.value("rabbitmq_channel_messages_published_total"), 5.0);
    assert_eq!(s.value("rabbitmq_channel_get_ack_total"), 2.0);
}

#[tokio::test]
async fn per_object_metrics_label_queues_channels_and_connections() {
    let api = start().await;
    let (full, empty) = (unique("prom-full"), unique("prom-\"odd\"-name"));
    let conn = api.amqp().await;
    let ch = t(conn.create_channel()).await.expect("channel");
    for q in [&full, &empty] {
        t(ch.queue_declare(
            q.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        ))
        .await
        .expect("declare");
    }
    t(ch.basic_qos(7, Default::default())).await.expect("qos");
    for _ in 0..2 {
        t(ch.basic_publish(
            "".into(),
            full.as_str().into(),
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        ))
        .await
        .expect("publish");
    }
    let ready = |s: &Scrape| {
        s.matching("rabbitmq_queue_messages_ready", &[("queue", &full)])
            .first()
            .is_some_and(|x| x.value == 2.0)
    };
    let s = scrape_until(&api, "/metrics/per-object", ready).await;
    assert_eq!(
        s.labelled(
            "rabbitmq_queue_messages_ready",
            &[("vhost", "/"), ("queue", &full)]
        ),
        2.0
    );
    assert_eq!(
        s.labelled("rabbitmq_queue_messages", &[("queue", &empty)]),
        0.0,
        "a name with quotes survives the label escaping"
    );
    assert_eq!(
        s.labelled(
            "rabbitmq_queue_messages_published_total",
            &[("queue_vhost", "/"), ("queue", &full)]
        ),
        2.0
    );
    // The channel and connection labels are the names the HTTP API lists.
    let listed = api.get_ok("/api/connections").await;
    let conn_name = listed[0]["name"].as_str().expect("connection name");
    let channel_name = format!("{conn_name} (1)");
    assert_eq!(
        s.labelled("rabbitmq_consumer_prefetch", &[("channel", &channel_name)]),
        7.0
    );
    assert_eq!(
        s.labelled(
            "rabbitmq_channel_messages_published_total",
            &[("channel", &channel_name), ("vhost", "/")]
        ),
        2.0
    );
    assert_eq!(
        s.labelled("rabbitmq_connection_channels", &[("channel", conn_name)]),
        1.0
    );
    // Broker-wide figures stay unlabelled.
    assert_eq!(s.value("rabbitmq_queues"), 2.0);
    assert_eq!(s.value("rabbitmq_connections_opened_total"), 1.0);
    assert_eq!(s.kind("rabbitmq_queue_messages_ready"), "gauge");
    t(conn.close(200, "bye".into())).await.expect("close");
}

#[tokio::test]
async fn metrics_need_no_credentials_but_the_api_still_does() {
    let api = start().await;
    let reply = api.raw("GET", "/metrics", None, None).await;
    assert_eq!(reply.status, 200);
    let reply = api.raw("GET", "/api/overview", None, None).await;
    assert_eq!(reply.status, 401, "the API keeps its authentication");
    assert!(api.server.prometheus_addr().is_none(), "no port by default");
}

#[tokio::test]
async fn a_prometheus_port_serves_only_the_exporter() {
    let api = start_with(warren::Config {
        prometheus_port: Some(0),
        ..warren::Config::for_tests()
    })
    .await;
    let addr = api.server.prometheus_addr().expect("a Prometheus port");
    assert_ne!(addr, api.http);
    let own = TestApi { http: addr, ..api };
    let s = scrape(&own, "/metrics").await;
    assert_eq!(s.value("rabbitmq_queues"), 0.0);
    scrape(&own, "/metrics/per-object").await;
    let reply = own
        .raw("GET", "/api/overview", None, Some(("guest", "guest")))
        .await;
    assert_eq!(reply.status, 404, "the API is not on the Prometheus port");
}
