'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { TEST_TIMEOUT_MS, within, deferred, brokerFor, uid } = require('./helpers');

const REPLY_TO = 'amq.rabbitmq.reply-to';

test('RPC over direct reply-to', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const broker = brokerFor(t);
  const queue = broker.queue('rpc-direct');

  // Server: replies to whatever reply_to the request carries.
  const serverConn = await broker.connect();
  const server = await serverConn.createChannel();
  await server.assertQueue(queue, { durable: false });
  await server.prefetch(1);
  const seenReplyTo = [];
  await server.consume(queue, (msg) => {
    seenReplyTo.push(msg.properties.replyTo);
    const n = Number(msg.content.toString());
    server.sendToQueue(msg.properties.replyTo, Buffer.from(String(n * n)), {
      correlationId: msg.properties.correlationId,
    });
    server.ack(msg);
  });

  // Client: consume the pseudo-queue no-ack, then send requests.
  const clientConn = await broker.connect();
  const client = await clientConn.createChannel();
  const pending = new Map();
  await client.consume(
    REPLY_TO,
    (msg) => {
      const waiter = pending.get(msg.properties.correlationId);
      if (waiter) waiter.resolve({ body: msg.content.toString(), fields: msg.fields });
    },
    { noAck: true },
  );

  const calls = [3, 7, 12].map((n) => {
    const correlationId = uid();
    const waiter = deferred();
    pending.set(correlationId, waiter);
    client.sendToQueue(queue, Buffer.from(String(n)), { replyTo: REPLY_TO, correlationId });
    return { n, correlationId, reply: waiter.promise };
  });
  for (const call of calls) {
    const reply = await within(call.reply, `reply to ${call.n}`);
    assert.equal(reply.body, String(call.n * call.n));
    assert.ok(reply.fields.routingKey.startsWith(`${REPLY_TO}.`), reply.fields.routingKey);
  }
  assert.equal(seenReplyTo.length, 3);
  assert.ok(seenReplyTo.every((r) => r === seenReplyTo[0]));
  assert.ok(seenReplyTo[0].startsWith(`${REPLY_TO}.`), seenReplyTo[0]);
});
