//! `trace_on` and `trace_off`: rabbitmqctl's lines, the vhost's tracing field, and
//! the firehose itself seen over AMQP.

use crate::harness::{broker_serving, unique, Amqp, Broker, Cleanup, PERMISSIONS, VHOSTS};
use std::time::{Duration, Instant};

/// The vhost's `tracing` and `description` columns as list_vhosts prints them.
fn vhost_row(b: &Broker, vhost: &str) -> String {
    let run = b.ctl(&["list_vhosts", "name", "tracing", "description", "-s"]);
    run.lines()
        .into_iter()
        .find(|l| l.split('\t').next() == Some(vhost))
        .unwrap_or_else(|| panic!("{vhost} listed: {run:?}"))
        .to_string()
}

/// Waits (briefly) until `queue` holds `n` messages.
fn wait_for_count(amqp: &Amqp, queue: &str, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while amqp.message_count(queue) != n {
        assert!(Instant::now() < deadline, "{queue} never held {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn trace_on_and_off_switch_the_firehose_of_one_vhost() {
    let Some(b) = broker_serving(&[VHOSTS, PERMISSIONS]) else {
        return;
    };
    let vhost = unique("traced");
    let _cleanup = Cleanup(|| drop(b.ctl(&["delete_vhost", &vhost])));
    b.ctl(&["add_vhost", &vhost, "--description", "kept as it was"])
        .ok();
    b.ctl(&["set_permissions", "-p", &vhost, &b.user, ".*", ".*", ".*"])
        .ok();

    let run = b.ctl(&["trace_on", "-p", &vhost]);
    assert_eq!(
        run.ok(),
        format!("Starting tracing for vhost \"{vhost}\" ...\nTrace enabled for vhost {vhost}\n")
    );
    assert_eq!(
        vhost_row(b, &vhost),
        format!("{vhost}\ttrue\tkept as it was"),
        "tracing on, description untouched"
    );

    let amqp = Amqp::connect_vhost(b, &vhost, "tracing");
    let (work, firehose) = (unique("work"), unique("firehose"));
    amqp.declare(&work, false, Default::default());
    amqp.declare(&firehose, false, Default::default());
    amqp.bind(
        &firehose,
        "amq.rabbitmq.trace",
        "publish.#",
        Default::default(),
    );
    amqp.publish(&work, 1);
    wait_for_count(&amqp, &firehose, 1);

    let run = b.ctl(&["trace_off", "-p", &vhost]);
    assert_eq!(
        run.ok(),
        format!("Stopping tracing for vhost \"{vhost}\" ...\nTrace disabled for vhost {vhost}\n")
    );
    assert_eq!(
        vhost_row(b, &vhost),
        format!("{vhost}\tfalse\tkept as it was")
    );
    amqp.publish(&work, 1);
    wait_for_count(&amqp, &work, 2);
    assert_eq!(amqp.message_count(&firehose), 1, "nothing traced once off");

    let run = b.ctl(&["trace_off", "-q", "-p", &vhost]);
    assert_eq!(
        run.ok(),
        format!("Trace disabled for vhost {vhost}\n"),
        "-q leaves the result line"
    );
}

#[test]
fn tracing_a_missing_vhost_fails_without_creating_it() {
    let Some(b) = broker_serving(&[VHOSTS]) else {
        return;
    };
    let vhost = unique("no-such-vhost");
    let run = b.ctl(&["trace_on", "-p", &vhost]);
    assert_eq!(
        run.fails(65),
        format!("Virtual host '{vhost}' does not exist\n")
    );
    let listed = b.ctl(&["list_vhosts", "-s"]);
    assert!(!listed.lines().contains(&vhost.as_str()), "{listed:?}");
}
