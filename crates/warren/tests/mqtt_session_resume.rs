//! A session resumed without subscribing again (clean session 0 / clean start 0)
//! is the session the client left: the QoS it was granted, its MQTT 5 subscription
//! options, its shared subscriptions, and its QoS 2 exchanges half done (spec 4.4:
//! PUBREL sent again, not the PUBLISH). A durable session is all that after a
//! broker restart too. Over real TCP with a raw client on Warren's codec, which
//! shows the flags and packet ids a library client hides.

mod common;
mod mqtt_common;

use bytes::Bytes;
use mqtt_codec::{Ack, Packet, Properties, Publish, QoS, SubOptions, Subscribe, Version};
use mqtt_common::*;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(400);

/// An MQTT 5 connection whose session outlives it by a minute.
async fn connect_kept_v5(server: &warren::Server, client_id: &str, clean: bool) -> (Raw, bool) {
    let mut c = connect_packet(Version::V5, client_id, clean);
    c.properties.session_expiry_interval = Some(60);
    let (raw, present, code) = Raw::connect_with(server, c).await;
    assert_eq!(code, 0, "CONNACK code");
    (raw, present)
}

async fn subscribe_with(raw: &mut Raw, filter: &str, options: SubOptions, identifier: Option<u32>) {
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: Properties {
            subscription_identifiers: identifier.into_iter().collect(),
            ..Properties::default()
        },
        filters: vec![(filter.into(), options)],
    }))
    .await;
    match raw.recv().await {
        Some(Packet::SubAck(s)) => assert_eq!(s.codes, vec![options.qos as u8], "SUBACK"),
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

async fn publish_retained(raw: &mut Raw, topic: &str, payload: &'static [u8]) {
    raw.send(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: topic.into(),
        packet_id: Some(9),
        properties: Properties::default(),
        payload: Bytes::from_static(payload),
    }))
    .await;
}

/// The next packet of the kind `pick` accepts, skipping the rest.
async fn next_matching<T>(raw: &mut Raw, mut pick: impl FnMut(Packet) -> Option<T>) -> T {
    loop {
        match raw.recv().await {
            Some(p) => {
                if let Some(t) = pick(p) {
                    return t;
                }
            }
            None => panic!("closed while waiting"),
        }
    }
}

/// A QoS 2 publish from a fresh client, completed.
async fn publish_qos2(server: &warren::Server, topic: &str, payload: &[u8]) {
    let (mut publ, _) = Raw::connect(server, Version::V3_1_1, "resume-pub", true).await;
    publ.publish(topic, QoS::ExactlyOnce, 1, payload).await;
    next_matching(&mut publ, |p| matches!(p, Packet::PubRec(_)).then_some(())).await;
    publ.send(&Packet::PubRel(Ack::new(1))).await;
    next_matching(&mut publ, |p| matches!(p, Packet::PubComp(_)).then_some(())).await;
}

#[tokio::test]
async fn a_resumed_session_delivers_at_the_qos_it_was_granted() {
    let server = server().await;
    let (mut sub, _) = Raw::connect(&server, Version::V3_1_1, "q2-kept", false).await;
    assert_eq!(sub.subscribe("resume/q2", QoS::ExactlyOnce).await, vec![2]);
    assert_eq!(sub.subscribe("resume/q1", QoS::AtLeastOnce).await, vec![1]);
    drop(sub);
    // Back without subscribing again.
    let (mut sub, present) = Raw::connect(&server, Version::V3_1_1, "q2-kept", false).await;
    assert!(present, "session present");
    publish_qos2(&server, "resume/q2", b"exactly once").await;
    let p = sub.next_publish().await;
    assert_eq!(&p.payload[..], b"exactly once");
    assert_eq!(
        p.qos,
        QoS::ExactlyOnce,
        "delivered at the QoS 2 it was granted"
    );
    let id = p.packet_id.expect("packet id");
    sub.send(&Packet::PubRec(Ack::new(id))).await;
    let rel = next_matching(&mut sub, |p| match p {
        Packet::PubRel(a) => Some(a.packet_id),
        _ => None,
    })
    .await;
    assert_eq!(rel, id);
    sub.send(&Packet::PubComp(Ack::new(id))).await;
    // The QoS 1 subscription is still QoS 1 (the QoS 2 one did not raise it).
    publish_qos2(&server, "resume/q1", b"at least once").await;
    let p = sub.next_publish().await;
    assert_eq!(
        (&p.payload[..], p.qos),
        (&b"at least once"[..], QoS::AtLeastOnce)
    );
}

#[tokio::test]
async fn a_delivery_not_yet_received_comes_again_as_a_dup_publish_at_qos2() {
    let server = server().await;
    let (mut sub, _) = Raw::connect(&server, Version::V3_1_1, "q2-dup", false).await;
    assert_eq!(sub.subscribe("resume/dup", QoS::ExactlyOnce).await, vec![2]);
    publish_qos2(&server, "resume/dup", b"again").await;
    let first = sub.next_publish().await;
    assert!(!first.dup);
    // Lost before the PUBREC.
    drop(sub);
    let (mut sub, _) = Raw::connect(&server, Version::V3_1_1, "q2-dup", false).await;
    let again = sub.next_publish().await;
    assert_eq!(&again.payload[..], b"again");
    assert!(again.dup, "DUP set on the resent PUBLISH");
    assert_eq!(again.qos, QoS::ExactlyOnce);
}

#[tokio::test]
async fn a_pubrel_not_completed_is_sent_again_and_the_message_is_not() {
    let server = server().await;
    let (mut sub, _) = Raw::connect(&server, Version::V3_1_1, "q2-rel", false).await;
    assert_eq!(sub.subscribe("resume/rel", QoS::ExactlyOnce).await, vec![2]);
    publish_qos2(&server, "resume/rel", b"once").await;
    let p = sub.next_publish().await;
    let id = p.packet_id.expect("packet id");
    sub.send(&Packet::PubRec(Ack::new(id))).await;
    let rel = next_matching(&mut sub, |p| match p {
        Packet::PubRel(a) => Some(a.packet_id),
        _ => None,
    })
    .await;
    assert_eq!(rel, id);
    // Lost before the PUBCOMP: the client has the message and waits for PUBREL.
    drop(sub);
    let (mut sub, present) = Raw::connect(&server, Version::V3_1_1, "q2-rel", false).await;
    assert!(present);
    match sub.recv().await {
        Some(Packet::PubRel(a)) => assert_eq!((a.packet_id, a.reason), (id, 0)),
        other => panic!("expected the PUBREL again, got {other:?}"),
    }
    sub.send(&Packet::PubComp(Ack::new(id))).await;
    assert!(sub.no_publish_within(QUIET).await, "the message came twice");
    // The id is free again, and the session goes on.
    publish_qos2(&server, "resume/rel", b"next").await;
    let p = sub.next_publish().await;
    assert_eq!((&p.payload[..], p.dup), (&b"next"[..], false));
}

#[tokio::test]
async fn mqtt5_subscription_options_survive_a_reconnect() {
    let server = server().await;
    let (mut sub, _) = connect_kept_v5(&server, "opts-kept", true).await;
    let options = SubOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: 0,
    };
    subscribe_with(&mut sub, "resume/opts/#", options, Some(7)).await;
    drop(sub);
    let (mut sub, present) = connect_kept_v5(&server, "opts-kept", false).await;
    assert!(present, "session present");
    // No-local: the client's own message does not come back.
    sub.publish("resume/opts/own", QoS::AtLeastOnce, 3, b"own")
        .await;
    assert!(sub.no_publish_within(QUIET).await, "no-local was forgotten");
    // Another client's message, published with RETAIN: retain-as-published keeps
    // the flag, and the subscription identifier comes with it.
    let (mut other, _) = Raw::connect(&server, Version::V5, "opts-other", true).await;
    publish_retained(&mut other, "resume/opts/theirs", b"theirs").await;
    let p = sub.next_publish().await;
    assert_eq!(&p.payload[..], b"theirs");
    assert!(p.retain, "retain-as-published was forgotten");
    assert_eq!(p.properties.subscription_identifiers, vec![7]);
    // Clear the retained message for later runs of the same broker.
    publish_retained(&mut other, "resume/opts/theirs", b"").await;
}

#[tokio::test]
async fn a_shared_subscription_survives_a_reconnect() {
    let server = server().await;
    let (mut member, _) = connect_kept_v5(&server, "shared-kept", true).await;
    let qos2 = SubOptions {
        qos: QoS::ExactlyOnce,
        ..SubOptions::default()
    };
    subscribe_with(&mut member, "$share/grp/resume/shared", qos2, Some(4)).await;
    drop(member);
    let (mut member, present) = connect_kept_v5(&server, "shared-kept", false).await;
    assert!(
        present,
        "a session with only a shared subscription is present"
    );
    publish_qos2(&server, "resume/shared", b"for the group").await;
    let p = member.next_publish().await;
    assert_eq!(&p.payload[..], b"for the group");
    assert_eq!(p.qos, QoS::ExactlyOnce);
    assert_eq!(p.properties.subscription_identifiers, vec![4]);
    // A clean start leaves the group: nothing comes to the new session.
    drop(member);
    let (mut fresh, present) = connect_kept_v5(&server, "shared-kept", true).await;
    assert!(!present);
    publish_qos2(&server, "resume/shared", b"nobody").await;
    assert!(fresh.no_publish_within(QUIET).await, "still a member");
}

#[tokio::test]
async fn a_durable_session_keeps_qos_options_and_groups_across_a_restart() {
    let dir = common::restart_dir("mqtt-resume", "restart");
    let server = common::start_on(&dir).await;
    let (mut sub, _) = connect_kept_v5(&server, "restart-kept", true).await;
    let q2 = SubOptions {
        qos: QoS::ExactlyOnce,
        no_local: true,
        ..SubOptions::default()
    };
    subscribe_with(&mut sub, "restart/own", q2, Some(11)).await;
    let q1 = SubOptions {
        qos: QoS::AtLeastOnce,
        ..SubOptions::default()
    };
    subscribe_with(&mut sub, "$share/g/restart/shared", q1, None).await;
    drop(sub);
    server.shutdown().await;

    let server = common::start_on(&dir).await;
    let (mut sub, present) = connect_kept_v5(&server, "restart-kept", false).await;
    assert!(present, "session present after the restart");
    sub.publish("restart/own", QoS::AtLeastOnce, 5, b"own")
        .await;
    assert!(sub.no_publish_within(QUIET).await, "no-local was forgotten");
    publish_qos2(&server, "restart/own", b"theirs").await;
    let p = sub.next_publish().await;
    assert_eq!(&p.payload[..], b"theirs");
    assert_eq!(p.qos, QoS::ExactlyOnce);
    assert_eq!(p.properties.subscription_identifiers, vec![11]);
    let id = p.packet_id.expect("packet id");
    sub.send(&Packet::PubRec(Ack::new(id))).await;
    sub.send(&Packet::PubComp(Ack::new(id))).await;
    publish_qos2(&server, "restart/shared", b"group").await;
    let p = sub.next_publish().await;
    assert_eq!((&p.payload[..], p.qos), (&b"group"[..], QoS::AtLeastOnce));
    drop(sub);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_resumed_subscription_can_be_changed_and_removed() {
    let server = server().await;
    let (mut sub, _) = connect_kept_v5(&server, "change-kept", true).await;
    let q2 = SubOptions {
        qos: QoS::ExactlyOnce,
        ..SubOptions::default()
    };
    subscribe_with(&mut sub, "resume/change", q2, Some(1)).await;
    drop(sub);
    let (mut sub, _) = connect_kept_v5(&server, "change-kept", false).await;
    // The same filter with another identifier and QoS replaces the subscription.
    let q1 = SubOptions {
        qos: QoS::AtLeastOnce,
        ..SubOptions::default()
    };
    subscribe_with(&mut sub, "resume/change", q1, Some(2)).await;
    publish_qos2(&server, "resume/change", b"changed").await;
    let p = sub.next_publish().await;
    assert_eq!(p.qos, QoS::AtLeastOnce);
    assert_eq!(p.properties.subscription_identifiers, vec![2]);
    sub.send(&Packet::PubAck(Ack::new(p.packet_id.expect("id"))))
        .await;
    sub.send(&Packet::Unsubscribe(mqtt_codec::Unsubscribe {
        packet_id: 2,
        properties: Properties::default(),
        filters: vec!["resume/change".into()],
    }))
    .await;
    next_matching(&mut sub, |p| matches!(p, Packet::UnsubAck(_)).then_some(())).await;
    publish_qos2(&server, "resume/change", b"gone").await;
    assert!(
        sub.no_publish_within(QUIET).await,
        "a binding of the subscription was left behind"
    );
}
