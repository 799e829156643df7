// The console as an operator uses it, in headless Chromium against a running
// warren: log in, create a queue, publish to it from its page, watch the count
// in the list, get the message back, delete the queue; and a refused login.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, logIn, api, BASE_URL } from './browser.mjs';

let browser;
const errors = [];

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function newPage() {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10000);
  // A script error on any page fails the test that saw it.
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => d.accept());
  return page;
}

test('a wrong password is refused with an error and no console', async () => {
  const page = await newPage();
  await logIn(page, 'guest', 'not-the-password');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.textContent(), /Login failed/);
  assert.equal(await page.locator('.topbar').count(), 0);
  await page.close();
});

test('log in, create a queue, publish, see the count, get the message, delete the queue', async () => {
  const name = `console-test-${process.pid}-${Date.now()}`;
  const page = await newPage();
  await logIn(page);
  await page.locator('.topbar .user', { hasText: 'guest' }).waitFor();

  // The overview: live totals from /api/overview.
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.locator('.chart canvas').first().waitFor();

  // Create the queue from the queues page.
  await page.locator('.topbar').getByRole('link', { name: 'Queues', exact: true }).click();
  const form = page.locator('[data-form=add-queue]');
  await form.getByLabel('Name').fill(name);
  await form.getByRole('button', { name: 'Add queue' }).click();
  await form.getByRole('status').filter({ hasText: `Queue '${name}' declared.` }).waitFor();
  const declared = await api('GET', `/queues/%2F/${encodeURIComponent(name)}`);
  assert.equal(declared.durable, true);

  // Find it with the list's filter (server-side), go to its page.
  const list = page.locator('[data-table=queues]');
  await list.getByLabel('Filter by name').fill(name);
  const row = list.locator(`tr[data-row="//${name}"]`);
  await row.waitFor();
  assert.equal(await row.locator('[data-col=ready]').textContent(), '0');
  await row.getByRole('link', { name }).click();
  await page.getByRole('heading', { name: `Queue ${name}` }).waitFor();

  // Publish through the queue page.
  const publish = page.locator('[data-form=publish]');
  await publish.getByLabel('Payload').fill('hello from the console');
  await publish.getByRole('button', { name: 'Publish message' }).click();
  await publish.getByRole('status').filter({ hasText: 'Message published.' }).waitFor();
  await page.locator('[data-queue=ready]', { hasText: /^1$/ }).waitFor();

  // The list shows the new ready count (the filter is still set).
  await page.locator('.topbar').getByRole('link', { name: 'Queues', exact: true }).click();
  await list.getByLabel('Filter by name').fill(name);
  await row.locator('[data-col=ready]', { hasText: /^1$/ }).waitFor();

  // Get the message (requeued: it stays) and see its payload.
  await row.getByRole('link', { name }).click();
  const getForm = page.locator('[data-form=get]');
  await getForm.getByRole('button', { name: 'Get messages' }).click();
  const message = page.locator('[data-message="0"]');
  await message.waitFor();
  assert.equal(await message.locator('.payload').textContent(), 'hello from the console');
  assert.equal((await api('GET', `/queues/%2F/${encodeURIComponent(name)}`)).messages, 1);

  // Delete it (the confirmation is accepted).
  await page.getByRole('button', { name: 'Delete queue' }).click();
  await page.getByRole('status').filter({ hasText: `Queue '${name}' deleted.` }).waitFor();
  await assert.rejects(api('GET', `/queues/%2F/${encodeURIComponent(name)}`), /404/);
  await page.close();
  assert.deepEqual(errors, [], `script errors in ${BASE_URL}`);
});

test('the queue list filters, pages and sorts on the server; messages move between queues', async () => {
  const prefix = `paging-${process.pid}-`;
  const names = Array.from({ length: 25 }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
  for (const n of names) await api('PUT', `/queues/%2F/${n}`, { durable: false });
  for (let i = 0; i < 3; i++) {
    await api('POST', '/exchanges/%2F/amq.default/publish', { routing_key: names[7], payload: `m${i}`, payload_encoding: 'string', properties: {} });
  }
  const page = await newPage();
  await logIn(page);
  await page.locator('.topbar').getByRole('link', { name: 'Queues', exact: true }).click();
  const list = page.locator('[data-table=queues]');
  await list.getByLabel('Filter by name').fill(prefix);
  await list.locator('.count', { hasText: '1–20 of 25' }).waitFor();
  await list.getByRole('button', { name: 'Next page' }).click();
  await list.locator('.count', { hasText: '21–25 of 25' }).waitFor();
  assert.equal(await list.locator('tbody tr').count(), 5);
  // Sorted by ready messages, most first: the one with messages leads page 1.
  await list.getByRole('button', { name: 'Ready' }).click();
  await list.getByRole('button', { name: 'Ready' }).click();
  await list.locator('.count', { hasText: '1–20 of 25' }).waitFor();
  await list.locator('tbody tr').first().locator('[data-col=ready]', { hasText: /^3$/ }).waitFor();

  // Move two of its three messages to the next queue.
  await list.getByRole('link', { name: names[7] }).click();
  const move = page.locator('[data-form=move]');
  await move.getByLabel('Destination queue').fill(names[8]);
  await move.getByLabel('How many').fill('2');
  await move.getByRole('button', { name: 'Move messages' }).click();
  await move.getByRole('status').filter({ hasText: `Moved 2 messages to '${names[8]}'.` }).waitFor();
  const moved = await api('POST', `/queues/%2F/${names[8]}/get`, { count: 5, ackmode: 'ack_requeue_true', encoding: 'auto' });
  assert.deepEqual(moved.map((m) => m.payload), ['m0', 'm1']);
  // A missing destination is the API's reason, not a crash.
  await move.getByLabel('Destination queue').fill('no-such-queue');
  await move.getByRole('button', { name: 'Move messages' }).click();
  await move.getByRole('alert').filter({ hasText: "no queue 'no-such-queue'" }).waitFor();
  await page.close();
  for (const n of names) await api('DELETE', `/queues/%2F/${n}`);
  assert.deepEqual(errors, []);
});
