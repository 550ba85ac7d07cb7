/**
 * Destinations in the console, in a real Chromium: create one with a mistake (the problem shown
 * next to its field, nothing saved) and then correctly, disable and enable it, send a test,
 * restore an old version, and test routing (the rendered templates shown, nothing sent); a
 * stale edit is refused with a clear message. axe-core checks each page; the screenshots go to
 * docs/screenshots/.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createDevelopmentSignIn } from '../../shared/access';
import { listDestinations } from '../../shared/destinations';
import { silentLogger } from '../../shared/log';
import { newKeyRingSecret } from '../../shared/oauth';
import { launchBrowser, newContext, screenshot, seriousViolations } from '../helpers/browser';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

let host: ScanHost;
let receiver: Receiver;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let share: string;
let console_: string;
const problems: string[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-consoledest-'));
  share = join(dir, 'share');
  mkdirSync(share);
  const file = join(dir, 'destinations.json');
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      destinations: [
        {
          id: 'fax',
          type: 'httpForward',
          description: 'The fax gateway',
          when: { custom_RoutingKey: 'fax' },
          options: { url: receiver.url, allowHttp: true, allowPrivateNetworks: true },
        },
      ],
    }),
  );
  host = await startScanHost((url) => ({ CONSOLE_SIGN_IN: 'development', PUBLIC_BASE_URL: url, DESTINATIONS_FILE: file }));
  console_ = `${host.server.url}/api/console`;
  writeFileSync(host.secretsFile, JSON.stringify({ 'token-encryption-keys': newKeyRingSecret('k1') }));
  browser = await launchBrowser();
  context = await newContext(browser);
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(m.text()));
  page.on('dialog', (d) => void d.accept());
  await page.goto(await createDevelopmentSignIn(host.services.signInDeps(silentLogger), host.server.url));
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await host?.stop();
  await receiver?.stop();
});
afterEach(() => expect(problems.splice(0)).toEqual([]));

const heading = () => page.locator('h1').textContent();
const stored = () => listDestinations(host.services.destinations, { kind: 'key' });

it('creates a destination after a mistake shown next to its field, nothing saved until it is right', async () => {
  await page.goto(`${console_}/destinations`);
  expect(await page.locator('table').textContent()).toContain('fax');
  await page.getByLabel('Id').fill('archive');
  await page.getByLabel('Type').selectOption('fileShare');
  await page.getByLabel('Description (optional)').fill('Invoices to the archive share');
  await page.getByLabel('Routing rule (JSON)').fill('{"workflowName": "Invoices"}');
  await page.getByLabel('Options (JSON)').fill(JSON.stringify({ basePath: 'archive/%username%' })); // not absolute
  await page.getByRole('button', { name: 'Create' }).click();

  expect(await page.getByRole('alert').textContent()).toContain('Nothing was saved');
  const options = page.getByLabel('Options (JSON)');
  expect(await options.getAttribute('aria-invalid')).toBe('true');
  const error = await page.locator('#f-options-error').textContent();
  expect(error).toMatch(/^options\.basePath: /);
  expect(await page.getByLabel('Description (optional)').inputValue()).toBe('Invoices to the archive share'); // kept
  expect((await stored()).destinations.map((d) => d.id)).toEqual(['fax']);
  expect(await seriousViolations(page)).toEqual([]);

  await options.fill(JSON.stringify({ basePath: `${share}/%username%`, fileName: '%workflowName% %fileIndex%' }));
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/\/api\/console\/destinations\/archive$/);
  expect(await heading()).toBe('Destination archive');
  expect(await page.getByRole('status').first().textContent()).toContain("Destination 'archive' created.");
  expect(await page.locator('dl.facts').textContent()).toContain('workflowName = Invoices');
  await screenshot(page, 'destination');
  expect(await seriousViolations(page)).toEqual([]);

  await page.goto(`${console_}/destinations`);
  expect(await page.locator('table').textContent()).toContain('Invoices to the archive share');
  await screenshot(page, 'destinations');
  expect(await seriousViolations(page)).toEqual([]);
});

it('disables and enables a destination, and sends it a test', async () => {
  await page.goto(`${console_}/destinations/fax`);
  await page.getByRole('button', { name: 'Disable' }).click();
  await page.waitForURL(/destinations\/fax$/);
  expect(await page.locator('.notice.ok').textContent()).toContain("Destination 'fax' disabled");
  expect(await page.locator('dl.facts').textContent()).toContain('Disabled');
  await page.getByRole('button', { name: 'Enable' }).click();
  await page.waitForURL(/destinations\/fax$/);
  expect(await page.locator('dl.facts').textContent()).toContain('Enabled');

  const count = receiver.received.length;
  await page.getByRole('button', { name: 'Send a test' }).click();
  await page.waitForURL(/destinations\/fax$/);
  expect(await page.locator('.notice.ok').textContent()).toContain("Test delivered to 'fax'");
  expect(receiver.received).toHaveLength(count + 1);
});

it('refuses an edit of a destination changed since the page was read, saying so', async () => {
  await page.goto(`${console_}/destinations/fax`);
  // Someone else changes it meanwhile (another administrator, through the API).
  const other = await context.newPage();
  await other.goto(`${console_}/destinations/fax`);
  await other.getByLabel('Description (optional)').fill('Changed elsewhere');
  await other.getByRole('button', { name: 'Save' }).click();
  await other.waitForURL(/destinations\/fax$/);
  await other.close();

  await page.getByLabel('Description (optional)').fill('My change');
  await page.getByRole('button', { name: 'Save' }).click();
  expect(await page.getByRole('alert').textContent()).toMatch(/was changed since you read it.*Read it again/);
  expect((await stored()).destinations.find((d) => d.id === 'fax')?.description).toBe('Changed elsewhere');
});

it('restores an old version from the versions page', async () => {
  await page.goto(`${console_}/destinations/versions`);
  expect(await page.locator('table').textContent()).toContain("Created 'archive'");
  await page.getByRole('button', { name: 'Restore 1' }).click();
  await page.waitForURL(/destinations\/versions$/);
  expect(await page.locator('.notice.ok').textContent()).toMatch(/Version 1 restored as version \d+/);
  expect(await seriousViolations(page)).toEqual([]);
  const now = await stored();
  expect(now.destinations.map((d) => [d.id, d.description])).toEqual([['fax', 'The fax gateway']]);
});

it('tests routing: the destinations a job goes to and every rendered template, sending nothing', async () => {
  await page.goto(`${console_}/destinations`);
  await page.getByLabel('Id').fill('archive');
  await page.getByLabel('Type').selectOption('fileShare');
  await page.getByLabel('Routing rule (JSON)').fill('{"workflowName": "Invoices"}');
  await page.getByLabel('Options (JSON)').fill(JSON.stringify({ basePath: `${share}/%username%`, fileName: '%workflowName% %fileIndex%' }));
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/destinations\/archive$/);

  const count = receiver.requests;
  await page.goto(`${console_}/destinations/routing-test`);
  await page.getByLabel('Job fields, one name=value a line').fill('workflowName=Invoices\nusername=jdoe');
  await page.getByLabel('File names, one a line').fill('invoice.pdf');
  await page.getByRole('button', { name: 'Test routing' }).click();
  await page.waitForURL(/routing-test\?/);
  expect(await page.getByRole('status').first().textContent()).toContain('Selected: archive.');
  const rendered = await page.getByRole('region', { name: 'Rendered templates' }).textContent();
  expect(rendered).toContain(`${share}/jdoe`);
  expect(rendered).toContain('Invoices 1');
  expect(await page.getByRole('region', { name: 'Destinations and their rules' }).textContent()).toContain('Not selected');
  await screenshot(page, 'routing-test');
  expect(await seriousViolations(page)).toEqual([]);
  expect(readdirSync(share)).toEqual([]);
  expect(receiver.requests).toBe(count);
});
