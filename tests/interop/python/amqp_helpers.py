"""Small helpers shared by the pika interop tests.

Every wait here has a deadline, so a broker that never answers fails the test
that waited instead of hanging the suite.
"""

import os
import time

import pika

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
AMQP_URL = os.environ.get("AMQP_URL", DEFAULT_URL)

# How long a test waits for something a healthy broker does in milliseconds.
WAIT = float(os.environ.get("INTEROP_WAIT_SECONDS", "10"))


def connection_parameters():
    """Parameters for AMQP_URL with short timeouts for every blocking step."""
    params = pika.URLParameters(AMQP_URL)
    params.connection_attempts = 1
    params.socket_timeout = 3
    params.stack_timeout = 5
    params.blocked_connection_timeout = 10
    return params


def connect():
    return pika.BlockingConnection(connection_parameters())


def wait_until(connections, predicate, what, timeout=WAIT):
    """Pump the connections' I/O (running consumer callbacks) until predicate().

    `connections` is one BlockingConnection or a list of them; they are
    serviced in turn, so several clients can live in one thread.
    """
    if not isinstance(connections, (list, tuple)):
        connections = [connections]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        for conn in connections:
            conn.process_data_events(time_limit=0.02)


def pump(connections, seconds):
    """Service the connections for a fixed time (to observe that nothing comes)."""
    if not isinstance(connections, (list, tuple)):
        connections = [connections]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for conn in connections:
            conn.process_data_events(time_limit=0.02)


def get_message(channel, queue, auto_ack=False, timeout=WAIT):
    """basic_get, polling until a message is there; returns (method, props, body)."""
    deadline = time.monotonic() + timeout
    while True:
        method, props, body = channel.basic_get(queue, auto_ack=auto_ack)
        if method is not None:
            return method, props, body
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for a message on {queue}")
        channel.connection.sleep(0.02)


def message_count(channel, queue):
    return channel.queue_declare(queue, passive=True).method.message_count
