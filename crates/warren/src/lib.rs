//! The Warren broker as a library: `start` binds the listeners and returns a handle, so
//! tests run a real broker in-process on ephemeral ports.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// How to run a broker. `Config::default()` is what `warren` with no arguments runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// AMQP port; 0 picks a free one.
    pub amqp_port: u16,
    /// Addresses to listen on. Empty means every interface, IPv4 and IPv6.
    pub bind: Vec<IpAddr>,
    pub data_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            amqp_port: 5672,
            bind: Vec::new(),
            data_dir: PathBuf::from("data"),
        }
    }
}

impl Config {
    /// A config for tests: loopback only, a free port.
    pub fn for_tests() -> Config {
        Config {
            amqp_port: 0,
            bind: vec![
                IpAddr::V6(Ipv6Addr::LOCALHOST).to_canonical(),
                "127.0.0.1".parse().unwrap(),
            ],
            data_dir: std::env::temp_dir(),
        }
    }
}

/// A running broker.
pub struct Server {
    amqp_addrs: Vec<SocketAddr>,
}

impl Server {
    /// The addresses the AMQP listener is bound to.
    pub fn amqp_addrs(&self) -> &[SocketAddr] {
        &self.amqp_addrs
    }
    /// The IPv4 loopback-reachable AMQP address, for clients in tests.
    pub fn amqp_addr(&self) -> SocketAddr {
        todo!()
    }
    /// Closes every client connection with 320 CONNECTION_FORCED and stops listening.
    pub async fn shutdown(self) {
        todo!()
    }
}

/// Binds the listeners and starts serving. Returns once the broker is ready (listening).
pub async fn start(_config: Config) -> anyhow::Result<Server> {
    todo!()
}
