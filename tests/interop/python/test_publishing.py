"""Mandatory returns, publisher confirms and basic.get."""

import pika
import pytest

from amqp_helpers import get_message, message_count, wait_until


def test_mandatory_publish_to_nowhere_is_returned(broker):
    nowhere = broker.queue("no-such-queue")
    conn = broker.connect()
    ch = conn.channel()
    returned = []
    ch.add_on_return_callback(lambda c, method, props, body: returned.append((method, props, body)))
    ch.basic_publish(exchange="", routing_key=nowhere, body=b"lost?", mandatory=True,
                     properties=pika.BasicProperties(message_id="m-1", headers={"k": "v"}))
    wait_until(conn, lambda: returned, "basic.return")
    method, props, body = returned[0]
    assert method.reply_code == 312
    assert method.reply_text == "NO_ROUTE"
    assert method.exchange == ""
    assert method.routing_key == nowhere
    assert body == b"lost?"
    assert props.message_id == "m-1"
    assert props.headers == {"k": "v"}
    # The channel stays usable.
    assert ch.is_open
    ch.queue_declare("", exclusive=True)


def test_mandatory_unroutable_with_confirms_raises(broker):
    exchange = broker.exchange("empty-direct")
    ch = broker.connect().channel()
    ch.exchange_declare(exchange, exchange_type="direct")
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError) as info:
        ch.basic_publish(exchange=exchange, routing_key="nobody", body=b"x", mandatory=True)
    [returned] = info.value.messages
    assert returned.method.reply_code == 312
    assert returned.method.exchange == exchange
    assert returned.method.routing_key == "nobody"
    assert returned.body == b"x"
    # Without mandatory the same message is confirmed and dropped silently.
    ch.basic_publish(exchange=exchange, routing_key="nobody", body=b"x")
    assert ch.is_open


def test_publisher_confirms(broker):
    queue = broker.queue("confirms")
    ch = broker.connect().channel()
    ch.queue_declare(queue)
    ch.confirm_delivery()
    for i in range(200):
        # Raises NackError / UnroutableError if the broker does not ack.
        ch.basic_publish(exchange="", routing_key=queue, body=f"m{i}".encode(), mandatory=True,
                         properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))
    assert message_count(ch, queue) == 200
    # Publishing to a missing exchange on a confirm channel closes it with 404.
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_publish(exchange=broker.exchange("missing"), routing_key="", body=b"x")
    assert info.value.reply_code == 404


def test_basic_get_reports_remaining_message_count(broker):
    queue = broker.queue("get")
    ch = broker.connect().channel()
    ch.queue_declare(queue)
    ch.confirm_delivery()
    for body in (b"one", b"two", b"three"):
        ch.basic_publish(exchange="", routing_key=queue, body=body)

    seen = []
    for _ in range(3):
        method, props, body = ch.basic_get(queue)
        assert method is not None
        seen.append((body, method.message_count, method.redelivered, method.routing_key, method.exchange))
        ch.basic_ack(method.delivery_tag)
    assert seen == [(b"one", 2, False, queue, ""), (b"two", 1, False, queue, ""), (b"three", 0, False, queue, "")]
    assert ch.basic_get(queue) == (None, None, None)


def test_publish_then_get_on_same_channel_sees_message(broker):
    queue = broker.queue("same-channel")
    ch = broker.connect().channel()
    ch.queue_declare(queue)
    ch.basic_publish(exchange="", routing_key=queue, body=b"hi")
    method, _, body = get_message(ch, queue, auto_ack=True)
    assert body == b"hi"
    assert method.delivery_tag == 1
