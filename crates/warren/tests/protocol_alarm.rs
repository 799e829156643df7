//! Resource alarms and the MQTT and STOMP publishers, as RabbitMQ's plugins treat
//! them: while an alarm is on, a connection whose next packet is a PUBLISH (or
//! frame a SEND) is not read until the alarm clears, and then what it sent comes
//! through; connections that only subscribe go on being served.

mod common;
mod mqtt_common;
#[allow(dead_code)]
#[path = "stomp/client.rs"]
mod stomp_client;

use mqtt_codec::{Packet, QoS, Version};
use mqtt_common::{Raw, TIMEOUT};
use std::time::Duration;
use stomp_client::Stomp;
use warren_core::alarms::Resource;
use warren_stomp::frame::Frame;

const QUIET: Duration = Duration::from_millis(800);

async fn start(memory_high_watermark: warren::memory::Watermark) -> warren::Server {
    let config = warren::Config {
        memory_high_watermark,
        ..warren::Config::for_tests()
    };
    warren::start(config).await.expect("warren starts")
}

fn send_frame(destination: &str, body: &str, receipt: &str) -> Frame {
    let mut frame = Frame::new("SEND")
        .with("destination", destination)
        .with("receipt", receipt);
    frame.body = bytes::Bytes::from(body.to_string());
    frame
}

#[tokio::test]
async fn publishers_wait_while_memory_is_over_the_watermark_and_subscribers_go_on() {
    // A watermark no broker stays under: the alarm is on from the first check.
    let server = start(warren::memory::Watermark::Absolute(1)).await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !server.broker().memory_alarm() {
        assert!(tokio::time::Instant::now() < deadline, "the alarm comes on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut sub, _) = Raw::connect(&server, Version::V5, "alarm-sub", true).await;
    assert_eq!(sub.subscribe("alarm/#", QoS::AtLeastOnce).await, vec![1]);

    let (mut publisher, _) = Raw::connect(&server, Version::V5, "alarm-pub", true).await;
    publisher
        .publish("alarm/mqtt", QoS::AtLeastOnce, 1, b"held")
        .await;
    publisher.send(&Packet::PingReq).await;
    // Neither the PUBLISH nor the PINGREQ behind it is read: no PUBACK, no PINGRESP.
    assert_eq!(publisher.recv_within(QUIET).await, Err(()));
    assert!(sub.no_publish_within(Duration::from_millis(100)).await);
    // The subscriber has not published: it is read and answered as usual.
    sub.send(&Packet::PingReq).await;
    assert_eq!(sub.recv().await, Some(Packet::PingResp));

    let mut stomp_sub = Stomp::connect(server.stomp_addr()).await;
    stomp_sub.subscribe("s", "/topic/alarm.stomp", &[]).await;
    let mut stomp_pub = Stomp::connect(server.stomp_addr()).await;
    stomp_pub
        .send(&send_frame("/topic/alarm.stomp", "held", "r1"))
        .await;
    stomp_pub.quiet(QUIET).await;
    stomp_sub.quiet(Duration::from_millis(100)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn held_publishes_come_through_once_the_alarm_clears() {
    let server = start(warren::memory::Watermark::default()).await;
    let (mut sub, _) = Raw::connect(&server, Version::V5, "clear-sub", true).await;
    assert_eq!(sub.subscribe("clear/#", QoS::AtLeastOnce).await, vec![1]);
    let (mut publisher, _) = Raw::connect(&server, Version::V5, "clear-pub", true).await;
    let mut stomp_pub = Stomp::connect(server.stomp_addr()).await;

    // Raised by hand; the memory watcher finds use under the watermark and
    // clears it within a second or so.
    server.broker().set_alarm(Resource::Memory, true);
    publisher
        .publish("clear/mqtt", QoS::AtLeastOnce, 1, b"from mqtt")
        .await;
    stomp_pub
        .send(&send_frame("/topic/clear.stomp", "from stomp", "r1"))
        .await;
    match publisher.recv().await {
        Some(Packet::PubAck(ack)) => assert_eq!(ack.packet_id, 1),
        other => panic!("expected the PUBACK, got {other:?}"),
    }
    let receipt = stomp_pub.recv().await;
    assert_eq!(receipt.command, "RECEIPT", "{receipt:?}");
    assert!(!server.broker().memory_alarm());
    let mut got = [sub.next_publish().await, sub.next_publish().await];
    got.sort_by(|a, b| a.topic.cmp(&b.topic));
    assert_eq!(
        got.iter()
            .map(|p| (p.topic.as_str(), &p.payload[..]))
            .collect::<Vec<_>>(),
        vec![
            ("clear/mqtt", &b"from mqtt"[..]),
            ("clear/stomp", &b"from stomp"[..])
        ]
    );
    server.shutdown().await;
}
