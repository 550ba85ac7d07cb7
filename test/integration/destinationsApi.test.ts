/**
 * The destinations admin API over real HTTP (the local host, Azurite): every operation with the
 * admin key, refused without it (401) and, for changes, with a Reader's console session (403);
 * ETags (a stale one refused with a clear message, two edits with one ETag: the second refused),
 * nothing invalid saved, versions and restore, import, test routing, a test delivery, each change
 * in the audit log with its actor, and a scan queued after a change delivered with the new version.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_ROLE, csrfToken, READER_ROLE, SESSION_COOKIE } from '../../shared/access';
import { newKeyRingSecret } from '../../shared/oauth';
import { postMultipart } from '../helpers/http';
import { multipart, pdfBytes } from '../helpers/multipart';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

const KEY = 'k'.repeat(40);
let host: ScanHost;
let base: string;
let a: Receiver;
let b: Receiver;
let readerCookie: string;
let readerCsrf: string;
let shareRoot: string;

const forward = (id: string, url: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'httpForward',
  when: { custom_RoutingKey: id },
  options: { url, allowHttp: true, allowPrivateNetworks: true },
  ...extra,
});

beforeAll(async () => {
  [a, b] = await Promise.all([startReceiver(), startReceiver()]);
  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-destapi-'));
  shareRoot = join(dir, 'share');
  mkdirSync(shareRoot);
  const file = join(dir, 'destinations.json');
  writeFileSync(file, JSON.stringify({ version: 1, destinations: [forward('fwd', a.url)] }));
  host = await startScanHost({ DESTINATIONS_FILE: file });
  base = host.server.url;
  writeFileSync(host.secretsFile, JSON.stringify({ 'token-encryption-keys': newKeyRingSecret('k1'), 'admin-key': KEY }));
  const user = { oid: 'o-reader', tid: 't-1', upn: 'reader@contoso.com', name: 'Rita Reader' };
  const { session, cookie } = await host.services.accessDeps().sessions.start(user, [READER_ROLE], 'entra');
  readerCookie = `${SESSION_COOKIE}=${cookie.value}`;
  readerCsrf = csrfToken(session);
});
afterAll(async () => {
  await host?.stop();
  await a?.stop();
  await b?.stop();
});

interface Answer {
  status: number;
  etag: string | null;
  body: Record<string, any>;
}

/** A request with the admin key (or the headers given instead). */
async function call(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = options.headers ?? { 'x-functions-key': KEY };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}/api/${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), body: text ? (JSON.parse(text) as Answer['body']) : {} };
}

/** Every operation, with a body that would be accepted. */
const READS: Array<[string, string, unknown?]> = [
  ['GET', 'destinations'],
  ['GET', 'destinations/fwd'],
  ['GET', 'destinations/versions'],
  ['GET', 'destinations/versions/1'],
  ['POST', 'routing/test', { fields: { custom_RoutingKey: 'fwd' } }],
];
const WRITES: Array<[string, string, unknown?]> = [
  ['POST', 'destinations', forward('new-one', 'http://127.0.0.1:9/')],
  ['PUT', 'destinations/fwd', forward('fwd', 'http://127.0.0.1:9/')],
  ['DELETE', 'destinations/fwd'],
  ['POST', 'destinations/fwd/disable'],
  ['POST', 'destinations/fwd/enable'],
  ['POST', 'destinations/fwd/test'],
  ['POST', 'destinations/versions/1/restore'],
  ['POST', 'destinations/import', { version: 1, destinations: [] }],
];

describe('access', () => {
  it('refuses every operation without the admin key (401) or with a wrong one', async () => {
    for (const [method, path, body] of [...READS, ...WRITES]) {
      const none = await call(method, path, { body, headers: {} });
      expect([method, path, none.status, none.body.error]).toEqual([method, path, 401, 'unauthorized']);
      const wrong = await call(method, path, { body, headers: { 'x-functions-key': 'not-the-key' } });
      expect([method, path, wrong.status]).toEqual([method, path, 401]);
    }
    expect((await call('GET', 'destinations')).body.version).toBe(1);
  });

  it("gives a Reader's session the reads and test routing, and refuses every change (403) naming the role", async () => {
    for (const [method, path, body] of READS) {
      const res = await call(method, path, { body, headers: { cookie: readerCookie, origin: base, 'x-csrf-token': readerCsrf } });
      expect([method, path, res.status]).toEqual([method, path, 200]);
    }
    for (const [method, path, body] of WRITES) {
      const res = await call(method, path, {
        body,
        headers: { cookie: readerCookie, origin: base, 'x-csrf-token': readerCsrf, 'if-match': '*' },
      });
      expect([method, path, res.status, res.body.error]).toEqual([method, path, 403, 'forbidden']);
      expect(res.body.message).toContain('ScanRelay.Admin');
    }
    const versions = await call('GET', 'destinations/versions');
    expect(versions.body.current).toBe(1);
  });
});

describe('browsing for a target', () => {
  it('needs the key or a session (Reader is enough), names a bad field, and says why Graph could not list', async () => {
    const path = 'destinations/browse?type=oneDrive&connectionId=no-such-connection';
    expect((await call('GET', path, { headers: {} })).status).toBe(401);
    const asReader = await call('GET', path, { headers: { cookie: readerCookie } });
    expect([asReader.status, asReader.body.error]).toEqual([502, 'browse_failed']);
    expect(asReader.body.message).toContain("as connection 'no-such-connection'");
    const bad = await call('GET', 'destinations/browse?type=sharePoint&connectionId=c&site=nope');
    expect([bad.status, bad.body.error, bad.body.fields.map((f: { path: string }) => f.path)]).toEqual([
      400,
      'validation_failed',
      ['site'],
    ]);
  });
});

describe('changes with the admin key', () => {
  it('creates, reads with its ETag, replaces with If-Match and deletes, each a version audited with the actor', async () => {
    const created = await call('POST', 'destinations', { body: forward('crud', a.url, { description: 'first' }) });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ changed: true, destination: { id: 'crud', enabled: true, description: 'first' } });
    const read = await call('GET', 'destinations/crud');
    expect(read.status).toBe(200);
    expect(read.etag).toBe(created.body.destination.etag);

    const missing = await call('PUT', 'destinations/crud', { body: forward('crud', a.url, { description: 'second' }) });
    expect([missing.status, missing.body.error]).toEqual([428, 'if_match_required']);
    const replaced = await call('PUT', 'destinations/crud', {
      body: forward('crud', a.url, { description: 'second' }),
      headers: { 'x-functions-key': KEY, 'if-match': read.etag! },
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.version).toBe(created.body.version + 1);
    expect(replaced.etag).not.toBe(read.etag);

    const deleted = await call('DELETE', 'destinations/crud', { headers: { 'x-functions-key': KEY, 'if-match': replaced.etag! } });
    expect(deleted.status).toBe(200);
    expect((await call('GET', 'destinations/crud')).status).toBe(404);

    const versions = await call('GET', 'destinations/versions?limit=3');
    expect(versions.body.versions.map((v: { action: string }) => v.action)).toEqual([
      'destination.delete',
      'destination.update',
      'destination.create',
    ]);
    expect(versions.body.versions[1]).toMatchObject({ actor: { kind: 'key' }, summary: "Updated 'crud'" });
    const audit = await call('GET', 'audit?q=destination:crud');
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual([
      'destination.delete',
      'destination.update',
      'destination.create',
    ]);
    expect(audit.body.entries[1]).toMatchObject({
      actor: { kind: 'key' },
      before: { description: 'first' },
      after: { description: 'second' },
    });
  });

  it('refuses a stale ETag (412) saying who changed it, and of two edits with one ETag saves one', async () => {
    await call('POST', 'destinations', { body: forward('race', a.url) });
    const { etag } = await call('GET', 'destinations/race');
    const edit = (description: string) =>
      call('PUT', 'destinations/race', {
        body: forward('race', a.url, { description }),
        headers: { 'x-functions-key': KEY, 'if-match': etag! },
      });
    const answers = await Promise.all([edit('one'), edit('two')]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 412]);
    const refused = answers.find((r) => r.status === 412)!;
    expect(refused.body.error).toBe('destination_changed');
    expect(refused.body.message).toMatch(/was changed since you read it: .*by the admin key.*Read it again/);
    const saved = answers.find((r) => r.status === 200)!;
    expect((await call('GET', 'destinations/race')).body.destination.description).toBe(saved.body.destination.description);
  });

  it('never saves an invalid destination: 400 with every problem by its path', async () => {
    const before = await call('GET', 'destinations');
    const bad = await call('POST', 'destinations', {
      body: { id: 'bad', type: 'httpForward', when: {}, options: { url: 'ftp://example.com', timeoutSeconds: -1 } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('validation_failed');
    expect(bad.body.fields.map((f: { path: string }) => f.path)).toEqual(expect.arrayContaining(['options.timeoutSeconds']));
    for (const f of bad.body.fields) expect(f.message).toEqual(expect.any(String));
    const unknown = await call('POST', 'destinations', { body: { id: 'bad2', type: 'carrierPigeon', when: {}, options: {} } });
    expect([unknown.status, unknown.body.fields[0].path]).toEqual([400, 'type']);
    const after = await call('GET', 'destinations');
    expect(after.body.version).toBe(before.body.version);
    expect(after.body.destinations.map((d: { id: string }) => d.id)).toEqual(before.body.destinations.map((d: { id: string }) => d.id));
  });

  it('disables and enables, restores an old version, and imports a document', async () => {
    await call('POST', 'destinations', { body: forward('toggle', a.url) });
    const disabled = await call('POST', 'destinations/toggle/disable');
    expect([disabled.status, disabled.body.destination.enabled, disabled.body.changed]).toEqual([200, false, true]);
    const again = await call('POST', 'destinations/toggle/disable');
    expect([again.body.changed, again.body.version]).toEqual([false, disabled.body.version]);
    const enabled = await call('POST', 'destinations/toggle/enable');
    expect(enabled.body.destination.enabled).toBe(true);

    const oldVersion = disabled.body.version as number;
    const old = await call('GET', `destinations/versions/${oldVersion}`);
    expect(old.body.document.destinations.find((d: { id: string }) => d.id === 'toggle').enabled).toBe(false);
    const stale = await call('POST', `destinations/versions/${oldVersion}/restore`, {
      headers: { 'x-functions-key': KEY, 'if-match': '"v1"' },
    });
    expect([stale.status, stale.body.error]).toEqual([412, 'destination_changed']);
    const restored = await call('POST', `destinations/versions/${oldVersion}/restore`);
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({ restoredFrom: oldVersion, version: enabled.body.version + 1 });
    expect((await call('GET', 'destinations/toggle')).body.destination.enabled).toBe(false);
    expect((await call('POST', 'destinations/versions/99999/restore')).status).toBe(404);

    const list = await call('GET', 'destinations');
    const imported = await call('POST', 'destinations/import', {
      body: { version: 1, destinations: [...list.body.destinations, forward('imported', a.url)] },
      headers: { 'x-functions-key': KEY, 'if-match': list.etag! },
    });
    expect(imported.status).toBe(200);
    expect(imported.body).toMatchObject({ source: 'the request body', changed: true });
    expect((await call('GET', 'destinations/imported')).status).toBe(200);
    const audit = await call('GET', 'audit?q=destinations.restore');
    expect(audit.body.entries[0]).toMatchObject({ actor: { kind: 'key' }, after: { restoredFrom: oldVersion } });
  });
});

describe('trying the destinations', () => {
  it('test routing tells which destinations select a job and renders their templates, sending nothing', async () => {
    await call('POST', 'destinations', {
      body: {
        id: 'share',
        type: 'fileShare',
        when: { workflowName: 'Invoices' },
        options: { basePath: `${shareRoot}/%username%`, fileName: '%workflowName% %fileIndex%' },
      },
    });
    const before = a.requests;
    const res = await call('POST', 'routing/test', { body: { fields: { workflowName: 'Invoices', username: 'jdoe' } } });
    expect(res.status).toBe(200);
    expect(res.body.selected).toEqual(['share']);
    const share = res.body.destinations.find((d: { id: string }) => d.id === 'share');
    expect(share.rule).toEqual([{ field: 'workflowName', matched: true, value: 'Invoices' }]);
    expect(share.templates).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ option: 'basePath', rendered: `${shareRoot}/jdoe` }),
        expect.objectContaining({ option: 'fileName', rendered: 'Invoices 1' }),
      ]),
    );
    expect(res.body.destinations.find((d: { id: string }) => d.id === 'fwd')).toMatchObject({ selected: false });
    const missing = await call('POST', 'routing/test', { body: { fields: { workflowName: 'Invoices' } } });
    const template = missing.body.destinations.find((d: { id: string }) => d.id === 'share').templates[0];
    expect(template).toMatchObject({ option: 'basePath', error: { code: expect.any(String) } });
    expect(readdirSync(shareRoot)).toEqual([]);
    expect(a.requests).toBe(before);
    const invalid = await call('POST', 'routing/test', { body: { fields: { n: 5 } } });
    expect([invalid.status, invalid.body.fields[0].path]).toEqual([400, 'fields.n']);
  });

  it('sends a test PDF to one destination and tells the outcome, audited', async () => {
    const count = a.received.length;
    const sent = await call('POST', 'destinations/fwd/test', { body: { fields: { custom_RoutingKey: 'fwd' } } });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ destination: 'fwd', outcome: 'delivered' });
    expect(a.received.length).toBe(count + 1);
    expect(a.received.at(-1)!.files[0]!.name).toBe('ScanRelay test.pdf');

    await call('POST', 'destinations', { body: forward('dead', 'http://127.0.0.1:9/') });
    const failed = await call('POST', 'destinations/dead/test');
    expect(failed.body).toMatchObject({ destination: 'dead', outcome: 'failed', error: { code: expect.any(String), retryable: true } });
    expect((await call('POST', 'destinations/nope/test')).status).toBe(404);
    const audit = await call('GET', 'audit?q=destination.test');
    expect(audit.body.entries.slice(0, 2).map((e: { target: string; after: { outcome: string } }) => [e.target, e.after.outcome])).toEqual([
      ['destination:dead', 'failed'],
      ['destination:fwd', 'delivered'],
    ]);
  });
});

describe('the deliverer', () => {
  it('delivers a scan queued after a change with the new version', async () => {
    const triggers = host.startDelivering();
    try {
      const scan = () =>
        postMultipart(
          host.scanUrl,
          multipart([
            { name: 'custom_RoutingKey', value: 'moving' },
            { name: 'file1', filename: 'a.pdf', data: pdfBytes(4000) },
          ]),
        );
      await call('POST', 'destinations', { body: forward('moving', a.url) });
      const count = a.received.length;
      const first = await scan();
      expect(first.status).toBe(200);
      await a.waitFor(count + 1);
      const { etag } = await call('GET', 'destinations/moving');
      const moved = await call('PUT', 'destinations/moving', {
        body: forward('moving', b.url),
        headers: { 'x-functions-key': KEY, 'if-match': etag! },
      });
      expect(moved.status).toBe(200);
      const second = await scan();
      expect(second.status).toBe(200);
      await b.waitFor(1);
      expect(b.received[0]!.fields.custom_RoutingKey).toBe('moving');
      expect(a.received.filter((r) => r.fields.custom_RoutingKey === 'moving')).toHaveLength(1);
    } finally {
      await triggers.stop();
    }
  });
});

describe('pinned to the file (DESTINATIONS_PINNED=true)', () => {
  it('serves the file, refuses every change saying why, and the console shows it read-only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scanrelay-destpinned-'));
    const file = join(dir, 'destinations.json');
    writeFileSync(file, JSON.stringify({ version: 1, destinations: [forward('git-managed', a.url)] }));
    const pinned = await startScanHost({ DESTINATIONS_FILE: file, DESTINATIONS_PINNED: 'true', CONSOLE_SIGN_IN: 'development' });
    try {
      writeFileSync(pinned.secretsFile, JSON.stringify({ 'token-encryption-keys': newKeyRingSecret('k1'), 'admin-key': KEY }));
      const at = (path: string, method = 'GET', body?: unknown) =>
        fetch(`${pinned.server.url}/api/${path}`, {
          method,
          headers: { 'x-functions-key': KEY, 'content-type': 'application/json', 'if-match': '*' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const list = (await (await at('destinations')).json()) as Record<string, unknown>;
      expect(list).toMatchObject({ source: 'file', pinned: true, destinations: [{ id: 'git-managed' }] });
      for (const [method, path, body] of WRITES.filter(([, p]) => !p.endsWith('/test'))) {
        const res = await at(path.replace('fwd', 'git-managed'), method, body);
        const answer = (await res.json()) as { error: string; message: string };
        expect([method, path, res.status, answer.error]).toEqual([method, path, 409, 'destinations_pinned']);
        expect(answer.message).toContain('DESTINATIONS_PINNED=true');
      }
      const routed = (await (await at('routing/test', 'POST', { fields: { custom_RoutingKey: 'git-managed' } })).json()) as {
        selected: string[];
      };
      expect(routed.selected).toEqual(['git-managed']);

      const user = { oid: 'o-admin', tid: 't-1', upn: 'admin@contoso.com' };
      const { cookie } = await pinned.services.accessDeps().sessions.start(user, [ADMIN_ROLE], 'entra');
      const page = await fetch(`${pinned.server.url}/api/console/destinations`, {
        headers: { cookie: `${SESSION_COOKIE}=${cookie.value}` },
      });
      const text = await page.text();
      expect(page.status).toBe(200);
      expect(text).toMatch(/pinned to the deployed\s+file/);
      expect(text).toContain('git-managed');
      expect(text).not.toContain('Create a destination');
    } finally {
      await pinned.stop();
    }
  });
});
