//! One STOMP connection: the CONNECT exchange, then the socket loop (frames in,
//! deliveries from queues out, heart-beats both ways) until DISCONNECT, an error
//! (one ERROR frame, then the socket closes) or the broker's close.

use crate::alarm_gate::AlarmGate;
use crate::connect::connect;
use crate::error::StompError;
use crate::frame::{decode, encode, Decoded, Frame, Version};
use crate::session::{Flow, Session, SessionParts};
use crate::StompConfig;
use bytes::BytesMut;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use warren_core::{BrokerRef, ConnEvent, ConnectionEntry};

/// How long the socket stays open after an ERROR for the client to read it.
const LINGER: Duration = Duration::from_secs(2);

/// Serves one client on `stream`: a TCP socket, or the byte pipe of a WebSocket.
/// `local` is the listener's address the client reached (for the connection name).
pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    broker: BrokerRef,
    config: StompConfig,
) {
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::new();
    let frame = match read_connect(&mut stream, &mut rbuf, &config).await {
        Ok(Some(frame)) => frame,
        Ok(None) => return,
        Err(error) => {
            tracing::info!(%peer, "STOMP connection refused: {}", error.detail);
            error_frame(&mut out, &error, None, Version::V1_0);
            close(stream, &out).await;
            return;
        }
    };
    let receipt = frame.header("receipt").map(str::to_string);
    let session_id = warren_core::names::generated_name("session-");
    let connected = match connect(&frame, peer, &broker, &session_id) {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(%peer, "STOMP login refused: {}", error.detail);
            error_frame(&mut out, &error, receipt.as_deref(), Version::V1_0);
            close(stream, &out).await;
            return;
        }
    };
    let name = match local {
        Some(local) => format!("{peer} -> {local}"),
        None => peer.to_string(),
    };
    let (outlet, mut inbox) = warren_core::mailbox::channel();
    let id = broker.register_connection(ConnectionEntry {
        outlet: outlet.clone(),
        user: connected.user.name.clone(),
        vhost: connected.vhost.name.clone(),
    });
    // RabbitMQ's wording, so log searches written for it still match.
    tracing::info!(
        connection = id,
        %peer,
        user = %connected.user.name,
        vhost = %connected.vhost.name,
        version = connected.version.as_str(),
        "accepting STOMP connection ({name})"
    );
    encode(&mut out, &connected.reply, connected.version);
    let mut conn = Connection {
        session: Session::new(SessionParts {
            broker: broker.clone(),
            vhost: connected.vhost,
            user: connected.user,
            access: connected.access,
            id,
            outlet,
            version: connected.version,
            session_id,
            name,
        }),
        stream,
        rbuf,
        out,
        config,
        send_every: connected.send_every,
        expect_every: connected.expect_every,
        last_read: Instant::now(),
        last_write: Instant::now(),
        closing: false,
        gate: AlarmGate::default(),
        released: false,
    };
    let reason = conn.serve(&mut inbox).await;
    conn.session.cleanup();
    broker.unregister_connection(id);
    tracing::info!(connection = id, %peer, %reason, "closing STOMP connection ({}): {reason}", conn.session.name);
    let Connection { stream, out, .. } = conn;
    close(stream, &out).await;
}

/// Reads until the first frame, which must be CONNECT or STOMP. Ok(None): the
/// client went away or said nothing in time.
async fn read_connect<S: AsyncRead + Unpin>(
    stream: &mut S,
    rbuf: &mut BytesMut,
    config: &StompConfig,
) -> Result<Option<Frame>, StompError> {
    let deadline = Instant::now() + config.connect_timeout;
    loop {
        match decode(rbuf, Version::V1_0, &config.limits) {
            Ok(Some(Decoded::Heartbeat)) => continue,
            Ok(Some(Decoded::Frame(f))) if f.command == "CONNECT" || f.command == "STOMP" => {
                return Ok(Some(f))
            }
            Ok(Some(Decoded::Frame(f))) => {
                return Err(StompError::new(
                    "Illegal command",
                    format!("You must log in using CONNECT first (got {})", f.command),
                ))
            }
            Ok(None) => {}
            Err(e) => return Err(StompError::new("Invalid frame", e.0)),
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(rbuf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Ok(None),
        }
    }
}

fn error_frame(out: &mut BytesMut, error: &StompError, receipt: Option<&str>, version: Version) {
    // RabbitMQ's plugin names the versions it speaks on every ERROR.
    let mut frame = Frame::new("ERROR")
        .with("message", error.message.clone())
        .with("content-type", "text/plain")
        .with("version", "1.0,1.1,1.2");
    if let Some(r) = receipt {
        frame = frame.with("receipt-id", r);
    }
    frame.body = bytes::Bytes::from(error.detail.clone());
    encode(out, &frame, version);
}

/// Writes what is left, then closes; waits briefly so the client reads it before
/// the socket goes (a reset could lose the ERROR frame).
async fn close<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, out: &[u8]) {
    let _ = tokio::time::timeout(LINGER, stream.write_all(out)).await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let deadline = Instant::now() + LINGER;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

struct Connection<S> {
    session: Session,
    stream: S,
    rbuf: BytesMut,
    out: BytesMut,
    config: StompConfig,
    send_every: Option<Duration>,
    expect_every: Option<Duration>,
    last_read: Instant,
    last_write: Instant,
    closing: bool,
    /// SENDs wait while a resource alarm is on.
    gate: AlarmGate,
    /// The alarm cleared with a SEND waiting: handle the read buffer again.
    released: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    async fn serve(&mut self, inbox: &mut warren_core::outlet::Inbox) -> String {
        let mut events = Vec::new();
        // Frames the client sent right behind CONNECT.
        if let Some(reason) = self.handle_input().await {
            return reason;
        }
        loop {
            if !self.out.is_empty() {
                if let Err(e) = self.stream.write_all(&self.out).await {
                    return format!("write failed: {e}");
                }
                self.out.clear();
                self.last_write = Instant::now();
            }
            if self.closing {
                return "closed".into();
            }
            let far = Instant::now() + Duration::from_secs(3600);
            let send_at = self.send_every.map_or(far, |d| self.last_write + d);
            // The spec's tolerance: twice the promised interval.
            let read_by = self.expect_every.map_or(far, |d| self.last_read + d * 2);
            tokio::select! {
                read = self.stream.read_buf(&mut self.rbuf), if !self.gate.held && self.session.behind.is_none() => match read {
                    Ok(0) => return "client closed the socket".into(),
                    Ok(_) => {
                        self.last_read = Instant::now();
                        if let Some(reason) = self.handle_input().await {
                            return reason;
                        }
                    }
                    Err(e) => return format!("read failed: {e}"),
                },
                n = inbox.recv_many(&mut events, 64) => {
                    if n == 0 {
                        return "broker stopped".into();
                    }
                    for event in std::mem::take(&mut events) {
                        self.handle_event(event);
                    }
                    if std::mem::take(&mut self.released) {
                        // The client's heart-beats waited behind the SEND too.
                        self.last_read = Instant::now();
                        if let Some(reason) = self.handle_input().await {
                            return reason;
                        }
                    }
                }
                _ = tokio::time::sleep_until(send_at), if self.send_every.is_some() => {
                    self.out.extend_from_slice(b"\n");
                }
                _ = tokio::time::sleep(warren_core::back_pressure::POLL), if self.session.behind.is_some() => {
                    if !self.session.behind.as_ref().is_some_and(|b| b.still_behind()) {
                        self.session.behind = None;
                        // The client's heart-beats waited unread too.
                        self.last_read = Instant::now();
                    }
                }
                // Not while blocked: the client's heart-beats wait unread.
                _ = tokio::time::sleep_until(read_by), if self.expect_every.is_some() && !self.gate.held && self.session.behind.is_none() => {
                    return "missed heart-beats from the client".into();
                }
            }
        }
    }

    /// Handles every complete frame in the read buffer. Some(reason) when the
    /// connection is done.
    async fn handle_input(&mut self) -> Option<String> {
        let version = self.session.version;
        let reason = loop {
            if self.gate.holds(&self.rbuf) {
                break None;
            }
            let frame = match decode(&mut self.rbuf, version, &self.config.limits) {
                Ok(Some(Decoded::Frame(frame))) => frame,
                Ok(Some(Decoded::Heartbeat)) => continue,
                Ok(None) => break None,
                Err(e) => {
                    let error = StompError::new("Invalid frame", e.0);
                    break Some(self.fail(error, None));
                }
            };
            let receipt = frame.header("receipt").map(str::to_string);
            match self.session.handle(frame, &mut self.out).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Disconnect) => break Some("client disconnected".to_string()),
                Err(error) => break Some(self.fail(error, receipt.as_deref())),
            }
        };
        self.session.flush();
        if reason.is_some() {
            self.closing = true;
        }
        reason
    }

    /// Sends an ERROR frame; the connection closes after it.
    fn fail(&mut self, error: StompError, receipt: Option<&str>) -> String {
        tracing::info!(
            connection = self.session.id,
            "STOMP error: {}: {}",
            error.message,
            error.detail
        );
        error_frame(&mut self.out, &error, receipt, self.session.version);
        self.closing = true;
        format!("{}: {}", error.message, error.detail)
    }

    fn handle_event(&mut self, event: ConnEvent) {
        match event {
            ConnEvent::Deliveries(batch) => {
                for d in batch {
                    if d.channel_key == self.session.key {
                        self.session.deliver(d, &mut self.out);
                    }
                }
            }
            ConnEvent::ConsumerCancelled { consumer_tag, .. } => {
                let id = consumer_tag.strip_prefix("T_").unwrap_or(&consumer_tag);
                if self.session.subscriptions.remove(id).is_some() {
                    let error = StompError::new(
                        "Server cancelled subscription",
                        format!("The server has canceled a subscription. No more messages will be delivered for subscription {id}."),
                    );
                    self.fail(error, None);
                }
            }
            ConnEvent::Close { text, .. } => {
                self.fail(
                    StompError::new("Connection closed by the broker", text),
                    None,
                );
            }
            // Only publishes with confirms are confirmed, and STOMP makes none.
            ConnEvent::Confirms(_) => {}
            ConnEvent::Alarm(reason) => self.released |= self.gate.set(reason),
        }
    }
}
