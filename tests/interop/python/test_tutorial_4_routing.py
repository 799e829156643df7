"""Tutorial 4, "Routing": a direct exchange and severities."""

from amqp_helpers import wait_until


class SeverityConsumer:
    """receive_logs_direct.py from the tutorial."""

    def __init__(self, broker, exchange, severities):
        self.connection = broker.connect()
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange=exchange, exchange_type="direct")
        self.queue_name = self.channel.queue_declare(queue="", exclusive=True).method.queue
        for severity in severities:
            self.channel.queue_bind(exchange=exchange, queue=self.queue_name, routing_key=severity)
        self.received = []
        self.channel.basic_consume(
            queue=self.queue_name,
            on_message_callback=lambda ch, method, props, body: self.received.append((method.routing_key, body)),
            auto_ack=True,
        )


def test_direct_routing_by_severity(broker):
    exchange = broker.exchange("direct_logs")
    errors_only = SeverityConsumer(broker, exchange, ["error"])
    everything = SeverityConsumer(broker, exchange, ["info", "warning", "error"])

    # emit_log_direct.py
    publisher = broker.connect()
    pch = publisher.channel()
    pch.exchange_declare(exchange=exchange, exchange_type="direct")
    sent = [("info", b"i1"), ("debug", b"d1"), ("error", b"e1"), ("warning", b"w1"),
            ("info", b"i2"), ("critical", b"c1"), ("error", b"e2"), ("Error", b"E3")]
    for severity, body in sent:
        pch.basic_publish(exchange=exchange, routing_key=severity, body=body)
    # A last message both consumers get: once it is in, everything before it is.
    pch.basic_publish(exchange=exchange, routing_key="error", body=b"end")

    conns = [errors_only.connection, everything.connection]
    wait_until(conns, lambda: ("error", b"end") in errors_only.received and ("error", b"end") in everything.received,
               "the final error message at both consumers")

    assert errors_only.received == [("error", b"e1"), ("error", b"e2"), ("error", b"end")]
    assert everything.received == [("info", b"i1"), ("error", b"e1"), ("warning", b"w1"), ("info", b"i2"),
                                   ("error", b"e2"), ("error", b"end")]
