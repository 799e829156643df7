"""AMQPS with pika and an ssl.SSLContext, against a warren of its own.

The suite's shared broker has no certificate, so this test makes a CA, a server
certificate and a client certificate (CN=guest) with the openssl command, starts
target/debug/warren with them on free ports, and talks to it over TLS: password
login, publish and consume, then EXTERNAL login with the client certificate.
Skipped against an external broker (WARREN_EXTERNAL_AMQP_URL) or without the
warren binary or openssl.
"""

import os
import re
import shutil
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pika
import pytest

ROOT = Path(__file__).resolve().parents[3]
WARREN_BIN = Path(os.environ.get("WARREN_BIN", ROOT / "target" / "debug" / "warren"))

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("WARREN_EXTERNAL_AMQP_URL"))
    or not WARREN_BIN.exists()
    or shutil.which("openssl") is None,
    reason="needs target/debug/warren and openssl, and a broker of its own",
)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """ca.pem, server.pem/.key (localhost, 127.0.0.1), client.pem/.key (CN=guest)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=warren interop CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject in (("server", "/CN=localhost"), ("client", "/CN=guest")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                "-out", f"{name}.pem", cwd=d)


@pytest.fixture
def amqps(tmp_path):
    """A warren with AMQPS (client certificates verified, optional); yields its port."""
    make_pki(tmp_path)
    log = open(tmp_path / "warren.log", "w+")
    proc = subprocess.Popen(
        [str(WARREN_BIN), "--amqp-port", "0", "--amqps-port", "0", "--bind", "127.0.0.1",
         "--data-dir", str(tmp_path / "data"),
         "--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.key"),
         "--tls-ca", str(tmp_path / "ca.pem"), "--tls-verify-peer"],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "WARREN_HTTP_PORT": "0", "WARREN_MQTT_PORT": "0",
             "WARREN_STOMP_PORT": "0", "WARREN_MQTT_WS_PORT": "0", "WARREN_STOMP_WS_PORT": "0"},
    )
    port = None
    deadline = time.time() + 30
    while port is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
        log.seek(0)
        found = re.search(r"AMQPS listener on 127\.0\.0\.1:(\d+)", log.read())
        if found:
            port = int(found.group(1))
    try:
        log.seek(0)
        assert port, f"warren did not log its AMQPS listener:\n{log.read()}"
        yield tmp_path, port
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def params(d, port, client_cert, credentials):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(str(d / "ca.pem"))
    if client_cert:
        context.load_cert_chain(str(d / "client.pem"), str(d / "client.key"))
    return pika.ConnectionParameters(
        host="127.0.0.1", port=port, credentials=credentials,
        ssl_options=pika.SSLOptions(context, server_hostname="localhost"),
    )


def round_trip(conn):
    ch = conn.channel()
    queue = f"tls-{uuid.uuid4().hex[:12]}"
    ch.queue_declare(queue, exclusive=True)
    body = os.urandom(200_000)
    ch.basic_publish("", queue, body)
    for method, _, received in ch.consume(queue, auto_ack=True, inactivity_timeout=5):
        assert method is not None, "no delivery over TLS"
        assert received == body
        break
    ch.cancel()


def test_password_login_publish_and_consume_over_tls(amqps):
    d, port = amqps
    conn = pika.BlockingConnection(
        params(d, port, False, pika.PlainCredentials("guest", "guest")))
    try:
        round_trip(conn)
    finally:
        conn.close()


def test_external_login_with_the_client_certificate(amqps):
    d, port = amqps
    conn = pika.BlockingConnection(params(d, port, True, pika.credentials.ExternalCredentials()))
    try:
        round_trip(conn)
    finally:
        conn.close()


def test_external_without_a_certificate_is_refused(amqps):
    d, port = amqps
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params(d, port, False, pika.credentials.ExternalCredentials()))
