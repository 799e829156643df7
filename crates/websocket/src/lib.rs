//! WebSocket listeners for the MQTT and STOMP adapters, as RabbitMQ's web-mqtt and
//! web-stomp plugins serve them: an HTTP upgrade at one path, a subprotocol picked
//! from what the client offers, then the protocol's bytes in WebSocket messages.
//!
//! The protocol code is not changed for WebSocket: `accept` does the handshake and
//! hands back one end of an in-memory byte pipe; a bridge task moves the bytes
//! between the pipe and the WebSocket. A connection that stops reading its end
//! (a publisher blocked by a resource alarm) fills the pipe, so the bridge stops
//! reading the socket: back-pressure reaches the client as it does over TCP.

mod bridge;
mod handshake;

pub use bridge::Outgoing;
pub use handshake::pick_subprotocol;

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::DuplexStream;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Bytes the pipe between the bridge and the protocol code holds each way.
const PIPE_CAPACITY: usize = 64 * 1024;

/// How long a client has to finish the HTTP upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one WebSocket listener serves.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The protocol's name, for logs ("MQTT", "STOMP").
    pub name: &'static str,
    /// The request path upgrades are accepted at (RabbitMQ's default: `/ws`);
    /// any other path gets 404.
    pub path: String,
    /// The subprotocols this endpoint speaks, preferred first.
    pub subprotocols: &'static [&'static str],
    /// How bytes the protocol writes become WebSocket messages.
    pub outgoing: Outgoing,
    /// The largest WebSocket message accepted from a client.
    pub max_message_size: usize,
}

/// A client connection past the upgrade.
pub struct Accepted {
    /// The protocol code's end of the byte pipe.
    pub stream: DuplexStream,
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
}

/// Accepts WebSocket clients on `listener` until `shutdown` turns true: each
/// upgrade is done in its own task, which then runs `serve` on the connection.
pub async fn serve<F, Fut>(
    listener: tokio::net::TcpListener,
    endpoint: Endpoint,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(Accepted) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let endpoint = endpoint.clone();
                    let serve = serve.clone();
                    tokio::spawn(async move {
                        match accept(stream, peer, &endpoint).await {
                            Ok(ws) => serve(ws).await,
                            Err(why) => tracing::info!(%peer, "{} WebSocket connection refused: {why}", endpoint.name),
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("{} WebSocket accept failed: {e}", endpoint.name);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

/// Does the WebSocket handshake on `stream` and starts the bridge. An error is a
/// failed or refused upgrade (already answered, when it was HTTP at all).
pub async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    endpoint: &Endpoint,
) -> Result<Accepted, String> {
    let local = stream.local_addr().ok();
    let config = WebSocketConfig::default()
        .max_message_size(Some(endpoint.max_message_size))
        .max_frame_size(Some(endpoint.max_message_size));
    let callback = handshake::Check::new(endpoint);
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
    let ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return Err(format!("WebSocket upgrade failed: {e}")),
        Err(_) => return Err("no WebSocket upgrade in time".into()),
    };
    let (ours, theirs) = tokio::io::duplex(PIPE_CAPACITY);
    tokio::spawn(bridge::run(ws, ours, endpoint.outgoing));
    Ok(Accepted {
        stream: theirs,
        peer,
        local,
    })
}
