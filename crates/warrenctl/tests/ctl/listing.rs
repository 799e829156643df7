//! `list_queues`, `list_exchanges`, `list_bindings`, `list_vhosts`: banners, default
//! and chosen columns, and the three formatters.

use crate::harness::{broker, unique, Amqp, Cleanup};
use crate::table;
use lapin::types::{AMQPValue, LongString};
use lapin::ExchangeKind;
use serde_json::{json, Value};

#[test]
fn list_queues_prints_rabbitmqctls_banner_header_and_default_columns() {
    let Some(b) = broker() else { return };
    let q = unique("list-default");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(&q, false, Default::default());
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));

    // Message counts come from statistics the broker may not have gathered yet.
    let row = format!("{q}\t0\n");
    let run = b.ctl_until(&["list_queues"], |out| out.contains(&row));
    let lines = run.lines();
    assert_eq!(
        &lines[..3],
        [
            "Timeout: 30.0 seconds ...",
            "Listing queues for vhost / ...",
            "name\tmessages"
        ],
        "{run:?}"
    );
    assert!(lines.contains(&format!("{q}\t0").as_str()), "{run:?}");
    run.ok();
}

#[test]
fn list_queues_quiet_drops_banners_and_silent_drops_the_header_too() {
    let Some(b) = broker() else { return };
    let q = unique("list-quiet");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(&q, false, Default::default());
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));

    let row = format!("{q}\t0\n");
    let quiet = b.ctl_until(&["list_queues", "-q"], |out| out.contains(&row));
    assert_eq!(quiet.lines()[0], "name\tmessages", "{quiet:?}");
    assert!(quiet.lines().contains(&format!("{q}\t0").as_str()));

    let silent = b.ctl(&["--silent", "list_queues"]);
    assert!(!silent.stdout.contains("name\tmessages"), "{silent:?}");
    assert!(!silent.stdout.contains("Listing"), "{silent:?}");
    assert!(silent.lines().contains(&format!("{q}\t0").as_str()));

    let no_headers = b.ctl(&["list_queues", "--no-table-headers"]);
    assert!(no_headers.stdout.starts_with("Timeout: "), "{no_headers:?}");
    assert!(
        !no_headers.stdout.contains("name\tmessages"),
        "{no_headers:?}"
    );
}

#[test]
fn list_queues_shows_the_columns_asked_for_in_that_order() {
    let Some(b) = broker() else { return };
    let q = unique("list-columns");
    let amqp = Amqp::connect(b, &q);
    let args = table(&[
        ("x-max-length", AMQPValue::LongInt(10)),
        (
            "x-overflow",
            AMQPValue::LongString(LongString::from("reject-publish")),
        ),
    ]);
    amqp.declare(&q, true, args);
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));
    amqp.publish(&q, 2);

    let columns = [
        "name",
        "messages",
        "messages_ready",
        "messages_unacknowledged",
        "consumers",
        "durable",
        "auto_delete",
        "exclusive",
        "arguments",
    ];
    let mut argv = vec!["-q", "list_queues"];
    argv.extend(columns);
    let run = b.ctl_until(&argv, |out| out.contains(&format!("{q}\t2\t2\t0")));
    assert_eq!(run.lines()[0], columns.join("\t"));
    let row = run
        .lines()
        .into_iter()
        .find(|l| l.starts_with(&format!("{q}\t")))
        .unwrap_or_else(|| panic!("no row for {q}: {run:?}"))
        .to_string();
    assert_eq!(
        row,
        format!(
            "{q}\t2\t2\t0\t0\ttrue\tfalse\tfalse\t[{{\"x-max-length\",10}},{{\"x-overflow\",\"reject-publish\"}}]"
        )
    );
    // Comma-separated column lists work too.
    let commas = b.ctl(&["-q", "list_queues", "name,durable"]);
    assert_eq!(commas.lines()[0], "name\tdurable", "{commas:?}");
}

#[test]
fn list_queues_json_is_an_array_of_objects_without_banners() {
    let Some(b) = broker() else { return };
    let q = unique("list-json");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(&q, false, table(&[("x-max-length", AMQPValue::LongInt(5))]));
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));

    let run = b.ctl(&[
        "list_queues",
        "name",
        "durable",
        "arguments",
        "--formatter",
        "json",
    ]);
    let rows: Value = serde_json::from_str(run.ok()).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    let ours: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == q.as_str())
        .collect();
    assert_eq!(
        ours,
        [&json!({"name": q, "durable": false, "arguments": {"x-max-length": 5}})]
    );
    let keys: Vec<&String> = ours[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["name", "durable", "arguments"],
        "columns keep their order"
    );
}

#[test]
fn table_formatter_aligns_columns_in_a_box() {
    let Some(b) = broker() else { return };
    let q = unique("list-table");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(&q, false, Default::default());
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));

    let run = b.ctl(&[
        "-q",
        "list_queues",
        "name",
        "durable",
        "--formatter",
        "table",
    ]);
    let lines = run.lines();
    assert!(
        lines[0].starts_with('┌') && lines.last().unwrap().starts_with('└'),
        "{run:?}"
    );
    assert!(
        lines[1].starts_with("│ name ") && lines[1].contains("│ durable │"),
        "{run:?}"
    );
    let width = lines[0].chars().count();
    assert!(lines.iter().all(|l| l.chars().count() == width), "{run:?}");
    let row = lines.iter().find(|l| l.contains(&q)).expect("our queue");
    assert!(row.contains("│ false   │"), "{row}");
}

#[test]
fn list_exchanges_shows_defaults_columns_and_the_nameless_default_exchange() {
    let Some(b) = broker() else { return };
    let x = unique("list-exchange");
    let amqp = Amqp::connect(b, &x);
    let args = table(&[(
        "alternate-exchange",
        AMQPValue::LongString(LongString::from("amq.fanout")),
    )]);
    amqp.declare_exchange(&x, ExchangeKind::Topic, args);
    let _cleanup = Cleanup(|| amqp.delete_exchange(&x));

    let run = b.ctl(&["list_exchanges"]);
    let lines = run.lines();
    assert_eq!(
        &lines[..2],
        ["Listing exchanges for vhost / ...", "name\ttype"],
        "{run:?}"
    );
    assert!(
        lines.contains(&"\tdirect"),
        "the default exchange has no name: {run:?}"
    );
    assert!(lines.contains(&"amq.topic\ttopic"), "{run:?}");
    assert!(lines.contains(&format!("{x}\ttopic").as_str()), "{run:?}");

    let run = b.ctl(&[
        "-q",
        "list_exchanges",
        "name",
        "type",
        "durable",
        "auto_delete",
        "internal",
        "arguments",
    ]);
    assert_eq!(
        run.lines()[0],
        "name\ttype\tdurable\tauto_delete\tinternal\targuments"
    );
    assert!(
        run.lines().contains(
            &format!(
                "{x}\ttopic\tfalse\tfalse\tfalse\t[{{\"alternate-exchange\",\"amq.fanout\"}}]"
            )
            .as_str()
        ),
        "{run:?}"
    );
}

#[test]
fn list_bindings_shows_rabbitmqctls_columns() {
    let Some(b) = broker() else { return };
    let q = unique("list-bindings-q");
    let x = unique("list-bindings-x");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(&q, false, Default::default());
    amqp.declare_exchange(&x, ExchangeKind::Headers, Default::default());
    let _cleanup = Cleanup(|| {
        amqp.delete_queue(&q);
        amqp.delete_exchange(&x);
    });
    let args = table(&[("x-match", AMQPValue::LongString(LongString::from("any")))]);
    amqp.bind(&q, &x, "rk", args);

    let run = b.ctl(&["list_bindings"]);
    let lines = run.lines();
    assert_eq!(
        &lines[..2],
        [
            "Listing bindings for vhost /...",
            "source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments"
        ],
        "{run:?}"
    );
    assert!(
        lines.contains(&format!("\texchange\t{q}\tqueue\t{q}\t[]").as_str()),
        "{run:?}"
    );
    assert!(
        lines.contains(
            &format!("{x}\texchange\t{q}\tqueue\trk\t[{{\"x-match\",\"any\"}}]").as_str()
        ),
        "{run:?}"
    );
    let some = b.ctl(&["-q", "list_bindings", "source_name", "routing_key"]);
    assert!(
        some.lines().contains(&format!("{x}\trk").as_str()),
        "{some:?}"
    );
}

#[test]
fn list_vhosts_shows_the_default_vhost() {
    let Some(b) = broker() else { return };
    let run = b.ctl(&["list_vhosts"]);
    assert_eq!(&run.lines()[..2], ["Listing vhosts ...", "name"], "{run:?}");
    assert!(run.lines().contains(&"/"), "{run:?}");
    let json: Value =
        serde_json::from_str(b.ctl(&["list_vhosts", "--formatter", "json"]).ok()).unwrap();
    assert!(
        json.as_array().unwrap().contains(&json!({"name": "/"})),
        "{json}"
    );
}
