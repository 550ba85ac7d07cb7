/**
 * `npm start` on a fresh clone (the local host in a child process, in an empty directory, over an
 * empty Azurite): with nothing stored and no destinations file it creates the local folder
 * destination and says so, the README's first scan is delivered into that folder, and the next
 * start leaves the stored destinations as they are (the offer is made once). The one-time sign-in
 * link it prints opens the console in Chromium, where the scan shows as delivered (the README's
 * Quick start screenshot).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type RunningAzurite } from '../../host/local/azurite';
import { launchBrowser, newContext, screenshot, seriousViolations } from '../helpers/browser';
import { startChildHost, type ChildHost } from '../helpers/childHost';
import { postMultipart } from '../helpers/http';
import { multipart } from '../helpers/multipart';

let azurite: RunningAzurite;
let dir: string;
const hosts: ChildHost[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  dir = mkdtempSync(join(tmpdir(), 'scanrelay-firstrun-'));
});
afterAll(async () => {
  for (const h of hosts) await h.stop();
  await azurite?.stop();
});

async function start(): Promise<ChildHost> {
  const h = await startChildHost(
    {
      AzureWebJobsStorage: azurite.connectionString,
      SECRETS_LOCAL_FILE: join(dir, 'secrets.json'),
      LOCAL_DESTINATION_FOLDER: join(dir, 'delivered'),
      LOCAL_QUEUE_VISIBILITY_SECONDS: '4',
      TOKEN_REFRESH_SCHEDULE: '0 0 0 1 1 *',
      DIRECTORY_SYNC_SCHEDULE: '0 0 0 1 1 *',
    },
    dir,
  );
  hosts.push(h);
  return h;
}

/** Polls until `check` is true (bounded by the test's timeout). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 100));
}

it('creates a local folder destination on first start, delivers the first scan into it, and offers it once', async () => {
  const first = await start();
  const folder = join(dir, 'delivered');
  expect(first.output()).toContain(`created 'local-folder', which delivers every scan into ${folder}`);
  expect(first.output()).toContain('Destinations: 1 in Table Storage, version 1');

  // The README's first scan.
  const pdf = Buffer.from('%PDF-1.4\n%test\n');
  const res = await postMultipart(
    first.scanUrl,
    multipart([
      { name: 'username', value: 'jdoe' },
      { name: 'userEmail', value: 'john.doe@company.com' },
      { name: 'scanJobID', value: randomUUID() },
      { name: 'workflowName', value: 'Scan to Fax' },
      { name: 'custom_RoutingKey', value: 'fax' },
      { name: 'file1', filename: 'some.pdf', data: pdf },
    ]),
  );
  expect(res.status).toBe(200);
  await until(() => readdirSync(folder).includes('some.pdf'));
  expect(readFileSync(join(folder, 'some.pdf'))).toEqual(pdf);

  // The console, from the link npm start printed.
  const token = /\/api\/console\/dev-signin\?token=([\w-]+)/.exec(first.output())?.[1];
  expect(token).toBeDefined();
  const browser = await launchBrowser();
  try {
    const page = await (await newContext(browser)).newPage();
    await page.goto(`${first.url}/api/console/dev-signin?token=${token}`);
    await page.goto(`${first.url}/api/console/jobs`);
    const row = page.locator('table tbody tr');
    expect(await row.count()).toBe(1);
    expect(await row.textContent()).toMatch(/delivered.*Scan to Fax.*jdoe/s);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'first-scan');
    await row.getByRole('link').click();
    expect(await page.locator('main').textContent()).toMatch(/local-folder\s*delivered/);
  } finally {
    await browser.close();
  }
  await first.stop();

  const second = await start();
  expect(second.output()).not.toContain("created 'local-folder'");
  expect(second.output()).toContain('Destinations: 1 in Table Storage, version 1');
});
