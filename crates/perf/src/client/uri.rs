//! `amqp://user:pass@host:port/vhost`, as RabbitMQ's URI spec reads it.
//!
//! Only what a load generator needs: user and password (percent-decoded), host, port
//! (5672 by default) and vhost (the path without its leading `/`, percent-decoded, so
//! `%2F` is the default vhost `/`; no path at all also means `/`). Query parameters are
//! ignored: heartbeats are always off and frame_max is whatever the broker offers.

use anyhow::{bail, Context, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmqpUri {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub vhost: String,
}

impl AmqpUri {
    pub fn parse(uri: &str) -> Result<AmqpUri> {
        let rest = uri.strip_prefix("amqp://").with_context(|| {
            format!("URI {uri:?} does not start with amqp:// (amqps is not supported)")
        })?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (decode(u)?, decode(p)?),
                None => (decode(info)?, String::new()),
            },
            None => ("guest".to_owned(), "guest".to_owned()),
        };
        let (host, port) = split_host_port(hostport)?;
        let vhost = match path {
            None => "/".to_owned(),
            Some(p) => decode(p)?,
        };
        Ok(AmqpUri {
            user,
            password,
            host,
            port,
            vhost,
        })
    }

    /// `host:port`, bracketing an IPv6 literal, ready for `TcpStream::connect`.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn split_host_port(hostport: &str) -> Result<(String, u16)> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').context("unterminated [ in URI host")?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let host = if host.is_empty() { "localhost" } else { host };
    let port = match port {
        None | Some("") => 5672,
        Some(p) => p
            .parse()
            .with_context(|| format!("bad port {p:?} in URI"))?,
    };
    Ok((host.to_owned(), port))
}

fn decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let Some(hex) = s.get(i + 1..i + 3) else {
                bail!("truncated percent escape in {s:?}");
            };
            let v = u8::from_str_radix(hex, 16)
                .with_context(|| format!("bad percent escape %{hex} in {s:?}"))?;
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).with_context(|| format!("{s:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri() {
        let u = AmqpUri::parse("amqp://guest:guest@127.0.0.1:5672/%2F").unwrap();
        assert_eq!(
            u,
            AmqpUri {
                user: "guest".into(),
                password: "guest".into(),
                host: "127.0.0.1".into(),
                port: 5672,
                vhost: "/".into(),
            }
        );
        assert_eq!(u.addr(), "127.0.0.1:5672");
    }

    #[test]
    fn defaults_and_escapes() {
        let u = AmqpUri::parse("amqp://localhost").unwrap();
        assert_eq!(
            (u.user.as_str(), u.port, u.vhost.as_str()),
            ("guest", 5672, "/")
        );
        let u = AmqpUri::parse("amqp://a%40b:p%3Aw@host:5673/my%20vhost?heartbeat=10").unwrap();
        assert_eq!(u.user, "a@b");
        assert_eq!(u.password, "p:w");
        assert_eq!(u.port, 5673);
        assert_eq!(u.vhost, "my vhost");
        // An empty path is the empty vhost name, as in RabbitMQ's URI spec.
        assert_eq!(AmqpUri::parse("amqp://h/").unwrap().vhost, "");
        let u = AmqpUri::parse("amqp://[::1]:5674/v").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 5674));
        assert_eq!(u.addr(), "[::1]:5674");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(AmqpUri::parse("http://x").is_err());
        assert!(AmqpUri::parse("amqp://h:notaport").is_err());
        assert!(AmqpUri::parse("amqp://h/%zz").is_err());
        assert!(AmqpUri::parse("amqp://h/%2").is_err());
    }
}
