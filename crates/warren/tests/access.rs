//! Users, vhosts and permissions, enforced over AMQP. Users, vhosts and permissions
//! are created through the core API on the in-process broker; each test then talks
//! to it with lapin as that user and asserts the reply code and text it gets.
//!
//! Every expected text below was checked against RabbitMQ 3.10.8 with pika, after
//! `rabbitmqctl add_user` / `add_vhost` / `set_permissions -p / U '^app\.' '^app\.'
//! '^app\.'`: the 530s for a vhost without permissions and for a missing vhost, the
//! 403 texts of queue.declare (named and server-named), exchange.declare (also with
//! an alternate exchange), queue.declare with a dead-letter exchange, queue.delete
//! and exchange.delete (also of missing objects), queue.purge, basic.get,
//! basic.consume, basic.publish (to the default exchange: `amq.default`; to a missing
//! exchange: 403, not 404), queue.bind/unbind and exchange.bind (both ends), passive
//! declares succeeding without configure, and the 320s when a vhost or a user is
//! deleted under an open connection. Against an external broker these tests are
//! skipped: they need the core API.

mod common;

use common::*;
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, ExchangeBindOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
    QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};
use warren_core::access::{HashingAlgorithm, PasswordHash, VHostSettings};
use warren_core::{BrokerRef, ErrorKind, PasswordInput};

/// The in-process broker and its core, or None against an external broker.
async fn setup() -> Option<(TestBroker, BrokerRef)> {
    let b = broker().await;
    let core = b.server()?.broker().clone();
    Some((b, core))
}

/// Adds user `name` (password "pw") with `configure write read` on `/`.
async fn user_with(core: &BrokerRef, name: &str, perms: Option<(&str, &str, &str)>) {
    let created = core
        .add_user(name, PasswordInput::Plain("pw".into()), vec![])
        .await
        .expect("add user");
    assert!(created);
    if let Some((c, w, r)) = perms {
        core.set_permissions(name, "/", c, w, r)
            .await
            .expect("set permissions");
    }
}

async fn connect_as(b: &TestBroker, user: &str, vhost: &str) -> lapin::Result<Connection> {
    connect_url(&b.url_with(user, "pw", vhost, "")).await
}

async fn channel_as(b: &TestBroker, user: &str) -> (Connection, Channel) {
    let conn = connect_as(b, user, "%2F").await.expect("connect");
    let ch = t(conn.create_channel()).await.expect("channel");
    (conn, ch)
}

async fn new_channel(conn: &Connection) -> Channel {
    t(conn.create_channel()).await.expect("channel")
}

fn refused(kind: &str, name: &str, user: &str) -> String {
    format!("ACCESS_REFUSED - access to {kind} '{name}' in vhost '/' refused for user '{user}'")
}

async fn guest_channel(b: &TestBroker) -> (Connection, Channel) {
    b.connect_channel().await
}

async fn declare(ch: &Channel, name: &str) -> lapin::Result<lapin::Queue> {
    t(ch.queue_declare(
        name.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
}

async fn declare_exchange(ch: &Channel, name: &str, args: FieldTable) -> lapin::Result<()> {
    t(ch.exchange_declare(
        name.into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        args,
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_permissions_on_the_vhost_gets_530() {
    let Some((b, core)) = setup().await else {
        return;
    };
    let user = unique("noperm");
    user_with(&core, &user, None).await;
    let res = connect_as(&b, &user, "%2F").await;
    assert_connection_error(
        res,
        530,
        &format!("NOT_ALLOWED - access to vhost '/' refused for user '{user}'"),
    );
    // With permissions it connects; a vhost that does not exist is 530 "not found".
    core.set_permissions(&user, "/", ".*", ".*", ".*")
        .await
        .unwrap();
    let conn = connect_as(&b, &user, "%2F").await.expect("connects now");
    assert_connection_usable(&conn).await;
    let vhost = unique("missing-vhost");
    assert_connection_error(
        connect_as(&b, &user, &vhost).await,
        530,
        &format!("NOT_ALLOWED - vhost {vhost} not found"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_hashes_and_users_without_a_password_are_refused() {
    let Some((b, core)) = setup().await else {
        return;
    };
    const LOGIN_REFUSED: &str = "ACCESS_REFUSED - Login was refused using authentication \
                                 mechanism PLAIN. For details see the broker logfile.";
    let user = unique("pw");
    user_with(&core, &user, Some((".*", ".*", ".*"))).await;
    let res = connect_url(&b.url_with(&user, "wrong", "%2F", "")).await;
    assert_connection_error(res, 403, LOGIN_REFUSED);

    // A user added with a hash made elsewhere (SHA-512 here) logs in with its password.
    let hashed = unique("hashed");
    let hash = PasswordHash::new(HashingAlgorithm::Sha512, "pw").to_base64();
    core.add_user(
        &hashed,
        PasswordInput::Hash {
            hash,
            algorithm: HashingAlgorithm::Sha512,
        },
        vec!["monitoring".into()],
    )
    .await
    .unwrap();
    core.set_permissions(&hashed, "/", ".*", ".*", ".*")
        .await
        .unwrap();
    let conn = connect_as(&b, &hashed, "%2F").await.expect("hash login");
    assert_connection_usable(&conn).await;
    let info = core.user(&hashed).unwrap();
    assert_eq!(info.hashing_algorithm, "rabbit_password_hashing_sha512");
    assert_eq!(info.tags, vec!["monitoring".to_string()]);

    // No password: no password works, not even an empty one.
    let nopass = unique("nopass");
    core.add_user(&nopass, PasswordInput::None, vec![])
        .await
        .unwrap();
    core.set_permissions(&nopass, "/", ".*", ".*", ".*")
        .await
        .unwrap();
    assert_eq!(core.user(&nopass).unwrap().password_hash, "");
    for pw in ["pw", "", "guest"] {
        let res = connect_url(&b.url_with(&nopass, pw, "%2F", "")).await;
        assert_connection_error(res, 403, LOGIN_REFUSED);
    }

    // A changed password: the old one stops working.
    core.change_password(&user, PasswordInput::Plain("new".into()))
        .await
        .unwrap();
    assert_connection_error(connect_as(&b, &user, "%2F").await, 403, LOGIN_REFUSED);
    let conn = connect_url(&b.url_with(&user, "new", "%2F", ""))
        .await
        .expect("new password");
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_limited_to_app_allows_app_q_and_refuses_other() {
    let Some((b, core)) = setup().await else {
        return;
    };
    let user = unique("cfg");
    user_with(&core, &user, Some(("^app\\.", "^app\\.", "^app\\."))).await;
    let app_q = format!("app.{}", unique("q"));
    let other = unique("other");
    let (_g, gch) = guest_channel(&b).await;
    declare(&gch, &other).await.unwrap();
    declare_exchange(&gch, &other, FieldTable::default())
        .await
        .unwrap();

    let (conn, ch) = channel_as(&b, &user).await;
    declare(&ch, &app_q).await.expect("app.q is allowed");
    // Passive declares need no permission, as in RabbitMQ.
    t(ch.queue_declare(
        other.as_str().into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("passive declare");
    t(ch.exchange_declare(
        other.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("passive exchange declare");
    assert_channel_error(
        declare(&ch, &other).await,
        403,
        &refused("queue", &other, &user),
    );

    // Server-named queues are checked under their generated name.
    let ch = new_channel(&conn).await;
    let err = declare(&ch, "")
        .await
        .expect_err("amq.gen-* is not ^app\\.");
    let f = failure(&err);
    assert_eq!(f.code, 403);
    assert!(
        f.text
            .starts_with("ACCESS_REFUSED - access to queue 'amq.gen-")
            && f.text
                .ends_with(&format!("' in vhost '/' refused for user '{user}'")),
        "{}",
        f.text
    );

    let ch = new_channel(&conn).await;
    assert_channel_error(
        declare_exchange(&ch, &other, FieldTable::default()).await,
        403,
        &refused("exchange", &other, &user),
    );
    let ch = new_channel(&conn).await;
    assert_channel_error(
        t(ch.queue_delete(other.as_str().into(), QueueDeleteOptions::default())).await,
        403,
        &refused("queue", &other, &user),
    );
    // Deleting what does not exist is refused too: the check comes first.
    let missing = unique("missing");
    let ch = new_channel(&conn).await;
    assert_channel_error(
        t(ch.exchange_delete(missing.as_str().into(), ExchangeDeleteOptions::default())).await,
        403,
        &refused("exchange", &missing, &user),
    );
    // The reserved prefix is checked before the permission.
    let ch = new_channel(&conn).await;
    assert_channel_error(
        declare(&ch, "amq.mine").await,
        403,
        "ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'",
    );
    let ch = new_channel(&conn).await;
    t(ch.queue_delete(app_q.as_str().into(), QueueDeleteOptions::default()))
        .await
        .expect("deleting app.q is allowed");
    // Every refusal closed a channel only.
    assert!(conn.status().connected());
    t(gch.queue_delete(other.as_str().into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_needs_write_on_the_exchange() {
    let Some((b, core)) = setup().await else {
        return;
    };
    let user = unique("pub");
    user_with(&core, &user, Some((".*", "^app\\.", ".*"))).await;
    let app_x = format!("app.{}", unique("x"));
    let (conn, ch) = channel_as(&b, &user).await;
    declare_exchange(&ch, &app_x, FieldTable::default())
        .await
        .unwrap();
    let q = declare_temp_queue(&ch).await;
    t(ch.queue_bind(
        q.as_str().into(),
        app_x.as_str().into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect_err("binding needs write on the queue");
    // Publishing to app.* is allowed and delivered.
    let ch = new_channel(&conn).await;
    let x2 = format!("app.{}", unique("fan"));
    t(ch.exchange_declare(
        x2.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let (_g, gch) = guest_channel(&b).await;
    let gq = declare_temp_queue(&gch).await;
    t(gch.queue_bind(
        gq.as_str().into(),
        x2.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish(&ch, &x2, "", b"allowed").await;
    // Published on one connection, fetched on another: nothing orders the
    // two, so poll until the message has arrived.
    let got = get_eventually(&gch, &gq).await.expect("delivered");
    assert_eq!(&got.delivery.data[..], b"allowed");

    for (exchange, shown) in [
        ("", "amq.default".to_string()),
        ("amq.fanout", "amq.fanout".to_string()),
        // A missing exchange is refused (403), not reported missing (404).
        (&*unique("missing"), String::new()),
    ] {
        let shown = if shown.is_empty() {
            exchange.to_string()
        } else {
            shown
        };
        let ch = new_channel(&conn).await;
        let w = watch(&ch).await;
        publish(&ch, exchange, "k", b"refused").await;
        expect_async_channel_error(&conn, &ch, w, 403, &refused("exchange", &shown, &user)).await;
    }
    t(gch.exchange_delete(x2.as_str().into(), ExchangeDeleteOptions::default()))
        .await
        .unwrap();
    t(gch.exchange_delete(app_x.as_str().into(), ExchangeDeleteOptions::default()))
        .await
        .unwrap();
}

async fn get_eventually(ch: &Channel, q: &str) -> Option<lapin::message::BasicGetMessage> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let got = get(ch, q).await;
        if got.is_some() || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn get(ch: &Channel, q: &str) -> Option<lapin::message::BasicGetMessage> {
    t(ch.basic_get(q.into(), BasicGetOptions { no_ack: true }))
        .await
        .expect("basic.get")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_get_and_purge_need_read_on_the_queue() {
    let Some((b, core)) = setup().await else {
        return;
    };
    let user = unique("reader");
    user_with(&core, &user, Some((".*", ".*", "^app\\."))).await;
    let other = unique("other");
    let app_q = format!("app.{}", unique("q"));
    let (conn, ch) = channel_as(&b, &user).await;
    declare(&ch, &other).await.unwrap();
    declare(&ch, &app_q).await.unwrap();
    publish(&ch, "", &app_q, b"m").await;
    let got = get(&ch, &app_q).await;
    assert!(got.is_some(), "get on app.q is allowed");
    t(ch.queue_purge(app_q.as_str().into(), QueuePurgeOptions::default()))
        .await
        .expect("purge app.q");

    let ch = new_channel(&conn).await;
    assert_channel_error(
        t(ch.basic_consume(
            other.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await,
        403,
        &refused("queue", &other, &user),
    );
    let ch = new_channel(&conn).await;
    assert_channel_error(
        t(ch.basic_get(other.as_str().into(), BasicGetOptions::default())).await,
        403,
        &refused("queue", &other, &user),
    );
    let ch = new_channel(&conn).await;
    assert_channel_error(
        t(ch.queue_purge(other.as_str().into(), QueuePurgeOptions::default())).await,
        403,
        &refused("queue", &other, &user),
    );
    // A missing queue: refused before it is found missing.
    let missing = unique("missing");
    let ch = new_channel(&conn).await;
    assert_channel_error(
        t(ch.basic_get(missing.as_str().into(), BasicGetOptions::default())).await,
        403,
        &refused("queue", &missing, &user),
    );
    let ch = new_channel(&conn).await;
    for q in [&other, &app_q] {
        t(ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_need_write_on_the_destination_and_read_on_the_source() {
    let Some((b, core)) = setup().await else {
        return;
    };
    let user = unique("binder");
    user_with(&core, &user, Some((".*", "^app\\.", "^app\\."))).await;
    let (_g, gch) = guest_channel(&b).await;
    let app_q = format!("app.{}", unique("q"));
    let app_x = format!("app.{}", unique("x"));
    let other_q = unique("other-q");
    let other_x = unique("other-x");
    declare(&gch, &app_q).await.unwrap();
    declare(&gch, &other_q).await.unwrap();
    declare_exchange(&gch, &app_x, FieldTable::default())
        .await
        .unwrap();
    declare_exchange(&gch, &other_x, FieldTable::default())
        .await
        .unwrap();
    let (conn, ch) = channel_as(&b, &user).await;
    let bind = |ch: Channel, q: String, x: String| async move {
        t(ch.queue_bind(
            q.as_str().into(),
            x.as_str().into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ))
        .await
    };
    bind(ch, app_q.clone(), app_x.clone())
        .await
        .expect("app.q to app.x");
    let ch = new_channel(&conn).await;
    assert_channel_error(
        bind(ch, app_q.clone(), other_x.clone()).await,
        403,
        &refused("exchange", &other_x, &user),
    );
    let ch = new_channel(&conn).await;
    assert_channel_error(
        bind(ch, other_q.clone(), app_x.clone()).await,
        403,
        &refused("queue", &other_q, &user),
    );
    let ch = new_channel(&conn).await;
    assert_channel_error(
        bind(ch, app_q.clone(), "amq.direct".into()).await,
        403,
        &refused("exchange", "amq.direct", &user),
    );
    let ch = new_channel(&conn).await;
    assert_channel_error(
        t(ch.queue_unbind(
            app_q.as_str().into(),
            other_x.as_str().into(),
            "k".into(),
            FieldTable::default(),
        ))
        .await,
        403,
        &refused("exchange", &other_x, &user),
    );
    // exchange.bind: write on the destination, read on the source.
    for (destination, source, refused_name) in
        [(&other_x, &app_x, &other_x), (&app_x, &other_x, &other_x)]
    {
        let ch = new_channel(&conn).await;
        assert_channel_error(
            t(ch.exchange_bind(
                destination.as_str().into(),
                source.as_str().into(),
                "k".into(),
                ExchangeBindOptions::default(),
                FieldTable::default(),
            ))
            .await,
            403,
            &refused("exchange", refused_name, &user),
        );
    }
    for q in [&app_q, &other_q] {
        t(gch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()))
            .await
            .unwrap();
    }
    for x in [&app_x, &other_x] {
        t(gch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_and_alternate_exchanges_need_write_at_declare() {
    let Some((b, core)) = setup().await else {
        return;
    };
    let user = unique("dlx");
    user_with(&core, &user, Some((".*", "^app\\.", ".*"))).await;
    let other_x = unique("other-x");
    let (_g, gch) = guest_channel(&b).await;
    declare_exchange(&gch, &other_x, FieldTable::default())
        .await
        .unwrap();
    let (conn, ch) = channel_as(&b, &user).await;
    let mut dlx = FieldTable::default();
    dlx.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(other_x.as_str().into()),
    );
    let q = format!("app.{}", unique("dl"));
    assert_channel_error(
        t(ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), dlx)).await,
        403,
        &refused("exchange", &other_x, &user),
    );
    let mut ae = FieldTable::default();
    ae.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString(other_x.as_str().into()),
    );
    let ch = new_channel(&conn).await;
    let x = format!("app.{}", unique("ae"));
    assert_channel_error(
        declare_exchange(&ch, &x, ae).await,
        403,
        &refused("exchange", &other_x, &user),
    );
    t(gch.exchange_delete(other_x.as_str().into(), ExchangeDeleteOptions::default()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_vhost_closes_its_connections_and_removes_its_queues() {
    let Some((b, core)) = setup().await else {
        return;
    };
    let vhost = unique("vh");
    let created = core
        .add_vhost(
            &vhost,
            VHostSettings {
                description: "for a test".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(created);
    let user = unique("vhuser");
    user_with(&core, &user, None).await;
    core.set_permissions(&user, &vhost, ".*", ".*", ".*")
        .await
        .unwrap();
    let conn = connect_as(&b, &user, &vhost).await.expect("connect");
    let ch = new_channel(&conn).await;
    t(ch.queue_declare(
        "kept".into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let w = watch(&ch).await;
    // Guest on `/` is not affected.
    let (guest, _gch) = guest_channel(&b).await;

    core.delete_vhost(&vhost).await.expect("delete vhost");
    let f = w.reason().await;
    assert_eq!(
        (f.code, f.text.as_str()),
        (
            320,
            format!("CONNECTION_FORCED - vhost '{vhost}' is deleted").as_str()
        )
    );
    assert!(f.connection_level);
    assert_connection_closed(&conn).await;
    assert_connection_usable(&guest).await;
    assert!(core.vhost(&vhost).is_none());
    assert!(core.vhost_info(&vhost).is_none());
    assert!(core.permissions().iter().all(|p| p.vhost != vhost));
    assert_connection_error(
        connect_as(&b, &user, &vhost).await,
        530,
        &format!("NOT_ALLOWED - vhost {vhost} not found"),
    );
    let err = core.delete_vhost(&vhost).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);

    // The name can be used again: the vhost is new and empty, with no permissions.
    assert!(core
        .add_vhost(&vhost, VHostSettings::default())
        .await
        .unwrap());
    assert!(core.vhost(&vhost).unwrap().queue("kept").is_none());
    assert_connection_error(
        connect_as(&b, &user, &vhost).await,
        530,
        &format!("NOT_ALLOWED - access to vhost '{vhost}' refused for user '{user}'"),
    );
    core.set_permissions(&user, &vhost, ".*", ".*", ".*")
        .await
        .unwrap();
    let conn = connect_as(&b, &user, &vhost).await.expect("connect again");
    let ch = new_channel(&conn).await;
    let res = t(ch.queue_declare(
        "kept".into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    assert_channel_error(
        res,
        404,
        &format!("NOT_FOUND - no queue 'kept' in vhost '{vhost}'"),
    );
    core.delete_vhost(&vhost).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_closes_its_connections() {
    let Some((b, core)) = setup().await else {
        return;
    };
    let user = unique("doomed");
    user_with(&core, &user, Some((".*", ".*", ".*"))).await;
    let (conn, ch) = channel_as(&b, &user).await;
    let w = watch(&ch).await;
    let (guest, _gch) = guest_channel(&b).await;
    core.delete_user(&user).await.unwrap();
    let f = w.reason().await;
    assert_eq!(
        (f.code, f.text.as_str()),
        (
            320,
            format!("CONNECTION_FORCED - user '{user}' is deleted").as_str()
        )
    );
    assert_connection_closed(&conn).await;
    assert_connection_usable(&guest).await;
    assert!(core.user(&user).is_none());
    assert!(core.permissions().iter().all(|p| p.user != user));
    assert_eq!(
        core.delete_user(&user).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_to_the_api_is_refused_clearly() {
    let Some((_b, core)) = setup().await else {
        return;
    };
    let user = unique("regex");
    user_with(&core, &user, None).await;
    let err = core
        .set_permissions(&user, "/", "(", ".*", ".*")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::PreconditionFailed);
    assert!(
        err.message.starts_with("regular expression '(' is invalid"),
        "{}",
        err.message
    );
    assert!(core.permissions().iter().all(|p| p.user != user));
    let err = core
        .set_permissions("nobody-at-all", "/", ".*", ".*", ".*")
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::NotFound, "no user 'nobody-at-all'")
    );
    let err = core
        .set_permissions(&user, "no-such-vhost", ".*", ".*", ".*")
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::NotFound, "no vhost 'no-such-vhost'")
    );
    let err = core
        .add_user(
            &user,
            PasswordInput::Hash {
                hash: "%%%".into(),
                algorithm: HashingAlgorithm::Sha256,
            },
            vec![],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::PreconditionFailed);
    assert_eq!(
        core.add_vhost("", VHostSettings::default())
            .await
            .unwrap_err()
            .kind,
        ErrorKind::PreconditionFailed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_broker_has_guest_with_everything_on_the_default_vhost() {
    let Some((_b, core)) = setup().await else {
        return;
    };
    let guest = core.user("guest").expect("guest");
    assert_eq!(guest.tags, vec!["administrator".to_string()]);
    assert_eq!(guest.hashing_algorithm, "rabbit_password_hashing_sha256");
    let perms = core.permissions();
    let p = perms
        .iter()
        .find(|p| p.user == "guest" && p.vhost == "/")
        .expect("guest on /");
    assert_eq!(
        (p.configure.as_str(), p.write.as_str(), p.read.as_str()),
        (".*", ".*", ".*")
    );
    assert!(core.vhosts().iter().any(|v| v.name == "/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_permissions_restrict_routing_keys_on_topic_exchanges() {
    let Some((b, core)) = setup().await else {
        return;
    };
    let user = unique("topic");
    user_with(&core, &user, Some((".*", ".*", ".*"))).await;
    core.set_topic_permissions(&user, "/", "amq.topic", "^{username}\\.", "^r\\.")
        .await
        .unwrap();
    let (conn, ch) = channel_as(&b, &user).await;
    let q = declare_temp_queue(&ch).await;
    // Publishing with the user's own prefix is allowed and delivered.
    let bind = |ch: Channel, q: String, key: String| async move {
        t(ch.queue_bind(
            q.as_str().into(),
            "amq.topic".into(),
            key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ))
        .await
    };
    bind(ch.clone(), q.clone(), "r.#".into())
        .await
        .expect("read allows r.*");
    let (_g, gch) = guest_channel(&b).await;
    let gq = declare_temp_queue(&gch).await;
    t(gch.queue_bind(
        gq.as_str().into(),
        "amq.topic".into(),
        format!("{user}.#").as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish(&ch, "amq.topic", &format!("{user}.ok"), b"mine").await;
    assert_eq!(
        &get_eventually(&gch, &gq)
            .await
            .expect("delivered")
            .delivery
            .data[..],
        b"mine"
    );

    let w = watch(&ch).await;
    publish(&ch, "amq.topic", "eve.x", b"refused").await;
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        403,
        &format!(
            "ACCESS_REFUSED - access to topic 'eve.x' in exchange 'amq.topic' in vhost '/' \
             refused for user '{user}'"
        ),
    )
    .await;
    let ch = new_channel(&conn).await;
    let q = declare_temp_queue(&ch).await;
    assert_channel_error(
        bind(ch, q, "other".into()).await,
        403,
        &format!(
            "ACCESS_REFUSED - access to topic 'other' in exchange 'amq.topic' in vhost '/' \
             refused for user '{user}'"
        ),
    );
    // Other exchange types are not restricted by topic permissions.
    let ch = new_channel(&conn).await;
    publish(&ch, "amq.direct", "eve.x", b"fine").await;
    assert_connection_usable(&conn).await;
    assert_eq!(
        core.topic_permissions()
            .iter()
            .filter(|p| p.user == user)
            .map(|p| (p.exchange.as_str(), p.write.as_str(), p.read.as_str()))
            .collect::<Vec<_>>(),
        vec![("amq.topic", "^{username}\\.", "^r\\.")]
    );
    core.clear_topic_permissions(&user, "/", None)
        .await
        .unwrap();
    assert!(core.topic_permissions().iter().all(|p| p.user != user));
}

/// A local address that is not loopback (the one the machine would send from), if
/// it has one: connecting a UDP socket picks it without sending anything.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// `guest` is in `loopback_users`: from any other address its login is refused
/// with RabbitMQ's generic text (checked against RabbitMQ 3.10.8 with pika over
/// the machine's own non-loopback address), while another user logs in there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_may_connect_from_loopback_only() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("guest_may_connect_from_loopback_only: no non-loopback address here");
        return;
    };
    let config = warren::Config {
        bind: vec![ip],
        ..warren::Config::for_tests()
    };
    let server = t(warren::start(config)).await.expect("warren starts");
    let addr = server.amqp_addrs()[0];
    assert_eq!(addr.ip(), ip);
    let url = |user: &str, password: &str| format!("amqp://{user}:{password}@{addr}/%2F");
    assert_connection_error(
        connect_url(&url("guest", "guest")).await,
        403,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. \
         For details see the broker logfile.",
    );
    user_with(server.broker(), "remote", Some((".*", ".*", ".*"))).await;
    let conn = connect_url(&url("remote", "pw"))
        .await
        .expect("a user not in loopback_users connects from anywhere");
    assert_connection_usable(&conn).await;
}
