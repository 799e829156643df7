//! Connections, channels and consumers over the management API, and closing a
//! connection from it.

mod http_common;

use futures_lite::StreamExt;
use http_common::*;
use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::ConnectionProperties;

async fn named_connection(api: &TestApi, name: &str) -> lapin::Connection {
    t(lapin::Connection::connect(
        &api.amqp_url(),
        ConnectionProperties::default().with_connection_name(name.into()),
    ))
    .await
    .expect("AMQP connect")
}

#[tokio::test]
async fn connections_channels_and_consumers_are_listed() {
    let api = start().await;
    let conn = named_connection(&api, "listing-test").await;
    let ch = t(conn.create_channel()).await.unwrap();
    t(ch.basic_qos(7, BasicQosOptions::default()))
        .await
        .unwrap();
    t(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    t(ch.queue_declare(
        "listed".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut args = FieldTable::default();
    args.insert("x-priority".into(), AMQPValue::LongInt(3));
    let _consumer = t(ch.basic_consume(
        "listed".into(),
        "the-tag".into(),
        BasicConsumeOptions::default(),
        args,
    ))
    .await
    .unwrap();

    let conns = api.get_ok("/api/connections").await;
    assert_eq!(conns.as_array().unwrap().len(), 1);
    let c = &conns[0];
    let name = c["name"].as_str().unwrap().to_string();
    let amqp_port = api.server.amqp_addr().port();
    assert!(
        name.starts_with("127.0.0.1:") && name.ends_with(&format!(" -> 127.0.0.1:{amqp_port}")),
        "{name}"
    );
    assert_eq!(c["user"], "guest");
    assert_eq!(c["vhost"], "/");
    assert_eq!(c["protocol"], "AMQP 0-9-1");
    assert_eq!(c["auth_mechanism"], "PLAIN");
    assert_eq!(c["peer_host"], "127.0.0.1");
    assert_eq!(c["port"], amqp_port);
    assert_eq!(c["state"], "running");
    assert_eq!(c["channels"], 1);
    assert_eq!(c["user_provided_name"], "listing-test");
    assert_eq!(c["client_properties"]["connection_name"], "listing-test");
    assert!(c["client_properties"]["capabilities"]["publisher_confirms"] == true);
    assert!(c["frame_max"].as_u64().unwrap() > 0);
    assert!(c["connected_at"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(c["recv_oct"].as_u64().unwrap() > 0);

    let one = api
        .get_ok(&format!("/api/connections/{}", enc(&name)))
        .await;
    assert_eq!(one["name"], name);
    assert_eq!(
        api.get_ok("/api/vhosts/%2F/connections")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let chans = api.get_ok("/api/channels").await;
    let chan = &chans[0];
    assert_eq!(chan["name"], format!("{name} (1)"));
    assert_eq!(chan["number"], 1);
    assert_eq!(chan["prefetch_count"], 7);
    assert_eq!(chan["confirm"], true);
    assert_eq!(chan["transactional"], false);
    assert_eq!(chan["consumer_count"], 1);
    assert_eq!(chan["connection_details"]["name"], name);
    let per_conn = api
        .get_ok(&format!("/api/connections/{}/channels", enc(&name)))
        .await;
    assert_eq!(per_conn, chans);
    let one = api
        .get_ok(&format!("/api/channels/{}", enc(&format!("{name} (1)"))))
        .await;
    assert_eq!(one["number"], 1);

    let consumers = api.get_ok("/api/consumers").await;
    let cons = &consumers[0];
    assert_eq!(cons["consumer_tag"], "the-tag");
    assert_eq!(
        cons["queue"],
        serde_json::json!({"name": "listed", "vhost": "/"})
    );
    assert_eq!(cons["ack_required"], true);
    assert_eq!(cons["prefetch_count"], 7);
    assert_eq!(cons["arguments"], serde_json::json!({"x-priority": 3}));
    assert_eq!(cons["channel_details"]["connection_name"], name);
    assert_eq!(api.get_ok("/api/consumers/%2F").await, consumers);

    // Gone once closed.
    t(conn.close(200, "bye".into())).await.unwrap();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !api
        .get_ok("/api/connections")
        .await
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(api.get_ok("/api/channels").await, serde_json::json!([]));
    assert_eq!(api.get_ok("/api/consumers").await, serde_json::json!([]));
    api.get(&format!("/api/connections/{}", enc(&name)))
        .await
        .assert_error(404, "Object Not Found");
}

async fn close_and_watch(reason: Option<&str>) -> (u16, String) {
    let api = start().await;
    let conn = named_connection(&api, "doomed").await;
    let ch = t(conn.create_channel()).await.unwrap();
    let q = t(ch.queue_declare(
        "".into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut consumer = t(ch.basic_consume(
        q.name().clone(),
        "watch".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let name = api.get_ok("/api/connections").await[0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let request = format!("/api/connections/{}", enc(&name));
    let reply = match reason {
        Some(r) => delete_with_reason(&api, &request, r).await,
        None => api.delete(&request).await,
    };
    assert_eq!(reply.status, 204);
    let err = match t(consumer.next()).await {
        Some(Err(e)) => e,
        other => panic!("expected the connection to close, got {other:?}"),
    };
    match err.kind() {
        lapin::ErrorKind::ProtocolError(e) => (e.get_id(), e.get_message().to_string()),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

async fn delete_with_reason(api: &TestApi, path: &str, reason: &str) -> Reply {
    use base64::Engine;
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(api.http).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let token = base64::engine::general_purpose::STANDARD.encode("guest:guest");
    let request = hyper::Request::builder()
        .method("DELETE")
        .uri(path)
        .header("host", "localhost")
        .header("authorization", format!("Basic {token}"))
        .header("x-reason", reason)
        .body(Empty::<hyper::body::Bytes>::new())
        .unwrap();
    let response = t(sender.send_request(request)).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn delete_closes_the_connection_with_320_and_the_x_reason() {
    assert_eq!(
        close_and_watch(Some("maintenance window")).await,
        (320, "CONNECTION_FORCED - maintenance window".to_string())
    );
}

#[tokio::test]
async fn delete_without_a_reason_uses_rabbitmqs_default() {
    assert_eq!(
        close_and_watch(None).await,
        (
            320,
            "CONNECTION_FORCED - Closed via management plugin".to_string()
        )
    );
}

#[tokio::test]
async fn users_see_only_their_own_connections_unless_monitoring() {
    let api = start().await;
    api.add_user("mgmt", &["management"]).await;
    let _conn = api.amqp().await;
    let mine = api
        .raw("GET", "/api/connections", None, Some(("mgmt", "pw")))
        .await;
    assert_eq!(mine.json(), serde_json::json!([]));
    let name = api.get_ok("/api/connections").await[0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = api
        .raw(
            "DELETE",
            &format!("/api/connections/{}", enc(&name)),
            None,
            Some(("mgmt", "pw")),
        )
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        api.get_ok("/api/connections")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
