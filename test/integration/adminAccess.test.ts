/**
 * Every admin endpoint of the registry, over real HTTP: refused (401) without credentials, with a
 * wrong key and with the key in the URL (?code=, which lands in logs and history); let in with the
 * admin key (x-functions-key); and with a ScanRelay.Reader console session, the reads let in and
 * every change refused (403 naming ScanRelay.Admin), even with the session's CSRF token and the
 * app's Origin. The list comes from host/registry.ts, so an endpoint added later is checked too:
 * one that is meant to be public must be named in PUBLIC below.
 */
import { csrfToken, READER_ROLE, SESSION_COOKIE } from '../../shared/access';
import { newKeyRingSecret } from '../../shared/oauth';
import type { HttpFunction } from '../../host/definitions';
import { registry } from '../../host/registry';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import { writeFileSync } from 'node:fs';

const KEY = 'a'.repeat(43);
/**
 * Endpoints for printers, the identity platform, SCIM clients, Microsoft Graph's change and
 * lifecycle notifications of the mailbox sources (Graph sends no key: each notification's
 * clientState is checked) and the console's own pages.
 */
const PUBLIC = new Set(['health', 'scan', 'authorizeCallback', 'scim', 'mailboxNotifications', 'mailboxLifecycle', 'console']);
/** Changes that a Reader may make: test routing sends nothing. */
const READER_POSTS = new Set(['routingTest']);
/** Reads that start a change: the authorize link (a connection's account is replaced). */
const ADMIN_GETS = new Set(['authorize']);

const endpoints = registry
  .filter((f): f is HttpFunction => f.kind === 'http' && !PUBLIC.has(f.name))
  .flatMap((f) => f.methods.map((method) => ({ name: f.name, method, path: f.route.replace(/\{[^}]+\}/g, 'x') })));

let host: ScanHost;
let reader: Record<string, string>;

beforeAll(async () => {
  host = await startScanHost({});
  writeFileSync(host.secretsFile, JSON.stringify({ 'token-encryption-keys': newKeyRingSecret('k1'), 'admin-key': KEY }));
  const user = { oid: 'o-reader', tid: 't-1', upn: 'reader@contoso.com', name: 'Rita Reader' };
  const { session, cookie } = await host.services.accessDeps().sessions.start(user, [READER_ROLE], 'entra');
  reader = { cookie: `${SESSION_COOKIE}=${cookie.value}`, origin: host.server.url, 'x-csrf-token': csrfToken(session) };
});
afterAll(() => host?.stop());

async function call(method: string, path: string, headers: Record<string, string> = {}) {
  const write = !['GET', 'HEAD'].includes(method);
  const res = await fetch(`${host.server.url}/api/${path}`, {
    method,
    redirect: 'manual',
    headers: { ...headers, ...(write ? { 'content-type': 'application/json', 'if-match': '*' } : {}) },
    body: write ? '{}' : undefined,
  });
  const text = await res.text();
  let error: unknown;
  try {
    error = (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    error = undefined;
  }
  return { status: res.status, error };
}

it('checks the registry: there are admin endpoints of every kind', () => {
  expect(endpoints.length).toBeGreaterThan(25);
  expect(new Set(endpoints.map((e) => e.method))).toEqual(new Set(['GET', 'POST', 'PUT', 'DELETE']));
});

it.each(endpoints)(
  '$method /api/$path ($name) is refused without the admin key, with a wrong one, and with it in the URL',
  async ({ method, path }) => {
    expect(await call(method, path)).toEqual({ status: 401, error: 'unauthorized' });
    expect(await call(method, path, { 'x-functions-key': KEY.replace(/.$/, 'b') })).toEqual({ status: 401, error: 'unauthorized' });
    expect(await call(method, `${path}${path.includes('?') ? '&' : '?'}code=${KEY}`)).toEqual({ status: 401, error: 'unauthorized' });
  },
);

it.each(endpoints)('$method /api/$path ($name) lets the admin key in', async ({ method, path }) => {
  const { status } = await call(method, path, { 'x-functions-key': KEY });
  expect([401, 403]).not.toContain(status);
});

it.each(endpoints)("$method /api/$path ($name) with a Reader's session: reads in, changes refused", async ({ name, method, path }) => {
  const answer = await call(method, path, reader);
  const mayRead = (method === 'GET' && !ADMIN_GETS.has(name)) || READER_POSTS.has(name);
  if (mayRead) expect([401, 403]).not.toContain(answer.status);
  else expect(answer).toEqual({ status: 403, error: 'forbidden' });
});
