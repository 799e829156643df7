"""MQTT 5 subscription options and server behaviour with paho-mqtt: subscription
identifiers, no-local, retain-as-published, retain handling, server topic aliases,
the client's maximum packet size, and DISCONNECT reasons from the server.

Needs an MQTT 5 broker on MQTT_HOST:MQTT_PORT (RabbitMQ 3.13+ or warren).
"""

import queue
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from amqp_helpers import WAIT
from test_mqtt import MQTT_HOST, MQTT_PORT


def client(connect_properties=None, client_id=None, clean_start=True):
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or f"paho5-{uuid.uuid4().hex[:10]}",
        protocol=mqtt.MQTTv5,
    )
    c.username_pw_set("guest", "guest")
    c.inbox = queue.Queue()
    c.connected = queue.Queue()
    c.disconnected = queue.Queue()
    c.on_message = lambda _c, _u, msg: c.inbox.put(msg)
    c.on_connect = lambda _c, _u, flags, rc, props: c.connected.put((rc, flags.session_present))
    c.on_disconnect = lambda _c, _u, flags, rc, props: c.disconnected.put(rc)
    c.connect(
        MQTT_HOST, MQTT_PORT, keepalive=30, clean_start=clean_start, properties=connect_properties
    )
    c.loop_start()
    rc, c.session_present = c.connected.get(timeout=WAIT)
    assert not rc.is_failure, rc
    return c


def close(c):
    c.disconnect()
    c.loop_stop()


def subscribe(c, topic, options, identifier=None):
    done = queue.Queue()
    c.on_subscribe = lambda _c, _u, mid, codes, props: done.put(codes)
    props = None
    if identifier is not None:
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = identifier
    c.subscribe(topic, options=options, properties=props)
    codes = done.get(timeout=WAIT)
    assert not codes[0].is_failure, codes
    return codes


def no_message(c, wait=0.5):
    try:
        msg = c.inbox.get(timeout=wait)
    except queue.Empty:
        return True
    raise AssertionError(f"unexpected message on {msg.topic}: {msg.payload!r}")


def test_subscription_identifiers_come_back_for_each_matching_filter():
    base = f"subid/{uuid.uuid4().hex[:8]}"
    c = client()
    try:
        subscribe(c, f"{base}/#", SubscribeOptions(qos=1), identifier=7)
        subscribe(c, f"{base}/+/b", SubscribeOptions(qos=1), identifier=42)
        c.publish(f"{base}/a/b", b"both", qos=1).wait_for_publish(WAIT)
        msg = c.inbox.get(timeout=WAIT)
        assert msg.payload == b"both"
        assert sorted(msg.properties.SubscriptionIdentifier) == [7, 42]
        c.publish(f"{base}/c", b"one", qos=1).wait_for_publish(WAIT)
        msg = c.inbox.get(timeout=WAIT)
        assert msg.properties.SubscriptionIdentifier == [7]
    finally:
        close(c)


def test_no_local_skips_the_clients_own_messages():
    topic = f"nolocal/{uuid.uuid4().hex[:8]}"
    me = client()
    other = client()
    try:
        subscribe(me, topic, SubscribeOptions(qos=1, noLocal=True))
        me.publish(topic, b"mine", qos=1).wait_for_publish(WAIT)
        other.publish(topic, b"theirs", qos=1).wait_for_publish(WAIT)
        msg = me.inbox.get(timeout=WAIT)
        assert msg.payload == b"theirs"
        assert no_message(me)
    finally:
        close(me)
        close(other)


def test_retain_as_published_keeps_the_flag_on_live_messages():
    topic = f"rap/{uuid.uuid4().hex[:8]}"
    keep = client()
    plain = client()
    pub = client()
    try:
        subscribe(keep, topic, SubscribeOptions(qos=1, retainAsPublished=True))
        subscribe(plain, topic, SubscribeOptions(qos=1))
        pub.publish(topic, b"retained", qos=1, retain=True).wait_for_publish(WAIT)
        assert keep.inbox.get(timeout=WAIT).retain is True
        assert plain.inbox.get(timeout=WAIT).retain is False
    finally:
        pub.publish(topic, b"", qos=1, retain=True).wait_for_publish(WAIT)
        for c in (keep, plain, pub):
            close(c)


def test_retain_handling_decides_who_gets_the_retained_message():
    topic = f"rh/{uuid.uuid4().hex[:8]}"
    pub = client()
    pub.publish(topic, b"kept", qos=1, retain=True).wait_for_publish(WAIT)
    c = client()
    try:
        # 2: never.
        subscribe(c, topic, SubscribeOptions(qos=1, retainHandling=2))
        assert no_message(c)
        # 1: only for a new subscription; this one exists.
        subscribe(c, topic, SubscribeOptions(qos=1, retainHandling=1))
        assert no_message(c)
        # 0: on every SUBSCRIBE.
        subscribe(c, topic, SubscribeOptions(qos=1, retainHandling=0))
        msg = c.inbox.get(timeout=WAIT)
        assert (msg.payload, msg.retain) == (b"kept", True)
    finally:
        pub.publish(topic, b"", qos=1, retain=True).wait_for_publish(WAIT)
        close(c)
        close(pub)


def test_the_server_sets_topic_aliases_when_the_client_allows_them():
    topic = f"alias/{uuid.uuid4().hex[:8]}"
    props = Properties(PacketTypes.CONNECT)
    props.TopicAliasMaximum = 5
    c = client(props)
    try:
        subscribe(c, topic, SubscribeOptions(qos=0))
        for n in range(3):
            c.publish(topic, f"m{n}".encode())
            # paho does not resolve server aliases: it shows the wire.
            msg = c.inbox.get(timeout=WAIT)
            assert msg.payload == f"m{n}".encode()
            assert msg.properties.TopicAlias == 1
            assert msg.topic == (topic if n == 0 else "")
    finally:
        close(c)


def test_messages_over_the_clients_maximum_packet_size_are_not_sent():
    topic = f"maxpkt/{uuid.uuid4().hex[:8]}"
    props = Properties(PacketTypes.CONNECT)
    props.MaximumPacketSize = 200
    c = client(props)
    try:
        subscribe(c, topic, SubscribeOptions(qos=1))
        c.publish(topic, b"x" * 500, qos=1).wait_for_publish(WAIT)
        c.publish(topic, b"small", qos=1).wait_for_publish(WAIT)
        assert c.inbox.get(timeout=WAIT).payload == b"small"
        assert no_message(c)
    finally:
        close(c)


def test_a_second_connection_with_the_id_gets_the_first_disconnected_0x8e():
    cid = f"paho5-takeover-{uuid.uuid4().hex[:8]}"
    first = client(client_id=cid)
    second = client(client_id=cid)
    try:
        rc = first.disconnected.get(timeout=WAIT)
        assert rc.value == 0x8E, rc
    finally:
        first.loop_stop()
        close(second)


def test_a_payload_said_to_be_utf8_that_is_not_gets_disconnect_0x99():
    c = client()
    try:
        props = Properties(PacketTypes.PUBLISH)
        props.PayloadFormatIndicator = 1
        c.publish(f"pfi/{uuid.uuid4().hex[:8]}", b"\xff\xfe", qos=1, properties=props)
        rc = c.disconnected.get(timeout=WAIT)
        assert rc.value == 0x99, rc
    finally:
        c.loop_stop()


def client_with_will(client_id, will_topic, delay):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set("guest", "guest")
    will_props = Properties(PacketTypes.WILLMESSAGE)
    will_props.WillDelayInterval = delay
    c.will_set(will_topic, b"gone", qos=1, properties=will_props)
    connected = queue.Queue()
    c.on_connect = lambda _c, _u, flags, rc, props: connected.put(rc)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 60
    c.connect(MQTT_HOST, MQTT_PORT, keepalive=30, clean_start=True, properties=props)
    c.loop_start()
    assert not connected.get(timeout=WAIT).is_failure
    return c


def drop(c):
    """Ends the connection without DISCONNECT, as a lost network would; returns when."""
    c.loop_stop()
    c.socket().close()
    return time.monotonic()


def test_a_will_with_a_delay_waits_for_it():
    will_topic = f"will/{uuid.uuid4().hex[:8]}"
    watcher = client()
    cid = f"paho5-will-{uuid.uuid4().hex[:8]}"
    try:
        subscribe(watcher, will_topic, SubscribeOptions(qos=1))
        c = client_with_will(cid, will_topic, delay=1)
        dropped = drop(c)
        msg = watcher.inbox.get(timeout=WAIT)
        assert msg.payload == b"gone"
        assert time.monotonic() - dropped >= 0.9, "published before its delay"
    finally:
        close(watcher)
        close(client(client_id=cid))  # a clean start ends the kept session


def kept_session():
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 60
    return props


def test_reconnecting_within_the_will_delay_cancels_the_will():
    will_topic = f"will/{uuid.uuid4().hex[:8]}"
    watcher = client()
    cid = f"paho5-will-{uuid.uuid4().hex[:8]}"
    try:
        subscribe(watcher, will_topic, SubscribeOptions(qos=1))
        drop(client_with_will(cid, will_topic, delay=1))
        # Clean start 0: the session goes on, so its will is not sent.
        back = client(connect_properties=kept_session(), client_id=cid, clean_start=False)
        assert no_message(watcher, wait=2)
        close(back)
    finally:
        close(watcher)
        close(client(client_id=cid))  # a clean start ends the kept session


def test_a_new_session_with_the_id_sends_the_delayed_will_at_once():
    will_topic = f"will/{uuid.uuid4().hex[:8]}"
    watcher = client()
    cid = f"paho5-will-{uuid.uuid4().hex[:8]}"
    try:
        subscribe(watcher, will_topic, SubscribeOptions(qos=1))
        drop(client_with_will(cid, will_topic, delay=30))
        started = time.monotonic()
        # Clean start 1 ends the old session (spec 3.1.2.5): its will goes now.
        back = client(client_id=cid)
        assert watcher.inbox.get(timeout=WAIT).payload == b"gone"
        assert time.monotonic() - started < 10, "the will waited for its delay"
        close(back)
    finally:
        close(watcher)


def test_a_resumed_session_keeps_its_subscription_options_and_groups():
    base = f"resume/{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:6]}"
    cid = f"paho5-resume-{uuid.uuid4().hex[:8]}"
    c = client(connect_properties=kept_session(), client_id=cid)
    subscribe(c, f"{base}/own/#", SubscribeOptions(qos=2, noLocal=True), identifier=5)
    subscribe(c, f"$share/{group}/{base}/shared", SubscribeOptions(qos=1))
    close(c)
    pub = client()
    c = client(connect_properties=kept_session(), client_id=cid, clean_start=False)
    try:
        assert c.session_present
        # Not subscribed again: no-local still holds, ...
        c.publish(f"{base}/own/x", b"mine", qos=1).wait_for_publish(WAIT)
        assert no_message(c)
        # ... the QoS is the QoS 2 granted, with the subscription identifier, ...
        pub.publish(f"{base}/own/x", b"theirs", qos=2).wait_for_publish(WAIT)
        msg = c.inbox.get(timeout=WAIT)
        assert (msg.payload, msg.qos) == (b"theirs", 2)
        assert msg.properties.SubscriptionIdentifier == [5]
        # ... and the client is still a member of its group.
        pub.publish(f"{base}/shared", b"group", qos=1).wait_for_publish(WAIT)
        assert c.inbox.get(timeout=WAIT).payload == b"group"
    finally:
        close(pub)
        close(c)
        close(client(client_id=cid))  # a clean start ends the kept session


def test_a_shared_subscription_hands_each_message_to_one_member():
    base = f"shared/{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:6]}"
    members = [client(), client()]
    everyone = client()
    pub = client()
    try:
        for m in members:
            subscribe(m, f"$share/{group}/{base}/#", SubscribeOptions(qos=1))
        subscribe(everyone, f"{base}/#", SubscribeOptions(qos=1))
        sent = [f"m{n}".encode() for n in range(10)]
        for body in sent:
            pub.publish(f"{base}/x", body, qos=1).wait_for_publish(WAIT)
        assert sorted(everyone.inbox.get(timeout=WAIT).payload for _ in sent) == sorted(sent)
        got = []
        deadline = time.monotonic() + WAIT
        while len(got) < len(sent) and time.monotonic() < deadline:
            for n, m in enumerate(members):
                try:
                    got.append((n, m.inbox.get(timeout=0.05).payload))
                except queue.Empty:
                    pass
        assert sorted(body for _, body in got) == sorted(sent), "each message once"
        counts = [sum(1 for n, _ in got if n == i) for i in range(2)]
        assert counts == [5, 5], f"round-robin between the members: {counts}"
        # One member leaves: the group's messages all go to the other.
        close(members.pop(0))
        pub.publish(f"{base}/y", b"after", qos=1).wait_for_publish(WAIT)
        assert members[0].inbox.get(timeout=WAIT).payload == b"after"
    finally:
        for c in members + [everyone, pub]:
            close(c)
