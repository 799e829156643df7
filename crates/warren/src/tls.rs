//! TLS settings shared by every listener: certificate and key files, the client CA
//! bundle and whether client certificates are asked for, and the protocol versions
//! (TLS 1.2 and 1.3 only). `server_config` turns them into the `rustls` server
//! configuration a listener hands to each connection; a bad file refuses to start
//! with a message naming it.
//!
//! Any listener can use it: build the `Arc<ServerConfig>` once at start, then per
//! accepted socket either `warren_amqp`'s readiness-based transport (AMQPS) or
//! `tokio_rustls::TlsAcceptor::from(config)` for an `AsyncRead + AsyncWrite` stream.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A TLS protocol version Warren accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

impl TlsVersion {
    /// RabbitMQ's names: `tlsv1.2`, `tlsv1.3`. Older versions are refused.
    pub fn parse(name: &str) -> Result<TlsVersion, String> {
        match name {
            "tlsv1.2" => Ok(TlsVersion::V1_2),
            "tlsv1.3" => Ok(TlsVersion::V1_3),
            "tlsv1.1" | "tlsv1" | "sslv3" => Err(format!(
                "{name} is not supported: Warren speaks TLS 1.2 and 1.3 only"
            )),
            other => Err(format!("expected tlsv1.2 or tlsv1.3, found {other:?}")),
        }
    }
}

/// Where the certificate and key are, and how clients are verified.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to.
    pub ca: Option<PathBuf>,
    /// Ask clients for a certificate and verify it (`verify_peer`).
    pub verify_peer: bool,
    /// With `verify_peer`: refuse clients that send no certificate.
    pub fail_if_no_peer_cert: bool,
    /// Accepted versions; empty means TLS 1.2 and 1.3.
    pub versions: Vec<TlsVersion>,
}

impl TlsSettings {
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsSettings {
        TlsSettings {
            cert: cert.into(),
            key: key.into(),
            ca: None,
            verify_peer: false,
            fail_if_no_peer_cert: false,
            versions: Vec::new(),
        }
    }
}

/// The rustls configuration for `settings`, or why the files cannot be used.
pub fn server_config(settings: &TlsSettings) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&settings.cert)?;
    let key = read_key(&settings.key)?;
    let versions: Vec<&'static SupportedProtocolVersion> = if settings.versions.is_empty() {
        vec![&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        let mut v = Vec::new();
        if settings.versions.contains(&TlsVersion::V1_3) {
            v.push(&rustls::version::TLS13);
        }
        if settings.versions.contains(&TlsVersion::V1_2) {
            v.push(&rustls::version::TLS12);
        }
        v
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| anyhow::anyhow!("TLS configuration: {e}"))?;
    let builder = if settings.verify_peer {
        let Some(ca) = &settings.ca else {
            anyhow::bail!(
                "verifying client certificates (verify_peer) needs a CA bundle: --tls-ca or ssl_options.cacertfile"
            );
        };
        builder.with_client_cert_verifier(client_verifier(ca, settings, provider)?)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| {
        anyhow::anyhow!(
            "the TLS key {} does not fit the certificate {}: {e}",
            settings.key.display(),
            settings.cert.display()
        )
    })?;
    Ok(Arc::new(config))
}

fn client_verifier(
    ca: &Path,
    settings: &TlsSettings,
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots
            .add(cert)
            .map_err(|e| anyhow::anyhow!("the CA file {}: {e}", ca.display()))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if settings.fail_if_no_peer_cert {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| anyhow::anyhow!("the CA file {}: {e}", ca.display()))
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// Every certificate in a PEM file; at least one.
fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let bytes = read_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let bytes = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{} holds no PEM private key: {e}", path.display()))
}
