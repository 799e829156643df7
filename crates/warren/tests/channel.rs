//! Channel class: open, close, flow, and channel numbers.

mod common;

use common::raw::{self, Args, Close, RawConn};
use common::*;
use lapin::options::ChannelFlowOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_close_and_reopen_a_channel_number() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    for _ in 0..3 {
        c.open_channel(1).await;
        let close = Args::new().u16(200).shortstr("done").u16(0).u16(0).build();
        c.send_method(1, 20, 40, &close).await;
        c.expect_method(1, 20, 41).await;
    }
    // Any channel number up to channel_max can be opened, in any order.
    for ch in [7u16, 3, 2047] {
        c.open_channel(ch).await;
    }
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_open_ok_carries_an_empty_longstr() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.send_method(1, 20, 10, &Args::new().shortstr("").build())
        .await;
    let args = c.expect_method(1, 20, 11).await;
    assert_eq!(args, vec![0, 0, 0, 0], "channel-id reserved longstr, empty");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapin_channels_open_and_close_independently() {
    let b = broker().await;
    let conn = b.connect().await;
    let a = t(conn.create_channel()).await.unwrap();
    let c2 = t(conn.create_channel()).await.unwrap();
    assert_ne!(a.id(), c2.id());
    t(a.close(200, "bye".into())).await.unwrap();
    assert!(!a.status().connected());
    let q = declare_temp_queue(&c2).await;
    publish(&c2, "", &q, b"still open").await;
    assert_eq!(drain(&c2, &q).await, vec!["still open"]);
    let err = t(a.queue_declare("".into(), Default::default(), Default::default()))
        .await
        .expect_err("a closed channel cannot be used");
    assert!(
        !err.is_amqp_error(),
        "refused by the client, not the broker: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_flow_active_is_acknowledged() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let active = t(ch.channel_flow(ChannelFlowOptions { active: true }))
        .await
        .expect("channel.flow active=true");
    assert!(active, "flow-ok echoes active=true");
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_flow_inactive_is_540_connection_error() {
    let b = broker().await;
    let (conn, ch) = b.connect_channel().await;
    let res = t(ch.channel_flow(ChannelFlowOptions { active: false })).await;
    expect_connection_error(&b, &conn, res, 540, "NOT_IMPLEMENTED - active=false").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_channel_flow_inactive_names_the_method() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    c.send_method(1, 20, 20, &[0]).await;
    let close = c.expect_connection_close().await;
    assert_eq!(
        close,
        Close {
            code: 540,
            text: "NOT_IMPLEMENTED - active=false".into(),
            class: 20,
            method: 20
        }
    );
    c.expect_eof().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_request_is_answered_for_old_clients() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    let args = Args::new()
        .shortstr("/data")
        .bits(&[false, true, false, true, true])
        .build();
    c.send_method(1, 30, 10, &args).await;
    let ok = c.expect_method(1, 30, 11).await;
    assert_eq!(raw::Reader::new(&ok).u16(), 1, "ticket");
    c.close().await;
}
