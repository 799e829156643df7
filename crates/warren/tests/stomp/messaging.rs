//! Destinations, acknowledgement modes, prefetch, transactions, temp queues and
//! durable topic subscriptions.

use super::client::{body, server, unique, Stomp};
use std::time::Duration;
use warren_stomp::frame::Frame;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn queue_send_then_subscribe_with_auto_ack() {
    let server = server().await;
    let addr = server.stomp_addr();
    let queue = format!("/queue/{}", unique("q"));
    let mut producer = Stomp::connect(addr).await;
    // SEND declares the queue, so the message waits there.
    producer.publish(&queue, "one", &[]).await;
    producer.publish(&queue, "two", &[]).await;
    let mut consumer = Stomp::connect(addr).await;
    consumer.subscribe("sub-1", &queue, &[]).await;
    let m = consumer.message().await;
    assert_eq!(body(&m), "one");
    assert_eq!(m.header("subscription"), Some("sub-1"));
    assert_eq!(m.header("destination"), Some(queue.as_str()));
    assert_eq!(m.header("redelivered"), Some("false"));
    assert!(m.header("message-id").is_some());
    assert_eq!(m.header("ack"), None, "no ack header in auto mode");
    assert_eq!(body(&consumer.message().await), "two");
    consumer.disconnect().await;
    // Auto mode: nothing comes back.
    let mut again = Stomp::connect(addr).await;
    again.subscribe("s", &queue, &[]).await;
    again.quiet(QUIET).await;
}

#[tokio::test]
async fn client_ack_is_cumulative_and_unacked_messages_come_back() {
    let server = server().await;
    let addr = server.stomp_addr();
    let queue = format!("/queue/{}", unique("q"));
    let mut p = Stomp::connect(addr).await;
    let mut c = Stomp::connect(addr).await;
    c.subscribe("s", &queue, &[("ack", "client")]).await;
    for body in ["a", "b", "c"] {
        p.publish(&queue, body, &[]).await;
    }
    let _a = c.message().await;
    let b = c.message().await;
    let _c = c.message().await;
    // ACK of b acknowledges a too; c stays unacked and returns on disconnect.
    c.send_receipted(
        Frame::new("ACK").with("id", b.header("ack").unwrap()),
        "acked",
    )
    .await;
    c.disconnect().await;
    let mut c = Stomp::connect(addr).await;
    c.subscribe("s", &queue, &[("ack", "client-individual")])
        .await;
    let m = c.message().await;
    assert_eq!(body(&m), "c");
    assert_eq!(m.header("redelivered"), Some("true"));
    c.quiet(QUIET).await;
}

#[tokio::test]
async fn client_individual_ack_and_nack_with_and_without_requeue() {
    let server = server().await;
    let addr = server.stomp_addr();
    let queue = format!("/queue/{}", unique("q"));
    let mut p = Stomp::connect(addr).await;
    let mut c = Stomp::connect(addr).await;
    c.subscribe("s", &queue, &[("ack", "client-individual")])
        .await;
    p.publish(&queue, "keep", &[]).await;
    p.publish(&queue, "drop", &[]).await;
    let keep = c.message().await;
    let drop = c.message().await;
    c.send_receipted(
        Frame::new("NACK")
            .with("id", drop.header("ack").unwrap())
            .with("requeue", "false"),
        "n1",
    )
    .await;
    c.send_receipted(
        Frame::new("NACK").with("id", keep.header("ack").unwrap()),
        "n2",
    )
    .await;
    // Requeued: delivered again, marked redelivered; the dropped one is gone.
    let again = c.message().await;
    assert_eq!(body(&again), "keep");
    assert_eq!(again.header("redelivered"), Some("true"));
    c.send_receipted(
        Frame::new("ACK").with("id", again.header("ack").unwrap()),
        "a",
    )
    .await;
    c.quiet(QUIET).await;
}

#[tokio::test]
async fn stomp_1_0_and_1_1_ack_by_message_id() {
    let server = server().await;
    let addr = server.stomp_addr();
    for version in ["1.0", "1.1"] {
        let queue = format!("/queue/{}", unique("q"));
        let mut p = Stomp::connect(addr).await;
        let mut c = Stomp::connect_with(addr, &[("accept-version", version)]).await;
        c.subscribe("s", &queue, &[("ack", "client")]).await;
        p.publish(&queue, "m", &[]).await;
        let m = c.message().await;
        assert_eq!(m.header("ack"), None);
        c.send_receipted(
            Frame::new("ACK")
                .with("message-id", m.header("message-id").unwrap())
                .with("subscription", "s"),
            "a",
        )
        .await;
        c.disconnect().await;
        let mut c = Stomp::connect_with(addr, &[("accept-version", version)]).await;
        c.subscribe("s", &queue, &[]).await;
        c.quiet(QUIET).await;
    }
}

#[tokio::test]
async fn prefetch_count_bounds_unacked_deliveries() {
    let server = server().await;
    let addr = server.stomp_addr();
    let queue = format!("/queue/{}", unique("q"));
    let mut c = Stomp::connect(addr).await;
    for i in 0..5 {
        c.publish(&queue, &i.to_string(), &[]).await;
    }
    c.subscribe(
        "s",
        &queue,
        &[("ack", "client-individual"), ("prefetch-count", "2")],
    )
    .await;
    let first = c.message().await;
    let _second = c.message().await;
    c.quiet(QUIET).await;
    c.send(&Frame::new("ACK").with("id", first.header("ack").unwrap()))
        .await;
    assert_eq!(body(&c.message().await), "2");
    c.quiet(QUIET).await;
}

#[tokio::test]
async fn topic_wildcards_and_exchange_destinations() {
    let server = server().await;
    let addr = server.stomp_addr();
    let key = unique("k");
    let mut p = Stomp::connect(addr).await;
    let mut c = Stomp::connect(addr).await;
    c.subscribe("star", &format!("/topic/{key}.*"), &[]).await;
    c.subscribe("hash", &format!("/topic/{key}.#"), &[]).await;
    p.publish(&format!("/topic/{key}.a.b"), "deep", &[]).await;
    let m = c.message().await;
    assert_eq!(m.header("subscription"), Some("hash"));
    assert_eq!(
        m.header("destination").unwrap(),
        format!("/topic/{key}.a.b")
    );
    p.publish(&format!("/topic/{key}.a"), "shallow", &[]).await;
    let mut subs = vec![
        c.message()
            .await
            .header("subscription")
            .unwrap()
            .to_string(),
        c.message()
            .await
            .header("subscription")
            .unwrap()
            .to_string(),
    ];
    subs.sort();
    assert_eq!(subs, ["hash", "star"]);
    c.quiet(QUIET).await;
    // /exchange/amq.direct/<key>
    c.subscribe("direct", &format!("/exchange/amq.direct/{key}"), &[])
        .await;
    p.publish(&format!("/exchange/amq.direct/{key}"), "d", &[])
        .await;
    let m = c.message().await;
    assert_eq!(m.header("subscription"), Some("direct"));
    assert_eq!(
        m.header("destination").unwrap(),
        format!("/exchange/amq.direct/{key}")
    );
    // Unsubscribed: no more.
    c.send_receipted(Frame::new("UNSUBSCRIBE").with("id", "direct"), "u")
        .await;
    p.publish(&format!("/exchange/amq.direct/{key}"), "d2", &[])
        .await;
    c.quiet(QUIET).await;
}

#[tokio::test]
async fn transactions_hold_sends_and_acks_until_commit() {
    let server = server().await;
    let addr = server.stomp_addr();
    let queue = format!("/queue/{}", unique("q"));
    let mut c = Stomp::connect(addr).await;
    c.subscribe("s", &queue, &[("ack", "client-individual")])
        .await;
    c.send_receipted(Frame::new("BEGIN").with("transaction", "t"), "b")
        .await;
    c.publish(&queue, "in-tx", &[("transaction", "t")]).await;
    c.quiet(QUIET).await;
    c.send_receipted(Frame::new("COMMIT").with("transaction", "t"), "c")
        .await;
    let m = c.message().await;
    assert_eq!(body(&m), "in-tx");
    // An aborted ack leaves the message unacked: it comes back on reconnect.
    c.send_receipted(Frame::new("BEGIN").with("transaction", "t2"), "b2")
        .await;
    c.send(
        &Frame::new("ACK")
            .with("id", m.header("ack").unwrap())
            .with("transaction", "t2"),
    )
    .await;
    c.publish(&queue, "aborted", &[("transaction", "t2")]).await;
    c.send_receipted(Frame::new("ABORT").with("transaction", "t2"), "a2")
        .await;
    c.disconnect().await;
    let mut c = Stomp::connect(addr).await;
    c.subscribe("s", &queue, &[]).await;
    assert_eq!(body(&c.message().await), "in-tx");
    c.quiet(QUIET).await;
}

#[tokio::test]
async fn temp_queue_replies_reach_the_requester() {
    let server = server().await;
    let addr = server.stomp_addr();
    let service = format!("/queue/{}", unique("rpc"));
    let mut responder = Stomp::connect(addr).await;
    responder.subscribe("s", &service, &[]).await;
    let mut requester = Stomp::connect(addr).await;
    requester
        .publish(&service, "ping", &[("reply-to", "/temp-queue/replies")])
        .await;
    let request = responder.message().await;
    let reply_to = request.header("reply-to").unwrap().to_string();
    assert!(reply_to.starts_with("/reply-queue/amq.gen-"), "{reply_to}");
    responder.publish(&reply_to, "pong", &[]).await;
    let reply = requester.message().await;
    assert_eq!(body(&reply), "pong");
    assert_eq!(reply.header("subscription"), Some("/temp-queue/replies"));
}

#[tokio::test]
async fn durable_topic_subscriptions_keep_messages_while_away() {
    let server = server().await;
    let addr = server.stomp_addr();
    let topic = format!("/topic/{}", unique("news"));
    let durable = [("persistent", "true")];
    let mut c = Stomp::connect_with(addr, &[("accept-version", "1.2"), ("client-id", "c1")]).await;
    c.subscribe("reader", &topic, &durable).await;
    c.disconnect().await;
    let mut p = Stomp::connect(addr).await;
    p.publish(&topic, "while away", &[]).await;
    let mut c = Stomp::connect(addr).await;
    c.subscribe("reader", &topic, &durable).await;
    assert_eq!(body(&c.message().await), "while away");
    // UNSUBSCRIBE with persistent:true ends it: the queue goes.
    c.send_receipted(
        Frame::new("UNSUBSCRIBE")
            .with("id", "reader")
            .with("persistent", "true"),
        "u",
    )
    .await;
    p.publish(&topic, "after", &[]).await;
    c.subscribe("reader", &topic, &durable).await;
    c.quiet(QUIET).await;
}
