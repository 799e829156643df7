//! Where connection settings come from: the config file, `WARRENCTL_*` variables
//! and flags, each overriding the one before.

use crate::harness::{broker, closed_port, temp_dir, warrenctl, Broker, TempDir};
use std::path::PathBuf;

/// A config file naming `b`'s host and credentials, `port` and `vhost`; it goes
/// with the directory.
fn config_file(b: &Broker, port: u16, vhost: &str) -> (TempDir, PathBuf) {
    let dir = temp_dir("config");
    let path = dir.join("warrenctl.toml");
    std::fs::write(
        &path,
        format!(
            "host = \"{}\"\nport = {port}\nuser = \"{}\"\npassword = \"{}\"\nvhost = \"{vhost}\"\n",
            b.host, b.user, b.password
        ),
    )
    .unwrap();
    (dir, path)
}

#[test]
fn the_config_file_alone_is_enough() {
    let Some(b) = broker() else { return };
    let (_dir, path) = config_file(b, b.port, "/");
    let run = warrenctl(
        &["--config", path.to_str().unwrap(), "list_vhosts"],
        &[],
        None,
    );
    assert!(
        run.ok().starts_with("Listing vhosts ...\nname\n"),
        "{run:?}"
    );
    // The same through the environment twin of --config.
    let run = warrenctl(
        &["list_vhosts"],
        &[("WARRENCTL_CONFIG", path.to_str().unwrap())],
        None,
    );
    run.ok();
}

#[test]
fn environment_overrides_the_file_and_flags_override_both() {
    let Some(b) = broker() else { return };
    let dead = closed_port();
    let (_dir, path) = config_file(b, dead, "/");
    let config = path.to_str().unwrap();
    let port = b.port.to_string();
    let dead_port = dead.to_string();

    warrenctl(&["--config", config, "list_vhosts"], &[], None).fails(69);
    warrenctl(
        &["--config", config, "list_vhosts"],
        &[("WARRENCTL_PORT", &port)],
        None,
    )
    .ok();
    warrenctl(
        &["--config", config, "--port", &port, "list_vhosts"],
        &[("WARRENCTL_PORT", &dead_port)],
        None,
    )
    .ok();
    warrenctl(
        &["--config", config, "--port", &dead_port, "list_vhosts"],
        &[("WARRENCTL_PORT", &port)],
        None,
    )
    .fails(69);
    // A wrong password in the environment is overridden by the flag.
    warrenctl(
        &["--config", config, "--port", &port, "list_vhosts"],
        &[("WARRENCTL_PASSWORD", "wrong")],
        None,
    )
    .fails(77);
    warrenctl(
        &[
            "--config",
            config,
            "--port",
            &port,
            "--password",
            &b.password,
            "list_vhosts",
        ],
        &[("WARRENCTL_PASSWORD", "wrong")],
        None,
    )
    .ok();
}

#[test]
fn the_vhost_comes_from_the_file_unless_p_is_given() {
    let Some(b) = broker() else { return };
    let (_dir, path) = config_file(b, b.port, "warrenctl-test-no-such-vhost");
    let config = path.to_str().unwrap();
    let run = warrenctl(&["--config", config, "list_queues"], &[], None);
    assert_eq!(
        run.fails(65),
        "Virtual host 'warrenctl-test-no-such-vhost' does not exist\n"
    );
    let run = warrenctl(&["--config", config, "list_queues", "-p", "/"], &[], None);
    assert!(
        run.ok().contains("Listing queues for vhost / ..."),
        "{run:?}"
    );
}

#[test]
fn an_invalid_config_file_exits_78() {
    let dir = temp_dir("bad-config");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "prot = 15672\n").unwrap();
    let run = warrenctl(
        &["--config", path.to_str().unwrap(), "list_queues"],
        &[],
        None,
    );
    assert!(run.fails(78).contains("prot"), "{run:?}");
    let run = warrenctl(
        &[
            "--config",
            dir.join("missing.toml").to_str().unwrap(),
            "list_queues",
        ],
        &[],
        None,
    );
    assert!(run.fails(78).contains("missing.toml"), "{run:?}");
}
