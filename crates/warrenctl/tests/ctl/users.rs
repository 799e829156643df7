//! `add_user`, `list_users`, `set_user_tags`, `change_password`, `delete_user`.

use crate::harness::{broker_serving, unique, warrenctl, Broker, Cleanup, USERS};
use serde_json::{json, Value};

/// `warrenctl` as another user, against the same broker.
fn as_user(b: &Broker, user: &str, password: &str, args: &[&str]) -> crate::harness::Run {
    let port = b.port.to_string();
    let mut all = vec![
        "--host",
        &b.host,
        "--port",
        &port,
        "--user",
        user,
        "--password",
        password,
    ];
    all.extend_from_slice(args);
    warrenctl(&all, &[], None)
}

#[test]
fn a_user_is_added_tagged_listed_repassworded_and_deleted() {
    let Some(b) = broker_serving(&[USERS]) else {
        return;
    };
    let user = unique("user");
    let _cleanup = Cleanup(|| drop(b.ctl(&["delete_user", &user])));

    let run = b.ctl(&["add_user", &user, "first-secret"]);
    assert_eq!(
        run.ok(),
        format!(
            "Adding user \"{user}\" ...\nDone. Don't forget to grant the user permissions to some virtual hosts! \
             See 'warrenctl set_permissions --help' to learn more.\n"
        )
    );

    let run = b.ctl(&["set_user_tags", &user, "administrator", "monitoring"]);
    assert_eq!(
        run.ok(),
        format!("Setting tags for user \"{user}\" to [administrator, monitoring] ...\n")
    );
    let run = b.ctl(&["list_users"]);
    assert_eq!(
        &run.lines()[..2],
        ["Listing users ...", "user\ttags"],
        "{run:?}"
    );
    assert!(
        run.lines()
            .contains(&format!("{user}\t[administrator, monitoring]").as_str()),
        "{run:?}"
    );
    let rows: Value =
        serde_json::from_str(b.ctl(&["list_users", "--formatter", "json"]).ok()).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .contains(&json!({"user": user, "tags": ["administrator", "monitoring"]})),
        "{rows}"
    );

    // Setting tags kept the password; changing it makes the old one fail.
    as_user(b, &user, "first-secret", &["list_vhosts"]).ok();
    let run = b.ctl(&["change_password", &user, "second-secret"]);
    assert_eq!(
        run.ok(),
        format!("Changing password for user \"{user}\" ...\n")
    );
    as_user(b, &user, "first-secret", &["list_vhosts"]).fails(77);
    as_user(b, &user, "second-secret", &["list_vhosts"]).ok();
    let run = b.ctl(&["-q", "list_users"]);
    assert!(
        run.lines()
            .contains(&format!("{user}\t[administrator, monitoring]").as_str()),
        "changing the password kept the tags: {run:?}"
    );

    let run = b.ctl(&["set_user_tags", &user]);
    assert_eq!(
        run.ok(),
        format!("Setting tags for user \"{user}\" to [] ...\n")
    );
    assert!(b
        .ctl(&["-q", "list_users"])
        .lines()
        .contains(&format!("{user}\t[]").as_str()));

    let run = b.ctl(&["delete_user", &user]);
    assert_eq!(run.ok(), format!("Deleting user \"{user}\" ...\n"));
    assert!(!b.ctl(&["list_users"]).stdout.contains(&user));
}

#[test]
fn quiet_add_user_prints_nothing() {
    let Some(b) = broker_serving(&[USERS]) else {
        return;
    };
    let user = unique("user-quiet");
    let _cleanup = Cleanup(|| drop(b.ctl(&["delete_user", &user])));
    assert_eq!(b.ctl(&["-q", "add_user", &user, "pw"]).ok(), "");
    assert_eq!(b.ctl(&["-q", "delete_user", &user]).ok(), "");
}

#[test]
fn adding_an_existing_user_fails_and_keeps_its_password() {
    let Some(b) = broker_serving(&[USERS]) else {
        return;
    };
    let user = unique("user-twice");
    let _cleanup = Cleanup(|| drop(b.ctl(&["delete_user", &user])));
    b.ctl(&["add_user", &user, "pw1"]).ok();
    b.ctl(&["set_user_tags", &user, "management"]).ok();
    let run = b.ctl(&["add_user", &user, "pw2"]);
    assert_eq!(
        run.fails(70),
        format!("Error:\nUser \"{user}\" already exists\n")
    );
    assert_eq!(run.stdout, format!("Adding user \"{user}\" ...\n"));
    as_user(b, &user, "pw1", &["list_vhosts"]).ok();
}

#[test]
fn unknown_users_fail_with_rabbitmqctls_message_and_exit_code() {
    let Some(b) = broker_serving(&[USERS]) else {
        return;
    };
    let user = unique("user-missing");
    let expected = format!("Error:\nUser \"{user}\" does not exist\n");
    let run = b.ctl(&["delete_user", &user]);
    assert_eq!(run.fails(67), expected);
    assert_eq!(run.stdout, format!("Deleting user \"{user}\" ...\n"));
    assert_eq!(b.ctl(&["change_password", &user, "x"]).fails(67), expected);
    assert_eq!(b.ctl(&["set_user_tags", &user, "x"]).fails(67), expected);
    assert_eq!(b.ctl(&["list_user_permissions", &user]).fails(69), expected);
}

#[test]
fn user_names_that_need_escaping_work() {
    let Some(b) = broker_serving(&[USERS]) else {
        return;
    };
    let user = format!("{} a/b#c?d ü", unique("user-odd"));
    let _cleanup = Cleanup(|| drop(b.ctl(&["delete_user", &user])));
    b.ctl(&["add_user", &user, "pw"]).ok();
    b.ctl(&["set_user_tags", &user, "management"]).ok();
    let run = b.ctl(&["-q", "list_users"]);
    assert!(
        run.lines()
            .contains(&format!("{user}\t[management]").as_str()),
        "{run:?}"
    );
    as_user(b, &user, "pw", &["list_vhosts"]).ok();
    b.ctl(&["delete_user", &user]).ok();
    b.ctl(&["delete_user", &user]).fails(67);
}
