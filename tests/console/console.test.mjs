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
