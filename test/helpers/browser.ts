/**
 * A real Chromium for the console's tests: playwright-core driving Debian's `chromium` package
 * (CHROMIUM_PATH overrides; Playwright's own browser download cannot be used here). Also the
 * accessibility check (axe-core, run in the page) and the screenshots for docs/screenshots/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(): string {
  const found = CANDIDATES.find((p): p is string => !!p && existsSync(p));
  if (!found) throw new Error('No Chromium found: apt-get install -y chromium (or set CHROMIUM_PATH). .ci/run installs it.');
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/**
 * A fresh browser profile at 1280×800. The test identity platform's certificate comes from the
 * test CA, which Chromium does not know (Node is told with NODE_EXTRA_CA_CERTS).
 */
export async function newContext(browser: Browser, options: { width?: number; height?: number } = {}): Promise<BrowserContext> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
    ignoreHTTPSErrors: true,
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  // A page that does not come says so in seconds, not at the test's timeout.
  context.setDefaultTimeout(10_000);
  return context;
}

/** Puts a page's script errors and console errors into `into` (a failed resource load aside: the 4xx pages the tests ask for). */
export function collectPageErrors(page: Page, into: string[]): void {
  page.on('pageerror', (e) => into.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && into.push(m.text()));
}

/** A page in a new context, its errors collected into `problems`, signed in by opening `signInUrl` (a development sign-in link). */
export async function signedInPage(
  browser: Browser,
  signInUrl: string,
  problems: string[],
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newContext(browser);
  const page = await context.newPage();
  collectPageErrors(page, problems);
  await page.goto(signInUrl);
  return { context, page };
}

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * axe-core's serious and critical violations on the page (WCAG 2.1 A/AA rules). It is evaluated
 * through the DevTools protocol, which the page's CSP does not govern, so the CSP stays on.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: unknown[] }> } }).axe;
    const result = await axe.run((globalThis as unknown as { document: unknown }).document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations as Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }>;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

export const SCREENSHOTS_DIR = join(__dirname, '..', '..', 'docs', 'screenshots');

/**
 * Writes docs/screenshots/<name>.png when it is missing, or always with UPDATE_SCREENSHOTS=1
 * (`npm run screenshots`), so that a test run does not leave changed images in the work tree.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const file = join(SCREENSHOTS_DIR, `${name}.png`);
  if (existsSync(file) && process.env.UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
}
