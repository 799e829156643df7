"""Tutorial 2, "Work Queues": durable queue, persistent tasks, fair dispatch."""

import threading
import time

import pika

from amqp_helpers import WAIT, connect, pump, wait_until


class Worker(threading.Thread):
    """worker.py from the tutorial, run in a thread with its own connection.

    `hold_first` makes the worker sit on its first task (unacked) until the
    event is set, standing in for a task that takes a long time.
    """

    def __init__(self, name, queue, stop, hold_first=None):
        super().__init__(name=name, daemon=True)
        self.queue = queue
        self.stop = stop
        self.hold_first = hold_first
        self.processed = []  # (body, redelivered, delivery_mode)
        self.started_first = threading.Event()
        self.consuming = threading.Event()
        self.error = None

    def run(self):
        try:
            connection = connect()
            try:
                channel = connection.channel()
                channel.queue_declare(queue=self.queue, durable=True)
                channel.basic_qos(prefetch_count=1)

                def callback(ch, method, properties, body):
                    first = not self.processed
                    self.processed.append((body, method.redelivered, properties.delivery_mode))
                    if first:
                        self.started_first.set()
                        if self.hold_first is not None:
                            if not self.hold_first.wait(WAIT * 2):
                                raise AssertionError(f"{self.name}: never released")
                    time.sleep(body.count(b".") * 0.02)
                    ch.basic_ack(delivery_tag=method.delivery_tag)

                channel.basic_consume(queue=self.queue, on_message_callback=callback)
                self.consuming.set()
                while not self.stop.is_set():
                    connection.process_data_events(time_limit=0.05)
            finally:
                connection.close()
        except Exception as exc:  # reported by the test thread
            self.error = exc
            self.started_first.set()
            self.consuming.set()


def new_task(channel, queue, message):
    """new_task.py from the tutorial."""
    channel.basic_publish(
        exchange="",
        routing_key=queue,
        body=message,
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
    )


def test_fair_dispatch_each_task_once(broker):
    queue = broker.queue("task_queue")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue=queue, durable=True)
    tasks = [f"task {i} " + "." * (i % 4) for i in range(12)]
    for task in tasks:
        new_task(ch, queue, task)

    stop = threading.Event()
    release_a = threading.Event()
    a = Worker("A", queue, stop, hold_first=release_a)
    b = Worker("B", queue, stop)
    try:
        # A starts alone with all 12 tasks waiting. With prefetch_count=1 it
        # may hold only one of them while that one is unacked.
        a.start()
        assert a.started_first.wait(WAIT), "worker A got no task"
        b.start()
        deadline = time.monotonic() + WAIT
        while len(b.processed) < len(tasks) - 1 and time.monotonic() < deadline and b.error is None:
            time.sleep(0.02)
        assert b.error is None, b.error
        assert len(a.processed) == 1, f"A was sent more while its first task was unacked: {a.processed}"
        assert len(b.processed) == len(tasks) - 1, f"B processed {len(b.processed)} of {len(tasks) - 1}"
        release_a.set()
        # Give A time to ack, and the broker time to send anything it should not.
        time.sleep(0.3)
    finally:
        release_a.set()
        stop.set()
        a.join(WAIT)
        b.join(WAIT)
    assert a.error is None, a.error
    assert b.error is None, b.error

    bodies = [body.decode() for body, _, _ in a.processed + b.processed]
    assert sorted(bodies) == sorted(tasks), "every task processed exactly once"
    assert a.processed[0][0].decode() == tasks[0]
    assert [body.decode() for body, _, _ in b.processed] == tasks[1:], "B takes the rest in order"
    assert all(not redelivered for _, redelivered, _ in a.processed + b.processed)
    assert all(mode == 2 for _, _, mode in a.processed + b.processed), "delivery_mode=2 kept"
    assert ch.queue_declare(queue=queue, durable=True, passive=True).method.message_count == 0


def test_unacked_task_goes_to_other_worker_when_first_dies(broker):
    queue = broker.queue("task_queue")
    producer = broker.connect()
    pch = producer.channel()
    pch.queue_declare(queue=queue, durable=True)
    new_task(pch, queue, "important task...")

    # Worker X takes the task and dies (closes its connection) without acking.
    x_conn = broker.connect()
    x_ch = x_conn.channel()
    x_ch.basic_qos(prefetch_count=1)
    x_got = []
    x_ch.basic_consume(queue=queue, on_message_callback=lambda ch, m, p, b: x_got.append((b, m.redelivered)))
    wait_until(x_conn, lambda: x_got, "worker X to get the task")
    assert x_got == [(b"important task...", False)]

    # Worker Y is consuming too, but the only task is X's.
    y_conn = broker.connect()
    y_ch = y_conn.channel()
    y_ch.basic_qos(prefetch_count=1)
    y_got = []

    def y_callback(ch, method, properties, body):
        y_got.append((body, method.redelivered))
        ch.basic_ack(delivery_tag=method.delivery_tag)

    y_ch.basic_consume(queue=queue, on_message_callback=y_callback)
    pump(y_conn, 0.3)
    assert y_got == [], "the task is X's while X holds it"

    x_conn.close()
    wait_until(y_conn, lambda: y_got, "the task to be redelivered to worker Y")
    assert y_got == [(b"important task...", True)]
    pump(y_conn, 0.2)
    assert y_ch.queue_declare(queue=queue, durable=True, passive=True).method.message_count == 0
    assert y_got == [(b"important task...", True)], "delivered once more, not twice"
