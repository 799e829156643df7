//! Warren's AMQP 0-9-1 adapter: accepts connections, runs the handshake, and turns
//! frames into broker-core operations and core deliveries back into frames.
//!
//! One task per connection owns the socket, every channel's state and the write
//! buffer: it reads what the socket has, handles every complete frame, takes the
//! deliveries queues sent meanwhile, and writes everything in one call.

mod cert_name;
mod channel;
mod connection;
mod error;
mod handshake;
mod server_properties;
mod transport;

pub use cert_name::common_name;
pub use error::{AmqpError, Scope};

use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warren_core::BrokerRef;

/// Limits offered to clients in `connection.tune`, and timeouts.
#[derive(Clone, Debug)]
pub struct AmqpConfig {
    pub frame_max: u32,
    pub channel_max: u16,
    /// Heartbeat interval offered, in seconds (0 disables).
    pub heartbeat: u16,
    pub handshake_timeout: Duration,
    /// Largest message body accepted (RabbitMQ's `max_message_size`).
    pub max_message_size: u64,
    /// A delivery left unacknowledged this long closes its channel with 406
    /// (RabbitMQ's `consumer_timeout`, 30 minutes by default); a queue's
    /// `x-consumer-timeout` overrides it. `None` disables it.
    pub consumer_timeout: Option<Duration>,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
            handshake_timeout: Duration::from_secs(10),
            max_message_size: 128 * 1024 * 1024,
            consumer_timeout: Some(Duration::from_secs(30 * 60)),
        }
    }
}

/// Accepts AMQP connections on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    broker: BrokerRef,
    config: AmqpConfig,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, None, broker, config, shutdown).await
}

/// Accepts AMQPS connections (TLS first, then AMQP) on `listener` until `shutdown`
/// turns true. A client that fails the TLS handshake is logged and dropped.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    broker: BrokerRef,
    config: AmqpConfig,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, Some(tls), broker, config, shutdown).await
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    broker: BrokerRef,
    config: AmqpConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let broker = broker.clone();
                    let config = config.clone();
                    match &tls {
                        None => {
                            let stream = transport::Transport::Tcp(stream);
                            tokio::spawn(connection::run(stream, peer, broker, config));
                        }
                        Some(tls) => {
                            let tls = tls.clone();
                            tokio::spawn(async move {
                                let timeout = config.handshake_timeout;
                                match transport::accept_tls(stream, tls, timeout).await {
                                    Ok(stream) => {
                                        let stream = transport::Transport::Tls(Box::new(stream));
                                        connection::run(stream, peer, broker, config).await
                                    }
                                    Err(e) => tracing::info!(%peer, "TLS handshake failed: {e}"),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!("accept failed: {e}");
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
