//! AMQPS: AMQP over TLS on its own listener, with client-certificate verification
//! and the EXTERNAL mechanism. Certificates are made per test run (a CA, a server
//! certificate for localhost/127.0.0.1, client certificates named by their CN); the
//! client is rustls through tokio-rustls, running the raw AMQP client over TLS.

mod common;
mod tls_common;

use common::raw::{Args, RawConn, Tune, CLIENT_CAPABILITIES, PROTOCOL_HEADER};
use common::{t, unique, within, TIMEOUT};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tls_common::{client_config, provider, tls11_client_hello, Pki, BOTH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types};
use tokio_rustls::{client::TlsStream, TlsConnector};
use warren::tls::{TlsSettings, TlsVersion};
use warren_core::PasswordInput;

/// Starts a broker with AMQPS configured by `tweak` (server certificate set).
async fn start(pki: &Pki, tweak: impl FnOnce(&mut TlsSettings)) -> warren::Server {
    let server = pki.server();
    let mut tls = TlsSettings::new(server.cert, server.key);
    tweak(&mut tls);
    let config = warren::Config {
        tls: Some(tls),
        ..warren::Config::for_tests()
    };
    t(warren::start(config)).await.expect("warren starts")
}

fn verify_peer(ca: PathBuf, required: bool) -> impl FnOnce(&mut TlsSettings) {
    move |tls| {
        tls.ca = Some(ca);
        tls.verify_peer = true;
        tls.fail_if_no_peer_cert = required;
    }
}

async fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = t(TcpStream::connect(addr)).await?;
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    t(TlsConnector::from(config).connect(name, tcp)).await
}

/// A raw AMQP connection over TLS, protocol header sent.
async fn amqps(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> RawConn<TlsStream<TcpStream>> {
    let stream = tls_connect(addr, config).await.expect("TLS handshake");
    let mut conn = RawConn::over(stream);
    conn.send(PROTOCOL_HEADER).await;
    conn
}

/// The mechanisms the server offers in `connection.start`.
async fn offered_mechanisms<S>(conn: &mut RawConn<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let args = conn.expect_method(0, 10, 10).await;
    let mut r = common::raw::Reader::new(&args);
    r.u8();
    r.u8();
    r.table();
    String::from_utf8(r.longstr()).unwrap()
}

/// Sends start-ok choosing `mechanism` (the start was read already).
async fn start_ok<S>(conn: &mut RawConn<S>, mechanism: &str, response: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let caps: Vec<u8> = CLIENT_CAPABILITIES
        .iter()
        .flat_map(|c| common::raw::entry(c, b't', &[1]))
        .collect();
    let props = common::raw::entry("capabilities", b'F', &Args::new().table_raw(&caps).build());
    let args = Args::new()
        .table_raw(&props)
        .shortstr(mechanism)
        .longstr(response)
        .shortstr("en_US")
        .build();
    conn.send_method(0, 10, 11, &args).await;
}

#[tokio::test]
async fn publish_and_consume_over_amqps_with_tls_1_2_and_1_3() {
    let pki = Pki::new();
    let server = start(&pki, |_| {}).await;
    let addr = server.amqps_addr().expect("an AMQPS listener");
    assert_ne!(addr.port(), server.amqp_addr().port());
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut conn = amqps(addr, client_config(&pki, None, &[version])).await;
        let hs = conn
            .handshake(Tune::default(), "/", CLIENT_CAPABILITIES)
            .await;
        assert_eq!(hs.mechanisms, "PLAIN AMQPLAIN");
        conn.open_channel(1).await;
        let queue = unique("amqps");
        conn.declare_queue(1, &queue).await;
        // Enough to fill the TLS buffers and the socket both ways.
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for _ in 0..40 {
            conn.publish(1, "", &queue, &[0, 0], &body).await;
        }
        conn.consume(1, &queue, "c", true).await;
        for _ in 0..40 {
            let message = conn.next_message().await;
            assert_eq!(message.deliver_fields().4, queue);
            assert!(message.body == body, "the body comes back intact");
        }
        conn.close().await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn plain_amqp_on_the_tls_port_gets_no_amqp_answer() {
    let pki = Pki::new();
    let server = start(&pki, |_| {}).await;
    let mut conn = RawConn::tcp(server.amqps_addr().unwrap()).await;
    conn.send(PROTOCOL_HEADER).await;
    let reply = conn.read_to_close(TIMEOUT).await;
    // A TLS alert record at most, then the socket closes; never connection.start.
    assert!(
        reply.is_empty() || reply[0] == 0x15,
        "expected nothing or a TLS alert, got {reply:?}"
    );
    // The plain listener is unaffected.
    let (conn, _) = RawConn::open(server.amqp_addr()).await;
    conn.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn tls_1_1_is_refused_with_a_fatal_alert() {
    let pki = Pki::new();
    let server = start(&pki, |_| {}).await;
    let mut tcp = t(TcpStream::connect(server.amqps_addr().unwrap()))
        .await
        .unwrap();
    t(tcp.write_all(&tls11_client_hello())).await.unwrap();
    let mut reply = Vec::new();
    let _ = within(TIMEOUT, tcp.read_to_end(&mut reply)).await;
    // No ServerHello: one fatal (2) alert record, handshake_failure (40) or
    // protocol_version (70), and the socket closes.
    assert_eq!(reply.len(), 7, "one alert record, got {reply:?}");
    assert_eq!(reply[0], 0x15, "a TLS alert, got {reply:?}");
    assert!(
        reply[5] == 2 && [40, 70].contains(&reply[6]),
        "a fatal handshake alert, got {reply:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn versions_setting_limits_the_protocol() {
    let pki = Pki::new();
    let server = start(&pki, |tls| tls.versions = vec![TlsVersion::V1_3]).await;
    let addr = server.amqps_addr().unwrap();
    let refused = tls_connect(addr, client_config(&pki, None, &[&rustls::version::TLS12])).await;
    assert!(
        refused.is_err(),
        "a TLS 1.2 client is refused by a 1.3-only server"
    );
    let mut conn = amqps(addr, client_config(&pki, None, &[&rustls::version::TLS13])).await;
    conn.handshake(Tune::default(), "/", CLIENT_CAPABILITIES)
        .await;
    conn.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused_when_one_is_required() {
    let pki = Pki::new();
    let server = start(&pki, verify_peer(pki.ca_file(), true)).await;
    let addr = server.amqps_addr().unwrap();
    // In TLS 1.3 the client finishes its side first; the refusal shows on reading.
    let refused = match tls_connect(addr, client_config(&pki, None, BOTH)).await {
        Err(_) => true,
        Ok(stream) => {
            let mut conn = RawConn::over(stream);
            conn.send_lossy(PROTOCOL_HEADER).await;
            conn.read_frame().await.is_none()
        }
    };
    assert!(refused, "no AMQP for a client without a certificate");
    // A certificate from another CA is refused too.
    let other = Pki::new();
    let stranger = other.client("guest");
    let config = {
        // Trusts our server, presents a certificate our CA did not sign.
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
                vec![pki_types::CertificateDer::from_pem_file(&stranger.cert).unwrap()],
                pki_types::PrivateKeyDer::from_pem_file(&stranger.key).unwrap(),
            )
            .unwrap();
        Arc::new(config)
    };
    let refused = match tls_connect(addr, config).await {
        Err(_) => true,
        Ok(stream) => {
            let mut conn = RawConn::over(stream);
            conn.send_lossy(PROTOCOL_HEADER).await;
            conn.read_frame().await.is_none()
        }
    };
    assert!(refused, "no AMQP for a certificate of an unknown CA");
    server.shutdown().await;
}

#[tokio::test]
async fn external_logs_in_as_the_certificate_common_name() {
    let pki = Pki::new();
    let server = start(&pki, verify_peer(pki.ca_file(), true)).await;
    let core = server.broker().clone();
    let user = unique("cert-user");
    core.add_user(&user, PasswordInput::Plain("secret".into()), vec![])
        .await
        .unwrap();
    // The user may only configure queues named tls.*, which shows who is logged in.
    core.set_permissions(&user, "/", "^tls\\.", ".*", ".*")
        .await
        .unwrap();
    let cert = pki.client(&user);
    let mut conn = amqps(
        server.amqps_addr().unwrap(),
        client_config(&pki, Some(&cert), BOTH),
    )
    .await;
    let hs = conn
        .handshake_as(Tune::default(), "/", CLIENT_CAPABILITIES, "EXTERNAL", b"")
        .await;
    assert_eq!(hs.mechanisms, "PLAIN AMQPLAIN EXTERNAL");
    conn.open_channel(1).await;
    conn.declare_queue(1, &format!("tls.{}", unique("q"))).await;
    let declare = Args::new()
        .u16(0)
        .shortstr(&unique("other"))
        .bits(&[false, false, false, false, false])
        .empty_table()
        .build();
    conn.send_method(1, 50, 10, &declare).await;
    let close = conn.expect_channel_close(1).await;
    assert_eq!(close.code, 403);
    assert!(close.text.contains(&user), "{}", close.text);
    conn.close().await;

    // The certificate is not a password: PLAIN still checks one.
    let mut conn = amqps(
        server.amqps_addr().unwrap(),
        client_config(&pki, Some(&cert), BOTH),
    )
    .await;
    offered_mechanisms(&mut conn).await;
    start_ok(&mut conn, "PLAIN", format!("\0{user}\0wrong").as_bytes()).await;
    let close = conn.expect_connection_close().await;
    assert_eq!(close.code, 403);
    server.shutdown().await;
}

#[tokio::test]
async fn external_for_an_unknown_common_name_is_refused_with_403() {
    let pki = Pki::new();
    let server = start(&pki, verify_peer(pki.ca_file(), true)).await;
    let nobody = unique("nobody");
    let cert = pki.client(&nobody);
    let mut conn = amqps(
        server.amqps_addr().unwrap(),
        client_config(&pki, Some(&cert), BOTH),
    )
    .await;
    assert_eq!(
        offered_mechanisms(&mut conn).await,
        "PLAIN AMQPLAIN EXTERNAL"
    );
    start_ok(&mut conn, "EXTERNAL", b"").await;
    let close = conn.expect_connection_close().await;
    assert_eq!(close.code, 403);
    assert!(close.text.starts_with("ACCESS_REFUSED"), "{}", close.text);
    assert!(close.text.contains(&nobody), "{}", close.text);
    server.shutdown().await;
}

#[tokio::test]
async fn without_a_client_certificate_external_is_not_offered_nor_accepted() {
    let pki = Pki::new();
    // Certificates asked for but optional.
    let server = start(&pki, verify_peer(pki.ca_file(), false)).await;
    let addr = server.amqps_addr().unwrap();
    let mut conn = amqps(addr, client_config(&pki, None, BOTH)).await;
    assert_eq!(offered_mechanisms(&mut conn).await, "PLAIN AMQPLAIN");
    start_ok(&mut conn, "EXTERNAL", b"").await;
    let close = conn.expect_connection_close().await;
    assert_eq!(close.code, 403);
    // Passwords work as on the plain port.
    let mut conn = amqps(addr, client_config(&pki, None, BOTH)).await;
    conn.handshake(Tune::default(), "/", CLIENT_CAPABILITIES)
        .await;
    conn.close().await;
    // And on the plain port EXTERNAL is never offered.
    let mut conn = RawConn::tcp(server.amqp_addr()).await;
    conn.send(PROTOCOL_HEADER).await;
    assert_eq!(offered_mechanisms(&mut conn).await, "PLAIN AMQPLAIN");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_certificate_files_refuse_to_start_naming_the_file() {
    let pki = Pki::new();
    let server = pki.server();
    let client = pki.client("someone");
    let not_pem = pki.dir.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let missing = pki.dir.join("missing.pem");
    let cases = [
        (TlsSettings::new(&missing, &server.key), missing.clone()),
        (TlsSettings::new(&not_pem, &server.key), not_pem.clone()),
        (TlsSettings::new(&server.cert, &not_pem), not_pem.clone()),
        // The client's key does not belong to the server's certificate.
        (
            TlsSettings::new(&server.cert, &client.key),
            client.key.clone(),
        ),
        (
            TlsSettings {
                ca: Some(missing.clone()),
                verify_peer: true,
                ..TlsSettings::new(&server.cert, &server.key)
            },
            missing.clone(),
        ),
    ];
    for (tls, named) in cases {
        let config = warren::Config {
            tls: Some(tls),
            ..warren::Config::for_tests()
        };
        let error = match t(warren::start(config)).await {
            Ok(_) => panic!("started with a bad file {}", named.display()),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains(&named.display().to_string()),
            "{error:?} names {}",
            named.display()
        );
    }
}

#[test]
fn the_binary_refuses_a_bad_certificate_and_a_cert_without_key() {
    let pki = Pki::new();
    let server = pki.server();
    let not_pem = pki.dir.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
            .args([
                "--amqp-port",
                "0",
                "--amqps-port",
                "0",
                "--bind",
                "127.0.0.1",
            ])
            .arg("--data-dir")
            .arg(pki.dir.join("data"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "--tls-cert",
        not_pem.to_str().unwrap(),
        "--tls-key",
        server.key.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(not_pem.to_str().unwrap()) && stderr.contains("no PEM certificate"),
        "{stderr}"
    );
    let out = run(&["--tls-cert", server.cert.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

#[tokio::test]
async fn the_handshake_timeout_drops_a_silent_tls_client() {
    let pki = Pki::new();
    let mut config = warren::Config {
        tls: Some({
            let s = pki.server();
            TlsSettings::new(s.cert, s.key)
        }),
        ..warren::Config::for_tests()
    };
    config.amqp.handshake_timeout = Duration::from_millis(300);
    let server = t(warren::start(config)).await.unwrap();
    let mut tcp = t(TcpStream::connect(server.amqps_addr().unwrap()))
        .await
        .unwrap();
    // `within` fails the test if the socket is still open after 3 s.
    let mut sink = Vec::new();
    let _ = within(Duration::from_secs(3), tcp.read_to_end(&mut sink)).await;
    assert!(
        sink.is_empty(),
        "nothing sent to a client that said nothing"
    );
    server.shutdown().await;
}
