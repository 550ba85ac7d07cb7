/**
 * The Directory page in a real Chromium: users and a group provisioned through SCIM over real HTTP
 * (with the SCIM bearer token), one request refused; the page shows the counts, finds the user
 * and the fields delivery fills from them, lists the error; the Overview's attention item links
 * to the page. axe-core checks each page; the page's screenshot goes to docs/screenshots/.
 */
import type { Browser, Page } from 'playwright-core';
import { createDevelopmentSignIn } from '../../shared/access';
import { silentLogger } from '../../shared/log';
import { newKeyRingSecret } from '../../shared/oauth';
import { launchBrowser, screenshot, seriousViolations, signedInPage } from '../helpers/browser';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import { ENTERPRISE, GROUP_SCHEMA, newToken, scimClient, USER_SCHEMA } from '../helpers/scimClient';

let host: ScanHost;
let browser: Browser;
let page: Page;
let aliceId: string;
const problems: string[] = [];

beforeAll(async () => {
  host = await startScanHost((url) => ({ CONSOLE_SIGN_IN: 'development', PUBLIC_BASE_URL: url }));
  await host.services.secrets.set('token-encryption-keys', newKeyRingSecret('k1'));
  const token = newToken();
  await host.services.secrets.set('scim-bearer-token', token);
  const scim = scimClient(host.server.url, token);
  const alice = await scim.post('/Users', {
    schemas: [USER_SCHEMA, ENTERPRISE],
    userName: 'Alice.Martin@Contoso.com',
    externalId: 'ext-alice',
    active: true,
    displayName: 'Alice Martin',
    name: { givenName: 'Alice', familyName: 'Martin' },
    emails: [{ value: 'alice@contoso.com', type: 'work', primary: true }],
    [ENTERPRISE]: { department: 'Finance' },
  });
  expect(alice.status).toBe(201);
  aliceId = alice.json.id;
  expect((await scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'bob@contoso.com', active: false })).status).toBe(201);
  const group = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Accounts', members: [{ value: aliceId }] });
  expect(group.status).toBe(201);
  // The failing request: a second user with Alice's userName in another letter case.
  const taken = await scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'alice.martin@contoso.com', active: true });
  expect(taken.status).toBe(409);

  browser = await launchBrowser();
  ({ page } = await signedInPage(
    browser,
    await createDevelopmentSignIn(host.services.signInDeps(silentLogger), host.server.url),
    problems,
  ));
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await host?.stop();
});
afterEach(() => expect(problems.splice(0)).toEqual([]));

it("lists the Overview's directory problem, linking to the Directory page", async () => {
  await page.goto(`${host.server.url}/api/console`);
  const item = page.locator('.attention li', { hasText: 'a userName or group name is taken' });
  expect(await item.textContent()).toContain('POST /Users answered 409 uniqueness');
  expect(await seriousViolations(page)).toEqual([]);
  await item.getByRole('link', { name: 'Open the Directory page' }).click();
  await page.waitForURL(/\/api\/console\/directory$/);
  expect(await page.locator('h1').textContent()).toBe('Directory');
});

it('shows the counts, the last SCIM request and the error', async () => {
  await page.goto(`${host.server.url}/api/console/directory`);
  const card = (label: string) =>
    page.locator('.card', { has: page.locator('.label', { hasText: new RegExp(`^${label}$`) }) }).locator('.value');
  expect(await card('Users').textContent()).toBe('2');
  expect(await card('Active users').textContent()).toBe('1');
  expect(await card('Inactive users').textContent()).toBe('1');
  expect(await card('Groups').textContent()).toBe('1');
  expect(await page.getByText('Last request:').textContent()).toContain('POST /Users');
  const errors = page.getByRole('region', { name: 'SCIM errors' });
  expect(await errors.locator('tbody tr').count()).toBe(1);
  const row = await errors.locator('tbody tr').textContent();
  expect(row).toContain('409');
  expect(row).toContain('uniqueness');
  expect(await page.locator('.attention').textContent()).toContain('a userName or group name is taken');
  expect(await seriousViolations(page)).toEqual([]);
});

it('finds the user, with the fields delivery fills from them, using the keyboard', async () => {
  await page.goto(`${host.server.url}/api/console/directory`);
  await page.getByLabel('userName, e-mail, externalId or id').focus();
  await page.keyboard.type('ALICE.MARTIN@contoso.com');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/directory\?find=/);
  const found = page.getByRole('region', { name: 'User Alice.Martin@Contoso.com' });
  expect(await found.locator('h3').textContent()).toBe('Alice Martin');
  expect(await found.locator('dl.facts').textContent()).toContain(aliceId);
  expect(await found.locator('dl.facts').textContent()).toContain('Accounts');
  const fields = found.getByRole('region', { name: 'Delivery fields of Alice.Martin@Contoso.com' });
  const value = (name: string) =>
    fields
      .locator('tr', { has: page.locator('td.mono', { hasText: new RegExp(`^${name}$`) }) })
      .locator('td')
      .nth(2);
  expect(await value('userEmail').textContent()).toBe('alice@contoso.com');
  expect(await value('userFirstName').textContent()).toBe('Alice');
  expect(await value('userSurname').textContent()).toBe('Martin');
  expect(await value('userDepartment').textContent()).toBe('Finance');
  expect(await value('userHome').textContent()).toContain('not set');
  expect(await page.getByLabel('userName, e-mail, externalId or id').inputValue()).toBe('ALICE.MARTIN@contoso.com');
  await screenshot(page, 'directory');
  expect(await seriousViolations(page)).toEqual([]);

  // An inactive user: found, and said to fill nothing.
  await page.goto(`${host.server.url}/api/console/directory?find=bob%40contoso.com`);
  expect(await page.getByRole('region', { name: 'User bob@contoso.com' }).textContent()).toContain('delivery fills nothing');
  // The start of a name finds it too.
  await page.goto(`${host.server.url}/api/console/directory?find=alice.mar`);
  expect(await page.getByRole('region', { name: 'User Alice.Martin@Contoso.com' }).locator('dl.facts').textContent()).toContain(
    'start of the userName',
  );
  // Nothing found, and a value that cannot be one.
  await page.goto(`${host.server.url}/api/console/directory?find=nobody`);
  expect(await page.getByRole('status').filter({ hasText: 'No user has' }).textContent()).toContain("'nobody'");
  const bad = await page.goto(`${host.server.url}/api/console/directory?find=${'x'.repeat(300)}`);
  expect(bad?.status()).toBe(400);
  expect(await page.locator('.field .error').textContent()).toContain('1 to 256 characters');
  expect(await seriousViolations(page)).toEqual([]);
});

it('recounts from the page, audited', async () => {
  await page.goto(`${host.server.url}/api/console/directory`);
  await page.getByRole('button', { name: 'Recount' }).click();
  await page.waitForURL(/\/directory$/);
  expect(await page.locator('.notice.ok').textContent()).toContain('Recounted: 2 users and 1 group.');
  const audit = await host.services.storage.auditLog.list(new Date(Date.now() - 3_600_000), new Date(Date.now() + 60_000));
  expect(audit.find((e) => e.action === 'directory.recount')?.actor).toMatchObject({ kind: 'user', upn: 'developer@localhost' });
});
