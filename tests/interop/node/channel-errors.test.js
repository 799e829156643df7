'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { TEST_TIMEOUT_MS, within, deferred, brokerFor } = require('./helpers');

test('a 404 closes the channel with an error event carrying the code; the connection lives on', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const broker = brokerFor(t);
  const conn = await broker.connect();
  const connClosed = deferred();
  conn.on('close', () => connClosed.resolve());
  const ch = await conn.createChannel();
  const errorEvent = deferred();
  const closeEvent = deferred();
  ch.on('error', (err) => errorEvent.resolve(err));
  ch.on('close', () => closeEvent.resolve());

  const missing = broker.queue('missing');
  await assert.rejects(ch.checkQueue(missing), (err) => err.code === 404);
  const err = await within(errorEvent.promise, "the channel's error event");
  assert.equal(err.code, 404);
  assert.match(err.message, /NOT_FOUND/);
  assert.ok(err.message.includes(missing), err.message);
  await within(closeEvent.promise, "the channel's close event");

  // The same connection opens a new channel and works normally.
  const again = await conn.createChannel();
  const queue = broker.queue('after-error');
  await again.assertQueue(queue, { durable: false });
  again.sendToQueue(queue, Buffer.from('still here'));
  const got = deferred();
  await again.consume(queue, (msg) => got.resolve(msg), { noAck: true });
  assert.equal((await within(got.promise, 'delivery on the new channel')).content.toString(), 'still here');

  const raced = await Promise.race([connClosed.promise.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 100))]);
  assert.equal(raced, 'open');
});

test('publishing to a missing exchange closes the channel with 404', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const broker = brokerFor(t);
  const conn = await broker.connect();
  const ch = await conn.createChannel();
  const errorEvent = deferred();
  ch.on('error', (err) => errorEvent.resolve(err));
  ch.publish(broker.exchange('missing'), 'rk', Buffer.from('x'));
  const err = await within(errorEvent.promise, "the channel's error event");
  assert.equal(err.code, 404);
  // A channel that closed under us refuses further use.
  assert.throws(() => ch.publish('', 'x', Buffer.from('x')));
});

test('reconnecting: a new connection after the old one closes sees durable state', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const broker = brokerFor(t);
  const queue = broker.queue('reconnect');
  const first = await broker.connect();
  const ch = await first.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true });
  ch.sendToQueue(queue, Buffer.from('before'), { persistent: true });
  await within(ch.waitForConfirms(), 'confirm');
  // Unacked delivery on the first connection goes back when it closes.
  const consumer = await first.createChannel();
  const got = deferred();
  await consumer.consume(queue, (msg) => got.resolve(msg));
  assert.equal((await within(got.promise, 'first delivery')).fields.redelivered, false);
  await first.close();

  const second = await broker.connect();
  const ch2 = await second.createChannel();
  const again = deferred();
  await ch2.consume(queue, (msg) => again.resolve(msg), { noAck: true });
  const msg = await within(again.promise, 'redelivery on the new connection');
  assert.equal(msg.content.toString(), 'before');
  assert.equal(msg.fields.redelivered, true);
});
