'use strict';
// MQTT.js (the `mqtt` package) over TCP and over WebSocket, messages crossing to
// and from amqplib. The MQTT listeners are $MQTT_PORT and $MQTT_WS_PORT (path /ws);
// scripts/test starts warren with free ports for them.
const test = require('node:test');
const assert = require('node:assert/strict');
const mqtt = require('mqtt');
const { TEST_TIMEOUT_MS, uid, within, deferred, brokerFor } = require('./helpers');

const HOST = process.env.MQTT_HOST || '127.0.0.1';
const TRANSPORTS = {
  tcp: `mqtt://${HOST}:${process.env.MQTT_PORT || 1883}`,
  websocket: `ws://${HOST}:${process.env.MQTT_WS_PORT || 15675}/ws`,
};

async function mqttClient(t, url, protocolVersion) {
  const client = await within(
    mqtt.connectAsync(url, {
      protocolVersion,
      username: 'guest',
      password: 'guest',
      clientId: `mqttjs-${uid()}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    }),
    `MQTT connection to ${url}`,
  );
  t.after(() => client.endAsync());
  return client;
}

for (const [transport, url] of Object.entries(TRANSPORTS)) {
  for (const protocolVersion of [4, 5]) {
    const name = `MQTT ${protocolVersion === 5 ? '5.0' : '3.1.1'} over ${transport} to and from AMQP`;
    test(name, { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const broker = brokerFor(t);
      const id = uid();
      const client = await mqttClient(t, url, protocolVersion);
      const conn = await broker.connect();
      const ch = await conn.createChannel();

      // AMQP -> MQTT: amq.topic with the topic's dots, delivered at the subscribed QoS.
      const got = deferred();
      client.on('message', (topic, payload, packet) => got.resolve({ topic, payload, packet }));
      const granted = await within(client.subscribeAsync(`node/${id}/#`, { qos: 1 }), 'SUBACK');
      assert.equal(granted[0].qos, 1);
      ch.publish('amq.topic', `node.${id}.from_amqp`, Buffer.from('from amqplib'), { deliveryMode: 2 });
      const m = await within(got.promise, 'the AMQP message at the MQTT client');
      assert.equal(m.topic, `node/${id}/from_amqp`);
      assert.equal(m.payload.toString(), 'from amqplib');
      assert.equal(m.packet.qos, 1);

      // MQTT -> AMQP: a QoS 1 publish arrives persistent under the dotted key.
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, 'amq.topic', `node.${id}.to_amqp`);
      const arrived = deferred();
      await ch.consume(queue, (msg) => arrived.resolve(msg), { noAck: true });
      await within(client.publishAsync(`node/${id}/to_amqp`, 'from mqtt.js', { qos: 1 }), 'PUBACK');
      const msg = await within(arrived.promise, 'the MQTT message at the AMQP consumer');
      assert.equal(msg.content.toString(), 'from mqtt.js');
      assert.equal(msg.fields.exchange, 'amq.topic');
      assert.equal(msg.fields.routingKey, `node.${id}.to_amqp`);
      assert.equal(msg.properties.deliveryMode, 2);
    });
  }
}
