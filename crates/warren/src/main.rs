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
    /// STOMP port (0 picks a free port).
    #[arg(long, env = "WARREN_STOMP_PORT", default_value_t = 61613)]
    stomp_port: u16,
    /// Addresses to listen on, comma-separated (default: every IPv4 and IPv6 interface).
    #[arg(long, env = "WARREN_BIND", value_delimiter = ',')]
    bind: Vec<IpAddr>,
    /// Where durable exchanges, queues, bindings and persistent messages live
    /// (relative paths are relative to the working directory).
    #[arg(long, env = "WARREN_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Block publishers while the data directory's disk has less free space than
    /// this: bytes, or with a unit (kB, MB, GB, KiB, MiB, GiB).
    #[arg(long, env = "WARREN_DISK_FREE_LIMIT", default_value = "50MB", value_parser = parse_size)]
    disk_free_limit: u64,
    /// What each queue keeps of its ready messages in memory (bodies plus ~256 B per
    /// message) before new messages go to disk; same units.
    #[arg(long, env = "WARREN_QUEUE_RAM_BUDGET", default_value = "128MiB", value_parser = parse_size)]
    queue_ram_budget: u64,
    /// Close a channel (406) that holds a delivery unacknowledged this long, in
    /// milliseconds (RabbitMQ's `consumer_timeout`); 0 disables it.
    #[arg(long, env = "WARREN_CONSUMER_TIMEOUT", default_value_t = 1_800_000)]
    consumer_timeout: u64,
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
    raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let config = warren::Config {
            amqp_port: args.amqp_port,
            stomp_port: args.stomp_port,
            bind: args.bind,
            data_dir: args.data_dir,
            disk_free_limit: args.disk_free_limit,
            queue_ram_budget: args.queue_ram_budget,
            amqp: warren_amqp::AmqpConfig {
                consumer_timeout: (args.consumer_timeout > 0)
                    .then(|| std::time::Duration::from_millis(args.consumer_timeout)),
                ..warren_amqp::AmqpConfig::default()
            },
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

/// Every client socket and every store segment is an open file: take all the
/// descriptors the hard limit allows (the soft default, 1024, is low for a broker).
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit calls with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::warn!("could not raise the open file limit");
            }
        }
    }
}

/// A size such as `50000000`, `50MB` or `1GiB`.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit '{other}'")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too large"))
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
