//! Warren's MQTT adapter (3.1, 3.1.1 and 5.0), on the same broker core as AMQP and
//! mapped as RabbitMQ's MQTT plugin maps it: publishes go to `amq.topic` with the
//! topic as routing key (`/` -> `.`), each client's subscriptions are bindings of its
//! own queues (`mqtt-subscription-<client id>qos0` and `…qos1`), and QoS 1 messages
//! are persistent. See `docs/mqtt.md`.
//!
//! One task per connection owns the socket, the session's queues and consumers, and
//! the in-flight windows; queues deliver to it through its `Outlet`, as they do to an
//! AMQP connection.

mod alarm_gate;
mod buffers;
mod connect;
mod connection;
mod filter_map;
mod inbound;
pub mod mapping;
mod outbound;
mod registry;
mod retained;
mod server_aliases;
mod session;
mod shared;
mod stored_subscription;
pub mod subscription_options;
mod websocket;
mod will_delay;

use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warren_core::BrokerRef;

pub use registry::Registry;
pub use websocket::{serve_websocket, SUBPROTOCOLS as WEBSOCKET_SUBPROTOCOLS};

#[derive(Clone, Debug)]
pub struct MqttConfig {
    /// The exchange publishes go to and subscriptions bind to.
    pub exchange: String,
    /// The vhost of a user name without a `vhost:` prefix.
    pub default_vhost: String,
    /// Credentials used for a CONNECT without a user name (RabbitMQ's
    /// `mqtt.allow_anonymous` with `default_user`/`default_pass`); `None` refuses it.
    pub anonymous: Option<(String, String)>,
    /// Largest packet accepted after CONNECT (RabbitMQ's
    /// `max_packet_size_authenticated`), and before it.
    pub max_packet_size: usize,
    pub max_packet_size_unauthenticated: usize,
    /// Unacknowledged QoS 1/2 deliveries per client (RabbitMQ's `mqtt.prefetch`); a
    /// smaller MQTT 5 receive maximum lowers it. RabbitMQ's default is 10; Warren's is
    /// 1,024, because a window of ten round trips caps a subscriber at a fraction of
    /// what its publishers send (10 QoS 1 publishers into one subscriber: 92,000
    /// msg/s delivered against 540,000 accepted, the rest piling up in the queue; with
    /// 1,024 both are ~300,000 and the queue stays short).
    pub prefetch: u16,
    /// How long a client has to send CONNECT.
    pub connect_timeout: Duration,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            exchange: "amq.topic".into(),
            default_vhost: "/".into(),
            anonymous: Some(("guest".into(), "guest".into())),
            max_packet_size: 256 * 1024 * 1024,
            max_packet_size_unauthenticated: 65_536,
            prefetch: 1024,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Accepts MQTT connections on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    broker: BrokerRef,
    config: MqttConfig,
    shutdown: watch::Receiver<bool>,
) {
    serve_with(listener, broker, config, Registry::default(), shutdown).await
}

/// As `serve`, with client ids registered in `registry`, which listeners share so
/// a client id is one session on all of them.
pub async fn serve_with(
    listener: TcpListener,
    broker: BrokerRef,
    config: MqttConfig,
    registry: Registry,
    mut shutdown: watch::Receiver<bool>,
) {
    // Shared: every connection reads it, none needs a copy of its strings.
    let config = std::sync::Arc::new(config);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let broker = broker.clone();
                    let config = config.clone();
                    let registry = registry.clone();
                    let local = stream.local_addr().unwrap_or(peer);
                    tokio::spawn(connection::run(stream, peer, local, broker, config, registry));
                }
                Err(e) => {
                    tracing::warn!("MQTT accept failed: {e}");
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
