//! Listing parameters as RabbitMQ reads them (page, page_size, name, use_regex, sort,
//! sort_reverse, columns) and bad input everywhere: each a 4xx with RabbitMQ's JSON
//! error shape.

mod http_common;

use http_common::*;
use serde_json::json;

async fn with_queues(names: &[&str]) -> TestApi {
    let api = start().await;
    for name in names {
        assert_eq!(
            api.put(&format!("/api/queues/%2F/{}", enc(name)), json!({}))
                .await
                .status,
            201
        );
    }
    api
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pages_have_rabbitmqs_shape() {
    let api = with_queues(&["q-c", "q-a", "q-e", "q-b", "q-d"]).await;
    let page = api.get_ok("/api/queues?page=2&page_size=2").await;
    assert_eq!(page["filtered_count"], 5);
    assert_eq!(page["item_count"], 2);
    assert_eq!(page["page"], 2);
    assert_eq!(page["page_count"], 3);
    assert_eq!(page["page_size"], 2);
    assert_eq!(page["total_count"], 5);
    assert_eq!(names(&page["items"]), ["q-c", "q-d"]);
    let last = api.get_ok("/api/queues/%2F?page=3&page_size=2").await;
    assert_eq!(names(&last["items"]), ["q-e"]);
    // Without page_size: 100 a page.
    assert_eq!(api.get_ok("/api/queues?page=1").await["page_size"], 100);
}

#[tokio::test]
async fn names_filter_by_substring_or_regex_in_paged_listings() {
    let api = with_queues(&["orders", "Orders-eu", "payments", "audit"]).await;
    let page = api.get_ok("/api/queues?page=1&name=order").await;
    assert_eq!(names(&page["items"]), ["Orders-eu", "orders"]);
    assert_eq!(page["filtered_count"], 2);
    assert_eq!(page["total_count"], 4);
    let page = api
        .get_ok("/api/queues?page=1&name=%5Ep.*s%24&use_regex=true")
        .await;
    assert_eq!(names(&page["items"]), ["payments"]);
    let none = api.get_ok("/api/queues?page=1&name=zzz").await;
    assert_eq!(none["filtered_count"], 0);
    assert_eq!(none["page_count"], 0);
    assert_eq!(none["items"], json!([]));
}

#[tokio::test]
async fn sort_and_columns() {
    let api = with_queues(&["b", "a", "c"]).await;
    let reversed = api.get_ok("/api/queues?sort=name&sort_reverse=true").await;
    assert_eq!(names(&reversed), ["c", "b", "a"]);
    // Sort by a nested numeric field: `b` gets two messages, `c` one.
    for (queue, n) in [("b", 2), ("c", 1)] {
        for _ in 0..n {
            let reply = api
                .post(
                    "/api/exchanges/%2F/amq.default/publish",
                    json!({"routing_key": queue, "payload": "x", "payload_encoding": "string", "properties": {}}),
                )
                .await;
            assert_eq!(reply.json(), json!({"routed": true}));
        }
    }
    api.eventually("/api/queues/%2F/b", |q| q["messages"] == 2)
        .await;
    api.eventually("/api/queues/%2F/c", |q| q["messages"] == 1)
        .await;
    let by_messages = api.get_ok("/api/queues?sort=messages").await;
    assert_eq!(names(&by_messages), ["a", "c", "b"]);
    let by_publish = api
        .get_ok("/api/queues?sort=message_stats.publish&sort_reverse=true")
        .await;
    assert_eq!(names(&by_publish), ["b", "c", "a"]);
    let cols = api
        .get_ok("/api/queues?columns=name,messages,message_stats.publish&page=1&page_size=1")
        .await;
    assert_eq!(
        cols["items"],
        json!([{"name": "a", "messages": 0, "message_stats": {"publish": 0}}])
    );
}

#[tokio::test]
async fn equal_sort_values_page_in_name_order() {
    // Queues with the same count: each page holds the next names, none twice.
    let names = ["q5", "q2", "q9", "q1", "q7", "q3", "q8", "q4", "q6"];
    let api = with_queues(&names).await;
    for query in [
        "sort=messages",
        "sort=messages&sort_reverse=true",
        "sort=durable",
    ] {
        let mut seen = Vec::new();
        for page in 1..=3 {
            let reply = api
                .get_ok(&format!("/api/queues?page={page}&page_size=3&{query}"))
                .await;
            for item in reply["items"].as_array().unwrap() {
                seen.push(item["name"].as_str().unwrap().to_string());
            }
        }
        let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        expected.sort();
        if query.contains("reverse") {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{query}");
    }
}

/// `(source, destination, routing_key)` of each binding in a reply.
fn binding_ends(v: &serde_json::Value) -> Vec<(String, String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let text = |k: &str| b[k].as_str().unwrap().to_string();
            (text("source"), text("destination"), text("routing_key"))
        })
        .collect()
}

#[tokio::test]
async fn bindings_come_in_one_order_and_page_without_overlap() {
    // Bindings share their source (the listing's name): within it they come by
    // destination type (exchanges first), destination, then key.
    let api = with_queues(&["qb", "qa"]).await;
    api.put("/api/exchanges/%2F/src", json!({"type": "direct"}))
        .await;
    api.put("/api/exchanges/%2F/dst", json!({"type": "fanout"}))
        .await;
    for (kind, dest, key) in [
        ("q", "qb", "k2"),
        ("q", "qa", "k9"),
        ("q", "qb", "k1"),
        ("e", "dst", "k5"),
        ("q", "qa", "k3"),
    ] {
        let path = format!("/api/bindings/%2F/e/src/{kind}/{dest}");
        let reply = api.post(&path, json!({"routing_key": key})).await;
        assert_eq!(reply.status, 201, "{path}");
    }
    let t = |s: &str, d: &str, k: &str| (s.to_string(), d.to_string(), k.to_string());
    let expected = vec![
        t("", "qa", "qa"),
        t("", "qb", "qb"),
        t("src", "dst", "k5"),
        t("src", "qa", "k3"),
        t("src", "qa", "k9"),
        t("src", "qb", "k1"),
        t("src", "qb", "k2"),
    ];
    assert_eq!(binding_ends(&api.get_ok("/api/bindings").await), expected);
    assert_eq!(
        binding_ends(&api.get_ok("/api/bindings/%2F").await),
        expected
    );
    let mut paged = Vec::new();
    for page in 1..=3 {
        let reply = api
            .get_ok(&format!("/api/bindings?page={page}&page_size=3"))
            .await;
        assert_eq!(reply["total_count"], 7);
        paged.extend(binding_ends(&reply["items"]));
    }
    assert_eq!(paged, expected);
    let reply = api.get_ok("/api/bindings/%2F?page=2&page_size=4").await;
    assert_eq!(binding_ends(&reply["items"]), expected[4..].to_vec());
    assert_eq!(
        (&reply["page_count"], &reply["item_count"]),
        (&json!(2), &json!(3))
    );
    api.get("/api/bindings?page=4&page_size=3")
        .await
        .assert_error(400, "page_out_of_range");
    let mut reversed = Vec::new();
    for page in 1..=3 {
        let reply = api
            .get_ok(&format!(
                "/api/bindings?page={page}&page_size=3&sort=routing_key&sort_reverse=true"
            ))
            .await;
        reversed.extend(binding_ends(&reply["items"]));
    }
    let keys: Vec<&str> = reversed.iter().map(|b| b.2.as_str()).collect();
    assert_eq!(keys, ["qb", "qa", "k9", "k5", "k3", "k2", "k1"]);

    // The per-exchange and per-queue listings hold just their own.
    let source = api.get_ok("/api/exchanges/%2F/src/bindings/source").await;
    assert_eq!(binding_ends(&source), expected[2..].to_vec());
    let default = api
        .get_ok("/api/exchanges/%2F/amq.default/bindings/source")
        .await;
    assert_eq!(binding_ends(&default), expected[..2].to_vec());
    let dst = api
        .get_ok("/api/exchanges/%2F/dst/bindings/destination")
        .await;
    assert_eq!(binding_ends(&dst), vec![t("src", "dst", "k5")]);
    let qa = api.get_ok("/api/queues/%2F/qa/bindings").await;
    assert_eq!(
        binding_ends(&qa),
        vec![
            t("", "qa", "qa"),
            t("src", "qa", "k3"),
            t("src", "qa", "k9")
        ]
    );
    let between = api.get_ok("/api/bindings/%2F/e/src/q/qb").await;
    assert_eq!(
        binding_ends(&between),
        vec![t("src", "qb", "k1"), t("src", "qb", "k2")]
    );
}

#[tokio::test]
async fn vhost_totals_follow_their_queues() {
    let api = with_queues(&["t1", "t2"]).await;
    api.put("/api/vhosts/other", json!({})).await;
    api.put("/api/queues/other/t3", json!({})).await;
    for (vhost, queue, n) in [("%2F", "t1", 2), ("%2F", "t2", 1), ("other", "t3", 4)] {
        for _ in 0..n {
            let path = format!("/api/exchanges/{vhost}/amq.default/publish");
            let body = json!({"routing_key": queue, "payload": "x", "payload_encoding": "string", "properties": {}});
            assert_eq!(api.post(&path, body).await.json()["routed"], true);
        }
    }
    let count = |v: &serde_json::Value, name: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["messages_ready"].clone())
    };
    let vhosts = api
        .eventually("/api/vhosts", |v| {
            count(v, "/") == Some(json!(3)) && count(v, "other") == Some(json!(4))
        })
        .await;
    assert_eq!(count(&vhosts, "/"), Some(json!(3)));
    let one = api.get_ok("/api/vhosts/other").await;
    assert_eq!(one["messages"], 4);
    assert_eq!(one["messages_unacknowledged"], 0);
    let overview = api.get_ok("/api/overview").await;
    assert_eq!(overview["queue_totals"]["messages_ready"], 7);
    assert_eq!(overview["object_totals"]["queues"], 3);
}

#[tokio::test]
async fn bad_paging_parameters_are_400s() {
    let api = with_queues(&["a", "b", "c"]).await;
    let reason = api
        .get("/api/queues?page=9&page_size=2")
        .await
        .assert_error(400, "page_out_of_range");
    assert_eq!(reason, "Page out of range, page: 9 page size: 2, len: 3");
    let reason = api
        .get("/api/queues?page=0")
        .await
        .assert_error(400, "invalid_pagination_parameters");
    assert_eq!(
        reason,
        "Invalid pagination parameters: page number 0, page size undefined"
    );
    api.get("/api/queues?page=1&page_size=501")
        .await
        .assert_error(400, "invalid_pagination_parameters");
    api.get("/api/queues?page=x")
        .await
        .assert_error(400, "bad_request");
    let reason = api
        .get("/api/queues?page=1&name=(bad&use_regex=true")
        .await
        .assert_error(400, "bad_request");
    assert!(reason.contains("regular expression"), "{reason}");
}

#[tokio::test]
async fn bad_bodies_are_400s_with_a_reason() {
    let api = start().await;
    let put = |body: &'static [u8]| {
        let api = &api;
        async move {
            api.raw(
                "PUT",
                "/api/queues/%2F/bad",
                Some(body.to_vec()),
                Some(("guest", "guest")),
            )
            .await
        }
    };
    let reason = put(b"{bad").await.assert_error(400, "bad_request");
    assert!(reason.starts_with("not_json"), "{reason}");
    let reason = put(br#"{"durable":"yes"}"#)
        .await
        .assert_error(400, "bad_request");
    assert!(reason.contains("expected a boolean"), "{reason}");
    let reason = put(br#"{"durable":true,"bogus":1}"#)
        .await
        .assert_error(400, "bad_request");
    assert!(reason.contains("unknown field `bogus`"), "{reason}");
    let reason = put(br#"{"arguments":[1,2]}"#)
        .await
        .assert_error(400, "bad_request");
    assert!(reason.contains("arguments must be an object"), "{reason}");
    let reason = put(br#"{"arguments":{"x-max-length":"ten"}}"#)
        .await
        .assert_error(400, "bad_request");
    assert!(reason.contains("x-max-length"), "{reason}");
    put(b"[]").await.assert_error(400, "bad_request");
    put(b"null").await.assert_error(400, "bad_request");
    api.get("/api/queues/%2F/bad")
        .await
        .assert_error(404, "Object Not Found");

    let reply = api
        .raw(
            "POST",
            "/api/bindings/%2F/e/amq.direct/q/nosuch",
            Some(b"{\"routing_key\": 5}".to_vec()),
            Some(("guest", "guest")),
        )
        .await;
    assert_eq!(reply.status, 404);

    // Past the body limit: 413, still JSON.
    let huge = vec![b' '; warren_http::MAX_BODY + 1];
    let reply = api
        .raw(
            "PUT",
            "/api/queues/%2F/huge",
            Some(huge),
            Some(("guest", "guest")),
        )
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["error"], "bad_request");

    // Invalid UTF-8 in a path segment.
    api.get("/api/queues/%2F/%FF")
        .await
        .assert_error(400, "bad_request");
}

/// Rates are RabbitMQ's `basic` mode: the change between two samples 5 s apart.
/// Messages published before the second sample show as a positive rate on their
/// queue, on their vhost (whose rates the sampler adds up) and in the overview,
/// and only in their own vhost.
#[tokio::test]
async fn message_rates_show_on_the_queue_its_vhost_and_the_overview() {
    let api = with_queues(&["rated"]).await;
    api.put("/api/vhosts/quiet", json!({})).await;
    for _ in 0..20 {
        let body = json!({"routing_key": "rated", "payload": "x", "payload_encoding": "string", "properties": {}});
        let reply = api
            .post("/api/exchanges/%2F/amq.default/publish", body)
            .await;
        assert_eq!(reply.json()["routed"], true);
    }
    let rate = |v: &serde_json::Value, path: &[&str]| {
        path.iter()
            .fold(v, |v, k| &v[k])
            .as_f64()
            .unwrap_or_default()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let queue = api.get_ok("/api/queues/%2F/rated").await;
        let vhost = api.get_ok("/api/vhosts/%2F").await;
        let overview = api.get_ok("/api/overview").await;
        let rates = [
            rate(&queue, &["message_stats", "publish_details", "rate"]),
            rate(&queue, &["messages_ready_details", "rate"]),
            rate(&vhost, &["messages_ready_details", "rate"]),
            rate(&vhost, &["messages_details", "rate"]),
            rate(&overview, &["message_stats", "publish_details", "rate"]),
            rate(
                &overview,
                &["queue_totals", "messages_ready_details", "rate"],
            ),
        ];
        if rates.iter().all(|r| *r > 0.0) {
            // 20 messages over one 5 s interval.
            assert!(rates.iter().all(|r| *r <= 20.0), "{rates:?}");
            let quiet = api.get_ok("/api/vhosts/quiet").await;
            assert_eq!(rate(&quiet, &["messages_ready_details", "rate"]), 0.0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rates never showed: {rates:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
