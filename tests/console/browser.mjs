// Starts Debian's Chromium headless through playwright-core, with a fresh profile
// and without the background traffic (updates, sync, QUIC probes) it would
// otherwise send to a network that may be closed.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/// The console under test: WARREN_HTTP_URL, e.g. http://127.0.0.1:15672.
export const BASE_URL = (process.env.WARREN_HTTP_URL || 'http://127.0.0.1:15672').replace(/\/$/, '');

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'warren-console-'));
  // playwright-core passes a profile of its own unless it is given one here.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/// Calls the API directly (setting up and checking behind the browser's back).
export async function api(method, path, body, user = 'guest', password = 'guest') {
  const response = await fetch(`${BASE_URL}/api${path}`, {
    method,
    headers: {
      authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64'),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function logIn(page, user = 'guest', password = 'guest') {
  await page.goto(`${BASE_URL}/`);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
