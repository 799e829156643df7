//! `list_connections`, `list_channels`, `list_consumers` and `close_connection`,
//! with a real AMQP client on the other end.

use crate::harness::{broker_serving, unique, Amqp, Broker, Cleanup, SESSIONS, STATS_DELAY};
use serde_json::Value;
use std::time::Instant;

/// The API's name of the connection whose client named itself `client_name`, and
/// its client-side port.
fn find_connection(b: &Broker, client_name: &str) -> (String, u64) {
    let deadline = Instant::now() + STATS_DELAY;
    loop {
        let run = b.ctl(&[
            "list_connections",
            "name",
            "peer_port",
            "client_properties",
            "--formatter",
            "json",
        ]);
        let rows: Value = serde_json::from_str(run.ok()).unwrap_or_else(|e| panic!("{e}: {run:?}"));
        let found = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["client_properties"]["connection_name"] == client_name);
        if let Some(r) = found {
            return (
                r["name"].as_str().expect("name").to_string(),
                r["peer_port"].as_u64().expect("peer_port"),
            );
        }
        assert!(
            Instant::now() < deadline,
            "connection {client_name} not listed: {run:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn connections_channels_and_consumers_are_listed_like_rabbitmqctl() {
    let Some(b) = broker_serving(&[SESSIONS]) else {
        return;
    };
    let q = unique("sessions");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(&q, false, Default::default());
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));
    let tag = format!("{q}.tag");
    amqp.consume(&q, &tag);
    let (name, port) = find_connection(b, &q);

    let row = format!("{}\t127.0.0.1\t{port}\trunning", b.user);
    let run = b.ctl_until(&["list_connections"], |out| out.contains(&row));
    assert_eq!(
        &run.lines()[..2],
        [
            "Listing connections ...",
            "user\tpeer_host\tpeer_port\tstate"
        ],
        "{run:?}"
    );
    assert!(run.lines().contains(&row.as_str()), "{run:?}");

    // The API has no channel pids; the channel's name stands in for one.
    let channel = format!("{name} (1)");
    let row = format!("{channel}\t{}\t1\t0", b.user);
    let run = b.ctl_until(&["list_channels"], |out| out.contains(&row));
    assert_eq!(
        &run.lines()[..2],
        [
            "Listing channels ...",
            "pid\tuser\tconsumer_count\tmessages_unacknowledged"
        ],
        "{run:?}"
    );
    assert!(run.lines().contains(&row.as_str()), "{run:?}");
    let run = b.ctl(&["-q", "list_channels", "name", "connection", "number"]);
    assert!(
        run.lines()
            .contains(&format!("{channel}\t{name}\t1").as_str()),
        "{run:?}"
    );

    let row = format!("{q}\t{channel}\t{tag}\ttrue\t0\ttrue\t[]");
    let run = b.ctl_until(&["list_consumers"], |out| out.contains(&row));
    assert_eq!(
        &run.lines()[..2],
        [
            "Listing consumers in vhost / ...",
            "queue_name\tchannel_pid\tconsumer_tag\tack_required\tprefetch_count\tactive\targuments"
        ],
        "{run:?}"
    );
    assert!(run.lines().contains(&row.as_str()), "{run:?}");
}

#[test]
fn close_connection_closes_the_clients_connection() {
    let Some(b) = broker_serving(&[SESSIONS]) else {
        return;
    };
    let client_name = unique("close");
    let amqp = Amqp::connect(b, &client_name);
    let (name, _) = find_connection(b, &client_name);

    let run = b.ctl(&["close_connection", &name, "maintenance window"]);
    assert_eq!(
        run.ok(),
        format!("Closing connection {name}, reason: maintenance window...\n")
    );
    assert!(
        amqp.closed_by_broker(),
        "the broker closed the AMQP connection"
    );

    let run = b.ctl(&["close_connection", &name, "again"]);
    assert_eq!(
        run.fails(69),
        format!("Error:\nConnection \"{name}\" does not exist\n")
    );
}
