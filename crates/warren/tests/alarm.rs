//! The disk and memory alarms, as RabbitMQ's: while the data directory's disk has
//! less free space than `disk_free_limit`, or the broker's memory in use is over
//! its high watermark, connections that publish are blocked (told with
//! `connection.blocked` when they asked for it) and their publishes wait; connections
//! that only consume go on; when space returns they are unblocked and the publishes
//! they sent meanwhile arrive.

mod common;

use common::raw::{method_frame, Args, RawConn};
use common::t;
use std::time::Duration;

const BLOCKED: (u16, u16) = (10, 60);
const UNBLOCKED: (u16, u16) = (10, 61);

async fn start(disk_free_limit: u64) -> warren::Server {
    let config = warren::Config {
        disk_free_limit,
        ..warren::Config::for_tests()
    };
    t(warren::start(config)).await.expect("warren starts")
}

fn declare_queue_args(name: &str) -> Vec<u8> {
    Args::new()
        .u16(0)
        .shortstr(name)
        .bits(&[false, false, false, false, false])
        .empty_table()
        .build()
}

fn get_args(queue: &str) -> Vec<u8> {
    Args::new().u16(0).shortstr(queue).bits(&[true]).build()
}

/// The reason text of a `connection.blocked`.
fn reason(args: &[u8]) -> String {
    let len = args[0] as usize;
    String::from_utf8_lossy(&args[1..1 + len]).into_owned()
}

/// Waits for connection.blocked / unblocked on channel 0, skipping heartbeats.
async fn expect(conn: &mut RawConn, want: (u16, u16), within: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match conn.read_frame_within(left).await {
            Some(common::raw::Frame::Method {
                channel: 0,
                class,
                method,
                args,
            }) if (class, method) == want => return args,
            Some(common::raw::Frame::Heartbeat) => continue,
            other => panic!("expected {want:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn too_little_free_space_blocks_publishers_but_not_consumers() {
    // A limit no disk meets: the alarm is on from the first check.
    let server = start(u64::MAX).await;
    let (mut publisher, _) = RawConn::open(server.amqp_addr()).await;
    publisher.open_channel(1).await;
    publisher
        .send(&method_frame(1, 50, 10, &declare_queue_args("alarm-q")))
        .await;
    publisher.expect_method(1, 50, 11).await;
    publisher.publish(1, "", "alarm-q", &[0, 0], b"held").await;
    let args = expect(&mut publisher, BLOCKED, Duration::from_secs(5)).await;
    assert_eq!(reason(&args), "low on disk");

    // A connection that only consumes is not blocked: it declares and gets.
    let (mut consumer, _) = RawConn::open(server.amqp_addr()).await;
    consumer.open_channel(1).await;
    consumer
        .send(&method_frame(1, 50, 10, &declare_queue_args("alarm-q")))
        .await;
    consumer.expect_method(1, 50, 11).await;
    consumer
        .send(&method_frame(1, 60, 70, &get_args("alarm-q")))
        .await;
    // The publish that met the alarm went through (as with RabbitMQ); the consumer
    // gets it.
    consumer.expect_method(1, 60, 71).await;
    let _header = consumer.read_frame().await.expect("header");
    match consumer.read_frame().await.expect("body") {
        common::raw::Frame::Body { data, .. } => assert_eq!(data, b"held"),
        other => panic!("expected a body, got {other:?}"),
    }
    // The blocked publisher's next publish waits in its socket: nothing more arrives.
    publisher.publish(1, "", "alarm-q", &[0, 0], b"waits").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    consumer
        .send(&method_frame(1, 60, 70, &get_args("alarm-q")))
        .await;
    consumer.expect_method(1, 60, 72).await;
    server.shutdown().await;
}

#[tokio::test]
async fn publishers_are_unblocked_when_space_returns_and_their_messages_arrive() {
    // The default limit is met; raise the alarm by hand, as a full disk would.
    let server = start(warren::DEFAULT_DISK_FREE_LIMIT).await;
    let (mut publisher, _) = RawConn::open(server.amqp_addr()).await;
    publisher.open_channel(1).await;
    publisher
        .send(&method_frame(1, 50, 10, &declare_queue_args("alarm-q2")))
        .await;
    publisher.expect_method(1, 50, 11).await;
    server.broker().set_disk_alarm(true);
    publisher
        .publish(1, "", "alarm-q2", &[0, 0], b"first")
        .await;
    expect(&mut publisher, BLOCKED, Duration::from_secs(5)).await;
    publisher
        .publish(1, "", "alarm-q2", &[0, 0], b"second")
        .await;
    // The disk check finds enough space and clears the alarm within a second or so.
    expect(&mut publisher, UNBLOCKED, Duration::from_secs(5)).await;
    assert!(!server.broker().disk_alarm());
    for body in [&b"first"[..], b"second"] {
        publisher
            .send(&method_frame(1, 60, 70, &get_args("alarm-q2")))
            .await;
        let _get_ok = publisher.expect_method(1, 60, 71).await;
        let _header = publisher.read_frame().await.expect("header");
        match publisher.read_frame().await.expect("body") {
            common::raw::Frame::Body { data, .. } => assert_eq!(data, body),
            other => panic!("expected a body, got {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn memory_over_the_high_watermark_blocks_publishers() {
    // A watermark no broker stays under: the memory alarm is on from the first check.
    let config = warren::Config {
        memory_high_watermark: warren::memory::Watermark::Absolute(1),
        ..warren::Config::for_tests()
    };
    let server = t(warren::start(config)).await.expect("warren starts");
    let (mut publisher, _) = RawConn::open(server.amqp_addr()).await;
    publisher.open_channel(1).await;
    publisher
        .send(&method_frame(1, 50, 10, &declare_queue_args("mem-q")))
        .await;
    publisher.expect_method(1, 50, 11).await;
    publisher.publish(1, "", "mem-q", &[0, 0], b"held").await;
    let args = expect(&mut publisher, BLOCKED, Duration::from_secs(5)).await;
    assert_eq!(reason(&args), "low on memory");
    assert!(server.broker().memory_alarm());
    server.shutdown().await;
}

#[tokio::test]
async fn the_memory_alarm_clears_once_use_is_under_the_watermark() {
    use warren_core::alarms::Resource;
    let server = start(warren::DEFAULT_DISK_FREE_LIMIT).await;
    let (mut publisher, _) = RawConn::open(server.amqp_addr()).await;
    publisher.open_channel(1).await;
    publisher
        .send(&method_frame(1, 50, 10, &declare_queue_args("both-q")))
        .await;
    publisher.expect_method(1, 50, 11).await;
    server.broker().set_alarm(Resource::Memory, true);
    publisher.publish(1, "", "both-q", &[0, 0], b"one").await;
    let args = expect(&mut publisher, BLOCKED, Duration::from_secs(5)).await;
    assert_eq!(reason(&args), "low on memory");
    assert_eq!(server.broker().active_alarms(), vec![Resource::Memory]);
    // The memory watcher finds use under the default watermark and clears it.
    expect(&mut publisher, UNBLOCKED, Duration::from_secs(5)).await;
    assert!(server.broker().active_alarms().is_empty());
    server.shutdown().await;
}
