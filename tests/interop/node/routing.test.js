'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { TEST_TIMEOUT_MS, within, deferred, brokerFor } = require('./helpers');

test('topic exchange routes by pattern (tutorial 5)', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const broker = brokerFor(t);
  const exchange = broker.exchange('topic_logs');
  const conn = await broker.connect();
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, 'topic', { durable: false });

  const bindings = { Q1: ['*.orange.*'], Q2: ['*.*.rabbit', 'lazy.#'] };
  const received = { Q1: [], Q2: [] };
  const sentinel = 'lazy.orange.sentinel';
  const done = { Q1: deferred(), Q2: deferred() };
  for (const [label, keys] of Object.entries(bindings)) {
    const { queue } = await ch.assertQueue('', { exclusive: true });
    assert.match(queue, /^amq\.gen-/);
    for (const key of keys) await ch.bindQueue(queue, exchange, key);
    await ch.consume(
      queue,
      (msg) => {
        if (msg.fields.routingKey === sentinel) done[label].resolve();
        else received[label].push(msg.fields.routingKey);
      },
      { noAck: true },
    );
  }

  const expected = {
    'quick.orange.rabbit': ['Q1', 'Q2'],
    'lazy.orange.elephant': ['Q1', 'Q2'],
    'quick.orange.fox': ['Q1'],
    'lazy.brown.fox': ['Q2'],
    'lazy.pink.rabbit': ['Q2'],
    'quick.brown.fox': [],
    orange: [],
    'quick.orange.male.rabbit': [],
    'lazy.orange.male.rabbit': ['Q2'],
    lazy: ['Q2'],
  };
  const pub = await conn.createChannel();
  for (const key of Object.keys(expected)) pub.publish(exchange, key, Buffer.from(key));
  pub.publish(exchange, sentinel, Buffer.from('end'));
  await within(Promise.all([done.Q1.promise, done.Q2.promise]), 'the sentinel at both queues');

  for (const label of ['Q1', 'Q2']) {
    const want = Object.keys(expected).filter((key) => expected[key].includes(label));
    assert.deepEqual(received[label], want, label);
  }
});

test('prefetch limits unacked deliveries until acks come back', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const broker = brokerFor(t);
  const queue = broker.queue('prefetch');
  const conn = await broker.connect();
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, { durable: true });
  for (let i = 0; i < 10; i++) ch.sendToQueue(queue, Buffer.from(`task ${i}`), { persistent: true });

  const worker = await conn.createChannel();
  await worker.prefetch(3);
  const held = [];
  let arrived = deferred();
  await worker.consume(queue, (msg) => {
    held.push(msg);
    arrived.resolve();
  });
  const waitFor = async (n) => {
    while (held.length < n) {
      arrived = deferred();
      if (held.length >= n) break;
      await within(arrived.promise, `${n} deliveries (have ${held.length})`);
    }
  };

  await waitFor(3);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(held.length, 3, 'no more than prefetch=3 unacked at once');
  const { messageCount } = await ch.checkQueue(queue);
  assert.equal(messageCount, 7);

  worker.ack(held[0]);
  worker.ack(held[1]);
  await waitFor(5);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(held.length, 5, 'two acks let exactly two more in');

  worker.ack(held[4], true); // multiple: acks everything up to it
  await waitFor(8);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(held.length, 8);
  worker.ackAll();
  await waitFor(10);
  worker.ackAll();
  assert.deepEqual(held.map((m) => m.content.toString()), Array.from({ length: 10 }, (_, i) => `task ${i}`));
  assert.deepEqual(held.map((m) => m.fields.deliveryTag), Array.from({ length: 10 }, (_, i) => i + 1));
});
