'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { TEST_TIMEOUT_MS, within, deferred, brokerFor } = require('./helpers');

const COUNT = 1000;

test('1,000 messages through a confirm channel: all confirmed, all consumed in order', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const broker = brokerFor(t);
  const queue = broker.queue('confirm-roundtrip');
  const conn = await broker.connect();
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: false });

  const bodies = Array.from({ length: COUNT }, (_, i) => `message ${i} ${'x'.repeat(i % 50)}`);
  const confirmed = [];
  const errors = [];
  bodies.forEach((body, i) => {
    ch.sendToQueue(queue, Buffer.from(body), { messageId: String(i), persistent: i % 2 === 0 }, (err) => {
      if (err) errors.push(err);
      else confirmed.push(i);
    });
  });
  await within(ch.waitForConfirms(), `confirms for ${COUNT} publishes`);
  assert.deepEqual(errors, []);
  assert.equal(confirmed.length, COUNT);
  assert.deepEqual([...confirmed].sort((a, b) => a - b), bodies.map((_, i) => i));

  const check = await ch.checkQueue(queue);
  assert.equal(check.messageCount, COUNT);

  const consumer = await conn.createChannel();
  await consumer.prefetch(100);
  const received = [];
  const done = deferred();
  await consumer.consume(queue, (msg) => {
    received.push({ body: msg.content.toString(), id: msg.properties.messageId, redelivered: msg.fields.redelivered });
    consumer.ack(msg);
    if (received.length === COUNT) done.resolve();
  });
  await within(done.promise, `${COUNT} deliveries (got ${received.length})`);
  assert.deepEqual(received.map((m) => m.body), bodies);
  assert.deepEqual(received.map((m) => m.id), bodies.map((_, i) => String(i)));
  assert.ok(received.every((m) => m.redelivered === false));
});

test('confirm callbacks fire for a mandatory publish to nowhere, with a basic.return first', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const broker = brokerFor(t);
  const conn = await broker.connect();
  const ch = await conn.createConfirmChannel();
  const returned = deferred();
  ch.on('return', (msg) => returned.resolve(msg));
  const confirm = deferred();
  ch.publish('', broker.queue('nowhere'), Buffer.from('lost'), { mandatory: true }, (err) => (err ? confirm.reject(err) : confirm.resolve()));
  const msg = await within(returned.promise, 'basic.return');
  await within(confirm.promise, 'confirm of the returned message');
  assert.equal(msg.fields.replyCode, 312);
  assert.equal(msg.fields.replyText, 'NO_ROUTE');
  assert.equal(msg.content.toString(), 'lost');
});
