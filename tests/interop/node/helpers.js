'use strict';
// Shared helpers for the amqplib interop tests. Every wait has a deadline so
// a broker that never answers fails the test instead of hanging the run.

const crypto = require('node:crypto');
const amqp = require('amqplib');

const AMQP_URL = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/%2F';
const WAIT_MS = Number(process.env.INTEROP_WAIT_SECONDS || 10) * 1000;
// Per-test limit for node:test, comfortably above any single wait.
const TEST_TIMEOUT_MS = 4 * WAIT_MS;

function uid() {
  return crypto.randomUUID().slice(0, 12);
}

// Rejects with a message naming what was awaited if `promise` takes too long.
function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A promise with its resolve/reject exposed.
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Opens connections for one test and cleans up after it: `t.after(() => b.close())`.
class Broker {
  constructor() {
    this.suffix = uid();
    this.connections = [];
    this.queues = [];
    this.exchanges = [];
  }

  async connect() {
    const conn = await within(amqp.connect(AMQP_URL, { timeout: 5000 }), 'connection to open');
    conn.on('error', () => {}); // surfaced to tests through the failing calls
    this.connections.push(conn);
    return conn;
  }

  queue(base) {
    const name = `${base}-${this.suffix}`;
    this.queues.push(name);
    return name;
  }

  exchange(base) {
    const name = `${base}-${this.suffix}`;
    this.exchanges.push(name);
    return name;
  }

  async close() {
    for (const conn of this.connections) {
      try {
        await within(conn.close(), 'connection close', 2000);
      } catch {
        // already closed, or the test failed for that reason already
      }
    }
    if (this.queues.length === 0 && this.exchanges.length === 0) return;
    const conn = await within(amqp.connect(AMQP_URL, { timeout: 5000 }), 'cleanup connection');
    conn.on('error', () => {});
    try {
      const ch = await conn.createChannel();
      for (const q of this.queues) await within(ch.deleteQueue(q), `delete queue ${q}`);
      for (const e of this.exchanges) await within(ch.deleteExchange(e), `delete exchange ${e}`);
      await ch.close();
    } finally {
      await conn.close();
    }
  }
}

// A Broker whose cleanup is registered on the test context.
function brokerFor(t) {
  const b = new Broker();
  t.after(() => b.close());
  return b;
}

module.exports = { AMQP_URL, WAIT_MS, TEST_TIMEOUT_MS, uid, within, deferred, sleep, brokerFor };
