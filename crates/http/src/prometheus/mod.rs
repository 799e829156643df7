//! The Prometheus exporter: `GET /metrics` (every family summed) and
//! `GET /metrics/per-object` (one sample per queue, channel and connection), in the
//! text format and with the metric names of RabbitMQ's `rabbitmq_prometheus`
//! plugin, so its Grafana dashboards and alert rules apply. Unauthenticated, as
//! RabbitMQ's exporter is; served on the management listener and, when asked, on a
//! port of its own.

mod collect;
mod exposition;
mod process;

pub use collect::Scope;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warren_core::BrokerRef;

/// What the exporter's handlers share.
#[derive(Clone)]
pub struct MetricsState {
    pub broker: BrokerRef,
    pub node: Arc<str>,
    /// When the broker started, seconds since the Unix epoch.
    pub started_unix: u64,
}

impl MetricsState {
    pub fn new(broker: BrokerRef, node: Arc<str>) -> MetricsState {
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        MetricsState {
            broker,
            node,
            started_unix,
        }
    }

    /// The text of one scrape.
    pub fn render(&self, scope: Scope) -> String {
        let identity = collect::Identity {
            node: &self.node,
            started_unix: self.started_unix,
        };
        collect::render(&self.broker, &identity, scope)
    }
}

/// The exporter's two routes.
pub fn routes(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(aggregated))
        .route("/metrics/per-object", get(per_object))
        .with_state(state)
}

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn aggregated(State(state): State<MetricsState>) -> Response {
    scrape(state, Scope::Aggregated).await
}

async fn per_object(State(state): State<MetricsState>) -> Response {
    scrape(state, Scope::PerObject).await
}

/// A per-object scrape of many queues takes milliseconds of CPU: it runs off the
/// async workers so it never stalls client connections.
async fn scrape(state: MetricsState, scope: Scope) -> Response {
    match tokio::task::spawn_blocking(move || state.render(scope)).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!("metrics scrape failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves only the exporter on `listeners` (`--prometheus-port`) until `shutdown`
/// turns true.
pub async fn serve(
    listeners: Vec<TcpListener>,
    broker: BrokerRef,
    shutdown: watch::Receiver<bool>,
) {
    let app = routes(MetricsState::new(broker, crate::node_name().into()));
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        let app = app.clone();
        let mut shutdown = shutdown.clone();
        servers.spawn(async move {
            let stop = async move {
                while !*shutdown.borrow() {
                    if shutdown.changed().await.is_err() {
                        return;
                    }
                }
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!("Prometheus listener failed: {e}");
            }
        });
    }
    // Dropping the set (the caller aborts this task after its grace period)
    // aborts the servers still waiting for keep-alive scrapers.
    while servers.join_next().await.is_some() {}
}
