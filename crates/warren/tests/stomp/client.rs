//! A minimal STOMP client for the tests: frames out, frames in, with timeouts. It
//! uses Warren's codec for convenience; the Python suite covers stomp.py.

use bytes::BytesMut;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_stomp::frame::{decode, encode, Decoded, Frame, Limits, Version};

pub const TIMEOUT: Duration = Duration::from_secs(5);

pub struct Stomp {
    pub stream: TcpStream,
    buf: BytesMut,
    pub version: Version,
    /// Heart-beats received so far.
    pub heartbeats: usize,
}

pub async fn server() -> warren::Server {
    warren::start(warren::Config::for_tests())
        .await
        .expect("broker starts")
}

impl Stomp {
    pub async fn open(addr: SocketAddr) -> Stomp {
        Stomp {
            stream: TcpStream::connect(addr).await.expect("tcp connect"),
            buf: BytesMut::new(),
            version: Version::V1_2,
            heartbeats: 0,
        }
    }

    /// Connects as guest with STOMP 1.2 and checks CONNECTED.
    pub async fn connect(addr: SocketAddr) -> Stomp {
        Stomp::connect_with(addr, &[("accept-version", "1.2")]).await
    }

    pub async fn connect_with(addr: SocketAddr, headers: &[(&str, &str)]) -> Stomp {
        let mut c = Stomp::open(addr).await;
        let mut frame = Frame::new("CONNECT")
            .with("login", "guest")
            .with("passcode", "guest");
        for (k, v) in headers {
            frame = frame.with(k, *v);
        }
        c.send(&frame).await;
        let reply = c.recv().await;
        assert_eq!(reply.command, "CONNECTED", "{reply:?}");
        c.version = Version::parse(reply.header("version").unwrap_or("1.0")).unwrap();
        c
    }

    pub async fn send(&mut self, frame: &Frame) {
        let mut out = BytesMut::new();
        encode(&mut out, frame, self.version);
        self.raw(&out).await;
    }

    pub async fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next frame (heart-beats are counted and skipped).
    pub async fn recv(&mut self) -> Frame {
        tokio::time::timeout(TIMEOUT, self.next())
            .await
            .expect("a frame within the timeout")
            .expect("a frame, not the end of the connection")
    }

    /// The next frame, or None if the server closed the connection.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            match decode(&mut self.buf, self.version, &Limits::default()) {
                Ok(Some(Decoded::Frame(f))) => return Some(f),
                Ok(Some(Decoded::Heartbeat)) => {
                    self.heartbeats += 1;
                    continue;
                }
                Ok(None) => {}
                Err(e) => panic!("server sent a bad frame: {e}"),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Nothing arrives for `wait`.
    pub async fn quiet(&mut self, wait: Duration) {
        if let Ok(frame) = tokio::time::timeout(wait, self.next()).await {
            panic!("expected nothing, got {frame:?}");
        }
    }

    /// The server sends an ERROR and closes the connection; returns the ERROR.
    pub async fn expect_error(&mut self) -> Frame {
        let frame = self.recv().await;
        assert_eq!(frame.command, "ERROR", "{frame:?}");
        let end = tokio::time::timeout(TIMEOUT, self.next()).await;
        assert!(
            matches!(end, Ok(None)),
            "connection closes after ERROR, got {end:?}"
        );
        frame
    }

    /// Sends a frame with a receipt and waits for the RECEIPT.
    pub async fn send_receipted(&mut self, frame: Frame, receipt: &str) {
        self.send(&frame.with("receipt", receipt)).await;
        let reply = self.recv().await;
        assert_eq!(reply.command, "RECEIPT", "{reply:?}");
        assert_eq!(reply.header("receipt-id"), Some(receipt));
    }

    pub async fn subscribe(&mut self, id: &str, destination: &str, extra: &[(&str, &str)]) {
        let mut frame = Frame::new("SUBSCRIBE")
            .with("id", id)
            .with("destination", destination);
        for (k, v) in extra {
            frame = frame.with(k, *v);
        }
        self.send_receipted(frame, &format!("sub-{id}")).await;
    }

    pub async fn publish(&mut self, destination: &str, body: &str, extra: &[(&str, &str)]) {
        let mut frame = Frame::new("SEND").with("destination", destination);
        for (k, v) in extra {
            frame = frame.with(k, *v);
        }
        frame.body = bytes::Bytes::from(body.to_string());
        self.send_receipted(frame, "sent").await;
    }

    /// The next MESSAGE.
    pub async fn message(&mut self) -> Frame {
        let frame = self.recv().await;
        assert_eq!(frame.command, "MESSAGE", "{frame:?}");
        frame
    }

    pub async fn disconnect(mut self) {
        self.send_receipted(Frame::new("DISCONNECT"), "bye").await;
        let end = tokio::time::timeout(TIMEOUT, self.next()).await;
        assert!(matches!(end, Ok(None)), "closed after DISCONNECT");
    }
}

pub fn body(frame: &Frame) -> &str {
    std::str::from_utf8(&frame.body).expect("utf-8 body")
}

pub fn unique(prefix: &str) -> String {
    super::common::unique(prefix)
}
