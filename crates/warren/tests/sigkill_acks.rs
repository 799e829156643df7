//! What a STOMP RECEIPT or an MQTT PUBACK promised survives SIGKILL: the real
//! `warren` binary takes persistent messages for durable queues, answers them,
//! and is killed the moment the last answer arrives; started again on the same
//! data directory, it has every answered message.
//!
//! The sends are pipelined, so the last answers come right after their messages
//! reached the store: a broker that answered before handing a message to the
//! store would lose the tail here. (SIGKILL keeps what the process wrote to the
//! operating system; whether the store's fsync comes before the answer is a
//! matter for a power-loss test, which this is not.)

#![cfg(unix)]

mod common;
mod mqtt_common;
#[allow(dead_code)]
#[path = "stomp/client.rs"]
mod stomp_client;

use bytes::{Bytes, BytesMut};
use common::process::{spawn_warren, WarrenProcess};
use mqtt_codec::{decode, encode, Packet, Publish, QoS, Version};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use stomp_client::Stomp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_stomp::frame::Frame;

/// Messages per test: enough that the last answers follow their writes closely.
const MESSAGES: usize = 100;
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The broker binary on a data directory; SIGKILLed when dropped.
struct Broker {
    process: WarrenProcess,
    mqtt: SocketAddr,
    stomp: SocketAddr,
}

impl Broker {
    fn start(data_dir: &Path) -> Broker {
        let mut process = spawn_warren(&["--http-port", "0", "--bind", "127.0.0.1"], data_dir);
        process.wait_ready(READY_TIMEOUT);
        Broker {
            mqtt: process.listener("MQTT"),
            stomp: process.listener("STOMP"),
            process,
        }
    }

    /// SIGKILL (`Child::kill` on Unix), and reap it.
    fn kill(&mut self) {
        self.process.kill();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn data_dir(name: &str) -> PathBuf {
    common::restart_dir("sigkill-acks", name)
}

fn payload(n: usize) -> String {
    format!("message {n:04} {}", "x".repeat(512))
}

#[tokio::test]
async fn a_stomp_send_whose_receipt_came_survives_sigkill() {
    let dir = data_dir("stomp");
    let mut broker = Broker::start(&dir);
    let mut client = Stomp::connect(broker.stomp).await;
    for n in 0..MESSAGES {
        let mut frame = Frame::new("SEND")
            .with("destination", "/queue/sigkill-stomp")
            .with("persistent", "true")
            .with("receipt", format!("r{n}"));
        frame.body = Bytes::from(payload(n));
        client.send(&frame).await;
    }
    let mut receipts = BTreeSet::new();
    while receipts.len() < MESSAGES {
        let reply = client.recv().await;
        assert_eq!(reply.command, "RECEIPT", "{reply:?}");
        receipts.insert(reply.header("receipt-id").unwrap_or_default().to_string());
    }
    broker.kill();
    drop(client);

    let broker = Broker::start(&dir);
    let mut client = Stomp::connect(broker.stomp).await;
    client
        .subscribe("s", "/queue/sigkill-stomp", &[("ack", "client-individual")])
        .await;
    let mut got = Vec::new();
    for _ in 0..MESSAGES {
        let message = client.message().await;
        got.push(stomp_client::body(&message).to_string());
    }
    let expected: Vec<String> = (0..MESSAGES).map(payload).collect();
    assert_eq!(got, expected, "every receipted message, in order");
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_stomp_transaction_whose_commit_receipt_came_survives_sigkill() {
    let dir = data_dir("stomp-tx");
    let mut broker = Broker::start(&dir);
    let mut client = Stomp::connect(broker.stomp).await;
    client
        .send_receipted(Frame::new("BEGIN").with("transaction", "tx"), "begun")
        .await;
    for n in 0..MESSAGES {
        let mut frame = Frame::new("SEND")
            .with("destination", "/queue/sigkill-stomp-tx")
            .with("persistent", "true")
            .with("transaction", "tx");
        frame.body = Bytes::from(payload(n));
        client.send(&frame).await;
    }
    client
        .send_receipted(Frame::new("COMMIT").with("transaction", "tx"), "committed")
        .await;
    broker.kill();
    drop(client);

    let broker = Broker::start(&dir);
    let mut client = Stomp::connect(broker.stomp).await;
    client
        .subscribe(
            "s",
            "/queue/sigkill-stomp-tx",
            &[("ack", "client-individual")],
        )
        .await;
    let mut got = Vec::new();
    for _ in 0..MESSAGES {
        let message = client.message().await;
        got.push(stomp_client::body(&message).to_string());
    }
    let expected: Vec<String> = (0..MESSAGES).map(payload).collect();
    assert_eq!(got, expected, "every committed message, in order");
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bare MQTT 3.1.1 connection on an address (the broker is not in this process).
struct Mqtt {
    stream: TcpStream,
    buf: BytesMut,
}

impl Mqtt {
    async fn connect(addr: SocketAddr, client_id: &str, clean: bool) -> (Mqtt, bool) {
        let mut c = Mqtt {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: BytesMut::new(),
        };
        let connect = mqtt_common::connect_packet(Version::V3_1_1, client_id, clean);
        c.send(&Packet::Connect(Box::new(connect))).await;
        match c.recv().await {
            Packet::ConnAck(ack) => {
                assert_eq!(ack.code, 0);
                (c, ack.session_present)
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn send(&mut self, p: &Packet) {
        let mut out = BytesMut::new();
        encode(&mut out, p, Version::V3_1_1);
        self.stream.write_all(&out).await.expect("write");
    }

    async fn recv(&mut self) -> Packet {
        let deadline = tokio::time::Instant::now() + mqtt_common::TIMEOUT;
        loop {
            if let Some(p) = decode(&mut self.buf, Version::V3_1_1, usize::MAX).expect("valid") {
                return p;
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf))
                .await
                .expect("a packet in time");
            assert!(read.expect("read") > 0, "closed while waiting for a packet");
        }
    }
}

#[tokio::test]
async fn an_mqtt_qos1_publish_whose_puback_came_survives_sigkill() {
    let dir = data_dir("mqtt");
    let mut broker = Broker::start(&dir);
    // A kept session: its queue is durable and keeps receiving while it is away.
    let (mut sub, _) = Mqtt::connect(broker.mqtt, "sigkill-sub", false).await;
    sub.send(&Packet::Subscribe(mqtt_codec::Subscribe {
        packet_id: 1,
        properties: Default::default(),
        filters: vec![(
            "sigkill/mqtt".into(),
            mqtt_codec::SubOptions {
                qos: QoS::AtLeastOnce,
                ..Default::default()
            },
        )],
    }))
    .await;
    assert!(matches!(sub.recv().await, Packet::SubAck(_)));
    drop(sub);

    let (mut publ, _) = Mqtt::connect(broker.mqtt, "sigkill-pub", true).await;
    for n in 0..MESSAGES {
        publ.send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "sigkill/mqtt".into(),
            packet_id: Some(n as u16 + 1),
            properties: Default::default(),
            payload: Bytes::from(payload(n)),
        }))
        .await;
    }
    let mut acked = BTreeSet::new();
    while acked.len() < MESSAGES {
        match publ.recv().await {
            Packet::PubAck(a) => {
                assert_eq!(a.reason, 0);
                acked.insert(a.packet_id);
            }
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
    broker.kill();
    drop(publ);

    let broker = Broker::start(&dir);
    let (mut sub, present) = Mqtt::connect(broker.mqtt, "sigkill-sub", false).await;
    assert!(present, "the kept session survived");
    let mut got = Vec::new();
    while got.len() < MESSAGES {
        match sub.recv().await {
            Packet::Publish(p) => {
                let id = p.packet_id.expect("QoS 1");
                sub.send(&Packet::PubAck(mqtt_codec::Ack::new(id))).await;
                got.push(String::from_utf8(p.payload.to_vec()).expect("utf-8"));
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    let expected: Vec<String> = (0..MESSAGES).map(payload).collect();
    assert_eq!(got, expected, "every acknowledged message, in order");
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
