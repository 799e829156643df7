//! `POST /api/queues/{vhost}/{name}/move`, the console's "Move messages": all or N
//! ready messages to another queue of the vhost, in order, properties intact,
//! consumed from the destination over AMQP; and its refusals.

mod http_common;

use futures_lite::StreamExt;
use http_common::*;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use serde_json::json;

async fn fill(api: &TestApi, queue: &str, n: usize) {
    let amqp = api.amqp().await;
    let ch = t(amqp.create_channel()).await.unwrap();
    for i in 0..n {
        t(ch.basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            format!("m{i}").as_bytes(),
            BasicProperties::default()
                .with_message_id(format!("id{i}").into())
                .with_delivery_mode(2),
        ))
        .await
        .unwrap();
    }
    api.eventually(&format!("/api/queues/%2F/{queue}"), |q| {
        q["messages_ready"] == n
    })
    .await;
}

#[tokio::test]
async fn moves_every_message_in_order_to_a_consumer_of_the_destination() {
    let api = start().await;
    api.put("/api/queues/%2F/from", json!({"durable": true}))
        .await;
    api.put("/api/queues/%2F/to", json!({"durable": true}))
        .await;
    fill(&api, "from", 2500).await;

    let reply = api
        .post("/api/queues/%2F/from/move", json!({"destination": "to"}))
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json(), json!({"moved": 2500}));
    api.eventually("/api/queues/%2F/from", |q| q["messages"] == 0)
        .await;
    api.eventually("/api/queues/%2F/to", |q| q["messages_ready"] == 2500)
        .await;

    let amqp = api.amqp().await;
    let ch = t(amqp.create_channel()).await.unwrap();
    let mut consumer = t(ch.basic_consume(
        "to".into(),
        "c".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for i in 0..2500 {
        let d = t(consumer.next()).await.unwrap().unwrap();
        assert_eq!(d.data, format!("m{i}").as_bytes());
        assert_eq!(
            d.properties.message_id().as_ref().unwrap().as_str(),
            format!("id{i}")
        );
        assert_eq!(*d.properties.delivery_mode(), Some(2));
    }
}

#[tokio::test]
async fn moves_at_most_count_and_leaves_the_rest() {
    let api = start().await;
    api.put("/api/queues/%2F/a", json!({})).await;
    api.put("/api/queues/%2F/b", json!({})).await;
    fill(&api, "a", 5).await;
    let reply = api
        .post(
            "/api/queues/%2F/a/move",
            json!({"destination": "b", "count": 3}),
        )
        .await;
    assert_eq!(reply.json(), json!({"moved": 3}));
    api.eventually("/api/queues/%2F/a", |q| q["messages"] == 2)
        .await;
    api.eventually("/api/queues/%2F/b", |q| q["messages"] == 3)
        .await;
    // What is left is the newest two.
    let left = api
        .post(
            "/api/queues/%2F/a/get",
            json!({"count": 5, "ackmode": "ack_requeue_false", "encoding": "auto"}),
        )
        .await
        .json();
    let payloads: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["payload"].as_str().unwrap())
        .collect();
    assert_eq!(payloads, ["m3", "m4"]);
    // An empty source moves nothing.
    let empty = api
        .post("/api/queues/%2F/a/move", json!({"destination": "b"}))
        .await;
    assert_eq!(empty.json(), json!({"moved": 0}));
}

#[tokio::test]
async fn unacked_messages_stay_with_their_consumer() {
    let api = start().await;
    api.put("/api/queues/%2F/busy", json!({})).await;
    api.put("/api/queues/%2F/spare", json!({})).await;
    let amqp = api.amqp().await;
    let ch = t(amqp.create_channel()).await.unwrap();
    for i in 0..3 {
        t(ch.basic_publish(
            "".into(),
            "busy".into(),
            BasicPublishOptions::default(),
            format!("x{i}").as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
    }
    api.eventually("/api/queues/%2F/busy", |q| q["messages_ready"] == 3)
        .await;
    // One taken and not acknowledged: only the two ready ones move.
    let taken = t(ch.basic_get("busy".into(), Default::default()))
        .await
        .unwrap()
        .expect("a message");
    let reply = api
        .post("/api/queues/%2F/busy/move", json!({"destination": "spare"}))
        .await;
    assert_eq!(reply.json(), json!({"moved": 2}));
    api.eventually("/api/queues/%2F/busy", |q| {
        q["messages_unacknowledged"] == 1 && q["messages_ready"] == 0
    })
    .await;
    assert_eq!(taken.delivery.data, b"x0");
}

#[tokio::test]
async fn refusals() {
    let api = start().await;
    api.put("/api/queues/%2F/src", json!({})).await;
    api.put("/api/queues/%2F/dst", json!({})).await;
    api.post("/api/queues/%2F/nosuch/move", json!({"destination": "dst"}))
        .await
        .assert_error(404, "Object Not Found");
    let reason = api
        .post("/api/queues/%2F/src/move", json!({"destination": "nosuch"}))
        .await
        .assert_error(404, "not_found");
    assert_eq!(reason, "no queue 'nosuch' in vhost '/'");
    api.post("/api/queues/%2F/src/move", json!({"destination": "src"}))
        .await
        .assert_error(400, "bad_request");
    for bad in [
        json!({}),
        json!({"destination": 5}),
        json!({"destination": "dst", "count": -1}),
        json!({"destination": "dst", "extra": true}),
    ] {
        api.post("/api/queues/%2F/src/move", bad)
            .await
            .assert_error(400, "bad_request");
    }
    // Moving is reading the source and writing the destination.
    api.add_user("reader", &["management"]).await;
    t(api
        .server
        .broker()
        .set_permissions("reader", "/", ".*", "^src$", ".*"))
    .await
    .unwrap();
    let refused = api
        .raw(
            "POST",
            "/api/queues/%2F/src/move",
            Some(serde_json::to_vec(&json!({"destination": "dst"})).unwrap()),
            Some(("reader", "pw")),
        )
        .await;
    let reason = refused.assert_error(401, "not_authorised");
    assert!(reason.contains("queue 'dst'"), "{reason}");
}
