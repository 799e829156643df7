"""Tutorial 5, "Topics": a topic exchange with `*` and `#` bindings."""

from amqp_helpers import wait_until

# routing key -> which queues get it (Q1: *.orange.*; Q2: *.*.rabbit and lazy.#)
EXPECTED = {
    "quick.orange.rabbit": {"Q1", "Q2"},
    "lazy.orange.elephant": {"Q1", "Q2"},
    "quick.orange.fox": {"Q1"},
    "lazy.brown.fox": {"Q2"},
    "lazy.pink.rabbit": {"Q2"},  # matches both Q2 bindings, delivered once
    "quick.brown.fox": set(),
    "orange": set(),
    "quick.orange.male.rabbit": set(),
    "lazy.orange.male.rabbit": {"Q2"},
    "lazy": {"Q2"},  # '#' matches zero words
    "lazy.": {"Q2"},  # 'lazy' plus one empty word
    ".orange.": {"Q1"},  # '*' matches an empty word
    "orange.quick.rabbit": {"Q2"},
    "lazyish.brown.fox": set(),
    "": set(),
}

SENTINEL = "lazy.orange.sentinel"  # goes to both queues, published last


def test_topic_routing_table(broker):
    exchange = broker.exchange("topic_logs")
    conn = broker.connect()
    ch = conn.channel()
    ch.exchange_declare(exchange=exchange, exchange_type="topic")

    received = {"Q1": [], "Q2": []}
    bindings = {"Q1": ["*.orange.*"], "Q2": ["*.*.rabbit", "lazy.#"]}
    for label, keys in bindings.items():
        # receive_logs_topic.py
        queue_name = ch.queue_declare("", exclusive=True).method.queue
        for binding_key in keys:
            ch.queue_bind(exchange=exchange, queue=queue_name, routing_key=binding_key)
        ch.basic_consume(
            queue=queue_name,
            on_message_callback=lambda c, method, props, body, label=label: received[label].append(method.routing_key),
            auto_ack=True,
        )

    # emit_log_topic.py
    publisher = broker.connect()
    pch = publisher.channel()
    for routing_key in EXPECTED:
        pch.basic_publish(exchange=exchange, routing_key=routing_key, body=routing_key.encode())
    pch.basic_publish(exchange=exchange, routing_key=SENTINEL, body=b"end")

    wait_until(conn, lambda: SENTINEL in received["Q1"] and SENTINEL in received["Q2"], "the sentinel at both queues")

    got = {key: {label for label, keys in received.items() if key in keys} for key in EXPECTED}
    assert got == EXPECTED
    for label, keys in received.items():
        assert len(keys) == len(set(keys)), f"{label} got a message twice: {keys}"
        expected_order = [k for k in EXPECTED if label in EXPECTED[k]] + [SENTINEL]
        assert keys == expected_order
