//! Warren's management HTTP API: RabbitMQ's `/api` paths, verbs, status codes and
//! JSON field names, so `rabbitmqadmin`, `warrenctl` and scripts written against
//! RabbitMQ's API work unchanged. A client of the core like any protocol adapter:
//! every change goes through the same validated core operations.

mod api;
pub mod auth;
mod console;
pub mod error;
mod extract;
pub mod json;
pub mod listing;
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
    pub resources: NodeResources,
}

/// The node's memory and disk limits and the last free-disk reading, for
/// `/api/nodes` (`mem_limit`, `disk_free`, `disk_free_limit`).
#[derive(Clone, Debug)]
pub struct NodeResources {
    pub mem_limit: u64,
    pub disk_free_limit: u64,
    /// Bytes free on the data directory's file system; `u64::MAX` until measured.
    disk_free: Arc<std::sync::atomic::AtomicU64>,
}

impl NodeResources {
    pub fn new(mem_limit: u64, disk_free_limit: u64) -> NodeResources {
        NodeResources {
            mem_limit,
            disk_free_limit,
            disk_free: Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX)),
        }
    }

    /// Records a reading of the free disk space (the disk watcher's).
    pub fn set_disk_free(&self, bytes: u64) {
        self.disk_free
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// The last reading, if there was one.
    pub fn disk_free(&self) -> Option<u64> {
        let bytes = self.disk_free.load(std::sync::atomic::Ordering::Relaxed);
        (bytes != u64::MAX).then_some(bytes)
    }
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

/// The API's routes over `state`, and the web console's (which need no login:
/// the console logs in to the API itself).
pub fn router(state: ApiState) -> Router {
    api::routes(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .merge(console::routes())
        .with_state(state)
}

/// Serves the API on every listener until `shutdown` turns true, and samples
/// message rates meanwhile (one sampler for all listeners).
pub async fn serve(
    listeners: Vec<TcpListener>,
    broker: BrokerRef,
    amqp_addrs: Vec<std::net::SocketAddr>,
    resources: NodeResources,
    shutdown: watch::Receiver<bool>,
) {
    let Some(http_addr) = listeners.first().and_then(|l| l.local_addr().ok()) else {
        return;
    };
    let state = ApiState {
        broker: broker.clone(),
        rates: Arc::new(rates::RateBook::default()),
        started: Instant::now(),
        node: node_name().into(),
        amqp_addrs: amqp_addrs.into(),
        http_addr,
        resources,
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
    for server in servers {
        let _ = server.await;
    }
    sampler.abort();
}

/// How long after a shutdown request in-flight HTTP requests may still finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
