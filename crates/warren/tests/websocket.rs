//! The WebSocket listeners (RabbitMQ's web-mqtt and web-stomp): the upgrade at
//! `/ws` and its subprotocol, MQTT packets in binary messages on the same sessions
//! as over TCP, and STOMP frames one per message.

mod mqtt_common;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use mqtt_codec::{decode, encode, reason, Packet, Properties, Publish, QoS, Version};
use mqtt_common::*;
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

/// Opens a WebSocket to `path` offering `protocols`; returns it and the
/// subprotocol the server chose.
async fn open(
    addr: SocketAddr,
    path: &str,
    protocols: &str,
) -> Result<(Ws, Option<String>), WsError> {
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(protocols).unwrap(),
    );
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    let (ws, response) = tokio_tungstenite::client_async(request, tcp).await?;
    let chosen = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_string());
    Ok((ws, chosen))
}

async fn next_message(ws: &mut Ws) -> Message {
    loop {
        match tokio::time::timeout(TIMEOUT, ws.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(m))) => return m,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

async fn send_packet(ws: &mut Ws, p: &Packet) {
    let mut out = BytesMut::new();
    encode(&mut out, p, Version::V5);
    ws.send(Message::Binary(out.freeze())).await.unwrap();
}

/// The next MQTT packet; packets may span binary messages.
async fn recv_packet(ws: &mut Ws, buf: &mut BytesMut) -> Packet {
    loop {
        if let Some(p) = decode(buf, Version::V5, usize::MAX).unwrap() {
            return p;
        }
        match next_message(ws).await {
            Message::Binary(b) => buf.extend_from_slice(&b),
            other => panic!("MQTT over WebSocket sends binary messages, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn mqtt_over_websocket_shares_sessions_with_tcp() {
    let server = server().await;
    let ws_addr = server.mqtt_ws_addr().expect("web-mqtt listener");
    let client_id = "ws-and-tcp";
    let (mut tcp, _) = Raw::connect(&server, Version::V5, client_id, true).await;

    let (mut ws, chosen) = open(ws_addr, "/ws", "mqttv3.1, mqtt").await.unwrap();
    assert_eq!(chosen.as_deref(), Some("mqtt"));
    let mut buf = BytesMut::new();
    send_packet(
        &mut ws,
        &Packet::Connect(Box::new(connect_packet(Version::V5, client_id, true))),
    )
    .await;
    match recv_packet(&mut ws, &mut buf).await {
        Packet::ConnAck(ack) => assert_eq!(ack.code, 0),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    // The same client id over WebSocket took the TCP connection's session over.
    let closing = tcp.until_closed().await;
    assert!(
        matches!(closing.last(), Some(Packet::Disconnect(d)) if d.reason == reason::SESSION_TAKEN_OVER),
        "TCP connection was told it was taken over: {closing:?}"
    );

    send_packet(
        &mut ws,
        &Packet::Subscribe(mqtt_codec::Subscribe {
            packet_id: 1,
            properties: Properties::default(),
            filters: vec![("ws/echo".into(), mqtt_codec::SubOptions::default())],
        }),
    )
    .await;
    assert!(matches!(
        recv_packet(&mut ws, &mut buf).await,
        Packet::SubAck(_)
    ));
    // A packet split across two WebSocket messages is still one packet.
    let mut out = BytesMut::new();
    let publish = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "ws/echo".into(),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from_static(b"over the web"),
    });
    encode(&mut out, &publish, Version::V5);
    let tail = out.split_off(5);
    ws.send(Message::Binary(out.freeze())).await.unwrap();
    ws.send(Message::Binary(tail.freeze())).await.unwrap();
    match recv_packet(&mut ws, &mut buf).await {
        Packet::Publish(p) => {
            assert_eq!(p.topic, "ws/echo");
            assert_eq!(&p.payload[..], b"over the web");
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

fn text(m: Message) -> String {
    match m {
        Message::Text(t) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[tokio::test]
async fn stomp_over_websocket_sends_one_frame_per_message() {
    let server = server().await;
    let addr = server.stomp_ws_addr().expect("web-stomp listener");
    let (mut ws, chosen) = open(addr, "/ws", "v10.stomp, v11.stomp").await.unwrap();
    assert_eq!(chosen.as_deref(), Some("v11.stomp"));
    // Four frames in one message, the last split over two more.
    let send_binary = "SEND\ndestination:/queue/ws-frames\ncontent-length:5\n\nab\0cd\0";
    let (head, tail) = send_binary.split_at(20);
    ws.send(Message::text(format!(
        "CONNECT\naccept-version:1.1\nhost:/\nlogin:guest\npasscode:guest\n\n\0\
         SUBSCRIBE\nid:s\ndestination:/queue/ws-frames\nreceipt:r1\n\n\0\
         SEND\ndestination:/queue/ws-frames\n\nplain text\0{head}"
    )))
    .await
    .unwrap();
    ws.send(Message::text(tail)).await.unwrap();
    assert!(text(next_message(&mut ws).await).starts_with("CONNECTED\n"));
    let receipt = text(next_message(&mut ws).await);
    assert!(receipt.starts_with("RECEIPT\nreceipt-id:r1\n"), "{receipt}");
    assert!(receipt.ends_with('\0'));
    let first = text(next_message(&mut ws).await);
    assert!(first.starts_with("MESSAGE\n"), "{first}");
    assert!(first.ends_with("\n\nplain text\0"), "{first}");
    // A body that is not text (a NUL counts as text; invalid UTF-8 does not) still
    // comes whole, in one message.
    match next_message(&mut ws).await {
        Message::Text(t) => assert!(t.ends_with("\n\nab\0cd\0"), "{t}"),
        Message::Binary(b) => assert!(b.ends_with(b"\n\nab\0cd\0")),
        other => panic!("expected the second MESSAGE, got {other:?}"),
    }
    // Clients may send frames in binary messages too.
    ws.send(Message::binary(
        &b"SEND\ndestination:/queue/ws-frames\ncontent-length:2\n\n\xff\xfe\0"[..],
    ))
    .await
    .unwrap();
    match next_message(&mut ws).await {
        Message::Binary(b) => assert!(b.ends_with(b"\n\n\xff\xfe\0"), "{b:?}"),
        other => panic!("a MESSAGE whose body is not UTF-8 goes binary, got {other:?}"),
    }
}

#[tokio::test]
async fn an_upgrade_at_another_path_gets_404() {
    let server = server().await;
    for addr in [
        server.mqtt_ws_addr().unwrap(),
        server.stomp_ws_addr().unwrap(),
    ] {
        match open(addr, "/mqtt", "mqtt").await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 404),
            other => panic!("expected 404, got {:?}", other.map(|(_, p)| p)),
        }
    }
}
