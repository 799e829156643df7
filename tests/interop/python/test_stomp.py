"""STOMP with the stomp.py client, and STOMP <-> AMQP (pika) interop.

The broker's STOMP port is STOMP_PORT (default 61613) on the AMQP_URL's host.
Against a broker without STOMP (a RabbitMQ without the plugin) these tests are
skipped.
"""

import os
import queue
import socket
import time
import uuid
from urllib.parse import urlparse

import pika
import pytest
import stomp

from amqp_helpers import AMQP_URL, WAIT, connect

HOST = urlparse(AMQP_URL).hostname or "127.0.0.1"
PORT = int(os.environ.get("STOMP_PORT", "61613"))


def stomp_reachable():
    try:
        socket.create_connection((HOST, PORT), timeout=1).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not stomp_reachable(), reason="no STOMP listener")


class Inbox(stomp.ConnectionListener):
    """Collects MESSAGE and ERROR frames; `get` waits with a deadline."""

    def __init__(self):
        self.messages = queue.Queue()
        self.errors = queue.Queue()

    def on_message(self, frame):
        self.messages.put(frame)

    def on_error(self, frame):
        self.errors.put(frame)

    def get(self):
        return self.messages.get(timeout=WAIT)

    def nothing(self, wait=0.3):
        with pytest.raises(queue.Empty):
            self.messages.get(timeout=wait)


def open_stomp(**kwargs):
    conn = stomp.Connection12([(HOST, PORT)], vhost="/", **kwargs)
    inbox = Inbox()
    conn.set_listener("inbox", inbox)
    conn.connect("guest", "guest", wait=True)
    return conn, inbox


def name(base):
    return f"{base}-{uuid.uuid4().hex[:12]}"


def test_send_and_receive_on_a_queue_with_client_ack():
    q = f"/queue/{name('py-stomp')}"
    conn, inbox = open_stomp()
    try:
        conn.subscribe(q, id="1", ack="client-individual")
        conn.send(q, "hello", headers={"x-custom": "v1"}, content_type="text/plain")
        frame = inbox.get()
        assert frame.body == "hello"
        assert frame.headers["x-custom"] == "v1"
        assert frame.headers["content-type"] == "text/plain"
        assert frame.headers["subscription"] == "1"
        conn.ack(frame.headers["ack"])
        inbox.nothing()
    finally:
        conn.disconnect()


def test_nack_requeues_and_topic_wildcards():
    key = name("k")
    conn, inbox = open_stomp()
    try:
        conn.subscribe(f"/topic/{key}.#", id="t", ack="client-individual")
        time.sleep(0.2)
        conn.send(f"/topic/{key}.a.b", "topical")
        first = inbox.get()
        assert first.headers["destination"] == f"/topic/{key}.a.b"
        conn.nack(first.headers["ack"])
        again = inbox.get()
        assert again.body == "topical"
        assert again.headers["redelivered"] == "true"
        conn.ack(again.headers["ack"])
    finally:
        conn.disconnect()


def test_heartbeats_keep_the_connection():
    conn, inbox = open_stomp(heartbeats=(200, 200))
    try:
        time.sleep(1.5)
        assert conn.is_connected()
        q = f"/queue/{name('hb')}"
        conn.subscribe(q, id="1")
        conn.send(q, "still alive")
        assert inbox.get().body == "still alive"
    finally:
        conn.disconnect()


def test_wrong_password_is_refused():
    conn = stomp.Connection12([(HOST, PORT)], vhost="/")
    inbox = Inbox()
    conn.set_listener("inbox", inbox)
    with pytest.raises(stomp.exception.ConnectFailedException):
        conn.connect("guest", "not-the-password", wait=True)
    error = inbox.errors.get(timeout=WAIT)
    assert error.headers["message"] == "Bad CONNECT"


def test_pika_publish_reaches_stomp_with_properties():
    qname = name("py-interop")
    amqp = connect()
    ch = amqp.channel()
    ch.queue_declare(qname, durable=True)
    conn, inbox = open_stomp()
    try:
        conn.subscribe(f"/amq/queue/{qname}", id="1")
        time.sleep(0.2)
        ch.basic_publish(
            "",
            qname,
            b"from pika",
            pika.BasicProperties(
                content_type="text/plain",
                correlation_id="c-1",
                delivery_mode=2,
                priority=4,
                headers={"x-app": "pika", "x-n": 7},
            ),
        )
        frame = inbox.get()
        assert frame.body == "from pika"
        h = frame.headers
        assert h["content-type"] == "text/plain"
        assert h["correlation-id"] == "c-1"
        assert h["persistent"] == "true"
        assert h["priority"] == "4"
        assert h["x-app"] == "pika"
        assert h["x-n"] == "7"
    finally:
        conn.disconnect()
        ch.queue_delete(qname)
        amqp.close()


def test_stomp_send_reaches_pika_with_properties():
    qname = name("py-interop")
    amqp = connect()
    ch = amqp.channel()
    ch.queue_declare(qname)
    conn, _ = open_stomp()
    try:
        conn.send(
            f"/amq/queue/{qname}",
            "from stomp.py",
            content_type="application/json",
            headers={
                "correlation-id": "c-2",
                "persistent": "true",
                "priority": "2",
                "x-origin": "stomp.py",
                "receipt": "r1",
            },
        )
        deadline = time.monotonic() + WAIT
        method = None
        while method is None and time.monotonic() < deadline:
            method, props, body = ch.basic_get(qname, auto_ack=True)
            if method is None:
                time.sleep(0.05)
        assert method is not None, "message reached the AMQP side"
        assert body == b"from stomp.py"
        assert props.content_type == "application/json"
        assert props.correlation_id == "c-2"
        assert props.delivery_mode == 2
        assert props.priority == 2
        assert props.headers["x-origin"] == "stomp.py"
        # As RabbitMQ's plugin does: frame headers but the destination are copied.
        assert props.headers["receipt"] == "r1"
        assert "destination" not in props.headers
    finally:
        conn.disconnect()
        ch.queue_delete(qname)
        amqp.close()


def test_rpc_with_temp_queue_and_pika_responder():
    service = name("py-rpc")
    amqp = connect()
    ch = amqp.channel()
    ch.queue_declare(service)
    conn, inbox = open_stomp()
    try:
        conn.send(f"/amq/queue/{service}", "ping", headers={"reply-to": "/temp-queue/r"})
        deadline = time.monotonic() + WAIT
        method = None
        while method is None and time.monotonic() < deadline:
            method, props, body = ch.basic_get(service, auto_ack=True)
            if method is None:
                time.sleep(0.05)
        assert method is not None
        assert props.reply_to.startswith("amq.gen-")
        ch.basic_publish("", props.reply_to, b"pong")
        reply = inbox.get()
        assert reply.body == "pong"
        assert reply.headers["subscription"] == "/temp-queue/r"
    finally:
        conn.disconnect()
        ch.queue_delete(service)
        amqp.close()
