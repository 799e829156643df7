//! The management API's authentication, tags, and the overview/whoami/nodes/vhosts
//! endpoints, driven over HTTP.

mod http_common;

use http_common::*;

#[tokio::test]
async fn no_or_wrong_credentials_get_401_with_a_challenge() {
    let api = start().await;
    for auth in [None, Some(("guest", "wrong")), Some(("nobody", "guest"))] {
        let reply = api.raw("GET", "/api/overview", None, auth).await;
        let reason = reply.assert_error(401, "not_authorized");
        assert_eq!(reason, "Login failed");
        assert_eq!(
            reply.header("www-authenticate").as_deref(),
            Some("Basic realm=\"RabbitMQ Management\"")
        );
    }
    let reply = api
        .raw("GET", "/api/overview", None, Some(("guest", "guest")))
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn tags_decide_what_a_user_may_see() {
    let api = start().await;
    api.add_user("plain", &[]).await;
    api.add_user("mgmt", &["management"]).await;
    api.add_user("mon", &["monitoring"]).await;

    // No management tag: nothing at all (RabbitMQ: 401 "Not management user").
    let reply = api
        .raw("GET", "/api/overview", None, Some(("plain", "pw")))
        .await;
    assert_eq!(
        reply.assert_error(401, "not_authorised"),
        "Not management user"
    );
    assert!(reply.header("www-authenticate").is_none());

    // management: the overview, but not the nodes.
    let reply = api
        .raw("GET", "/api/overview", None, Some(("mgmt", "pw")))
        .await;
    assert_eq!(reply.status, 200);
    let reply = api
        .raw("GET", "/api/nodes", None, Some(("mgmt", "pw")))
        .await;
    assert_eq!(
        reply.assert_error(401, "not_authorised"),
        "Not monitor user"
    );

    // monitoring: the nodes too.
    let reply = api
        .raw("GET", "/api/nodes", None, Some(("mon", "pw")))
        .await;
    assert_eq!(reply.status, 200);

    let me = api
        .raw("GET", "/api/whoami", None, Some(("mon", "pw")))
        .await;
    assert_eq!(
        me.json(),
        serde_json::json!({"name": "mon", "tags": ["monitoring"]})
    );
}

#[tokio::test]
async fn overview_counts_objects_and_names_the_listeners() {
    let api = start().await;
    let amqp = api.amqp().await;
    let ch = t(amqp.create_channel()).await.unwrap();
    t(ch.queue_declare("ov-q".into(), Default::default(), Default::default()))
        .await
        .unwrap();
    let o = api.get_ok("/api/overview").await;
    assert_eq!(o["rabbitmq_version"], "3.10.8");
    assert_eq!(o["product_name"], "Warren");
    assert_eq!(o["rates_mode"], "basic");
    assert_eq!(o["object_totals"]["queues"], 1);
    // The seven exchanges every vhost has.
    assert_eq!(o["object_totals"]["exchanges"], 7);
    assert_eq!(o["object_totals"]["connections"], 1);
    assert!(o["queue_totals"]["messages_details"]["rate"].is_number());
    let listeners = o["listeners"].as_array().unwrap();
    let amqp_port = api.server.amqp_addr().port();
    assert!(listeners
        .iter()
        .any(|l| l["protocol"] == "amqp" && l["port"] == amqp_port));
    assert!(listeners
        .iter()
        .any(|l| l["protocol"] == "http" && l["port"] == api.http.port()));
    let types: Vec<&str> = o["exchange_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["direct", "fanout", "headers", "topic"]);
}

#[tokio::test]
async fn nodes_list_this_node_and_get_it_by_name() {
    let api = start().await;
    let nodes = api.get_ok("/api/nodes").await;
    let node = &nodes[0];
    let name = node["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("warren@"), "{name}");
    assert_eq!(node["running"], true);
    assert_eq!(node["disk_free_alarm"], false);
    assert!(node["uptime"].is_u64());
    let one = api.get_ok(&format!("/api/nodes/{}", enc(&name))).await;
    assert_eq!(one["name"], name);
    api.get("/api/nodes/rabbit@elsewhere")
        .await
        .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn vhosts_list_the_default_vhost_with_message_totals() {
    let api = start().await;
    let vhosts = api.get_ok("/api/vhosts").await;
    assert_eq!(vhosts.as_array().unwrap().len(), 1);
    assert_eq!(vhosts[0]["name"], "/");
    assert_eq!(vhosts[0]["messages"], 0);
    assert_eq!(vhosts[0]["description"], "Default virtual host");
    let one = api.get_ok("/api/vhosts/%2F").await;
    assert_eq!(one["name"], "/");
    api.get("/api/vhosts/nosuch")
        .await
        .assert_error(404, "Object Not Found");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let api = start().await;
    api.get("/api/nosuch")
        .await
        .assert_error(404, "Object Not Found");
    let reply = api.call("PATCH", "/api/overview", None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.json()["error"], "method_not_allowed");
}

/// RabbitMQ 3.10 answers an unknown path with 404 and a wrong method with 405
/// whatever the credentials: a login is asked for only where there is something.
#[tokio::test]
async fn unknown_paths_and_methods_need_no_credentials() {
    let api = start().await;
    let logins = [None, Some(("guest", "wrong")), Some(("guest", "guest"))];
    for auth in logins {
        for path in [
            "/nonexistent",
            "/foo/bar",
            "/api/nosuch",
            "/api/queues/a/b/c/d",
        ] {
            let reply = api.raw("GET", path, None, auth).await;
            let reason = reply.assert_error(404, "Object Not Found");
            assert_eq!(reason, "Not Found", "{path} with {auth:?}");
            assert_eq!(reply.header("www-authenticate"), None, "{path}");
        }
        for method in ["POST", "PATCH", "DELETE"] {
            let reply = api.raw(method, "/api/overview", None, auth).await;
            assert_eq!(reply.status, 405, "{method} with {auth:?}");
        }
    }
    // A path that exists still wants a login, even for an object that does not.
    for path in [
        "/api/overview",
        "/api/queues/%2F/nosuch",
        "/api/vhosts/nosuch",
    ] {
        let reply = api.raw("GET", path, None, None).await;
        reply.assert_error(401, "not_authorized");
    }
    api.get("/api/vhosts/nosuch")
        .await
        .assert_error(404, "Object Not Found");
}
