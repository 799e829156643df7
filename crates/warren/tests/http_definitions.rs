//! Definitions export and import: a round trip between two brokers, the file exported
//! from RabbitMQ 3.10 imported unchanged, and all-or-nothing refusals.

mod http_common;

use http_common::*;
use serde_json::{json, Value};

const RABBITMQ_FILE: &str = include_str!("../../http/tests/data/rabbitmq-3.10-definitions.json");

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_string())
        .collect()
}

async fn import(api: &TestApi, path: &str, body: &str) -> Reply {
    api.raw(
        "POST",
        path,
        Some(body.as_bytes().to_vec()),
        Some(("guest", "guest")),
    )
    .await
}

#[tokio::test]
async fn a_rabbitmq_export_imports_unchanged() {
    let api = start().await;
    let reply = import(&api, "/api/definitions", RABBITMQ_FILE).await;
    assert_eq!(
        reply.status,
        204,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let vh = "wz-defs-vh";
    assert!(names(&api.get_ok("/api/vhosts").await).contains(&vh.to_string()));
    let orders = api.get_ok(&format!("/api/queues/{vh}/wz-orders")).await;
    assert_eq!(orders["durable"], true);
    assert_eq!(
        orders["arguments"],
        json!({"x-max-length": 1000, "x-queue-type": "classic"})
    );
    assert_eq!(orders["policy"], "wz-limit");
    assert_eq!(orders["operator_policy"], "wz-op");
    let work = api
        .get_ok(&format!("/api/queues/{vh}/{}", enc("wz-work items")))
        .await;
    assert_eq!(
        work["arguments"],
        json!({"x-dead-letter-exchange": "wz-dlx", "x-message-ttl": 60000})
    );
    let hdr = api.get_ok(&format!("/api/exchanges/{vh}/wz-hdr")).await;
    assert_eq!(hdr["type"], "headers");
    assert_eq!(hdr["arguments"], json!({"alternate-exchange": "wz-dlx"}));
    let source = api
        .get_ok(&format!("/api/exchanges/{vh}/wz-events/bindings/source"))
        .await;
    let keys: Vec<&str> = source
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["routing_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["audit", "orders.#"]);
    let to_work = api
        .get_ok(&format!(
            "/api/bindings/{vh}/e/wz-hdr/q/{}",
            enc("wz-work items")
        ))
        .await;
    assert_eq!(
        to_work[0]["arguments"],
        json!({"kind": "work", "x-match": "any"})
    );

    // The user came with RabbitMQ's password hash: the password set there works.
    let me = api
        .raw(
            "GET",
            "/api/whoami",
            None,
            Some(("wz-defs-user", "wz-secret")),
        )
        .await;
    assert_eq!(
        me.json(),
        json!({"name": "wz-defs-user", "tags": ["management"]})
    );
    let perms = api.get_ok("/api/definitions").await["permissions"].clone();
    assert!(perms
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["user"] == "wz-defs-user" && p["write"] == "^wz"));

    // Importing the same file again changes nothing and succeeds.
    assert_eq!(
        import(&api, "/api/definitions", RABBITMQ_FILE).await.status,
        204
    );
    assert_eq!(
        api.get_ok(&format!("/api/exchanges/{vh}/wz-events/bindings/source"))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// The export without what differs between two brokers by nature.
fn comparable(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("product_version");
    v
}

#[tokio::test]
async fn export_then_import_into_another_broker_round_trips() {
    let source = start().await;
    import(&source, "/api/definitions", RABBITMQ_FILE).await;
    source
        .put(
            "/api/queues/%2F/local",
            json!({"durable": true, "arguments": {"x-max-priority": 5}}),
        )
        .await;
    source
        .put(
            "/api/exchanges/%2F/local-x",
            json!({"type": "fanout", "durable": true}),
        )
        .await;
    source
        .post(
            "/api/bindings/%2F/e/local-x/q/local",
            json!({"routing_key": "k"}),
        )
        .await;
    let exported = source.get_ok("/api/definitions").await;
    assert_eq!(exported["rabbit_version"], "3.10.8");
    assert!(names(&exported["queues"]).contains(&"local".to_string()));
    assert_eq!(exported["policies"][0]["name"], "wz-limit");
    assert_eq!(exported["parameters"][0]["component"], "operator_policy");

    let target = start().await;
    let reply = import(&target, "/api/definitions", &exported.to_string()).await;
    assert_eq!(
        reply.status,
        204,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        comparable(target.get_ok("/api/definitions").await),
        comparable(exported)
    );
}

#[tokio::test]
async fn vhost_definitions_export_and_import() {
    let api = start().await;
    api.put("/api/queues/%2F/vq", json!({"durable": true}))
        .await;
    let defs = api.get_ok("/api/definitions/%2F").await;
    assert_eq!(
        defs["queues"],
        json!([{"name": "vq", "durable": true, "auto_delete": false, "arguments": {}}])
    );
    assert!(defs.get("users").is_none());
    let other = start().await;
    assert_eq!(
        import(&other, "/api/definitions/%2F", &defs.to_string())
            .await
            .status,
        204
    );
    assert_eq!(other.get_ok("/api/queues/%2F/vq").await["durable"], true);
}

#[tokio::test]
async fn a_file_naming_a_missing_vhost_changes_nothing() {
    let api = start().await;
    let file = json!({
        "queues": [
            {"name": "fine", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {}},
            {"name": "orphan", "vhost": "nosuch", "durable": true, "auto_delete": false, "arguments": {}},
        ],
    });
    let reason = import(&api, "/api/definitions", &file.to_string())
        .await
        .assert_error(400, "bad_request");
    assert!(reason.contains("'nosuch' does not exist"), "{reason}");
    api.get("/api/queues/%2F/fine")
        .await
        .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn bad_definitions_are_refused_whole() {
    let api = start().await;
    let cases = [
        (json!({"bogus": []}), "unknown field `bogus`"),
        (json!({"queues": 5}), "invalid type"),
        (
            json!({"queues": [{"name": "q", "vhost": "/", "durable": "yes"}]}),
            "invalid type",
        ),
        (
            json!({"exchanges": [{"name": "x", "vhost": "/", "type": "nosuch"}]}),
            "unknown exchange type 'nosuch'",
        ),
        (
            json!({"queues": [{"name": "q", "vhost": "/", "arguments": {"x-max-length": "ten"}}]}),
            "x-max-length",
        ),
        (
            json!({
                "queues": [{"name": "q1", "vhost": "/"}],
                "bindings": [{"source": "nosuch", "vhost": "/", "destination": "q1", "destination_type": "queue", "routing_key": ""}],
            }),
            "source exchange 'nosuch'",
        ),
        (
            json!({
                "exchanges": [{"name": "x1", "vhost": "/", "type": "direct"}],
                "bindings": [{"source": "x1", "vhost": "/", "destination": "nosuch", "destination_type": "queue", "routing_key": ""}],
            }),
            "destination queue 'nosuch'",
        ),
        (
            json!({"policies": [{"name": "p", "vhost": "/", "pattern": "(", "definition": {"max-length": 1}}]}),
            "pattern",
        ),
        (
            json!({"policies": [{"name": "p", "vhost": "/", "pattern": ".*", "definition": {"nosuch-key": 1}}]}),
            "not recognised",
        ),
        (
            json!({"users": [{"name": "u", "password_hash": "x", "hashing_algorithm": "rot13", "tags": []}]}),
            "hashing_algorithm",
        ),
    ];
    for (file, expected) in cases {
        let reason = import(&api, "/api/definitions", &file.to_string())
            .await
            .assert_error(400, "bad_request");
        assert!(reason.contains(expected), "{file}: {reason}");
    }
    // Nothing of the refused files exists.
    assert_eq!(api.get_ok("/api/queues").await, json!([]));
    assert_eq!(
        api.get_ok("/api/exchanges/%2F")
            .await
            .as_array()
            .unwrap()
            .len(),
        7
    );
    import(&api, "/api/definitions", "{not json")
        .await
        .assert_error(400, "bad_request");
}

#[tokio::test]
async fn definitions_need_an_administrator() {
    let api = start().await;
    api.add_user("mon", &["monitoring"]).await;
    let reply = api
        .raw("GET", "/api/definitions", None, Some(("mon", "pw")))
        .await;
    assert_eq!(
        reply.assert_error(401, "not_authorised"),
        "Not administrator user"
    );
    let reply = api
        .raw(
            "POST",
            "/api/definitions",
            Some(b"{}".to_vec()),
            Some(("mon", "pw")),
        )
        .await;
    assert_eq!(reply.status, 401);
}
