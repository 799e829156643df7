//! Users, password hashes, tags, vhosts, permissions and topic permissions survive a
//! restart, and so do
//! their deletions: a deleted guest stays deleted, a deleted vhost does not come back
//! with its queues. Each test runs a broker on its own data directory, stops it and
//! starts a new one there. The first restart replays the metadata log written since
//! start-up; a start rewrites it as a snapshot, so a second restart reads that.

mod common;

use common::{assert_connection_error, connect_url, t};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use std::path::PathBuf;
use warren_core::access::{HashingAlgorithm, PasswordHash, VHostSettings};
use warren_core::PasswordInput;

const LOGIN_REFUSED: &str = "ACCESS_REFUSED - Login was refused using authentication mechanism \
                             PLAIN. For details see the broker logfile.";

fn data_dir(name: &str) -> PathBuf {
    common::restart_dir("access", name)
}

async fn start(dir: &std::path::Path) -> warren::Server {
    common::start_on(dir).await
}

fn url(server: &warren::Server, user: &str, password: &str, vhost: &str) -> String {
    format!(
        "amqp://{user}:{password}@127.0.0.1:{}/{vhost}",
        server.amqp_addr().port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_hashes_tags_vhosts_and_permissions_survive_a_restart() {
    let dir = data_dir("survive");
    let server = start(&dir).await;
    let core = server.broker().clone();
    core.add_user(
        "alice",
        PasswordInput::Plain("wonderland".into()),
        vec!["monitoring".into(), "custom-tag".into()],
    )
    .await
    .unwrap();
    let md5 = PasswordHash::new(HashingAlgorithm::Md5, "old-school").to_base64();
    core.add_user(
        "bob",
        PasswordInput::Hash {
            hash: md5.clone(),
            algorithm: HashingAlgorithm::Md5,
        },
        vec![],
    )
    .await
    .unwrap();
    core.add_user("carol", PasswordInput::None, vec!["management".into()])
        .await
        .unwrap();
    core.set_user_tags("bob", vec!["policymaker".into()])
        .await
        .unwrap();
    let settings = VHostSettings {
        description: "staging".into(),
        tags: vec!["eu".into()],
        default_queue_type: Some("classic".into()),
    };
    core.add_vhost("staging", settings.clone()).await.unwrap();
    core.set_permissions("alice", "staging", "^app\\.", "^app\\.", ".*")
        .await
        .unwrap();
    core.set_permissions("bob", "/", ".*", ".*", ".*")
        .await
        .unwrap();
    core.set_permissions("bob", "staging", ".*", ".*", ".*")
        .await
        .unwrap();
    core.clear_permissions("bob", "staging").await.unwrap();
    core.set_topic_permissions("alice", "staging", "amq.topic", "^{username}\\.", ".*")
        .await
        .unwrap();
    let users_before = core.users();
    let topics_before = core.topic_permissions();
    assert_eq!(topics_before.len(), 1);
    let permissions_before = core.permissions();
    let vhosts_before = core.vhosts();
    drop(core);
    server.shutdown().await;

    let server = start(&dir).await;
    let core = server.broker().clone();
    assert_eq!(core.users(), users_before, "users, hashes and tags");
    assert_eq!(core.permissions(), permissions_before);
    assert_eq!(core.topic_permissions(), topics_before);
    assert_eq!(core.vhosts(), vhosts_before);
    assert_eq!(core.vhost_info("staging").unwrap().settings, settings);
    assert_eq!(core.user("bob").unwrap().password_hash, md5);

    // The recovered users and permissions work over AMQP.
    let conn = connect_url(&url(&server, "alice", "wonderland", "staging"))
        .await
        .expect("alice logs in to staging");
    let ch = t(conn.create_channel()).await.unwrap();
    t(ch.queue_declare(
        "app.q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("app.q allowed");
    let ch = t(conn.create_channel()).await.unwrap();
    let res = t(ch.queue_declare(
        "other".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    common::assert_channel_error(
        res,
        403,
        "ACCESS_REFUSED - access to queue 'other' in vhost 'staging' refused for user 'alice'",
    );
    connect_url(&url(&server, "bob", "old-school", "%2F"))
        .await
        .expect("bob's MD5 hash still verifies");
    assert_connection_error(
        connect_url(&url(&server, "bob", "old-school", "staging")).await,
        530,
        "NOT_ALLOWED - access to vhost 'staging' refused for user 'bob'",
    );
    assert_connection_error(
        connect_url(&url(&server, "carol", "", "%2F")).await,
        403,
        LOGIN_REFUSED,
    );
    drop(conn);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_guest_stays_deleted_across_restarts() {
    let dir = data_dir("guest");
    let server = start(&dir).await;
    let core = server.broker().clone();
    core.add_user("admin", PasswordInput::Plain("pw".into()), vec![])
        .await
        .unwrap();
    core.delete_user("guest").await.unwrap();
    drop(core);
    server.shutdown().await;

    // Twice: after the snapshot written at the first restart too.
    for _ in 0..2 {
        let server = start(&dir).await;
        assert!(server.broker().user("guest").is_none(), "guest came back");
        assert!(server.broker().user("admin").is_some());
        assert_connection_error(
            connect_url(&url(&server, "guest", "guest", "%2F")).await,
            403,
            LOGIN_REFUSED,
        );
        server.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_vhost_and_its_queues_stay_deleted() {
    let dir = data_dir("vhost");
    let server = start(&dir).await;
    let core = server.broker().clone();
    core.add_vhost("gone", VHostSettings::default())
        .await
        .unwrap();
    core.add_vhost("kept", VHostSettings::default())
        .await
        .unwrap();
    core.set_permissions("guest", "gone", ".*", ".*", ".*")
        .await
        .unwrap();
    core.set_permissions("guest", "kept", ".*", ".*", ".*")
        .await
        .unwrap();
    for vhost in ["gone", "kept"] {
        let conn = connect_url(&url(&server, "guest", "guest", vhost))
            .await
            .unwrap();
        let ch = t(conn.create_channel()).await.unwrap();
        t(ch.queue_declare(
            "durable-q".into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await
        .unwrap();
        let _ = t(conn.close(200, "bye".into())).await;
    }
    core.delete_vhost("gone").await.unwrap();
    // Re-created: must come back empty, not with the old queue.
    core.add_vhost("gone", VHostSettings::default())
        .await
        .unwrap();
    drop(core);
    server.shutdown().await;

    for _ in 0..2 {
        let server = start(&dir).await;
        let core = server.broker();
        assert!(core.vhost("gone").unwrap().queue("durable-q").is_none());
        assert!(core.vhost("kept").unwrap().queue("durable-q").is_some());
        assert!(
            core.permissions()
                .iter()
                .all(|p| !(p.vhost == "gone" && p.user == "guest")),
            "permissions went with the deleted vhost"
        );
        server.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
