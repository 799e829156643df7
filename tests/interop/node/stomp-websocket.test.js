'use strict';
// STOMP over WebSocket ($STOMP_WS_PORT, path /ws): @stomp/stompjs on the `ws`
// package, as a browser application would use it, messages crossing to and from
// amqplib; and the framing web-stomp clients rely on (one frame per message).
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { Client } = require('@stomp/stompjs');
const { TEST_TIMEOUT_MS, uid, within, deferred, brokerFor } = require('./helpers');

const URL = `ws://${process.env.STOMP_HOST || '127.0.0.1'}:${process.env.STOMP_WS_PORT || 15674}/ws`;
const SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

async function stompClient(t) {
  const connected = deferred();
  let socket;
  const client = new Client({
    webSocketFactory: () => {
      socket = new WebSocket(URL, SUBPROTOCOLS);
      return socket;
    },
    connectHeaders: { login: 'guest', passcode: 'guest' },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    onConnect: (frame) => connected.resolve(frame),
    onStompError: (frame) => connected.reject(new Error(`STOMP ERROR: ${frame.headers.message}`)),
    onWebSocketError: () => connected.reject(new Error('WebSocket error')),
  });
  client.activate();
  t.after(() => client.deactivate());
  const frame = await within(connected.promise, 'CONNECTED over WebSocket');
  return { client, frame, socket };
}

test('stompjs over WebSocket to and from AMQP', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const broker = brokerFor(t);
  const { client, frame, socket } = await stompClient(t);
  assert.equal(socket.protocol, 'v12.stomp');
  assert.equal(frame.headers.version, '1.2');
  const conn = await broker.connect();
  const ch = await conn.createChannel();

  // AMQP -> STOMP: /topic/<key> is amq.topic, headers become STOMP headers.
  const key = `stompws.${uid()}`;
  const got = deferred();
  const subscribed = deferred();
  client.subscribe(`/topic/${key}`, (m) => got.resolve(m), { receipt: 'sub-1' });
  client.watchForReceipt('sub-1', () => subscribed.resolve());
  await within(subscribed.promise, 'the SUBSCRIBE receipt');
  ch.publish('amq.topic', key, Buffer.from('from amqplib'), {
    contentType: 'text/plain',
    headers: { origin: 'amqplib' },
  });
  const m = await within(got.promise, 'the AMQP message at the STOMP subscriber');
  assert.equal(m.body, 'from amqplib');
  assert.equal(m.headers['content-type'], 'text/plain');
  assert.equal(m.headers.origin, 'amqplib');

  // STOMP -> AMQP: /queue/<name> is that queue.
  const queue = broker.queue('stompws');
  await ch.assertQueue(queue, { durable: true });
  const sent = deferred();
  client.watchForReceipt('send-1', () => sent.resolve());
  client.publish({
    destination: `/queue/${queue}`,
    body: 'from stompjs',
    headers: { receipt: 'send-1', persistent: 'true', 'x-origin': 'stompjs' },
  });
  await within(sent.promise, 'the SEND receipt');
  const arrived = deferred();
  await ch.consume(queue, (msg) => arrived.resolve(msg), { noAck: true });
  const msg = await within(arrived.promise, 'the STOMP message at the AMQP consumer');
  assert.equal(msg.content.toString(), 'from stompjs');
  assert.equal(msg.properties.deliveryMode, 2);
  assert.equal(msg.properties.headers['x-origin'], 'stompjs');
});

test('each STOMP frame the server sends is one WebSocket text message', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const socket = new WebSocket(URL, ['v11.stomp']);
  t.after(() => socket.terminate());
  const messages = [];
  const three = deferred();
  socket.on('message', (data, isBinary) => {
    messages.push({ text: data.toString(), isBinary });
    if (messages.length === 3) three.resolve();
  });
  await within(new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  }), 'the WebSocket upgrade');
  assert.equal(socket.protocol, 'v11.stomp');
  // Three frames in one message: the server answers each in its own message.
  socket.send(
    'CONNECT\naccept-version:1.1\nhost:/\nlogin:guest\npasscode:guest\n\n\0' +
      `SUBSCRIBE\nid:0\ndestination:/topic/framing.${uid()}\nreceipt:r1\n\n\0` +
      'UNSUBSCRIBE\nid:0\nreceipt:r2\n\n\0',
  );
  await within(three.promise, 'three frames');
  assert.deepEqual(
    messages.map((m) => [m.isBinary, m.text.split('\n')[0], /\0\n?$/.test(m.text)]),
    [
      [false, 'CONNECTED', true],
      [false, 'RECEIPT', true],
      [false, 'RECEIPT', true],
    ],
  );
});

test('an upgrade at another path is refused with 404', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const socket = new WebSocket(URL.replace(/\/ws$/, '/stomp'), SUBPROTOCOLS);
  t.after(() => socket.terminate());
  const status = await within(new Promise((resolve) => {
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode));
    socket.once('open', () => resolve('opened'));
    socket.once('error', () => {});
  }), 'the refusal');
  assert.equal(status, 404);
});
