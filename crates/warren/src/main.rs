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
    /// A configuration file in RabbitMQ's `rabbitmq.conf` format (see
    /// docs/configuration.md); flags and environment variables override it.
    #[arg(long, env = "WARREN_CONFIG")]
    config: Option<PathBuf>,
    /// AMQP port (0 picks a free port; the log says which) [default: 5672].
    #[arg(long, env = "WARREN_AMQP_PORT")]
    amqp_port: Option<u16>,
    /// Management HTTP API port (0 picks a free port; the log says which)
    /// [default: 15672].
    #[arg(long, env = "WARREN_HTTP_PORT")]
    http_port: Option<u16>,
    /// A port serving only the Prometheus exporter (`/metrics`, also served on the
    /// HTTP API port); 0 picks a free port [default: none].
    #[arg(long, env = "WARREN_PROMETHEUS_PORT")]
    prometheus_port: Option<u16>,
    /// MQTT port (0 picks a free port) [default: 1883].
    #[arg(long, env = "WARREN_MQTT_PORT")]
    mqtt_port: Option<u16>,
    /// STOMP port (0 picks a free port) [default: 61613].
    #[arg(long, env = "WARREN_STOMP_PORT")]
    stomp_port: Option<u16>,
    /// MQTT over WebSocket port, path /ws (RabbitMQ's web-mqtt; 0 picks a free
    /// port) [default: 15675].
    #[arg(long, env = "WARREN_MQTT_WS_PORT")]
    mqtt_ws_port: Option<u16>,
    /// STOMP over WebSocket port, path /ws (RabbitMQ's web-stomp; 0 picks a free
    /// port) [default: 15674].
    #[arg(long, env = "WARREN_STOMP_WS_PORT")]
    stomp_ws_port: Option<u16>,
    /// AMQPS (AMQP over TLS) port, listened on only when a certificate is set (0
    /// picks a free port; the log says which) [default: 5671].
    #[arg(long, env = "WARREN_AMQPS_PORT")]
    amqps_port: Option<u16>,
    /// The server's TLS certificate chain, PEM (turns AMQPS on; needs --tls-key).
    #[arg(long, env = "WARREN_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM.
    #[arg(long, env = "WARREN_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to.
    #[arg(long, env = "WARREN_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// Ask TLS clients for a certificate and verify it against --tls-ca; a verified
    /// certificate allows the EXTERNAL mechanism (login as its CN).
    #[arg(long, env = "WARREN_TLS_VERIFY_PEER", num_args = 0..=1, default_missing_value = "true")]
    tls_verify_peer: Option<bool>,
    /// With --tls-verify-peer: refuse TLS clients that send no certificate.
    #[arg(long, env = "WARREN_TLS_FAIL_IF_NO_PEER_CERT", num_args = 0..=1, default_missing_value = "true")]
    tls_fail_if_no_peer_cert: Option<bool>,
    /// HTTPS port of the management API, listened on only when --https-cert is set
    /// (0 picks a free port; the log says which) [default: 15671].
    #[arg(long, env = "WARREN_HTTPS_PORT")]
    https_port: Option<u16>,
    /// The management API's TLS certificate chain, PEM (turns HTTPS on; needs
    /// --https-key).
    #[arg(long, env = "WARREN_HTTPS_CERT")]
    https_cert: Option<PathBuf>,
    /// The private key of --https-cert, PEM.
    #[arg(long, env = "WARREN_HTTPS_KEY")]
    https_key: Option<PathBuf>,
    /// CA certificates (PEM) that HTTPS client certificates must chain to.
    #[arg(long, env = "WARREN_HTTPS_CA")]
    https_ca: Option<PathBuf>,
    /// Ask HTTPS clients for a certificate and verify it against --https-ca.
    #[arg(long, env = "WARREN_HTTPS_VERIFY_PEER", num_args = 0..=1, default_missing_value = "true")]
    https_verify_peer: Option<bool>,
    /// With --https-verify-peer: refuse HTTPS clients that send no certificate.
    #[arg(long, env = "WARREN_HTTPS_FAIL_IF_NO_PEER_CERT", num_args = 0..=1, default_missing_value = "true")]
    https_fail_if_no_peer_cert: Option<bool>,
    /// Addresses to listen on, comma-separated (default: every IPv4 and IPv6 interface).
    #[arg(long, env = "WARREN_BIND", value_delimiter = ',')]
    bind: Vec<IpAddr>,
    /// Where durable exchanges, queues, bindings and persistent messages live
    /// (relative paths are relative to the working directory) [default: data].
    #[arg(long, env = "WARREN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Block publishers while the data directory's disk has less free space than
    /// this: bytes, or with a unit (kB, MB, GB, KiB, MiB, GiB) [default: 50MB].
    #[arg(long, env = "WARREN_DISK_FREE_LIMIT", value_parser = parse_size)]
    disk_free_limit: Option<u64>,
    /// Block publishers while the broker's memory in use is above this: a fraction
    /// of total memory (`0.4`, RabbitMQ's default) or a size (`2GiB`) [default: 0.4].
    #[arg(long, env = "WARREN_VM_MEMORY_HIGH_WATERMARK", value_parser = parse_watermark)]
    vm_memory_high_watermark: Option<warren::memory::Watermark>,
    /// Queues page new messages out to disk once all of them together hold this
    /// fraction of the memory high watermark in memory (RabbitMQ's
    /// `vm_memory_high_watermark_paging_ratio`; above 1, never) [default: 0.5].
    #[arg(long, env = "WARREN_VM_MEMORY_HIGH_WATERMARK_PAGING_RATIO", value_parser = parse_ratio)]
    vm_memory_high_watermark_paging_ratio: Option<f64>,
    /// What one queue keeps of its ready messages in memory (as they are held: full
    /// entries at the head, compact records behind) before its new messages go to
    /// disk, whatever the broker holds; same units [default: no such limit].
    #[arg(long, env = "WARREN_QUEUE_RAM_BUDGET", value_parser = parse_size)]
    queue_ram_budget: Option<u64>,
    /// Bytes of delivery records (queues with `x-delivery-records`) kept per vhost;
    /// the oldest go first. Same units [default: 256MiB].
    #[arg(long, env = "WARREN_DELIVERY_RECORDS_MAX_BYTES", value_parser = parse_size)]
    delivery_records_max_bytes: Option<u64>,
    /// How long delivery records are kept: `7d`, `12h`, `30m`, `90s` [default: 7d].
    #[arg(long, env = "WARREN_DELIVERY_RECORDS_MAX_AGE", value_parser = parse_duration)]
    delivery_records_max_age: Option<u64>,
    /// Close a channel (406) that holds a delivery unacknowledged this long, in
    /// milliseconds (RabbitMQ's `consumer_timeout`); 0 disables it [default: 1800000].
    #[arg(long, env = "WARREN_CONSUMER_TIMEOUT")]
    consumer_timeout: Option<u64>,
    /// Log level or filter (error, warn, info, debug, trace; or e.g.
    /// `warren_amqp=debug`) [default: info].
    #[arg(long, env = "WARREN_LOG")]
    log_level: Option<String>,
    /// Log lines as plain text or as one JSON object each [default: text].
    #[arg(long, env = "WARREN_LOG_FORMAT", value_enum)]
    log_format: Option<warren::log_format::LogFormat>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let file = match &args.config {
        Some(path) => match warren::config_file::read(path) {
            Ok(file) => file,
            Err(e) => {
                eprintln!("warren: {e}");
                std::process::exit(2);
            }
        },
        None => warren::config_file::FileSettings::default(),
    };
    let log_level = args
        .log_level
        .clone()
        .or(file.log_level.clone())
        .unwrap_or_else(|| "info".into());
    let filter = EnvFilter::try_new(&log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match args.log_format.or(file.log_format).unwrap_or_default() {
        warren::log_format::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        warren::log_format::LogFormat::Json => logs
            .with_ansi(false)
            .event_format(warren::log_format::JsonLines)
            .init(),
    }
    if let Some(path) = &args.config {
        tracing::info!("configuration file {}", path.display());
        for (line, key, why) in &file.ignored {
            tracing::warn!("{}:{line}: {key} ignored: {why}", path.display());
        }
    }
    raise_open_file_limit();
    let config = match merge(args, file) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("warren: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
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

/// The broker's configuration: each setting from its flag or environment variable,
/// else from the configuration file, else its default.
fn merge(args: Args, file: warren::config_file::FileSettings) -> Result<warren::Config, String> {
    use warren::memory::Watermark;
    let base = warren::Config::default();
    let amqp_base = warren_amqp::AmqpConfig::default();
    let consumer_timeout = args
        .consumer_timeout
        .or(file.consumer_timeout)
        .unwrap_or(1_800_000);
    let memory =
        args.vm_memory_high_watermark
            .or(match (file.memory_absolute, file.memory_relative) {
                (Some(bytes), _) => Some(Watermark::Absolute(bytes)),
                (None, Some(f)) => Some(Watermark::Relative(f)),
                (None, None) => None,
            });
    let disk_free_limit = args.disk_free_limit.or(file.disk_free_absolute).or(file
        .disk_free_relative
        .map(|f| (warren::memory::total_memory() as f64 * f) as u64));
    let mut defaults = warren_core::broker::Defaults::default();
    if let Some(user) = file.default_user {
        defaults.user = user;
    }
    if let Some(pass) = file.default_pass {
        defaults.password = pass;
    }
    if let Some(vhost) = file.default_vhost {
        defaults.vhost = vhost;
    }
    if file.loopback_users_none {
        defaults.loopback_users.clear();
    }
    for (user, loopback_only) in file.loopback_users {
        defaults.loopback_users.retain(|u| u != &user);
        if loopback_only {
            defaults.loopback_users.push(user);
        }
    }
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (None, None) => None,
        (Some(_), None) => {
            return Err("a TLS certificate needs its key: --tls-key or ssl_options.keyfile".into())
        }
        (None, Some(_)) => {
            return Err(
                "a TLS key needs its certificate: --tls-cert or ssl_options.certfile".into(),
            )
        }
        (Some(cert), Some(key)) => Some(warren::tls::TlsSettings {
            cert,
            key,
            ca: args.tls_ca.or(file.tls_ca),
            verify_peer: args
                .tls_verify_peer
                .or(file.tls_verify_peer)
                .unwrap_or(false),
            fail_if_no_peer_cert: args
                .tls_fail_if_no_peer_cert
                .or(file.tls_fail_if_no_peer_cert)
                .unwrap_or(false),
            versions: file.tls_versions,
        }),
    };
    let https_tls = match (
        args.https_cert.or(file.https_cert),
        args.https_key.or(file.https_key),
    ) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(
                "an HTTPS certificate needs its key: --https-key or management.ssl.keyfile".into(),
            )
        }
        (None, Some(_)) => {
            return Err(
                "an HTTPS key needs its certificate: --https-cert or management.ssl.certfile"
                    .into(),
            )
        }
        (Some(cert), Some(key)) => Some(warren::tls::TlsSettings {
            cert,
            key,
            ca: args.https_ca.or(file.https_ca),
            verify_peer: args
                .https_verify_peer
                .or(file.https_verify_peer)
                .unwrap_or(false),
            fail_if_no_peer_cert: args
                .https_fail_if_no_peer_cert
                .or(file.https_fail_if_no_peer_cert)
                .unwrap_or(false),
            versions: file.https_versions,
        }),
    };
    // Said here with the HTTPS names: the shared TLS check would name the AMQPS ones.
    if https_tls
        .as_ref()
        .is_some_and(|t| t.verify_peer && t.ca.is_none())
    {
        return Err(
            "verifying HTTPS client certificates needs a CA bundle: --https-ca or management.ssl.cacertfile"
                .into(),
        );
    }
    Ok(warren::Config {
        amqp_port: args.amqp_port.or(file.amqp_port).unwrap_or(base.amqp_port),
        http_port: Some(
            args.http_port
                .or(file.http_port)
                .unwrap_or(warren::DEFAULT_HTTP_PORT),
        ),
        prometheus_port: args.prometheus_port.or(file.prometheus_port),
        https_port: args
            .https_port
            .or(file.https_port)
            .unwrap_or(warren::DEFAULT_HTTPS_PORT),
        https_tls,
        mqtt_port: args.mqtt_port.or(file.mqtt_port).unwrap_or(base.mqtt_port),
        stomp_port: args
            .stomp_port
            .or(file.stomp_port)
            .unwrap_or(base.stomp_port),
        mqtt_ws_port: Some(
            args.mqtt_ws_port
                .or(file.mqtt_ws_port)
                .unwrap_or(warren::DEFAULT_MQTT_WS_PORT),
        ),
        stomp_ws_port: Some(
            args.stomp_ws_port
                .or(file.stomp_ws_port)
                .unwrap_or(warren::DEFAULT_STOMP_WS_PORT),
        ),
        amqps_port: args
            .amqps_port
            .or(file.amqps_port)
            .unwrap_or(base.amqps_port),
        tls,
        bind: if args.bind.is_empty() {
            file.bind.map(|ip| vec![ip]).unwrap_or_default()
        } else {
            args.bind
        },
        data_dir: args.data_dir.or(file.data_dir).unwrap_or(base.data_dir),
        disk_free_limit: disk_free_limit.unwrap_or(base.disk_free_limit),
        memory_high_watermark: memory.unwrap_or(base.memory_high_watermark),
        queue_ram_budget: args.queue_ram_budget.or(file.queue_ram_budget),
        memory_paging_ratio: args
            .vm_memory_high_watermark_paging_ratio
            .or(file.memory_paging_ratio)
            .unwrap_or(base.memory_paging_ratio),
        delivery_records: warren_core::records::Limits {
            max_bytes: args
                .delivery_records_max_bytes
                .or(file.delivery_records_max_bytes)
                .unwrap_or(base.delivery_records.max_bytes),
            max_age_ms: args
                .delivery_records_max_age
                .or(file.delivery_records_max_age)
                .unwrap_or(base.delivery_records.max_age_ms),
        },
        defaults,
        mqtt: warren_mqtt::MqttConfig {
            prefetch: file.mqtt_prefetch.unwrap_or(base.mqtt.prefetch),
            ..base.mqtt.clone()
        },
        amqp: warren_amqp::AmqpConfig {
            consumer_timeout: (consumer_timeout > 0)
                .then(|| std::time::Duration::from_millis(consumer_timeout)),
            heartbeat: file.heartbeat.unwrap_or(amqp_base.heartbeat),
            frame_max: file.frame_max.unwrap_or(amqp_base.frame_max),
            channel_max: file.channel_max.unwrap_or(amqp_base.channel_max),
            max_message_size: file.max_message_size.unwrap_or(amqp_base.max_message_size),
            ..amqp_base
        },
        ..base
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

fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f >= 0.0 => Ok(f),
        _ => Err(format!("expected a non-negative number, found {text:?}")),
    }
}

fn parse_watermark(text: &str) -> Result<warren::memory::Watermark, String> {
    warren::memory::parse_watermark(text, parse_size)
}

/// A size such as `50000000`, `50MB` or `1GiB`.
fn parse_size(text: &str) -> Result<u64, String> {
    warren::config_file::size(text.trim())
}

/// A duration such as `7d` or `90s`, in milliseconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    warren::config_file::duration(text.trim())
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
