//! Delivery records (`x-delivery-records`, Warren's own): a recording queue keeps
//! each message's story (who published it, each delivery, the outcome), which the
//! management API tells by message id. Driven with lapin over TCP, read over HTTP.

mod http_common;

use futures_lite::StreamExt;
use http_common::*;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions,
    BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use serde_json::{json, Value};

fn recording(extra: &[(&str, AMQPValue)]) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-delivery-records".into(), AMQPValue::Boolean(true));
    for (k, v) in extra {
        args.insert((*k).into(), v.clone());
    }
    args
}

async fn channel(conn: &Connection) -> Channel {
    let ch = t(conn.create_channel()).await.expect("channel");
    t(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .expect("confirm.select");
    ch
}

async fn declare(ch: &Channel, queue: &str, args: FieldTable) {
    declare_with(ch, queue, QueueDeclareOptions::default(), args).await;
}

async fn declare_with(ch: &Channel, queue: &str, options: QueueDeclareOptions, args: FieldTable) {
    t(ch.queue_declare(queue.into(), options, args))
        .await
        .expect("queue.declare");
}

async fn publish(ch: &Channel, queue: &str, props: BasicProperties) {
    let confirm = t(ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        b"body",
        props,
    ))
    .await
    .expect("publish");
    assert!(t(confirm).await.expect("confirm").is_ack());
}

fn id(message_id: &str) -> BasicProperties {
    BasicProperties::default().with_message_id(message_id.into())
}

async fn consumer(ch: &Channel, queue: &str, tag: &str) -> lapin::Consumer {
    t(ch.basic_consume(
        queue.into(),
        tag.into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("consume")
}

async fn next(c: &mut lapin::Consumer) -> lapin::message::Delivery {
    t(c.next()).await.expect("a delivery").expect("delivery ok")
}

/// The records of `message_id` in vhost `/`, once `done` holds for them.
async fn story(api: &TestApi, message_id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let path = format!("/api/delivery-records/%2F?message_id={}", enc(message_id));
    let json = api
        .eventually(&path, |j| j.as_array().is_some_and(|a| done(a)))
        .await;
    json.as_array().expect("an array").clone()
}

fn events(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["event"].as_str().expect("event name"))
        .collect()
}

fn ends_with(last: &'static str) -> impl Fn(&[Value]) -> bool {
    move |r| r.last().is_some_and(|e| e["event"] == last)
}

#[tokio::test]
async fn acked_and_rejected_then_requeued_messages_tell_their_whole_story() {
    let api = start().await;
    let publisher = api.amqp().await;
    let subscriber = api.amqp().await;
    let pch = channel(&publisher).await;
    let sch = channel(&subscriber).await;
    let q = unique("story");
    declare(&pch, &q, recording(&[])).await;
    publish(&pch, &q, id("order-1")).await;
    publish(&pch, &q, id("order-2")).await;

    let mut c = consumer(&sch, &q, "billing").await;
    let first = next(&mut c).await;
    t(first.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    let second = next(&mut c).await;
    t(second.acker.reject(BasicRejectOptions { requeue: true }))
        .await
        .unwrap();
    let again = next(&mut c).await;
    assert!(again.redelivered);
    t(again.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();

    let one = story(&api, "order-1", ends_with("acked")).await;
    assert_eq!(events(&one), ["published", "delivered", "acked"]);
    let published = &one[0];
    assert_eq!(published["queue"], q.as_str());
    assert_eq!(published["vhost"], "/");
    assert_eq!(published["message_id"], "order-1");
    assert_eq!(published["user"], "guest");
    assert_eq!(published["exchange"], "");
    assert_eq!(published["routing_key"], q.as_str());
    assert_eq!(published["channel"], 1);
    let publisher_peer = published["peer"].as_str().expect("publisher's address");
    assert!(publisher_peer.starts_with("127.0.0.1:"), "{published}");
    assert!(
        published["connection"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{publisher_peer} -> ")),
        "{published}"
    );
    assert!(published["time"].as_str().unwrap().ends_with('Z'));
    let delivered = &one[1];
    assert_eq!(delivered["consumer_tag"], "billing");
    assert_eq!(delivered["user"], "guest");
    assert_eq!(delivered["redelivered"], false);
    assert_eq!(delivered["delivery_count"], 1);
    assert_eq!(delivered["basic_get"], false);
    let subscriber_peer = delivered["peer"].as_str().unwrap();
    assert!(subscriber_peer.starts_with("127.0.0.1:"));
    assert_ne!(
        subscriber_peer, publisher_peer,
        "each side has its own address"
    );
    let at = |r: &Value| r["timestamp"].as_u64().unwrap();
    assert!(at(&one[0]) <= at(&one[1]) && at(&one[1]) <= at(&one[2]));

    let two = story(&api, "order-2", ends_with("acked")).await;
    assert_eq!(
        events(&two),
        ["published", "delivered", "rejected", "delivered", "acked"]
    );
    assert_eq!(two[2]["requeue"], true);
    assert_eq!(two[3]["redelivered"], true);
    assert_eq!(two[3]["delivery_count"], 2);

    // The queue's own endpoint, and the newest records without a message id.
    let path = format!(
        "/api/queues/%2F/{}/delivery-records?message_id=order-2",
        enc(&q)
    );
    assert_eq!(api.get_ok(&path).await.as_array().unwrap().len(), 5);
    let path = format!("/api/queues/%2F/{}/delivery-records?limit=2", enc(&q));
    let recent = api.get_ok(&path).await;
    let recent = recent.as_array().unwrap();
    assert_eq!(events(recent), ["delivered", "acked"]);
    assert_eq!(recent[1]["message_id"], "order-2");
    let reply = api.get("/api/delivery-records/%2F?limit=0").await;
    assert!(reply.assert_error(400, "bad_request").contains("limit"));
}

#[tokio::test]
async fn dead_lettering_expiry_and_basic_get_are_recorded() {
    let api = start().await;
    let conn = api.amqp().await;
    let ch = channel(&conn).await;
    let (q, dlq, ttl) = (unique("work"), unique("dead"), unique("ttl"));
    declare(&ch, &dlq, recording(&[])).await;
    let dlx = [
        ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
        (
            "x-dead-letter-routing-key",
            AMQPValue::LongString(dlq.as_str().into()),
        ),
    ];
    declare(&ch, &q, recording(&dlx)).await;
    declare(
        &ch,
        &ttl,
        recording(&[("x-message-ttl", AMQPValue::LongInt(50))]),
    )
    .await;

    publish(&ch, &q, id("job-1")).await;
    let mut c = consumer(&ch, &q, "worker").await;
    let d = next(&mut c).await;
    t(d.acker.nack(BasicNackOptions {
        multiple: false,
        requeue: false,
    }))
    .await
    .unwrap();
    let records = story(&api, "job-1", |r| r.len() >= 5).await;
    assert_eq!(
        events(&records),
        [
            "published",
            "delivered",
            "rejected",
            "dead_lettered",
            "published"
        ]
    );
    assert_eq!(records[2]["requeue"], false);
    assert_eq!(records[3]["reason"], "rejected");
    assert_eq!(records[3]["exchange"], "");
    assert_eq!(records[3]["queue"], q.as_str());
    // It arrives in the dead-letter queue under the same id, published by no client.
    assert_eq!(records[4]["queue"], dlq.as_str());
    assert_eq!(records[4]["routing_key"], dlq.as_str());
    assert_eq!(records[4]["user"], Value::Null);

    // basic.get from the dead-letter queue, then an ack.
    let got = t(ch.basic_get(dlq.as_str().into(), Default::default()))
        .await
        .unwrap()
        .expect("the dead-lettered message");
    t(got.delivery.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    let records = story(&api, "job-1", ends_with("acked")).await;
    let get = &records[5];
    assert_eq!(get["event"], "delivered");
    assert_eq!(get["basic_get"], true);
    assert_eq!(get["consumer_tag"], Value::Null);
    assert_eq!(get["user"], "guest");

    publish(&ch, &ttl, id("stale")).await;
    let records = story(&api, "stale", ends_with("expired")).await;
    assert_eq!(events(&records), ["published", "expired"]);
}

#[tokio::test]
async fn only_queues_that_opt_in_record_and_a_policy_opts_in() {
    let api = start().await;
    let conn = api.amqp().await;
    let ch = channel(&conn).await;
    let (plain, by_policy) = (unique("plain"), unique("by-policy"));
    declare(&ch, &plain, FieldTable::default()).await;
    publish(&ch, &plain, id("unrecorded")).await;
    assert_eq!(
        api.get_ok("/api/delivery-records/%2F?message_id=unrecorded")
            .await,
        json!([])
    );
    assert_eq!(
        api.get_ok("/api/delivery-records/%2F").await,
        json!([]),
        "nothing at all was recorded"
    );

    let reply = api
        .put(
            "/api/policies/%2F/records",
            json!({"pattern": format!("^{by_policy}$"), "definition": {"delivery-records": "yes"}}),
        )
        .await;
    assert_eq!(
        reply.assert_error(400, "bad_request"),
        "Validation failed\n\n<<\"yes\">> is not a valid delivery records setting\n"
    );
    let reply = api
        .put(
            "/api/policies/%2F/records",
            json!({"pattern": format!("^{by_policy}$"), "definition": {"delivery-records": true}}),
        )
        .await;
    assert_eq!(
        reply.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    declare(&ch, &by_policy, FieldTable::default()).await;
    publish(&ch, &by_policy, id("via-policy")).await;
    let records = story(&api, "via-policy", |r| !r.is_empty()).await;
    assert_eq!(events(&records), ["published"]);
    assert_eq!(records[0]["queue"], by_policy.as_str());

    // A bad argument is refused as RabbitMQ refuses a bad `x-` argument.
    let err = t(ch.queue_declare(
        unique("bad").as_str().into(),
        QueueDeclareOptions::default(),
        {
            let mut a = FieldTable::default();
            a.insert(
                "x-delivery-records".into(),
                AMQPValue::LongString("on".into()),
            );
            a
        },
    ))
    .await
    .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("PRECONDITION_FAILED")
            && text.contains("invalid arg 'x-delivery-records'")
            && text.contains("{unacceptable_type,longstr}"),
        "{text}"
    );
}

#[tokio::test]
async fn a_user_sees_the_records_of_queues_it_may_read() {
    let api = start().await;
    let conn = api.amqp().await;
    let ch = channel(&conn).await;
    let q = unique("secret");
    declare(&ch, &q, recording(&[])).await;
    publish(&ch, &q, id("classified")).await;
    story(&api, "classified", |r| !r.is_empty()).await;

    let broker = api.server.broker();
    t(broker.add_user(
        "auditor",
        warren_core::PasswordInput::Plain("pw".into()),
        vec!["management".into()],
    ))
    .await
    .unwrap();
    t(broker.set_permissions("auditor", "/", ".*", ".*", "^public$"))
        .await
        .unwrap();
    let auth = Some(("auditor", "pw"));
    let reply = api
        .raw(
            "GET",
            "/api/delivery-records/%2F?message_id=classified",
            None,
            auth,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!([]), "not a queue the auditor may read");
    let path = format!(
        "/api/queues/%2F/{}/delivery-records?message_id=classified",
        enc(&q)
    );
    let reply = api.raw("GET", &path, None, auth).await;
    assert_eq!(
        reply.assert_error(401, "not_authorised"),
        format!("access to queue '{q}' in vhost '/' refused for user 'auditor'")
    );
}

#[tokio::test]
async fn records_survive_a_restart_and_recovered_messages_go_on_being_recorded() {
    let dir = std::env::temp_dir().join(format!("warren-records-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || warren::Config {
        data_dir: dir.clone(),
        remove_data_dir: false,
        ..warren::Config::for_tests()
    };
    let q = unique("durable-story");
    {
        let api = start_with(config()).await;
        let conn = api.amqp().await;
        let ch = channel(&conn).await;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        declare_with(&ch, &q, durable, recording(&[])).await;
        publish(&ch, &q, id("before").with_delivery_mode(2)).await;
        publish(&ch, &q, id("across").with_delivery_mode(2)).await;
        let mut c = consumer(&ch, &q, "early").await;
        let d = next(&mut c).await;
        t(d.acker.ack(BasicAckOptions::default())).await.unwrap();
        story(&api, "before", ends_with("acked")).await;
        let _ = t(conn.close(200, "bye".into())).await;
        t(api.server.shutdown()).await;
    }
    let api = start_with(config()).await;
    let before = story(&api, "before", |r| !r.is_empty()).await;
    assert_eq!(events(&before), ["published", "delivered", "acked"]);
    // "across" was delivered to "early" unacked, then requeued when it left.
    let conn = api.amqp().await;
    let ch = channel(&conn).await;
    let mut c = consumer(&ch, &q, "late").await;
    let d = next(&mut c).await;
    t(d.acker.ack(BasicAckOptions::default())).await.unwrap();
    let across = story(&api, "across", ends_with("acked")).await;
    assert_eq!(
        events(&across),
        ["published", "delivered", "requeued", "delivered", "acked"]
    );
    assert_eq!(across[1]["consumer_tag"], "early");
    assert_eq!(across[3]["consumer_tag"], "late");
    assert_eq!(across[3]["redelivered"], true);
    let _ = t(conn.close(200, "bye".into())).await;
    t(api.server.shutdown()).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn retention_by_size_drops_the_oldest_records() {
    let api = start_with(warren::Config {
        delivery_records: warren_core::records::Limits {
            max_bytes: 32 << 10,
            max_age_ms: 3_600_000,
        },
        ..warren::Config::for_tests()
    })
    .await;
    let conn = api.amqp().await;
    let ch = channel(&conn).await;
    let q = unique("busy");
    declare(&ch, &q, recording(&[])).await;
    for i in 0..600 {
        let confirm = t(ch.basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            b"x",
            id(&format!("bulk-{i}")),
        ))
        .await
        .expect("publish");
        if i == 599 {
            t(confirm).await.unwrap();
        }
    }
    let newest = story(&api, "bulk-599", |r| !r.is_empty()).await;
    assert_eq!(events(&newest), ["published"]);
    assert_eq!(
        api.get_ok("/api/delivery-records/%2F?message_id=bulk-0")
            .await,
        json!([]),
        "the oldest records went to keep the log under 32 KiB"
    );
}

#[tokio::test]
async fn purge_and_queue_deletion_are_outcomes_too() {
    let api = start().await;
    let conn = api.amqp().await;
    let ch = channel(&conn).await;
    let q = unique("emptied");
    declare(&ch, &q, recording(&[])).await;
    publish(&ch, &q, id("purged-1")).await;
    let reply = api
        .delete(&format!("/api/queues/%2F/{}/contents", enc(&q)))
        .await;
    assert_eq!(reply.status, 204);
    let records = story(&api, "purged-1", ends_with("purged")).await;
    assert_eq!(events(&records), ["published", "purged"]);

    publish(&ch, &q, id("deleted-1")).await;
    let reply = api.delete(&format!("/api/queues/%2F/{}", enc(&q))).await;
    assert_eq!(reply.status, 204);
    let records = story(&api, "deleted-1", ends_with("deleted")).await;
    assert_eq!(events(&records), ["published", "deleted"]);
    // The records outlive their queue.
    let path = format!(
        "/api/queues/%2F/{}/delivery-records?message_id=deleted-1",
        enc(&q)
    );
    assert_eq!(api.get_ok(&path).await.as_array().unwrap().len(), 2);
}
