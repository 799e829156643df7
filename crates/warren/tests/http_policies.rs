//! Policies and operator policies over the management API.

mod http_common;

use http_common::*;
use serde_json::json;

#[tokio::test]
async fn a_policy_is_set_listed_applied_and_cleared() {
    let api = start().await;
    api.put("/api/queues/%2F/limited", json!({})).await;
    let reply = api
        .put(
            "/api/policies/%2F/cap",
            json!({"pattern": "^limited$", "definition": {"max-length": 5}, "apply-to": "queues", "priority": 2}),
        )
        .await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let again = api
        .put(
            "/api/policies/%2F/cap",
            json!({"pattern": "^limited$", "definition": {"max-length": 6}, "apply-to": "queues", "priority": 2}),
        )
        .await;
    assert_eq!(again.status, 204);
    let one = api.get_ok("/api/policies/%2F/cap").await;
    assert_eq!(
        one,
        json!({"vhost": "/", "name": "cap", "pattern": "^limited$", "apply-to": "queues", "definition": {"max-length": 6}, "priority": 2})
    );
    assert_eq!(api.get_ok("/api/policies").await, json!([one.clone()]));
    assert_eq!(api.get_ok("/api/policies/%2F").await, json!([one]));
    let q = api.get_ok("/api/queues/%2F/limited").await;
    assert_eq!(q["policy"], "cap");
    assert_eq!(q["effective_policy_definition"], json!({"max-length": 6}));

    // The limit is in force: publish 8, keep 6.
    for _ in 0..8 {
        api.post(
            "/api/exchanges/%2F/amq.default/publish",
            json!({"routing_key": "limited", "payload": "x", "payload_encoding": "string", "properties": {}}),
        )
        .await;
    }
    api.eventually("/api/queues/%2F/limited", |q| q["messages"] == 6)
        .await;

    assert_eq!(api.delete("/api/policies/%2F/cap").await.status, 204);
    api.delete("/api/policies/%2F/cap")
        .await
        .assert_error(404, "Object Not Found");
    api.get("/api/policies/%2F/cap")
        .await
        .assert_error(404, "Object Not Found");
    assert_eq!(
        api.get_ok("/api/queues/%2F/limited").await["policy"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn operator_policies_and_their_own_paths() {
    let api = start().await;
    let reply = api
        .put(
            "/api/operator-policies/%2F/ops",
            json!({"pattern": ".*", "definition": {"max-length-bytes": 1000}, "apply-to": "queues"}),
        )
        .await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(api.get_ok("/api/operator-policies").await[0]["name"], "ops");
    assert_eq!(api.get_ok("/api/policies").await, json!([]));
    assert_eq!(
        api.delete("/api/operator-policies/%2F/ops").await.status,
        204
    );
}

#[tokio::test]
async fn bad_policies_get_rabbitmqs_validation_texts() {
    let api = start().await;
    let reason = api
        .put(
            "/api/policies/%2F/p",
            json!({"pattern": ".*", "definition": {"max-length": "x"}, "apply-to": "queues"}),
        )
        .await
        .assert_error(400, "bad_request");
    assert!(reason.starts_with("Validation failed"), "{reason}");
    let reason = api
        .put(
            "/api/policies/%2F/p",
            json!({"pattern": "(", "definition": {"max-length": 1}}),
        )
        .await
        .assert_error(400, "bad_request");
    assert!(reason.contains("pattern"), "{reason}");
    api.put(
        "/api/policies/%2F/p",
        json!({"pattern": ".*", "definition": {"max-length": 1}, "apply-to": "nothing"}),
    )
    .await
    .assert_error(400, "bad_request");
    api.put(
        "/api/policies/%2F/p",
        json!({"definition": {"max-length": 1}}),
    )
    .await
    .assert_error(400, "bad_request");
    api.put(
        "/api/policies/nosuch/p",
        json!({"pattern": ".*", "definition": {"max-length": 1}}),
    )
    .await
    .assert_error(404, "Object Not Found");
    assert_eq!(api.get_ok("/api/policies").await, json!([]));
}

#[tokio::test]
async fn policies_need_a_policymaker_and_operator_policies_an_administrator() {
    let api = start().await;
    api.add_user("mgmt", &["management"]).await;
    api.add_user("pm", &["policymaker"]).await;
    let reply = api
        .raw("GET", "/api/policies", None, Some(("mgmt", "pw")))
        .await;
    assert_eq!(
        reply.assert_error(401, "not_authorised"),
        "Not a policymaker"
    );
    let body =
        serde_json::to_vec(&json!({"pattern": ".*", "definition": {"max-length": 1}})).unwrap();
    let reply = api
        .raw(
            "PUT",
            "/api/policies/%2F/p",
            Some(body.clone()),
            Some(("pm", "pw")),
        )
        .await;
    assert_eq!(reply.status, 201);
    let reply = api
        .raw(
            "PUT",
            "/api/operator-policies/%2F/p",
            Some(body),
            Some(("pm", "pw")),
        )
        .await;
    assert_eq!(
        reply.assert_error(401, "not_authorised"),
        "Not administrator user"
    );
}
