//! `list_delivery_records`: Warren's own verb, so it runs against Warren only.

use crate::harness::{broker, unique, Amqp, Cleanup};
use crate::table;
use lapin::types::AMQPValue;

#[test]
fn list_delivery_records_tells_a_message_story() {
    let Some(b) = broker() else { return };
    if b.external {
        // RabbitMQ keeps no delivery records.
        return;
    }
    let q = unique("records");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(
        &q,
        false,
        table(&[("x-delivery-records", AMQPValue::Boolean(true))]),
    );
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));
    amqp.publish(&q, 1);
    amqp.consume(&q, "ctl-consumer");
    // A message without message_id is recorded under its queue and position.
    let key = format!("{q}#1");

    let run = b.ctl_until(&["list_delivery_records", &key], |out| {
        out.contains("\tdelivered\t")
    });
    let lines = run.lines();
    assert_eq!(
        lines[0],
        format!("Listing delivery records of message '{key}' in vhost / ...")
    );
    assert_eq!(
        lines[1],
        "time\tqueue\tevent\tuser\tpeer\tconsumer_tag\treason"
    );
    let published: Vec<&str> = lines[2].split('\t').collect();
    assert_eq!(
        published[1..5],
        [q.as_str(), "published", "guest", published[4]]
    );
    assert!(published[4].starts_with("127.0.0.1:"), "{lines:?}");
    let delivered: Vec<&str> = lines[3].split('\t').collect();
    assert_eq!(delivered[1..3], [q.as_str(), "delivered"]);
    assert_eq!(delivered[5], "ctl-consumer");
    assert_eq!(lines.len(), 4, "{lines:?}");

    let run = b.ctl(&[
        "--formatter",
        "json",
        "-q",
        "list_delivery_records",
        &key,
        "--queue",
        &q,
        "event,consumer_tag,delivery_count",
    ]);
    let json: serde_json::Value = serde_json::from_str(run.ok()).expect("JSON output");
    assert_eq!(
        json,
        serde_json::json!([
            {"event": "published", "consumer_tag": null, "delivery_count": null},
            {"event": "delivered", "consumer_tag": "ctl-consumer", "delivery_count": 1},
        ])
    );

    let run = b.ctl(&["-q", "list_delivery_records", "no-such-message"]);
    assert_eq!(run.ok(), "", "no records, no rows");
    let run = b.ctl(&["-p", "no-such-vhost", "list_delivery_records", &key]);
    assert_eq!(
        run.fails(65),
        "Virtual host 'no-such-vhost' does not exist\n"
    );
}
