"""Tutorial 1, "Hello World!": one producer, one queue, one consumer."""

from amqp_helpers import wait_until


def test_hello_world(broker):
    queue = broker.queue("hello")

    # send.py
    send_conn = broker.connect()
    send_ch = send_conn.channel()
    send_ch.queue_declare(queue=queue)
    send_ch.basic_publish(exchange="", routing_key=queue, body="Hello World!")
    send_conn.close()

    # receive.py
    recv_conn = broker.connect()
    recv_ch = recv_conn.channel()
    recv_ch.queue_declare(queue=queue)
    received = []

    def callback(ch, method, properties, body):
        received.append((method.routing_key, method.exchange, method.redelivered, body))

    recv_ch.basic_consume(queue=queue, on_message_callback=callback, auto_ack=True)
    wait_until(recv_conn, lambda: received, "Hello World! to arrive")

    assert received == [(queue, "", False, b"Hello World!")]
    # auto_ack consumed it: the queue is now empty.
    assert recv_ch.queue_declare(queue=queue, passive=True).method.message_count == 0
