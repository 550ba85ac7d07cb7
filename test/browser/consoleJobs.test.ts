/**
 * Jobs in the console, in a real Chromium: a scan POSTed with the real `curl` binary is seen
 * delivered in the Jobs page and its file downloads byte for byte; a destination that fails
 * for good (a receiver answering 400) shows on the Overview, linking to the job; once fixed
 * (the receiver answers 200), Redeliver from the job's page delivers it exactly once. axe-core
 * checks each page; the screenshots jobs.png, job.png and overview.png go to docs/screenshots/.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { createDevelopmentSignIn } from '../../shared/access';
import { jobDetail } from '../../shared/jobs';
import { silentLogger } from '../../shared/log';
import { newKeyRingSecret } from '../../shared/oauth';
import type { TriggerRunner } from '../../host/local/triggers';
import { launchBrowser, screenshot, seriousViolations, signedInPage } from '../helpers/browser';
import { pdfBytes } from '../helpers/multipart';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

const run = promisify(execFile);

let receiver: Receiver;
let host: ScanHost;
let delivering: TriggerRunner;
let browser: Browser;
let page: Page;
let dir: string;
const problems: string[] = [];

beforeAll(async () => {
  await run('curl', ['--version']); // the real binary must be there
  receiver = await startReceiver();
  dir = mkdtempSync(join(tmpdir(), 'scanrelay-console-jobs-'));
  const destinations = join(dir, 'destinations.json');
  writeFileSync(
    destinations,
    JSON.stringify({
      version: 1,
      destinations: [
        { id: 'archive', type: 'httpForward', when: {}, options: { url: receiver.url, allowHttp: true, allowPrivateNetworks: true } },
      ],
    }),
  );
  host = await startScanHost({ CONSOLE_SIGN_IN: 'development', DESTINATIONS_FILE: destinations });
  writeFileSync(host.secretsFile, JSON.stringify({ 'token-encryption-keys': newKeyRingSecret('k1') }));
  delivering = host.startDelivering();
  browser = await launchBrowser();
  ({ page } = await signedInPage(
    browser,
    await createDevelopmentSignIn(host.services.signInDeps(silentLogger), host.server.url),
    problems,
  ));
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await delivering?.stop();
  await host?.stop();
  await receiver?.stop();
});
afterEach(() => expect(problems.splice(0)).toEqual([]));

/** POSTs a scan with curl, as the README's first scan does; answers its jobId. */
async function curlScan(fields: Record<string, string>, pdf: Buffer): Promise<string> {
  const file = join(dir, `${randomUUID()}.pdf`);
  writeFileSync(file, pdf);
  const args = [
    '-sS',
    '--fail-with-body',
    ...Object.entries(fields).flatMap(([k, v]) => ['--form-string', `${k}=${v}`]),
    '-F',
    `file1=@${file}`,
  ];
  const { stdout } = await run('curl', [...args, host.scanUrl]);
  return (JSON.parse(stdout) as { jobId: string }).jobId;
}

/** Waits until the job's delivery state is `state` (the deliverer runs in this process: each poll reads storage). */
async function stateBecomes(jobId: string, state: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const job = await jobDetail(host.services.jobsDeps(), jobId);
    if (job.delivery?.state === state) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not become ${state}`);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const deliveriesOf = (jobId: string) => receiver.received.filter((r) => r.headers['idempotency-key'] === jobId).length;

it('a scan POSTed with curl is delivered and shows so in the Jobs page; its file downloads intact', async () => {
  const pdf = pdfBytes(5000);
  const jobId = await curlScan({ username: 'jdoe', scanJobID: randomUUID(), workflowName: 'Scan to Archive', deviceName: 'MFP-3F' }, pdf);
  await stateBecomes(jobId, 'delivered');

  await page.goto(`${host.server.url}/api/console/jobs`);
  await page.getByLabel('Workflow').fill('scan to arch*');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/workflowName=scan\+to\+arch/);
  const row = page.locator('tbody tr').filter({ hasText: 'jdoe' });
  expect(await row.count()).toBe(1);
  expect(await row.locator('.badge').first().textContent()).toBe('delivered');
  await screenshot(page, 'jobs');
  expect(await seriousViolations(page)).toEqual([]);

  await row.getByRole('link').click();
  await page.waitForURL(new RegExp(`/api/console/jobs/${jobId}$`));
  expect(await page.locator('h1').textContent()).toBe('Job Scan to Archive');
  expect(await page.locator('#dest-archive').textContent()).toContain('delivered');
  expect(await page.getByRole('button', { name: /Redeliver/ }).count()).toBe(0); // nothing to deliver again
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /\.pdf$/ }).click()]);
  expect(sha(readFileSync(await download.path()))).toBe(sha(pdf));
  expect(deliveriesOf(jobId)).toBe(1);
});

it('a destination failing for good shows on the Overview; fixed, Redeliver delivers the job exactly once', async () => {
  receiver.failNext(400); // the far end refuses the job: a permanent failure, no retry
  const jobId = await curlScan({ username: 'asmith', scanJobID: randomUUID(), workflowName: 'Scan to Fax' }, pdfBytes(3000));
  await stateBecomes(jobId, 'failed');

  await page.goto(`${host.server.url}/api/console`);
  const item = page.locator('ul.attention > li').filter({ hasText: 'failed for good' });
  expect(await item.count()).toBe(1);
  expect(await page.locator('.cards').textContent()).toMatch(/2\s*jobs received/);
  await screenshot(page, 'overview');
  expect(await seriousViolations(page)).toEqual([]);

  await item.getByRole('link', { name: /Scan to Fax · asmith/ }).click();
  await page.waitForURL(new RegExp(`/api/console/jobs/${jobId}$`));
  expect(await page.locator('#dest-archive').textContent()).toContain('failed');
  expect(await page.locator('main').textContent()).toContain('destination_refused');
  expect(await seriousViolations(page)).toEqual([]);

  // Fixed: the receiver answers 200 from now on (failNext's one refusal is used up).
  page.once('dialog', (d) => void d.accept());
  await page.getByRole('button', { name: 'Redeliver all' }).click();
  await page.waitForURL(new RegExp(`/api/console/jobs/${jobId}$`));
  expect(await page.getByRole('status').first().textContent()).toContain('Queued again: archive');
  await stateBecomes(jobId, 'delivered');
  await page.reload();
  expect(await page.locator('#dest-archive').textContent()).toContain('delivered');
  const timeline = await page.getByRole('region', { name: 'Timeline of archive' }).locator('tbody tr').allTextContents();
  expect(timeline.map((t) => t.match(/Attempt|Redelivery asked for/)?.[0])).toEqual(['Attempt', 'Redelivery asked for', 'Attempt']);
  await screenshot(page, 'job');
  expect(await seriousViolations(page)).toEqual([]);
  expect(deliveriesOf(jobId)).toBe(1);

  const audit = await host.services.storage.auditLog.list(new Date(Date.now() - 3_600_000), new Date(Date.now() + 60_000));
  expect(audit.find((e) => e.action === 'job.redeliver')).toMatchObject({
    actor: { kind: 'user', upn: 'developer@localhost' },
    target: `job:${jobId}`,
  });
});

it('hostile field values are shown as text on the Jobs page and the job page, never run', async () => {
  const hostile = {
    username: '<img src=x onerror="document.title=1">',
    workflowName: '"><script>document.title=2</script>',
    deviceName: "MFP' onmouseover='document.title=3",
  };
  const dialogs: string[] = [];
  page.on('dialog', (d) => void dialogs.push(d.message()));
  const jobId = await curlScan({ ...hostile, scanJobID: randomUUID() }, pdfBytes(1000));
  await stateBecomes(jobId, 'delivered');

  for (const path of [`/api/console/jobs?username=${encodeURIComponent(hostile.username)}`, `/api/console/jobs/${jobId}`]) {
    await page.goto(`${host.server.url}${path}`);
    const text = await page.locator('main').textContent();
    for (const value of Object.values(hostile)) expect(text).toContain(value);
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await page.locator('[onerror], [onmouseover]').count()).toBe(0);
    await page.locator('main').hover();
    expect(await page.title()).not.toMatch(/^[123]$/);
  }
  expect(dialogs).toEqual([]);
});
