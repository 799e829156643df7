//! Messages over the management API: publish (`routed`), get (count, ackmode,
//! encoding, truncate), purge; and the health checks.

mod http_common;

use futures_lite::StreamExt;
use http_common::*;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde_json::json;

async fn publish(api: &TestApi, exchange: &str, body: serde_json::Value) -> serde_json::Value {
    let reply = api
        .post(&format!("/api/exchanges/%2F/{exchange}/publish"), body)
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

#[tokio::test]
async fn publish_reports_routed_and_reaches_an_amqp_consumer() {
    let api = start().await;
    api.put("/api/queues/%2F/in", json!({})).await;
    let routed = publish(
        &api,
        "amq.default",
        json!({
            "routing_key": "in",
            "payload": "hello",
            "payload_encoding": "string",
            "properties": {"content_type": "text/plain", "delivery_mode": 2, "headers": {"h": "v", "n": 7}},
        }),
    )
    .await;
    assert_eq!(routed, json!({"routed": true}));
    let unrouted = publish(
        &api,
        "amq.direct",
        json!({"routing_key": "nowhere", "payload": "x", "payload_encoding": "string", "properties": {}}),
    )
    .await;
    assert_eq!(unrouted, json!({"routed": false}));

    let amqp = api.amqp().await;
    let ch = t(amqp.create_channel()).await.unwrap();
    let mut consumer = t(ch.basic_consume(
        "in".into(),
        "c".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let d = t(consumer.next()).await.unwrap().unwrap();
    assert_eq!(d.data, b"hello");
    assert_eq!(
        d.properties.content_type().as_ref().unwrap().as_str(),
        "text/plain"
    );
    assert_eq!(*d.properties.delivery_mode(), Some(2));
    let headers = d.properties.headers().as_ref().unwrap();
    assert_eq!(
        headers.inner().get("h"),
        Some(&AMQPValue::LongString("v".into()))
    );
    assert_eq!(headers.inner().get("n"), Some(&AMQPValue::LongLongInt(7)));

    // base64 payloads, and bad ones.
    api.put("/api/queues/%2F/bin", json!({})).await;
    publish(
        &api,
        "amq.default",
        json!({"routing_key": "bin", "payload": "AAEC/w==", "payload_encoding": "base64", "properties": {}}),
    )
    .await;
    let got = api
        .post(
            "/api/queues/%2F/bin/get",
            json!({"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"}),
        )
        .await
        .json();
    assert_eq!(got[0]["payload"], "AAEC/w==");
    assert_eq!(got[0]["payload_encoding"], "base64");
    assert_eq!(got[0]["payload_bytes"], 4);
    for bad in [
        json!({"routing_key": "bin", "payload": "!!", "payload_encoding": "base64", "properties": {}}),
        json!({"routing_key": "bin", "payload": "x", "payload_encoding": "rot13", "properties": {}}),
        json!({"routing_key": "bin", "payload": "x", "properties": {"delivery_mode": "two"}}),
        json!({"routing_key": "bin", "payload": "x", "properties": {"nosuch": 1}}),
        json!({"routing_key": "bin", "payload": "x", "properties": {"expiration": "soon"}}),
        json!({"routing_key": "bin", "payload": 5}),
    ] {
        api.post("/api/exchanges/%2F/amq.default/publish", bad)
            .await
            .assert_error(400, "bad_request");
    }
    api.post(
        "/api/exchanges/%2F/nosuch/publish",
        json!({"routing_key": "", "payload": "", "payload_encoding": "string", "properties": {}}),
    )
    .await
    .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn get_with_each_ackmode() {
    let api = start().await;
    api.put("/api/queues/%2F/g", json!({})).await;
    let amqp = api.amqp().await;
    let ch = t(amqp.create_channel()).await.unwrap();
    for i in 0..3 {
        t(ch.basic_publish(
            "".into(),
            "g".into(),
            BasicPublishOptions::default(),
            format!("message {i}").as_bytes(),
            BasicProperties::default().with_message_id(format!("id{i}").into()),
        ))
        .await
        .unwrap();
    }
    api.eventually("/api/queues/%2F/g", |q| q["messages"] == 3)
        .await;

    // Requeued: the same two again, now redelivered.
    let get = |body| api.post("/api/queues/%2F/g/get", body);
    let first = get(json!({"count": 2, "ackmode": "ack_requeue_true", "encoding": "auto"}))
        .await
        .json();
    assert_eq!(first.as_array().unwrap().len(), 2);
    assert_eq!(first[0]["payload"], "message 0");
    assert_eq!(first[0]["payload_encoding"], "string");
    assert_eq!(first[0]["redelivered"], false);
    assert_eq!(first[0]["exchange"], "");
    assert_eq!(first[0]["routing_key"], "g");
    assert_eq!(first[0]["message_count"], 2);
    assert_eq!(first[0]["properties"], json!({"message_id": "id0"}));
    let again = get(
        json!({"count": 1, "ackmode": "reject_requeue_true", "encoding": "auto", "truncate": 3}),
    )
    .await
    .json();
    assert_eq!(again[0]["payload"], "mes");
    assert_eq!(again[0]["payload_bytes"], 9);
    assert_eq!(again[0]["redelivered"], true);
    api.eventually("/api/queues/%2F/g", |q| q["messages"] == 3)
        .await;

    // Acked: gone. base64 on request.
    let taken = get(json!({"count": 10, "ackmode": "ack_requeue_false", "encoding": "base64"}))
        .await
        .json();
    assert_eq!(taken.as_array().unwrap().len(), 3);
    assert_eq!(taken[2]["payload_encoding"], "base64");
    api.eventually("/api/queues/%2F/g", |q| q["messages"] == 0)
        .await;
    assert_eq!(
        get(json!({"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"}))
            .await
            .json(),
        json!([])
    );

    get(json!({"count": 1, "ackmode": "maybe", "encoding": "auto"}))
        .await
        .assert_error(400, "bad_request");
    get(json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "hex"}))
        .await
        .assert_error(400, "bad_request");
    get(json!({"count": -1, "ackmode": "ack_requeue_true"}))
        .await
        .assert_error(400, "bad_request");
    api.post(
        "/api/queues/%2F/nosuch/get",
        json!({"count": 1, "ackmode": "ack_requeue_true"}),
    )
    .await
    .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn purge_empties_the_queue() {
    let api = start().await;
    api.put("/api/queues/%2F/p", json!({})).await;
    for _ in 0..4 {
        publish(
            &api,
            "amq.default",
            json!({"routing_key": "p", "payload": "x", "payload_encoding": "string", "properties": {}}),
        )
        .await;
    }
    api.eventually("/api/queues/%2F/p", |q| q["messages"] == 4)
        .await;
    assert_eq!(api.delete("/api/queues/%2F/p/contents").await.status, 204);
    api.eventually("/api/queues/%2F/p", |q| q["messages"] == 0)
        .await;
    api.delete("/api/queues/%2F/nosuch/contents")
        .await
        .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn health_checks_report_ok_and_aliveness_round_trips() {
    let api = start().await;
    assert_eq!(
        api.get_ok("/api/health/checks/alarms").await,
        json!({"status": "ok"})
    );
    assert_eq!(
        api.get_ok("/api/health/checks/local-alarms").await,
        json!({"status": "ok"})
    );
    assert_eq!(
        api.get_ok("/api/aliveness-test/%2F").await,
        json!({"status": "ok"})
    );
    assert_eq!(
        api.get_ok("/api/queues/%2F/aliveness-test").await["messages"],
        0
    );
    api.get("/api/aliveness-test/nosuch")
        .await
        .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn the_disk_alarm_fails_the_alarm_checks() {
    // A free-space limit no disk meets: the alarm goes on at the first check.
    let api = start_with(warren::Config {
        disk_free_limit: u64::MAX,
        ..warren::Config::for_tests()
    })
    .await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let reply = api.get("/api/health/checks/local-alarms").await;
        if reply.status == 503 {
            let json = reply.json();
            assert_eq!(json["status"], "failed");
            assert_eq!(json["alarms"][0]["resource"], "disk");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the alarm never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(api.get("/api/health/checks/alarms").await.status, 503);
    assert_eq!(api.get_ok("/api/nodes").await[0]["disk_free_alarm"], true);
}
