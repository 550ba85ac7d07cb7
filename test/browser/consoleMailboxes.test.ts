/**
 * Mailbox sources in the console, in a real Chromium: create one through the form after a mistake
 * (the problem shown next to its field, nothing saved), edit it (a problem shown the same way),
 * see it in the list with its status, see its latest messages (the job of a stored one linked, the
 * code and reason of a rejected one), delete it after the confirmation; a Reader sees the pages
 * without the form or Delete; hostile values (a workflowName with an img and onerror, a subject
 * with a script) are shown as text, nothing run. axe-core checks each page; the screenshots
 * mailboxes.png and mailbox.png go to docs/screenshots/.
 */
import { writeFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createDevelopmentSignIn, READER_ROLE, SESSION_COOKIE } from '../../shared/access';
import { silentLogger } from '../../shared/log';
import { createSource, listSources } from '../../shared/mailbox';
import { newKeyRingSecret } from '../../shared/oauth';
import { collectPageErrors, launchBrowser, newContext, screenshot, seriousViolations, signedInPage } from '../helpers/browser';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

let host: ScanHost;
let browser: Browser;
let page: Page;
let console_: string;
const contexts: BrowserContext[] = [];
const problems: string[] = [];
const dialogs: string[] = [];

beforeAll(async () => {
  host = await startScanHost({ CONSOLE_SIGN_IN: 'development' });
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
});
afterEach(() => expect(problems.splice(0)).toEqual([]));

const deps = () => host.services.mailboxSourcesDeps();
const stored = async () => Object.fromEntries((await listSources(deps())).map((s) => [s.id, s.options]));
const heading = () => page.locator('h1').textContent();
/** An option's control, by its label (the option's key). */
const option = (key: string) => page.getByLabel(key, { exact: true });

it('creates a source after a mistake shown next to its field, nothing saved until it is right', async () => {
  await page.goto(console_);
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Mailboxes' }).click();
  expect(await heading()).toBe('Mailboxes');
  expect(await page.locator('main').textContent()).toContain('No mailbox sources yet.');

  await page.getByLabel('Id', { exact: true }).fill('scans');
  await option('mailbox').fill('Scans <scans@contoso.com>'); // a display name: not an address
  await option('connectionId').fill('scans-mailbox');
  await option('workflowName').fill('Scan to e-mail');
  await option('allowedSenders (JSON)').fill('["contoso.com"]');
  await option('includeInline').selectOption({ label: 'Yes' });
  await page.getByRole('button', { name: 'Create' }).click();

  expect(await page.getByRole('alert').textContent()).toContain('Nothing was saved');
  expect(await option('mailbox').getAttribute('aria-invalid')).toBe('true');
  expect(await page.locator('#f-opt-mailbox-error').textContent()).toContain('must be the mailbox address (UPN)');
  expect(await option('workflowName').getAttribute('aria-invalid')).toBeNull();
  expect(await option('mailbox').inputValue()).toBe('Scans <scans@contoso.com>'); // kept as typed
  expect(await option('allowedSenders (JSON)').inputValue()).toBe('["contoso.com"]');
  expect(await option('includeInline').inputValue()).toBe('true');
  expect(await stored()).toEqual({});
  expect(await seriousViolations(page)).toEqual([]);

  await option('mailbox').fill('Scans@Contoso.com');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/\/api\/console\/mailboxes\/scans$/);
  expect(await heading()).toBe('Mailbox source scans');
  expect(await page.locator('.notice.ok').textContent()).toContain("Mailbox source 'scans' created.");
  // Empty controls left their options out: the defaults apply.
  expect((await stored()).scans).toMatchObject({
    mailbox: 'scans@contoso.com',
    folder: 'Inbox',
    access: 'delegated',
    connectionId: 'scans-mailbox',
    workflowName: 'Scan to e-mail',
    allowedSenders: ['contoso.com'],
    includeInline: true,
    enabled: true,
  });
  expect(await seriousViolations(page)).toEqual([]);
});

it('edits a source, a problem shown next to its field, and shows it in the list with its status', async () => {
  await page.goto(`${console_}/mailboxes/scans`);
  expect(await option('mailbox').inputValue()).toBe('scans@contoso.com');
  await option('allowedSenders (JSON)').fill('[]');
  await option('folder').fill('Inbox/Scans');
  await page.getByRole('button', { name: 'Save' }).click();
  expect(await page.getByRole('alert').textContent()).toContain('Nothing was saved');
  expect(await page.locator('#f-opt-allowedSenders-error').textContent()).toContain('must name at least one address or domain');
  expect(await option('folder').inputValue()).toBe('Inbox/Scans'); // kept
  expect(await seriousViolations(page)).toEqual([]);
  expect((await stored()).scans?.folder).toBe('Inbox');

  await option('allowedSenders (JSON)').fill('["contoso.com", "mfp-3@fabrikam.com"]');
  await option('workflowName').fill('Invoices');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(/\/mailboxes\/scans$/);
  expect(await page.locator('.notice.ok').textContent()).toContain("Mailbox source 'scans' saved.");
  expect((await stored()).scans).toMatchObject({
    folder: 'Inbox/Scans',
    workflowName: 'Invoices',
    allowedSenders: ['contoso.com', 'mfp-3@fabrikam.com'],
  });
  const options = await page.locator('dl.facts').nth(1).textContent();
  expect(options).toContain('contoso.com, mfp-3@fabrikam.com');

  const { mailboxState } = host.services.storage;
  await mailboxState.noteStatus('scans', { readAt: new Date('2026-12-01T08:00:00Z') });
  await mailboxState.noteStatus('scans', { problem: 'The folder Inbox/Scans does not exist in scans@contoso.com.' });
  await mailboxState.saveSubscription({
    subscriptionId: 'sub-1',
    sourceId: 'scans',
    resource: 'users/scans@contoso.com/mailFolders/f-1/messages',
    expiresAt: new Date('2026-12-03T10:00:00Z'),
    clientStateHash: 'x',
    createdAt: new Date('2026-12-01T10:00:00Z'),
  });
  await page.getByRole('link', { name: '← Mailboxes' }).click();
  const row = page.getByRole('row').filter({ hasText: 'scans@contoso.com' });
  const cells = (await row.getByRole('cell').allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
  expect(cells.slice(0, 5)).toEqual(['scans', 'scans@contoso.com', 'Inbox/Scans', 'Invoices', 'Enabled']);
  expect(cells[6]).toContain('The folder Inbox/Scans does not exist');
  // Last read, when the problem was noted, the subscription's expiry (the page's script shows them in local time).
  const times = await row.locator('time').evaluateAll((ts) => ts.map((t) => t.getAttribute('datetime')));
  expect([times[0], times[2]]).toEqual(['2026-12-01T08:00:00.000Z', '2026-12-03T10:00:00.000Z']);
  expect(cells[5]).toContain('Dec 2026');
  await screenshot(page, 'mailboxes');
  expect(await seriousViolations(page)).toEqual([]);
});

it("shows a source's latest messages: the job of a stored one linked, the code and reason of a rejected one", async () => {
  const { mailboxMessages } = host.services.storage;
  await mailboxMessages.record({
    sourceId: 'scans',
    internetMessageId: '<a@contoso.com>',
    subject: 'Scan from MFP-3',
    from: 'mfp-3@fabrikam.com',
    receivedAt: new Date('2026-12-01T09:00:00Z'),
    outcome: 'stored',
    jobId: 'job-123',
    at: new Date('2026-12-01T09:00:05Z'),
  });
  await mailboxMessages.record({
    sourceId: 'scans',
    internetMessageId: '<b@evil.example>',
    subject: 'Invoice',
    from: 'someone@evil.example',
    receivedAt: new Date('2026-12-01T09:30:00Z'),
    outcome: 'rejected',
    code: 'sender_not_allowed',
    reason: 'someone@evil.example is not in allowedSenders.',
    at: new Date('2026-12-01T09:30:02Z'),
  });
  await page.goto(`${console_}/mailboxes/scans`);
  const messages = page.getByRole('region', { name: 'Latest messages' });
  const rows = messages.getByRole('row');
  expect(await rows.count()).toBe(3); // the head and two messages, newest first
  expect(await rows.nth(1).textContent()).toMatch(
    /someone@evil\.example.*Invoice.*Rejected.*sender_not_allowed.*is not in allowedSenders/s,
  );
  expect(await rows.nth(2).textContent()).toMatch(/mfp-3@fabrikam\.com.*Scan from MFP-3.*Stored/s);
  expect(await messages.getByRole('link', { name: /job-123/ }).getAttribute('href')).toBe('/api/console/jobs/job-123');
  expect(await page.locator('dl.facts').first().textContent()).toContain('The folder Inbox/Scans does not exist');
  await screenshot(page, 'mailbox');
  expect(await seriousViolations(page)).toEqual([]);
});

it('shows a Reader the list and the source without the form or Delete', async () => {
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

  await reader.goto(`${console_}/mailboxes`);
  expect(await reader.locator('h1').textContent()).toBe('Mailboxes');
  expect(await reader.locator('table').textContent()).toContain('scans@contoso.com');
  expect(await reader.getByRole('heading', { name: 'Create a mailbox source' }).count()).toBe(0);
  expect(await reader.locator('main form').count()).toBe(0);
  expect(await seriousViolations(reader)).toEqual([]);

  await reader.getByRole('link', { name: 'scans', exact: true }).click();
  expect(await reader.locator('h1').textContent()).toBe('Mailbox source scans');
  expect(await reader.locator('main').textContent()).toContain('Invoices');
  expect(await reader.getByRole('heading', { name: 'Edit' }).count()).toBe(0);
  expect(await reader.getByRole('button', { name: 'Delete' }).count()).toBe(0);
  expect(await reader.locator('main form, main input, main textarea, main select').count()).toBe(0);
  expect(await seriousViolations(reader)).toEqual([]);
});

it('shows hostile values as text, never run', async () => {
  const hostile = '<img src=x onerror=alert(1)>';
  await createSource(
    deps(),
    { kind: 'key' },
    {
      id: 'hostile',
      mailbox: 'hostile@contoso.com',
      access: 'application',
      workflowName: hostile,
      folder: '"><script>alert(2)</script>',
      allowedSenders: ['*'],
    },
  );
  await host.services.storage.mailboxMessages.record({
    sourceId: 'hostile',
    internetMessageId: '<h@contoso.com>',
    subject: "<script>alert(3)</script>' onmouseover='alert(4)",
    from: 'a@contoso.com',
    outcome: 'rejected',
    code: 'no_usable_attachment',
    reason: '<img src=x onerror=alert(5)>',
    at: new Date(),
  });
  for (const path of ['/mailboxes', '/mailboxes/hostile']) {
    await page.goto(`${console_}${path}`);
    const text = await page.locator('main').textContent();
    expect(text).toContain(hostile);
    expect(text).toContain('"><script>alert(2)</script>');
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await page.locator('[onerror], [onmouseover]').count()).toBe(0);
    await page.locator('main').hover();
  }
  expect(await page.locator('main').textContent()).toContain("<script>alert(3)</script>' onmouseover='alert(4)");
  expect(await option('workflowName').inputValue()).toBe(hostile); // the edit form holds it as a value
  expect(dialogs).toEqual([]);
});

it('deletes a source after the confirmation', async () => {
  await page.goto(`${console_}/mailboxes/scans`);
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL(/\/api\/console\/mailboxes$/);
  expect(dialogs.splice(0)).toEqual([expect.stringContaining("Delete the mailbox source 'scans'?")]);
  expect(await page.locator('.notice.ok').textContent()).toContain("Mailbox source 'scans' deleted.");
  expect(await page.locator('table').textContent()).not.toContain('scans@contoso.com');
  expect(Object.keys(await stored())).toEqual(['hostile']);
  await page.goto(`${console_}/mailboxes/scans`);
  expect(await heading()).not.toBe('Mailbox source scans');
});
