//! Warren's STOMP adapter (1.0, 1.1 and 1.2), speaking the protocol as RabbitMQ's
//! STOMP plugin does: frames become broker-core operations, and core deliveries
//! become MESSAGE frames. `docs/stomp.md` describes destinations and mappings.
//!
//! One task per connection owns the socket and the session (`session`): it reads
//! what the socket has, handles every complete frame, takes the deliveries queues
//! sent meanwhile, and writes.

mod alarm_gate;
mod connect;
mod connection;
pub mod dest;
pub mod error;
pub mod frame;
mod mapping;
mod send;
mod session;
mod subscribe;
mod websocket;

pub use websocket::{
    next_frame as next_websocket_frame, serve_websocket, SUBPROTOCOLS as WEBSOCKET_SUBPROTOCOLS,
};

use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warren_core::BrokerRef;

#[derive(Clone, Debug)]
pub struct StompConfig {
    /// Frame size limits (the body limit is the largest message accepted).
    pub limits: frame::Limits,
    /// A client that sends no CONNECT this long after connecting is dropped.
    pub connect_timeout: Duration,
}

impl Default for StompConfig {
    fn default() -> Self {
        StompConfig {
            limits: frame::Limits::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Accepts STOMP connections on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    broker: BrokerRef,
    config: StompConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().ok();
                    tokio::spawn(connection::run(stream, peer, local, broker.clone(), config.clone()));
                }
                Err(e) => {
                    tracing::warn!("STOMP accept failed: {e}");
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
