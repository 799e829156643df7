//! One MQTT connection after CONNECT: the socket loop, packets to the session, the
//! inbound publisher and the outbound deliveries, keepalive, the last will, and how
//! the connection ends (a server-sent DISCONNECT with a reason in MQTT 5).

use crate::alarm_gate::AlarmGate;
use crate::connect::{self, Negotiated, Refused};
use crate::inbound::Inbound;
use crate::outbound::Outbound;
use crate::registry::{Registry, TAKEN_OVER};
use crate::session::{Lifetime, Session};
use crate::MqttConfig;
use bytes::BytesMut;
use mqtt_codec::{
    decode, encode, reason, topic, Ack, ConnAck, Disconnect, Packet, Properties, Publish, QoS,
    SubAck, Subscribe, UnsubAck, Unsubscribe, Version, Will,
};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};
use warren_core::back_pressure::{self, Behind};
use warren_core::outlet::Inbox;
use warren_core::{Access, BrokerRef, ConnEvent, ConnectionEntry, ErrorKind, Outlet, VHostRef};

/// How many topic aliases a client may set (CONNACK's Topic Alias Maximum).
const TOPIC_ALIAS_MAXIMUM: u16 = 64;

/// What the parts of a connection share.
pub(crate) struct Ctx {
    pub broker: BrokerRef,
    pub vhost: VHostRef,
    pub access: Access,
    pub id: u64,
    pub outlet: Outlet,
    pub config: Arc<MqttConfig>,
    pub version: Version,
    /// What connections share: client ids, kept sessions' state.
    pub registry: Registry,
}

/// An error that ends the connection: the MQTT 5 reason code for the DISCONNECT.
#[derive(Debug)]
pub(crate) struct Fatal {
    pub reason: u8,
    pub text: String,
}

impl Fatal {
    pub fn new(reason: u8, text: impl Into<String>) -> Fatal {
        Fatal {
            reason,
            text: text.into(),
        }
    }
}

/// How the serve loop ended.
enum End {
    /// The client sent DISCONNECT; `with_will` for MQTT 5's reason 0x04.
    Disconnected { with_will: bool },
    /// The socket closed or failed.
    Lost(String),
    /// The server ends it (protocol error, keepalive, takeover, management).
    Closed(Fatal),
}

// Deliberately not an async fn: see the comment in the body.
#[allow(clippy::manual_async_fn)]
pub(crate) fn run<S>(
    mut stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    broker: BrokerRef,
    config: Arc<MqttConfig>,
    registry: Registry,
) -> impl std::future::Future<Output = ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // An async block, not an async fn: an async fn keeps its arguments twice in its
    // state (as passed and as moved into its body), here ~130 bytes in the task of
    // every connection.
    async move {
        // Opening and closing run once; boxed, their state is on the heap only while
        // they run, not in the task that every idle connection keeps (it was most of
        // the ~20 KB an idle MQTT client cost). The same goes for SUBSCRIBE and the
        // other rare steps below.
        let Some(mut opened) =
            Box::pin(open(&mut stream, peer, local, broker, config, &registry)).await
        else {
            return;
        };
        let end = opened
            .conn
            .serve(
                &mut stream,
                &mut opened.rbuf,
                &mut opened.out,
                &mut opened.inbox,
            )
            .await;
        Box::pin(close(opened, end, &mut stream, (peer, local), &registry)).await;
    }
}

/// What the serve loop needs of an accepted connection.
struct Opened {
    conn: Connection,
    rbuf: BytesMut,
    out: BytesMut,
    inbox: Inbox,
    will: Option<Box<Will>>,
    /// Dropped when the connection is gone (a takeover waits for it).
    gone_tx: tokio::sync::oneshot::Sender<()>,
}

/// CONNECT to CONNACK: authentication, the client id's claim, the session.
async fn open<S>(
    stream: &mut S,
    peer: SocketAddr,
    local: SocketAddr,
    broker: BrokerRef,
    config: Arc<MqttConfig>,
    registry: &Registry,
) -> Option<Opened>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let negotiated = match connect::accept(stream, peer, &mut rbuf, &broker, &config).await {
        Ok(n) => n,
        Err(Refused::Drop(why)) | Err(Refused::Connack(why)) => {
            tracing::info!(%peer, "MQTT connection refused: {why}");
            return None;
        }
    };
    let Negotiated {
        connect,
        client_id,
        assigned_id,
        user,
        vhost,
        access,
    } = negotiated;
    let version = connect.version;
    let connect = crate::buffers::detach(connect);
    let (outlet, inbox) = warren_core::mailbox::channel();
    let id = broker.register_connection(ConnectionEntry {
        outlet: outlet.clone(),
        user: user.name.clone(),
        vhost: vhost.name.clone(),
    });
    let (gone_tx, gone_rx) = tokio::sync::oneshot::channel();
    registry
        .claim(
            &vhost.name,
            &client_id,
            id,
            outlet.clone(),
            gone_rx,
            connect.clean_start,
        )
        .await;
    let ctx = Ctx {
        broker: broker.clone(),
        vhost,
        access,
        id,
        outlet,
        config,
        version,
        registry: registry.clone(),
    };
    let lifetime = match (version.is_v5(), connect.properties.session_expiry_interval) {
        (true, None | Some(0)) => Lifetime::Connection,
        (true, Some(u32::MAX)) => Lifetime::Kept(None),
        (true, Some(seconds)) => Lifetime::Kept(Some(seconds)),
        (false, _) if connect.clean_start => Lifetime::Connection,
        (false, _) => Lifetime::Kept(None),
    };
    let receive_maximum = connect.properties.receive_maximum.unwrap_or(u16::MAX);
    let prefetch = u32::from(ctx.config.prefetch.min(receive_maximum).max(1));
    let mut session = Session::new(&ctx, client_id.clone(), lifetime, prefetch);
    // Grows with what is written; an idle connection keeps only its CONNACK's worth.
    let mut out = BytesMut::new();
    let opened = session.open(&ctx, connect.clean_start).await;
    let session_present = match opened {
        Ok(present) => present,
        Err(e) => {
            let code = match (version.is_v5(), e.kind) {
                (true, ErrorKind::AccessRefused) => reason::NOT_AUTHORIZED,
                (true, _) => reason::UNSPECIFIED_ERROR,
                (false, ErrorKind::AccessRefused) => mqtt_codec::connack_v3::NOT_AUTHORIZED,
                (false, _) => mqtt_codec::connack_v3::SERVER_UNAVAILABLE,
            };
            encode(
                &mut out,
                &Packet::ConnAck(ConnAck {
                    session_present: false,
                    code,
                    properties: Properties::default(),
                }),
                version,
            );
            let _ = stream.write_all(&out).await;
            tracing::info!(connection = id, %peer, "MQTT session refused: {}", e.message);
            finish(&ctx, registry, &client_id, &mut session).await;
            drop(gone_tx);
            return None;
        }
    };
    let mut connack = Properties::default();
    if version.is_v5() {
        if assigned_id {
            connack.assigned_client_identifier = Some(client_id.clone());
        }
        connack.topic_alias_maximum = Some(TOPIC_ALIAS_MAXIMUM);
        connack.retain_available = Some(1);
        connack.shared_subscription_available = Some(1);
        connack.subscription_identifier_available = Some(1);
        connack.wildcard_subscription_available = Some(1);
        // No packet can be larger than the largest remaining length.
        let max = ctx
            .config
            .max_packet_size
            .min(mqtt_codec::wire::VARINT_MAX as usize);
        connack.maximum_packet_size = Some(max as u32);
    }
    encode(
        &mut out,
        &Packet::ConnAck(ConnAck {
            session_present,
            code: 0,
            properties: connack,
        }),
        version,
    );
    // RabbitMQ's wording, so log searches written for it still match.
    let name = warren_core::registry::ConnectionInfo::name_for(peer, local);
    tracing::info!(
        connection = id,
        %peer,
        %local,
        client_id = %client_id,
        user = %ctx.access.user(),
        vhost = %ctx.vhost.name,
        ?version,
        session_present,
        "accepting MQTT connection ({name}, client id: {client_id})"
    );
    let mut conn = Connection {
        ctx,
        session,
        inbound: None,
        outbound: Outbound::new(version, connect.properties.maximum_packet_size),
        aliases: None,
        keep_alive: connect.keep_alive,
        last_read: Instant::now(),
        gate: AlarmGate::default(),
        released: false,
        behind: None,
    };
    // A resumed session's no-local subscriptions need its publishes marked.
    conn.refresh_publisher_mark();
    // A resumed session goes on with the QoS 2 exchanges its last connection left
    // half done (even one with no subscriptions, which CONNACK calls absent, as
    // RabbitMQ does): the client's publishes it has not released, and the
    // deliveries it did not complete, whose PUBREL goes again right after CONNACK.
    // A clean start begins with none.
    let unreleased = registry.take_unreleased(&conn.ctx.vhost.name, &client_id);
    if !connect.clean_start {
        conn.outbound
            .resume_released(&unreleased.released, &mut out);
        if !unreleased.received.is_empty() {
            conn.inbound_mut().resume_unreleased(unreleased.received);
        }
    }
    if version.is_v5() {
        let maximum = connect.properties.topic_alias_maximum.unwrap_or(0);
        conn.outbound.allow_topic_aliases(maximum);
    }
    Some(Opened {
        conn,
        rbuf,
        out,
        inbox,
        will: connect.will.map(Box::new),
        gone_tx,
    })
}

/// The end of a connection: the server's DISCONNECT (MQTT 5), the will, the
/// session's cleanup.
async fn close<S>(
    opened: Opened,
    end: End,
    stream: &mut S,
    (peer, local): (SocketAddr, SocketAddr),
    registry: &Registry,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Opened {
        mut conn,
        mut out,
        will,
        gone_tx,
        ..
    } = opened;
    // Not kept for the connection's lifetime: worked out again for the last lines.
    let client_id = conn.session.client_id.to_string();
    let lifetime = conn.session.lifetime;
    let name = warren_core::registry::ConnectionInfo::name_for(peer, local);
    let version = conn.ctx.version;
    let id = conn.ctx.id;
    let (publish_will, why) = match end {
        End::Disconnected { with_will } => (with_will, "client disconnected".to_string()),
        End::Lost(why) => (true, why),
        End::Closed(fatal) => {
            if version.is_v5() {
                encode(
                    &mut out,
                    &Packet::Disconnect(Disconnect {
                        reason: fatal.reason,
                        properties: Properties {
                            reason_string: Some(fatal.text.clone()),
                            ..Properties::default()
                        },
                    }),
                    version,
                );
            }
            (true, fatal.text)
        }
    };
    if !out.is_empty() {
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&out)).await;
    }
    let _ = stream.shutdown().await;
    let will = will.map(|w| *w).filter(|_| publish_will);
    let will_delay = will
        .as_ref()
        .map_or(Duration::ZERO, |w| crate::will_delay::delay(w, lifetime));
    if let Some(will) = will.clone().filter(|_| will_delay.is_zero()) {
        conn.publish_will(will).await;
    }
    // A delayed will is registered before the client id is released, so a
    // connection that takes the id from here on finds and cancels it; the
    // connection's publisher is handed to it once the session is closed.
    let delayed = will.filter(|_| !will_delay.is_zero()).map(|will| {
        let (hand_over, connection) = tokio::sync::oneshot::channel::<Connection>();
        let (wills, vhost, client) = (
            registry.clone(),
            conn.ctx.vhost.name.clone(),
            client_id.clone(),
        );
        let (now, mut hurried) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(will_delay) => {}
                // A new session took the client id: this one is over.
                Ok(()) = &mut hurried => {}
            }
            if let Ok(mut conn) = connection.await {
                conn.publish_will(will).await;
            }
            wills.will_done(&vhost, &client, id);
        });
        let waiting = crate::registry::DelayedWill {
            connection: id,
            task: task.abort_handle(),
            now,
        };
        registry.will_delayed(&conn.ctx.vhost.name, &client_id, waiting);
        hand_over
    });
    if let Lifetime::Kept(seconds) = conn.session.lifetime {
        // Kept before the client id is released: a reconnect waits for that.
        let unreleased = crate::registry::PacketIds {
            received: conn
                .inbound
                .as_mut()
                .map(|inbound| inbound.take_unreleased())
                .unwrap_or_default(),
            released: conn.outbound.take_released(),
        };
        let expiry = seconds.map(|s| Duration::from_secs(u64::from(s)));
        registry.keep_unreleased(&conn.ctx.vhost.name, &client_id, unreleased, expiry);
    }
    finish(&conn.ctx, registry, &client_id, &mut conn.session).await;
    tracing::info!(connection = id, %peer, reason = %why, "closing MQTT connection ({name}): {why}");
    if let Some(hand_over) = delayed {
        let _ = hand_over.send(conn);
    }
    drop(gone_tx);
}

/// Everything a connection leaves behind goes: consumers, exclusive queues, its
/// registration.
async fn finish(ctx: &Ctx, registry: &Registry, client_id: &str, session: &mut Session) {
    session.close(ctx).await;
    ctx.vhost.connection_closed(ctx.id);
    registry.release(&ctx.vhost.name, client_id, ctx.id);
    ctx.broker.unregister_connection(ctx.id);
}

struct Connection {
    ctx: Ctx,
    session: Session,
    /// Made by the client's first PUBLISH (or what needs its state): a subscriber
    /// that never publishes does not carry a publisher's ~500 bytes.
    inbound: Option<Box<Inbound>>,
    outbound: Outbound,
    /// The client's topic aliases (MQTT 5), from the first it sets: few clients
    /// set any, and an empty map is 48 bytes in every connection.
    #[allow(clippy::box_collection)]
    aliases: Option<Box<std::collections::HashMap<u16, String>>>,
    /// The client's keepalive in seconds, as CONNECT has it (zero: none); the
    /// connection waits 1.5 times that (`keep_alive_wait`). Two bytes, not a
    /// Duration's sixteen, in every connection.
    keep_alive: u16,
    last_read: Instant,
    /// Publishes wait while a resource alarm is on.
    gate: AlarmGate,
    /// The alarm cleared with a PUBLISH waiting: handle the read buffer again.
    released: bool,
    /// A queue (or the store) this client's publishes outran: nothing is read
    /// until it has caught up (`warren_core::back_pressure`).
    behind: Option<Behind>,
}

impl Connection {
    /// Returns an async block, not an async fn's future, for the reason `run` does.
    #[allow(clippy::manual_async_fn)]
    fn serve<'a, S: AsyncRead + AsyncWrite + Unpin>(
        &'a mut self,
        stream: &'a mut S,
        rbuf: &'a mut BytesMut,
        out: &'a mut BytesMut,
        inbox: &'a mut Inbox,
    ) -> impl std::future::Future<Output = End> + 'a {
        async move {
            // Each batch of events is taken whole, so an idle connection holds no buffer.
            let mut events = Vec::new();
            let mut last_read = 0;
            // The one timer (keepalive, or polling a queue we are behind): on the heap,
            // made when first needed and moved to each new deadline. A timer is ~110
            // bytes, which a connection without keepalive does not need at all.
            let mut timer: Option<Pin<Box<Sleep>>> = None;
            // Packets the client sent right behind CONNECT. handle_input is boxed (one
            // allocation per read): the packets it holds while it awaits a SUBSCRIBE's
            // queue are several KB, which the task of every idle connection would carry.
            if let Err(end) = Box::pin(self.handle_input(rbuf, out)).await {
                return end;
            }
            loop {
                if !out.is_empty() {
                    if let Err(e) = stream.write_all(out).await {
                        return End::Lost(format!("write failed: {e}"));
                    }
                    out.clear();
                }
                let deadline = self.last_read + self.keep_alive_wait();
                let wake = if self.behind.is_some() {
                    Some(Instant::now() + back_pressure::POLL)
                } else {
                    (self.keep_alive != 0 && !self.gate.held).then_some(deadline)
                };
                set_timer(&mut timer, wake);
                crate::buffers::before_read(rbuf, last_read);
                tokio::select! {
                    read = stream.read_buf(rbuf), if !self.gate.held && self.behind.is_none() => match read {
                        Ok(0) => return End::Lost("client closed the socket".into()),
                        Err(e) => return End::Lost(format!("read failed: {e}")),
                        Ok(n) => {
                            last_read = n;
                            self.last_read = Instant::now();
                            if let Err(end) = Box::pin(self.handle_input(rbuf, out)).await {
                                return end;
                            }
                        }
                    },
                    n = inbox.recv_many(&mut events, 64) => {
                        if n == 0 {
                            return End::Closed(Fatal::new(reason::SERVER_SHUTTING_DOWN, "broker stopped"));
                        }
                        for event in std::mem::take(&mut events) {
                            if let Err(fatal) = self.handle_event(event, out) {
                                return End::Closed(fatal);
                            }
                        }
                        let version = self.ctx.version;
                        if let Some(inbound) = self.inbound.as_mut() {
                            inbound.write_acks(out, version);
                        }
                        if std::mem::take(&mut self.released) {
                            // The client's PINGREQs waited behind the PUBLISH too.
                            self.last_read = Instant::now();
                            if let Err(end) = Box::pin(self.handle_input(rbuf, out)).await {
                                return end;
                            }
                        }
                    }
                    // One timer, not two. Paused, it polls what the client waits for;
                    // otherwise (and not while blocked: the client's packets wait
                    // unread) it is the keepalive deadline.
                    _ = expiry(&mut timer), if wake.is_some() => {
                        if self.behind.is_none() {
                            return End::Closed(Fatal::new(reason::KEEP_ALIVE_TIMEOUT, "keepalive timeout"));
                        }
                        if !self.behind.as_ref().is_some_and(Behind::still_behind) {
                            self.behind = None;
                            // The client's PINGREQs waited unread too.
                            self.last_read = Instant::now();
                        }
                    }
                }
            }
        }
    }

    /// How long the client may be silent: 1.5 times its keepalive (spec 3.1.2.10).
    fn keep_alive_wait(&self) -> Duration {
        Duration::from_millis(u64::from(self.keep_alive) * 1500)
    }

    /// MQTT 5 topic aliases from the client (spec 3.3.2.3.4): a PUBLISH with a
    /// topic and an alias sets the alias; one with an empty topic uses it.
    fn resolve_alias(&mut self, p: &mut Publish) -> Result<(), Fatal> {
        let Some(alias) = p.properties.topic_alias.take() else {
            return Ok(());
        };
        if alias > TOPIC_ALIAS_MAXIMUM {
            return Err(Fatal::new(
                reason::TOPIC_ALIAS_INVALID,
                format!("topic alias {alias} is over the maximum of {TOPIC_ALIAS_MAXIMUM}"),
            ));
        }
        if p.topic.is_empty() {
            match self.aliases.as_ref().and_then(|a| a.get(&alias)) {
                Some(topic) => p.topic = topic.clone(),
                None => {
                    return Err(Fatal::new(
                        reason::PROTOCOL_ERROR,
                        format!("topic alias {alias} was never set"),
                    ))
                }
            }
        } else {
            self.aliases
                .get_or_insert_with(Default::default)
                .insert(alias, p.topic.clone());
        }
        Ok(())
    }

    fn inbound_mut(&mut self) -> &mut Inbound {
        inbound_of(&mut self.inbound, &self.ctx)
    }

    /// Handles every complete packet in the read buffer, then hands the publishes to
    /// their queues.
    async fn handle_input(&mut self, rbuf: &mut BytesMut, out: &mut BytesMut) -> Result<(), End> {
        let version = self.ctx.version;
        let max = self.ctx.config.max_packet_size;
        let result = loop {
            if self.gate.holds(rbuf) {
                break Ok(());
            }
            let packet = match decode(rbuf, version, max) {
                Ok(Some(p)) => p,
                Ok(None) => break Ok(()),
                Err(e) => {
                    rbuf.clear();
                    break Err(End::Closed(Fatal::new(e.reason_code(), e.to_string())));
                }
            };
            match self.handle_packet(packet, out).await {
                Ok(None) => {}
                Ok(Some(end)) => break Err(end),
                Err(fatal) => break Err(End::Closed(fatal)),
            }
        };
        if let Some(inbound) = self.inbound.as_mut() {
            if let Some(behind) = inbound.flush(&self.ctx) {
                self.behind = Some(behind);
            }
            inbound.write_acks(out, version);
        }
        result
    }

    async fn handle_packet(
        &mut self,
        packet: Packet,
        out: &mut BytesMut,
    ) -> Result<Option<End>, Fatal> {
        let version = self.ctx.version;
        match packet {
            Packet::Publish(p) => {
                let mut p = p;
                self.resolve_alias(&mut p)?;
                // Spec 3.3.2.3.2: a payload said to be UTF-8 must be.
                if version.is_v5()
                    && p.properties.payload_format_indicator == Some(1)
                    && std::str::from_utf8(&p.payload).is_err()
                {
                    return Err(Fatal::new(
                        reason::PAYLOAD_FORMAT_INVALID,
                        "the payload format indicator says UTF-8 but the payload is not",
                    ));
                }
                let retain = p.retain.then(|| p.topic.clone());
                let inbound = inbound_of(&mut self.inbound, &self.ctx);
                let routed = inbound.publish(&self.ctx, p)?;
                if let (Some(topic), Some(message)) = (retain, routed) {
                    Box::pin(crate::retained::store(&self.ctx, &topic, &message)).await;
                }
            }
            Packet::PubAck(a) => self.outbound.acked(&self.session, a.packet_id),
            Packet::PubRec(a) => self.outbound.received(&self.session, a.packet_id, out),
            Packet::PubComp(a) => self.outbound.completed(a.packet_id),
            Packet::PubRel(a) => {
                let known = self.inbound_mut().released(a.packet_id);
                let mut comp = Ack::new(a.packet_id);
                if !known {
                    comp.reason = reason::PACKET_IDENTIFIER_NOT_FOUND;
                }
                encode(out, &Packet::PubComp(comp), version);
            }
            Packet::Subscribe(s) => Box::pin(self.subscribe(s, out)).await?,
            Packet::Unsubscribe(u) => Box::pin(self.unsubscribe(u, out)).await?,
            Packet::PingReq => encode(out, &Packet::PingResp, version),
            Packet::Disconnect(d) => {
                return Ok(Some(End::Disconnected {
                    with_will: d.reason == reason::DISCONNECT_WITH_WILL,
                }))
            }
            Packet::Connect(_) => return Err(Fatal::new(reason::PROTOCOL_ERROR, "second CONNECT")),
            Packet::Auth(_) => {
                return Err(Fatal::new(
                    reason::BAD_AUTHENTICATION_METHOD,
                    "no extended authentication",
                ))
            }
            other => {
                return Err(Fatal::new(
                    reason::PROTOCOL_ERROR,
                    format!("{} is a server's packet", other.name()),
                ))
            }
        }
        Ok(None)
    }

    async fn subscribe(&mut self, s: Subscribe, out: &mut BytesMut) -> Result<(), Fatal> {
        let v5 = self.ctx.version.is_v5();
        // Spec 3.8.2.1.2: at most one, and not 0.
        let identifier = match s.properties.subscription_identifiers[..] {
            [] => None,
            [0] | [_, _, ..] => {
                return Err(Fatal::new(
                    reason::PROTOCOL_ERROR,
                    "a SUBSCRIBE carries at most one subscription identifier, not 0",
                ))
            }
            [id] => Some(id),
        };
        let failure = |code: u8| if v5 { code } else { 0x80 };
        let mut codes = Vec::with_capacity(s.filters.len());
        let mut retained = Vec::new();
        for (filter, options) in &s.filters {
            if let Some((group, inner)) = topic::shared(filter) {
                if !topic::valid_filter(inner) || mapping_len(filter) > 200 {
                    codes.push(failure(reason::TOPIC_FILTER_INVALID));
                    continue;
                }
                if options.no_local {
                    // Spec 3.8.3.1 (MQTT-3.8.3-4).
                    return Err(Fatal::new(
                        reason::PROTOCOL_ERROR,
                        "no-local is not allowed on a shared subscription",
                    ));
                }
                let shared_options = crate::subscription_options::Options {
                    no_local: false,
                    retain_as_published: options.retain_as_published,
                    identifier,
                };
                let joined = self
                    .session
                    .subscribe_shared(
                        &self.ctx,
                        filter,
                        (group, inner),
                        options.qos,
                        shared_options,
                    )
                    .await;
                codes.push(match joined {
                    Ok(qos) => qos as u8,
                    Err(e) => {
                        tracing::info!(
                            connection = self.ctx.id,
                            "MQTT shared subscribe refused: {}",
                            e.message
                        );
                        failure(match e.kind {
                            ErrorKind::AccessRefused => reason::NOT_AUTHORIZED,
                            _ => reason::UNSPECIFIED_ERROR,
                        })
                    }
                });
                // Spec 4.8.2: no retained messages for a shared subscription.
                continue;
            }
            if !topic::valid_filter(filter) || mapping_len(filter) > 255 {
                codes.push(failure(reason::TOPIC_FILTER_INVALID));
                continue;
            }
            let existed = self.session.subscriptions.contains_key(filter);
            let delivery_options = crate::subscription_options::Options {
                no_local: options.no_local,
                retain_as_published: options.retain_as_published,
                identifier,
            };
            let subscribed = self
                .session
                .subscribe(&self.ctx, filter, options.qos, delivery_options)
                .await;
            match subscribed {
                Ok(qos) => {
                    codes.push(qos as u8);
                    let wanted = match options.retain_handling {
                        0 => true,
                        1 => !existed,
                        _ => false,
                    };
                    if wanted {
                        retained.push((filter.clone(), qos));
                    }
                }
                Err(e) => {
                    tracing::info!(
                        connection = self.ctx.id,
                        "MQTT subscribe refused: {}",
                        e.message
                    );
                    codes.push(failure(match e.kind {
                        ErrorKind::AccessRefused => reason::NOT_AUTHORIZED,
                        _ => reason::UNSPECIFIED_ERROR,
                    }));
                }
            }
        }
        self.refresh_publisher_mark();
        encode(
            out,
            &Packet::SubAck(SubAck {
                packet_id: s.packet_id,
                properties: Properties::default(),
                codes,
            }),
            self.ctx.version,
        );
        // After the SUBACK (which is written before any delivery is taken).
        for (filter, qos) in retained {
            crate::retained::send_on_subscribe(&self.ctx, &self.session, &filter, qos);
        }
        Ok(())
    }

    /// Publishes name their client while it has no-local subscriptions.
    fn refresh_publisher_mark(&mut self) {
        let mark = crate::subscription_options::marks_publisher(&self.session)
            .then(|| self.session.client_id.to_string());
        if mark.is_some() || self.inbound.is_some() {
            self.inbound_mut().mark_publisher = mark;
        }
    }

    async fn unsubscribe(&mut self, u: Unsubscribe, out: &mut BytesMut) -> Result<(), Fatal> {
        let mut codes = Vec::with_capacity(u.filters.len());
        for filter in &u.filters {
            let left = if topic::shared(filter).is_some() {
                self.session.unsubscribe_shared(&self.ctx, filter).await
            } else {
                self.session.unsubscribe(&self.ctx, filter).await
            };
            codes.push(match left {
                Ok(true) => reason::SUCCESS,
                Ok(false) => reason::NO_SUBSCRIPTION_EXISTED,
                Err(e) if e.kind == ErrorKind::AccessRefused => reason::NOT_AUTHORIZED,
                Err(_) => reason::UNSPECIFIED_ERROR,
            });
        }
        self.refresh_publisher_mark();
        encode(
            out,
            &Packet::UnsubAck(UnsubAck {
                packet_id: u.packet_id,
                properties: Properties::default(),
                codes,
            }),
            self.ctx.version,
        );
        Ok(())
    }

    fn handle_event(&mut self, event: ConnEvent, out: &mut BytesMut) -> Result<(), Fatal> {
        match event {
            ConnEvent::Deliveries(ds) => {
                for d in ds {
                    self.outbound.deliver(&self.session, d, out);
                }
            }
            ConnEvent::Confirms(cs) => {
                let inbound = self.inbound_mut();
                for c in cs {
                    inbound.confirmed(c.seq, c.accepted);
                }
            }
            ConnEvent::ConsumerCancelled { .. } => {
                return Err(Fatal::new(
                    reason::ADMINISTRATIVE_ACTION,
                    "a queue of this session was deleted",
                ))
            }
            ConnEvent::Close { code, text } => {
                let code = if code == TAKEN_OVER {
                    reason::SESSION_TAKEN_OVER
                } else {
                    reason::ADMINISTRATIVE_ACTION
                };
                return Err(Fatal::new(code, text));
            }
            ConnEvent::Alarm(reason) => self.released |= self.gate.set(reason),
        }
        Ok(())
    }

    /// Publishes the last will, as the client would have.
    async fn publish_will(&mut self, will: Will) {
        let publish = Publish {
            dup: false,
            qos: will.qos,
            retain: will.retain,
            topic: will.topic,
            packet_id: (will.qos != QoS::AtMostOnce).then_some(1),
            properties: will.properties,
            payload: will.payload,
        };
        let inbound = inbound_of(&mut self.inbound, &self.ctx);
        if let Err(e) = inbound.publish(&self.ctx, publish) {
            tracing::info!(
                connection = self.ctx.id,
                "last will not published: {}",
                e.text
            );
        }
        // The connection is gone: nothing to pause.
        let _ = inbound.flush(&self.ctx);
    }
}

/// Points `timer` at `wake`: made on the first deadline, moved after that (a later
/// deadline, the usual keepalive case, is moved without the timer driver's lock),
/// let go when there is none.
fn set_timer(timer: &mut Option<Pin<Box<Sleep>>>, wake: Option<Instant>) {
    match (timer.as_mut(), wake) {
        (_, None) => *timer = None,
        (None, Some(at)) => *timer = Some(Box::pin(tokio::time::sleep_until(at))),
        (Some(t), Some(at)) => {
            if t.deadline() != at {
                t.as_mut().reset(at);
            }
        }
    }
}

/// Completes when `timer` expires; never without one.
async fn expiry(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(t) => t.as_mut().await,
        None => std::future::pending().await,
    }
}

/// A connection's publisher state, made when first needed.
fn inbound_of<'a>(slot: &'a mut Option<Box<Inbound>>, ctx: &Ctx) -> &'a mut Inbound {
    slot.get_or_insert_with(|| Box::new(Inbound::new(ctx)))
}

/// The length of a filter as a binding key (`/` and `.` are one byte each).
fn mapping_len(filter: &str) -> usize {
    filter.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `f` returns (the future an async function makes).
    fn output_size<F, A, B, C, D, E, G, R>(_: &F) -> usize
    where
        F: Fn(A, B, C, D, E, G) -> R,
    {
        std::mem::size_of::<R>()
    }

    /// Every connection's task holds this future for as long as the client is
    /// connected, in tokio's allocation rounded up to 128 bytes: 10,000 idle
    /// clients hold 10,000 of them. It was ~1,380 bytes; ~790 in a release build,
    /// ~850 in a test build. A timer, a map or a buffer put back in it inline
    /// shows here.
    #[test]
    fn the_connection_future_stays_small() {
        let size = output_size(&run::<tokio::net::TcpStream>);
        assert!(size <= 880, "the connection future is {size} bytes");
    }
}
