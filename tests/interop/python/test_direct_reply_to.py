"""RPC over direct reply-to (amq.rabbitmq.reply-to)."""

import uuid

import pika
import pytest

from amqp_helpers import wait_until

REPLY_TO = "amq.rabbitmq.reply-to"


def test_direct_reply_to_rpc(broker):
    queue = broker.queue("rpc-direct")

    server_conn = broker.connect()
    server = server_conn.channel()
    server.queue_declare(queue)
    seen_reply_to = []

    def on_request(ch, method, props, body):
        seen_reply_to.append(props.reply_to)
        ch.basic_publish(exchange="", routing_key=props.reply_to, body=body.upper(),
                         properties=pika.BasicProperties(correlation_id=props.correlation_id))
        ch.basic_ack(method.delivery_tag)

    server.basic_qos(prefetch_count=1)
    server.basic_consume(queue, on_request)

    client_conn = broker.connect()
    client = client_conn.channel()
    replies = {}

    def on_reply(ch, method, props, body):
        replies[props.correlation_id] = (body, method.exchange, method.routing_key, method.redelivered)

    # The reply consumer must exist before the request is published.
    client.basic_consume(REPLY_TO, on_reply, auto_ack=True)
    corr_ids = []
    for word in (b"alpha", b"beta", b"gamma"):
        corr_id = str(uuid.uuid4())
        corr_ids.append(corr_id)
        client.basic_publish(exchange="", routing_key=queue, body=word,
                             properties=pika.BasicProperties(reply_to=REPLY_TO, correlation_id=corr_id))

    wait_until([server_conn, client_conn], lambda: len(replies) == 3, "three direct replies")
    assert [replies[c][0] for c in corr_ids] == [b"ALPHA", b"BETA", b"GAMMA"]
    for corr_id in corr_ids:
        body, exchange, routing_key, redelivered = replies[corr_id]
        assert exchange == ""
        assert routing_key.startswith(REPLY_TO + ".")
        assert not redelivered
    # The server saw a rewritten, per-channel address rather than the pseudo-queue name.
    assert len(set(seen_reply_to)) == 1
    assert seen_reply_to[0].startswith(REPLY_TO + ".") and len(seen_reply_to[0]) > len(REPLY_TO) + 1


def test_direct_reply_to_pseudo_queue_passive_declare_succeeds(broker):
    ch = broker.connect().channel()
    ch.queue_declare(REPLY_TO, passive=True)
    assert ch.is_open


def test_direct_reply_to_consumer_must_be_no_ack(broker):
    conn = broker.connect()
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_consume(REPLY_TO, lambda *a: None, auto_ack=False)
    assert info.value.reply_code == 406
    assert conn.is_open


def test_publish_with_direct_reply_to_without_consumer_closes_channel(broker):
    queue = broker.queue("rpc-direct-noconsumer")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue)
    ch.basic_publish(exchange="", routing_key=queue, body=b"x",
                     properties=pika.BasicProperties(reply_to=REPLY_TO))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare(queue, passive=True)
    assert info.value.reply_code == 406
    assert conn.is_open
    assert conn.channel().queue_declare(queue, passive=True).method.message_count == 0
