"""Headers exchange routing with x-match all / any."""

import pika

from amqp_helpers import pump, wait_until

BINDINGS = {
    "all_pdf_report": {"x-match": "all", "format": "pdf", "type": "report"},
    "any_pdf_or_log": {"x-match": "any", "format": "pdf", "type": "log"},
    "default_is_all": {"format": "zip", "type": "report"},
    "int_one": {"x-match": "all", "n": 1},
    "flag_present": {"x-match": "all", "flag": None},  # void: any value, present
    "only_x_all": {"x-match": "all"},  # no non-x- args: matches everything
    "only_x_any": {"x-match": "any", "x-other": "ignored"},  # ...and nothing under any
}

# message headers -> queues (by binding label) that get the message
CASES = [
    ("pdf-report", {"format": "pdf", "type": "report"}, {"all_pdf_report", "any_pdf_or_log", "only_x_all"}),
    ("pdf-only", {"format": "pdf"}, {"any_pdf_or_log", "only_x_all"}),
    ("log-only", {"type": "log"}, {"any_pdf_or_log", "only_x_all"}),
    ("zip-report", {"format": "zip", "type": "report", "extra": "yes"}, {"default_is_all", "only_x_all"}),
    ("zip-only", {"format": "zip"}, {"only_x_all"}),
    ("none", None, {"only_x_all"}),
    ("int", {"n": 1}, {"int_one", "only_x_all"}),
    ("str-not-int", {"n": "1"}, {"only_x_all"}),
    ("flag-false", {"flag": False}, {"flag_present", "only_x_all"}),
    ("flag-str", {"flag": "anything"}, {"flag_present", "only_x_all"}),
    ("x-header-ignored", {"x-format": "pdf"}, {"only_x_all"}),
]


def test_headers_exchange_matching(broker):
    exchange = broker.exchange("headers")
    conn = broker.connect()
    ch = conn.channel()
    ch.exchange_declare(exchange=exchange, exchange_type="headers")
    received = {label: [] for label in BINDINGS}
    for label, arguments in BINDINGS.items():
        queue = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(queue=queue, exchange=exchange, routing_key="ignored", arguments=arguments)
        ch.basic_consume(
            queue=queue,
            on_message_callback=lambda c, m, p, body, label=label: received[label].append(body.decode()),
            auto_ack=True,
        )

    publisher = broker.connect().channel()
    for body, headers, _ in CASES:
        publisher.basic_publish(exchange=exchange, routing_key="whatever", body=body,
                                properties=pika.BasicProperties(headers=headers))
    # Two sentinels that between them reach every queue but only_x_any: once
    # they are in, everything published before them is.
    sentinel = {"format": "pdf", "type": "report", "n": 1, "flag": 1}
    publisher.basic_publish(exchange=exchange, routing_key="", body="end",
                            properties=pika.BasicProperties(headers=sentinel))
    publisher.basic_publish(exchange=exchange, routing_key="", body="end",
                            properties=pika.BasicProperties(headers={"format": "zip", "type": "report"}))
    reachable = [label for label in BINDINGS if label != "only_x_any"]
    wait_until(conn, lambda: all("end" in received[label] for label in reachable), "the sentinels everywhere")
    pump(conn, 0.2)

    for label in received:
        received[label] = [body for body in received[label] if body != "end"]
    got = {body: {label for label, bodies in received.items() if body in bodies} for body, _, _ in CASES}
    assert got == {body: expected for body, _, expected in CASES}
    assert received["only_x_any"] == []
