//! Helpers for the MQTT tests: an in-process broker, and a raw MQTT client on
//! Warren's own codec for the exchanges a library client hides (DUP flags, reason
//! codes, server DISCONNECTs, broken packets).

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    decode, encode, Connect, Packet, Properties, Publish, QoS, SubOptions, Subscribe, Version,
};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TIMEOUT: Duration = Duration::from_secs(5);

pub async fn server() -> warren::Server {
    warren::start(warren::Config::for_tests())
        .await
        .expect("broker starts")
}

pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
    pub version: Version,
}

pub fn connect_packet(version: Version, client_id: &str, clean: bool) -> Connect {
    Connect {
        version,
        clean_start: clean,
        keep_alive: 60,
        properties: Properties::default(),
        client_id: client_id.into(),
        will: None,
        username: Some("guest".into()),
        password: Some(Bytes::from_static(b"guest")),
    }
}

impl Raw {
    pub async fn open(server: &warren::Server, version: Version) -> Raw {
        let stream = TcpStream::connect(server.mqtt_addr())
            .await
            .expect("connect");
        Raw {
            stream,
            buf: BytesMut::new(),
            version,
        }
    }

    /// Connects and returns the CONNACK's session-present flag and code.
    pub async fn connect_with(server: &warren::Server, c: Connect) -> (Raw, bool, u8) {
        let mut raw = Raw::open(server, c.version).await;
        raw.send(&Packet::Connect(Box::new(c))).await;
        match raw.recv().await {
            Some(Packet::ConnAck(ack)) => {
                let (present, code) = (ack.session_present, ack.code);
                (raw, present, code)
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn connect(
        server: &warren::Server,
        version: Version,
        client_id: &str,
        clean: bool,
    ) -> (Raw, bool) {
        let (raw, present, code) =
            Raw::connect_with(server, connect_packet(version, client_id, clean)).await;
        assert_eq!(code, 0, "CONNACK code");
        (raw, present)
    }

    pub async fn send(&mut self, p: &Packet) {
        let mut out = BytesMut::new();
        encode(&mut out, p, self.version);
        self.send_bytes(&out).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        // The server may already have closed; the test checks what it said.
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next packet, or None when the server closed the connection.
    pub async fn recv(&mut self) -> Option<Packet> {
        self.recv_within(TIMEOUT)
            .await
            .expect("a packet or a close in time")
    }

    /// Err on timeout; Ok(None) on close.
    pub async fn recv_within(&mut self, wait: Duration) -> Result<Option<Packet>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(p) =
                decode(&mut self.buf, self.version, usize::MAX).expect("server sends valid packets")
            {
                return Ok(Some(p));
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Err(()),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Everything the server sends until it closes the connection.
    pub async fn until_closed(&mut self) -> Vec<Packet> {
        let mut got = Vec::new();
        while let Some(p) = self.recv().await {
            got.push(p);
        }
        got
    }

    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Vec<u8> {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            properties: Properties::default(),
            filters: vec![(
                filter.into(),
                SubOptions {
                    qos,
                    ..SubOptions::default()
                },
            )],
        }))
        .await;
        match self.recv().await {
            Some(Packet::SubAck(s)) => s.codes,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    pub async fn publish(&mut self, topic: &str, qos: QoS, packet_id: u16, payload: &[u8]) {
        self.send(&Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.into(),
            packet_id: (qos != QoS::AtMostOnce).then_some(packet_id),
            properties: Properties::default(),
            payload: Bytes::copy_from_slice(payload),
        }))
        .await;
    }

    /// The next PUBLISH (skipping acks and the like).
    pub async fn next_publish(&mut self) -> Publish {
        loop {
            match self.recv().await {
                Some(Packet::Publish(p)) => return p,
                Some(_) => continue,
                None => panic!("closed while waiting for a PUBLISH"),
            }
        }
    }

    /// True when no PUBLISH comes within `wait`.
    pub async fn no_publish_within(&mut self, wait: Duration) -> bool {
        loop {
            match self.recv_within(wait).await {
                Err(()) => return true,
                Ok(Some(Packet::Publish(_))) => return false,
                Ok(Some(_)) => continue,
                Ok(None) => return true,
            }
        }
    }
}
