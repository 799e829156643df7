// Writes the console's screenshots in docs/img/ (1280×800) from a warren at
// WARREN_HTTP_URL that it fills with some queues, exchanges and traffic first:
//
//   WARREN_HTTP_URL=http://127.0.0.1:15672 node tests/console/screenshots.mjs
//
// It publishes for about 40 s so that the overview's charts have a history.

import { launch, logIn, api } from './browser.mjs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'img');
const QUEUES = ['orders.created', 'orders.paid', 'orders.shipped', 'billing.invoices', 'billing.retries', 'email.outbox', 'search.reindex', 'audit.log'];

async function declare() {
  await api('PUT', '/exchanges/%2F/orders', { type: 'topic', durable: true });
  await api('PUT', '/exchanges/%2F/billing', { type: 'direct', durable: true });
  await api('PUT', '/exchanges/%2F/notifications', { type: 'fanout', durable: true });
  await api('PUT', '/vhosts/staging', { description: 'Pre-production', tags: 'staging' });
  await api('PUT', '/users/monitor', { password: 'monitor', tags: 'monitoring' });
  await api('PUT', '/permissions/staging/monitor', { configure: '', write: '', read: '.*' });
  await api('PUT', '/policies/%2F/bounded', { pattern: '^audit\\.', definition: { 'max-length': 100000 }, 'apply-to': 'queues', priority: 1 });
  for (const q of QUEUES) {
    await api('PUT', `/queues/%2F/${q}`, { durable: true, arguments: q === 'billing.retries' ? { 'x-message-ttl': 60000 } : {} });
  }
  await api('POST', '/bindings/%2F/e/orders/q/orders.created', { routing_key: 'order.created' });
  await api('POST', '/bindings/%2F/e/orders/q/orders.paid', { routing_key: 'order.paid' });
  await api('POST', '/bindings/%2F/e/orders/q/audit.log', { routing_key: 'order.#' });
  await api('POST', '/bindings/%2F/e/billing/q/billing.invoices', { routing_key: 'invoice' });
}

const publish = (routingKey, payload, exchange = 'amq.default') =>
  api('POST', `/exchanges/%2F/${exchange}/publish`, { routing_key: routingKey, payload, payload_encoding: 'string', properties: { delivery_mode: 2, content_type: 'application/json' } });

/// Traffic with a changing rate, some of it taken off again, for the charts.
async function traffic(seconds) {
  const end = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    const burst = 5 + Math.round(10 * (1 + Math.sin(n / 40)));
    for (let i = 0; i < burst; i++, n++) {
      await publish(n % 3 ? 'order.created' : 'order.paid', JSON.stringify({ order: 1000 + n, total: (n * 7.3) % 400 }), 'orders');
    }
    if (n % 4 === 0) await api('POST', '/queues/%2F/orders.paid/get', { count: 8, ackmode: 'ack_requeue_false', encoding: 'auto' });
    await new Promise((r) => setTimeout(r, 200));
  }
}

await declare();
const browser = await launch();
try {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await logIn(page);
  await page.locator('.topbar .user').waitFor();
  await traffic(40);
  await page.screenshot({ path: join(OUT, 'console-overview.png') });

  await page.goto(page.url().replace(/#.*$/, '') + '#/queues');
  await page.locator('[data-table=queues] tbody tr').nth(3).waitFor();
  await page.screenshot({ path: join(OUT, 'console-queues.png') });

  await page.goto(page.url().replace(/#.*$/, '') + '#/queues/%2F/orders.created');
  await page.locator('[data-form=get] button[type=submit]').click();
  await page.locator('[data-message="0"]').waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(OUT, 'console-queue.png') });

  await page.goto(page.url().replace(/#.*$/, '') + '#/exchanges');
  await page.locator('[data-table=exchanges] tbody tr').nth(3).waitFor();
  await page.screenshot({ path: join(OUT, 'console-exchanges.png') });

  await page.goto(page.url().replace(/#.*$/, '') + '#/admin/users');
  await page.locator('tr[data-row=monitor]').waitFor();
  await page.screenshot({ path: join(OUT, 'console-admin.png') });
  console.log(`screenshots written to ${OUT}`);
} finally {
  await browser.close();
}
