//! `set_policy`, `list_policies`, `clear_policy`, and a policy's effect over AMQP.

use crate::harness::{broker_serving, unique, Amqp, Cleanup, POLICIES};
use serde_json::{json, Value};

#[test]
fn a_policy_is_set_listed_applied_and_cleared() {
    let Some(b) = broker_serving(&[POLICIES]) else {
        return;
    };
    let name = unique("policy");
    let q = format!("{name}.queue");
    let amqp = Amqp::connect(b, &name);
    let _cleanup = Cleanup(|| {
        drop(b.ctl(&["clear_policy", &name]));
        amqp.delete_queue(&q);
    });
    let pattern = format!("^{}\\.queue$", name.replace('.', "\\."));

    let run = b.ctl(&[
        "set_policy",
        "--priority",
        "7",
        "--apply-to",
        "queues",
        &name,
        &pattern,
        r#"{"max-length":1}"#,
    ]);
    assert_eq!(
        run.ok(),
        format!(
            "Setting policy \"{name}\" for pattern \"{pattern}\" to \"{{\"max-length\":1}}\" with priority \"7\" for vhost \"/\" ...\n"
        )
    );

    let run = b.ctl(&["list_policies"]);
    assert_eq!(
        &run.lines()[..2],
        [
            "Listing policies for vhost \"/\" ...",
            "vhost\tname\tpattern\tapply-to\tdefinition\tpriority"
        ],
        "{run:?}"
    );
    assert!(
        run.lines()
            .contains(&format!("/\t{name}\t{pattern}\tqueues\t{{\"max-length\":1}}\t7").as_str()),
        "{run:?}"
    );
    let rows: Value =
        serde_json::from_str(b.ctl(&["list_policies", "--formatter", "json"]).ok()).unwrap();
    assert!(
        rows.as_array().unwrap().contains(&json!({
            "vhost": "/", "name": name, "pattern": pattern, "apply-to": "queues",
            "definition": "{\"max-length\":1}", "priority": 7
        })),
        "{rows}"
    );

    // The broker applies it: a queue the pattern matches keeps one message.
    amqp.declare(&q, false, Default::default());
    amqp.publish(&q, 3);
    assert_eq!(amqp.message_count(&q), 1, "max-length 1 from the policy");

    let run = b.ctl(&["clear_policy", &name]);
    assert_eq!(
        run.ok(),
        format!("Clearing policy \"{name}\" on vhost \"/\" ...\n")
    );
    assert!(!b.ctl(&["list_policies"]).stdout.contains(&name));
    let run = b.ctl(&["clear_policy", &name]);
    assert_eq!(run.fails(69), "Error:\nParameter does not exist\n");
}

#[test]
fn a_definition_that_is_not_a_json_object_is_refused_before_sending() {
    let Some(b) = broker_serving(&[POLICIES]) else {
        return;
    };
    let name = unique("policy-bad");
    let run = b.ctl(&["set_policy", &name, "^x", "not json"]);
    assert!(
        run.fails(65)
            .starts_with("Error:\nJSON decoding error. Reason: "),
        "{run:?}"
    );
    let run = b.ctl(&["set_policy", &name, "^x", "[1]"]);
    run.fails(65);
    let run = b.ctl(&["set_policy", "--apply-to", "everything", &name, "^x", "{}"]);
    run.fails(64);
    assert!(!b.ctl(&["list_policies"]).stdout.contains(&name));
}

#[test]
fn the_broker_explains_a_definition_it_does_not_accept() {
    let Some(b) = broker_serving(&[POLICIES]) else {
        return;
    };
    let name = unique("policy-unknown-key");
    let _cleanup = Cleanup(|| drop(b.ctl(&["clear_policy", &name])));
    let run = b.ctl(&["set_policy", &name, "^x", r#"{"no-such-setting":1}"#]);
    let stderr = run.fails(69);
    assert!(
        stderr.starts_with("Error:\n") && stderr.contains("no-such-setting"),
        "{run:?}"
    );
    assert!(
        !stderr.contains("&lt;"),
        "HTML escapes are undone: {stderr}"
    );
}
