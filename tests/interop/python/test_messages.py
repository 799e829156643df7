"""Message properties round-trip; acknowledgements and requeueing."""

import datetime
import decimal

import pika

from amqp_helpers import get_message, message_count, pump, wait_until

HEADERS = {
    "string": "text ü",
    "int": 42,
    "negative": -7,
    "long": 2**40,
    "bool_true": True,
    "bool_false": False,
    "bytes": b"\x00\x01\xffraw",
    "void": None,
    "decimal": decimal.Decimal("3.14"),
    "timestamp": datetime.datetime(2024, 5, 17, 12, 30, 45, tzinfo=datetime.timezone.utc),
    "array": [1, "two", True, [3, 4], {"in": "array"}],
    "table": {"nested": {"deeper": {"x": 1}}, "list": ["a", b"b"], "z": 0},
    "empty_table": {},
    "empty_array": [],
    "zzz_last_key": "order kept",
    "aaa_after": "order kept too",
}


def full_properties():
    return pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=HEADERS,
        delivery_mode=pika.DeliveryMode.Persistent,
        priority=5,
        correlation_id="corr-123",
        reply_to="reply-queue",
        expiration="60000",
        message_id="msg-456",
        timestamp=1700000000,
        type="order.created",
        user_id="guest",
        app_id="interop-tests",
    )


PROPERTY_NAMES = ["content_type", "content_encoding", "delivery_mode", "priority", "correlation_id",
                  "reply_to", "expiration", "message_id", "timestamp", "type", "user_id", "app_id"]


def assert_same_properties(got, sent):
    for name in PROPERTY_NAMES:
        assert getattr(got, name) == getattr(sent, name), name
    assert got.headers == sent.headers
    # Key order of the table is what the publisher sent (the header is passed through).
    assert list(got.headers) == list(sent.headers)
    assert list(got.headers["table"]) == list(sent.headers["table"])


def test_properties_and_headers_round_trip_to_consumer(broker):
    queue = broker.queue("props")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue)
    sent = full_properties()
    body = bytes(range(256)) * 3
    ch.basic_publish(exchange="", routing_key=queue, body=body, properties=sent)

    got = []
    ch.basic_consume(queue, lambda c, m, p, b: got.append((p, b)), auto_ack=True)
    wait_until(conn, lambda: got, "the message")
    props, got_body = got[0]
    assert got_body == body
    assert_same_properties(props, sent)
    assert isinstance(props.headers["bytes"], bytes)


def test_properties_round_trip_through_basic_get_and_empty_properties(broker):
    queue = broker.queue("props-get")
    ch = broker.connect().channel()
    ch.queue_declare(queue)
    sent = full_properties()
    ch.basic_publish(exchange="", routing_key=queue, body=b"", properties=sent)
    ch.basic_publish(exchange="", routing_key=queue, body=b"plain")

    _, props, body = get_message(ch, queue, auto_ack=True)
    assert body == b""
    assert_same_properties(props, sent)

    _, props, body = get_message(ch, queue, auto_ack=True)
    assert body == b"plain"
    for name in PROPERTY_NAMES + ["headers"]:
        assert getattr(props, name) is None, name


def test_large_body_spanning_many_frames(broker):
    queue = broker.queue("large")
    ch = broker.connect().channel()
    ch.queue_declare(queue)
    body = bytes(i % 251 for i in range(1_000_000))
    ch.basic_publish(exchange="", routing_key=queue, body=body)
    _, _, got = get_message(ch, queue, auto_ack=True)
    assert got == body


def test_nack_with_requeue_redelivers_at_the_head(broker):
    queue = broker.queue("nack")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue)
    for body in (b"first", b"second"):
        ch.basic_publish(exchange="", routing_key=queue, body=body)

    method, _, body = get_message(ch, queue)
    assert (body, method.redelivered) == (b"first", False)
    ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)

    method, _, body = get_message(ch, queue)
    assert (body, method.redelivered) == (b"first", True), "requeued to its old place, flagged redelivered"
    ch.basic_ack(method.delivery_tag)
    method, _, body = get_message(ch, queue)
    assert (body, method.redelivered) == (b"second", False)
    ch.basic_ack(method.delivery_tag)
    assert message_count(ch, queue) == 0


def test_nack_without_requeue_drops_and_consumer_redelivery(broker):
    queue = broker.queue("nack-consumer")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue)
    ch.basic_publish(exchange="", routing_key=queue, body=b"retry-me")
    ch.basic_publish(exchange="", routing_key=queue, body=b"drop-me")
    ch.basic_qos(prefetch_count=10)
    deliveries = []

    def callback(c, method, props, body):
        deliveries.append((body, method.redelivered, method.delivery_tag))
        if body == b"retry-me" and not method.redelivered:
            c.basic_nack(method.delivery_tag, requeue=True)
        elif body == b"drop-me":
            c.basic_nack(method.delivery_tag, requeue=False)
        else:
            c.basic_ack(method.delivery_tag)

    ch.basic_consume(queue, callback)
    wait_until(conn, lambda: len(deliveries) >= 3, "three deliveries")
    pump(conn, 0.2)
    assert deliveries == [(b"retry-me", False, 1), (b"drop-me", False, 2), (b"retry-me", True, 3)]
    assert message_count(ch, queue) == 0


def test_reject_requeue_and_multiple_ack(broker):
    queue = broker.queue("multi")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue)
    for i in range(5):
        ch.basic_publish(exchange="", routing_key=queue, body=str(i).encode())
    tags = [get_message(ch, queue)[0].delivery_tag for _ in range(5)]
    assert tags == [1, 2, 3, 4, 5]
    ch.basic_reject(delivery_tag=5, requeue=True)
    ch.basic_ack(delivery_tag=4, multiple=True)  # acks 1..4
    method, _, body = get_message(ch, queue)
    assert (body, method.redelivered, method.delivery_tag) == (b"4", True, 6)
    ch.basic_ack(method.delivery_tag)
    assert message_count(ch, queue) == 0
