//! The connection handshake: protocol header, start/start-ok (authentication),
//! tune/tune-ok, open/open-ok. Runs before the connection's main loop, reading frames
//! one by one; bytes the client pipelined after `connection.open` stay in the buffer.

use crate::error::AmqpError;
use crate::server_properties::server_properties;
use crate::transport::Transport;
use crate::AmqpConfig;
use amqp_codec::{
    decode_frame, decode_table, encode_method, ConnectionClose, ConnectionOpenOk, ConnectionStart,
    ConnectionTune, FieldTable, FieldValue, Frame, Method, FRAME_MIN_SIZE, PROTOCOL_HEADER,
};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::time::Duration;
use warren_core::{Access, BrokerRef, User, VHostRef};

/// What the client told us and what was agreed.
pub struct Negotiated {
    pub user: User,
    pub vhost: VHostRef,
    pub access: Access,
    pub frame_max: u32,
    pub channel_max: u16,
    pub heartbeat: u16,
    pub client_properties: FieldTable,
    pub capabilities: ClientCapabilities,
    /// The SASL mechanism the client logged in with (`PLAIN`, `AMQPLAIN`).
    pub mechanism: String,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ClientCapabilities {
    pub consumer_cancel_notify: bool,
    pub authentication_failure_close: bool,
    pub connection_blocked: bool,
}

impl ClientCapabilities {
    fn from_client_properties(props: &FieldTable) -> ClientCapabilities {
        let Some(FieldValue::Table(caps)) = props.get("capabilities") else {
            return ClientCapabilities::default();
        };
        let flag = |name: &str| caps.get(name).and_then(|v| v.as_bool()).unwrap_or(false);
        ClientCapabilities {
            consumer_cancel_notify: flag("consumer_cancel_notify"),
            authentication_failure_close: flag("authentication_failure_close"),
            connection_blocked: flag("connection.blocked"),
        }
    }
}

/// How the handshake ended without a connection.
pub enum HandshakeEnd {
    /// Close the socket now (bad header, silent client, refused login without the
    /// `authentication_failure_close` capability).
    Drop,
    /// Send `connection.close` with this error, wait briefly for close-ok, then drop.
    Close(AmqpError),
}

impl From<AmqpError> for HandshakeEnd {
    fn from(e: AmqpError) -> Self {
        HandshakeEnd::Close(e)
    }
}

pub async fn handshake(
    stream: &mut Transport,
    peer: SocketAddr,
    rbuf: &mut BytesMut,
    broker: &BrokerRef,
    config: &AmqpConfig,
) -> Result<Negotiated, HandshakeEnd> {
    let deadline = tokio::time::Instant::now() + config.handshake_timeout;
    read_protocol_header(stream, rbuf, deadline).await?;

    // A verified client certificate's subject CN is what EXTERNAL logs in as.
    let certificate_name = stream.peer_certificate().map(crate::cert_name::common_name);
    let start = Method::ConnectionStart(ConnectionStart {
        version_major: 0,
        version_minor: 9,
        server_properties: server_properties(),
        mechanisms: Bytes::from_static(if certificate_name.is_some() {
            &b"PLAIN AMQPLAIN EXTERNAL"[..]
        } else {
            &b"PLAIN AMQPLAIN"[..]
        }),
        locales: Bytes::from_static(b"en_US"),
    });
    send(stream, &start).await?;

    let start_ok = match read_method(stream, rbuf, deadline, FRAME_MIN_SIZE).await? {
        Method::ConnectionStartOk(m) => m,
        other => return Err(unexpected(&other).into()),
    };
    let capabilities = ClientCapabilities::from_client_properties(&start_ok.client_properties);
    let refuse = |message: String| {
        tracing::warn!(%peer, "{message}");
        if capabilities.authentication_failure_close {
            HandshakeEnd::Close(AmqpError::connection(403, message))
        } else {
            HandshakeEnd::Drop
        }
    };
    let mechanism = start_ok.mechanism.as_str();
    let mechanism_name = mechanism.to_string();
    let refused = || {
        format!(
            "Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."
        )
    };
    let user = if mechanism == "EXTERNAL" {
        // Offered only with a verified certificate; the certificate is the proof.
        let name = match &certificate_name {
            Some(Some(name)) => name,
            Some(None) => {
                tracing::warn!(%peer, "EXTERNAL login: the client certificate has no subject CN");
                return Err(refuse(refused()));
            }
            None => {
                tracing::warn!(%peer, "EXTERNAL login without a verified client certificate");
                return Err(refuse(refused()));
            }
        };
        match broker.authenticate_external(name) {
            Some(user) => user,
            None => {
                tracing::warn!(%peer, "EXTERNAL login: no user '{name}' (the client certificate's CN)");
                return Err(refuse(format!(
                    "Login was refused using authentication mechanism EXTERNAL: no user '{name}' (the client certificate's CN)"
                )));
            }
        }
    } else {
        let Some((username, password)) = credentials(mechanism, &start_ok.response) else {
            return Err(refuse(refused()));
        };
        match broker.authenticate(&username, &password) {
            Some(user) => user,
            None => return Err(refuse(refused())),
        }
    };
    if user.loopback_only && !peer.ip().to_canonical().is_loopback() {
        // RabbitMQ logs why and tells the client only that the login was refused.
        tracing::warn!(%peer, "User '{}' can only connect via localhost", user.name);
        return Err(refuse(refused()));
    }

    let tune = Method::ConnectionTune(ConnectionTune {
        channel_max: config.channel_max,
        frame_max: config.frame_max,
        heartbeat: config.heartbeat,
    });
    send(stream, &tune).await?;
    let tune_ok = match read_method(stream, rbuf, deadline, FRAME_MIN_SIZE).await? {
        Method::ConnectionTuneOk(m) => m,
        other => return Err(unexpected(&other).into()),
    };
    let frame_max = if tune_ok.frame_max == 0 {
        config.frame_max
    } else {
        tune_ok.frame_max
    };
    if frame_max < FRAME_MIN_SIZE {
        return Err(AmqpError::connection(
            530,
            format!("frame_max={frame_max} < {FRAME_MIN_SIZE} min size"),
        )
        .into());
    }
    if frame_max > config.frame_max {
        return Err(AmqpError::connection(
            530,
            format!("frame_max={frame_max} > {} max size", config.frame_max),
        )
        .into());
    }
    let channel_max = match tune_ok.channel_max {
        0 => config.channel_max,
        n => n.min(config.channel_max),
    };

    let open = match read_method(stream, rbuf, deadline, frame_max).await? {
        Method::ConnectionOpen(m) => m,
        other => return Err(unexpected(&other).into()),
    };
    let vhost_name = open.virtual_host.as_str();
    let Some(vhost) = broker.vhost(vhost_name) else {
        return Err(
            AmqpError::connection(530, format!("vhost {vhost_name} not found"))
                .on_ids(10, 40)
                .into(),
        );
    };
    let access = match broker.access(&user.name, vhost_name) {
        Ok(access) => access,
        Err(e) => {
            return Err(AmqpError::connection(e.kind.reply_code(), e.message)
                .on_ids(10, 40)
                .into())
        }
    };
    send(stream, &Method::ConnectionOpenOk(ConnectionOpenOk {})).await?;

    Ok(Negotiated {
        user,
        vhost,
        access,
        frame_max,
        channel_max,
        heartbeat: tune_ok.heartbeat,
        client_properties: start_ok.client_properties,
        capabilities,
        mechanism: mechanism_name,
    })
}

/// Username and password from a PLAIN (`\0user\0pass`) or AMQPLAIN (a table without
/// its length prefix, keys LOGIN and PASSWORD) response.
fn credentials(mechanism: &str, response: &[u8]) -> Option<(String, String)> {
    match mechanism {
        "PLAIN" => {
            let mut parts = response.split(|b| *b == 0);
            let _authzid = parts.next()?;
            let user = parts.next()?;
            let pass = parts.next()?;
            Some((
                String::from_utf8(user.to_vec()).ok()?,
                String::from_utf8(pass.to_vec()).ok()?,
            ))
        }
        "AMQPLAIN" => {
            let mut encoded = Vec::with_capacity(response.len() + 4);
            encoded.extend_from_slice(&(response.len() as u32).to_be_bytes());
            encoded.extend_from_slice(response);
            let table = decode_table(&encoded).ok()?;
            let text = |key: &str| match table.get(key) {
                Some(FieldValue::LongStr(b)) => String::from_utf8(b.to_vec()).ok(),
                _ => None,
            };
            Some((text("LOGIN")?, text("PASSWORD")?))
        }
        _ => None,
    }
}

fn unexpected(method: &Method) -> AmqpError {
    AmqpError::connection(
        503,
        format!("unexpected method {} during the handshake", method.name()),
    )
    .on(method)
}

async fn send(stream: &mut Transport, method: &Method) -> Result<(), HandshakeEnd> {
    let mut buf = BytesMut::with_capacity(512);
    encode_method(&mut buf, 0, method);
    stream.write_all(&buf).await.map_err(|_| HandshakeEnd::Drop)
}

async fn read_protocol_header(
    stream: &mut Transport,
    rbuf: &mut BytesMut,
    deadline: tokio::time::Instant,
) -> Result<(), HandshakeEnd> {
    while rbuf.len() < PROTOCOL_HEADER.len() {
        read_more(stream, rbuf, deadline).await?;
        // A header that is already wrong needs no more bytes to be refused.
        let n = rbuf.len().min(PROTOCOL_HEADER.len());
        if rbuf[..n] != PROTOCOL_HEADER[..n] {
            break;
        }
    }
    if rbuf.len() < PROTOCOL_HEADER.len() || rbuf[..8] != PROTOCOL_HEADER[..] {
        // The spec: answer with the protocol version we speak, then close.
        let _ = stream.write_all(PROTOCOL_HEADER).await;
        return Err(HandshakeEnd::Drop);
    }
    let _ = rbuf.split_to(8);
    Ok(())
}

async fn read_more(
    stream: &mut Transport,
    rbuf: &mut BytesMut,
    deadline: tokio::time::Instant,
) -> Result<(), HandshakeEnd> {
    rbuf.reserve(4096);
    match tokio::time::timeout_at(deadline, stream.read_buf(rbuf)).await {
        Ok(Ok(n)) if n > 0 => Ok(()),
        Ok(_) => Err(HandshakeEnd::Drop),
        Err(_) => {
            tracing::info!("closing connection: handshake timeout");
            Err(HandshakeEnd::Drop)
        }
    }
}

/// Reads the next method on channel 0 (heartbeats are skipped).
async fn read_method(
    stream: &mut Transport,
    rbuf: &mut BytesMut,
    deadline: tokio::time::Instant,
    frame_max: u32,
) -> Result<Method, HandshakeEnd> {
    loop {
        match decode_frame(rbuf, frame_max) {
            Ok(Some(Frame::Method { channel: 0, method })) => return Ok(method),
            Ok(Some(Frame::Heartbeat { .. })) => continue,
            Ok(Some(_)) => {
                return Err(
                    AmqpError::connection(505, "expected a method frame on channel 0").into(),
                )
            }
            Ok(None) => read_more(stream, rbuf, deadline).await?,
            Err(e) => return Err(AmqpError::from(e).into()),
        }
    }
}

/// Sends `connection.close` for a failed handshake and waits briefly for close-ok.
pub async fn close_after_failed_handshake(stream: &mut Transport, error: AmqpError) {
    let close = Method::ConnectionClose(ConnectionClose {
        reply_code: error.code,
        reply_text: error.text.clone().into(),
        class_id: error.class_id,
        method_id: error.method_id,
    });
    let mut buf = BytesMut::new();
    encode_method(&mut buf, 0, &close);
    if stream.write_all(&buf).await.is_err() {
        return;
    }
    let mut sink = BytesMut::with_capacity(512);
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read_buf(&mut sink)).await;
}
