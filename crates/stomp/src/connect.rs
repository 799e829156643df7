//! CONNECT (or STOMP): version negotiation, login against the broker's users, the
//! vhost from the `host` header (RabbitMQ's plugin does the same; `/` without it),
//! heart-beats, and the CONNECTED reply.

use crate::error::{StompError, StompResult};
use crate::frame::{Frame, Version};
use std::net::SocketAddr;
use std::time::Duration;
use warren_core::{Access, BrokerRef, User, VHostRef};

/// Who logs in when CONNECT has no `login`: RabbitMQ's plugin defaults to guest.
const DEFAULT_LOGIN: (&str, &str) = ("guest", "guest");
/// Heart-beats more frequent than this are not offered.
const MIN_HEARTBEAT_MS: u64 = 100;

pub struct Connected {
    pub user: User,
    pub vhost: VHostRef,
    pub access: Access,
    pub version: Version,
    /// How often we send a heart-beat (None: never).
    pub send_every: Option<Duration>,
    /// How often the client promised to send something (None: no promise).
    pub expect_every: Option<Duration>,
    pub reply: Frame,
}

/// The highest version both sides speak; 1.0 when the client names none.
fn negotiate(frame: &Frame) -> StompResult<Version> {
    let Some(accepted) = frame.header("accept-version") else {
        return Ok(Version::V1_0);
    };
    accepted
        .split(',')
        .filter_map(Version::parse)
        .max()
        .ok_or_else(|| {
            StompError::new(
                "Version mismatch",
                format!("Supported versions are 1.0,1.1,1.2; the client accepts {accepted}"),
            )
        })
}

/// `cx,cy` from the client's `heart-beat` header.
fn parse_heartbeat(frame: &Frame) -> StompResult<(u64, u64)> {
    let Some(text) = frame.header("heart-beat") else {
        return Ok((0, 0));
    };
    let bad = || StompError::new("Invalid heart-beat header", format!("heart-beat:{text}"));
    let (x, y) = text.split_once(',').ok_or_else(bad)?;
    Ok((
        x.trim().parse().map_err(|_| bad())?,
        y.trim().parse().map_err(|_| bad())?,
    ))
}

pub fn connect(
    frame: &Frame,
    peer: SocketAddr,
    broker: &BrokerRef,
    session: &str,
) -> StompResult<Connected> {
    let version = negotiate(frame)?;
    let (login, passcode) = match (frame.header("login"), frame.header("passcode")) {
        (None, None) => DEFAULT_LOGIN,
        (login, passcode) => (login.unwrap_or(""), passcode.unwrap_or("")),
    };
    let refused = || {
        StompError::new(
            "Bad CONNECT",
            format!("Access refused for user '{login}'\n"),
        )
    };
    let user = broker.authenticate(login, passcode).ok_or_else(refused)?;
    if user.loopback_only && !peer.ip().to_canonical().is_loopback() {
        return Err(StompError::new(
            "Bad CONNECT",
            format!("User '{login}' can only connect via localhost"),
        ));
    }
    let vhost_name = match frame.header("host") {
        None | Some("") => "/",
        Some(h) => h,
    };
    let denied = || {
        StompError::new(
            "Bad CONNECT",
            format!("Virtual host '{vhost_name}' access denied"),
        )
    };
    let vhost = broker.vhost(vhost_name).ok_or_else(denied)?;
    let access = broker
        .access(&user.name, vhost_name)
        .map_err(|_| denied())?;
    let (cx, cy) = parse_heartbeat(frame)?;
    // We send as often as the client wants to hear from us (no more often than our
    // floor); we expect to hear as often as it says it can send.
    let sx = if cy == 0 { 0 } else { cy.max(MIN_HEARTBEAT_MS) };
    let sy = if cx == 0 { 0 } else { cx.max(MIN_HEARTBEAT_MS) };
    let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
    let reply = Frame::new("CONNECTED")
        .with("session", session)
        .with("heart-beat", format!("{sx},{sy}"))
        .with("server", format!("Warren/{}", env!("CARGO_PKG_VERSION")))
        .with("version", version.as_str());
    Ok(Connected {
        user,
        vhost,
        access,
        version,
        send_every: ms(sx),
        expect_every: ms(sy),
        reply,
    })
}
