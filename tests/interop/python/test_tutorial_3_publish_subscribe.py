"""Tutorial 3, "Publish/Subscribe": a fanout exchange and throwaway queues."""

import time

import pika
import pytest

from amqp_helpers import WAIT, connect, wait_until


class Subscriber:
    """receive_logs.py from the tutorial."""

    def __init__(self, broker, exchange):
        self.connection = broker.connect()
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange=exchange, exchange_type="fanout")
        result = self.channel.queue_declare(queue="", exclusive=True)
        self.queue_name = result.method.queue
        self.channel.queue_bind(exchange=exchange, queue=self.queue_name)
        self.received = []
        self.channel.basic_consume(
            queue=self.queue_name,
            on_message_callback=lambda ch, method, props, body: self.received.append(body),
            auto_ack=True,
        )


def test_fanout_every_subscriber_gets_every_message(broker):
    exchange = broker.exchange("logs")
    first = Subscriber(broker, exchange)
    second = Subscriber(broker, exchange)

    for sub in (first, second):
        assert sub.queue_name.startswith("amq.gen-"), sub.queue_name
        assert len(sub.queue_name) > len("amq.gen-")
    assert first.queue_name != second.queue_name

    # emit_log.py
    publisher = broker.connect()
    pch = publisher.channel()
    pch.exchange_declare(exchange=exchange, exchange_type="fanout")
    messages = [f"info: log line {i}".encode() for i in range(20)]
    for message in messages:
        pch.basic_publish(exchange=exchange, routing_key="", body=message)

    conns = [first.connection, second.connection]
    wait_until(conns, lambda: len(first.received) >= 20 and len(second.received) >= 20, "both subscribers to get 20 logs")
    assert first.received == messages
    assert second.received == messages


def test_exclusive_queue_is_private_and_goes_away_with_its_connection(broker):
    exchange = broker.exchange("logs")
    sub = Subscriber(broker, exchange)
    other = broker.connect()

    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        other.channel().queue_declare(queue=sub.queue_name, passive=True)
    assert info.value.reply_code == 405  # RESOURCE_LOCKED

    sub.connection.close()
    # The broker deletes the queue when its owner disconnects.
    checker = connect()
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                checker.channel().queue_declare(queue=sub.queue_name, passive=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                assert exc.reply_code == 404
                break
            assert time.monotonic() < deadline, "exclusive queue outlived its connection"
            checker.sleep(0.05)
    finally:
        checker.close()
