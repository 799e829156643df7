//! A tiny hand-rolled AMQP 0-9-1 client over a raw `TcpStream` (or a TLS stream), for what a well-behaved
//! client library cannot send (bad frames, protocol violations) or cannot show (the server
//! properties of `connection.start`, the exact bytes of a content header).
//!
//! It knows just enough of the wire format: frames, the argument types of the few methods
//! the tests send, and a field-table decoder.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{t, within, TIMEOUT};

pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
pub const FRAME_METHOD: u8 = 1;
pub const FRAME_HEADER: u8 = 2;
pub const FRAME_BODY: u8 = 3;
pub const FRAME_HEARTBEAT: u8 = 8;
pub const FRAME_END: u8 = 0xCE;

/// The capabilities the raw client announces by default: the ones RabbitMQ's own clients
/// send, so the server behaves as it does for them.
pub const CLIENT_CAPABILITIES: &[&str] = &[
    "publisher_confirms",
    "exchange_exchange_bindings",
    "basic.nack",
    "consumer_cancel_notify",
    "connection.blocked",
    "authentication_failure_close",
];

/// One frame as read from the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Method {
        channel: u16,
        class: u16,
        method: u16,
        args: Vec<u8>,
    },
    Header {
        channel: u16,
        class: u16,
        body_size: u64,
        /// The property flags and property list exactly as sent.
        properties: Vec<u8>,
    },
    Body {
        channel: u16,
        data: Vec<u8>,
    },
    Heartbeat,
}

/// The reply of a `connection.close` or `channel.close` the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub text: String,
    pub class: u16,
    pub method: u16,
}

/// What the server said in `connection.start` and `connection.tune`.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub version_major: u8,
    pub version_minor: u8,
    pub server_properties: Vec<(String, Value)>,
    pub mechanisms: String,
    pub locales: String,
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat: u16,
}

/// The client's side of `connection.tune-ok`.
#[derive(Debug, Clone, Copy)]
pub struct Tune {
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat: u16,
}

impl Default for Tune {
    fn default() -> Self {
        Tune {
            channel_max: 0,
            frame_max: 131_072,
            heartbeat: 0,
        }
    }
}

/// A decoded field value, tagged as on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    F32(f32),
    F64(f64),
    Decimal(u8, u32),
    LongStr(Vec<u8>),
    Timestamp(u64),
    Table(Vec<(String, Value)>),
    Array(Vec<Value>),
    Bytes(Vec<u8>),
    Void,
}

/// Looks `key` up in a decoded table.
pub fn lookup<'a>(table: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    table.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Builds method arguments in wire order.
#[derive(Default, Debug, Clone)]
pub struct Args(pub Vec<u8>);

impl Args {
    pub fn new() -> Self {
        Args(Vec::new())
    }
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn shortstr(mut self, s: &str) -> Self {
        assert!(s.len() < 256);
        self.0.push(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    pub fn longstr(mut self, s: &[u8]) -> Self {
        self.0.extend_from_slice(&(s.len() as u32).to_be_bytes());
        self.0.extend_from_slice(s);
        self
    }
    /// Packs consecutive bit arguments into one octet, first bit lowest.
    pub fn bits(mut self, bits: &[bool]) -> Self {
        let mut b = 0u8;
        for (i, on) in bits.iter().enumerate() {
            if *on {
                b |= 1 << i;
            }
        }
        self.0.push(b);
        self
    }
    /// A field table whose encoded entries are `entries` (each: name, tag, value bytes).
    pub fn table_raw(mut self, entries: &[u8]) -> Self {
        self.0
            .extend_from_slice(&(entries.len() as u32).to_be_bytes());
        self.0.extend_from_slice(entries);
        self
    }
    pub fn empty_table(self) -> Self {
        self.table_raw(&[])
    }
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

/// One encoded table entry: name, type tag, value bytes.
pub fn entry(name: &str, tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![name.len() as u8];
    v.extend_from_slice(name.as_bytes());
    v.push(tag);
    v.extend_from_slice(value);
    v
}

/// Encodes a frame.
pub fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 8);
    v.push(kind);
    v.extend_from_slice(&channel.to_be_bytes());
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v.push(FRAME_END);
    v
}

/// Encodes a method frame.
pub fn method_frame(channel: u16, class: u16, method: u16, args: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(args.len() + 4);
    p.extend_from_slice(&class.to_be_bytes());
    p.extend_from_slice(&method.to_be_bytes());
    p.extend_from_slice(args);
    frame(FRAME_METHOD, channel, &p)
}

/// Encodes a basic content header frame with the given raw property flags and list.
pub fn header_frame(channel: u16, body_size: u64, properties: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&60u16.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes());
    p.extend_from_slice(&body_size.to_be_bytes());
    p.extend_from_slice(properties);
    frame(FRAME_HEADER, channel, &p)
}

/// `basic.publish` arguments.
pub fn publish_args(exchange: &str, key: &str, mandatory: bool) -> Vec<u8> {
    Args::new()
        .u16(0)
        .shortstr(exchange)
        .shortstr(key)
        .bits(&[mandatory, false])
        .build()
}

/// A raw AMQP connection, over TCP unless made `over` another stream.
pub struct RawConn<S = TcpStream> {
    stream: S,
    buf: Vec<u8>,
}

impl RawConn<TcpStream> {
    /// Opens the TCP connection only.
    pub async fn tcp(addr: SocketAddr) -> RawConn {
        let stream = t(TcpStream::connect(addr)).await.expect("tcp connect");
        stream.set_nodelay(true).ok();
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects, sends the protocol header and completes the handshake as guest on vhost
    /// `/` with the default tune (no heartbeat).
    pub async fn open(addr: SocketAddr) -> (RawConn, Handshake) {
        Self::open_tuned(addr, Tune::default()).await
    }

    /// As `open`, answering `connection.tune` with `tune` (zeros take the server's value).
    pub async fn open_tuned(addr: SocketAddr, tune: Tune) -> (RawConn, Handshake) {
        Self::open_with(addr, tune, CLIENT_CAPABILITIES).await
    }

    /// As `open_tuned`, announcing only the client capabilities in `caps`.
    pub async fn open_with(addr: SocketAddr, tune: Tune, caps: &[&str]) -> (RawConn, Handshake) {
        let mut c = Self::tcp(addr).await;
        c.send(PROTOCOL_HEADER).await;
        let hs = c.handshake(tune, "/", caps).await;
        (c, hs)
    }

    /// Drops the TCP connection abruptly (RST), without any AMQP close.
    pub fn abort(self) {
        let _ = self.stream.set_zero_linger();
        drop(self.stream);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawConn<S> {
    /// A connection over an already open stream (nothing sent yet).
    pub fn over(stream: S) -> RawConn<S> {
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Runs start/start-ok/tune/tune-ok/open and expects open-ok.
    pub async fn handshake(&mut self, tune: Tune, vhost: &str, caps: &[&str]) -> Handshake {
        self.handshake_as(tune, vhost, caps, "PLAIN", b"\0guest\0guest")
            .await
    }

    /// As `handshake`, logging in with `mechanism` and its `response`.
    pub async fn handshake_as(
        &mut self,
        tune: Tune,
        vhost: &str,
        caps: &[&str],
        mechanism: &str,
        response: &[u8],
    ) -> Handshake {
        let args = self.expect_method(0, 10, 10).await;
        let mut r = Reader::new(&args);
        let version_major = r.u8();
        let version_minor = r.u8();
        let server_properties = r.table();
        let mechanisms = String::from_utf8_lossy(&r.longstr()).into_owned();
        let locales = String::from_utf8_lossy(&r.longstr()).into_owned();
        let caps: Vec<u8> = caps.iter().flat_map(|c| entry(c, b't', &[1])).collect();
        let client_props = entry("capabilities", b'F', &Args::new().table_raw(&caps).build());
        let start_ok = Args::new()
            .table_raw(&client_props)
            .shortstr(mechanism)
            .longstr(response)
            .shortstr("en_US")
            .build();
        self.send_method(0, 10, 11, &start_ok).await;
        let args = self.expect_method(0, 10, 30).await;
        let mut r = Reader::new(&args);
        let channel_max = r.u16();
        let frame_max = r.u32();
        let heartbeat = r.u16();
        let pick16 = |mine: u16, theirs: u16| if mine == 0 { theirs } else { mine };
        let pick32 = |mine: u32, theirs: u32| if mine == 0 { theirs } else { mine };
        let tune_ok = Args::new()
            .u16(pick16(tune.channel_max, channel_max))
            .u32(pick32(tune.frame_max, frame_max))
            .u16(tune.heartbeat)
            .build();
        self.send_method(0, 10, 31, &tune_ok).await;
        let open = Args::new().shortstr(vhost).shortstr("").u8(0).build();
        self.send_method(0, 10, 40, &open).await;
        self.expect_method(0, 10, 41).await;
        Handshake {
            version_major,
            version_minor,
            server_properties,
            mechanisms,
            locales,
            channel_max,
            frame_max,
            heartbeat,
        }
    }

    /// Opens channel `channel` and waits for open-ok.
    pub async fn open_channel(&mut self, channel: u16) {
        self.send_method(channel, 20, 10, &Args::new().shortstr("").build())
            .await;
        self.expect_method(channel, 20, 11).await;
    }

    /// Writes raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        t(self.stream.write_all(bytes)).await.expect("write");
    }

    /// Writes bytes, ignoring errors (the server may already have closed the socket).
    pub async fn send_lossy(&mut self, bytes: &[u8]) {
        let _ = t(self.stream.write_all(bytes)).await;
    }

    /// Writes a method frame.
    pub async fn send_method(&mut self, channel: u16, class: u16, method: u16, args: &[u8]) {
        let f = method_frame(channel, class, method, args);
        self.send(&f).await;
    }

    /// Publishes `body` on `channel` with raw header properties (flags + list).
    pub async fn publish(
        &mut self,
        channel: u16,
        exchange: &str,
        key: &str,
        properties: &[u8],
        body: &[u8],
    ) {
        let mut bytes = method_frame(channel, 60, 40, &publish_args(exchange, key, false));
        bytes.extend(header_frame(channel, body.len() as u64, properties));
        if !body.is_empty() {
            bytes.extend(frame(FRAME_BODY, channel, body));
        }
        self.send(&bytes).await;
    }

    /// Reads raw bytes until the server closes the socket (or `limit` passes: test failure).
    pub async fn read_to_close(&mut self, limit: Duration) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 4096];
        loop {
            match within(limit, self.stream.read(&mut chunk)).await {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads the next frame; `None` when the server closed the socket.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        self.read_frame_within(TIMEOUT).await
    }

    /// Reads the next frame, waiting at most `limit`.
    pub async fn read_frame_within(&mut self, limit: Duration) -> Option<Frame> {
        within(limit, self.read_frame_inner()).await
    }

    async fn read_frame_inner(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 7 {
                let size = u32::from_be_bytes(self.buf[3..7].try_into().unwrap()) as usize;
                if self.buf.len() >= size + 8 {
                    let raw: Vec<u8> = self.buf.drain(..size + 8).collect();
                    assert_eq!(raw[size + 7], FRAME_END, "frame end octet");
                    return Some(parse_frame(&raw));
                }
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads frames until a method frame arrives (skipping heartbeats).
    pub async fn next_method(&mut self) -> Option<(u16, u16, u16, Vec<u8>)> {
        loop {
            match self.read_frame().await? {
                Frame::Heartbeat => continue,
                Frame::Method {
                    channel,
                    class,
                    method,
                    args,
                } => return Some((channel, class, method, args)),
                other => panic!("expected a method frame, got {other:?}"),
            }
        }
    }

    /// Expects a given method on a given channel and returns its arguments.
    pub async fn expect_method(&mut self, channel: u16, class: u16, method: u16) -> Vec<u8> {
        match self.next_method().await {
            Some((ch, c, m, args)) => {
                if (c, m) == (10, 50) && (class, method) != (10, 50) {
                    let close = parse_close(&args);
                    panic!("expected {class}.{method} on channel {channel}, got connection.close {close:?}");
                }
                assert_eq!(
                    (ch, c, m),
                    (channel, class, method),
                    "unexpected method (args {args:?})"
                );
                args
            }
            None => panic!("connection closed while waiting for {class}.{method}"),
        }
    }

    /// Expects `connection.close`, answers close-ok and returns the reply.
    pub async fn expect_connection_close(&mut self) -> Close {
        let args = self.expect_method(0, 10, 50).await;
        self.send_lossy(&method_frame(0, 10, 51, &[])).await;
        parse_close(&args)
    }

    /// Expects `channel.close` on `channel`, answers close-ok and returns the reply.
    pub async fn expect_channel_close(&mut self, channel: u16) -> Close {
        let args = self.expect_method(channel, 20, 40).await;
        self.send_method(channel, 20, 41, &[]).await;
        parse_close(&args)
    }

    /// Expects the server to close the TCP connection (after any frames it still sends).
    pub async fn expect_eof(&mut self) {
        loop {
            match self.read_frame().await {
                None => return,
                Some(Frame::Heartbeat) => continue,
                Some(other) => panic!("expected the socket to close, got {other:?}"),
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        self.send_lossy(&method_frame(
            0,
            10,
            50,
            &Args::new().u16(200).shortstr("bye").u16(0).u16(0).build(),
        ))
        .await;
        let _ = tokio::time::timeout(TIMEOUT, async {
            while let Some(f) = self.read_frame_inner().await {
                if let Frame::Method {
                    class: 10,
                    method: 51,
                    ..
                } = f
                {
                    break;
                }
            }
        })
        .await;
    }
}

/// A message delivered by `basic.deliver`, `basic.get-ok` or `basic.return`, with the
/// content header properties exactly as the server sent them.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    pub channel: u16,
    pub class: u16,
    pub method: u16,
    pub args: Vec<u8>,
    pub properties: Vec<u8>,
    pub body: Vec<u8>,
}

impl RawMessage {
    /// For `basic.deliver`: (consumer tag, delivery tag, redelivered, exchange, routing key).
    pub fn deliver_fields(&self) -> (String, u64, bool, String, String) {
        assert_eq!((self.class, self.method), (60, 60), "basic.deliver");
        let mut r = Reader::new(&self.args);
        let tag = r.shortstr();
        let dtag = r.u64();
        let redelivered = r.u8() & 1 == 1;
        (tag, dtag, redelivered, r.shortstr(), r.shortstr())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawConn<S> {
    /// Sends `basic.consume` and waits for consume-ok.
    pub async fn consume(&mut self, channel: u16, queue: &str, tag: &str, no_ack: bool) {
        let args = Args::new()
            .u16(0)
            .shortstr(queue)
            .shortstr(tag)
            .bits(&[false, no_ack, false, false])
            .empty_table()
            .build();
        self.send_method(channel, 60, 20, &args).await;
        self.expect_method(channel, 60, 21).await;
    }

    /// Declares a queue (non-passive, non-durable, not exclusive) and waits for declare-ok.
    pub async fn declare_queue(&mut self, channel: u16, queue: &str) {
        let args = Args::new()
            .u16(0)
            .shortstr(queue)
            .bits(&[false, false, false, false, false])
            .empty_table()
            .build();
        self.send_method(channel, 50, 10, &args).await;
        self.expect_method(channel, 50, 11).await;
    }

    /// Reads one complete message (method, header, body frames).
    pub async fn next_message(&mut self) -> RawMessage {
        let (channel, class, method, args) = match self.next_method().await {
            Some(m) => m,
            None => panic!("connection closed while waiting for a message"),
        };
        if (class, method) == (10, 50) || (class, method) == (20, 40) {
            panic!(
                "closed while waiting for a message: {:?}",
                parse_close(&args)
            );
        }
        let (size, properties) = loop {
            match self.read_frame().await {
                Some(Frame::Heartbeat) => continue,
                Some(Frame::Header {
                    body_size,
                    properties,
                    ..
                }) => break (body_size, properties),
                other => panic!("expected a content header, got {other:?}"),
            }
        };
        let mut body = Vec::new();
        while (body.len() as u64) < size {
            match self.read_frame().await {
                Some(Frame::Heartbeat) => continue,
                Some(Frame::Body { data, .. }) => body.extend(data),
                other => panic!("expected a content body, got {other:?}"),
            }
        }
        RawMessage {
            channel,
            class,
            method,
            args,
            properties,
            body,
        }
    }

    /// Acks `delivery_tag` on `channel`.
    pub async fn ack(&mut self, channel: u16, delivery_tag: u64, multiple: bool) {
        let args = Args::new().u64(delivery_tag).bits(&[multiple]).build();
        self.send_method(channel, 60, 80, &args).await;
    }
}

fn parse_frame(raw: &[u8]) -> Frame {
    let kind = raw[0];
    let channel = u16::from_be_bytes([raw[1], raw[2]]);
    let payload = &raw[7..raw.len() - 1];
    match kind {
        FRAME_METHOD => Frame::Method {
            channel,
            class: u16::from_be_bytes([payload[0], payload[1]]),
            method: u16::from_be_bytes([payload[2], payload[3]]),
            args: payload[4..].to_vec(),
        },
        FRAME_HEADER => Frame::Header {
            channel,
            class: u16::from_be_bytes([payload[0], payload[1]]),
            body_size: u64::from_be_bytes(payload[4..12].try_into().unwrap()),
            properties: payload[12..].to_vec(),
        },
        FRAME_BODY => Frame::Body {
            channel,
            data: payload.to_vec(),
        },
        FRAME_HEARTBEAT => Frame::Heartbeat,
        other => panic!("server sent frame type {other}"),
    }
}

/// Parses `connection.close` / `channel.close` arguments.
pub fn parse_close(args: &[u8]) -> Close {
    let mut r = Reader::new(args);
    Close {
        code: r.u16(),
        text: r.shortstr(),
        class: r.u16(),
        method: r.u16(),
    }
}

/// Reads wire types from a byte slice.
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (h, rest) = self.b.split_at(n);
        self.b = rest;
        h
    }
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }
    pub fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    pub fn shortstr(&mut self) -> String {
        let n = self.u8() as usize;
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
    pub fn longstr(&mut self) -> Vec<u8> {
        let n = self.u32() as usize;
        self.take(n).to_vec()
    }
    pub fn table(&mut self) -> Vec<(String, Value)> {
        let n = self.u32() as usize;
        let mut r = Reader::new(self.take(n));
        let mut out = Vec::new();
        while !r.b.is_empty() {
            let k = r.shortstr();
            let v = r.value();
            out.push((k, v));
        }
        out
    }
    pub fn value(&mut self) -> Value {
        match self.u8() {
            b't' => Value::Bool(self.u8() != 0),
            b'b' => Value::I8(self.u8() as i8),
            b'B' => Value::U8(self.u8()),
            b's' => Value::I16(self.u16() as i16),
            b'u' => Value::U16(self.u16()),
            b'I' => Value::I32(self.u32() as i32),
            b'i' => Value::U32(self.u32()),
            b'l' => Value::I64(self.u64() as i64),
            b'f' => Value::F32(f32::from_bits(self.u32())),
            b'd' => Value::F64(f64::from_bits(self.u64())),
            b'D' => {
                let scale = self.u8();
                Value::Decimal(scale, self.u32())
            }
            b'S' => Value::LongStr(self.longstr()),
            b'T' => Value::Timestamp(self.u64()),
            b'F' => Value::Table(self.table()),
            b'A' => {
                let n = self.u32() as usize;
                let mut r = Reader::new(self.take(n));
                let mut out = Vec::new();
                while !r.b.is_empty() {
                    out.push(r.value());
                }
                Value::Array(out)
            }
            b'x' => Value::Bytes(self.longstr()),
            b'V' => Value::Void,
            tag => panic!("unknown field type tag {:?}", tag as char),
        }
    }
}
