"""MQTT with paho-mqtt (3.1.1 and 5.0), and across to AMQP with pika.

The MQTT listener is MQTT_HOST:MQTT_PORT (default 127.0.0.1:1883); scripts/test
starts warren with a free port for it and sets MQTT_PORT.
"""

import os
import queue
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pika
import pytest

from amqp_helpers import WAIT

MQTT_HOST = os.environ.get("MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("MQTT_PORT", "1883"))

VERSIONS = [
    pytest.param(mqtt.MQTTv311, id="3.1.1"),
    pytest.param(mqtt.MQTTv5, id="5.0"),
]


def client(version, client_id=None, clean=True):
    """A connected paho client whose received messages land in `.inbox`."""
    client_id = client_id or f"paho-{uuid.uuid4().hex[:10]}"
    kwargs = {"client_id": client_id, "protocol": version}
    if version != mqtt.MQTTv5:
        kwargs["clean_session"] = clean
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    c.username_pw_set("guest", "guest")
    c.inbox = queue.Queue()
    c.connected = queue.Queue()
    c.on_message = lambda _c, _u, msg: c.inbox.put(msg)
    c.on_connect = lambda _c, _u, flags, rc, props: c.connected.put((flags, rc))
    if version == mqtt.MQTTv5:
        c.connect(MQTT_HOST, MQTT_PORT, keepalive=30, clean_start=clean)
    else:
        c.connect(MQTT_HOST, MQTT_PORT, keepalive=30)
    c.loop_start()
    flags, rc = c.connected.get(timeout=WAIT)
    assert not rc.is_failure, rc
    c.session_present = flags.session_present
    return c


def close(c):
    c.disconnect()
    c.loop_stop()


def subscribe(c, topic, qos):
    done = queue.Queue()
    c.on_subscribe = lambda _c, _u, mid, codes, props: done.put(codes)
    c.subscribe(topic, qos)
    codes = done.get(timeout=WAIT)
    assert not codes[0].is_failure, codes
    return codes


@pytest.mark.parametrize("version", VERSIONS)
def test_publish_and_subscribe_at_each_qos(version):
    sub = client(version)
    pub = client(version)
    try:
        topic = f"paho/{uuid.uuid4().hex[:8]}"
        subscribe(sub, f"{topic}/#", 2)
        for qos in (0, 1, 2):
            info = pub.publish(f"{topic}/q{qos}", f"m{qos}".encode(), qos=qos)
            info.wait_for_publish(timeout=WAIT)
            assert info.is_published()
        got = sorted(
            (m.topic, m.qos, m.payload)
            for m in (sub.inbox.get(timeout=WAIT) for _ in range(3))
        )
        assert got == [
            (f"{topic}/q0", 0, b"m0"),
            (f"{topic}/q1", 1, b"m1"),
            (f"{topic}/q2", 2, b"m2"),
        ]
        assert sub.inbox.empty()
    finally:
        close(sub)
        close(pub)


def test_mqtt5_properties_reach_an_amqp_consumer_and_back():
    suffix = uuid.uuid4().hex[:8]
    conn = pika.BlockingConnection(
        pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"))
    )
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "amq.topic", f"interop.{suffix}.to_amqp")
    sub = client(mqtt.MQTTv5)
    pub = client(mqtt.MQTTv5)
    try:
        subscribe(sub, f"interop/{suffix}/to_mqtt", 1)
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        props.CorrelationData = b"corr-1"
        props.ResponseTopic = f"interop/{suffix}/to_mqtt"
        props.UserProperty = [("source", "paho")]
        pub.publish(f"interop/{suffix}/to_amqp", b"{}", qos=1, properties=props).wait_for_publish(WAIT)
        method, header, body = None, None, None
        for _ in range(int(WAIT * 10)):
            method, header, body = ch.basic_get(q, auto_ack=True)
            if method:
                break
            conn.sleep(0.1)
        assert method is not None, "the MQTT message reached the AMQP queue"
        assert body == b"{}"
        assert header.delivery_mode == 2
        assert header.content_type == "application/json"
        assert header.correlation_id == "corr-1"
        assert header.headers["source"] == b"paho" or header.headers["source"] == "paho"
        reply_key = header.headers["x-reply-to-topic"]
        reply_key = reply_key.decode() if isinstance(reply_key, bytes) else reply_key
        assert reply_key == f"interop.{suffix}.to_mqtt"
        # The AMQP side answers to the response topic with the correlation id.
        ch.basic_publish(
            "amq.topic",
            reply_key,
            b"answer",
            pika.BasicProperties(
                delivery_mode=2,
                correlation_id=header.correlation_id,
                headers={"answered-by": "pika"},
            ),
        )
        msg = sub.inbox.get(timeout=WAIT)
        assert msg.topic == f"interop/{suffix}/to_mqtt"
        assert msg.payload == b"answer"
        assert msg.qos == 1
        assert msg.properties.CorrelationData == b"corr-1"
        assert ("answered-by", "pika") in msg.properties.UserProperty
    finally:
        close(sub)
        close(pub)
        conn.close()


def test_a_persistent_session_receives_while_away():
    cid = f"paho-keep-{uuid.uuid4().hex[:8]}"
    topic = f"away/{uuid.uuid4().hex[:8]}"
    sub = client(mqtt.MQTTv311, cid, clean=False)
    subscribe(sub, topic, 1)
    close(sub)
    pub = client(mqtt.MQTTv311)
    try:
        pub.publish(topic, b"while you were out", qos=1).wait_for_publish(WAIT)
        sub = client(mqtt.MQTTv311, cid, clean=False)
        assert sub.session_present
        msg = sub.inbox.get(timeout=WAIT)
        assert msg.payload == b"while you were out"
        close(sub)
        # Clean up the session.
        close(client(mqtt.MQTTv311, cid, clean=True))
    finally:
        close(pub)


def test_a_resumed_session_delivers_at_the_qos_2_it_was_granted():
    cid = f"paho-keep2-{uuid.uuid4().hex[:8]}"
    topic = f"away2/{uuid.uuid4().hex[:8]}"
    sub = client(mqtt.MQTTv311, cid, clean=False)
    subscribe(sub, topic, 2)
    close(sub)
    pub = client(mqtt.MQTTv311)
    try:
        # Back without subscribing again: still QoS 2.
        sub = client(mqtt.MQTTv311, cid, clean=False)
        assert sub.session_present
        pub.publish(topic, b"exactly once", qos=2).wait_for_publish(WAIT)
        msg = sub.inbox.get(timeout=WAIT)
        assert (msg.payload, msg.qos) == (b"exactly once", 2)
        close(sub)
        close(client(mqtt.MQTTv311, cid, clean=True))
    finally:
        close(pub)


@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_password_is_refused(version):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="refused", protocol=version)
    c.username_pw_set("guest", "not-the-password")
    got = queue.Queue()
    c.on_connect = lambda _c, _u, flags, rc, props: got.put(rc)
    c.connect(MQTT_HOST, MQTT_PORT)
    c.loop_start()
    try:
        rc = got.get(timeout=WAIT)
        assert rc.is_failure
        assert rc.value in (4, 0x86), rc  # 3.1.1 return code 4, MQTT 5 reason 0x86
    finally:
        c.loop_stop()


MQTT_WS_PORT = int(os.environ.get("MQTT_WS_PORT", "15675"))


@pytest.mark.parametrize("version", VERSIONS)
def test_mqtt_over_websocket_crosses_to_amqp_and_back(version):
    """paho over WebSocket (MQTT_WS_PORT, path /ws) and pika on one topic each way."""
    suffix = uuid.uuid4().hex[:8]
    conn = pika.BlockingConnection(
        pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"))
    )
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "amq.topic", f"ws.{suffix}.to_amqp")
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"paho-ws-{suffix}",
        protocol=version,
        transport="websockets",
    )
    c.ws_set_options(path="/ws")
    c.username_pw_set("guest", "guest")
    c.inbox = queue.Queue()
    c.connected = queue.Queue()
    c.on_message = lambda _c, _u, msg: c.inbox.put(msg)
    c.on_connect = lambda _c, _u, flags, rc, props: c.connected.put(rc)
    c.connect(MQTT_HOST, MQTT_WS_PORT, keepalive=30)
    c.loop_start()
    try:
        rc = c.connected.get(timeout=WAIT)
        assert not rc.is_failure, rc
        subscribe(c, f"ws/{suffix}/to_mqtt", 1)
        ch.basic_publish("amq.topic", f"ws.{suffix}.to_mqtt", b"from pika")
        msg = c.inbox.get(timeout=WAIT)
        assert (msg.topic, msg.payload) == (f"ws/{suffix}/to_mqtt", b"from pika")
        c.publish(f"ws/{suffix}/to_amqp", b"from paho", qos=1).wait_for_publish(WAIT)
        method, header, body = None, None, None
        for _ in range(int(WAIT * 10)):
            method, header, body = ch.basic_get(q, auto_ack=True)
            if method:
                break
            conn.sleep(0.1)
        assert method is not None, "the MQTT message reached the AMQP queue"
        assert body == b"from paho"
        assert method.routing_key == f"ws.{suffix}.to_amqp"
        assert header.delivery_mode == 2
    finally:
        close(c)
        conn.close()
