//! The Warren broker as a library: `start` binds the listeners and returns a handle, so
//! tests run a real broker in-process on ephemeral ports, and `main` is a thin shell.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
pub mod config_file;
pub mod log_format;
pub mod memory;
pub mod tls;

use warren_amqp::AmqpConfig;
use warren_core::storage::{Storage, StorageRef};
use warren_core::{Broker, BrokerRef};
use warren_mqtt::MqttConfig;
use warren_stomp::StompConfig;
use warren_store::{Options as StoreOptions, Recovered, StdIo, Store};

/// How to run a broker. `Config::default()` is what `warren` with no arguments runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// AMQP port; 0 picks a free one.
    pub amqp_port: u16,
    /// Management HTTP API port; 0 picks a free one. `None` serves no HTTP API.
    pub http_port: Option<u16>,
    /// HTTPS port of the management API, listened on only when `https_tls` is set;
    /// 0 picks a free one.
    pub https_port: u16,
    /// The certificate, key and client verification for HTTPS; None: no HTTPS.
    pub https_tls: Option<tls::TlsSettings>,
    /// A port serving only the Prometheus exporter (`/metrics`), besides the HTTP
    /// API's; 0 picks a free one. `None` (the default): no such port.
    pub prometheus_port: Option<u16>,
    /// MQTT port; 0 picks a free one.
    pub mqtt_port: u16,
    /// AMQPS (AMQP over TLS) port, listened on only when `tls` is set; 0 picks a
    /// free one.
    pub amqps_port: u16,
    /// The certificate, key and client verification for AMQPS; None: no TLS.
    pub tls: Option<tls::TlsSettings>,
    /// Addresses to listen on. Empty means every interface, IPv4 and IPv6.
    pub bind: Vec<IpAddr>,
    /// Where durable exchanges, queues, bindings and persistent messages live.
    pub data_dir: PathBuf,
    /// Delete `data_dir` when the server stops (tests).
    pub remove_data_dir: bool,
    /// What one queue keeps of its ready messages in memory (as held: see
    /// `warren_core::queue::memory`) before its new ones go to disk, however much the
    /// broker has; `None`: only the broker-wide limit applies.
    pub queue_ram_budget: Option<u64>,
    /// Queues page new messages out once all of them together hold this fraction of
    /// the memory high watermark in memory (RabbitMQ's
    /// `vm_memory_high_watermark_paging_ratio`, 0.5 by default).
    pub memory_paging_ratio: f64,
    /// How much delivery records (`x-delivery-records` queues) each vhost keeps, under
    /// `data_dir/delivery-records`.
    pub delivery_records: warren_core::records::Limits,
    /// Publishers are blocked while the data directory's file system has less free
    /// space than this (bytes; RabbitMQ's `disk_free_limit`, 50 MB by default).
    pub disk_free_limit: u64,
    /// Publishers are blocked while the broker's memory in use is above this
    /// (RabbitMQ's `vm_memory_high_watermark`, 0.4 of total memory by default).
    pub memory_high_watermark: memory::Watermark,
    /// What a new data directory starts with (vhost, user) and who may connect from
    /// loopback only.
    pub defaults: warren_core::broker::Defaults,
    pub amqp: AmqpConfig,
    pub mqtt: MqttConfig,
    /// STOMP port; 0 picks a free one.
    pub stomp_port: u16,
    pub stomp: StompConfig,
    /// MQTT over WebSocket (RabbitMQ's web-mqtt) port; 0 picks a free one, None
    /// serves none.
    pub mqtt_ws_port: Option<u16>,
    /// STOMP over WebSocket (RabbitMQ's web-stomp) port; 0 picks a free one, None
    /// serves none.
    pub stomp_ws_port: Option<u16>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            amqp_port: 5672,
            http_port: Some(DEFAULT_HTTP_PORT),
            prometheus_port: None,
            https_port: DEFAULT_HTTPS_PORT,
            https_tls: None,
            mqtt_port: 1883,
            amqps_port: 5671,
            tls: None,
            bind: Vec::new(),
            data_dir: PathBuf::from("data"),
            remove_data_dir: false,
            queue_ram_budget: None,
            memory_paging_ratio: memory::DEFAULT_PAGING_RATIO,
            delivery_records: Default::default(),
            disk_free_limit: DEFAULT_DISK_FREE_LIMIT,
            memory_high_watermark: memory::Watermark::default(),
            defaults: warren_core::broker::Defaults::default(),
            amqp: AmqpConfig::default(),
            mqtt: MqttConfig::default(),
            stomp_port: 61613,
            stomp: StompConfig::default(),
            mqtt_ws_port: Some(DEFAULT_MQTT_WS_PORT),
            stomp_ws_port: Some(DEFAULT_STOMP_WS_PORT),
        }
    }
}

/// RabbitMQ's management API port.
pub const DEFAULT_HTTP_PORT: u16 = 15672;
/// The port RabbitMQ's documentation gives the management API over TLS.
pub const DEFAULT_HTTPS_PORT: u16 = 15671;
/// RabbitMQ's web-mqtt and web-stomp ports.
pub const DEFAULT_MQTT_WS_PORT: u16 = 15675;
pub const DEFAULT_STOMP_WS_PORT: u16 = 15674;

/// RabbitMQ's default `disk_free_limit`.
pub const DEFAULT_DISK_FREE_LIMIT: u64 = 50_000_000;
/// How often the free disk space is checked.
const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(1);

impl Config {
    /// A config for tests: IPv4 loopback only, a free port, a fresh data directory
    /// that goes when the server stops.
    pub fn for_tests() -> Config {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("warren-test-{}-{n}", std::process::id()));
        Config {
            amqp_port: 0,
            http_port: Some(0),
            prometheus_port: None,
            https_port: 0,
            https_tls: None,
            mqtt_port: 0,
            amqps_port: 0,
            tls: None,
            bind: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            data_dir: dir,
            remove_data_dir: true,
            queue_ram_budget: None,
            memory_paging_ratio: memory::DEFAULT_PAGING_RATIO,
            delivery_records: Default::default(),
            disk_free_limit: DEFAULT_DISK_FREE_LIMIT,
            memory_high_watermark: memory::Watermark::default(),
            defaults: warren_core::broker::Defaults::default(),
            amqp: AmqpConfig::default(),
            mqtt: MqttConfig::default(),
            stomp_port: 0,
            stomp: StompConfig::default(),
            mqtt_ws_port: Some(0),
            stomp_ws_port: Some(0),
        }
    }
}

/// A running broker.
pub struct Server {
    broker: BrokerRef,
    amqp_addrs: Vec<SocketAddr>,
    http_addrs: Vec<SocketAddr>,
    prometheus_addrs: Vec<SocketAddr>,
    https_addrs: Vec<SocketAddr>,
    mqtt_addrs: Vec<SocketAddr>,
    stomp_addrs: Vec<SocketAddr>,
    amqps_addrs: Vec<SocketAddr>,
    mqtt_ws_addrs: Vec<SocketAddr>,
    stomp_ws_addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    /// The HTTP listeners: stopped after a grace period (keep-alive clients could
    /// hold them open for ever).
    http: Vec<JoinHandle<()>>,
    listeners: Vec<JoinHandle<()>>,
    storage: StorageRef,
    /// Removed when the server is dropped (tests).
    temporary_dir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dir) = &self.temporary_dir {
            self.storage.store().close();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Server {
    /// The addresses the AMQP listener is bound to.
    pub fn amqp_addrs(&self) -> &[SocketAddr] {
        &self.amqp_addrs
    }

    /// An address clients on this machine can reach (IPv4 loopback when bound there).
    pub fn amqp_addr(&self) -> SocketAddr {
        reachable(&self.amqp_addrs)
    }

    /// The addresses the management HTTP API is bound to (none when it is off).
    pub fn http_addrs(&self) -> &[SocketAddr] {
        &self.http_addrs
    }

    /// Where clients on this machine reach the HTTP API; `None` when it is off.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        (!self.http_addrs.is_empty()).then(|| reachable(&self.http_addrs))
    }

    /// Where clients on this machine reach the HTTPS API; `None` when it is off.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        (!self.https_addrs.is_empty()).then(|| reachable(&self.https_addrs))
    }

    /// Where clients on this machine reach the Prometheus port; `None` when off.
    pub fn prometheus_addr(&self) -> Option<SocketAddr> {
        (!self.prometheus_addrs.is_empty()).then(|| reachable(&self.prometheus_addrs))
    }

    /// An address clients on this machine reach the MQTT listener at.
    pub fn mqtt_addr(&self) -> SocketAddr {
        reachable(&self.mqtt_addrs)
    }

    /// An address of the STOMP listener clients on this machine can reach.
    pub fn stomp_addr(&self) -> SocketAddr {
        reachable(&self.stomp_addrs)
    }

    /// Where clients on this machine reach MQTT over WebSocket; None when it is off.
    pub fn mqtt_ws_addr(&self) -> Option<SocketAddr> {
        (!self.mqtt_ws_addrs.is_empty()).then(|| reachable(&self.mqtt_ws_addrs))
    }

    /// Where clients on this machine reach STOMP over WebSocket; None when it is off.
    pub fn stomp_ws_addr(&self) -> Option<SocketAddr> {
        (!self.stomp_ws_addrs.is_empty()).then(|| reachable(&self.stomp_ws_addrs))
    }

    /// The addresses the AMQPS listener is bound to (none without TLS).
    pub fn amqps_addrs(&self) -> &[SocketAddr] {
        &self.amqps_addrs
    }

    /// As `amqp_addr`, for AMQPS; None without TLS.
    pub fn amqps_addr(&self) -> Option<SocketAddr> {
        (!self.amqps_addrs.is_empty()).then(|| reachable(&self.amqps_addrs))
    }

    pub fn broker(&self) -> &BrokerRef {
        &self.broker
    }

    /// Stops listening, closes every client connection with 320 CONNECTION_FORCED and
    /// waits (briefly) for them to go.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for listener in std::mem::take(&mut self.listeners) {
            let _ = listener.await;
        }
        for http in std::mem::take(&mut self.http) {
            let abort = http.abort_handle();
            if tokio::time::timeout(warren_http::SHUTDOWN_GRACE, http)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.broker.close_all_connections(
            320,
            "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.broker.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Delivery records sent so far are written, later ones dropped: the next run
        // may open the directory as soon as this returns.
        let records = self.broker.records.clone();
        let _ = tokio::task::spawn_blocking(move || records.close()).await;
        // What was appended is written; then the directory is free for the next run.
        let storage = self.storage.clone();
        let _ = tokio::task::spawn_blocking(move || storage.store().close()).await;
    }
}

/// Binds the listeners and starts serving. Returns once the broker is ready (listening).
pub async fn start(config: Config) -> anyhow::Result<Server> {
    // Bad certificate files refuse to start before anything else happens.
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    let https_tls = config
        .https_tls
        .as_ref()
        .map(tls::server_config)
        .transpose()
        .map_err(|e| anyhow::anyhow!("HTTPS: {e}"))?;
    let storage = open_storage(&config).await?;
    let broker = Broker::with_storage(Some(storage.0.clone()));
    broker.set_defaults(config.defaults.clone());
    let records_dir = config.data_dir.join("delivery-records");
    broker
        .records
        .open_dir(records_dir.clone(), config.delivery_records)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the delivery records in {}: {e}",
                records_dir.display()
            )
        })?;
    recover(&broker, &storage.0, storage.1).await;
    let storage = storage.0;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut amqp_addrs = Vec::new();
    let mut listeners = Vec::new();
    listeners.push(tokio::spawn(watch_disk(
        broker.clone(),
        config.data_dir.clone(),
        config.disk_free_limit,
        shutdown_rx.clone(),
    )));
    let memory_limit = config.memory_high_watermark.bytes();
    broker.set_resource_limits(memory_limit, config.disk_free_limit);
    tracing::info!("memory high watermark {} MB", memory_limit >> 20);
    listeners.push(tokio::spawn(memory::watch_memory(
        broker.clone(),
        memory_limit,
        shutdown_rx.clone(),
    )));
    for listener in bind_all(&config.bind, config.amqp_port)? {
        let addr = listener.local_addr()?;
        tracing::info!("AMQP listener on {addr}");
        amqp_addrs.push(addr);
        listeners.push(tokio::spawn(warren_amqp::serve(
            listener,
            broker.clone(),
            config.amqp.clone(),
            shutdown_rx.clone(),
        )));
    }
    let mut http_addrs = Vec::new();
    let mut http = Vec::new();
    let mut http_listeners = Vec::new();
    if let Some(port) = config.http_port {
        http_listeners = bind_all(&config.bind, port)?;
        for listener in &http_listeners {
            let addr = listener.local_addr()?;
            tracing::info!("HTTP API listener on {addr}");
            http_addrs.push(addr);
        }
    }
    let mut https_addrs = Vec::new();
    let https = match https_tls {
        Some(tls) => {
            let listeners = bind_all(&config.bind, config.https_port)?;
            for listener in &listeners {
                let addr = listener.local_addr()?;
                tracing::info!("HTTPS API listener on {addr}");
                https_addrs.push(addr);
            }
            Some(warren_http::HttpsListeners { listeners, tls })
        }
        None => None,
    };
    if !http_listeners.is_empty() || https.is_some() {
        http.push(tokio::spawn(warren_http::serve_with_tls(
            http_listeners,
            https,
            broker.clone(),
            amqp_addrs.clone(),
            shutdown_rx.clone(),
        )));
    }
    let mut prometheus_addrs = Vec::new();
    if let Some(port) = config.prometheus_port {
        let listeners = bind_all(&config.bind, port)?;
        for listener in &listeners {
            let addr = listener.local_addr()?;
            tracing::info!("Prometheus listener on {addr}");
            prometheus_addrs.push(addr);
        }
        http.push(tokio::spawn(warren_http::prometheus::serve(
            listeners,
            broker.clone(),
            shutdown_rx.clone(),
        )));
    }
    let mut mqtt_addrs = Vec::new();
    // One registry for every MQTT listener: a client id is one session on all.
    let mqtt_registry = warren_mqtt::Registry::default();
    for listener in bind_all(&config.bind, config.mqtt_port)? {
        let addr = listener.local_addr()?;
        tracing::info!("MQTT listener on {addr}");
        mqtt_addrs.push(addr);
        listeners.push(tokio::spawn(warren_mqtt::serve_with(
            listener,
            broker.clone(),
            config.mqtt.clone(),
            mqtt_registry.clone(),
            shutdown_rx.clone(),
        )));
    }
    let mut mqtt_ws_addrs = Vec::new();
    if let Some(port) = config.mqtt_ws_port {
        for listener in bind_all(&config.bind, port)? {
            let addr = listener.local_addr()?;
            tracing::info!("MQTT WebSocket listener on {addr}");
            mqtt_ws_addrs.push(addr);
            listeners.push(tokio::spawn(warren_mqtt::serve_websocket(
                listener,
                broker.clone(),
                config.mqtt.clone(),
                mqtt_registry.clone(),
                shutdown_rx.clone(),
            )));
        }
    }
    let mut stomp_addrs = Vec::new();
    for listener in bind_all(&config.bind, config.stomp_port)? {
        let addr = listener.local_addr()?;
        tracing::info!("STOMP listener on {addr}");
        stomp_addrs.push(addr);
        listeners.push(tokio::spawn(warren_stomp::serve(
            listener,
            broker.clone(),
            config.stomp.clone(),
            shutdown_rx.clone(),
        )));
    }
    let mut stomp_ws_addrs = Vec::new();
    if let Some(port) = config.stomp_ws_port {
        for listener in bind_all(&config.bind, port)? {
            let addr = listener.local_addr()?;
            tracing::info!("STOMP WebSocket listener on {addr}");
            stomp_ws_addrs.push(addr);
            listeners.push(tokio::spawn(warren_stomp::serve_websocket(
                listener,
                broker.clone(),
                config.stomp.clone(),
                shutdown_rx.clone(),
            )));
        }
    }
    let mut amqps_addrs = Vec::new();
    if let Some(tls) = tls {
        for listener in bind_all(&config.bind, config.amqps_port)? {
            let addr = listener.local_addr()?;
            tracing::info!("AMQPS listener on {addr}");
            amqps_addrs.push(addr);
            listeners.push(tokio::spawn(warren_amqp::serve_tls(
                listener,
                tls.clone(),
                broker.clone(),
                config.amqp.clone(),
                shutdown_rx.clone(),
            )));
        }
    }
    Ok(Server {
        broker,
        amqp_addrs,
        http_addrs,
        prometheus_addrs,
        https_addrs,
        http,
        mqtt_addrs,
        stomp_addrs,
        amqps_addrs,
        mqtt_ws_addrs,
        stomp_ws_addrs,
        shutdown,
        listeners,
        storage,
        temporary_dir: config.remove_data_dir.then_some(config.data_dir),
    })
}

/// The first of `addrs` a client on this machine can connect to: IPv4 loopback for
/// a wildcard address, else the first IPv4 address, else the first.
fn reachable(addrs: &[SocketAddr]) -> SocketAddr {
    let first = addrs[0];
    match first.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), first.port()),
        _ => addrs.iter().find(|a| a.is_ipv4()).copied().unwrap_or(first),
    }
}

/// Raises the disk alarm while the data directory's file system has less than
/// `limit` bytes free, and clears it (also one raised by a full disk) once it has
/// that much again.
async fn watch_disk(
    broker: BrokerRef,
    dir: PathBuf,
    limit: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(DISK_CHECK_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        match free_bytes(&dir) {
            Ok(free) => {
                broker.record_disk_free(free);
                broker.set_disk_alarm(free < limit);
            }
            Err(e) => tracing::debug!("cannot read free space of {}: {e}", dir.display()),
        }
    }
}

/// Bytes available to unprivileged writers on the file system holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `stat` a valid out-pointer.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// Opens (creating) the store in `dir`: locks it and replays it. Refuses to start on
/// a directory another warren uses, or one written by a newer version.
async fn open_storage(config: &Config) -> anyhow::Result<(StorageRef, Recovered)> {
    let dir = config.data_dir.clone();
    let paging_limit =
        (config.memory_high_watermark.bytes() as f64 * config.memory_paging_ratio) as u64;
    let queue_memory = warren_core::queue::memory::QueueMemory::new(
        paging_limit,
        config.queue_ram_budget.unwrap_or(u64::MAX),
    );
    tracing::info!(
        "queues page messages out past {} MB in memory",
        paging_limit >> 20
    );
    // Under the disk limit new messages are refused, so what is left of the disk
    // stays for the acknowledgements that let the store free space again.
    let options = StoreOptions {
        min_free_bytes: config.disk_free_limit,
        ..StoreOptions::default()
    };
    tracing::info!("data directory {}", dir.display());
    let opened = tokio::task::spawn_blocking(move || Store::open(&dir, Arc::new(StdIo), options))
        .await?
        .map_err(|e| anyhow::anyhow!("cannot open the data directory: {e}"))?;
    let (store, mut recovered) = opened;
    let mut queues = std::mem::take(&mut recovered.queues);
    if !recovered.clean_shutdown && !queues.is_empty() {
        // After a crash the last delivery records may be missing: any message may
        // have reached a consumer, so all come back flagged as redelivered.
        tracing::warn!("the last run did not shut down cleanly; recovering");
        for m in queues.values_mut().flatten() {
            m.delivered = true;
        }
    }
    Ok((Storage::new(store, queues, queue_memory), recovered))
}

/// Rebuilds the durable topology and queues, logs what came back, and rewrites the
/// metadata log as a snapshot so it does not grow from run to run.
async fn recover(broker: &BrokerRef, storage: &StorageRef, recovered: Recovered) {
    let replay = broker.recover(&recovered.meta);
    let report = &recovered.report;
    tracing::info!(
        "recovered {} durable queues holding {} messages ({} metadata commands, {} segments, {} MB) in {:.2?}",
        replay.queues,
        report.positions,
        replay.commands,
        report.segments,
        report.bytes / 1_000_000,
        report.elapsed,
    );
    if replay.created_defaults {
        tracing::info!("new data directory: created vhost '/' and user 'guest'");
    }
    if replay.skipped > 0 {
        tracing::error!("{} metadata records could not be read", replay.skipped);
    }
    if replay.discarded_messages > 0 {
        tracing::warn!(
            "{} messages of queues deleted before the restart were dropped",
            replay.discarded_messages
        );
    }
    if let Err(e) = storage.compact().await {
        tracing::warn!("metadata snapshot failed (the log stays as it is): {e}");
    }
}

/// Binds `port` on each address; with no addresses, on every IPv6 and IPv4 interface.
/// When the port is 0 the first listener picks it and the others reuse it, so one
/// port number serves both families.
fn bind_all(addrs: &[IpAddr], port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let wildcard = addrs.is_empty();
    let addrs: Vec<IpAddr> = if wildcard {
        vec![
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ]
    } else {
        addrs.to_vec()
    };
    let mut listeners = Vec::new();
    let mut port = port;
    for ip in addrs {
        match bind_one(SocketAddr::new(ip, port)) {
            Ok(listener) => {
                port = listener.local_addr()?.port();
                listeners.push(listener);
            }
            // A machine without IPv6 still serves IPv4 (and the reverse).
            Err(e) if wildcard => tracing::warn!("cannot listen on {ip}:{port}: {e}"),
            Err(e) => return Err(anyhow::anyhow!("cannot listen on {ip}:{port}: {e}")),
        }
    }
    if listeners.is_empty() {
        anyhow::bail!("no listener could be bound on port {port}");
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // IPv6-only, so the IPv4 wildcard can bind the same port beside it.
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}
