//! The management API over HTTPS (`--https-port`, `management.ssl.*`): the same API
//! and exporter as on the plain port, TLS 1.2 and 1.3 only, and client certificates
//! verified when asked for. The client is hyper over tokio-rustls.

mod tls_common;

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tls_common::{client_config, provider, tls11_client_hello, Pki, BOTH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types};
use tokio_rustls::TlsConnector;
use warren::tls::TlsSettings;

const TIMEOUT: Duration = Duration::from_secs(10);

async fn t<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("the broker answered in time")
}

/// A broker with HTTPS configured by `tweak` (server certificate set).
async fn start(pki: &Pki, tweak: impl FnOnce(&mut TlsSettings)) -> warren::Server {
    let server = pki.server();
    let mut tls = TlsSettings::new(server.cert, server.key);
    tweak(&mut tls);
    let config = warren::Config {
        https_tls: Some(tls),
        ..warren::Config::for_tests()
    };
    t(warren::start(config)).await.expect("warren starts")
}

/// GET `path` over TLS with `config`, as guest; the status and body, or the error
/// the TLS or HTTP layer gave.
async fn get(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    path: &str,
) -> Result<(u16, String), String> {
    let tcp = t(TcpStream::connect(addr))
        .await
        .map_err(|e| e.to_string())?;
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    let tls = t(TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let token = base64::engine::general_purpose::STANDARD.encode("guest:guest");
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .header("authorization", format!("Basic {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = t(sender.send_request(request))
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status().as_u16();
    let body = t(response.into_body().collect())
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test]
async fn the_api_and_the_exporter_answer_over_tls_1_2_and_1_3() {
    let pki = Pki::new();
    let server = start(&pki, |_| {}).await;
    let addr = server.https_addr().expect("an HTTPS listener");
    assert!(server.http_addr().is_some(), "plain HTTP stays on");
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = client_config(&pki, None, &[version]);
        let (status, body) = get(addr, config.clone(), "/api/overview")
            .await
            .expect("HTTPS GET");
        assert_eq!(status, 200, "{body}");
        let overview: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(overview["product_name"], "Warren");
        let (status, body) = get(addr, config, "/metrics").await.expect("metrics");
        assert_eq!(status, 200);
        assert!(body.contains("# TYPE rabbitmq_queues gauge"), "{body}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn tls_1_1_is_refused_with_a_fatal_alert() {
    let pki = Pki::new();
    let server = start(&pki, |_| {}).await;
    let mut tcp = t(TcpStream::connect(server.https_addr().unwrap()))
        .await
        .unwrap();
    t(tcp.write_all(&tls11_client_hello())).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut reply)).await;
    assert_eq!(reply.first(), Some(&0x15), "a TLS alert, got {reply:?}");
    assert!(
        reply.len() == 7 && reply[5] == 2 && [40, 70].contains(&reply[6]),
        "one fatal handshake alert, got {reply:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_required_client_certificate_is_checked() {
    let pki = Pki::new();
    let ca = pki.ca_file();
    let server = start(&pki, move |tls| {
        tls.ca = Some(ca);
        tls.verify_peer = true;
        tls.fail_if_no_peer_cert = true;
    })
    .await;
    let addr = server.https_addr().unwrap();
    let refused = get(addr, client_config(&pki, None, BOTH), "/api/overview").await;
    assert!(refused.is_err(), "no certificate, no API: {refused:?}");

    // A certificate from another CA is refused as well.
    let stranger = Pki::new();
    let foreign = stranger.client("mallory");
    let mut roots = rustls::RootCertStore::empty();
    use pki_types::pem::PemObject;
    roots
        .add(pki_types::CertificateDer::from_pem_file(pki.ca_file()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(BOTH)
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![pki_types::CertificateDer::from_pem_file(&foreign.cert).unwrap()],
            pki_types::PrivateKeyDer::from_pem_file(&foreign.key).unwrap(),
        )
        .unwrap();
    let refused = get(addr, Arc::new(config), "/api/overview").await;
    assert!(refused.is_err(), "a foreign certificate: {refused:?}");

    let alice = pki.client("alice");
    let (status, _) = get(
        addr,
        client_config(&pki, Some(&alice), BOTH),
        "/api/overview",
    )
    .await
    .expect("with a certificate");
    assert_eq!(status, 200);
    server.shutdown().await;
}

#[test]
fn the_binary_names_what_an_https_setting_lacks() {
    let pki = Pki::new();
    let server = pki.server();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert_eq!(
        run(&["--https-cert".as_ref(), server.cert.as_os_str()]),
        "warren: an HTTPS certificate needs its key: --https-key or management.ssl.keyfile\n"
    );
    assert_eq!(
        run(&[
            "--https-cert".as_ref(),
            server.cert.as_os_str(),
            "--https-key".as_ref(),
            server.key.as_os_str(),
            "--https-verify-peer".as_ref(),
        ]),
        "warren: verifying HTTPS client certificates needs a CA bundle: --https-ca or management.ssl.cacertfile\n"
    );
}
