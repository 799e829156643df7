#!/bin/bash
# Broker CPU per message, MQTT publisher -> AMQP consumer and AMQP publisher -> MQTT
# subscriber against MQTT -> MQTT (QoS 1, 64 B, N messages), on a Warren of its own;
# the AMQP queue is bound to amq.topic through the management API, and the AMQP
# publisher publishes to amq.topic with the MQTT topic's routing key. Needs a release
# build (cargo build --release).
#   bench/mqtt-cross.sh            N=300000 by default
free() { python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }
# utime + stime in clock ticks (10 ms): x 1e4 below gives µs.
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
N=${N:-300000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=/tmp/mqttperf-cross-$$; rm -rf $D; mkdir -p $D
P=$(free); A=$(free); H=$(free)
WARREN_MQTT_PORT=$P WARREN_STOMP_PORT=0 "$ROOT/target/release/warren" --amqp-port $A --http-port $H --bind 127.0.0.1 --data-dir $D/data --log-level warn > $D/log 2>&1 &
WP=$!; sleep 2
PERF="$ROOT/target/release/warren-perf"
# MQTT -> MQTT
c0=$(cpu $WP)
$PERF --mqtt 127.0.0.1:$P --qos 1 --size 64 --count $N --drain-timeout 120 --json --quiet > $D/mm.json
c1=$(cpu $WP)
python3 -c "import json;d=json.load(open('$D/mm.json'));print('mqtt->mqtt consumed',d['consumed'],'broker us/msg',($c1-$c0)*1e4/d['consumed'])"
# MQTT -> AMQP: a queue bound to amq.topic with the MQTT topic's routing key
curl -s -u guest:guest -X PUT -H 'content-type: application/json' -d '{"durable":false}' http://127.0.0.1:$H/api/queues/%2F/xq-0 >/dev/null
curl -s -u guest:guest -X POST -H 'content-type: application/json' -d '{"routing_key":"perf.0"}' http://127.0.0.1:$H/api/bindings/%2F/e/amq.topic/q/xq-0 >/dev/null
c0=$(cpu $WP)
$PERF --uri amqp://guest:guest@127.0.0.1:$A/%2F --producers 0 --consumers 1 --queue-prefix xq --reuse-queues --auto-ack --duration 600 --json --quiet > $D/ma.json 2>$D/ma.err &
CP=$!; sleep 1
$PERF --mqtt 127.0.0.1:$P --qos 1 --size 64 --count $N --consumers 0 --json --quiet > $D/mp.json
# wait until the queue is empty
for i in $(seq 1 120); do m=$(curl -s -u guest:guest http://127.0.0.1:$H/api/queues/%2F/xq-0 | python3 -c "import json,sys;print(json.load(sys.stdin).get('messages',1))"); [ "$m" = 0 ] && break; sleep 0.5; done
c1=$(cpu $WP)
kill -INT $CP; wait $CP
python3 -c "print('mqtt->amqp published',$N,'broker us/msg',($c1-$c0)*1e4/$N, 'queue left', '$m')"
# AMQP -> MQTT: an MQTT subscriber of perf/0 (QoS 1); the AMQP publisher sends
# persistent-less 64 B messages to amq.topic with routing key perf.0.
c0=$(cpu $WP)
$PERF --mqtt 127.0.0.1:$P --qos 1 --producers 0 --consumers 1 --subscribe perf/0 --duration ${SUB_SECONDS:-20} --json --quiet > $D/am.json 2>$D/am.err &
SP=$!
# Published before the subscription's binding exists, a message is unroutable: wait.
for i in $(seq 1 100); do curl -s -u guest:guest http://127.0.0.1:$H/api/exchanges/%2F/amq.topic/bindings/source | grep -q '"perf.0"' && break; sleep 0.1; done
$PERF --uri amqp://guest:guest@127.0.0.1:$A/%2F --producers 1 --consumers 0 --publish-exchange amq.topic --routing-key perf.0 --size 64 --count $N --json --quiet > $D/ap.json
wait $SP
c1=$(cpu $WP)
python3 -c "import json;d=json.load(open('$D/am.json'));print('amqp->mqtt published',$N,'consumed',d['consumed'],'broker us/msg',($c1-$c0)*1e4/$N)"
kill $WP; wait $WP 2>/dev/null; rm -rf $D
