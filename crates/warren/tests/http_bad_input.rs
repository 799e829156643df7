//! Bad input to every endpoint that changes something: malformed JSON, a body
//! that is not an object, unknown fields, wrong types, regular expressions that do
//! not compile, bodies past the limit. Each is a 4xx with RabbitMQ's error shape,
//! and the broker's definitions are exactly as before (nothing half-applied).
//! Then names with `/`, a literal `%2F`, spaces and non-ASCII characters, for
//! every kind of object that has a name in a path.

mod http_common;

use http_common::*;
use serde_json::{json, Value};

/// What the broker holds, as an administrator exports it.
async fn state(api: &TestApi) -> Value {
    api.get_ok("/api/definitions").await
}

/// `(method, path, a body the endpoint accepts)` for every endpoint that takes a
/// JSON body and changes the broker's definitions.
fn writers() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("PUT", "/api/vhosts/v1", json!({"description": "d"})),
        ("PUT", "/api/users/u1", json!({"password": "p", "tags": ""})),
        (
            "PUT",
            "/api/permissions/%2F/guest",
            json!({"configure": ".*", "write": ".*", "read": ".*"}),
        ),
        (
            "PUT",
            "/api/topic-permissions/%2F/guest",
            json!({"exchange": "amq.topic", "write": "a", "read": "a"}),
        ),
        (
            "PUT",
            "/api/policies/%2F/p1",
            json!({"pattern": ".*", "definition": {"max-length": 1}}),
        ),
        (
            "PUT",
            "/api/operator-policies/%2F/op1",
            json!({"pattern": ".*", "definition": {"max-length": 1}}),
        ),
        ("PUT", "/api/exchanges/%2F/x1", json!({"type": "direct"})),
        ("PUT", "/api/queues/%2F/q1", json!({"durable": true})),
        (
            "POST",
            "/api/bindings/%2F/e/amq.direct/q/target",
            json!({"routing_key": "k"}),
        ),
        (
            "POST",
            "/api/definitions",
            json!({"queues": [{"name": "q2", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {}}]}),
        ),
        (
            "POST",
            "/api/definitions/%2F",
            json!({"queues": [{"name": "q3", "durable": true, "auto_delete": false, "arguments": {}}]}),
        ),
    ]
}

/// The same body with its first field's value replaced by one of the wrong type.
fn with_wrong_type(body: &Value) -> Value {
    let mut body = body.clone();
    let object = body.as_object_mut().expect("an object body");
    let value = object.values_mut().next().expect("a field");
    *value = match value {
        Value::String(_) => json!(5),
        Value::Bool(_) => json!("yes"),
        _ => json!(true),
    };
    body
}

async fn send(api: &TestApi, method: &str, path: &str, body: Vec<u8>) -> Reply {
    api.raw(method, path, Some(body), Some(("guest", "guest")))
        .await
}

#[tokio::test]
async fn every_writer_refuses_bad_bodies_and_changes_nothing() {
    let api = start().await;
    assert_eq!(
        api.put("/api/queues/%2F/target", json!({})).await.status,
        201
    );
    let before = state(&api).await;
    for (method, path, good) in writers() {
        let mut unknown = good.clone();
        unknown["bogus"] = json!(1);
        // Each case, and words one of which its reason must hold.
        let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
            ("malformed JSON", b"{bad".to_vec(), &["not_json"]),
            ("cut short", b"{\"description\": ".to_vec(), &[""]),
            ("not an object", b"[1, 2]".to_vec(), &[""]),
            ("null", b"null".to_vec(), &[""]),
            (
                "unknown field",
                unknown.to_string().into_bytes(),
                &["bogus"],
            ),
            (
                "wrong type",
                with_wrong_type(&good).to_string().into_bytes(),
                &["invalid type", "must be"],
            ),
            ("invalid UTF-8", b"{\"a\": \"\xff\"}".to_vec(), &[""]),
        ];
        for (case, body, says) in cases {
            let reply = send(&api, method, path, body).await;
            assert_eq!(
                reply.status,
                400,
                "{case} to {method} {path}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            let reason = reply.assert_error(400, "bad_request");
            assert!(
                !reason.is_empty() && says.iter().any(|s| reason.contains(s)),
                "{case} to {method} {path}: {reason}"
            );
            assert_eq!(state(&api).await, before, "{case} to {method} {path}");
        }
        // Past the body limit: 413, JSON, nothing changed.
        let mut huge = good.to_string().into_bytes();
        huge.resize(warren_http::MAX_BODY + 1, b' ');
        let reply = send(&api, method, path, huge).await;
        assert_eq!(reply.status, 413, "huge body to {method} {path}");
        assert_eq!(reply.json()["error"], "bad_request");
        assert_eq!(state(&api).await, before, "huge body to {method} {path}");
    }
    // The good bodies are accepted, so the refusals above were about the input.
    for (method, path, good) in writers() {
        let reply = send(&api, method, path, good.to_string().into_bytes()).await;
        assert!(
            matches!(reply.status, 201 | 204),
            "{method} {path}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    assert_ne!(state(&api).await, before);
}

#[tokio::test]
async fn regular_expressions_that_do_not_compile_are_400s() {
    let api = start().await;
    let before = state(&api).await;
    let cases = [
        (
            "/api/permissions/%2F/guest",
            json!({"configure": "(", "write": ".*", "read": ".*"}),
        ),
        (
            "/api/permissions/%2F/guest",
            json!({"configure": ".*", "write": "[", "read": ".*"}),
        ),
        (
            "/api/topic-permissions/%2F/guest",
            json!({"exchange": "amq.topic", "write": "(", "read": ".*"}),
        ),
        (
            "/api/policies/%2F/p",
            json!({"pattern": "(", "definition": {"max-length": 1}}),
        ),
        (
            "/api/operator-policies/%2F/p",
            json!({"pattern": "*", "definition": {"max-length": 1}}),
        ),
    ];
    for (path, body) in cases {
        let reply = api.put(path, body.clone()).await;
        let reason = reply.assert_error(400, "bad_request");
        assert!(!reason.is_empty(), "{path} {body}");
        assert_eq!(state(&api).await, before, "{path} {body}");
    }
    for query in ["name=(&use_regex=true", "name=a{99999}&use_regex=true"] {
        for listing in ["queues", "exchanges", "bindings", "vhosts", "users"] {
            api.get(&format!("/api/{listing}?page=1&{query}"))
                .await
                .assert_error(400, "bad_request");
        }
    }
}

#[tokio::test]
async fn importing_into_a_missing_vhost_is_refused_whole() {
    let api = start().await;
    let before = state(&api).await;
    // Per vhost: the vhost in the path must exist.
    let file =
        json!({"queues": [{"name": "q", "durable": true, "auto_delete": false, "arguments": {}}]});
    let reply = send(
        &api,
        "POST",
        "/api/definitions/nosuch",
        file.to_string().into_bytes(),
    )
    .await;
    assert_eq!(reply.status, 404);
    // Whole broker: every object is checked before any is made, so the good
    // vhost, user, exchange and queue listed before the bad binding stay out.
    let file = json!({
        "vhosts": [{"name": "made"}],
        "users": [{"name": "someone", "password_hash": "", "tags": ""}],
        "exchanges": [{"name": "x", "vhost": "made", "type": "fanout", "durable": true, "auto_delete": false, "internal": false, "arguments": {}}],
        "queues": [{"name": "q", "vhost": "made", "durable": true, "auto_delete": false, "arguments": {}}],
        "permissions": [{"user": "someone", "vhost": "elsewhere", "configure": ".*", "write": ".*", "read": ".*"}],
    });
    let reason = send(
        &api,
        "POST",
        "/api/definitions",
        file.to_string().into_bytes(),
    )
    .await
    .assert_error(400, "bad_request");
    assert!(reason.contains("'elsewhere'"), "{reason}");
    assert_eq!(state(&api).await, before);
    api.get("/api/vhosts/made")
        .await
        .assert_error(404, "Object Not Found");
}

/// Names that need escaping in a path, or that look like escapes.
const AWKWARD: [&str; 4] = ["a/b", "%2F", "with space", "ünïcødé 🐇"];

#[tokio::test]
async fn awkward_names_work_for_vhosts_users_permissions_and_policies() {
    let api = start().await;
    for (n, name) in AWKWARD.iter().enumerate() {
        let vhost = format!("{name} vhost");
        let user = format!("{name} user");
        let policy = format!("{name} policy");
        let (v, u, p) = (enc(&vhost), enc(&user), enc(&policy));
        assert_eq!(
            api.put(&format!("/api/vhosts/{v}"), json!({})).await.status,
            201,
            "{vhost}"
        );
        assert_eq!(api.get_ok(&format!("/api/vhosts/{v}")).await["name"], vhost);
        let reply = api
            .put(
                &format!("/api/users/{u}"),
                json!({"password": "pw", "tags": "management"}),
            )
            .await;
        assert_eq!(reply.status, 201, "{user}");
        assert_eq!(api.get_ok(&format!("/api/users/{u}")).await["name"], user);
        let reply = api
            .put(
                &format!("/api/permissions/{v}/{u}"),
                json!({"configure": ".*", "write": ".*", "read": ".*"}),
            )
            .await;
        assert_eq!(reply.status, 201, "{vhost} {user}");
        let permission = api.get_ok(&format!("/api/permissions/{v}/{u}")).await;
        assert_eq!(
            (&permission["vhost"], &permission["user"]),
            (&json!(vhost), &json!(user))
        );
        let reply = api
            .put(
                &format!("/api/policies/{v}/{p}"),
                json!({"pattern": "^lim", "definition": {"max-length": 1}, "apply-to": "queues"}),
            )
            .await;
        assert_eq!(reply.status, 201, "{policy}");
        assert_eq!(
            api.get_ok(&format!("/api/policies/{v}/{p}")).await["name"],
            policy
        );

        // The user logs in over HTTP and AMQP, and the policy applies in the vhost.
        let reply = api
            .raw(
                "GET",
                &format!("/api/queues/{v}"),
                None,
                Some((user.as_str(), "pw")),
            )
            .await;
        assert_eq!(reply.status, 200, "{user} lists {vhost}");
        let url = api
            .amqp_url()
            .replace("guest:guest", &format!("{}:pw", enc(&user)))
            .replace("/%2F", &format!("/{v}"));
        let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| panic!("{user} into {vhost}: {e}"));
        let channel = conn.create_channel().await.expect("channel");
        let queue = format!("lim {n}");
        channel
            .queue_declare(
                queue.as_str().into(),
                Default::default(),
                Default::default(),
            )
            .await
            .expect("declare");
        let listed = api
            .eventually(&format!("/api/queues/{v}/{}", enc(&queue)), |q| {
                q["policy"] == json!(policy)
            })
            .await;
        assert_eq!(listed["vhost"], vhost);
        let _ = conn.close(200, "bye".into()).await;

        // And everything goes away by the same names.
        assert_eq!(
            api.delete(&format!("/api/policies/{v}/{p}")).await.status,
            204
        );
        assert_eq!(
            api.delete(&format!("/api/permissions/{v}/{u}"))
                .await
                .status,
            204
        );
        assert_eq!(api.delete(&format!("/api/users/{u}")).await.status, 204);
        assert_eq!(api.delete(&format!("/api/vhosts/{v}")).await.status, 204);
        api.get(&format!("/api/vhosts/{v}"))
            .await
            .assert_error(404, "Object Not Found");
    }
    // A literal `%2F` queue name is not the vhost `/` in disguise.
    let path = format!("/api/queues/%2F/{}", enc("%2F"));
    assert_eq!(api.put(&path, json!({})).await.status, 201);
    assert_eq!(api.get_ok(&path).await["name"], "%2F");
    assert_eq!(api.delete(&path).await.status, 204);
}
