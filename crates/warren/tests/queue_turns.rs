//! One queue worked from many connections at once, on a broker with several worker
//! threads: publishers, consumers and `basic.get` pollers all run the queue's turns
//! on their own tasks when its lock is free, and hand over to each other (and to the
//! queue's task) when it is not. Whatever the interleaving, every message goes out
//! exactly once, and each publisher's messages reach any one consumer in order.

mod common;

use common::{broker, t, unique};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PUBLISHERS: usize = 4;
const PER_PUBLISHER: usize = 3_000;
const TOTAL: usize = PUBLISHERS * PER_PUBLISHER;
/// A taker that sees nothing for this long gives up (and the count then fails).
const QUIET: Duration = Duration::from_secs(10);

/// (publisher, number) of a body `p<publisher>-<number>`.
fn parse(body: &[u8]) -> (usize, usize) {
    let text = std::str::from_utf8(body).expect("utf-8 body");
    let (p, n) = text[1..].split_once('-').expect("p<i>-<n>");
    (p.parse().unwrap(), n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishers_consumers_and_getters_on_one_queue_lose_and_repeat_nothing() {
    let b = broker().await;
    let queue = unique("turns");
    let (_setup, ch) = b.connect_channel().await;
    t(ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();

    // Two consumers with a small prefetch (so acks keep running turns) and one poller;
    // all stop once the messages taken between them reach the total.
    let taken = Arc::new(AtomicUsize::new(0));
    let mut takers = Vec::new();
    for tag in ["c1", "c2"] {
        let conn = b.connect().await;
        let ch = t(conn.create_channel()).await.unwrap();
        t(ch.basic_qos(20, BasicQosOptions::default()))
            .await
            .unwrap();
        let mut consumer = t(ch.basic_consume(
            queue.as_str().into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
        let taken = taken.clone();
        takers.push(tokio::spawn(async move {
            let _conn = conn;
            let mut got = Vec::new();
            while taken.load(Ordering::SeqCst) < TOTAL {
                let next = tokio::time::timeout(Duration::from_millis(50), consumer.next());
                match next.await {
                    Ok(Some(Ok(d))) => {
                        got.push(parse(&d.data));
                        taken.fetch_add(1, Ordering::SeqCst);
                        d.ack(BasicAckOptions::default()).await.unwrap();
                    }
                    Ok(_) => break,
                    Err(_) if last_progress(&taken).await => continue,
                    Err(_) => break,
                }
            }
            got
        }));
    }
    {
        let conn = b.connect().await;
        let ch = t(conn.create_channel()).await.unwrap();
        let queue = queue.clone();
        let taken = taken.clone();
        takers.push(tokio::spawn(async move {
            let _conn = conn;
            let mut got = Vec::new();
            let mut empty_since = std::time::Instant::now();
            while taken.load(Ordering::SeqCst) < TOTAL && empty_since.elapsed() < QUIET {
                match t(ch.basic_get(queue.as_str().into(), BasicGetOptions::default()))
                    .await
                    .unwrap()
                {
                    Some(m) => {
                        empty_since = std::time::Instant::now();
                        got.push(parse(&m.delivery.data));
                        taken.fetch_add(1, Ordering::SeqCst);
                        t(m.delivery.ack(BasicAckOptions::default())).await.unwrap();
                    }
                    None => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
            got
        }));
    }

    // Publishers, half of them in confirm mode.
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let conn = b.connect().await;
        let queue = queue.clone();
        publishers.push(tokio::spawn(async move {
            let ch = t(conn.create_channel()).await.unwrap();
            let confirming = p % 2 == 0;
            if confirming {
                t(ch.confirm_select(ConfirmSelectOptions::default()))
                    .await
                    .unwrap();
            }
            let mut pending = Vec::new();
            for n in 0..PER_PUBLISHER {
                let confirm = ch
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        format!("p{p}-{n}").as_bytes(),
                        BasicProperties::default(),
                    )
                    .await
                    .unwrap();
                if confirming {
                    pending.push(confirm);
                }
            }
            for c in pending {
                assert!(t(c).await.unwrap().is_ack(), "every publish is acked");
            }
            // Waits until everything sent has reached the broker.
            t(ch.close(200, "done".into())).await.unwrap();
            drop(conn);
        }));
    }
    for p in publishers {
        p.await.unwrap();
    }

    let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
    for (i, taker) in takers.into_iter().enumerate() {
        let got = taker.await.unwrap();
        // One taker sees each publisher's messages in the order they were published.
        let mut last = [None::<usize>; PUBLISHERS];
        for &(p, n) in &got {
            assert!(
                last[p].is_none_or(|l| l < n),
                "taker {i}: publisher {p}'s {n} after {:?}",
                last[p]
            );
            last[p] = Some(n);
            *seen.entry((p, n)).or_default() += 1;
        }
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, &c)| c > 1).collect();
    assert!(repeated.is_empty(), "delivered twice: {repeated:?}");
    assert_eq!(seen.len(), TOTAL, "every message delivered");
}

/// Whether the takers together still make progress: the count moves within `QUIET`.
async fn last_progress(taken: &AtomicUsize) -> bool {
    let before = taken.load(Ordering::SeqCst);
    let since = std::time::Instant::now();
    while since.elapsed() < QUIET {
        if taken.load(Ordering::SeqCst) != before || before >= TOTAL {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A message published into an idle queue with a TTL sets the queue's first deadline
/// from the publisher's task: the queue's own timer must still fire for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_set_by_a_publish_expires_the_message_with_nobody_polling() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let (queue, dead) = (unique("ttl-turns"), unique("ttl-dead"));
    t(ch.queue_declare(
        dead.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dead.as_str().into()),
    );
    t(ch.queue_declare(queue.as_str().into(), QueueDeclareOptions::default(), args))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    t(ch.basic_publish(
        "".into(),
        queue.as_str().into(),
        BasicPublishOptions::default(),
        b"soon gone",
        BasicProperties::default().with_expiration("150".into()),
    ))
    .await
    .unwrap();
    // Nothing touches either queue until the message has had time to expire and be
    // dead-lettered: only the queue's timer can have done it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = t(ch.basic_get(dead.as_str().into(), BasicGetOptions::default()))
        .await
        .unwrap()
        .expect("dead-lettered by the queue's timer");
    assert_eq!(got.delivery.data, b"soon gone");
    assert!(started.elapsed() >= Duration::from_millis(150));
}
