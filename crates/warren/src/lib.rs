//! The Warren broker as a library: `start` binds the listeners and returns a handle, so
//! tests run a real broker in-process on ephemeral ports, and `main` is a thin shell.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use warren_amqp::AmqpConfig;
use warren_core::{Broker, BrokerRef};

/// How to run a broker. `Config::default()` is what `warren` with no arguments runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// AMQP port; 0 picks a free one.
    pub amqp_port: u16,
    /// Addresses to listen on. Empty means every interface, IPv4 and IPv6.
    pub bind: Vec<IpAddr>,
    pub data_dir: PathBuf,
    pub amqp: AmqpConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            amqp_port: 5672,
            bind: Vec::new(),
            data_dir: PathBuf::from("data"),
            amqp: AmqpConfig::default(),
        }
    }
}

impl Config {
    /// A config for tests: IPv4 loopback only, a free port.
    pub fn for_tests() -> Config {
        Config {
            amqp_port: 0,
            bind: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            data_dir: std::env::temp_dir(),
            amqp: AmqpConfig::default(),
        }
    }
}

/// A running broker.
pub struct Server {
    broker: BrokerRef,
    amqp_addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
}

impl Server {
    /// The addresses the AMQP listener is bound to.
    pub fn amqp_addrs(&self) -> &[SocketAddr] {
        &self.amqp_addrs
    }

    /// An address clients on this machine can reach (IPv4 loopback when bound there).
    pub fn amqp_addr(&self) -> SocketAddr {
        let first = self.amqp_addrs[0];
        let port = first.port();
        match first.ip() {
            ip if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            _ => self
                .amqp_addrs
                .iter()
                .find(|a| a.is_ipv4())
                .copied()
                .unwrap_or(first),
        }
    }

    pub fn broker(&self) -> &BrokerRef {
        &self.broker
    }

    /// Stops listening, closes every client connection with 320 CONNECTION_FORCED and
    /// waits (briefly) for them to go.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for listener in self.listeners {
            let _ = listener.await;
        }
        self.broker.close_all_connections(
            320,
            "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.broker.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Binds the listeners and starts serving. Returns once the broker is ready (listening).
pub async fn start(config: Config) -> anyhow::Result<Server> {
    let broker = Broker::new();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut amqp_addrs = Vec::new();
    let mut listeners = Vec::new();
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
    Ok(Server {
        broker,
        amqp_addrs,
        shutdown,
        listeners,
    })
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
        anyhow::bail!("no AMQP listener could be bound on port {port}");
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
