//! Exchange class: declare, delete, exchange-to-exchange bindings, reserved names,
//! internal and alternate exchanges.

mod common;

use std::time::Duration;

use common::*;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeBindOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, ExchangeUnbindOptions, QueueBindOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};

async fn declare(ch: &Channel, name: &str, kind: ExchangeKind) -> lapin::Result<()> {
    t(ch.exchange_declare(
        name.into(),
        kind,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
}

async fn passive(ch: &Channel, name: &str) -> lapin::Result<()> {
    t(ch.exchange_declare(
        name.into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
}

async fn bind_queue(ch: &Channel, q: &str, x: &str, key: &str) {
    t(ch.queue_bind(
        q.into(),
        x.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("queue.bind");
}

async fn bind_exchange(ch: &Channel, dest: &str, src: &str, key: &str) -> lapin::Result<()> {
    t(ch.exchange_bind(
        dest.into(),
        src.into(),
        key.into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_each_type_then_passive_then_delete() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let kinds = [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Topic,
        ExchangeKind::Headers,
    ];
    for kind in kinds {
        let x = unique("x-kind");
        declare(&ch, &x, kind.clone()).await.expect("declare");
        declare(&ch, &x, kind).await.expect("redeclare, same type");
        passive(&ch, &x)
            .await
            .expect("passive declare of an existing exchange");
        t(ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()))
            .await
            .expect("delete");
        let (conn2, ch2) = b.connect_channel().await;
        let x_missing = x.clone();
        expect_channel_error(
            &conn2,
            &ch2,
            passive(&ch2, &x_missing).await,
            404,
            &format!("NOT_FOUND - no exchange '{x}' in vhost '/'"),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declare_of_a_missing_exchange_is_404() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = unique("x-missing");
    let res = passive(&ch, &x).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        404,
        &format!("NOT_FOUND - no exchange '{x}' in vhost '/'"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declare_of_builtin_exchanges_succeeds() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    for x in [
        "amq.direct",
        "amq.fanout",
        "amq.topic",
        "amq.headers",
        "amq.match",
    ] {
        passive(&ch, x).await.unwrap_or_else(|e| panic!("{x}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclare_with_a_different_type_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = unique("x-retype");
    declare(&ch, &x, ExchangeKind::Direct).await.unwrap();
    let res = declare(&ch, &x, ExchangeKind::Fanout).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{x}' in vhost '/': \
             received 'fanout' but current is 'direct'"
        ),
    )
    .await;
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclare_with_different_durability_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = unique("x-redurable");
    declare(&ch, &x, ExchangeKind::Direct).await.unwrap();
    let res = t(ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            durable: true,
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
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '{x}' in vhost '/': \
             received 'true' but current is 'false'"
        ),
    )
    .await;
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_exchange_type_closes_the_connection_with_503() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = unique("x-badtype");
    let res = declare(&ch, &x, ExchangeKind::Custom("no-such-type".into())).await;
    expect_connection_error(
        &b,
        &conn,
        res,
        503,
        "COMMAND_INVALID - unknown exchange type 'no-such-type'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_an_amq_prefixed_exchange_is_403() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = format!("amq.{}", unique("x"));
    let res = declare(&ch, &x, ExchangeKind::Direct).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        &format!("ACCESS_REFUSED - exchange name '{x}' contains reserved prefix 'amq.*'"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_unused_on_a_bound_exchange_is_406() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = unique("x-inuse");
    declare(&ch, &x, ExchangeKind::Direct).await.unwrap();
    let q = declare_temp_queue(&ch).await;
    bind_queue(&ch, &q, &x, "k").await;
    let res = t(ch.exchange_delete(
        x.as_str().into(),
        ExchangeDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        &format!("PRECONDITION_FAILED - exchange '{x}' in vhost '/' in use"),
    )
    .await;
    // The exchange is still there; without if_unused it can be deleted.
    let ch2 = t(conn.create_channel()).await.unwrap();
    passive(&ch2, &x).await.expect("still exists");
    t(ch2.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()))
        .await
        .expect("plain delete of a bound exchange");
    let ch3 = t(conn.create_channel()).await.unwrap();
    expect_channel_error(
        &conn,
        &ch3,
        passive(&ch3, &x).await,
        404,
        &format!("NOT_FOUND - no exchange '{x}' in vhost '/'"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_unused_on_an_unbound_exchange_succeeds() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let x = unique("x-unused");
    declare(&ch, &x, ExchangeKind::Fanout).await.unwrap();
    t(ch.exchange_delete(
        x.as_str().into(),
        ExchangeDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await
    .expect("delete if_unused of an unused exchange");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_missing_exchange_succeeds() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    t(ch.exchange_delete(
        unique("x-never").as_str().into(),
        ExchangeDeleteOptions::default(),
    ))
    .await
    .expect("delete of a missing exchange is ok");
    assert!(ch.status().connected());
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_to_exchange_binding_routes_and_unbind_stops_it() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let src = unique("x-src");
    let dst = unique("x-dst");
    declare(&ch, &src, ExchangeKind::Topic).await.unwrap();
    declare(&ch, &dst, ExchangeKind::Direct).await.unwrap();
    let q = declare_temp_queue(&ch).await;
    bind_queue(&ch, &q, &dst, "a.b").await;
    bind_exchange(&ch, &dst, &src, "a.*")
        .await
        .expect("exchange.bind");
    publish(&ch, &src, "a.b", b"through").await;
    publish(&ch, &src, "x.b", b"filtered by src binding").await;
    publish(&ch, &src, "a.c", b"filtered by dst binding").await;
    sync(&ch, &q).await;
    assert_eq!(drain(&ch, &q).await, vec!["through"]);

    t(ch.exchange_unbind(
        dst.as_str().into(),
        src.as_str().into(),
        "a.*".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("exchange.unbind");
    publish(&ch, &src, "a.b", b"after unbind").await;
    sync(&ch, &q).await;
    assert!(drain(&ch, &q).await.is_empty());
    cleanup(&b, &[], &[&src, &dst]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_bind_with_a_missing_source_or_destination_is_404() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = unique("x-present");
    let missing = unique("x-absent");
    declare(&ch, &x, ExchangeKind::Fanout).await.unwrap();
    let res = bind_exchange(&ch, &x, &missing, "").await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        404,
        &format!("NOT_FOUND - no exchange '{missing}' in vhost '/'"),
    )
    .await;
    let ch = t(conn.create_channel()).await.unwrap();
    let res = bind_exchange(&ch, &missing, &x, "").await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        404,
        &format!("NOT_FOUND - no exchange '{missing}' in vhost '/'"),
    )
    .await;
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbinding_from_a_missing_exchange_succeeds() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    t(ch.queue_unbind(
        q.as_str().into(),
        unique("x-gone").as_str().into(),
        "k".into(),
        FieldTable::default(),
    ))
    .await
    .expect("queue.unbind from a missing exchange");
    let x = unique("x-here");
    declare(&ch, &x, ExchangeKind::Direct).await.unwrap();
    t(ch.exchange_unbind(
        x.as_str().into(),
        unique("x-gone").as_str().into(),
        "k".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("exchange.unbind from a missing source");
    t(ch.queue_unbind(
        q.as_str().into(),
        x.as_str().into(),
        "never-bound".into(),
        FieldTable::default(),
    ))
    .await
    .expect("queue.unbind of a binding that does not exist");
    assert_connection_usable(&conn).await;
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_binding_cycles_deliver_once_and_do_not_loop() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let x1 = unique("x-cycle1");
    let x2 = unique("x-cycle2");
    let x3 = unique("x-cycle3");
    for x in [&x1, &x2, &x3] {
        declare(&ch, x, ExchangeKind::Fanout).await.unwrap();
    }
    // x1 -> x2 -> x3 -> x1, and x1 -> x3 directly too.
    bind_exchange(&ch, &x2, &x1, "").await.unwrap();
    bind_exchange(&ch, &x3, &x2, "").await.unwrap();
    bind_exchange(&ch, &x1, &x3, "").await.unwrap();
    bind_exchange(&ch, &x3, &x1, "").await.unwrap();
    let q = declare_temp_queue(&ch).await;
    bind_queue(&ch, &q, &x2, "").await;
    bind_queue(&ch, &q, &x3, "").await;
    publish(&ch, &x1, "", b"once").await;
    sync(&ch, &q).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(drain(&ch, &q).await, vec!["once"]);
    cleanup(&b, &[], &[&x1, &x2, &x3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_to_the_default_exchange_is_403() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let res = t(ch.queue_bind(
        q.as_str().into(),
        "".into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbinding_from_the_default_exchange_is_403() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let q = declare_temp_queue(&ch).await;
    let res = t(ch.queue_unbind(
        q.as_str().into(),
        "".into(),
        q.as_str().into(),
        FieldTable::default(),
    ))
    .await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_default_exchange_is_403() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let res = t(ch.exchange_delete("".into(), ExchangeDeleteOptions::default())).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_builtin_amq_exchange_is_403() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let res = t(ch.exchange_delete("amq.direct".into(), ExchangeDeleteOptions::default())).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_an_exchange_to_the_default_exchange_is_403() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = unique("x-to-default");
    declare(&ch, &x, ExchangeKind::Fanout).await.unwrap();
    let res = bind_exchange(&ch, "", &x, "").await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
    )
    .await;
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_to_an_internal_exchange_is_403() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = unique("x-internal");
    t(ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            internal: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let w = watch(&ch).await;
    publish(&ch, &x, "", b"refused").await;
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        403,
        &format!("ACCESS_REFUSED - cannot publish to internal exchange '{x}' in vhost '/'"),
    )
    .await;
    cleanup(&b, &[], &[&x]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_exchange_receives_through_exchange_bindings() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let front = unique("x-front");
    let inner = unique("x-inner");
    declare(&ch, &front, ExchangeKind::Fanout).await.unwrap();
    t(ch.exchange_declare(
        inner.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            internal: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    bind_exchange(&ch, &inner, &front, "").await.unwrap();
    let q = declare_temp_queue(&ch).await;
    bind_queue(&ch, &q, &inner, "").await;
    publish(&ch, &front, "any", b"via front").await;
    sync(&ch, &q).await;
    assert_eq!(drain(&ch, &q).await, vec!["via front"]);
    cleanup(&b, &[], &[&front, &inner]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_to_a_missing_exchange_is_404() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = unique("x-nowhere");
    let w = watch(&ch).await;
    publish(&ch, &x, "k", b"lost").await;
    expect_async_channel_error(
        &conn,
        &ch,
        w,
        404,
        &format!("NOT_FOUND - no exchange '{x}' in vhost '/'"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternate_exchange_receives_unroutable_messages() {
    let b = broker().await;
    let (_conn, ch) = b.connect_channel().await;
    let ae = unique("x-ae");
    let main = unique("x-main");
    declare(&ch, &ae, ExchangeKind::Fanout).await.unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString(ae.as_str().into()),
    );
    t(ch.exchange_declare(
        main.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        args,
    ))
    .await
    .unwrap();
    let routed = declare_temp_queue(&ch).await;
    let unrouted = declare_temp_queue(&ch).await;
    bind_queue(&ch, &routed, &main, "known").await;
    bind_queue(&ch, &unrouted, &ae, "").await;

    t(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    for (key, body) in [("known", "r1"), ("unknown", "u1"), ("other", "u2")] {
        let confirm = t(ch.basic_publish(
            main.as_str().into(),
            key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body.as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
        let confirmation = t(confirm).await.unwrap();
        assert!(confirmation.is_ack());
        assert!(
            confirmation.take_message().is_none(),
            "a message the alternate exchange routes is not returned"
        );
    }
    assert_eq!(drain(&ch, &routed).await, vec!["r1"]);
    assert_eq!(drain(&ch, &unrouted).await, vec!["u1", "u2"]);
    cleanup(&b, &[], &[&main, &ae]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclaring_a_builtin_exchange_equivalently_succeeds() {
    // The amq. prefix refuses new exchanges only; an equivalent redeclare of a built-in
    // one (durable, same type) is fine, an inequivalent one is a 406.
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    t(ch.exchange_declare(
        "amq.direct".into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("equivalent redeclare of amq.direct");
    let res = declare(&ch, "amq.direct", ExchangeKind::Direct).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in vhost \
         '/': received 'false' but current is 'true'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_the_default_exchange_is_403_even_passively() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let res = declare(&ch, "", ExchangeKind::Direct).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
    )
    .await;
    let ch = t(conn.create_channel()).await.unwrap();
    let res = passive(&ch, "").await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_any_amq_prefixed_exchange_is_403_even_if_missing() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let x = format!("amq.{}", unique("x"));
    let res = t(ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())).await;
    expect_channel_error(
        &conn,
        &ch,
        res,
        403,
        &format!("ACCESS_REFUSED - deletion of system exchange '{x}' in vhost '/' not allowed"),
    )
    .await;
}
