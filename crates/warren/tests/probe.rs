mod common;
use std::time::Duration;
use common::*;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_expiration() {
    let b = broker().await;
    let conn = b.connect().await;
    let q = unique("probe");
    {
        let ch = t(conn.create_channel()).await.unwrap();
        declare_queue(&ch, &q).await;
    }
    for e in ["315360000000", "315360000001", "9223372036854775807","9223372036854775808", "1000000000000", "100000000000000","10000000000000000"] {
        let ch = t(conn.create_channel()).await.unwrap();
        let w = watch(&ch).await;
        t(ch.basic_publish("".into(), q.as_str().into(), BasicPublishOptions::default(), b"x",
            BasicProperties::default().with_expiration(e.into()))).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(700), w.reason()).await {
            Ok(f) => println!("EXP {e:?}: {} {:?} conn={}", f.code, f.text, f.connection_level),
            Err(_) => println!("EXP {e:?}: accepted"),
        }
    }
    let ch = t(conn.create_channel()).await.unwrap();
    println!("count {}", t(ch.queue_declare(q.as_str().into(), QueueDeclareOptions{passive:true,..Default::default()}, FieldTable::default())).await.unwrap().message_count());
    for m in drain(&ch, &q).await { println!("left {m}"); }
    cleanup(&b, &[&q], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_args() {
    let b = broker().await;
    let conn = b.connect().await;
    let cases: Vec<(&str, AMQPValue)> = vec![
        ("x-message-ttl", AMQPValue::LongLongInt(315360000000)),
        ("x-message-ttl", AMQPValue::LongLongInt(315360000001)),
        ("x-message-ttl", AMQPValue::LongLongInt(1000000000000)),
        ("x-message-ttl", AMQPValue::LongLongInt(100000000000000)),
        ("x-message-ttl", AMQPValue::LongLongInt(10000000000000000)),
        ("x-expires", AMQPValue::LongLongInt(315360000001)),
        ("x-message-ttl", AMQPValue::LongLongInt(i64::MAX)),
        ("x-message-ttl", AMQPValue::LongInt(-1)),
        ("x-message-ttl", AMQPValue::LongString("100".into())),
        ("x-message-ttl", AMQPValue::Double(1.5)),
        ("x-expires", AMQPValue::LongLongInt(4294967296)),
        ("x-expires", AMQPValue::LongLongInt(i64::MAX)),
        ("x-expires", AMQPValue::LongInt(0)),
        ("x-expires", AMQPValue::LongInt(-1)),
        ("x-expires", AMQPValue::LongString("100".into())),
        ("x-dead-letter-exchange", AMQPValue::LongInt(1)),
        ("x-dead-letter-exchange", AMQPValue::Boolean(true)),
        ("x-dead-letter-routing-key", AMQPValue::LongString("k".into())),
        ("x-dead-letter-routing-key", AMQPValue::LongInt(1)),
    ];
    for (k, v) in cases {
        let ch = t(conn.create_channel()).await.unwrap();
        let q = unique("probe-arg");
        let mut a = FieldTable::default();
        a.insert(k.into(), v.clone());
        match t(ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), a)).await {
            Ok(_) => { println!("ARG {k} {v:?}: accepted"); cleanup(&b, &[&q], &[]).await; }
            Err(e) => { let f = failure(&e); println!("ARG {k} {v:?}: {} {:?}", f.code, f.text.replace(&q, "Q")); }
        }
    }
}
