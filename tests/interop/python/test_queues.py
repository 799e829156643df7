"""Queue lifecycle as clients see it: purge, delete, consumer cancel notification."""

import pika
import pytest

from amqp_helpers import message_count, wait_until


def test_purge_reports_count_and_empties_the_queue(broker):
    queue = broker.queue("purge")
    ch = broker.connect().channel()
    ch.queue_declare(queue)
    ch.confirm_delivery()
    for i in range(7):
        ch.basic_publish(exchange="", routing_key=queue, body=str(i).encode())
    assert ch.queue_purge(queue).method.message_count == 7
    assert message_count(ch, queue) == 0
    assert ch.basic_get(queue) == (None, None, None)


def test_delete_if_empty_refuses_a_queue_with_messages(broker):
    queue = broker.queue("if-empty")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue)
    ch.confirm_delivery()
    ch.basic_publish(exchange="", routing_key=queue, body=b"x")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_delete(queue, if_empty=True)
    assert info.value.reply_code == 406
    ch = conn.channel()
    assert ch.queue_delete(queue).method.message_count == 1
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare(queue, passive=True)
    assert info.value.reply_code == 404


def test_deleting_a_consumed_queue_cancels_the_consumer(broker):
    # RabbitMQ sends basic.cancel to consumers of a deleted queue (the
    # consumer_cancel_notify capability); kombu/Celery rely on it.
    queue = broker.queue("cancel-notify")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue)
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    tag = ch.basic_consume(queue, lambda *args: None, auto_ack=True)

    broker.connect().channel().queue_delete(queue)
    wait_until(conn, lambda: cancelled, "basic.cancel from the broker")
    assert cancelled == [tag]
    assert ch.is_open
    assert conn.is_open


def test_auto_delete_queue_goes_when_its_last_consumer_cancels(broker):
    queue = broker.queue("auto-delete")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue, auto_delete=True)
    tag = ch.basic_consume(queue, lambda *args: None, auto_ack=True)
    ch.queue_declare(queue, passive=True)  # still there while consumed
    ch.basic_cancel(tag)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        for _ in range(100):  # deletion follows the cancel; allow it a moment
            conn.channel().queue_declare(queue, passive=True)
            conn.sleep(0.05)
    assert info.value.reply_code == 404
