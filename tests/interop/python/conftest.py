"""Fixtures for the pika interop suite.

The broker is whatever AMQP_URL points at (default: a local broker on 5672
with guest/guest). Tests never share names: every queue and exchange carries
a per-test uuid suffix and is deleted afterwards.
"""

import uuid

import pytest

from amqp_helpers import AMQP_URL, connect


class Broker:
    """Opens connections for one test and cleans up what the test declared."""

    def __init__(self):
        self.suffix = uuid.uuid4().hex[:12]
        self._connections = []
        self._queues = []
        self._exchanges = []

    def connect(self):
        conn = connect()
        self._connections.append(conn)
        return conn

    def queue(self, base):
        """A unique queue name, deleted when the test ends."""
        name = f"{base}-{self.suffix}"
        self._queues.append(name)
        return name

    def exchange(self, base):
        """A unique exchange name, deleted when the test ends."""
        name = f"{base}-{self.suffix}"
        self._exchanges.append(name)
        return name

    def close(self):
        for conn in self._connections:
            if conn.is_open:
                try:
                    conn.close()
                except Exception:  # the test's outcome already says what broke
                    pass
        if not self._connections or not (self._queues or self._exchanges):
            return  # nothing could have been declared
        errors = []
        conn = connect()
        try:
            for kind, names in (("queue", self._queues), ("exchange", self._exchanges)):
                for name in names:
                    try:
                        channel = conn.channel()
                        if kind == "queue":
                            channel.queue_delete(name)
                        else:
                            channel.exchange_delete(name)
                        channel.close()
                    except Exception as exc:  # keep deleting the rest
                        errors.append(f"deleting {kind} {name}: {exc!r}")
        finally:
            conn.close()
        if errors:
            raise AssertionError("cleanup failed: " + "; ".join(errors))


@pytest.fixture
def broker():
    b = Broker()
    try:
        yield b
    finally:
        b.close()


def pytest_report_header(config):
    return f"AMQP_URL: {AMQP_URL}"
