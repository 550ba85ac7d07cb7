/**
 * Notification channels in the console, in a real Chromium, against a loopback webhook receiver:
 * add a webhook after a bad URL (the problem shown next to its field, nothing saved), listed with
 * its host only (its URL, with the signature in its query, nowhere in a page); Send a test (the
 * receiver gets the JSON body, the page says it was sent); edit it without its URL (it still posts
 * there); an e-mail channel through an authorized connection, its problems shown; a Reader sees
 * the lists without a form or a button; the Recent events table lists the tests with their
 * outcome per channel; delete it; a test that fails says why. axe-core checks each page; the
 * screenshot notifications.png goes to docs/screenshots/.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createDevelopmentSignIn, READER_ROLE, SESSION_COOKIE } from '../../shared/access';
import { silentLogger } from '../../shared/log';
import { createChannel, listChannels } from '../../shared/notifications';
import { newKeyRingSecret } from '../../shared/oauth';
import { collectPageErrors, launchBrowser, newContext, screenshot, seriousViolations, signedInPage } from '../helpers/browser';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

interface Delivered {
  url: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

let host: ScanHost;
let browser: Browser;
let page: Page;
let console_: string;
let receiver: Server;
let hookUrl: string;
let hookHost: string;
const delivered: Delivered[] = [];
const contexts: BrowserContext[] = [];
const problems: string[] = [];
const dialogs: string[] = [];
const SIGNATURE = 'sig=secret123';

beforeAll(async () => {
  // The webhook: records each JSON body it is posted, answers 200.
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        body = { unparsed: Buffer.concat(chunks).toString('utf8') };
      }
      delivered.push({ url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookHost = `127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  hookUrl = `http://${hookHost}/hook?${SIGNATURE}`;

  host = await startScanHost((url) => ({ CONSOLE_SIGN_IN: 'development', PUBLIC_BASE_URL: url }));
  console_ = `${host.server.url}/api/console`;
  writeFileSync(host.secretsFile, JSON.stringify({ 'token-encryption-keys': newKeyRingSecret('k1') }));
  browser = await launchBrowser();
  ({ page } = await signedInPage(
    browser,
    await createDevelopmentSignIn(host.services.signInDeps(silentLogger), host.server.url),
    problems,
  ));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.accept();
  });
}, 120_000);
afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await host?.stop();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
});
afterEach(() => expect(problems.splice(0)).toEqual([]));

const deps = () => host.services.notificationsDeps(silentLogger);
const stored = async () => Object.fromEntries((await listChannels(deps())).map((c) => [c.id, { ...c.options, urlHost: c.urlHost }]));
const heading = () => page.locator('h1').textContent();
const channelRow = (p: Page = page) =>
  p.getByRole('region', { name: 'Notification channels' }).getByRole('row').filter({ hasText: 'ops-hook' });
const cellsOf = async (p: Page = page) =>
  (await channelRow(p).getByRole('cell').allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
/** No trace of the webhook's URL beyond its host: not its path, not its signature. */
const expectNoUrl = async (p: Page = page) => {
  const markup = await p.content();
  expect(markup).not.toContain('secret123');
  expect(markup).not.toContain(`${hookHost}/hook`);
};

it('adds a webhook after a bad URL shown next to its field, nothing saved; lists it with its host only', async () => {
  await page.goto(console_);
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Notifications' }).click();
  expect(await heading()).toBe('Notifications');
  expect(await page.locator('main').textContent()).toContain('No notification channels yet.');

  await page.getByLabel('Id', { exact: true }).fill('ops-hook');
  await page.getByLabel('Name', { exact: true }).fill('Ops hook');
  await page.getByLabel('Kind').selectOption({ label: 'Webhook' });
  await page.getByLabel('URL', { exact: true }).fill('not a url');
  await page.getByLabel('Allow private networks').check();
  await page.getByRole('button', { name: 'Add' }).click();

  expect(await page.getByRole('alert').textContent()).toContain('Nothing was saved');
  expect(await page.getByLabel('URL', { exact: true }).getAttribute('aria-invalid')).toBe('true');
  expect(await page.locator('#f-url-error').textContent()).toContain('must be an https:// URL');
  expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('Ops hook'); // kept as typed
  expect(await page.getByLabel('Allow private networks').isChecked()).toBe(true);
  expect(await page.getByLabel('URL', { exact: true }).inputValue()).toBe(''); // a URL is never written back
  expect(await stored()).toEqual({});
  expect(await seriousViolations(page)).toEqual([]);

  // Every event is checked by default, each with its description.
  const events = page.getByRole('group', { name: 'Events' }).getByRole('checkbox');
  expect(await events.count()).toBe(9);
  expect(await events.evaluateAll((boxes) => boxes.every((b) => (b as unknown as { checked: boolean }).checked))).toBe(true);
  expect(await page.getByRole('group', { name: 'Events' }).textContent()).toContain('must be authorized again');

  await page.getByLabel('URL', { exact: true }).fill(hookUrl);
  await page.getByRole('button', { name: 'Add' }).click();
  await page.waitForURL(/\/api\/console\/notifications$/);
  expect(await page.locator('.notice.ok').textContent()).toContain("Notification channel 'ops-hook' added.");
  expect((await cellsOf()).slice(0, 6)).toEqual(['Ops hook', 'ops-hook', 'Webhook', hookHost, 'All', 'Enabled']);
  expect((await stored())['ops-hook']).toMatchObject({ kind: 'webhook', name: 'Ops hook', allowPrivateNetworks: true, urlHost: hookHost });
  await expectNoUrl();
  expect(await seriousViolations(page)).toEqual([]);
});

it('sends a test: the receiver gets the JSON body and the page says it was sent', async () => {
  await channelRow().getByRole('button', { name: 'Send a test' }).click();
  await page.waitForURL(/\/api\/console\/notifications$/);
  expect(await page.getByRole('status').first().textContent()).toContain("Test sent to 'ops-hook'.");
  expect(delivered).toHaveLength(1);
  expect(delivered[0]!.url).toBe(`/hook?${SIGNATURE}`);
  expect(delivered[0]!.headers['content-type']).toMatch(/^application\/json/);
  expect(delivered[0]!.body).toMatchObject({
    schema: 'scanrelay.notification/1',
    type: 'test',
    subject: { kind: 'channel', id: 'ops-hook' },
  });
});

it('edits the name without the URL, which stays: a second test goes to the same receiver', async () => {
  await channelRow().getByRole('link', { name: 'Edit' }).click();
  await page.waitForURL(/\/notifications\/ops-hook$/);
  expect(await heading()).toBe('Notification channel ops-hook');
  const url = page.getByLabel('URL', { exact: true });
  expect(await url.inputValue()).toBe('');
  expect(await url.getAttribute('placeholder')).toBe('leave empty to keep the current URL');
  expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('Ops hook');
  await expectNoUrl();
  expect(await seriousViolations(page)).toEqual([]);

  await page.getByLabel('Name', { exact: true }).fill('Ops webhook');
  await page.getByLabel('job.poisoned').uncheck();
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(/\/api\/console\/notifications$/);
  expect(await page.locator('.notice.ok').textContent()).toContain("Notification channel 'ops-hook' saved.");
  expect((await cellsOf()).slice(0, 6)).toEqual(['Ops webhook', 'ops-hook', 'Webhook', hookHost, '8', 'Enabled']);

  await channelRow().getByRole('button', { name: 'Send a test' }).click();
  await page.waitForURL(/\/api\/console\/notifications$/);
  expect(await page.getByRole('status').first().textContent()).toContain("Test sent to 'ops-hook'.");
  expect(delivered.map((d) => [d.url, d.body.type])).toEqual([
    [`/hook?${SIGNATURE}`, 'test'],
    [`/hook?${SIGNATURE}`, 'test'],
  ]);
});

it('adds an e-mail channel: its problems next to the connection and the recipients, then listed with both', async () => {
  // The choices are the authorized connections of an e-mail type only.
  const { connections } = host.services.storage;
  const authorize = async (id: string, type: string, state: 'authorized' | 'pending' = 'authorized') => {
    const created = await connections.create({ id, type, tenant: 'organizations', displayName: `Conn ${id}` });
    if (state === 'authorized') await connections.update(created, { state });
  };
  await authorize('alerts-smtp', 'smtpMicrosoft');
  await authorize('alerts-graph', 'exchangeMicrosoft', 'pending');
  await authorize('files', 'sharePoint');

  await page.goto(`${console_}/notifications`);
  const connection = page.getByLabel('Connection', { exact: true });
  expect(await connection.locator('option').allTextContents()).toEqual(['Choose a connection', 'Conn alerts-smtp (alerts-smtp)']);
  await page.getByLabel('Id', { exact: true }).fill('alerts-mail');
  await page.getByLabel('Name', { exact: true }).fill('IT by e-mail');
  await page.getByLabel('Kind').selectOption({ label: 'E-mail' });
  await page.getByLabel('Recipients').fill('it@contoso.com, not-an-address');
  await page.getByRole('button', { name: 'Add' }).click();
  expect(await page.getByRole('alert').textContent()).toContain('Nothing was saved');
  expect(await page.locator('#f-connectionId-error').textContent()).toContain('must name an authorized connection');
  expect(await page.locator('#f-to-error').textContent()).toContain("'not-an-address': must each be one e-mail address");
  expect(await page.getByLabel('Recipients').inputValue()).toBe('it@contoso.com, not-an-address');
  expect(await page.getByLabel('Kind').inputValue()).toBe('email');
  expect(Object.keys(await stored())).toEqual(['ops-hook']);
  expect(await seriousViolations(page)).toEqual([]);

  await connection.selectOption('alerts-smtp');
  await page.getByLabel('Recipients').fill('it@contoso.com, ops@contoso.com');
  await page.getByRole('button', { name: 'Add' }).click();
  await page.waitForURL(/\/api\/console\/notifications$/);
  const row = page.getByRole('region', { name: 'Notification channels' }).getByRole('row').filter({ hasText: 'alerts-mail' });
  const cells = (await row.getByRole('cell').allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
  expect(cells.slice(0, 6)).toEqual([
    'IT by e-mail',
    'alerts-mail',
    'E-mail',
    'alerts-smtp → it@contoso.com, ops@contoso.com',
    'All',
    'Enabled',
  ]);
  expect(await row.getByRole('link', { name: 'alerts-smtp' }).getAttribute('href')).toBe('/api/console/connections/alerts-smtp');
  expect((await stored())['alerts-mail']).toMatchObject({
    kind: 'email',
    connectionId: 'alerts-smtp',
    to: ['it@contoso.com', 'ops@contoso.com'],
  });
});

it('lists the tests in Recent events, with the outcome per channel and the link', async () => {
  await page.goto(`${console_}/notifications`);
  const rows = page.getByRole('region', { name: 'Recent events' }).getByRole('row');
  expect(await rows.count()).toBe(3); // the head and the two tests
  for (const i of [1, 2]) {
    const text = (await rows.nth(i).textContent())!.replace(/\s+/g, ' ');
    expect(text).toMatch(/Info.*ScanRelay test notification.*ops-hook Sent/);
  }
  const link = rows.nth(1).getByRole('link', { name: 'Open the notifications' });
  expect(await link.getAttribute('href')).toBe(`${console_}/notifications`);
  expect(await link.getAttribute('rel')).toBe('noopener');
  await expectNoUrl();
  await screenshot(page, 'notifications');
  expect(await seriousViolations(page)).toEqual([]);
});

it('shows a Reader the channels and the events without a form or a button', async () => {
  const { cookie } = await host.services
    .accessDeps()
    .sessions.start({ oid: 'o-reader', tid: 't-1', upn: 'reader@contoso.com', name: 'Rita Reader' }, [READER_ROLE], 'entra');
  const context = await newContext(browser);
  contexts.push(context);
  const reader = await context.newPage();
  collectPageErrors(reader, problems);
  // The browser gets the session's cookie as from the console (a __Host- cookie cannot be added from outside).
  await reader.route(`${host.server.url}/set-session`, (route) =>
    route.fulfill({
      status: 200,
      headers: { 'set-cookie': `${SESSION_COOKIE}=${cookie.value}; Path=/; HttpOnly; Secure; SameSite=Lax` },
      body: 'ok',
    }),
  );
  await reader.goto(`${host.server.url}/set-session`);

  await reader.goto(`${console_}/notifications`);
  expect(await reader.locator('h1').textContent()).toBe('Notifications');
  expect((await cellsOf(reader)).slice(0, 6)).toEqual(['Ops webhook', 'ops-hook', 'Webhook', hookHost, '8', 'Enabled']);
  expect(await reader.getByRole('region', { name: 'Recent events' }).getByRole('row').count()).toBe(3);
  expect(await reader.getByRole('heading', { name: 'Add a channel' }).count()).toBe(0);
  expect(await reader.locator('main form, main button, main input, main select').count()).toBe(0);
  expect(await reader.getByRole('link', { name: 'Edit' }).count()).toBe(0);
  await expectNoUrl(reader);
  expect(await seriousViolations(reader)).toEqual([]);

  await reader.goto(`${console_}/notifications/ops-hook`);
  expect(await reader.locator('h1').textContent()).toBe('Notification channel ops-hook');
  expect(await reader.locator('main form, main button, main input, main select').count()).toBe(0);
  expect(await seriousViolations(reader)).toEqual([]);
});

it('deletes the channel after the confirmation; its events stay listed', async () => {
  await page.goto(`${console_}/notifications`);
  await channelRow().getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL(/\/api\/console\/notifications$/);
  expect(dialogs.splice(0)).toEqual([expect.stringContaining("Delete the notification channel 'ops-hook'?")]);
  expect(await page.locator('.notice.ok').textContent()).toContain("Notification channel 'ops-hook' deleted.");
  expect(await channelRow().count()).toBe(0);
  expect(Object.keys(await stored())).toEqual(['alerts-mail']);
  expect(await page.getByRole('region', { name: 'Recent events' }).getByRole('row').count()).toBe(3);

  // The audit log names the changes and the tests by the channel, with the host only.
  await page.goto(`${console_}/audit`);
  const audit = (await page.locator('main').textContent())!;
  for (const action of [
    'notification.channel.create',
    'notification.channel.update',
    'notification.channel.test',
    'notification.channel.delete',
  ]) {
    expect(audit).toContain(action);
  }
  await expectNoUrl();
});

it('says why a test failed, and lists it as failed with the reason', async () => {
  await createChannel(deps(), { kind: 'key' }, { id: 'public-only', kind: 'webhook', name: 'Public only', url: hookUrl });
  await page.goto(`${console_}/notifications`);
  const row = page.getByRole('region', { name: 'Notification channels' }).getByRole('row').filter({ hasText: 'public-only' });
  await row.getByRole('button', { name: 'Send a test' }).click();
  await page.waitForURL(/\/api\/console\/notifications$/);
  expect(await page.getByRole('alert').textContent()).toContain(
    `Test failed: ${hookHost}: an http:// URL is only allowed with allowPrivateNetworks`,
  );
  expect(delivered).toHaveLength(2);
  const newest = page.getByRole('region', { name: 'Recent events' }).getByRole('row').nth(1);
  expect((await newest.textContent())!.replace(/\s+/g, ' ')).toContain('public-only Failed');
  expect(await newest.textContent()).toContain('only allowed with allowPrivateNetworks');
  await expectNoUrl();
});
