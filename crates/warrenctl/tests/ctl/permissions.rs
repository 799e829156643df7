//! `add_vhost`, `delete_vhost`, `set_permissions`, `list_permissions`,
//! `list_user_permissions`, `clear_permissions`.

use crate::harness::{broker_serving, unique, Cleanup, PERMISSIONS, USERS, VHOSTS};

#[test]
fn permissions_in_a_vhost_whose_name_needs_escaping() {
    let Some(b) = broker_serving(&[USERS, VHOSTS, PERMISSIONS]) else {
        return;
    };
    let vhost = format!("{} with space/slash ü", unique("vhost"));
    let user = unique("perm-user");
    let _cleanup = Cleanup(|| {
        drop(b.ctl(&["delete_vhost", &vhost]));
        drop(b.ctl(&["delete_user", &user]));
    });

    assert_eq!(
        b.ctl(&["add_vhost", &vhost]).ok(),
        format!("Adding vhost \"{vhost}\" ...\n")
    );
    assert!(b
        .ctl(&["-q", "list_vhosts"])
        .lines()
        .contains(&vhost.as_str()));
    b.ctl(&["add_user", &user, "pw"]).ok();

    let run = b.ctl(&["set_permissions", "-p", &vhost, &user, ".*", "", "^amq\\."]);
    assert_eq!(
        run.ok(),
        format!("Setting permissions for user \"{user}\" in vhost \"{vhost}\" ...\n")
    );
    let run = b.ctl(&["list_permissions", "-p", &vhost]);
    assert_eq!(
        &run.lines()[..2],
        [
            format!("Listing permissions for vhost \"{vhost}\" ...").as_str(),
            "user\tconfigure\twrite\tread",
        ],
        "{run:?}"
    );
    // RabbitMQ's API also gives the user who created the vhost full permissions.
    let others: Vec<&str> = run.lines()[2..]
        .iter()
        .copied()
        .filter(|l| !l.starts_with(&format!("{}\t", b.user)))
        .collect();
    assert_eq!(others, [format!("{user}\t.*\t\t^amq\\.")], "{run:?}");
    let run = b.ctl(&["list_user_permissions", &user]);
    assert_eq!(
        run.lines(),
        [
            format!("Listing permissions for user \"{user}\" ...").as_str(),
            "vhost\tconfigure\twrite\tread",
            format!("{vhost}\t.*\t\t^amq\\.").as_str(),
        ],
        "{run:?}"
    );

    let run = b.ctl(&["clear_permissions", "--vhost", &vhost, &user]);
    assert_eq!(
        run.ok(),
        format!("Clearing permissions for user \"{user}\" in vhost \"{vhost}\" ...\n")
    );
    assert_eq!(b.ctl(&["-q", "list_user_permissions", &user]).ok(), "");
    // Clearing what is not there is not an error, as with rabbitmqctl.
    b.ctl(&["clear_permissions", "-p", &vhost, &user]).ok();

    assert_eq!(
        b.ctl(&["delete_vhost", &vhost]).ok(),
        format!("Deleting vhost \"{vhost}\" ...\n")
    );
    assert!(!b
        .ctl(&["-q", "list_vhosts"])
        .lines()
        .contains(&vhost.as_str()));
}

#[test]
fn a_missing_vhost_or_user_is_named_in_the_error() {
    let Some(b) = broker_serving(&[USERS, VHOSTS, PERMISSIONS]) else {
        return;
    };
    let vhost = unique("vhost-missing");
    let user = unique("user-missing");

    let run = b.ctl(&["delete_vhost", &vhost]);
    assert_eq!(
        run.fails(65),
        format!("Virtual host '{vhost}' does not exist\n")
    );
    let run = b.ctl(&["list_permissions", "-p", &vhost]);
    assert_eq!(
        run.fails(65),
        format!("Virtual host '{vhost}' does not exist\n")
    );
    let run = b.ctl(&["list_queues", "-p", &vhost]);
    assert_eq!(
        run.fails(65),
        format!("Virtual host '{vhost}' does not exist\n")
    );

    let run = b.ctl(&["set_permissions", "-p", &vhost, &b.user, ".*", ".*", ".*"]);
    assert_eq!(
        run.fails(69),
        format!("Error:\nVirtual host {vhost} does not exist\n")
    );
    let run = b.ctl(&["set_permissions", &user, ".*", ".*", ".*"]);
    assert_eq!(
        run.fails(67),
        format!("Error:\nUser {user} does not exist\n")
    );
    let run = b.ctl(&["clear_permissions", &user]);
    assert_eq!(
        run.fails(67),
        format!("Error:\nUser {user} does not exist\n")
    );
    let run = b.ctl(&["clear_permissions", "-p", &vhost, &b.user]);
    assert_eq!(
        run.fails(69),
        format!("Error:\nVirtual host {vhost} does not exist\n")
    );
}
