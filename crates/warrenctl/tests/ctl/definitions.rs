//! `export_definitions` and `import_definitions`: a round trip through a file and
//! through stdout/stdin.

use crate::harness::{
    broker_serving, temp_dir, unique, Amqp, Broker, Cleanup, DEFINITIONS, PERMISSIONS, POLICIES,
    USERS, VHOSTS,
};
use serde_json::{json, Value};

/// The exported definitions that belong to `vhost` and `user` only, so importing
/// them back cannot bring back what parallel tests deleted meanwhile.
fn only_ours(all: &Value, vhost: &str, user: &str) -> Value {
    let pick = |key: &str, keep: &dyn Fn(&Value) -> bool| -> Value {
        let items = all[key].as_array().cloned().unwrap_or_default();
        Value::Array(items.into_iter().filter(|i| keep(i)).collect())
    };
    json!({
        "users": pick("users", &|u| u["name"] == user),
        "vhosts": pick("vhosts", &|v| v["name"] == vhost),
        "permissions": pick("permissions", &|p| p["vhost"] == vhost),
        "policies": pick("policies", &|p| p["vhost"] == vhost),
        "queues": pick("queues", &|q| q["vhost"] == vhost),
        "exchanges": pick("exchanges", &|x| x["vhost"] == vhost),
        "bindings": pick("bindings", &|x| x["vhost"] == vhost),
    })
}

/// A vhost with a user, a permission, a policy, a durable queue, exchange and binding.
fn populate(b: &Broker, vhost: &str, user: &str) {
    b.ctl(&["add_vhost", vhost]).ok();
    b.ctl(&["add_user", user, "pw"]).ok();
    b.ctl(&["set_user_tags", user, "monitoring"]).ok();
    b.ctl(&["set_permissions", "-p", vhost, user, "^c", "^w", "^r"])
        .ok();
    b.ctl(&[
        "set_policy",
        "-p",
        vhost,
        "limit",
        "^q",
        r#"{"max-length":5}"#,
    ])
    .ok();
    b.ctl(&["set_permissions", "-p", vhost, &b.user, ".*", ".*", ".*"])
        .ok();
    let amqp = Amqp::connect_vhost(b, vhost, "definitions");
    amqp.declare(&format!("q.{user}"), true, Default::default());
    amqp.declare_exchange_durable(&format!("x.{user}"));
    amqp.bind(
        &format!("q.{user}"),
        &format!("x.{user}"),
        "key",
        Default::default(),
    );
}

/// What of `vhost` an operator would look at after an import.
fn inventory(b: &Broker, vhost: &str, user: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for args in [
        vec!["-s", "list_queues", "-p", vhost, "name", "durable"],
        vec![
            "-s",
            "list_exchanges",
            "-p",
            vhost,
            "name",
            "type",
            "durable",
        ],
        vec![
            "-s",
            "list_bindings",
            "-p",
            vhost,
            "source_name",
            "destination_name",
            "routing_key",
        ],
        vec!["-s", "list_permissions", "-p", vhost],
        vec![
            "-s",
            "list_policies",
            "-p",
            vhost,
            "name",
            "pattern",
            "definition",
        ],
    ] {
        let run = b.ctl(&args);
        seen.extend(
            run.ok()
                .lines()
                .filter(|l| !l.starts_with("amq.") && !l.starts_with('\t'))
                .map(String::from),
        );
    }
    let users = b.ctl(&["-s", "list_users"]);
    seen.extend(
        users
            .ok()
            .lines()
            .filter(|l| l.starts_with(user))
            .map(String::from),
    );
    seen.sort();
    seen
}

#[test]
fn definitions_round_trip_through_a_file() {
    let Some(b) = broker_serving(&[DEFINITIONS, USERS, VHOSTS, PERMISSIONS, POLICIES]) else {
        return;
    };
    let vhost = unique("defs-vhost");
    let user = unique("defs-user");
    let _cleanup = Cleanup(|| {
        drop(b.ctl(&["delete_vhost", &vhost]));
        drop(b.ctl(&["delete_user", &user]));
    });
    populate(b, &vhost, &user);
    let before = inventory(b, &vhost, &user);
    assert!(before.contains(&format!("q.{user}\ttrue")), "{before:?}");
    assert!(
        before.contains(&format!("{user}\t[monitoring]")),
        "{before:?}"
    );

    let dir = temp_dir("defs");
    let file = dir.join("all.json");
    let file = file.to_str().unwrap();
    let run = b.ctl(&["export_definitions", file]);
    assert_eq!(
        run.ok(),
        format!("Exporting definitions in JSON to a file at \"{file}\" ...\n")
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let ours = only_ours(&all, &vhost, &user);
    assert_eq!(ours["queues"].as_array().map(Vec::len), Some(1), "{ours}");
    let ours_file = dir.join("ours.json");
    let ours_file = ours_file.to_str().unwrap();
    std::fs::write(ours_file, ours.to_string()).unwrap();

    b.ctl(&["delete_vhost", &vhost]).ok();
    b.ctl(&["delete_user", &user]).ok();
    assert!(
        b.ctl(&["-q", "list_queues", "-p", &vhost]).code != 0,
        "the vhost is gone"
    );

    let run = b.ctl(&["import_definitions", ours_file]);
    assert_eq!(
        run.ok(),
        format!("Importing definitions in JSON from a file at \"{ours_file}\" ...\nSuccessfully imported definitions.\n")
    );
    // The admin's own permission came back with the rest of the vhost's.
    assert_eq!(inventory(b, &vhost, &user), before);
}

#[test]
fn definitions_round_trip_through_stdout_and_stdin() {
    let Some(b) = broker_serving(&[DEFINITIONS, USERS, VHOSTS, PERMISSIONS, POLICIES]) else {
        return;
    };
    let vhost = unique("defs-stdio-vhost");
    let user = unique("defs-stdio-user");
    let _cleanup = Cleanup(|| {
        drop(b.ctl(&["delete_vhost", &vhost]));
        drop(b.ctl(&["delete_user", &user]));
    });
    populate(b, &vhost, &user);
    let before = inventory(b, &vhost, &user);

    let run = b.ctl(&["export_definitions", "-"]);
    let all: Value =
        serde_json::from_str(run.ok()).unwrap_or_else(|e| panic!("stdout is the JSON alone: {e}"));
    let ours = only_ours(&all, &vhost, &user).to_string();
    b.ctl(&["delete_vhost", &vhost]).ok();
    b.ctl(&["delete_user", &user]).ok();

    let run = b.ctl_with(&["-q", "import_definitions", "-"], Some(&ours));
    assert_eq!(run.ok(), "");
    assert_eq!(inventory(b, &vhost, &user), before);
}

#[test]
fn import_refuses_a_missing_file_and_bad_json() {
    let Some(b) = broker_serving(&[DEFINITIONS]) else {
        return;
    };
    let dir = temp_dir("defs-bad");
    let missing = dir.join("missing.json");
    let run = b.ctl(&["import_definitions", missing.to_str().unwrap()]);
    assert!(run.fails(66).contains("missing.json"), "{run:?}");
    let run = b.ctl_with(&["import_definitions", "-"], Some("{not json"));
    assert!(
        run.fails(65).starts_with("Error:\nJSON decoding error"),
        "{run:?}"
    );
    let unwritable = dir.join("no/such/dir/out.json");
    let run = b.ctl(&["export_definitions", unwritable.to_str().unwrap()]);
    run.fails(73);
}
