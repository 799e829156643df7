//! Exchanges, queues and bindings over the management API: create, list, get, delete,
//! the counts of queues used over AMQP, and names that need percent-encoding.

mod http_common;

use futures_lite::StreamExt;
use http_common::*;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use serde_json::json;

#[tokio::test]
async fn exchanges_are_declared_listed_and_deleted() {
    let api = start().await;
    let all = api.get_ok("/api/exchanges").await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "",
            "amq.direct",
            "amq.fanout",
            "amq.headers",
            "amq.match",
            "amq.rabbitmq.trace",
            "amq.topic"
        ]
    );
    let reply = api
        .put(
            "/api/exchanges/%2F/ex1",
            json!({"type": "topic", "durable": true, "arguments": {"alternate-exchange": "ae"}}),
        )
        .await;
    assert_eq!(reply.status, 201);
    // The same again: no content; other properties: 400 with RabbitMQ's text.
    let reply = api
        .put(
            "/api/exchanges/%2F/ex1",
            json!({"type": "topic", "durable": true, "arguments": {"alternate-exchange": "ae"}}),
        )
        .await;
    assert_eq!(reply.status, 204);
    let reason = api
        .put(
            "/api/exchanges/%2F/ex1",
            json!({"type": "direct", "durable": true}),
        )
        .await
        .assert_error(400, "bad_request");
    assert_eq!(
        reason,
        "inequivalent arg 'type' for exchange 'ex1' in vhost '/': received 'direct' but current is 'topic'"
    );
    let e = api.get_ok("/api/exchanges/%2F/ex1").await;
    assert_eq!(e["type"], "topic");
    assert_eq!(e["durable"], true);
    assert_eq!(e["auto_delete"], false);
    assert_eq!(e["internal"], false);
    assert_eq!(e["vhost"], "/");
    assert_eq!(e["arguments"], json!({"alternate-exchange": "ae"}));
    let per_vhost = api.get_ok("/api/exchanges/%2F").await;
    assert_eq!(per_vhost.as_array().unwrap().len(), 8);
    // The default exchange is `amq.default` in paths.
    assert_eq!(
        api.get_ok("/api/exchanges/%2F/amq.default").await["name"],
        ""
    );

    let reason = api
        .put("/api/exchanges/%2F/ex2", json!({"type": "nosuch"}))
        .await
        .assert_error(400, "bad_request");
    assert_eq!(reason, "unknown exchange type 'nosuch'");

    assert_eq!(api.delete("/api/exchanges/%2F/ex1").await.status, 204);
    api.get("/api/exchanges/%2F/ex1")
        .await
        .assert_error(404, "Object Not Found");
    api.delete("/api/exchanges/%2F/ex1")
        .await
        .assert_error(404, "Object Not Found");
    api.delete("/api/exchanges/%2F/amq.direct")
        .await
        .assert_error(401, "not_authorised");
    api.get("/api/exchanges/nosuch")
        .await
        .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn exchange_delete_if_unused_refuses_a_bound_exchange() {
    let api = start().await;
    assert_eq!(
        api.put("/api/exchanges/%2F/src", json!({})).await.status,
        201
    );
    assert_eq!(api.put("/api/queues/%2F/q", json!({})).await.status, 201);
    let reply = api
        .post("/api/bindings/%2F/e/src/q/q", json!({"routing_key": "k"}))
        .await;
    assert_eq!(reply.status, 201);
    let reason = api
        .delete("/api/exchanges/%2F/src?if-unused=true")
        .await
        .assert_error(400, "bad_request");
    assert_eq!(reason, "exchange 'src' in vhost '/' in use");
    assert_eq!(api.delete("/api/exchanges/%2F/src").await.status, 204);
    assert_eq!(
        api.get_ok("/api/queues/%2F/q/bindings")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn queues_are_declared_listed_and_deleted() {
    let api = start().await;
    let reply = api
        .put(
            "/api/queues/%2F/q1",
            json!({"durable": true, "arguments": {"x-max-length": 10}}),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        api.put(
            "/api/queues/%2F/q1",
            json!({"durable": true, "arguments": {"x-max-length": 10}})
        )
        .await
        .status,
        204
    );
    let reason = api
        .put("/api/queues/%2F/q1", json!({"durable": false}))
        .await
        .assert_error(400, "bad_request");
    assert_eq!(
        reason,
        "inequivalent arg 'durable' for queue 'q1' in vhost '/': received 'false' but current is 'true'"
    );
    let q = api.get_ok("/api/queues/%2F/q1").await;
    for (field, value) in [
        ("name", json!("q1")),
        ("vhost", json!("/")),
        ("durable", json!(true)),
        ("auto_delete", json!(false)),
        ("exclusive", json!(false)),
        ("arguments", json!({"x-max-length": 10})),
        ("messages", json!(0)),
        ("messages_ready", json!(0)),
        ("messages_unacknowledged", json!(0)),
        ("consumers", json!(0)),
        ("state", json!("running")),
        ("type", json!("classic")),
    ] {
        assert_eq!(q[field], value, "{field} in {q}");
    }
    assert!(q["node"].as_str().unwrap().starts_with("warren@"));
    assert_eq!(q["message_stats"]["publish"], 0);
    assert!(q["message_stats"]["publish_details"]["rate"].is_number());

    // An empty body declares a transient queue, as RabbitMQ's API does.
    let reply = api
        .raw("PUT", "/api/queues/%2F/q2", None, Some(("guest", "guest")))
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(api.get_ok("/api/queues/%2F/q2").await["durable"], false);

    let names: Vec<String> = api
        .get_ok("/api/queues")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["q1", "q2"]);
    assert_eq!(
        api.get_ok("/api/queues/%2F")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    assert_eq!(api.delete("/api/queues/%2F/q2").await.status, 204);
    api.delete("/api/queues/%2F/q2")
        .await
        .assert_error(404, "Object Not Found");
    api.get("/api/queues/%2F/q2")
        .await
        .assert_error(404, "Object Not Found");
    api.get("/api/queues/nosuch")
        .await
        .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn queue_delete_honours_if_empty_and_if_unused() {
    let api = start().await;
    let amqp = api.amqp().await;
    let ch = t(amqp.create_channel()).await.unwrap();
    assert_eq!(api.put("/api/queues/%2F/busy", json!({})).await.status, 201);
    t(ch.basic_publish(
        "".into(),
        "busy".into(),
        BasicPublishOptions::default(),
        b"m",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    api.eventually("/api/queues/%2F/busy", |q| q["messages"] == 1)
        .await;
    let reason = api
        .delete("/api/queues/%2F/busy?if-empty=true")
        .await
        .assert_error(400, "bad_request");
    assert!(reason.contains("not empty"), "{reason}");
    let _consumer = t(ch.basic_consume(
        "busy".into(),
        "c1".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    api.eventually("/api/queues/%2F/busy", |q| q["consumers"] == 1)
        .await;
    let reason = api
        .delete("/api/queues/%2F/busy?if-unused=true")
        .await
        .assert_error(400, "bad_request");
    assert!(reason.contains("in use"), "{reason}");
    assert_eq!(api.delete("/api/queues/%2F/busy").await.status, 204);
}

#[tokio::test]
async fn a_queue_used_over_amqp_shows_its_counts() {
    let api = start().await;
    let amqp = api.amqp().await;
    let ch = t(amqp.create_channel()).await.unwrap();
    t(ch.queue_declare("work".into(), Default::default(), FieldTable::default()))
        .await
        .unwrap();
    for i in 0..5 {
        t(ch.basic_publish(
            "".into(),
            "work".into(),
            BasicPublishOptions::default(),
            format!("m{i}").as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
    }
    let q = api
        .eventually("/api/queues/%2F/work", |q| q["messages"] == 5)
        .await;
    assert_eq!(q["messages_ready"], 5);
    assert_eq!(q["messages_unacknowledged"], 0);
    assert_eq!(q["message_stats"]["publish"], 5);

    // A consumer with prefetch 2 takes two and acks one.
    let consumer_ch = t(amqp.create_channel()).await.unwrap();
    t(consumer_ch.basic_qos(2, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut consumer = t(consumer_ch.basic_consume(
        "work".into(),
        "tag".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let first = t(consumer.next()).await.unwrap().unwrap();
    let _second = t(consumer.next()).await.unwrap().unwrap();
    t(first.ack(BasicAckOptions::default())).await.unwrap();
    let q = api
        .eventually("/api/queues/%2F/work", |q| {
            q["message_stats"]["ack"] == 1 && q["messages_unacknowledged"] == 2
        })
        .await;
    assert_eq!(q["consumers"], 1);
    assert_eq!(q["messages"], 4);
    assert_eq!(q["messages_ready"], 2);
    assert_eq!(q["message_stats"]["deliver_get"], 3);
    let o = api.get_ok("/api/overview").await;
    assert_eq!(o["queue_totals"]["messages"], 4);
    assert_eq!(o["object_totals"]["consumers"], 1);
}

#[tokio::test]
async fn names_with_slashes_spaces_and_non_ascii_work() {
    let api = start().await;
    for name in [
        "a/b",
        "with space",
        "émoji 🐇",
        "per%cent",
        "amq-not-reserved?x=1#y",
    ] {
        let path = format!("/api/queues/%2F/{}", enc(name));
        assert_eq!(api.put(&path, json!({})).await.status, 201, "{name}");
        assert_eq!(api.get_ok(&path).await["name"], name);
        let path = format!("/api/exchanges/%2F/{}", enc(name));
        assert_eq!(
            api.put(&path, json!({"type": "fanout"})).await.status,
            201,
            "{name}"
        );
        assert_eq!(api.get_ok(&path).await["name"], name);
        let binding = format!("/api/bindings/%2F/e/{0}/q/{0}", enc(name));
        assert_eq!(
            api.post(&binding, json!({"routing_key": name}))
                .await
                .status,
            201
        );
        let listed = api.get_ok(&binding).await;
        assert_eq!(listed[0]["routing_key"], name);
    }
}

#[tokio::test]
async fn bindings_are_created_found_by_properties_key_and_deleted() {
    let api = start().await;
    api.put("/api/exchanges/%2F/x", json!({"type": "direct"}))
        .await;
    api.put("/api/exchanges/%2F/x2", json!({"type": "fanout"}))
        .await;
    api.put("/api/queues/%2F/q", json!({})).await;

    let reply = api
        .post(
            "/api/bindings/%2F/e/x/q/q",
            json!({"routing_key": "a b", "arguments": {"x": 1}}),
        )
        .await;
    assert_eq!(reply.status, 201);
    let location = reply.header("location").expect("a Location header");
    let listed = api.get_ok("/api/bindings/%2F/e/x/q/q").await;
    let b = &listed[0];
    assert_eq!(b["source"], "x");
    assert_eq!(b["destination"], "q");
    assert_eq!(b["destination_type"], "queue");
    assert_eq!(b["routing_key"], "a b");
    assert_eq!(b["arguments"], json!({"x": 1}));
    let key = b["properties_key"].as_str().unwrap();
    assert!(key.starts_with("a+b~"), "{key}");
    assert_eq!(location, format!("q/{}", enc(key)));

    // No arguments and an empty key: `~`.
    let reply = api.post("/api/bindings/%2F/e/x/q/q", json!({})).await;
    assert_eq!(reply.header("location").as_deref(), Some("q/~"));
    assert_eq!(
        api.get_ok("/api/bindings/%2F/e/x/q/q/~").await["routing_key"],
        ""
    );

    // Exchange to exchange.
    let reply = api
        .post("/api/bindings/%2F/e/x/e/x2", json!({"routing_key": "k"}))
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("location").as_deref(), Some("x2/k"));
    let source = api.get_ok("/api/exchanges/%2F/x/bindings/source").await;
    assert_eq!(source.as_array().unwrap().len(), 3);
    let dest = api
        .get_ok("/api/exchanges/%2F/x2/bindings/destination")
        .await;
    assert_eq!(dest.as_array().unwrap().len(), 1);
    assert_eq!(dest[0]["destination_type"], "exchange");

    // The queue's bindings include the default exchange's.
    let q = api.get_ok("/api/queues/%2F/q/bindings").await;
    assert_eq!(q.as_array().unwrap().len(), 3);
    assert_eq!(q[0]["source"], "");
    assert_eq!(q[0]["routing_key"], "q");

    let all = api.get_ok("/api/bindings").await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    assert_eq!(api.get_ok("/api/bindings/%2F").await, all);

    let one = format!("/api/bindings/%2F/e/x/q/q/{}", enc(key));
    assert_eq!(api.get_ok(&one).await["routing_key"], "a b");
    assert_eq!(api.delete(&one).await.status, 204);
    api.delete(&one).await.assert_error(404, "Object Not Found");
    api.get("/api/bindings/%2F/e/x/q/q/nosuch")
        .await
        .assert_error(404, "Object Not Found");
    api.post("/api/bindings/%2F/e/nosuch/q/q", json!({}))
        .await
        .assert_error(404, "Object Not Found");
    api.post("/api/bindings/%2F/e/x/q/nosuch", json!({}))
        .await
        .assert_error(404, "Object Not Found");
    api.post("/api/bindings/%2F/e/x/z/q", json!({}))
        .await
        .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn a_binding_made_over_http_routes_amqp_messages() {
    let api = start().await;
    api.put("/api/exchanges/%2F/route-x", json!({"type": "topic"}))
        .await;
    api.put("/api/queues/%2F/route-q", json!({})).await;
    api.post(
        "/api/bindings/%2F/e/route-x/q/route-q",
        json!({"routing_key": "a.*"}),
    )
    .await;
    let amqp = api.amqp().await;
    let ch = t(amqp.create_channel()).await.unwrap();
    for key in ["a.b", "b.a"] {
        t(ch.basic_publish(
            "route-x".into(),
            key.into(),
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        ))
        .await
        .unwrap();
    }
    api.eventually("/api/queues/%2F/route-q", |q| q["messages"] == 1)
        .await;
}
