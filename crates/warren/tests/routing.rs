//! Routing: direct, fanout, topic (RabbitMQ's word-splitting edge cases), headers (every
//! x-match mode, typed values), CC/BCC, one copy per queue, exchange-to-exchange paths.

mod common;

use std::collections::BTreeMap;

use common::*;
use lapin::options::{ExchangeBindOptions, ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldArray, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};

async fn exchange(ch: &Channel, kind: ExchangeKind) -> String {
    let x = unique("x-route");
    t(ch.exchange_declare(
        x.as_str().into(),
        kind,
        ExchangeDeclareOptions {
            auto_delete: false,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("exchange.declare");
    x
}

async fn bind(ch: &Channel, q: &str, x: &str, key: &str, args: FieldTable) {
    t(ch.queue_bind(
        q.into(),
        x.into(),
        key.into(),
        QueueBindOptions::default(),
        args,
    ))
    .await
    .expect("queue.bind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_exchange_matches_the_whole_key_exactly() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let x = exchange(&ch, ExchangeKind::Direct).await;
    let q1 = declare_temp_queue(&ch).await;
    let q2 = declare_temp_queue(&ch).await;
    bind(&ch, &q1, &x, "a", FieldTable::default()).await;
    bind(&ch, &q1, &x, "b", FieldTable::default()).await;
    bind(&ch, &q2, &x, "a", FieldTable::default()).await;
    bind(&ch, &q2, &x, "", FieldTable::default()).await;
    for key in ["a", "b", "c", "A", "a.b", ""] {
        publish(&ch, &x, key, format!("key={key}").as_bytes()).await;
    }
    sync(&ch, &q1).await;
    assert_eq!(drain(&ch, &q1).await, vec!["key=a", "key=b"]);
    assert_eq!(drain(&ch, &q2).await, vec!["key=a", "key="]);
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_exchange_ignores_the_key() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let x = exchange(&ch, ExchangeKind::Fanout).await;
    let q1 = declare_temp_queue(&ch).await;
    let q2 = declare_temp_queue(&ch).await;
    bind(&ch, &q1, &x, "", FieldTable::default()).await;
    bind(&ch, &q2, &x, "ignored", FieldTable::default()).await;
    bind(&ch, &q2, &x, "also-ignored", FieldTable::default()).await;
    publish(&ch, &x, "whatever", b"one").await;
    publish(&ch, &x, "", b"two").await;
    sync(&ch, &q1).await;
    assert_eq!(drain(&ch, &q1).await, vec!["one", "two"]);
    assert_eq!(
        drain(&ch, &q2).await,
        vec!["one", "two"],
        "two bindings, one copy"
    );
    cleanup(&b, &[], &[&x]).await;
}

/// (binding key, routing key, matches) as RabbitMQ decides them.
const TOPIC_CASES: &[(&str, &str, bool)] = &[
    ("#", "", true),
    ("#", "a", true),
    ("#", "a.b.c", true),
    ("#", ".", true),
    ("#.#", "", true),
    ("*", "", false),
    ("*", "a", true),
    ("*", "a.b", false),
    ("*", ".", false),
    ("*.*", ".", true),
    ("*.*", "a.", true),
    ("*.*", "a", false),
    ("*.#", "", false),
    ("*.#", "a", true),
    ("*.#", "a.b.c", true),
    ("#.*", "", false),
    ("#.*", "a", true),
    ("#.*", "a.b", true),
    ("", "", true),
    ("", "a", false),
    ("", ".", false),
    ("a", "", false),
    ("a", "a", true),
    ("a", "A", false),
    ("a", "a.", false),
    ("a.*", "a.", true),
    ("a.*", "a", false),
    ("a.*", "a.b", true),
    ("a.*", "a.b.c", false),
    ("a.#", "a", true),
    ("a.#", "a.", true),
    ("a.#", "a.b.c", true),
    ("a.#", "ab", false),
    ("#.a", "a", true),
    ("#.a", "b.a", true),
    ("#.a", "a.b", false),
    ("a.*.c", "a.b.c", true),
    ("a.*.c", "a..c", true),
    ("a.*.c", "a.c", false),
    ("a.#.c", "a.c", true),
    ("a.#.c", "a.b.b.c", true),
    ("a.#.c", "a.b.b.d", false),
    ("#.b.#", "b", true),
    ("#.b.#", "a.b.c", true),
    ("#.b.#", "a.c", false),
    ("a.#.#", "a", true),
    ("*.b.*", "a.b", false),
    ("*.b.*", "a.b.c", true),
    ("a.b", "a.b.c", false),
    ("a.b.c", "a.b", false),
    ("a*", "ab", false),
    ("a*", "a*", true),
    ("a#", "ab", false),
    ("a#", "a#", true),
    (".", ".", true),
    (".", "", false),
    ("..", "..", true),
    ("*..*", "a..b", true),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_exchange_edge_cases() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let x = exchange(&ch, ExchangeKind::Topic).await;
    // One queue per distinct binding key; every distinct routing key published once.
    let mut queues: BTreeMap<&str, String> = BTreeMap::new();
    for (binding, _, _) in TOPIC_CASES {
        if !queues.contains_key(binding) {
            let q = declare_temp_queue(&ch).await;
            bind(&ch, &q, &x, binding, FieldTable::default()).await;
            queues.insert(binding, q);
        }
    }
    let mut keys: Vec<&str> = TOPIC_CASES.iter().map(|(_, k, _)| *k).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in &keys {
        publish(&ch, &x, key, format!("[{key}]").as_bytes()).await;
    }
    sync(&ch, queues.values().next().unwrap()).await;
    let mut got: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (binding, q) in &queues {
        got.insert(binding, drain(&ch, q).await);
    }
    let mut wrong = Vec::new();
    for (binding, key, expected) in TOPIC_CASES {
        let received = got[binding].contains(&format!("[{key}]"));
        if received != *expected {
            wrong.push(format!(
                "binding {binding:?} key {key:?}: expected match={expected}, got {received}"
            ));
        }
    }
    assert!(wrong.is_empty(), "topic mismatches:\n{}", wrong.join("\n"));
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_overlapping_bindings_deliver_one_copy() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let x = exchange(&ch, ExchangeKind::Topic).await;
    let q = declare_temp_queue(&ch).await;
    for key in ["a.b", "a.*", "#", "*.b", "a.#"] {
        bind(&ch, &q, &x, key, FieldTable::default()).await;
    }
    publish(&ch, &x, "a.b", b"once").await;
    sync(&ch, &q).await;
    assert_eq!(drain(&ch, &q).await, vec!["once"]);
    cleanup(&b, &[], &[&x]).await;
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert((*k).into(), v.clone());
    }
    t
}

fn s(v: &str) -> AMQPValue {
    AMQPValue::LongString(v.into())
}

fn int(v: i32) -> AMQPValue {
    AMQPValue::LongInt(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_exchange_match_modes_and_typed_values() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let x = exchange(&ch, ExchangeKind::Headers).await;
    let bindings: Vec<(&str, FieldTable)> = vec![
        ("all", table(&[("a", int(1)), ("b", s("x"))])),
        ("default-all", table(&[("a", int(1))])),
        (
            "any",
            table(&[("x-match", s("any")), ("a", int(1)), ("b", s("x"))]),
        ),
        (
            "all-only-x",
            table(&[("x-match", s("all")), ("x-foo", s("bar"))]),
        ),
        (
            "any-only-x",
            table(&[("x-match", s("any")), ("x-foo", s("bar"))]),
        ),
        (
            "all-with-x",
            table(&[("x-match", s("all-with-x")), ("x-foo", s("bar"))]),
        ),
        (
            "any-with-x",
            table(&[
                ("x-match", s("any-with-x")),
                ("x-foo", s("bar")),
                ("a", int(2)),
            ]),
        ),
        ("void", table(&[("v", AMQPValue::Void)])),
        ("string-1", table(&[("n", s("1"))])),
        ("bool", table(&[("flag", AMQPValue::Boolean(true))])),
        ("empty", table(&[])),
    ];
    let mut queues = Vec::new();
    for (name, args) in &bindings {
        let q = declare_temp_queue(&ch).await;
        bind(&ch, &q, &x, "ignored-key", args.clone()).await;
        queues.push((*name, q));
    }
    let messages: Vec<(&str, Option<FieldTable>)> = vec![
        ("m-none", None),
        ("m-empty", Some(table(&[]))),
        ("m-a1-bx", Some(table(&[("a", int(1)), ("b", s("x"))]))),
        (
            "m-a1-bx-c",
            Some(table(&[("a", int(1)), ("b", s("x")), ("c", int(3))])),
        ),
        ("m-a1", Some(table(&[("a", int(1))]))),
        ("m-bx", Some(table(&[("b", s("x"))]))),
        ("m-a-str1", Some(table(&[("a", s("1")), ("b", s("x"))]))),
        ("m-a2", Some(table(&[("a", int(2))]))),
        ("m-xfoo", Some(table(&[("x-foo", s("bar"))]))),
        ("m-xfoo-other", Some(table(&[("x-foo", s("baz"))]))),
        ("m-v", Some(table(&[("v", s("anything"))]))),
        ("m-n-int1", Some(table(&[("n", int(1))]))),
        ("m-n-str1", Some(table(&[("n", s("1"))]))),
        (
            "m-flag-true",
            Some(table(&[("flag", AMQPValue::Boolean(true))])),
        ),
        (
            "m-flag-int1",
            Some(table(&[("flag", AMQPValue::ShortShortInt(1))])),
        ),
    ];
    for (name, headers) in &messages {
        let mut props = BasicProperties::default();
        if let Some(h) = headers {
            props = props.with_headers(h.clone());
        }
        publish_with(&ch, &x, "some-key", name.as_bytes(), props).await;
    }
    sync(&ch, &queues[0].1).await;
    let expected: BTreeMap<&str, Vec<&str>> = [
        ("all", vec!["m-a1-bx", "m-a1-bx-c"]),
        ("default-all", vec!["m-a1-bx", "m-a1-bx-c", "m-a1"]),
        (
            "any",
            vec!["m-a1-bx", "m-a1-bx-c", "m-a1", "m-bx", "m-a-str1"],
        ),
        (
            "all-only-x",
            messages.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ),
        ("any-only-x", vec![]),
        ("all-with-x", vec!["m-xfoo"]),
        ("any-with-x", vec!["m-a2", "m-xfoo"]),
        ("void", vec!["m-v"]),
        ("string-1", vec!["m-n-str1"]),
        ("bool", vec!["m-flag-true"]),
        (
            "empty",
            messages.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ),
    ]
    .into_iter()
    .collect();
    let mut wrong = Vec::new();
    for (name, q) in &queues {
        let got = drain(&ch, q).await;
        let want: Vec<String> = expected[name].iter().map(|s| s.to_string()).collect();
        if got != want {
            wrong.push(format!("binding {name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "headers mismatches:\n{}",
        wrong.join("\n")
    );
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_values_compare_numbers_by_value_and_strings_as_bytes() {
    // RabbitMQ compares header values with Erlang's `==`: every integer width, timestamps
    // and floats compare by numeric value; a longstr equals a byte array with the same
    // bytes; but a number never equals a string, and a boolean is not a number.
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let x = exchange(&ch, ExchangeKind::Headers).await;
    let num = declare_temp_queue(&ch).await;
    bind(&ch, &num, &x, "", table(&[("n", AMQPValue::LongInt(5))])).await;
    let text = declare_temp_queue(&ch).await;
    bind(&ch, &text, &x, "", table(&[("n", s("abc"))])).await;
    let cases = [
        ("signed32", AMQPValue::LongInt(5)),
        ("signed64", AMQPValue::LongLongInt(5)),
        ("signed16", AMQPValue::ShortInt(5)),
        ("unsigned8", AMQPValue::ShortShortUInt(5)),
        ("unsigned32", AMQPValue::LongUInt(5)),
        ("double", AMQPValue::Double(5.0)),
        ("timestamp", AMQPValue::Timestamp(5)),
        ("six", AMQPValue::LongInt(6)),
        ("string-5", s("5")),
        ("bool", AMQPValue::Boolean(true)),
        ("longstr-abc", s("abc")),
        ("bytes-abc", AMQPValue::ByteArray(b"abc".to_vec().into())),
        ("longstr-ABC", s("ABC")),
    ];
    for (name, v) in cases {
        publish_with(
            &ch,
            &x,
            "",
            name.as_bytes(),
            BasicProperties::default().with_headers(table(&[("n", v)])),
        )
        .await;
    }
    sync(&ch, &num).await;
    assert_eq!(
        drain(&ch, &num).await,
        vec![
            "signed32",
            "signed64",
            "signed16",
            "unsigned8",
            "unsigned32",
            "double",
            "timestamp"
        ]
    );
    assert_eq!(drain(&ch, &text).await, vec!["longstr-abc", "bytes-abc"]);
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cc_and_bcc_headers_add_routing_keys_and_bcc_is_removed() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let x = exchange(&ch, ExchangeKind::Direct).await;
    let main = declare_temp_queue(&ch).await;
    let cc = declare_temp_queue(&ch).await;
    let bcc = declare_temp_queue(&ch).await;
    bind(&ch, &main, &x, "main", FieldTable::default()).await;
    bind(&ch, &cc, &x, "cc-key", FieldTable::default()).await;
    bind(&ch, &bcc, &x, "bcc-key", FieldTable::default()).await;
    let headers = table(&[
        (
            "CC",
            AMQPValue::FieldArray(FieldArray::from(vec![s("cc-key")])),
        ),
        (
            "BCC",
            AMQPValue::FieldArray(FieldArray::from(vec![s("bcc-key"), s("main")])),
        ),
        ("other", int(1)),
    ]);
    publish_with(
        &ch,
        &x,
        "main",
        b"copied",
        BasicProperties::default().with_headers(headers),
    )
    .await;
    sync(&ch, &main).await;
    let mut consumers = Vec::new();
    for q in [&main, &cc, &bcc] {
        let mut c = consume(&ch, q, true).await;
        let d = next(&mut c).await;
        assert_eq!(body(&d), "copied");
        let h = d.properties.headers().clone().unwrap_or_default();
        assert!(h.inner().contains_key("CC"), "CC is kept");
        assert!(
            !h.inner().contains_key("BCC"),
            "BCC is removed before delivery"
        );
        assert_eq!(h.inner().get("other"), Some(&int(1)));
        assert_eq!(d.routing_key.as_str(), "main");
        consumers.push(c);
    }
    for c in consumers.iter_mut() {
        assert_no_delivery(c, std::time::Duration::from_millis(100)).await;
    }
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_paths_converging_on_a_queue_deliver_one_copy() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let top = exchange(&ch, ExchangeKind::Topic).await;
    let mid1 = exchange(&ch, ExchangeKind::Fanout).await;
    let mid2 = exchange(&ch, ExchangeKind::Direct).await;
    let q = declare_temp_queue(&ch).await;
    let other = declare_temp_queue(&ch).await;
    for (dest, src, key) in [
        (&mid1, &top, "#"),
        (&mid2, &top, "a.*"),
        (&mid2, &mid1, "a.b"),
    ] {
        t(ch.exchange_bind(
            dest.as_str().into(),
            src.as_str().into(),
            key.into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    bind(&ch, &q, &top, "a.b", FieldTable::default()).await;
    bind(&ch, &q, &mid1, "", FieldTable::default()).await;
    bind(&ch, &q, &mid2, "a.b", FieldTable::default()).await;
    bind(&ch, &other, &mid2, "a.b", FieldTable::default()).await;
    publish(&ch, &top, "a.b", b"converge").await;
    publish(&ch, &top, "z", b"only via mid1").await;
    sync(&ch, &q).await;
    assert_eq!(drain(&ch, &q).await, vec!["converge", "only via mid1"]);
    assert_eq!(drain(&ch, &other).await, vec!["converge"]);
    cleanup(&b, &[], &[&top, &mid1, &mid2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_exchange_routes_by_queue_name_only() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    publish(&ch, "", &q, b"exact").await;
    publish(&ch, "", &q.to_uppercase(), b"wrong case").await;
    publish(&ch, "", &format!("{q}.x"), b"longer").await;
    sync(&ch, &q).await;
    assert_eq!(drain(&ch, &q).await, vec!["exact"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_exchanges_route_like_their_types() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    // Keys and header values unique to this test: the built-in exchanges are shared.
    let u = unique("builtin").replace('.', "-");
    let q = declare_temp_queue(&ch).await;
    bind(&ch, &q, "amq.direct", &u, FieldTable::default()).await;
    bind(
        &ch,
        &q,
        "amq.topic",
        &format!("{u}.*"),
        FieldTable::default(),
    )
    .await;
    bind(&ch, &q, "amq.fanout", "", FieldTable::default()).await;
    bind(&ch, &q, "amq.headers", "", table(&[("h", s(&u))])).await;
    bind(&ch, &q, "amq.match", "", table(&[("m", s(&u))])).await;
    publish(&ch, "amq.direct", &u, b"direct").await;
    publish(&ch, "amq.topic", &format!("{u}.x"), b"topic").await;
    publish(&ch, "amq.fanout", "anything", b"fanout").await;
    publish_with(
        &ch,
        "amq.headers",
        "",
        b"headers",
        BasicProperties::default().with_headers(table(&[("h", s(&u))])),
    )
    .await;
    publish_with(
        &ch,
        "amq.match",
        "",
        b"match",
        BasicProperties::default().with_headers(table(&[("m", s(&u))])),
    )
    .await;
    sync(&ch, &q).await;
    assert_eq!(
        drain(&ch, &q).await,
        vec!["direct", "topic", "fanout", "headers", "match"]
    );
}
