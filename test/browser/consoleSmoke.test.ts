/**
 * The console in a real Chromium with the development sign-in: the one-time link, the CSP and
 * no script error, a narrow window, an ended session sent to sign in, and a cross-site form post
 * (a page of another origin on the same site, so the SameSite=Lax cookie is sent) refused.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { ADMIN_ROLE, READER_ROLE, SESSION_COOKIE, Sessions, createDevelopmentSignIn, LOCAL_DEVELOPER } from '../../shared/access';
import { newKeyRingSecret } from '../../shared/oauth';
import { silentLogger } from '../../shared/log';
import { collectPageErrors, launchBrowser, newContext, screenshot, seriousViolations } from '../helpers/browser';
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

const link = () => createDevelopmentSignIn(host.services.signInDeps(silentLogger), host.server.url);

function watch(page: Page): string[] {
  const errors: string[] = [];
  // Script errors and CSP violations (the answers' own 4xx statuses are logged too: not these).
  collectPageErrors(page, errors);
  return errors;
}

it('signs in once with the link npm start prints, and the page has no script error', async () => {
  const context = await newContext(browser);
  const page = await context.newPage();
  const errors = watch(page);
  await page.goto(`${host.server.url}/api/console`);
  expect(await page.locator('h1').textContent()).toBe('Sign in');
  expect(await page.locator('main').textContent()).toContain('npm run console-link');
  await screenshot(page, 'signin-development');
  const once = await link();
  await page.goto(once);
  expect(await page.locator('h1').textContent()).toBe('Overview');
  expect(await seriousViolations(page)).toEqual([]);
  await page.goto(once);
  expect(await page.locator('h1').textContent()).toBe('Sign-in link not accepted');
  expect(errors).toEqual([]);
  await context.close();
});

it('is readable in a narrow window: nothing wider than the screen', async () => {
  const context = await newContext(browser, { width: 375, height: 740 });
  const page = await context.newPage();
  await page.goto(await link());
  for (const path of ['', '/connections', '/audit']) {
    await page.goto(`${host.server.url}/api/console${path}`);
    const [scroll, width] = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
      return [d.documentElement.scrollWidth, d.documentElement.clientWidth];
    });
    expect([path, scroll]).toEqual([path, width]);
  }
  await context.close();
});

it('sends an ended session to sign in, saying so', async () => {
  const { cipher } = host.services.oauthDeps(silentLogger);
  const thirteenHoursAgo = Date.now() - 13 * 3_600_000;
  const old = new Sessions(cipher, { idleMs: 30 * 60_000, maxMs: 12 * 3_600_000 }, () => thirteenHoursAgo);
  const { cookie } = await old.start(LOCAL_DEVELOPER, [ADMIN_ROLE, READER_ROLE], 'development');
  const context = await newContext(browser);
  const page = await context.newPage();
  // The browser gets the old session's cookie as from the console (a __Host- cookie cannot be added from outside).
  await page.route(`${host.server.url}/set-old-session`, (route) =>
    route.fulfill({
      status: 200,
      headers: { 'set-cookie': `${SESSION_COOKIE}=${cookie.value}; Path=/; HttpOnly; Secure; SameSite=Lax` },
      body: 'ok',
    }),
  );
  await page.goto(`${host.server.url}/set-old-session`);
  expect((await context.cookies()).find((c) => c.name === SESSION_COOKIE)?.value).toBe(cookie.value);
  await page.goto(`${host.server.url}/api/console/audit`);
  expect(page.url()).toContain('/api/console/signin?returnTo=%2Fapi%2Fconsole%2Faudit&ended=1');
  expect(await page.getByRole('status').textContent()).toContain('Your session has ended');
  expect((await context.cookies()).find((c) => c.name === SESSION_COOKIE)).toBeUndefined();
  await context.close();
});

describe('a cross-site form post', () => {
  let evil: Server;
  let evilUrl: string;
  beforeAll(async () => {
    // Another origin on the same site (localhost, another port): the browser sends the Lax cookie.
    evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(
        `<!doctype html><html lang="en"><title>x</title><form method="post" action="${host.server.url}/api/console/connections">` +
          `<input name="type" value="smtpMicrosoft"><input name="displayName" value="Planted"><input name="id" value="planted">` +
          `<button>Win a prize</button></form></html>`,
      );
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    evilUrl = `http://localhost:${(evil.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => evil.close(() => r())));

  it('is refused: no CSRF token, and its Origin is not the console', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(await link());
    await page.goto(evilUrl);
    await page.getByRole('button', { name: 'Win a prize' }).click();
    await page.waitForLoadState();
    expect(await page.locator('h1').textContent()).toBe('Request refused');
    expect(await page.locator('main').textContent()).toContain('did not come from the console');
    await expect(host.services.storage.connections.get('planted')).resolves.toBeUndefined();
    await context.close();
  });
});
