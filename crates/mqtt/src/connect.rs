//! CONNECT: the first packet, its checks and the login (spec 3.1 and 3.2).
//!
//! The user name is `vhost:user` or a plain user in the default vhost, as in
//! RabbitMQ; a CONNECT without one logs in with the anonymous credentials when the
//! configuration has them. Every refusal is a CONNACK with the version's code
//! (3.x return codes, 5.0 reason codes), then the socket closes.

use crate::MqttConfig;
use bytes::BytesMut;
use mqtt_codec::{
    connack_v3, decode, encode, reason, ConnAck, Connect, Packet, Properties, Version,
};
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use warren_core::{Access, BrokerRef, User, VHostRef};

/// A client that logged in.
pub(crate) struct Negotiated {
    pub connect: Connect,
    pub client_id: String,
    /// The server chose the client id (MQTT 5 tells the client which).
    pub assigned_id: bool,
    pub user: User,
    pub vhost: VHostRef,
    pub access: Access,
}

/// Why a connection ended before it was accepted.
pub(crate) enum Refused {
    /// Nothing sensible to answer (no CONNECT, a broken one, a closed socket).
    Drop(String),
    /// Answered with this CONNACK code.
    Connack(String),
}

/// Reads CONNECT (within the connect timeout) and logs the client in.
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
    rbuf: &mut BytesMut,
    broker: &BrokerRef,
    config: &MqttConfig,
) -> Result<Negotiated, Refused> {
    let read = async {
        loop {
            match decode(
                rbuf,
                Version::V3_1_1,
                config.max_packet_size_unauthenticated,
            ) {
                Ok(Some(packet)) => return Ok(packet),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
            match stream.read_buf(rbuf).await {
                Ok(0) | Err(_) => {
                    return Err(mqtt_codec::DecodeError::Malformed(
                        "socket closed before CONNECT",
                    ))
                }
                Ok(_) => {}
            }
        }
    };
    let packet = match tokio::time::timeout(config.connect_timeout, read).await {
        Err(_) => return Err(Refused::Drop("no CONNECT in time".into())),
        Ok(Err(mqtt_codec::DecodeError::UnsupportedVersion)) => {
            // Answered in the 3.1.1 layout, which every version reads (spec 3.1.2.2).
            refuse(
                stream,
                Version::V3_1_1,
                connack_v3::UNACCEPTABLE_PROTOCOL_VERSION,
            )
            .await;
            return Err(Refused::Connack("unsupported protocol version".into()));
        }
        Ok(Err(e)) => return Err(Refused::Drop(format!("bad CONNECT: {e}"))),
        Ok(Ok(packet)) => packet,
    };
    let Packet::Connect(connect) = packet else {
        return Err(Refused::Drop(format!("{} before CONNECT", packet.name())));
    };
    let connect = *connect;
    let version = connect.version;
    let v5 = version.is_v5();
    let code = |v3: u8, v5code: u8| if v5 { v5code } else { v3 };

    let (client_id, assigned_id) = if connect.client_id.is_empty() {
        // 3.1.1 allows an empty id only with a clean session (3.1 not at all).
        if (!v5 && !connect.clean_start) || version == Version::V3_1 {
            refuse(
                stream,
                version,
                code(
                    connack_v3::IDENTIFIER_REJECTED,
                    reason::CLIENT_IDENTIFIER_NOT_VALID,
                ),
            )
            .await;
            return Err(Refused::Connack("empty client id".into()));
        }
        (generated_client_id(), true)
    } else {
        (connect.client_id.clone(), false)
    };

    let (vhost_name, username, password) = match &connect.username {
        Some(name) => {
            let (vhost, user) = match name.split_once(':') {
                Some((vhost, user)) if !vhost.is_empty() => (vhost.to_string(), user.to_string()),
                _ => (config.default_vhost.clone(), name.clone()),
            };
            let password = connect
                .password
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default();
            (vhost, user, password)
        }
        None => match &config.anonymous {
            Some((user, pass)) => (config.default_vhost.clone(), user.clone(), pass.clone()),
            None => {
                refuse(
                    stream,
                    version,
                    code(connack_v3::NOT_AUTHORIZED, reason::NOT_AUTHORIZED),
                )
                .await;
                return Err(Refused::Connack("anonymous login refused".into()));
            }
        },
    };
    let bad_login = code(
        connack_v3::BAD_USERNAME_OR_PASSWORD,
        reason::BAD_USER_NAME_OR_PASSWORD,
    );
    let not_authorized = code(connack_v3::NOT_AUTHORIZED, reason::NOT_AUTHORIZED);
    let Some(user) = broker.authenticate(&username, &password) else {
        refuse(stream, version, bad_login).await;
        return Err(Refused::Connack(format!(
            "login refused for user '{username}'"
        )));
    };
    if user.loopback_only && !peer.ip().to_canonical().is_loopback() {
        refuse(stream, version, not_authorized).await;
        return Err(Refused::Connack(format!(
            "user '{username}' can only connect via localhost"
        )));
    }
    let Some(vhost) = broker.vhost(&vhost_name) else {
        refuse(stream, version, not_authorized).await;
        return Err(Refused::Connack(format!(
            "vhost '{vhost_name}' does not exist"
        )));
    };
    let access = match broker.access(&username, &vhost_name) {
        Ok(access) => access,
        Err(e) => {
            refuse(stream, version, not_authorized).await;
            return Err(Refused::Connack(e.message));
        }
    };
    Ok(Negotiated {
        connect,
        client_id,
        assigned_id,
        user,
        vhost,
        access,
    })
}

async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, version: Version, code: u8) {
    let mut out = BytesMut::new();
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
    let _ = stream.shutdown().await;
}

fn generated_client_id() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("warren-{n:016x}")
}
