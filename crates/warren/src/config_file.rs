//! The configuration file: RabbitMQ's `rabbitmq.conf` format (one `key = value` per
//! line, `#` starts a comment line) for the keys that apply to Warren, plus Warren's
//! own under `warren.`. Unknown keys are warned about with their line number; a
//! value that does not parse refuses the whole file, naming the line.
//!
//! Every key is optional; what the file leaves out keeps its default, and flags and
//! environment variables override what it sets (the binary does that merge).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// What a configuration file sets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileSettings {
    pub amqp_port: Option<u16>,
    /// `listeners.ssl.default`: the AMQPS port.
    pub amqps_port: Option<u16>,
    /// `ssl_options.certfile`, `.keyfile`, `.cacertfile`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
    /// `ssl_options.verify`: true for `verify_peer`, false for `verify_none`.
    pub tls_verify_peer: Option<bool>,
    pub tls_fail_if_no_peer_cert: Option<bool>,
    /// `ssl_options.versions.N`, in file order.
    pub tls_versions: Vec<crate::tls::TlsVersion>,
    pub bind: Option<IpAddr>,
    pub http_port: Option<u16>,
    /// `management.ssl.port`, `.certfile`, `.keyfile`, `.cacertfile`, `.verify`,
    /// `.fail_if_no_peer_cert`, `.versions.N`: the management API over TLS.
    pub https_port: Option<u16>,
    pub https_cert: Option<PathBuf>,
    pub https_key: Option<PathBuf>,
    pub https_ca: Option<PathBuf>,
    pub https_verify_peer: Option<bool>,
    pub https_fail_if_no_peer_cert: Option<bool>,
    pub https_versions: Vec<crate::tls::TlsVersion>,
    /// `prometheus.tcp.port`: a port of its own for the Prometheus exporter.
    pub prometheus_port: Option<u16>,
    pub mqtt_port: Option<u16>,
    /// `mqtt.prefetch`: unacknowledged QoS 1/2 deliveries per MQTT client.
    pub mqtt_prefetch: Option<u16>,
    pub stomp_port: Option<u16>,
    /// `web_mqtt.tcp.port`, `web_stomp.tcp.port`.
    pub mqtt_ws_port: Option<u16>,
    pub stomp_ws_port: Option<u16>,
    pub default_user: Option<String>,
    pub default_pass: Option<String>,
    pub default_vhost: Option<String>,
    /// `loopback_users.<name> = true|false`, in file order; `loopback_users = none`
    /// clears the list.
    pub loopback_users: Vec<(String, bool)>,
    pub loopback_users_none: bool,
    pub memory_relative: Option<f64>,
    pub memory_absolute: Option<u64>,
    pub disk_free_absolute: Option<u64>,
    /// `disk_free_limit.relative`: a multiple of total memory, as in RabbitMQ.
    pub disk_free_relative: Option<f64>,
    pub heartbeat: Option<u16>,
    pub frame_max: Option<u32>,
    pub channel_max: Option<u16>,
    pub consumer_timeout: Option<u64>,
    pub max_message_size: Option<u64>,
    pub log_level: Option<String>,
    /// `log.console.formatter`: `plaintext` or `json`.
    pub log_format: Option<crate::log_format::LogFormat>,
    pub data_dir: Option<PathBuf>,
    pub queue_ram_budget: Option<u64>,
    pub memory_paging_ratio: Option<f64>,
    /// `delivery_records.max_bytes`: bytes of delivery records kept per vhost.
    pub delivery_records_max_bytes: Option<u64>,
    /// `delivery_records.max_age`: how long delivery records are kept, in ms.
    pub delivery_records_max_age: Option<u64>,
    /// Lines with keys Warren does not know or does not act on: (line, key, why).
    pub ignored: Vec<(usize, String, &'static str)>,
}

/// RabbitMQ keys that are valid but that Warren does not act on (yet).
const KNOWN_UNUSED: &[(&str, &str)] = &[
    ("listeners.ssl.", "only listeners.ssl.default is supported"),
    (
        "ssl_options.",
        "not supported (certfile, keyfile, cacertfile, verify, fail_if_no_peer_cert and versions are)",
    ),
    (
        "management.ssl.",
        "not supported (port, certfile, keyfile, cacertfile, verify, fail_if_no_peer_cert and versions are)",
    ),
    ("cluster_formation.", "clustering is not available yet"),
    ("log.file", "logs go to standard output"),
    ("log.console", "logs go to standard output"),
    ("collect_statistics", "statistics are always collected"),
];

/// Reads and parses a configuration file.
pub fn read(path: &Path) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the configuration file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the text of a configuration file.
pub fn parse(text: &str) -> Result<FileSettings, String> {
    let mut s = FileSettings::default();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "line {line_no}: expected `key = value`, found {line:?}"
            ));
        };
        let key = key.trim();
        let value = unquote(value.trim());
        let used = apply(&mut s, key, value).map_err(|e| format!("line {line_no}: {key}: {e}"))?;
        if !used {
            let why = KNOWN_UNUSED
                .iter()
                .find(|(prefix, _)| key.starts_with(prefix))
                .map_or("unknown key", |(_, why)| why);
            s.ignored.push((line_no, key.to_string(), why));
        }
    }
    Ok(s)
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Sets the key; false when the key is not one Warren acts on.
fn apply(s: &mut FileSettings, key: &str, value: &str) -> Result<bool, String> {
    match key {
        "listeners.tcp.default" => {
            let (ip, port) = listener(value)?;
            s.amqp_port = Some(port);
            s.bind = ip;
        }
        "listeners.ssl.default" => s.amqps_port = Some(listener(value)?.1),
        "management.ssl.port" => s.https_port = Some(port(value)?),
        "management.ssl.certfile" => s.https_cert = Some(PathBuf::from(non_empty(value)?)),
        "management.ssl.keyfile" => s.https_key = Some(PathBuf::from(non_empty(value)?)),
        "management.ssl.cacertfile" => s.https_ca = Some(PathBuf::from(non_empty(value)?)),
        "management.ssl.verify" => s.https_verify_peer = Some(verify(value)?),
        "management.ssl.fail_if_no_peer_cert" => {
            s.https_fail_if_no_peer_cert = Some(boolean(value)?)
        }
        _ if key.starts_with("management.ssl.versions.") => {
            s.https_versions.push(crate::tls::TlsVersion::parse(value)?)
        }
        "ssl_options.certfile" => s.tls_cert = Some(PathBuf::from(non_empty(value)?)),
        "ssl_options.keyfile" => s.tls_key = Some(PathBuf::from(non_empty(value)?)),
        "ssl_options.cacertfile" => s.tls_ca = Some(PathBuf::from(non_empty(value)?)),
        "ssl_options.verify" => s.tls_verify_peer = Some(verify(value)?),
        "ssl_options.fail_if_no_peer_cert" => s.tls_fail_if_no_peer_cert = Some(boolean(value)?),
        _ if key.starts_with("ssl_options.versions.") => {
            s.tls_versions.push(crate::tls::TlsVersion::parse(value)?)
        }
        "management.tcp.port" => s.http_port = Some(port(value)?),
        "prometheus.tcp.port" => s.prometheus_port = Some(port(value)?),
        "mqtt.listeners.tcp.default" => s.mqtt_port = Some(listener(value)?.1),
        "mqtt.prefetch" => s.mqtt_prefetch = Some(prefetch(value)?),
        "stomp.listeners.tcp.default" => s.stomp_port = Some(listener(value)?.1),
        "web_mqtt.tcp.port" => s.mqtt_ws_port = Some(port(value)?),
        "web_stomp.tcp.port" => s.stomp_ws_port = Some(port(value)?),
        "default_user" => s.default_user = Some(non_empty(value)?),
        "default_pass" => s.default_pass = Some(non_empty(value)?),
        "default_vhost" => s.default_vhost = Some(non_empty(value)?),
        "loopback_users" if value == "none" => {
            s.loopback_users_none = true;
            s.loopback_users.clear();
        }
        _ if key.starts_with("loopback_users.") => {
            let user = &key["loopback_users.".len()..];
            s.loopback_users.push((user.to_string(), boolean(value)?));
        }
        "vm_memory_high_watermark.relative" => {
            let f = fraction(value)?;
            s.memory_relative = Some(f);
            s.memory_absolute = None;
        }
        "vm_memory_high_watermark.absolute" => {
            s.memory_absolute = Some(size(value)?);
            s.memory_relative = None;
        }
        "vm_memory_high_watermark_paging_ratio" => {
            s.memory_paging_ratio = Some(non_negative(value)?)
        }
        "disk_free_limit.absolute" => {
            s.disk_free_absolute = Some(size(value)?);
            s.disk_free_relative = None;
        }
        "disk_free_limit.relative" => {
            s.disk_free_relative = Some(non_negative(value)?);
            s.disk_free_absolute = None;
        }
        "heartbeat" => s.heartbeat = Some(integer(value)?),
        "frame_max" => s.frame_max = Some(integer(value)?),
        "channel_max" => s.channel_max = Some(integer(value)?),
        "consumer_timeout" => s.consumer_timeout = Some(integer(value)?),
        "max_message_size" => s.max_message_size = Some(integer(value)?),
        "log.default.level" | "log.console.level" => s.log_level = Some(log_level(value)?),
        "log.console.formatter" | "log.default.formatter" => {
            s.log_format = Some(crate::log_format::LogFormat::from_rabbitmq(value)?)
        }
        "warren.data_dir" => s.data_dir = Some(PathBuf::from(non_empty(value)?)),
        "warren.queue_ram_budget" => s.queue_ram_budget = Some(size(value)?),
        "delivery_records.max_bytes" => s.delivery_records_max_bytes = Some(size(value)?),
        "delivery_records.max_age" => s.delivery_records_max_age = Some(duration(value)?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn non_empty(value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err("expected a value".into())
    } else {
        Ok(value.to_string())
    }
}

fn integer<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("expected an integer in range, found {value:?}"))
}

fn port(value: &str) -> Result<u16, String> {
    integer(value)
}

/// `5672`, `127.0.0.1:5672` or `:::5672`.
fn listener(value: &str) -> Result<(Option<IpAddr>, u16), String> {
    if let Ok(p) = value.parse::<u16>() {
        return Ok((None, p));
    }
    let (ip, p) = value
        .rsplit_once(':')
        .ok_or_else(|| format!("expected a port or IP:port, found {value:?}"))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if ip == "::" {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        ip.parse()
            .map_err(|_| format!("expected an IP address, found {ip:?}"))?
    };
    Ok((Some(ip), port(p)?))
}

/// `verify_peer` (true) or `verify_none` (false).
/// An in-flight window: 1 to 65,534 (an MQTT packet id is 16 bits and 0 is not one).
fn prefetch(value: &str) -> Result<u16, String> {
    match integer::<u16>(value) {
        Ok(n @ 1..=65_534) => Ok(n),
        _ => Err(format!(
            "expected a number from 1 to 65534, found {value:?}"
        )),
    }
}

fn verify(value: &str) -> Result<bool, String> {
    match value {
        "verify_peer" => Ok(true),
        "verify_none" => Ok(false),
        other => Err(format!(
            "expected verify_peer or verify_none, found {other:?}"
        )),
    }
}

fn boolean(value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("expected true or false, found {other:?}")),
    }
}

fn non_negative(value: &str) -> Result<f64, String> {
    let f: f64 = value
        .parse()
        .map_err(|_| format!("expected a number, found {value:?}"))?;
    if f >= 0.0 {
        Ok(f)
    } else {
        Err(format!("expected a non-negative number, found {value:?}"))
    }
}

fn fraction(value: &str) -> Result<f64, String> {
    let f: f64 = value
        .parse()
        .map_err(|_| format!("expected a number between 0 and 1, found {value:?}"))?;
    if (0.0..=1.0).contains(&f) {
        Ok(f)
    } else {
        Err(format!(
            "expected a number between 0 and 1, found {value:?}"
        ))
    }
}

fn log_level(value: &str) -> Result<String, String> {
    match value {
        "debug" | "info" | "warning" | "error" | "critical" | "none" => Ok(match value {
            "warning" => "warn".into(),
            "critical" => "error".into(),
            "none" => "off".into(),
            other => other.into(),
        }),
        other => Err(format!(
            "expected debug, info, warning, error, critical or none, found {other:?}"
        )),
    }
}

/// A size as RabbitMQ writes them: bytes, or with a unit (`kB`, `MB`, `GB`, `KiB`,
/// `MiB`, `GiB`; RabbitMQ's single-letter `k`, `M`, `G` are binary).
/// A duration in milliseconds from `90s`, `30m`, `12h`, `7d` or a plain number of
/// seconds; zero is refused (records would go as soon as they are written).
pub fn duration(value: &str) -> Result<u64, String> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("expected a duration such as 7d, 12h, 30m or 90s, found {value:?}"))?;
    let unit_ms: u64 = match unit.trim() {
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {value:?} (use s, m, h or d)"
            ))
        }
    };
    match number.checked_mul(unit_ms) {
        Some(0) => Err(format!(
            "a duration must be more than zero, found {value:?}"
        )),
        Some(ms) => Ok(ms),
        None => Err(format!("duration {value:?} is too long")),
    }
}

pub fn size(value: &str) -> Result<u64, String> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("expected a size such as 50MB, found {value:?}"))?;
    let factor: u64 = match unit.trim() {
        "" | "b" | "B" => 1,
        "kB" | "KB" | "kb" => 1_000,
        "MB" | "mb" => 1_000_000,
        "GB" | "gb" => 1_000_000_000,
        "k" | "K" | "KiB" | "kiB" | "kib" => 1 << 10,
        "M" | "MiB" | "mib" => 1 << 20,
        "G" | "GiB" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {value:?}")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{value:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rabbitmq_conf_keys_parse() {
        let s = parse(
            "# a comment\n\
             listeners.tcp.default = 127.0.0.1:5673\n\
             management.tcp.port = 15673\n\
             prometheus.tcp.port = 15693\n\
             default_user = admin\n\
             default_pass = s3cret\n\
             default_vhost = prod\n\
             loopback_users.guest = false\n\
             vm_memory_high_watermark.relative = 0.6\n\
             vm_memory_high_watermark_paging_ratio = 0.75\n\
             disk_free_limit.absolute = 2GB\n\
             heartbeat = 30\n\
             frame_max = 65536\n\
             channel_max = 128\n\
             consumer_timeout = 900000\n\
             log.console.level = warning\n\
             log.console.formatter = json\n\
             warren.queue_ram_budget = 256MiB\n\
             listeners.ssl.default = 5671\n\
             no.such.key = 1\n\
             ssl_options.certfile = /etc/warren/server.pem\n\
             ssl_options.keyfile = /etc/warren/server.key\n\
             ssl_options.cacertfile = /etc/warren/ca.pem\n\
             ssl_options.verify = verify_peer\n\
             ssl_options.fail_if_no_peer_cert = true\n\
             ssl_options.versions.1 = tlsv1.3\n\
             ssl_options.versions.2 = tlsv1.2\n\
             ssl_options.depth = 2\n\
             web_mqtt.tcp.port = 15676\n\
             mqtt.prefetch = 50\n\
             web_stomp.tcp.port = 15677\n",
        )
        .unwrap();
        assert_eq!(s.amqp_port, Some(5673));
        assert_eq!(s.bind, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(s.http_port, Some(15673));
        assert_eq!(s.prometheus_port, Some(15693));
        assert_eq!(s.mqtt_ws_port, Some(15676));
        assert_eq!(s.mqtt_prefetch, Some(50));
        assert_eq!(s.stomp_ws_port, Some(15677));
        assert_eq!(s.default_user.as_deref(), Some("admin"));
        assert_eq!(s.default_vhost.as_deref(), Some("prod"));
        assert_eq!(s.loopback_users, vec![("guest".to_string(), false)]);
        assert_eq!(s.memory_relative, Some(0.6));
        assert_eq!(s.memory_paging_ratio, Some(0.75));
        assert_eq!(s.disk_free_absolute, Some(2_000_000_000));
        assert_eq!(s.heartbeat, Some(30));
        assert_eq!(s.frame_max, Some(65536));
        assert_eq!(s.channel_max, Some(128));
        assert_eq!(s.consumer_timeout, Some(900_000));
        assert_eq!(s.log_level.as_deref(), Some("warn"));
        assert_eq!(s.log_format, Some(crate::log_format::LogFormat::Json));
        assert_eq!(s.queue_ram_budget, Some(256 << 20));
        assert_eq!(s.amqps_port, Some(5671));
        assert_eq!(s.tls_cert, Some(PathBuf::from("/etc/warren/server.pem")));
        assert_eq!(s.tls_key, Some(PathBuf::from("/etc/warren/server.key")));
        assert_eq!(s.tls_ca, Some(PathBuf::from("/etc/warren/ca.pem")));
        assert_eq!(s.tls_verify_peer, Some(true));
        assert_eq!(s.tls_fail_if_no_peer_cert, Some(true));
        use crate::tls::TlsVersion;
        assert_eq!(s.tls_versions, vec![TlsVersion::V1_3, TlsVersion::V1_2]);
        assert_eq!(
            s.ignored,
            vec![
                (20, "no.such.key".to_string(), "unknown key"),
                (
                    28,
                    "ssl_options.depth".to_string(),
                    "not supported (certfile, keyfile, cacertfile, verify, fail_if_no_peer_cert and versions are)"
                ),
            ]
        );
    }

    #[test]
    fn management_ssl_keys_parse() {
        let s = parse(
            "management.ssl.port = 15671\n\
             management.ssl.certfile = /etc/warren/web.pem\n\
             management.ssl.keyfile = /etc/warren/web.key\n\
             management.ssl.cacertfile = /etc/warren/ca.pem\n\
             management.ssl.verify = verify_peer\n\
             management.ssl.fail_if_no_peer_cert = true\n\
             management.ssl.versions.1 = tlsv1.3\n\
             management.ssl.depth = 3\n",
        )
        .unwrap();
        assert_eq!(s.https_port, Some(15671));
        assert_eq!(s.https_cert, Some(PathBuf::from("/etc/warren/web.pem")));
        assert_eq!(s.https_key, Some(PathBuf::from("/etc/warren/web.key")));
        assert_eq!(s.https_ca, Some(PathBuf::from("/etc/warren/ca.pem")));
        assert_eq!(s.https_verify_peer, Some(true));
        assert_eq!(s.https_fail_if_no_peer_cert, Some(true));
        assert_eq!(s.https_versions, vec![crate::tls::TlsVersion::V1_3]);
        assert_eq!(s.ignored.len(), 1, "{:?}", s.ignored);
        assert_eq!(s.ignored[0].1, "management.ssl.depth");
        assert!(parse("management.ssl.versions.1 = tlsv1.1").is_err());
    }

    #[test]
    fn bad_values_name_their_line() {
        assert_eq!(
            parse("heartbeat = 30\nframe_max = lots\n").unwrap_err(),
            "line 2: frame_max: expected an integer in range, found \"lots\""
        );
        assert_eq!(
            parse("vm_memory_high_watermark.relative = 1.5").unwrap_err(),
            "line 1: vm_memory_high_watermark.relative: expected a number between 0 and 1, found \"1.5\""
        );
        assert_eq!(
            parse("disk_free_limit.absolute = 5XB").unwrap_err(),
            "line 1: disk_free_limit.absolute: unknown size unit \"XB\" in \"5XB\""
        );
        assert_eq!(
            parse("mqtt.prefetch = 0").unwrap_err(),
            "line 1: mqtt.prefetch: expected a number from 1 to 65534, found \"0\""
        );
        assert_eq!(
            parse("just words").unwrap_err(),
            "line 1: expected `key = value`, found \"just words\""
        );
        assert_eq!(
            parse("ssl_options.versions.1 = tlsv1.1").unwrap_err(),
            "line 1: ssl_options.versions.1: tlsv1.1 is not supported: Warren speaks TLS 1.2 and 1.3 only"
        );
        assert_eq!(
            parse("ssl_options.verify = sometimes").unwrap_err(),
            "line 1: ssl_options.verify: expected verify_peer or verify_none, found \"sometimes\""
        );
        assert_eq!(
            parse("loopback_users.guest = maybe").unwrap_err(),
            "line 1: loopback_users.guest: expected true or false, found \"maybe\""
        );
    }

    #[test]
    fn delivery_records_limits() {
        let s =
            parse("delivery_records.max_bytes = 64MiB\ndelivery_records.max_age = 12h\n").unwrap();
        assert_eq!(s.delivery_records_max_bytes, Some(64 << 20));
        assert_eq!(s.delivery_records_max_age, Some(12 * 3_600_000));
        assert_eq!(
            parse("delivery_records.max_age = 3w").unwrap_err(),
            "line 1: delivery_records.max_age: unknown duration unit \"w\" in \"3w\" (use s, m, h or d)"
        );
        assert!(parse("delivery_records.max_age = 0").is_err());
    }
}
