//! Bad input: each gets an ERROR frame with a clear message, then the connection
//! closes; other connections carry on.

use super::client::{body, server, unique, Stomp};
use warren_stomp::frame::Frame;

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let server = server().await;
    let mut c = Stomp::open(server.stomp_addr()).await;
    c.send(
        &Frame::new("CONNECT")
            .with("accept-version", "1.2")
            .with("login", "guest")
            .with("passcode", "wrong"),
    )
    .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("Bad CONNECT"));
    assert_eq!(body(&error), "Access refused for user 'guest'\n");
}

#[tokio::test]
async fn unknown_vhost_is_refused() {
    let server = server().await;
    let mut c = Stomp::open(server.stomp_addr()).await;
    c.send(
        &Frame::new("CONNECT")
            .with("accept-version", "1.2")
            .with("login", "guest")
            .with("passcode", "guest")
            .with("host", "no-such-vhost"),
    )
    .await;
    let error = c.expect_error().await;
    assert_eq!(body(&error), "Virtual host 'no-such-vhost' access denied");
}

#[tokio::test]
async fn frames_before_connect_are_refused() {
    let server = server().await;
    let mut c = Stomp::open(server.stomp_addr()).await;
    c.send(&Frame::new("SEND").with("destination", "/queue/a"))
        .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("Illegal command"));
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let server = server().await;
    let addr = server.stomp_addr();
    let mut bystander = Stomp::connect(addr).await;
    let queue = format!("/queue/{}", unique("bystander"));
    bystander.subscribe("s", &queue, &[]).await;
    for garbage in [
        &b"send\n\n\0"[..],
        b"SEND\nno colon here\n\n\0",
        b"SEND\ndestination:/queue/a\ncontent-length:zz\n\n\0",
        b"SEND\nbad:escape\\t\n\n\0",
        b"SEND\ndestination:/queue/a\ncontent-length:1\n\nabc\0",
    ] {
        let mut c = Stomp::connect(addr).await;
        c.raw(garbage).await;
        let error = c.expect_error().await;
        assert_eq!(
            error.header("message"),
            Some("Invalid frame"),
            "{garbage:?}"
        );
    }
    let mut c = Stomp::connect(addr).await;
    c.send(&Frame::new("FLY")).await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("Bad command"));
    // The bystander still works.
    let mut producer = Stomp::connect(addr).await;
    producer.publish(&queue, "still here", &[]).await;
    assert_eq!(body(&bystander.message().await), "still here");
}

#[tokio::test]
async fn oversized_payloads_are_refused() {
    let mut config = warren::Config::for_tests();
    config.stomp.limits.max_body = 1024;
    let server = warren::start(config).await.unwrap();
    let mut c = Stomp::connect(server.stomp_addr()).await;
    let mut frame = Frame::new("SEND").with("destination", "/queue/big");
    frame.body = bytes::Bytes::from(vec![b'x'; 2048]);
    c.send(&frame).await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("Invalid frame"));
    assert!(body(&error).contains("larger than the limit of 1024 bytes"));
    // Without content-length too.
    let mut c = Stomp::connect(server.stomp_addr()).await;
    let mut raw = b"SEND\ndestination:/queue/big\n\n".to_vec();
    raw.extend(vec![b'x'; 4096]);
    c.raw(&raw).await;
    let error = c.expect_error().await;
    assert!(body(&error).contains("larger than the limit"));
}

#[tokio::test]
async fn unknown_destinations_are_errors() {
    let server = server().await;
    let addr = server.stomp_addr();
    let mut c = Stomp::connect(addr).await;
    c.send(&Frame::new("SEND").with("destination", "/nowhere/x"))
        .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("Unknown destination"));

    let mut c = Stomp::connect(addr).await;
    let missing = unique("missing");
    c.send(
        &Frame::new("SUBSCRIBE")
            .with("id", "1")
            .with("destination", format!("/amq/queue/{missing}"))
            .with("receipt", "r"),
    )
    .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("not_found"));
    assert_eq!(error.header("receipt-id"), Some("r"));
    assert_eq!(
        body(&error),
        format!("NOT_FOUND - no queue '{missing}' in vhost '/'")
    );

    let mut c = Stomp::connect(addr).await;
    c.send(&Frame::new("SEND").with("destination", "/exchange/no-such-exchange/k"))
        .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("not_found"));
}

#[tokio::test]
async fn subscribe_needs_an_id_from_1_1_on() {
    let server = server().await;
    let mut c = Stomp::connect(server.stomp_addr()).await;
    c.send(&Frame::new("SUBSCRIBE").with("destination", "/queue/x"))
        .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("Missing header"));
}

#[tokio::test]
async fn unknown_transactions_and_ack_ids_are_errors() {
    let server = server().await;
    let mut c = Stomp::connect(server.stomp_addr()).await;
    c.send(&Frame::new("COMMIT").with("transaction", "never-begun"))
        .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("Bad transaction"));

    let mut c = Stomp::connect(server.stomp_addr()).await;
    c.send(&Frame::new("ACK").with("id", "T_x@@session@@99"))
        .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("Subscription not found"));
    assert_eq!(
        body(&error),
        "Message with id \"T_x@@session@@99\" has no subscription"
    );
    // A subscription of ours, but a delivery it never had.
    let mut c = Stomp::connect(server.stomp_addr()).await;
    let queue = format!("/queue/{}", unique("q"));
    c.subscribe("s", &queue, &[("ack", "client")]).await;
    c.send(&Frame::new("ACK").with("id", "T_s@@session@@99"))
        .await;
    let error = c.expect_error().await;
    assert_eq!(error.header("message"), Some("precondition_failed"));
    assert_eq!(error.header("version"), Some("1.0,1.1,1.2"));
}
