//! Where to connect and as whom: flags, then `WARRENCTL_*` environment variables
//! (clap reads both), then the config file, then rabbitmqctl's defaults.

use crate::failure::{Failure, Outcome, EX_CONFIG};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 15672;
pub const DEFAULT_USER: &str = "guest";
pub const DEFAULT_VHOST: &str = "/";
/// rabbitmqctl's default operation timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The file read when `--config` is not given; a missing default file is not an error.
pub const DEFAULT_FILE_NAME: &str = ".warrenctl.toml";

/// Settings given on the command line or in the environment; `None` where absent.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub vhost: Option<String>,
    pub timeout: Option<Duration>,
    /// An explicit config file, which must exist.
    pub config: Option<PathBuf>,
}

/// The config file: the same settings, every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    host: Option<String>,
    port: Option<u16>,
    #[serde(alias = "username")]
    user: Option<String>,
    password: Option<String>,
    vhost: Option<String>,
    /// Seconds.
    timeout: Option<f64>,
}

/// The settings a command runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
    pub timeout: Duration,
}

impl Settings {
    /// The management API's root, e.g. `http://127.0.0.1:15672/api/`.
    pub fn api_root(&self) -> String {
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host) // an IPv6 literal
        } else {
            self.host.clone()
        };
        format!("http://{host}:{}/api/", self.port)
    }
}

/// Merges the overrides over the config file (`home` locates the default one).
pub fn resolve(overrides: Overrides, home: Option<&Path>) -> Outcome<Settings> {
    let file = match &overrides.config {
        Some(path) => read_file(path)?,
        None => match home.map(|h| h.join(DEFAULT_FILE_NAME)) {
            Some(path) if path.exists() => read_file(&path)?,
            _ => File::default(),
        },
    };
    let timeout = match (overrides.timeout, file.timeout) {
        (Some(t), _) => t,
        (None, Some(secs)) => Duration::try_from_secs_f64(secs).map_err(|_| {
            Failure::new(
                EX_CONFIG,
                format!("invalid timeout {secs} in the config file"),
            )
        })?,
        (None, None) => DEFAULT_TIMEOUT,
    };
    Ok(Settings {
        host: overrides
            .host
            .or(file.host)
            .unwrap_or_else(|| DEFAULT_HOST.into()),
        port: overrides.port.or(file.port).unwrap_or(DEFAULT_PORT),
        user: overrides
            .user
            .or(file.user)
            .unwrap_or_else(|| DEFAULT_USER.into()),
        password: overrides
            .password
            .or(file.password)
            .unwrap_or_else(|| DEFAULT_USER.into()),
        vhost: overrides
            .vhost
            .or(file.vhost)
            .unwrap_or_else(|| DEFAULT_VHOST.into()),
        timeout,
    })
}

fn read_file(path: &Path) -> Outcome<File> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            EX_CONFIG,
            format!("cannot read config file {}: {e}", path.display()),
        )
    })?;
    toml::from_str(&text).map_err(|e| {
        Failure::new(
            EX_CONFIG,
            format!("invalid config file {}: {}", path.display(), e.message()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(DEFAULT_FILE_NAME);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("warrenctl-config-{}-{name}", std::process::id()))
    }

    #[test]
    fn defaults_are_rabbitmqctls() {
        let s = resolve(Overrides::default(), None).unwrap();
        assert_eq!(s.api_root(), "http://127.0.0.1:15672/api/");
        assert_eq!((s.user.as_str(), s.password.as_str()), ("guest", "guest"));
        assert_eq!(s.vhost, "/");
    }

    #[test]
    fn flags_override_the_default_file() {
        let home = temp_dir("home");
        write(
            &home,
            "host = \"h\"\nport = 1\nusername = \"u\"\nvhost = \"v\"\n",
        );
        let overrides = Overrides {
            port: Some(2),
            ..Overrides::default()
        };
        let s = resolve(overrides, Some(&home)).unwrap();
        assert_eq!((s.host.as_str(), s.port, s.user.as_str()), ("h", 2, "u"));
        assert_eq!(s.vhost, "v");
        std::fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn a_bad_or_missing_explicit_file_is_a_config_error() {
        let dir = temp_dir("bad");
        let path = write(&dir, "hots = \"typo\"\n");
        let overrides = Overrides {
            config: Some(path),
            ..Overrides::default()
        };
        let err = resolve(overrides, None).unwrap_err();
        assert_eq!(err.code, EX_CONFIG);
        assert!(err.message.contains("hots"), "{}", err.message);
        let missing = Overrides {
            config: Some(dir.join("nope.toml")),
            ..Overrides::default()
        };
        assert_eq!(resolve(missing, None).unwrap_err().code, EX_CONFIG);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let overrides = Overrides {
            host: Some("::1".into()),
            ..Overrides::default()
        };
        let s = resolve(overrides, None).unwrap();
        assert_eq!(s.api_root(), "http://[::1]:15672/api/");
    }
}
