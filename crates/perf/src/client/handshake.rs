//! The client side of the AMQP handshake: protocol header, start/start-ok with PLAIN,
//! tune/tune-ok with heartbeats off, open/open-ok.
//!
//! Heartbeats are refused (tune-ok heartbeat = 0): a load generator that must answer
//! timers would spend CPU and add wake-ups that have nothing to do with the broker.

use super::connection::{BrokerClosed, Connection};
use super::uri::AmqpUri;
use amqp_codec::{
    ConnectionOpen, ConnectionStartOk, ConnectionTuneOk, FieldTable, FieldValue, Frame, Method,
    PROTOCOL_HEADER,
};
use anyhow::{bail, Result};
use bytes::Bytes;

/// The largest frame we ask for; bodies above it are split.
const FRAME_MAX: u32 = 128 * 1024;

pub(super) async fn run(conn: &mut Connection, uri: &AmqpUri, name: &str) -> Result<()> {
    conn.write_raw(PROTOCOL_HEADER).await?;

    let start = match next_method(conn).await? {
        Method::ConnectionStart(s) => s,
        other => bail!("expected connection.start, got {}", other.name()),
    };
    let mechanisms = String::from_utf8_lossy(&start.mechanisms);
    if !mechanisms.split(' ').any(|m| m == "PLAIN") {
        bail!("broker does not offer PLAIN (it offers {mechanisms:?})");
    }
    let mut response = Vec::with_capacity(uri.user.len() + uri.password.len() + 2);
    response.push(0);
    response.extend_from_slice(uri.user.as_bytes());
    response.push(0);
    response.extend_from_slice(uri.password.as_bytes());
    let start_ok = ConnectionStartOk {
        client_properties: client_properties(name),
        mechanism: "PLAIN".into(),
        response: Bytes::from(response),
        locale: "en_US".into(),
    };
    conn.send(0, &start_ok.into()).await?;

    let tune = match next_method(conn).await? {
        Method::ConnectionTune(t) => t,
        Method::ConnectionSecure(_) => bail!("broker sent connection.secure; PLAIN needs none"),
        other => bail!("expected connection.tune, got {}", other.name()),
    };
    let frame_max = match tune.frame_max {
        0 => FRAME_MAX,
        offered => offered.min(FRAME_MAX),
    };
    let channel_max = match tune.channel_max {
        0 => u16::MAX,
        offered => offered,
    };
    let tune_ok = ConnectionTuneOk {
        channel_max,
        frame_max,
        heartbeat: 0,
    };
    conn.queue(0, &tune_ok.into());
    let open = ConnectionOpen {
        virtual_host: uri.vhost.clone().into(),
    };
    conn.queue(0, &open.into());
    conn.flush().await?;
    conn.frame_max = frame_max;
    conn.channel_max = channel_max;

    match next_method(conn).await? {
        Method::ConnectionOpenOk(_) => Ok(()),
        other => bail!("expected connection.open-ok, got {}", other.name()),
    }
}

/// The next method on channel 0. An EOF right after start-ok is how RabbitMQ refuses a
/// login (it closes the socket after its connection.close, or without one).
async fn next_method(conn: &mut Connection) -> Result<Method> {
    loop {
        match conn.recv().await {
            Ok(Frame::Method { channel: 0, method }) => return Ok(method),
            Ok(_) => continue,
            Err(e) if e.is::<BrokerClosed>() => return Err(e),
            Err(e) => return Err(e.context("(bad credentials or vhost?)")),
        }
    }
}

fn client_properties(name: &str) -> FieldTable {
    let mut caps = FieldTable::new();
    for cap in [
        "publisher_confirms",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
    ] {
        caps.insert(cap, FieldValue::Bool(true));
    }
    let mut props = FieldTable::new();
    props.insert("product", FieldValue::long_string("warren-perf"));
    props.insert(
        "version",
        FieldValue::long_string(env!("CARGO_PKG_VERSION")),
    );
    props.insert("platform", FieldValue::long_string("Rust"));
    props.insert("connection_name", FieldValue::long_string(name));
    props.insert("capabilities", FieldValue::Table(caps));
    props
}
