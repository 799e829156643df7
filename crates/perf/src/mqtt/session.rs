//! Opening a client: CONNECT / CONNACK and SUBSCRIBE / SUBACK through Warren's MQTT
//! codec. These happen once per client, so clarity wins over speed here.

use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    decode, encode, Connect, Packet, Properties, QoS, SubOptions, Subscribe, Version,
};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_PACKET: usize = 1 << 20;

/// Where and how clients connect.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: String,
    pub version: Version,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A connected client: its socket and whatever arrived after the CONNACK.
pub struct Client {
    pub stream: TcpStream,
    pub rbuf: BytesMut,
    pub version: Version,
    /// The server's MQTT 5 receive maximum (QoS 1/2 publishes it takes unacknowledged);
    /// 65535 when it names none, and for 3.x.
    pub server_receive_maximum: u16,
}

impl Client {
    pub async fn connect(target: &Target, client_id: &str, keep_alive: u16) -> Result<Client> {
        tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            Self::connect_now(target, client_id, keep_alive),
        )
        .await
        .with_context(|| format!("no CONNACK within {HANDSHAKE_TIMEOUT:?}"))?
    }

    async fn connect_now(target: &Target, client_id: &str, keep_alive: u16) -> Result<Client> {
        let stream = TcpStream::connect(&target.addr)
            .await
            .with_context(|| format!("connecting to {}", target.addr))?;
        stream.set_nodelay(true)?;
        let mut properties = Properties::default();
        if target.version.is_v5() {
            // Let the broker keep as many deliveries in flight to us as it likes.
            properties.receive_maximum = Some(u16::MAX);
        }
        let connect = Connect {
            version: target.version,
            clean_start: true,
            keep_alive,
            properties,
            client_id: client_id.to_owned(),
            will: None,
            username: target.username.clone(),
            password: target.password.clone().map(Bytes::from),
        };
        let mut client = Client {
            stream,
            rbuf: BytesMut::with_capacity(64 * 1024),
            version: target.version,
            server_receive_maximum: u16::MAX,
        };
        client.send(&Packet::Connect(Box::new(connect))).await?;
        match client.recv().await? {
            Packet::ConnAck(ack) if ack.code == 0 => {
                if let Some(max) = ack.properties.receive_maximum {
                    client.server_receive_maximum = max;
                }
                Ok(client)
            }
            Packet::ConnAck(ack) => bail!("CONNACK refused the client: code {:#04x}", ack.code),
            other => bail!("expected CONNACK, got {}", other.name()),
        }
    }

    /// Subscribes to one filter and returns the granted QoS.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS, packet_id: u16) -> Result<QoS> {
        let subscribe = Subscribe {
            packet_id,
            properties: Properties::default(),
            filters: vec![(
                filter.to_owned(),
                SubOptions {
                    qos,
                    ..SubOptions::default()
                },
            )],
        };
        self.send(&Packet::Subscribe(subscribe)).await?;
        let ack = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.recv())
            .await
            .context("no SUBACK")??;
        match ack {
            Packet::SubAck(s) if s.packet_id == packet_id => match s.codes.first() {
                Some(&code) if code < 0x80 => {
                    QoS::from_u8(code).context("SUBACK granted an unknown QoS")
                }
                code => bail!("SUBACK refused {filter}: {code:?}"),
            },
            other => bail!("expected SUBACK, got {}", other.name()),
        }
    }

    pub async fn send(&mut self, packet: &Packet) -> Result<()> {
        let mut out = BytesMut::new();
        encode(&mut out, packet, self.version);
        self.stream.write_all(&out).await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Packet> {
        loop {
            if let Some(p) = decode(&mut self.rbuf, self.version, MAX_PACKET)? {
                return Ok(p);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                bail!("the broker closed the connection");
            }
        }
    }
}
