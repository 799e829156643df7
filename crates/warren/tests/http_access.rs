//! Users, permissions, topic permissions and vhosts over the management API, and
//! what they let a user do over AMQP and HTTP.

mod http_common;

use http_common::*;
use serde_json::json;

#[tokio::test]
async fn users_are_created_changed_listed_and_deleted() {
    let api = start().await;
    let reply = api
        .put(
            "/api/users/alice",
            json!({"password": "s3cret", "tags": "management,monitoring"}),
        )
        .await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let alice = api.get_ok("/api/users/alice").await;
    assert_eq!(alice["name"], "alice");
    assert_eq!(alice["tags"], json!(["management", "monitoring"]));
    assert_eq!(alice["hashing_algorithm"], "rabbit_password_hashing_sha256");
    assert!(!alice["password_hash"].as_str().unwrap().is_empty());
    let me = api
        .raw("GET", "/api/whoami", None, Some(("alice", "s3cret")))
        .await;
    assert_eq!(me.status, 200);

    // A hash set by hand (RabbitMQ's format) logs in with its password.
    let hash = alice["password_hash"].as_str().unwrap();
    let reply = api
        .put(
            "/api/users/bob",
            json!({"password_hash": hash, "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["management"]}),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        api.raw("GET", "/api/whoami", None, Some(("bob", "s3cret")))
            .await
            .status,
        200
    );
    assert_eq!(
        api.put("/api/users/bob", json!({"password": "other", "tags": []}))
            .await
            .status,
        204
    );
    let names: Vec<String> = api
        .get_ok("/api/users")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alice", "bob", "guest"]);
    assert_eq!(api.delete("/api/users/bob").await.status, 204);
    api.delete("/api/users/bob")
        .await
        .assert_error(404, "Object Not Found");
    assert_eq!(
        api.raw("GET", "/api/whoami", None, Some(("bob", "other")))
            .await
            .status,
        401
    );
    api.put(
        "/api/users/x",
        json!({"password": "a", "password_hash": "b"}),
    )
    .await
    .assert_error(400, "bad_request");
    api.put(
        "/api/users/x",
        json!({"password_hash": "!!", "hashing_algorithm": "rabbit_password_hashing_sha256"}),
    )
    .await
    .assert_error(400, "bad_request");
    api.put("/api/users/y", json!({"tags": 5}))
        .await
        .assert_error(400, "bad_request");
}

#[tokio::test]
async fn permissions_decide_what_a_user_may_do() {
    let api = start().await;
    api.put(
        "/api/users/carol",
        json!({"password": "pw", "tags": "management"}),
    )
    .await;
    // No permissions yet: the vhost is not hers to see.
    let reply = api
        .raw("GET", "/api/queues/%2F", None, Some(("carol", "pw")))
        .await;
    assert_eq!(
        reply.assert_error(401, "not_authorised"),
        "User not authorised to access virtual host"
    );
    let reply = api
        .put(
            "/api/permissions/%2F/carol",
            json!({"configure": "^carol-", "write": ".*", "read": ".*"}),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        api.put(
            "/api/permissions/%2F/carol",
            json!({"configure": "^carol-", "write": ".*", "read": ".*"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.get_ok("/api/permissions/%2F/carol").await,
        json!({"user": "carol", "vhost": "/", "configure": "^carol-", "write": ".*", "read": ".*"})
    );
    assert_eq!(
        api.get_ok("/api/users/carol/permissions")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get_ok("/api/vhosts/%2F/permissions")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        api.get_ok("/api/permissions")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let as_carol = |method: &'static str, path: &'static str| {
        let api = &api;
        async move {
            api.raw(method, path, Some(b"{}".to_vec()), Some(("carol", "pw")))
                .await
        }
    };
    assert_eq!(as_carol("PUT", "/api/queues/%2F/carol-q").await.status, 201);
    let reply = as_carol("PUT", "/api/queues/%2F/other-q").await;
    let reason = reply.assert_error(401, "not_authorised");
    assert_eq!(
        reason,
        "access to queue 'other-q' in vhost '/' refused for user 'carol'"
    );
    // Over AMQP, the same user and permissions made through the API decide.
    let url = api.amqp_url().replace("guest:guest", "carol:pw");
    let conn = t(lapin::Connection::connect(
        &url,
        lapin::ConnectionProperties::default(),
    ))
    .await
    .expect("carol connects");
    let declare = |name: &'static str| {
        let conn = &conn;
        async move {
            let ch = t(conn.create_channel()).await.expect("channel");
            t(ch.queue_declare(name.into(), Default::default(), Default::default())).await
        }
    };
    declare("carol-amqp")
        .await
        .expect("configure allows carol-*");
    let err = declare("other-amqp")
        .await
        .expect_err("configure refuses other-*");
    match err.kind() {
        lapin::ErrorKind::ProtocolError(e) => assert_eq!(
            (e.get_id(), e.get_message().as_str()),
            (
                403,
                "ACCESS_REFUSED - access to queue 'other-amqp' in vhost '/' refused for user 'carol'"
            )
        ),
        other => panic!("expected a channel close, got {other:?}"),
    }
    let _ = t(conn.close(200, "bye".into())).await;

    // Not an administrator: no users, no permissions.
    let reply = api
        .raw("GET", "/api/users", None, Some(("carol", "pw")))
        .await;
    assert_eq!(
        reply.assert_error(401, "not_authorised"),
        "Not administrator user"
    );

    assert_eq!(api.delete("/api/permissions/%2F/carol").await.status, 204);
    let refused = t(lapin::Connection::connect(
        &url,
        lapin::ConnectionProperties::default(),
    ))
    .await
    .expect_err("no permissions, no vhost");
    match refused.kind() {
        lapin::ErrorKind::ProtocolError(e) => assert_eq!(
            (e.get_id(), e.get_message().as_str()),
            (
                530,
                "NOT_ALLOWED - access to vhost '/' refused for user 'carol'"
            )
        ),
        other => panic!("expected a connection close, got {other:?}"),
    }
    api.delete("/api/permissions/%2F/carol")
        .await
        .assert_error(404, "Object Not Found");
    api.put(
        "/api/permissions/%2F/nobody",
        json!({"configure": ".*", "write": ".*", "read": ".*"}),
    )
    .await
    .assert_error(400, "bad_request");
    api.put(
        "/api/permissions/%2F/guest",
        json!({"configure": "(", "write": ".*", "read": ".*"}),
    )
    .await
    .assert_error(400, "bad_request");
    api.put("/api/permissions/%2F/guest", json!({"configure": ".*"}))
        .await
        .assert_error(400, "bad_request");
}

#[tokio::test]
async fn topic_permissions_are_set_listed_and_cleared() {
    let api = start().await;
    let reply = api
        .put(
            "/api/topic-permissions/%2F/guest",
            json!({"exchange": "amq.topic", "write": "^a", "read": ".*"}),
        )
        .await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        api.get_ok("/api/topic-permissions/%2F/guest").await,
        json!([{"user": "guest", "vhost": "/", "exchange": "amq.topic", "write": "^a", "read": ".*"}])
    );
    assert_eq!(
        api.get_ok("/api/topic-permissions")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.delete("/api/topic-permissions/%2F/guest").await.status,
        204
    );
    api.get("/api/topic-permissions/%2F/guest")
        .await
        .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn vhosts_are_created_and_deleted() {
    let api = start().await;
    let reply = api
        .put(
            "/api/vhosts/staging",
            json!({"description": "pre-production", "tags": "qa,eu"}),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        api.put(
            "/api/vhosts/staging",
            json!({"description": "pre-production", "tags": "qa,eu"})
        )
        .await
        .status,
        204
    );
    let v = api.get_ok("/api/vhosts/staging").await;
    assert_eq!(v["description"], "pre-production");
    assert_eq!(v["tags"], json!(["qa", "eu"]));
    assert_eq!(v["tracing"], false);
    // The `tracing` field switches firehose tracing, as with RabbitMQ.
    assert_eq!(
        api.put(
            "/api/vhosts/staging",
            json!({"description": "pre-production", "tags": "qa,eu", "tracing": true})
        )
        .await
        .status,
        204
    );
    assert_eq!(api.get_ok("/api/vhosts/staging").await["tracing"], true);
    assert!(api.server.broker().vhost("staging").unwrap().tracing());
    // As RabbitMQ's API, the user who created the vhost gets every permission
    // there (checked against RabbitMQ 3.10.8); nobody else gets any.
    assert_eq!(
        api.get_ok("/api/vhosts/staging/permissions").await,
        json!([{"user": "guest", "vhost": "staging", "configure": ".*", "write": ".*", "read": ".*"}])
    );
    assert_eq!(
        api.put("/api/queues/staging/q", json!({})).await.status,
        201
    );
    api.add_user("other-admin", &["administrator"]).await;
    let reply = api
        .raw(
            "PUT",
            "/api/queues/staging/q2",
            Some(b"{}".to_vec()),
            Some(("other-admin", "pw")),
        )
        .await;
    reply.assert_error(401, "not_authorised");
    let _amqp = t(lapin::Connection::connect(
        &format!(
            "amqp://guest:guest@127.0.0.1:{}/staging",
            api.server.amqp_addr().port()
        ),
        lapin::ConnectionProperties::default(),
    ))
    .await
    .expect("guest may open the new vhost");
    assert_eq!(api.delete("/api/vhosts/staging").await.status, 204);
    api.get("/api/vhosts/staging")
        .await
        .assert_error(404, "Object Not Found");
    api.delete("/api/vhosts/staging")
        .await
        .assert_error(404, "Object Not Found");
}
