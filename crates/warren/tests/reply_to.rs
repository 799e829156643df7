//! Direct reply-to: the pseudo-queue `amq.rabbitmq.reply-to`.

mod common;

use common::*;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Consumer};

const REPLY_TO: &str = "amq.rabbitmq.reply-to";

async fn reply_consumer(ch: &Channel) -> Consumer {
    t(ch.basic_consume(
        REPLY_TO.into(),
        "".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("consume amq.rabbitmq.reply-to")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_round_trip() {
    let b = broker().await;
    // The server side: its own connection and a request queue.
    let (server_conn, server_ch) = b.connect_channel().await;
    let requests = declare_temp_queue(&server_ch).await;
    let mut server = consume(&server_ch, &requests, true).await;

    let (_client_conn, client_ch) = b.connect_channel().await;
    let mut replies = reply_consumer(&client_ch).await;
    publish_with(
        &client_ch,
        "",
        &requests,
        b"ping",
        BasicProperties::default()
            .with_reply_to(REPLY_TO.into())
            .with_correlation_id("c-1".into()),
    )
    .await;

    let request = next(&mut server).await;
    assert_eq!(body(&request), "ping");
    let reply_to = request
        .properties
        .reply_to()
        .clone()
        .expect("reply_to is set")
        .to_string();
    assert!(
        reply_to.starts_with("amq.rabbitmq.reply-to.") && reply_to.len() > REPLY_TO.len() + 1,
        "reply_to is rewritten to a per-channel address: {reply_to}"
    );
    publish_with(
        &server_ch,
        "",
        &reply_to,
        b"pong",
        BasicProperties::default().with_correlation_id("c-1".into()),
    )
    .await;

    let reply = next(&mut replies).await;
    assert_eq!(body(&reply), "pong");
    assert_eq!(
        reply
            .properties
            .correlation_id()
            .as_ref()
            .map(|s| s.as_str()),
        Some("c-1")
    );
    assert_eq!(reply.exchange.as_str(), "");
    assert_eq!(reply.routing_key.as_str(), reply_to);
    // A second request on the same channel gets the same address.
    publish_with(
        &client_ch,
        "",
        &requests,
        b"ping2",
        BasicProperties::default().with_reply_to(REPLY_TO.into()),
    )
    .await;
    let request2 = next(&mut server).await;
    assert_eq!(
        request2
            .properties
            .reply_to()
            .as_ref()
            .map(|s| s.to_string()),
        Some(reply_to)
    );
    drop(server_conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_consumer_must_be_no_ack() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let res = t(ch.basic_consume(
        REPLY_TO.into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - reply consumer cannot acknowledge",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_a_reply_consumer_closes_the_channel_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let w = watch(&ch).await;
    publish_with(
        &ch,
        "",
        &q,
        b"orphan request",
        BasicProperties::default().with_reply_to(REPLY_TO.into()),
    )
    .await;
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_consumer_on_another_channel_does_not_count() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let other = t(conn.create_channel()).await.unwrap();
    let _replies = reply_consumer(&other).await;
    let q = declare_temp_queue(&ch).await;
    let w = watch(&ch).await;
    publish_with(
        &ch,
        "",
        &q,
        b"request",
        BasicProperties::default().with_reply_to(REPLY_TO.into()),
    )
    .await;
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    )
    .await;
    assert!(other.status().connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_reply_consumer_no_longer_counts() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let replies = reply_consumer(&ch).await;
    t(ch.basic_cancel(replies.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    let q = declare_temp_queue(&ch).await;
    let w = watch(&ch).await;
    publish_with(
        &ch,
        "",
        &q,
        b"request",
        BasicProperties::default().with_reply_to(REPLY_TO.into()),
    )
    .await;
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declare_of_the_reply_to_queue_succeeds() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let ok = t(ch.queue_declare(
        REPLY_TO.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("passive declare of amq.rabbitmq.reply-to");
    assert_eq!(ok.name().as_str(), REPLY_TO);
    // RabbitMQ answers with fixed counts: no messages, one consumer (even with none).
    assert_eq!((ok.message_count(), ok.consumer_count()), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_to_an_unknown_address_is_unroutable() {
    let b = broker().await;
    let (conn, _ch) = b.connect_channel().await;
    let ch = confirm_channel(&conn).await;
    let confirm = t(ch.basic_publish(
        "".into(),
        "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyNjYzMzg0OAAAAAcAAAAAXvJ8hw==".into(),
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        b"to nobody",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    let confirmation = t(confirm).await.unwrap();
    assert!(confirmation.is_ack());
    let returned = confirmation.take_message().expect("returned as unroutable");
    assert_eq!(
        (returned.reply_code, returned.reply_text.as_str()),
        (312, "NO_ROUTE")
    );
    assert!(ch.status().connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_reply_consumer_on_a_channel_is_refused() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let _first = reply_consumer(&ch).await;
    let res = t(ch.basic_consume(
        REPLY_TO.into(),
        "".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - reply consumer already set",
    )
    .await;
}
