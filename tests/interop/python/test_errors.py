"""Errors a client sees: reply codes, and that they close only the channel."""

import pika
import pytest


def test_passive_declare_of_missing_queue_is_404(broker):
    conn = broker.connect()
    ch = conn.channel()
    missing = broker.queue("missing")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare(missing, passive=True)
    assert info.value.reply_code == 404
    assert info.value.reply_text.startswith("NOT_FOUND")
    assert missing in info.value.reply_text
    assert not ch.is_open
    # Channel-level error: the connection and its other channels carry on.
    assert conn.is_open
    conn.channel().queue_declare("", exclusive=True)


def test_passive_declare_of_missing_exchange_is_404(broker):
    conn = broker.connect()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        conn.channel().exchange_declare(broker.exchange("missing"), passive=True)
    assert info.value.reply_code == 404
    assert conn.is_open


def test_redeclare_queue_with_different_arguments_is_406(broker):
    queue = broker.queue("args")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue, arguments={"x-max-length": 10})
    ch.queue_declare(queue, arguments={"x-max-length": 10})  # same: fine
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare(queue, arguments={"x-max-length": 20})
    assert info.value.reply_code == 406
    assert info.value.reply_text.startswith("PRECONDITION_FAILED")
    assert "x-max-length" in info.value.reply_text
    assert conn.is_open

    # A passive declare ignores the arguments and sees the queue as it is.
    assert conn.channel().queue_declare(queue, passive=True).method.message_count == 0


def test_redeclare_queue_with_different_durability_is_406(broker):
    queue = broker.queue("durable")
    conn = broker.connect()
    conn.channel().queue_declare(queue, durable=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        conn.channel().queue_declare(queue, durable=False)
    assert info.value.reply_code == 406


def test_redeclare_exchange_with_different_type_is_406(broker):
    exchange = broker.exchange("typed")
    conn = broker.connect()
    conn.channel().exchange_declare(exchange, exchange_type="direct")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        conn.channel().exchange_declare(exchange, exchange_type="fanout")
    assert info.value.reply_code == 406
    assert conn.is_open


def test_ack_of_unknown_delivery_tag_is_406(broker):
    conn = broker.connect()
    ch = conn.channel()
    ch.basic_ack(delivery_tag=42)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare("", exclusive=True)  # the next round trip sees the close
    assert info.value.reply_code == 406
    assert conn.is_open


def test_unknown_exchange_type_closes_the_connection(broker):
    conn = broker.connect()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        conn.channel().exchange_declare(broker.exchange("weird"), exchange_type="no-such-type")
    assert info.value.reply_code == 503
    assert not conn.is_open
