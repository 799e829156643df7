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
