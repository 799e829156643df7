//! MQTT 5's delayed will when another connection takes the client id over (spec
//! 3.1.2.5, 3.1.3.2.2): one that continues the session (clean start 0) cancels the
//! will; one that starts a new session (clean start 1) ends the old session, and
//! with it goes the will, at once rather than after its delay.

mod mqtt_common;

use bytes::Bytes;
use mqtt_codec::{Properties, QoS, Version, Will};
use mqtt_common::*;
use std::time::{Duration, Instant};

/// Far longer than any test waits: a will that comes came because the session ended.
const WILL_DELAY: u32 = 30;

/// A client with a kept session and a will held back by `WILL_DELAY`.
async fn connect_with_will(server: &warren::Server, client_id: &str, topic: &str) -> Raw {
    let mut c = connect_packet(Version::V5, client_id, true);
    c.properties.session_expiry_interval = Some(120);
    c.will = Some(Will {
        topic: topic.into(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties {
            will_delay_interval: Some(WILL_DELAY),
            ..Properties::default()
        },
    });
    let (raw, _, code) = Raw::connect_with(server, c).await;
    assert_eq!(code, 0);
    raw
}

async fn watcher(server: &warren::Server, topic: &str) -> Raw {
    let (mut w, _) = Raw::connect(server, Version::V5, &format!("watch-{topic}"), true).await;
    assert_eq!(w.subscribe(topic, QoS::AtLeastOnce).await, vec![1]);
    w
}

async fn takeover(server: &warren::Server, client_id: &str, clean: bool) -> Raw {
    let mut c = connect_packet(Version::V5, client_id, clean);
    c.properties.session_expiry_interval = Some(120);
    let (raw, _, code) = Raw::connect_with(server, c).await;
    assert_eq!(code, 0);
    raw
}

#[tokio::test]
async fn a_takeover_with_clean_start_sends_the_delayed_will_at_once() {
    let server = server().await;
    let mut watch = watcher(&server, "will-clean").await;
    // The first connection is still open when the second one comes.
    let _old = connect_with_will(&server, "will-c1", "will-clean").await;
    let started = Instant::now();
    let _new = takeover(&server, "will-c1", true).await;
    let will = watch.next_publish().await;
    assert_eq!(&will.payload[..], b"gone");
    assert!(
        started.elapsed() < Duration::from_secs(u64::from(WILL_DELAY) / 2),
        "the will waited for its delay"
    );
}

#[tokio::test]
async fn a_clean_start_after_the_connection_was_lost_sends_the_waiting_will() {
    let server = server().await;
    let mut watch = watcher(&server, "will-lost").await;
    drop(connect_with_will(&server, "will-c2", "will-lost").await);
    // The will waits out its delay...
    assert!(watch.no_publish_within(Duration::from_millis(300)).await);
    // ...until a new session with the id ends the old one.
    let _new = takeover(&server, "will-c2", true).await;
    assert_eq!(&watch.next_publish().await.payload[..], b"gone");
}

#[tokio::test]
async fn a_takeover_that_continues_the_session_cancels_the_will() {
    let server = server().await;
    let mut watch = watcher(&server, "will-kept").await;
    let _old = connect_with_will(&server, "will-c3", "will-kept").await;
    let mut new = takeover(&server, "will-c3", false).await;
    assert!(
        watch.no_publish_within(Duration::from_millis(500)).await,
        "the will of a session that goes on was sent"
    );
    // And it stays cancelled when the new connection ends cleanly.
    new.send(&mqtt_codec::Packet::Disconnect(mqtt_codec::Disconnect {
        reason: 0,
        properties: Properties::default(),
    }))
    .await;
    assert!(watch.no_publish_within(Duration::from_millis(300)).await);
}
