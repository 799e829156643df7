//! What an operator sees when something is wrong: the broker is down, the password
//! is wrong, the command line is wrong.

use crate::harness::{broker, closed_port, warrenctl};
use std::time::{Duration, Instant};

#[test]
fn a_broker_that_is_down_exits_69_with_a_clear_message() {
    let port = closed_port().to_string();
    let run = warrenctl(&["--port", &port, "list_queues"], &[], None);
    let stderr = run.fails(69);
    assert!(
        stderr.starts_with(&format!(
            "Error: unable to perform an operation on the management API at http://127.0.0.1:{port}/api/: connection refused."
        )),
        "{run:?}"
    );
    assert!(stderr.contains("The broker is not running"), "{run:?}");
    // Every verb that needs the broker says the same.
    for args in [
        vec!["status"],
        vec!["delete_user", "x"],
        vec!["export_definitions", "-"],
    ] {
        let mut all = vec!["--port", port.as_str()];
        all.extend(args);
        warrenctl(&all, &[], None).fails(69);
    }
}

#[test]
fn await_startup_gives_up_after_its_timeout_with_exit_75() {
    let port = closed_port().to_string();
    let started = Instant::now();
    let run = warrenctl(
        &["--port", &port, "await_startup", "--timeout", "1"],
        &[],
        None,
    );
    let stderr = run.fails(75);
    assert!(
        stderr.contains("did not answer within 1.0 seconds"),
        "{run:?}"
    );
    assert!(stderr.contains("connection refused"), "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it waited {:?}",
        started.elapsed()
    );
}

#[test]
fn await_startup_returns_at_once_when_the_broker_answers() {
    let Some(b) = broker() else { return };
    assert_eq!(b.ctl(&["await_startup"]).ok(), "");
    // Up but refusing these credentials is not worth waiting for.
    let port = b.port.to_string();
    let run = warrenctl(
        &[
            "--host",
            &b.host,
            "--port",
            &port,
            "--password",
            "certainly-wrong",
            "await_startup",
        ],
        &[],
        None,
    );
    run.fails(77);
}

#[test]
fn wrong_credentials_exit_77() {
    let Some(b) = broker() else { return };
    let port = b.port.to_string();
    let run = warrenctl(
        &[
            "--host",
            &b.host,
            "--port",
            &port,
            "--user",
            &b.user,
            "--password",
            "certainly-wrong",
            "list_users",
        ],
        &[],
        None,
    );
    assert_eq!(
        run.fails(77),
        format!(
            "Error: authentication failed for user \"{}\" at http://{}:{port}/api/: the user name or password is wrong\n",
            b.user, b.host
        )
    );
}

#[test]
fn usage_errors_exit_64_without_contacting_a_broker() {
    let port = closed_port().to_string();
    let usage = |args: &[&str]| {
        let mut all = vec!["--port", port.as_str()];
        all.extend_from_slice(args);
        let run = warrenctl(&all, &[], None);
        run.fails(64);
        run
    };
    assert!(usage(&["no_such_verb"])
        .stderr
        .contains("unrecognized subcommand 'no_such_verb'"));
    assert!(usage(&["add_user", "only-a-name"])
        .stderr
        .contains("<PASSWORD>"));
    usage(&["set_permissions", "user", "conf", "write"]);
    usage(&["--formatter", "xml", "list_queues"]);
    usage(&["list_queues", "--timeout", "0"]);
    let run = usage(&["list_queues", "name", "bogus_column"]);
    assert!(
        run.stderr
            .starts_with("Error (argument validation): Info key(s) bogus_column are not supported"),
        "{run:?}"
    );
    assert_eq!(run.stdout, "", "nothing is listed");
    assert_eq!(warrenctl(&[], &[], None).code, 64);
}

#[test]
fn help_and_version_exit_0() {
    let run = warrenctl(&["--help"], &[], None);
    assert!(run.ok().contains("list_queues"), "{run:?}");
    let run = warrenctl(&["list_queues", "--help"], &[], None);
    assert!(run.ok().contains("--vhost"), "{run:?}");
    assert!(warrenctl(&["--version"], &[], None)
        .ok()
        .starts_with("warrenctl "));
}
