//! `warren`: start a broker. With no arguments it listens on 5672 on every interface
//! with vhost `/` and user guest/guest (loopback only), as RabbitMQ does.

use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "warren",
    version,
    about = "Warren: an AMQP 0-9-1 message broker"
)]
struct Args {
    /// AMQP port (0 picks a free port; the log says which).
    #[arg(long, env = "WARREN_AMQP_PORT", default_value_t = 5672)]
    amqp_port: u16,
    /// Addresses to listen on, comma-separated (default: every IPv4 and IPv6 interface).
    #[arg(long, env = "WARREN_BIND", value_delimiter = ',')]
    bind: Vec<IpAddr>,
    /// Where durable data lives.
    #[arg(long, env = "WARREN_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Log level or filter (error, warn, info, debug, trace; or e.g. `warren_amqp=debug`).
    #[arg(long, env = "WARREN_LOG", default_value = "info")]
    log_level: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(&args.log_level).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let config = warren::Config {
            amqp_port: args.amqp_port,
            bind: args.bind,
            data_dir: args.data_dir,
            ..warren::Config::default()
        };
        // Handlers go in before "ready": a SIGTERM right after it must shut down cleanly.
        let signals = shutdown_signals()?;
        let server = warren::start(config).await?;
        tracing::info!("Warren {} ready", env!("CARGO_PKG_VERSION"));
        signals.await;
        tracing::info!("shutting down");
        server.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}

/// A future that completes on SIGINT or SIGTERM; the handlers are installed now.
fn shutdown_signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
