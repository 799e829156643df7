"""Tutorial 6, "RPC": request queue, callback queue, correlation ids."""

import threading
import uuid

import pika

from amqp_helpers import WAIT, connect, wait_until


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class RpcServer(threading.Thread):
    """rpc_server.py from the tutorial, in a thread with its own connection."""

    def __init__(self, queue):
        super().__init__(daemon=True)
        self.queue = queue
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.served = 0
        self.error = None

    def run(self):
        try:
            connection = connect()
            try:
                channel = connection.channel()
                channel.queue_declare(queue=self.queue)

                def on_request(ch, method, props, body):
                    response = fib(int(body))
                    self.served += 1  # before replying: the client may check it at once
                    ch.basic_publish(
                        exchange="",
                        routing_key=props.reply_to,
                        properties=pika.BasicProperties(correlation_id=props.correlation_id),
                        body=str(response),
                    )
                    ch.basic_ack(delivery_tag=method.delivery_tag)

                channel.basic_qos(prefetch_count=1)
                channel.basic_consume(queue=self.queue, on_message_callback=on_request)
                self.ready.set()
                while not self.stop.is_set():
                    connection.process_data_events(time_limit=0.05)
            finally:
                connection.close()
        except Exception as exc:
            self.error = exc
            self.ready.set()


class FibonacciRpcClient:
    """rpc_client.py from the tutorial, sending several calls before waiting."""

    def __init__(self, connection, queue):
        self.connection = connection
        self.queue = queue
        self.channel = connection.channel()
        result = self.channel.queue_declare(queue="", exclusive=True)
        self.callback_queue = result.method.queue
        self.channel.basic_consume(queue=self.callback_queue, on_message_callback=self.on_response, auto_ack=True)
        self.responses = {}

    def on_response(self, ch, method, props, body):
        self.responses[props.correlation_id] = int(body)

    def send(self, n):
        corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange="",
            routing_key=self.queue,
            properties=pika.BasicProperties(reply_to=self.callback_queue, correlation_id=corr_id),
            body=str(n),
        )
        return corr_id


def test_rpc_fibonacci(broker):
    queue = broker.queue("rpc_queue")
    setup = broker.connect().channel()
    setup.queue_declare(queue=queue)

    server = RpcServer(queue)
    server.start()
    try:
        assert server.ready.wait(WAIT)
        assert server.error is None, server.error
        client = FibonacciRpcClient(broker.connect(), queue)
        assert client.callback_queue.startswith("amq.gen-")
        calls = {client.send(n): n for n in (30 // 3, 1, 0, 15, 20)}
        wait_until(client.connection, lambda: len(client.responses) == len(calls) or server.error,
                   "5 RPC replies")
        assert server.error is None, server.error
        assert client.responses == {corr: fib(n) for corr, n in calls.items()}

        # And the tutorial's one-call-at-a-time shape.
        corr = client.send(7)
        wait_until(client.connection, lambda: corr in client.responses, "fib(7) reply")
        assert client.responses[corr] == 13
        assert server.served == 6
    finally:
        server.stop.set()
        server.join(WAIT)
