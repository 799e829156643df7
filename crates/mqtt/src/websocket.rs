//! MQTT over WebSocket, as RabbitMQ's web-mqtt plugin serves it: upgrades at `/ws`
//! with the subprotocol `mqtt` (or the older `mqttv3.1`), then the same sessions as
//! over TCP, packets carried in binary messages.

use crate::{MqttConfig, Registry};
use std::time::Duration;
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
    mut shutdown: watch::Receiver<bool>,
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
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let broker = broker.clone();
                    let config = config.clone();
                    let registry = registry.clone();
                    let endpoint = endpoint.clone();
                    tokio::spawn(async move {
                        match warren_websocket::accept(stream, peer, &endpoint).await {
                            Ok(ws) => {
                                let local = ws.local.or(listening).unwrap_or(ws.peer);
                                crate::connection::run(ws.stream, ws.peer, local, broker, config, registry).await
                            }
                            Err(why) => tracing::info!(%peer, "MQTT WebSocket connection refused: {why}"),
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("MQTT WebSocket accept failed: {e}");
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
