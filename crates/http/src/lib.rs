//! Warren's management HTTP API: RabbitMQ's `/api` paths, verbs, status codes and
//! JSON field names, so `rabbitmqadmin`, `warrenctl` and scripts written against
//! RabbitMQ's API work unchanged. A client of the core like any protocol adapter:
//! every change goes through the same validated core operations.

mod api;
pub mod auth;
mod console;
pub mod error;
mod extract;
pub mod https;
pub mod json;
pub mod listing;
pub mod prometheus;
pub mod rates;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use warren_core::BrokerRef;

/// Request bodies past this are refused (413): RabbitMQ's default
/// `management.http_max_body_size` is 20 MB as well.
pub const MAX_BODY: usize = 20 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    pub broker: BrokerRef,
    pub rates: Arc<rates::RateBook>,
    pub started: Instant,
    /// This node's name, as `rabbit@host` is RabbitMQ's.
    pub node: Arc<str>,
    /// The AMQP listeners' addresses (the overview's `listeners`).
    pub amqp_addrs: Arc<[std::net::SocketAddr]>,
    /// The HTTP listener's address.
    pub http_addr: std::net::SocketAddr,
}

/// The node name: `warren@` and the host name.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("warren@{host}")
}

/// The API's routes over `state`, the web console's (which need no login: the
/// console logs in to the API itself) and the Prometheus exporter's (which, as
/// RabbitMQ's, asks for no credentials: it is merged outside the auth layer).
pub fn router(state: ApiState) -> Router {
    let metrics = prometheus::routes(prometheus::MetricsState::new(
        state.broker.clone(),
        state.node.clone(),
    ));
    // Credentials are checked only on paths that exist and methods they take
    // (`route_layer`, and the fallbacks added after it): as RabbitMQ, an unknown
    // path is a 404 and a wrong method a 405 with or without a login.
    api::routes()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .merge(console::routes())
        .with_state(state)
        .merge(metrics)
}

/// Serves the API on every listener until `shutdown` turns true, and samples
/// message rates meanwhile (one sampler for all listeners).
pub async fn serve(
    listeners: Vec<TcpListener>,
    broker: BrokerRef,
    amqp_addrs: Vec<std::net::SocketAddr>,
    shutdown: watch::Receiver<bool>,
) {
    serve_with_tls(listeners, None, broker, amqp_addrs, shutdown).await
}

/// HTTPS listeners and the TLS configuration they share.
pub struct HttpsListeners {
    pub listeners: Vec<TcpListener>,
    pub tls: Arc<rustls::ServerConfig>,
}

/// As `serve`, with HTTPS listeners too: one API (one rate sampler) on both.
pub async fn serve_with_tls(
    listeners: Vec<TcpListener>,
    https: Option<HttpsListeners>,
    broker: BrokerRef,
    amqp_addrs: Vec<std::net::SocketAddr>,
    shutdown: watch::Receiver<bool>,
) {
    let first = listeners
        .first()
        .or_else(|| https.as_ref().and_then(|h| h.listeners.first()));
    let Some(http_addr) = first.and_then(|l| l.local_addr().ok()) else {
        return;
    };
    let state = ApiState {
        broker: broker.clone(),
        rates: Arc::new(rates::RateBook::default()),
        started: Instant::now(),
        node: node_name().into(),
        amqp_addrs: amqp_addrs.into(),
        http_addr,
    };
    let sampler = tokio::spawn(rates::run_sampler(
        state.rates.clone(),
        broker,
        rates::SAMPLE_INTERVAL,
        shutdown.clone(),
    ));
    let app = router(state);
    let mut servers = Vec::new();
    for listener in listeners {
        let mut shutdown = shutdown.clone();
        let stop = async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    return;
                }
            }
        };
        let server = axum::serve(listener, app.clone()).with_graceful_shutdown(stop);
        servers.push(tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!("HTTP listener failed: {e}");
            }
        }));
    }
    if let Some(https) = https {
        for listener in https.listeners {
            servers.push(tokio::spawn(https::serve(
                listener,
                https.tls.clone(),
                app.clone(),
                shutdown.clone(),
            )));
        }
    }
    for server in servers {
        let _ = server.await;
    }
    sampler.abort();
}

/// How long after a shutdown request in-flight HTTP requests may still finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
