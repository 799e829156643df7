//! One AMQP connection over a tokio `TcpStream`, for setup and control traffic.
//!
//! Setup (handshake, channel.open, declares, qos, consume) is request/response, so
//! [`Connection`] offers `rpc`: encode, write, read until the answer on that channel.
//! The hot loops do not go through it: [`Connection::into_split`] hands the socket
//! halves and any bytes already read to the publisher or consumer, which batch their
//! own reads and writes.

use super::handshake;
use super::uri::AmqpUri;
use amqp_codec::{
    decode_frame, encode_method, ChannelClose, ChannelCloseOk, ChannelOpen, ConnectionClose,
    ConnectionCloseOk, Frame, Method, FRAME_MIN_SIZE,
};
use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use std::fmt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// How long connecting plus the handshake may take: a broker at its file-descriptor
/// limit (RabbitMQ's default soft limit is 1024) accepts the TCP connection and then
/// never answers.
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// How much free room a read asks for; a read takes whatever the socket has up to it.
pub const READ_CHUNK: usize = 256 * 1024;

/// The broker closed the channel or the connection: its reply code and text.
#[derive(Debug, Clone)]
pub struct BrokerClosed {
    pub connection: bool,
    pub code: u16,
    pub text: String,
    pub class_id: u16,
    pub method_id: u16,
}

impl fmt::Display for BrokerClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.connection {
            "connection"
        } else {
            "channel"
        };
        write!(f, "broker closed the {what}: {} {}", self.code, self.text)?;
        if self.class_id != 0 {
            let name = amqp_codec::method_name(self.class_id, self.method_id).unwrap_or("?");
            write!(
                f,
                " (in reply to {name}, {}/{})",
                self.class_id, self.method_id
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for BrokerClosed {}

impl BrokerClosed {
    pub fn from_connection_close(m: &ConnectionClose) -> BrokerClosed {
        BrokerClosed {
            connection: true,
            code: m.reply_code,
            text: m.reply_text.to_string(),
            class_id: m.class_id,
            method_id: m.method_id,
        }
    }
    pub fn from_channel_close(m: &ChannelClose) -> BrokerClosed {
        BrokerClosed {
            connection: false,
            code: m.reply_code,
            text: m.reply_text.to_string(),
            class_id: m.class_id,
            method_id: m.method_id,
        }
    }
}

pub struct Connection {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// Negotiated frame_max (0 = unlimited).
    pub frame_max: u32,
    pub channel_max: u16,
}

impl Connection {
    /// Connects and runs the handshake; `name` becomes the `connection_name` client
    /// property (shown by `rabbitmqctl list_connections client_properties`).
    pub async fn open(uri: &AmqpUri, name: &str) -> Result<Connection> {
        match tokio::time::timeout(OPEN_TIMEOUT, Connection::open_now(uri, name)).await {
            Ok(result) => result,
            Err(_) => bail!(
                "no AMQP connection to {} within {} s (at its connection or file-descriptor limit?)",
                uri.addr(),
                OPEN_TIMEOUT.as_secs()
            ),
        }
    }

    async fn open_now(uri: &AmqpUri, name: &str) -> Result<Connection> {
        let stream = TcpStream::connect(uri.addr())
            .await
            .with_context(|| format!("connecting to {}", uri.addr()))?;
        stream.set_nodelay(true)?;
        let mut conn = Connection {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(4096),
            frame_max: FRAME_MIN_SIZE,
            channel_max: 0,
        };
        handshake::run(&mut conn, uri, name)
            .await
            .with_context(|| format!("AMQP handshake with {}", uri.addr()))?;
        Ok(conn)
    }

    pub(super) async fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Encodes a method into the write buffer without sending it.
    pub fn queue(&mut self, channel: u16, method: &Method) {
        encode_method(&mut self.wbuf, channel, method);
    }

    /// Writes everything queued in one call.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    pub async fn send(&mut self, channel: u16, method: &Method) -> Result<()> {
        self.queue(channel, method);
        self.flush().await
    }

    /// The next frame other than a heartbeat. A connection.close from the broker is
    /// answered with close-ok and returned as a [`BrokerClosed`] error.
    pub async fn recv(&mut self) -> Result<Frame> {
        loop {
            match decode_frame(&mut self.rbuf, self.frame_max.saturating_add(8))
                .map_err(|e| anyhow!("undecodable frame from the broker: {e}"))?
            {
                Some(Frame::Heartbeat { .. }) => continue,
                Some(Frame::Method {
                    method: Method::ConnectionClose(close),
                    ..
                }) => {
                    let _ = self.send(0, &ConnectionCloseOk.into()).await;
                    return Err(BrokerClosed::from_connection_close(&close).into());
                }
                Some(frame) => return Ok(frame),
                None => {
                    read_more(&mut self.stream, &mut self.rbuf).await?;
                }
            }
        }
    }

    /// The next method on `channel`; a channel.close is answered and returned as a
    /// [`BrokerClosed`] error. Frames on other channels (late deliveries, confirms) are
    /// dropped: during setup no other channel carries anything we act on.
    pub async fn expect(&mut self, channel: u16) -> Result<Method> {
        loop {
            match self.recv().await? {
                Frame::Method {
                    channel: ch,
                    method,
                } if ch == channel => {
                    if let Method::ChannelClose(close) = &method {
                        let _ = self.send(channel, &ChannelCloseOk.into()).await;
                        return Err(BrokerClosed::from_channel_close(close).into());
                    }
                    return Ok(method);
                }
                _ => continue,
            }
        }
    }

    /// Sends `method` and waits for the answer on the same channel.
    pub async fn rpc(&mut self, channel: u16, method: Method) -> Result<Method> {
        let name = method.name();
        self.send(channel, &method).await?;
        self.expect(channel)
            .await
            .with_context(|| format!("{name} on channel {channel}"))
    }

    pub async fn open_channel(&mut self, channel: u16) -> Result<()> {
        if self.channel_max != 0 && channel > self.channel_max {
            bail!(
                "channel {channel} is over the broker's channel_max {}",
                self.channel_max
            );
        }
        match self.rpc(channel, ChannelOpen.into()).await? {
            Method::ChannelOpenOk(_) => Ok(()),
            other => bail!("expected channel.open-ok, got {}", other.name()),
        }
    }

    /// connection.close, then waits for close-ok (or the socket closing).
    pub async fn close(mut self) -> Result<()> {
        let close = ConnectionClose {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        };
        self.send(0, &close.into()).await?;
        loop {
            match self.recv().await {
                Ok(Frame::Method {
                    method: Method::ConnectionCloseOk(_),
                    ..
                }) => return Ok(()),
                Ok(_) => continue,
                Err(e) if e.is::<BrokerClosed>() => return Err(e),
                // EOF after our close is an acceptable end.
                Err(_) => return Ok(()),
            }
        }
    }

    /// The socket halves and any bytes already read, for a hot loop.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf, BytesMut, u32) {
        let (r, w) = self.stream.into_split();
        (r, w, self.rbuf, self.frame_max)
    }
}

/// Reads whatever the socket has (up to [`READ_CHUNK`]) onto the end of `buf` and says
/// how much that was; EOF is an error, since every close we expect comes as a
/// connection.close first.
pub async fn read_more<R: AsyncReadExt + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
) -> Result<usize> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    let n = stream.read_buf(buf).await.context("reading from broker")?;
    if n == 0 {
        bail!("the broker closed the TCP connection");
    }
    Ok(n)
}
