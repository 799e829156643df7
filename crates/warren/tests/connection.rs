//! Connection class: handshake, server properties, authentication, vhosts, tuning.

mod common;

use std::time::Duration;

use common::raw::{self, lookup, Args, Frame, RawConn, Tune, Value, PROTOCOL_HEADER};
use common::*;

const LOGIN_REFUSED: &str = "ACCESS_REFUSED - Login was refused using authentication mechanism \
                             PLAIN. For details see the broker logfile.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_then_open_and_close_channels() {
    let b = broker().await;
    let conn = b.connect().await;
    assert!(conn.status().connected());
    assert_eq!(conn.status().vhost().as_str(), "/");
    let ch = t(conn.create_channel()).await.unwrap();
    let q = declare_temp_queue(&ch).await;
    assert!(q.starts_with("amq.gen-"));
    t(ch.close(200, "done".into())).await.unwrap();
    t(conn.close(200, "done".into())).await.unwrap();
    assert!(!conn.status().connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_properties_announce_capabilities() {
    let b = broker().await;
    let (c, hs) = RawConn::open(b.addr()).await;
    assert_eq!((hs.version_major, hs.version_minor), (0, 9));
    let caps = match lookup(&hs.server_properties, "capabilities") {
        Some(Value::Table(caps)) => caps.clone(),
        other => panic!("capabilities should be a table, got {other:?}"),
    };
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        assert_eq!(
            lookup(&caps, cap),
            Some(&Value::Bool(true)),
            "capability {cap}"
        );
    }
    for key in ["product", "version", "platform"] {
        assert!(
            matches!(lookup(&hs.server_properties, key), Some(Value::LongStr(s)) if !s.is_empty()),
            "server property {key} is a non-empty longstr"
        );
    }
    assert!(
        hs.mechanisms.split(' ').any(|m| m == "PLAIN"),
        "mechanisms {:?}",
        hs.mechanisms
    );
    assert!(
        hs.mechanisms.split(' ').any(|m| m == "AMQPLAIN"),
        "mechanisms {:?}",
        hs.mechanisms
    );
    assert!(
        hs.locales.split(' ').any(|l| l == "en_US"),
        "locales {:?}",
        hs.locales
    );
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_tune_proposes_rabbitmq_defaults() {
    let b = broker().await;
    let (c, hs) = RawConn::open(b.addr()).await;
    assert_eq!(
        hs.channel_max, 2047,
        "channel_max proposed in connection.tune"
    );
    assert_eq!(
        hs.frame_max, 131_072,
        "frame_max proposed in connection.tune"
    );
    assert_eq!(hs.heartbeat, 60, "heartbeat proposed in connection.tune");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_access_refused() {
    let b = broker().await;
    let res = connect_url(&b.url_with("guest", "not-the-password", "%2F", "")).await;
    assert_connection_error(res, 403, LOGIN_REFUSED);
    // The broker still serves correct logins.
    let conn = b.connect().await;
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_is_access_refused() {
    let b = broker().await;
    let res = connect_url(&b.url_with(&unique("nobody"), "x", "%2F", "")).await;
    assert_connection_error(res, 403, LOGIN_REFUSED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_vhost_is_not_allowed() {
    let b = broker().await;
    let vhost = unique("no-such-vhost");
    let res = connect_url(&b.url_with("guest", "guest", &vhost, "")).await;
    assert_connection_error(res, 530, &format!("NOT_ALLOWED - vhost {vhost} not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_wrong_password_gets_connection_close_403() {
    // With authentication_failure_close announced, the refusal is a connection.close.
    let b = broker().await;
    let mut c = RawConn::tcp(b.addr()).await;
    c.send(PROTOCOL_HEADER).await;
    c.expect_method(0, 10, 10).await;
    let caps = raw::entry("authentication_failure_close", b't', &[1]);
    let props = raw::entry("capabilities", b'F', &Args::new().table_raw(&caps).build());
    let start_ok = Args::new()
        .table_raw(&props)
        .shortstr("PLAIN")
        .longstr(b"\0guest\0wrong")
        .shortstr("en_US")
        .build();
    c.send_method(0, 10, 11, &start_ok).await;
    let close = c.expect_connection_close().await;
    assert_eq!((close.code, close.text.as_str()), (403, LOGIN_REFUSED));
    c.expect_eof().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_is_negotiated_down_to_the_client_value() {
    let b = broker().await;
    let conn = connect_url(&b.url_query("heartbeat=7")).await.unwrap();
    assert_eq!(conn.configuration().heartbeat(), 7);
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sends_heartbeats_when_negotiated() {
    let b = broker().await;
    let (mut c, _) = RawConn::open_tuned(
        b.addr(),
        Tune {
            heartbeat: 1,
            ..Tune::default()
        },
    )
    .await;
    // Keep ourselves alive by sending heartbeats, and expect the server's.
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < deadline && seen < 2 {
        c.send(&raw::frame(raw::FRAME_HEARTBEAT, 0, &[])).await;
        if let Ok(Some(Frame::Heartbeat)) =
            tokio::time::timeout(Duration::from_millis(600), c.read_frame()).await
        {
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "server sent {seen} heartbeats in 4 s at a 1 s interval"
    );
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_is_dropped_after_missed_heartbeats() {
    let b = broker().await;
    let (mut c, _) = RawConn::open_tuned(
        b.addr(),
        Tune {
            heartbeat: 1,
            ..Tune::default()
        },
    )
    .await;
    // Say nothing: the server gives up after about two intervals.
    let start = tokio::time::Instant::now();
    loop {
        match c.read_frame_within(Duration::from_secs(8)).await {
            None => break,
            Some(Frame::Heartbeat) => continue,
            Some(Frame::Method {
                class: 10,
                method: 50,
                ..
            }) => continue,
            Some(other) => panic!("unexpected frame {other:?}"),
        }
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "dropped too early: {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_channels_on_one_connection() {
    let b = broker().await;
    let conn = b.connect().await;
    let mut channels = Vec::new();
    for _ in 0..300 {
        channels.push(t(conn.create_channel()).await.expect("open channel"));
    }
    let mut ids: Vec<u16> = channels.iter().map(|c| c.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 300, "distinct channel ids");
    // Each channel works on its own.
    let q = declare_temp_queue(&channels[0]).await;
    for (i, ch) in channels.iter().enumerate() {
        publish(ch, "", &q, format!("{i}").as_bytes()).await;
    }
    sync(&channels[0], &q).await;
    let last = &channels[299];
    sync(last, &q).await;
    let mut got = drain(&channels[150], &q).await;
    got.sort_by_key(|s| s.parse::<u32>().unwrap());
    assert_eq!(got.len(), 300);
    for ch in &channels {
        t(ch.close(200, "bye".into())).await.unwrap();
    }
    t(conn.close(200, "bye".into())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_max_is_negotiated_down_and_enforced_by_the_client() {
    let b = broker().await;
    let conn = connect_url(&b.url_query("channel_max=3")).await.unwrap();
    assert_eq!(conn.configuration().channel_max(), 3);
    let mut chans = Vec::new();
    for _ in 0..3 {
        chans.push(t(conn.create_channel()).await.expect("within channel_max"));
    }
    let err = t(conn.create_channel())
        .await
        .expect_err("beyond channel_max");
    assert!(
        matches!(err.kind(), lapin::ErrorKind::ChannelsLimitReached),
        "{err}"
    );
    assert!(
        conn.status().connected(),
        "a refused local open leaves the connection up"
    );
    drop(chans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_channel_beyond_channel_max_is_530() {
    let b = broker().await;
    let (mut c, _) = RawConn::open_tuned(
        b.addr(),
        Tune {
            channel_max: 2,
            ..Tune::default()
        },
    )
    .await;
    c.open_channel(1).await;
    c.open_channel(2).await;
    c.send_method(3, 20, 10, &Args::new().shortstr("").build())
        .await;
    let close = c.expect_connection_close().await;
    assert_eq!(close.code, 530, "{close:?}");
    assert_eq!(
        close.text,
        "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)"
    );
    // RabbitMQ names no method in this close.
    assert_eq!((close.class, close.method), (0, 0));
    c.expect_eof().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_close_is_answered_with_close_ok() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    c.send_method(
        0,
        10,
        50,
        &Args::new().u16(200).shortstr("bye").u16(0).u16(0).build(),
    )
    .await;
    c.expect_method(0, 10, 51).await;
    // After close-ok the client closes the socket; a second connection works.
    drop(c);
    let (c2, _) = RawConn::open(b.addr()).await;
    c2.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_secret_is_answered_and_the_connection_stays_open() {
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    let args = Args::new()
        .longstr(b"new_secret")
        .shortstr("rotation")
        .build();
    c.send_method(0, 10, 70, &args).await;
    c.expect_method(0, 10, 71).await;
    // Still usable.
    c.open_channel(2).await;
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_after_close_do_not_reset_the_socket() {
    // A client still publishing when it closes (amqplib's muxer can send
    // connection.close ahead of queued publishes) must get close-ok and a clean end,
    // not a reset that throws its unread input away.
    let b = broker().await;
    let (mut c, _) = RawConn::open(b.addr()).await;
    c.open_channel(1).await;
    let publish = || {
        let mut f = raw::method_frame(1, 60, 40, &raw::publish_args("", "nowhere", false));
        f.extend(raw::header_frame(1, 2, &0u16.to_be_bytes()));
        f.extend(raw::frame(raw::FRAME_BODY, 1, b"hi"));
        f
    };
    let mut burst = raw::method_frame(
        0,
        10,
        50,
        &Args::new().u16(200).shortstr("bye").u16(0).u16(0).build(),
    );
    for _ in 0..200 {
        burst.extend(publish());
    }
    c.send(&burst).await;
    c.expect_method(0, 10, 51).await;
    // More frames after close-ok: the server reads and discards them.
    for _ in 0..50 {
        c.send(&publish()).await;
    }
    c.send(&raw::method_frame(0, 10, 51, &[])).await;
    c.expect_eof().await;
}
