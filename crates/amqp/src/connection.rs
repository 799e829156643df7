//! One AMQP connection after the handshake: the socket loop, frame dispatch to
//! channels, deliveries from queues, heartbeats, and the close handshakes.

use crate::channel::Channel;
use crate::error::{AmqpError, AmqpResult, Scope};
use crate::handshake::{self, ClientCapabilities, HandshakeEnd};
use crate::transport::Transport;
use crate::AmqpConfig;
use amqp_codec::{
    decode_frame, encode_heartbeat, encode_method, BasicCancel, ChannelClose, ChannelCloseOk,
    ChannelOpenOk, ConnectionBlocked, ConnectionClose, ConnectionCloseOk, ConnectionUnblocked,
    ConnectionUpdateSecretOk, Frame, Method, ShortStr,
};
use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;
use warren_core::fast_hash::FastMap;
use warren_core::{Access, BrokerRef, ConnEvent, ConnectionEntry, Outlet, User, VHostRef};

/// Stop reading from a client whose unsent output exceeds this: it is not reading.
const WRITE_BACKLOG_LIMIT: usize = 4 * 1024 * 1024;
/// Room a busy connection reads into.
const BUFFER_SIZE: usize = 64 * 1024;
/// A read or flush smaller than this leaves the connection quiet. A quiet
/// connection reads into blocks of this size instead of `BUFFER_SIZE`: the bodies
/// of the messages it publishes are slices of the block they arrived in and keep it
/// alive, so a trickle of small publishes into fresh 64 KiB blocks would pin one per
/// read (and an idle connection would hold one for nothing). Its write buffer is let
/// go once flushed.
const QUIET_IO: usize = 4 * 1024;
/// What a delivery's frames take besides its body and properties: three frame
/// headers and ends, `basic.deliver` with its consumer tag, exchange and routing key
/// (usually short), the content header's fixed part.
const DELIVERY_FRAMING: usize = 128;
/// How long a closed connection's socket stays open for the client to close it.
const LINGER_TIMEOUT: Duration = Duration::from_secs(30);
/// How often unacknowledged deliveries are checked against the consumer timeout.
const CONSUMER_TIMEOUT_CHECK: Duration = Duration::from_secs(1);

/// How often a throttled publisher looks whether its queue has caught up.
const THROTTLE_POLL: Duration = warren_core::back_pressure::POLL;
/// How long to wait for `connection.close-ok` after sending `connection.close`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// A read at least this big is a lot of work handed to queues: the connection yields
/// after it so they run before the next read. A smaller one (a client awaiting each
/// reply sends one method at a time) does not: a yield puts the task behind a
/// "searching" worker, and tokio then wakes the other worker thread (a futex wake
/// and a context switch per message) to find nothing to do.
const YIELD_AFTER_READ: usize = 64 * 1024;

/// What channels need from their connection.
pub(crate) struct Shared {
    pub broker: BrokerRef,
    pub vhost: VHostRef,
    pub user: User,
    /// What the user may do in the vhost; every operation asks it.
    pub access: Access,
    pub id: u64,
    pub outlet: Outlet,
    pub frame_max: u32,
    pub capabilities: ClientCapabilities,
    pub config: AmqpConfig,
    /// This connection in the broker's registry (the management API's listings).
    pub registration: warren_core::registry::ConnectionRegistration,
    /// RabbitMQ's name for the connection, `peer -> local` (tracing headers).
    pub name: std::sync::Arc<str>,
}

impl Shared {
    /// Who did what, for the firehose trace.
    pub fn trace_origin(&self, channel: u16) -> warren_core::vhost::trace::TraceOrigin<'_> {
        warren_core::vhost::trace::TraceOrigin {
            connection: &self.name,
            channel,
            user: &self.user.name,
        }
    }
}

enum Slot {
    Open(Box<Channel>),
    /// We sent `channel.close`; everything but close-ok is discarded until it comes.
    Closing,
}

struct Connection {
    shared: Shared,
    stream: Transport,
    rbuf: BytesMut,
    /// The last read was small (`QUIET_IO`): read into small blocks.
    quiet: bool,
    out: BytesMut,
    channels: FastMap<u16, Slot>,
    channel_max: u16,
    heartbeat: Duration,
    last_read: Instant,
    last_write: Instant,
    /// Some channel has routed publishes not yet handed to their queues.
    publishes_pending: bool,
    /// Something this connection publishes to is far behind (a queue's mailbox, or
    /// the store's writer): reading pauses until it catches up.
    throttle: Option<crate::channel::Behind>,
    /// This connection has published: a resource alarm blocks it.
    has_published: bool,
    /// A resource alarm is on (its reason), and whether we told the client so.
    alarm: Option<String>,
    blocked_sent: bool,
    /// Reading was paused at the last turn (heartbeats are not expected meanwhile).
    paused: bool,
    /// Set once we sent `connection.close`: the deadline for close-ok.
    closing: Option<Instant>,
    done: bool,
}

pub(crate) async fn run(
    mut stream: Transport,
    peer: SocketAddr,
    broker: BrokerRef,
    config: AmqpConfig,
) {
    // The handshake's frames are small (each read reserves room for more); a large
    // buffer here would stay resident behind every idle connection.
    let mut rbuf = BytesMut::with_capacity(4096);
    let local = stream.local_addr().unwrap_or(peer);
    let name: std::sync::Arc<str> =
        warren_core::registry::ConnectionInfo::name_for(peer, local).into();
    // RabbitMQ's connection log lines, word for word where they can be, so log
    // searches and alerts written for it still match.
    tracing::info!(%peer, %local, "accepting AMQP connection ({name})");
    // Boxed: the handshake's state is on the heap only while it runs, not in the
    // task every idle connection keeps.
    let mut negotiated = match Box::pin(handshake::handshake(
        &mut stream,
        peer,
        &mut rbuf,
        &broker,
        &config,
    ))
    .await
    {
        Ok(n) => n,
        Err(HandshakeEnd::Drop) => return,
        Err(HandshakeEnd::Close(error)) => {
            Box::pin(handshake::close_after_failed_handshake(&mut stream, error)).await;
            return;
        }
    };
    let (outlet, mut inbox) = warren_core::mailbox::channel();
    let id = broker.register_connection(ConnectionEntry {
        outlet: outlet.clone(),
        user: negotiated.user.name.clone(),
        vhost: negotiated.vhost.name.clone(),
    });
    if negotiated.vhost.is_deleted() {
        // Deleted between the handshake and the registration, so its closing missed
        // this connection.
        let _ = outlet.send(ConnEvent::Close {
            code: 320,
            text: format!(
                "CONNECTION_FORCED - vhost '{}' is deleted",
                negotiated.vhost.name
            ),
        });
    }
    // Taken out so the decoded table does not live as long as the connection (the
    // registry keeps it encoded).
    let props = std::mem::take(&mut negotiated.client_properties);
    let client = client_name(&props);
    let prop = |key: &str| props.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let connection_name = prop("connection_name");
    // "peer -> local - name" when the client named its connection, as RabbitMQ writes.
    let label = if connection_name.is_empty() {
        name.to_string()
    } else {
        tracing::info!(
            connection = id,
            "connection ({name}) has a client-provided name: {connection_name}"
        );
        format!("{name} - {connection_name}")
    };
    let registration = broker.registry.register(
        id,
        warren_core::registry::ConnectionInfo {
            name: name.to_string(),
            peer,
            local,
            user: negotiated.user.name.clone(),
            vhost: negotiated.vhost.name.clone(),
            client_properties_encoded:
                warren_core::registry::ConnectionInfo::encode_client_properties(&props),
            connected_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            protocol: "AMQP 0-9-1",
            auth_mechanism: negotiated.mechanism.clone(),
            frame_max: negotiated.frame_max,
            channel_max: negotiated.channel_max,
            heartbeat: negotiated.heartbeat,
        },
    );
    tracing::info!(
        connection = id,
        %peer,
        %local,
        user = %negotiated.user.name,
        vhost = %negotiated.vhost.name,
        connection_name,
        %client,
        client_platform = prop("platform"),
        auth_mechanism = %negotiated.mechanism,
        "connection ({label}): user '{}' authenticated and granted access to vhost '{}'",
        negotiated.user.name,
        negotiated.vhost.name,
    );
    drop(props);
    let (user, vhost) = (negotiated.user.name.clone(), negotiated.vhost.name.clone());
    let mut conn = Connection {
        shared: Shared {
            broker: broker.clone(),
            vhost: negotiated.vhost,
            user: negotiated.user,
            access: negotiated.access,
            id,
            outlet,
            frame_max: negotiated.frame_max,
            capabilities: negotiated.capabilities,
            config,
            registration,
            name,
        },
        stream,
        rbuf,
        quiet: true,
        out: BytesMut::new(),
        channels: FastMap::default(),
        channel_max: negotiated.channel_max,
        heartbeat: Duration::from_secs(negotiated.heartbeat as u64),
        last_read: Instant::now(),
        last_write: Instant::now(),
        publishes_pending: false,
        throttle: None,
        has_published: false,
        alarm: None,
        blocked_sent: false,
        paused: false,
        closing: None,
        done: false,
    };
    let reason = conn.serve(&mut inbox).await;
    conn.cleanup();
    broker.unregister_connection(id);
    let closing = format!("closing AMQP connection ({label}, vhost: '{vhost}', user: '{user}')");
    match reason {
        Ending::Closed => tracing::info!(connection = id, %peer, %user, %vhost, "{closing}"),
        Ending::Abnormal(why) => {
            tracing::warn!(connection = id, %peer, %user, %vhost, reason = %why, "{closing}: {why}")
        }
    }
    if conn.done {
        Box::pin(conn.linger()).await;
    }
}

/// Sleeps until `at`; never wakes without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn would_block_ok(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Ok(())
    } else {
        Err(e)
    }
}

/// "product version" from the client's properties, for the logs.
fn client_name(props: &amqp_codec::FieldTable) -> String {
    let text = |key: &str| props.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let name = format!("{} {}", text("product"), text("version"));
    match name.trim() {
        "" => "unknown client".to_string(),
        n => n.to_string(),
    }
}

/// How a connection's life ended, for its closing log line.
enum Ending {
    /// The close handshake completed (whichever side started it).
    Closed,
    /// Anything else, in RabbitMQ's words where it has them.
    Abnormal(String),
}

impl From<String> for Ending {
    fn from(reason: String) -> Ending {
        Ending::Abnormal(reason)
    }
}

impl From<&str> for Ending {
    fn from(reason: &str) -> Ending {
        Ending::Abnormal(reason.to_string())
    }
}

impl Connection {
    async fn serve(&mut self, inbox: &mut warren_core::outlet::Inbox) -> Ending {
        let mut events = Vec::new();
        let tick = if self.heartbeat.is_zero() {
            Duration::from_secs(3600)
        } else {
            (self.heartbeat / 2).max(Duration::from_millis(500))
        };
        let mut ticker = tokio::time::interval_at(Instant::now() + tick, tick);
        let mut timeouts = tokio::time::interval_at(
            Instant::now() + CONSUMER_TIMEOUT_CHECK,
            CONSUMER_TIMEOUT_CHECK,
        );
        timeouts.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Frames the client pipelined behind connection.open. handle_input is boxed
        // here and below (one allocation per read): the channel operations it awaits
        // are kilobytes of state, which the task of every idle connection would
        // otherwise carry.
        if let Err(reason) = Box::pin(self.handle_input()).await {
            return reason.into();
        }
        if self.rbuf.is_empty() {
            // The handshake's buffer: the next read allocates what it needs.
            self.rbuf = BytesMut::new();
        }
        loop {
            if let Err(e) = self.write_some() {
                return format!("write failed: {e}").into();
            }
            if self.done {
                return Ending::Closed;
            }
            let congested = self.out.len() > WRITE_BACKLOG_LIMIT;
            let throttled = self.throttled();
            self.paused = throttled;
            // An idle connection should not wake up to look at nothing.
            let holds_deliveries = self
                .channels
                .values()
                .any(|slot| matches!(slot, Slot::Open(ch) if ch.has_unacked()));
            let want_write = !self.out.is_empty() || self.stream.has_pending_output();
            tokio::select! {
                ready = self.stream.readable(), if !congested && !throttled => {
                    if ready.is_err() {
                        return "socket error".into();
                    }
                    let read = match self.read_some() {
                        Ok(Some(n)) => n,
                        Ok(None) => return "client unexpectedly closed TCP connection".into(),
                        // A reset is the client vanishing too (a killed process).
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                            return "client unexpectedly closed TCP connection".into()
                        }
                        Err(e) => return format!("read failed: {e}").into(),
                    };
                    if let Err(reason) = Box::pin(self.handle_input()).await {
                        return reason.into();
                    }
                    self.quiet = read < QUIET_IO;
                    // A big read was a lot of work: let queues and consumers run before
                    // the next one.
                    if read >= YIELD_AFTER_READ {
                        tokio::task::yield_now().await;
                    }
                }
                // Timers made only when polled: select! builds every branch's future on
                // each pass, and this loop runs once or twice per message.
                _ = async { tokio::time::sleep(THROTTLE_POLL).await }, if throttled => {}
                n = inbox.recv_many(&mut events, 64), if !congested => {
                    if n == 0 {
                        return "broker stopped".into();
                    }
                    for event in std::mem::take(&mut events) {
                        self.handle_event(event);
                    }
                    self.flush_confirms();
                }
                ready = self.stream.writable(), if want_write => {
                    if ready.is_err() {
                        return "socket error".into();
                    }
                }
                _ = ticker.tick() => {
                    if let Some(reason) = self.heartbeat_tick() {
                        return reason.into();
                    }
                }
                _ = timeouts.tick(), if holds_deliveries => {
                    if let Err(error) = Box::pin(self.check_consumer_timeouts()).await {
                        self.start_close(error);
                    }
                }
                _ = sleep_until_some(self.closing), if self.closing.is_some() => {
                    return "no close-ok from client".into();
                }
            }
        }
    }

    /// After the close handshake: send what is left (close-ok), then read and discard
    /// until the client closes the socket, as RabbitMQ does. Dropping a socket with
    /// unread input makes the kernel reset it, and the client may lose our close-ok
    /// (clients that were still publishing when they closed hit exactly that).
    async fn linger(&mut self) {
        let deadline = Instant::now() + LINGER_TIMEOUT;
        let out = std::mem::take(&mut self.out);
        let flushed = tokio::time::timeout_at(deadline, self.stream.write_all(&out)).await;
        if !matches!(flushed, Ok(Ok(()))) {
            return;
        }
        let _ = self.stream.shutdown().await;
        let mut sink = BytesMut::with_capacity(16 * 1024);
        while let Ok(Ok(n)) =
            tokio::time::timeout_at(deadline, self.stream.read_buf(&mut sink)).await
        {
            if n == 0 {
                break;
            }
            sink.clear();
        }
    }

    /// Reads what the socket has now; how many bytes, or None when the peer closed it.
    fn read_some(&mut self) -> std::io::Result<Option<usize>> {
        let mut read = 0;
        loop {
            // Consecutive reads share a block until it is nearly full; a quiet
            // connection's first read that turns out big switches to big blocks.
            let block = if self.quiet && read < QUIET_IO {
                QUIET_IO
            } else {
                BUFFER_SIZE
            };
            if self.rbuf.capacity() - self.rbuf.len() < block / 4 {
                self.rbuf.reserve(block);
            }
            match self.stream.try_read_buf(&mut self.rbuf) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    read += n;
                    self.shared.registration.received(n);
                    self.last_read = Instant::now();
                    if self.rbuf.len() >= 256 * 1024 {
                        return Ok(Some(read));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(Some(read)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes as much of the output buffer as the socket takes without waiting.
    fn write_some(&mut self) -> std::io::Result<()> {
        let flushing = self.out.len();
        while !self.out.is_empty() {
            match self.stream.try_write(&self.out) {
                Ok(n) => {
                    self.shared.registration.sent(n);
                    // `advance`, not `split_to`: the buffer stays unshared, so the next
                    // `reserve` can reuse the written space instead of copying.
                    self.out.advance(n);
                    self.last_write = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.stream.try_flush().or_else(would_block_ok)?;
        // A busy connection keeps its buffer (not a huge one after a burst); a quiet
        // one lets it go.
        if self.out.is_empty()
            && self.out.capacity() > 0
            && (flushing < QUIET_IO || self.out.capacity() > WRITE_BACKLOG_LIMIT)
        {
            self.out = BytesMut::new();
        }
        Ok(())
    }

    /// Decodes and handles every complete frame in the read buffer.
    async fn handle_input(&mut self) -> Result<(), String> {
        loop {
            let frame_max = self.shared.frame_max;
            let frame = match decode_frame(&mut self.rbuf, frame_max) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    let error = AmqpError::from(e);
                    tracing::warn!(connection = self.shared.id, "{}", error.text);
                    self.start_close(error);
                    // Nothing after a broken frame can be trusted.
                    self.rbuf.clear();
                    break;
                }
            };
            let Some(frame) = self.handle_hot_frame(frame) else {
                continue;
            };
            if let Err(error) = self.handle_frame(frame).await {
                match error.scope {
                    Scope::Connection => self.start_close(error),
                    Scope::Channel => unreachable!("channel errors are handled per channel"),
                }
            }
            if self.done {
                break;
            }
        }
        self.flush_publishes();
        self.flush_confirms();
        Ok(())
    }

    /// The frames of a publish (method, header, body) and acks on an open channel,
    /// handled here rather than through `handle_frame`'s async layers, each of which
    /// moves the 144-byte frame again (about fifteen copies per publish). Gives the
    /// frame back when it is not one of those or its channel is not open.
    fn handle_hot_frame(&mut self, frame: Frame) -> Option<Frame> {
        let channel = frame.channel();
        if self.closing.is_some() || channel == 0 {
            return Some(frame);
        }
        let Some(Slot::Open(ch)) = self.channels.get_mut(&channel) else {
            return Some(frame);
        };
        let result = match frame {
            Frame::Method {
                method: Method::BasicPublish(m),
                ..
            } if !ch.has_pending_content() => ch.basic_publish(m),
            Frame::Method {
                method: Method::BasicAck(m),
                ..
            } if !ch.has_pending_content() => {
                // Publishes read before the ack go to their queues first, as in
                // `handle_frame`.
                if self.publishes_pending {
                    return Some(Frame::Method {
                        channel,
                        method: Method::BasicAck(m),
                    });
                }
                let result = ch.basic_ack(m);
                self.publishes_pending |= ch.has_outgoing();
                result
            }
            Frame::Header { header, .. } => {
                self.publishes_pending = true;
                self.has_published = true;
                ch.content_header(header, &self.shared, &mut self.out)
            }
            Frame::Body { payload, .. } => {
                self.publishes_pending = true;
                ch.content_body(payload, &self.shared, &mut self.out)
            }
            other => return Some(other),
        };
        if let Err(error) = self.channel_result(channel, result) {
            self.start_close(error);
        }
        None
    }

    async fn handle_frame(&mut self, frame: Frame) -> AmqpResult<()> {
        if self.closing.is_some() {
            // After our connection.close only close and close-ok mean anything.
            if let Frame::Method { channel: 0, method } = frame {
                match method {
                    Method::ConnectionCloseOk(_) => self.done = true,
                    Method::ConnectionClose(_) => {
                        self.send(0, &Method::ConnectionCloseOk(ConnectionCloseOk {}));
                        self.done = true;
                    }
                    _ => {}
                }
            }
            return Ok(());
        }
        match frame {
            Frame::Heartbeat { channel: 0 } => Ok(()),
            Frame::Heartbeat { channel } => Err(AmqpError::new(
                505,
                format!("heartbeat frame on channel {channel}; heartbeats belong to channel 0"),
            )),
            Frame::Method { channel: 0, method } => {
                self.flush_publishes();
                self.connection_method(method)
            }
            Frame::Method { channel, method } => {
                if !matches!(method, Method::BasicPublish(_)) {
                    self.flush_publishes();
                }
                self.channel_method(channel, method).await
            }
            Frame::Header { channel, header } => {
                self.publishes_pending = true;
                self.has_published = true;
                let result = match self.channels.get_mut(&channel) {
                    None if channel == 0 => Err(AmqpError::new(
                        505,
                        "expected method frame, got non method frame instead",
                    )),
                    None => Err(AmqpError::new(
                        504,
                        format!("expected 'channel.open' on channel {channel}"),
                    )),
                    Some(Slot::Closing) => return Ok(()),
                    Some(Slot::Open(ch)) => ch.content_header(header, &self.shared, &mut self.out),
                };
                self.channel_result(channel, result)
            }
            Frame::Body { channel, payload } => {
                self.publishes_pending = true;
                let result = match self.channels.get_mut(&channel) {
                    None if channel == 0 => Err(AmqpError::new(
                        505,
                        "expected method frame, got non method frame instead",
                    )),
                    None => Err(AmqpError::new(
                        504,
                        format!("expected 'channel.open' on channel {channel}"),
                    )),
                    Some(Slot::Closing) => return Ok(()),
                    Some(Slot::Open(ch)) => ch.content_body(payload, &self.shared, &mut self.out),
                };
                self.channel_result(channel, result)
            }
        }
    }

    fn connection_method(&mut self, method: Method) -> AmqpResult<()> {
        match method {
            Method::ConnectionClose(m) => {
                tracing::debug!(
                    connection = self.shared.id,
                    "client closed the connection: {} {}",
                    m.reply_code,
                    m.reply_text
                );
                self.cleanup();
                self.send(0, &Method::ConnectionCloseOk(ConnectionCloseOk {}));
                self.done = true;
                Ok(())
            }
            // A close-ok we did not ask for: nothing to do.
            Method::ConnectionCloseOk(_) => Ok(()),
            // Clients may tell us they are blocked/unblocked; RabbitMQ ignores them too.
            Method::ConnectionBlocked(_) | Method::ConnectionUnblocked(_) => Ok(()),
            // Password users have no secret to renew; RabbitMQ's internal backend accepts
            // the new one, and so do we.
            Method::ConnectionUpdateSecret(_) => {
                self.send(
                    0,
                    &Method::ConnectionUpdateSecretOk(ConnectionUpdateSecretOk {}),
                );
                Ok(())
            }
            other => {
                Err(AmqpError::new(504, "unexpected method in connection state running").on(&other))
            }
        }
    }

    async fn channel_method(&mut self, number: u16, method: Method) -> AmqpResult<()> {
        if method.class_id() == 10 {
            return Err(AmqpError::new(503, "unimplemented method").on(&method));
        }
        #[derive(PartialEq)]
        enum State {
            Absent,
            Closing,
            Open,
        }
        let state = match self.channels.get(&number) {
            None => State::Absent,
            Some(Slot::Closing) => State::Closing,
            Some(Slot::Open(_)) => State::Open,
        };
        match (state, method) {
            (State::Absent, Method::ChannelOpen(_)) => {
                // RabbitMQ counts open channels, whatever their numbers.
                if self.channels.len() >= self.channel_max as usize {
                    return Err(AmqpError::new(
                        530,
                        format!(
                            "number of channels opened ({}) has reached the negotiated channel_max ({})",
                            self.channels.len(),
                            self.channel_max
                        ),
                    ));
                }
                let key = warren_core::ChannelKey(self.shared.broker.next_channel_id());
                let channel = Channel::new(number, key, &self.shared);
                self.channels.insert(number, Slot::Open(Box::new(channel)));
                self.send(number, &Method::ChannelOpenOk(ChannelOpenOk::default()));
                Ok(())
            }
            (State::Open, Method::ChannelOpen(_)) => {
                Err(AmqpError::new(504, "second 'channel.open' seen").on_ids(20, 10))
            }
            (State::Absent, other) => {
                Err(AmqpError::new(504, "expected 'channel.open'").on(&other))
            }
            (State::Closing, Method::ChannelCloseOk(_)) => {
                self.channels.remove(&number);
                Ok(())
            }
            (State::Closing, Method::ChannelClose(_)) => {
                // Both sides closed at once: answer, and the channel is gone.
                self.send(number, &Method::ChannelCloseOk(ChannelCloseOk {}));
                self.channels.remove(&number);
                Ok(())
            }
            (State::Closing, _) => Ok(()),
            (State::Open, Method::ChannelClose(_)) => {
                if let Some(Slot::Open(mut ch)) = self.channels.remove(&number) {
                    ch.cleanup(&self.shared);
                }
                self.send(number, &Method::ChannelCloseOk(ChannelCloseOk {}));
                Ok(())
            }
            // A close-ok we did not ask for.
            (State::Open, Method::ChannelCloseOk(_)) => {
                Err(AmqpError::new(503, "unimplemented method").on_ids(20, 41))
            }
            (State::Open, method) => {
                let Some(Slot::Open(ch)) = self.channels.get_mut(&number) else {
                    return Ok(());
                };
                let result = ch.handle(method, &self.shared, &mut self.out).await;
                // tx.commit routes the publishes it held.
                self.publishes_pending |= ch.has_outgoing();
                self.channel_result(number, result)
            }
        }
    }

    /// Turns a channel's error into a channel close, or passes a connection error up.
    fn channel_result(&mut self, number: u16, result: AmqpResult<()>) -> AmqpResult<()> {
        let Err(error) = result else { return Ok(()) };
        if error.scope == Scope::Connection {
            return Err(error);
        }
        tracing::debug!(
            connection = self.shared.id,
            channel = number,
            "{}",
            error.text
        );
        if let Some(Slot::Open(mut ch)) = self.channels.remove(&number) {
            ch.cleanup(&self.shared);
        }
        self.channels.insert(number, Slot::Closing);
        self.send(
            number,
            &Method::ChannelClose(ChannelClose {
                reply_code: error.code,
                reply_text: error.text.into(),
                class_id: error.class_id,
                method_id: error.method_id,
            }),
        );
        Ok(())
    }

    fn handle_event(&mut self, event: ConnEvent) {
        match event {
            ConnEvent::Deliveries(batch) => {
                // Room for the whole batch at once: grown delivery by delivery, a
                // big batch (prefetch 1,000 of 10 KB) would copy the buffer at each
                // doubling.
                let room: usize = batch
                    .iter()
                    .map(|d| d.message.body.len() + d.message.properties.len() + DELIVERY_FRAMING)
                    .sum();
                self.out.reserve(room);
                for delivery in batch {
                    match self.channels.get_mut(&delivery.channel) {
                        Some(Slot::Open(ch)) if ch.key == delivery.channel_key => {
                            if self.shared.vhost.tracing() {
                                if let Some(queue) = &delivery.queue {
                                    self.shared.vhost.trace_deliver(
                                        &queue.name,
                                        &delivery.message,
                                        delivery.redelivered,
                                        self.shared.trace_origin(delivery.channel),
                                    );
                                }
                            }
                            ch.deliver(delivery, &mut self.out, self.shared.frame_max)
                        }
                        // The channel it was for has closed; the queue requeues what
                        // that channel held when it learns of the close.
                        _ => {}
                    }
                }
            }
            ConnEvent::Confirms(confirms) => {
                for c in confirms {
                    if let Some(Slot::Open(ch)) = self.channels.get_mut(&c.channel) {
                        if ch.key == c.channel_key {
                            ch.confirmed(c.seq, c.accepted);
                        }
                    }
                }
            }
            ConnEvent::ConsumerCancelled {
                channel,
                consumer_tag,
            } => {
                if let Some(Slot::Open(ch)) = self.channels.get_mut(&channel) {
                    if ch.forget_consumer(&consumer_tag)
                        && self.shared.capabilities.consumer_cancel_notify
                    {
                        self.send(
                            channel,
                            &Method::BasicCancel(BasicCancel {
                                consumer_tag: consumer_tag.to_string().into(),
                                no_wait: true,
                            }),
                        );
                    }
                }
            }
            ConnEvent::Close { code, text } => {
                if self.closing.is_none() {
                    let mut error = AmqpError::connection(code, "");
                    error.text = text;
                    self.start_close(error);
                }
            }
            ConnEvent::Alarm(reason) => {
                self.alarm = reason;
                if self.alarm.is_none() && self.blocked_sent {
                    self.blocked_sent = false;
                    encode_method(
                        &mut self.out,
                        0,
                        &Method::ConnectionUnblocked(ConnectionUnblocked {}),
                    );
                }
            }
        }
    }

    /// Closes (406) every channel holding a delivery unacknowledged past its timeout.
    async fn check_consumer_timeouts(&mut self) -> AmqpResult<()> {
        let default = self.shared.config.consumer_timeout;
        let late: Vec<(u16, AmqpError)> = self
            .channels
            .iter()
            .filter_map(|(number, slot)| match slot {
                Slot::Open(ch) => ch.timed_out_delivery(default).map(|e| (*number, e)),
                Slot::Closing => None,
            })
            .collect();
        for (number, error) in late {
            tracing::warn!(
                connection = self.shared.id,
                channel = number,
                "{}",
                error.text
            );
            self.channel_result(number, Err(error))?;
        }
        Ok(())
    }

    /// Checks the peer's liveness and keeps ours visible. Some(reason) to drop it.
    fn heartbeat_tick(&mut self) -> Option<String> {
        if self.heartbeat.is_zero() {
            return None;
        }
        let now = Instant::now();
        if self.paused {
            // We are not reading: the client's heartbeats wait in the socket.
            self.last_read = now;
        }
        if now.duration_since(self.last_read) > self.heartbeat * 2 {
            return Some(format!(
                "missed heartbeats from client, timeout: {}s",
                self.heartbeat.as_secs()
            ));
        }
        if now.duration_since(self.last_write) >= self.heartbeat / 2 && self.out.is_empty() {
            encode_heartbeat(&mut self.out);
        }
        None
    }

    fn flush_confirms(&mut self) {
        for slot in self.channels.values_mut() {
            if let Slot::Open(ch) = slot {
                ch.flush_confirms(&mut self.out);
            }
        }
    }

    /// Hands every channel's routed publishes to their queues. Done before any other
    /// method is handled, so a publish is in its queue before, say, a `basic.get` or
    /// a `queue.purge` that follows it reaches that queue.
    fn flush_publishes(&mut self) {
        if !self.publishes_pending {
            return;
        }
        self.publishes_pending = false;
        for slot in self.channels.values_mut() {
            if let Slot::Open(ch) = slot {
                if let Some(behind) = ch.flush_publishes(&self.shared) {
                    self.throttle = Some(behind);
                }
            }
        }
    }

    /// Whether reading from the client may go on: not while a queue it publishes to
    /// is far behind. Consumers keep draining meanwhile; the client's writes wait in
    /// its socket, as with RabbitMQ's flow control.
    fn throttled(&mut self) -> bool {
        if self.alarm.is_some() && self.has_published && self.closing.is_none() {
            // RabbitMQ's resource alarm: a publishing connection is blocked until the
            // alarm clears; clients that asked are told why.
            if !self.blocked_sent && self.shared.capabilities.connection_blocked {
                self.blocked_sent = true;
                let reason = self.alarm.clone().unwrap_or_default();
                encode_method(
                    &mut self.out,
                    0,
                    &Method::ConnectionBlocked(ConnectionBlocked {
                        reason: ShortStr::from(reason),
                    }),
                );
            }
            return true;
        }
        match &self.throttle {
            Some(behind) if behind.still_behind() => true,
            Some(_) => {
                self.throttle = None;
                false
            }
            None => false,
        }
    }

    /// Sends `connection.close` and waits for close-ok; channels are released now.
    fn start_close(&mut self, error: AmqpError) {
        if self.closing.is_some() {
            return;
        }
        tracing::info!(
            connection = self.shared.id,
            "closing connection: {}",
            error.text
        );
        self.cleanup();
        self.send(
            0,
            &Method::ConnectionClose(ConnectionClose {
                reply_code: error.code,
                reply_text: error.text.into(),
                class_id: error.class_id,
                method_id: error.method_id,
            }),
        );
        self.closing = Some(Instant::now() + CLOSE_TIMEOUT);
    }

    fn send(&mut self, channel: u16, method: &Method) {
        encode_method(&mut self.out, channel, method);
    }

    /// Releases every channel (requeueing what they held) and the exclusive queues.
    fn cleanup(&mut self) {
        for (_, slot) in self.channels.drain() {
            if let Slot::Open(mut ch) = slot {
                ch.cleanup(&self.shared);
            }
        }
        self.shared.vhost.connection_closed(self.shared.id);
    }
}
