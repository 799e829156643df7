// Times the console's queue list against a warren holding 100,000 queues (it
// imports them as definitions first when there are fewer; that takes minutes):
//
//   WARREN_HTTP_URL=http://127.0.0.1:15672 node tests/console/measure-100k.mjs
//
// Each figure is from the action to the list showing its result.

import { launch, logIn, api, BASE_URL } from './browser.mjs';

const COUNT = 100000;
const overview = await api('GET', '/overview');
if (overview.object_totals.queues < COUNT) {
  const queues = Array.from({ length: COUNT }, (_, i) => ({
    name: `load.q${String(i).padStart(6, '0')}`, vhost: '/', durable: true, auto_delete: false, arguments: {},
  }));
  console.log(`importing ${COUNT} queues…`);
  await api('POST', '/definitions', { queues });
}

const browser = await launch();
try {
  const page = await browser.context.newPage();
  await logIn(page);
  await page.locator('.topbar .user').waitFor();
  const list = page.locator('[data-table=queues]');
  const time = async (label, action, until) => {
    const start = Date.now();
    await action();
    await until();
    console.log(`${label}: ${Date.now() - start} ms`);
  };
  for (let i = 0; i < 3; i++) {
    await page.goto(`${BASE_URL}/#/`);
    await page.locator('.chart').first().waitFor();
    await time('queues page, first 20', () => page.goto(`${BASE_URL}/#/queues`),
      () => list.locator('.count', { hasText: 'of 100,0' }).waitFor());
  }
  const pageBox = list.getByLabel('Page', { exact: true });
  await time('last page', async () => { await pageBox.fill('5000'); await pageBox.press('Enter'); },
    () => list.locator('.count', { hasText: '99,981–100,000' }).waitFor());
  await time('sort by ready, then reversed', async () => {
    await list.getByRole('button', { name: 'Ready' }).click();
    await list.getByRole('button', { name: 'Ready' }).click();
  }, () => list.locator('th button.sort.desc').waitFor().then(() => list.locator('.count', { hasText: '1–20 of' }).waitFor()));
  await time('filter "q09999" (includes the 250 ms typing pause)', () => list.getByLabel('Filter by name').fill('q09999'),
    () => list.locator('.count', { hasText: '(filtered from' }).waitFor());
} finally {
  await browser.close();
}
