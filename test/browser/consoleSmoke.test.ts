/** The console in a real Chromium with the development sign-in: it renders, its CSP holds, axe finds nothing serious. */
import type { Browser } from 'playwright-core';
import { createDevelopmentSignIn } from '../../shared/access';
import { newKeyRingSecret } from '../../shared/oauth';
import { silentLogger } from '../../shared/log';
import { writeFileSync } from 'node:fs';
import { launchBrowser, newContext, seriousViolations } from '../helpers/browser';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

let host: ScanHost;
let browser: Browser;

beforeAll(async () => {
  host = await startScanHost({ CONSOLE_SIGN_IN: 'development' });
  writeFileSync(host.secretsFile, JSON.stringify({ 'token-encryption-keys': newKeyRingSecret('k1'), 'admin-key': 'k'.repeat(32) }));
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await host?.stop();
});

it('signs in with the one-time link and shows the Overview', async () => {
  const context = await newContext(browser);
  const page = await context.newPage();
  const errors: string[] = [];
  // Script errors and CSP violations (the answers' own 4xx statuses are logged too: not these).
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));
  await page.goto(`${host.server.url}/api/console`);
  expect(await page.locator('h1').textContent()).toBe('Sign in');
  const link = await createDevelopmentSignIn(host.services.signInDeps(silentLogger), host.server.url);
  await page.goto(link);
  expect(await page.locator('h1').textContent()).toBe('Overview');
  expect(await seriousViolations(page)).toEqual([]);
  await page.goto(link);
  expect(await page.locator('h1').textContent()).toBe('Sign-in link not accepted');
  expect(errors).toEqual([]);
  await context.close();
});
