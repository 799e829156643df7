//! CONNECT, version negotiation, heart-beats, receipts and DISCONNECT.

use super::client::{server, Stomp};
use std::time::Duration;
use warren_stomp::frame::Frame;

#[tokio::test]
async fn connect_negotiates_the_highest_common_version() {
    let server = server().await;
    let addr = server.stomp_addr();
    for (accept, expected) in [("1.0,1.1,1.2", "1.2"), ("1.1", "1.1"), ("1.0,1.1", "1.1")] {
        let mut c = Stomp::open(addr).await;
        c.send(
            &Frame::new("CONNECT")
                .with("accept-version", accept)
                .with("login", "guest")
                .with("passcode", "guest")
                .with("host", "/"),
        )
        .await;
        let reply = c.recv().await;
        assert_eq!(reply.command, "CONNECTED");
        assert_eq!(reply.header("version"), Some(expected));
        assert!(reply.header("session").is_some());
        assert!(reply.header("server").unwrap().starts_with("Warren/"));
    }
    // No accept-version: STOMP 1.0, and the STOMP command works as CONNECT.
    let mut c = Stomp::open(addr).await;
    c.send(
        &Frame::new("STOMP")
            .with("login", "guest")
            .with("passcode", "guest"),
    )
    .await;
    let reply = c.recv().await;
    assert_eq!(reply.header("version"), Some("1.0"));
}

#[tokio::test]
async fn unsupported_version_is_an_error() {
    let server = server().await;
    let mut c = Stomp::open(server.stomp_addr()).await;
    c.send(&Frame::new("CONNECT").with("accept-version", "2.0"))
        .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("Version mismatch"));
}

#[tokio::test]
async fn server_heartbeats_arrive_and_silent_clients_are_dropped() {
    let server = server().await;
    // The client sends every 200 ms and wants to hear from us every 200 ms.
    let mut c = Stomp::connect_with(
        server.stomp_addr(),
        &[("accept-version", "1.2"), ("heart-beat", "200,200")],
    )
    .await;
    // Keep our promise for a while: the server keeps us and beats.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.raw(b"\n").await;
    }
    let quiet = tokio::time::timeout(Duration::from_millis(300), c.next()).await;
    assert!(quiet.is_err(), "still connected: {quiet:?}");
    assert!(c.heartbeats >= 2, "heart-beats received: {}", c.heartbeats);
    // Now go silent: past twice the interval the server closes.
    let end = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if c.next().await.is_none() {
                return;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "connection closed for missed heart-beats");
}

#[tokio::test]
async fn connected_heartbeat_header_answers_the_clients() {
    let server = server().await;
    let mut c = Stomp::open(server.stomp_addr()).await;
    c.send(
        &Frame::new("CONNECT")
            .with("accept-version", "1.2")
            .with("login", "guest")
            .with("passcode", "guest")
            .with("heart-beat", "1000,5000"),
    )
    .await;
    let reply = c.recv().await;
    // We send every 5000 ms (what it wants), expect every 1000 ms (what it offers).
    assert_eq!(reply.header("heart-beat"), Some("5000,1000"));
    let mut c = Stomp::connect(server.stomp_addr()).await;
    c.send(&Frame::new("DISCONNECT")).await;
    assert!(c.next().await.is_none());
}

#[tokio::test]
async fn receipts_follow_frames_and_disconnect_closes() {
    let server = server().await;
    let mut c = Stomp::connect(server.stomp_addr()).await;
    c.send_receipted(Frame::new("BEGIN").with("transaction", "t1"), "r-1")
        .await;
    c.send_receipted(Frame::new("ABORT").with("transaction", "t1"), "r-2")
        .await;
    c.disconnect().await;
}
