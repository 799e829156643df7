//! MQTT over WebSocket, as RabbitMQ's web-mqtt plugin serves it: upgrades at `/ws`
//! with the subprotocol `mqtt` (or the older `mqttv3.1`), then the same sessions as
//! over TCP, packets carried in binary messages.

use crate::{MqttConfig, Registry};
use tokio::net::TcpListener;
use tokio::sync::watch;
use warren_core::BrokerRef;
use warren_websocket::{Endpoint, Outgoing};

pub const SUBPROTOCOLS: &[&str] = &["mqtt", "mqttv3.1"];

/// Accepts MQTT-over-WebSocket connections on `listener` until `shutdown` turns
/// true. `registry` is the TCP listeners' too: a client id is one session whichever
/// way the client came.
pub async fn serve_websocket(
    listener: TcpListener,
    broker: BrokerRef,
    config: MqttConfig,
    registry: Registry,
    shutdown: watch::Receiver<bool>,
) {
    let endpoint = Endpoint {
        name: "MQTT",
        path: "/ws".into(),
        subprotocols: SUBPROTOCOLS,
        outgoing: Outgoing::Binary,
        max_message_size: config.max_packet_size,
    };
    // Where the connection lines say it arrived, should the socket not tell.
    let listening = listener.local_addr().ok();
    let config = std::sync::Arc::new(config);
    warren_websocket::serve(listener, endpoint, shutdown, move |ws| {
        let (broker, config, registry) = (broker.clone(), config.clone(), registry.clone());
        async move {
            let local = ws.local.or(listening).unwrap_or(ws.peer);
            crate::connection::run(ws.stream, ws.peer, local, broker, config, registry).await
        }
    })
    .await
}
