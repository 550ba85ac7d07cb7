/**
 * The stored destinations on Azurite (shared/destinations over the `destinations` table): the
 * first-start import, versions with who and when, ETag-guarded edits (a stale one refused, two
 * at once serialised), nothing invalid ever saved, enable/disable, restore, import, pinned mode,
 * what health reports, and the deliverer taking the new version for a job queued after a change.
 * Each test has its own table and audit log, so none depends on another.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CONNECTORS, deliverJob, StoredDestinationsError, type DelivererDeps } from '../../shared/delivery';
import {
  createDestination,
  createDestinationsSource,
  deleteDestination,
  getDestination,
  getVersion,
  importDestinations,
  listDestinations,
  listVersions,
  replaceDestination,
  restoreVersion,
  setDestinationEnabled,
  type DestinationsSource,
} from '../../shared/destinations';
import { AppError, ValidationError } from '../../shared/errors';
import { ingestScan } from '../../shared/ingest';
import { silentLogger } from '../../shared/log';
import { AuditLogRepository, DestinationVersionRepository, type Actor } from '../../shared/storage';
import { startStack, type TestStack } from '../helpers/env';
import { multipart, pdfBytes } from '../helpers/multipart';
import { startReceiver, type Receiver } from '../helpers/receiver';

/** A URL for destinations that are only checked, never delivered to. */
const NOWHERE = 'http://127.0.0.1:9/api/scan';
const ADMIN: Actor = { kind: 'user', oid: 'o-1', upn: 'admin@contoso.com' };
const OTHER: Actor = { kind: 'user', oid: 'o-2', upn: 'other@contoso.com' };

let stack: TestStack;
let a: Receiver;
let b: Receiver;
beforeAll(async () => {
  stack = await startStack();
  [a, b] = await Promise.all([startReceiver(), startReceiver()]);
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await stack?.stop();
});

const forward = (id: string, url: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'httpForward',
  when: {},
  options: { url, allowHttp: true, allowPrivateNetworks: true },
  ...extra,
});

function fileWith(document: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'scanrelay-dest-')), 'destinations.json');
  writeFileSync(file, typeof document === 'string' ? document : JSON.stringify(document));
  return file;
}

/** A source over a table of its own (one instance of the app), with an audit log of its own. */
function source(options: { file?: string; pinned?: boolean; table?: string; audit?: string } = {}) {
  const name = (prefix: string) => `${prefix}${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const { clients } = stack.services.storage;
  const auditLog = new AuditLogRepository(clients.table(options.audit ?? name('audit')));
  const store = new DestinationVersionRepository(clients.table(options.table ?? name('dest')));
  const s = createDestinationsSource({ store, auditLog, connectors: CONNECTORS, file: options.file, pinned: options.pinned ?? false });
  return { source: s, store, auditLog, entries: () => auditLog.list(new Date(Date.now() - 3_600_000), new Date(Date.now() + 60_000)) };
}

/** The AppError an operation throws (or fails the test). */
async function refusal(work: Promise<unknown>): Promise<AppError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`expected an AppError, got ${String(err)}`);
  return err;
}

const etagOf = async (s: DestinationsSource, id: string) => (await getDestination(s, ADMIN, id)).destination.etag;

describe('the first start', () => {
  it('imports the deployed file as version 1, by ScanRelay, and audits it', async () => {
    const { source: s, entries } = source({ file: fileWith({ version: 1, destinations: [forward('fax', a.url)] }) });
    const set = await s.current();
    expect(set).toMatchObject({ version: 1, destinations: [{ id: 'fax', enabled: true }] });
    const versions = await listVersions(s, ADMIN);
    expect(versions).toMatchObject({ current: 1, versions: [{ version: 1, action: 'destinations.import', actor: { kind: 'system' } }] });
    expect(versions.versions[0]!.summary).toMatch(/on first start/);
    expect(await entries()).toMatchObject([{ action: 'destinations.import', actor: { kind: 'system', name: 'first start' } }]);
  });

  it('two instances starting at once import it once', async () => {
    const table = `dest${randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const file = fileWith({ version: 1, destinations: [forward('fax', a.url)] });
    const first = source({ file, table });
    const second = source({ file, table });
    const [x, y] = await Promise.all([first.source.current(), second.source.current()]);
    expect([x.version, y.version]).toEqual([1, 1]);
    expect((await first.store.list({ limit: 10 })).map((v) => v.version)).toEqual([1]);
  });

  it('without a file there are no destinations and nothing is written', async () => {
    const { source: s, store } = source({ file: undefined });
    await expect(s.current()).resolves.toEqual({ destinations: [] });
    expect(await store.pointer()).toBeUndefined();
    await expect(listDestinations(s, ADMIN)).resolves.toMatchObject({ source: 'storage', version: 0, destinations: [] });
  });

  it('a named file that does not exist holds delivery while nothing is stored, and is named by health', async () => {
    const { source: s } = source({ file: join(tmpdir(), `missing-${randomUUID()}.json`) });
    await expect(s.current()).rejects.toThrow(/DESTINATIONS_FILE: .* does not exist/);
    expect(await s.problems()).toEqual([{ setting: 'DESTINATIONS_FILE', message: expect.stringMatching(/does not exist/) }]);
    await expect(s.startUp()).rejects.toThrow(/does not exist/);
  });
});

describe('edits', () => {
  it('each change is a new version with who and when, and the audit log has before → after', async () => {
    const { source: s, entries } = source();
    const created = await createDestination(s, ADMIN, forward('fax', a.url));
    expect(created).toMatchObject({ version: 1, changed: true, destination: { id: 'fax', enabled: true, etag: expect.any(String) } });
    const updated = await replaceDestination(s, OTHER, 'fax', forward('fax', b.url), [created.destination.etag]);
    expect(updated).toMatchObject({ version: 2, changed: true });
    expect(updated.destination.etag).not.toBe(created.destination.etag);

    const versions = await listVersions(s, ADMIN);
    expect(versions.versions.map((v) => [v.version, v.action, v.actor])).toEqual([
      [2, 'destination.update', OTHER],
      [1, 'destination.create', ADMIN],
    ]);
    expect((await getVersion(s, ADMIN, 1)).document).toEqual({ version: 1, destinations: [forward('fax', a.url)] });
    const update = (await entries()).find((e) => e.action === 'destination.update')!;
    expect(update).toMatchObject({ actor: OTHER, target: 'destination:fax' });
    expect(update.before).toMatchObject({ options: { url: a.url } });
    expect(update.after).toMatchObject({ options: { url: b.url } });
  });

  it('refuses a stale ETag with 412 naming the version and who changed it, and keeps the other change', async () => {
    const { source: s } = source();
    const { destination } = await createDestination(s, ADMIN, forward('fax', a.url));
    await replaceDestination(s, OTHER, 'fax', forward('fax', b.url), [destination.etag]);
    const err = await refusal(replaceDestination(s, ADMIN, 'fax', forward('fax', 'http://127.0.0.1:9/x'), [destination.etag]));
    expect({ code: err.code, status: err.status }).toEqual({ code: 'destination_changed', status: 412 });
    expect(err.message).toMatch(/version 2 now \(last change by other@contoso\.com/);
    expect((await getDestination(s, ADMIN, 'fax')).destination.options).toMatchObject({ url: b.url });
  });

  it('of two edits of one destination with the same ETag at once, one is saved and the other refused', async () => {
    const { source: s } = source();
    const { destination } = await createDestination(s, ADMIN, forward('fax', a.url));
    const results = await Promise.allSettled([
      replaceDestination(s, ADMIN, 'fax', forward('fax', a.url, { description: 'first' }), [destination.etag]),
      replaceDestination(s, OTHER, 'fax', forward('fax', a.url, { description: 'second' }), [destination.etag]),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected')!;
    expect((rejected.reason as AppError).code).toBe('destination_changed');
    expect((await listVersions(s, ADMIN)).current).toBe(2);
  });

  it('edits of two destinations at once are both saved, one version each', async () => {
    const { source: s } = source();
    await createDestination(s, ADMIN, forward('fax', a.url));
    await createDestination(s, ADMIN, forward('mail', a.url));
    const [fax, mail] = await Promise.all([etagOf(s, 'fax'), etagOf(s, 'mail')]);
    await Promise.all([
      replaceDestination(s, ADMIN, 'fax', forward('fax', b.url), [fax]),
      replaceDestination(s, OTHER, 'mail', forward('mail', b.url), [mail]),
    ]);
    const now = await listDestinations(s, ADMIN);
    expect(now.version).toBe(4);
    expect(now.destinations.map((d) => (d.options as { url: string }).url)).toEqual([b.url, b.url]);
  });

  it('needs If-Match to replace or delete (428), and takes * for whatever is there', async () => {
    const { source: s } = source();
    await createDestination(s, ADMIN, forward('fax', a.url));
    expect((await refusal(replaceDestination(s, ADMIN, 'fax', forward('fax', b.url), undefined))).code).toBe('if_match_required');
    expect((await refusal(deleteDestination(s, ADMIN, 'fax', undefined))).code).toBe('if_match_required');
    await expect(replaceDestination(s, ADMIN, 'fax', forward('fax', b.url), '*')).resolves.toMatchObject({ version: 2 });
    await expect(deleteDestination(s, ADMIN, 'fax', '*')).resolves.toMatchObject({ version: 3, changed: true });
    expect((await listDestinations(s, ADMIN)).destinations).toEqual([]);
  });

  it('an unchanged destination makes no new version', async () => {
    const { source: s } = source();
    const { destination } = await createDestination(s, ADMIN, forward('fax', a.url));
    // What GET answered, sent back as it is (its etag and enabled included).
    await expect(replaceDestination(s, ADMIN, 'fax', destination, [destination.etag])).resolves.toMatchObject({
      version: 1,
      changed: false,
    });
  });

  it.each<[string, (s: DestinationsSource) => Promise<unknown>]>([
    ['get', (s) => getDestination(s, ADMIN, 'nope')],
    ['replace', (s) => replaceDestination(s, ADMIN, 'nope', forward('nope', a.url), '*')],
    ['delete', (s) => deleteDestination(s, ADMIN, 'nope', '*')],
    ['disable', (s) => setDestinationEnabled(s, ADMIN, 'nope', false)],
  ])('%s of an unknown id: 404 destination_not_found', async (_name, op) => {
    const { source: s } = source();
    await createDestination(s, ADMIN, forward('fax', a.url));
    const err = await refusal(op(s));
    expect({ code: err.code, status: err.status }).toEqual({ code: 'destination_not_found', status: 404 });
  });

  it('refuses a second destination with the same id (409) and a rename (400)', async () => {
    const { source: s } = source();
    await createDestination(s, ADMIN, forward('fax', a.url));
    expect((await refusal(createDestination(s, ADMIN, forward('fax', b.url)))).code).toBe('destination_exists');
    const rename = await refusal(replaceDestination(s, ADMIN, 'fax', forward('other', b.url), '*'));
    expect(rename).toBeInstanceOf(ValidationError);
    expect((rename as ValidationError).fields).toEqual([{ path: 'id', message: expect.stringMatching(/cannot be renamed/) }]);
  });
});

describe('an invalid destination is never saved', () => {
  const smtp = (auth: Record<string, unknown>) => ({
    id: 'mail',
    type: 'smtp',
    when: {},
    options: { auth, from: 'a@contoso.com', to: 'b@contoso.com', subject: 's' },
  });

  it('answers every problem with its path within the destination, and writes nothing', async () => {
    const { source: s, store, entries } = source();
    await createDestination(s, ADMIN, forward('fax', a.url));
    const before = await store.pointer();
    const err = await refusal(
      createDestination(s, ADMIN, {
        ...smtp({ kind: 'system', host: 'mail.contoso.com', port: 0 }),
        when: { workflowName: { matches: '(' } },
      }),
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect({ code: err.code, status: err.status }).toEqual({ code: 'validation_failed', status: 400 });
    expect((err as ValidationError).fields).toEqual([
      { path: 'options.auth.port', message: 'must be a port number (1-65535).' },
      { path: 'when.workflowName', message: 'is not a valid regular expression.' },
    ]);
    expect(err.message).toMatch(/^The destination is not valid, and nothing was saved: options\.auth\.port must be a port number/);
    expect(await store.pointer()).toEqual(before);
    expect((await entries()).map((e) => e.action)).toEqual(['destination.create']);
  });

  it.each<[string, unknown, string]>([
    ['an unknown type', { ...forward('x', NOWHERE), type: 'carrierPigeon' }, 'type'],
    ['an id that is not one', forward('Not An Id', NOWHERE), 'id'],
    ['a reserved id', forward('versions', NOWHERE), 'id'],
    ['another reserved id', forward('browse', NOWHERE), 'id'],
    ['enabled that is not a boolean', forward('x', NOWHERE, { enabled: 'no' }), 'enabled'],
    ['an https-only URL given http', { ...forward('x', NOWHERE), options: { url: 'http://fax.example.net' } }, 'options.url'],
  ])('%s: the field is named', async (_name, body, path) => {
    const { source: s } = source();
    const err = (await refusal(createDestination(s, ADMIN, body))) as ValidationError;
    expect(err.fields.map((f) => f.path)).toEqual([path]);
  });

  it('a replacement that is invalid leaves the destination as it was', async () => {
    const { source: s } = source();
    const { destination } = await createDestination(s, ADMIN, forward('fax', a.url));
    const err = (await refusal(
      replaceDestination(s, ADMIN, 'fax', { ...forward('fax', a.url), options: { url: a.url, timeoutSeconds: 0 } }, [destination.etag]),
    )) as ValidationError;
    // Every problem, in the order the schema finds them.
    expect(err.fields).toEqual([
      { path: 'options.timeoutSeconds', message: 'must be a whole number from 1 to 600.' },
      { path: 'options.url', message: 'must be https:// (set "allowHttp": true to allow http://).' },
    ]);
    expect(await getDestination(s, ADMIN, 'fax')).toEqual({ version: 1, destination });
  });
});

describe('enable and disable', () => {
  it('a disabled destination selects no job and is kept; doing it twice makes one version', async () => {
    const { source: s, entries } = source();
    await createDestination(s, ADMIN, forward('fax', a.url));
    await expect(setDestinationEnabled(s, ADMIN, 'fax', false)).resolves.toMatchObject({
      version: 2,
      changed: true,
      destination: { enabled: false },
    });
    await expect(setDestinationEnabled(s, ADMIN, 'fax', false)).resolves.toMatchObject({ version: 2, changed: false });
    expect((await s.current()).destinations).toMatchObject([{ id: 'fax', enabled: false }]);
    expect((await getVersion(s, ADMIN, 2)).document).toMatchObject({ destinations: [{ id: 'fax', enabled: false }] });
    await expect(setDestinationEnabled(s, ADMIN, 'fax', true)).resolves.toMatchObject({ version: 3, destination: { enabled: true } });
    expect((await entries()).filter((e) => e.action.startsWith('destination.')).map((e) => e.action)).toEqual([
      'destination.enable',
      'destination.disable',
      'destination.create',
    ]);
  });

  it('refuses a stale If-Match when one is given', async () => {
    const { source: s } = source();
    const { destination } = await createDestination(s, ADMIN, forward('fax', a.url));
    await replaceDestination(s, ADMIN, 'fax', forward('fax', b.url), [destination.etag]);
    expect((await refusal(setDestinationEnabled(s, ADMIN, 'fax', false, [destination.etag]))).code).toBe('destination_changed');
  });
});

describe('versions: restore and import', () => {
  it('restores an old version as a new one, and refuses an unknown version or a stale set ETag', async () => {
    const { source: s, entries } = source();
    await createDestination(s, ADMIN, forward('fax', a.url));
    await createDestination(s, ADMIN, forward('mail', a.url));
    await deleteDestination(s, ADMIN, 'fax', '*');
    const restored = await restoreVersion(s, OTHER, 2, ['"v3"']);
    expect(restored).toMatchObject({ version: 4, changed: true, restoredFrom: 2, etag: '"v4"' });
    expect((await getVersion(s, ADMIN, 4)).document).toEqual((await getVersion(s, ADMIN, 2)).document);
    expect((await listVersions(s, ADMIN)).versions[0]).toMatchObject({ version: 4, action: 'destinations.restore', restoredFrom: 2 });
    expect((await entries())[0]).toMatchObject({
      action: 'destinations.restore',
      actor: OTHER,
      before: { version: 3, destinations: ['mail'] },
      after: { version: 4, destinations: ['fax', 'mail'], added: ['fax'], restoredFrom: 2 },
    });

    const unknown = await refusal(restoreVersion(s, ADMIN, 99));
    expect({ code: unknown.code, status: unknown.status }).toEqual({ code: 'version_not_found', status: 404 });
    expect((await refusal(restoreVersion(s, ADMIN, 1, ['"v3"']))).code).toBe('destination_changed');
    await expect(restoreVersion(s, ADMIN, 4)).resolves.toMatchObject({ version: 4, changed: false });
  });

  it('imports a body as the next version, naming every problem by its whole path when it is invalid', async () => {
    const { source: s, store } = source();
    await createDestination(s, ADMIN, forward('fax', a.url));
    const bad = (await refusal(
      importDestinations(s, ADMIN, {
        version: 1,
        destinations: [forward('one', a.url), { ...forward('two', a.url), options: { url: 'ftp://x' } }],
      }),
    )) as ValidationError;
    expect(bad.fields.map((f) => f.path)).toEqual(['destinations[1].options.url']);
    expect((await store.pointer())!.version).toBe(1);
    const done = await importDestinations(s, ADMIN, { version: 1, destinations: [forward('one', a.url), forward('two', b.url)] });
    expect(done).toMatchObject({ version: 2, changed: true, count: 2, source: 'the request body' });
    expect((await listDestinations(s, ADMIN)).destinations.map((d) => d.id)).toEqual(['one', 'two']);
    expect((await refusal(importDestinations(s, ADMIN, { version: 2, destinations: [] }))).code).toBe('validation_failed');
  });

  it('imports the deployed file again on request, read now; without one: 404', async () => {
    const file = fileWith({ version: 1, destinations: [forward('fax', a.url)] });
    const { source: s } = source({ file });
    await expect(s.current()).resolves.toMatchObject({ version: 1 });
    writeFileSync(file, JSON.stringify({ version: 1, destinations: [forward('fax', b.url), forward('mail', b.url)] }));
    await expect(importDestinations(s, ADMIN, undefined)).resolves.toMatchObject({ version: 2, count: 2, source: file });
    const none = await refusal(importDestinations(source().source, ADMIN, undefined));
    expect({ code: none.code, status: none.status }).toEqual({ code: 'destinations_file_not_found', status: 404 });
  });

  it('pages the versions, newest first', async () => {
    const { source: s } = source();
    for (const id of ['a1', 'a2', 'a3', 'a4', 'a5']) await createDestination(s, ADMIN, forward(id, a.url));
    const first = await listVersions(s, ADMIN, { limit: 2 });
    expect(first.versions.map((v) => v.version)).toEqual([5, 4]);
    expect(first.next).toBe(4);
    const second = await listVersions(s, ADMIN, { limit: 2, before: first.next });
    expect(second.versions.map((v) => v.version)).toEqual([3, 2]);
  });
});

describe('pinned to the file', () => {
  it('serves the file and refuses every change, saying why', async () => {
    const file = fileWith({ version: 1, destinations: [forward('fax', a.url)] });
    const { source: s, store } = source({ file, pinned: true });
    await expect(s.current()).resolves.toMatchObject({ file, destinations: [{ id: 'fax' }] });
    await expect(listDestinations(s, ADMIN)).resolves.toMatchObject({ source: 'file', pinned: true, file, destinations: [{ id: 'fax' }] });
    for (const change of [
      () => createDestination(s, ADMIN, forward('mail', a.url)),
      () => replaceDestination(s, ADMIN, 'fax', forward('fax', b.url), '*'),
      () => deleteDestination(s, ADMIN, 'fax', '*'),
      () => setDestinationEnabled(s, ADMIN, 'fax', false),
      () => importDestinations(s, ADMIN, { version: 1, destinations: [] }),
      () => importDestinations(s, ADMIN, undefined),
      () => restoreVersion(s, ADMIN, 1),
    ]) {
      const err = await refusal(change());
      expect({ code: err.code, status: err.status }).toEqual({ code: 'destinations_pinned', status: 409 });
      expect(err.message).toMatch(/DESTINATIONS_PINNED=true/);
    }
    expect(await store.pointer()).toBeUndefined();
    await expect(s.startUp()).resolves.toMatch(/1 from .*pinned/);
  });

  it('an invalid pinned file holds delivery and is reported, as before destinations were stored', async () => {
    const { source: s } = source({ file: fileWith('{ "version": 1, '), pinned: true });
    await expect(s.current()).rejects.toThrow(/DESTINATIONS_FILE: .*is not valid JSON/);
    expect(await s.problems()).toEqual([{ setting: 'DESTINATIONS_FILE', message: expect.stringMatching(/is not valid JSON/) }]);
    expect((await refusal(listDestinations(s, ADMIN))).code).toBe('destinations_invalid');
  });
});

describe('health and the blocked state', () => {
  it('an invalid deployed file is reported while the stored version stays in force', async () => {
    const table = `dest${randomUUID().replace(/-/g, '').slice(0, 16)}`;
    await createDestination(source({ table }).source, ADMIN, forward('fax', a.url));
    const { source: s } = source({ table, file: fileWith({ version: 1, destinations: [{ id: 'x' }] }) });
    await expect(s.current()).resolves.toMatchObject({ version: 1, destinations: [{ id: 'fax' }] });
    expect(await s.problems()).toEqual([{ setting: 'DESTINATIONS_FILE', message: expect.stringMatching(/destinations\[0\]\.type/) }]);
    await expect(s.startUp()).rejects.toThrow(/destinations\[0\]\.type/);
  });

  it('a stored version this code refuses holds jobs (blocked) until it is corrected', async () => {
    const { source: s, store } = source();
    // A version written by an older ScanRelay whose connector took what this one refuses.
    await store.append(undefined, {
      action: 'destination.create',
      target: 'destination:fax',
      summary: 'test',
      document: {
        version: 1,
        destinations: [
          { ...forward('fax', a.url), options: { url: a.url, allowHttp: true, allowPrivateNetworks: true, timeoutSeconds: 9999 } },
        ],
      },
      count: 1,
      actor: ADMIN,
      at: new Date(),
    });
    await expect(s.current()).rejects.toBeInstanceOf(StoredDestinationsError);
    expect(await s.problems()).toEqual([
      { message: expect.stringMatching(/version 1\) are not valid .*destinations\[0\]\.options\.timeoutSeconds/) },
    ]);
    await expect(s.startUp()).resolves.toMatch(/Jobs are held/);

    const jobId = await storeJob();
    await expect(deliverJob({ jobId }, 1, delivering(s))).resolves.toBe('blocked');
    expect((await stack.services.storage.scanJobs.get(jobId))?.deliveryReason).toMatch(/timeoutSeconds/);

    // An edit of another destination is refused with the broken one's path; correcting it works.
    const other = (await refusal(createDestination(s, ADMIN, forward('mail', a.url)))) as ValidationError;
    expect(other.fields.map((f) => f.path)).toEqual(['destinations[0].options.timeoutSeconds']);
    await replaceDestination(s, ADMIN, 'fax', forward('fax', a.url), '*');
    expect(await s.problems()).toEqual([]);
    await expect(deliverJob({ jobId }, 1, delivering(s))).resolves.toBe('delivered');
  });
});

async function storeJob(fields: Record<string, string> = {}): Promise<string> {
  const mp = multipart([
    ...Object.entries({ scanJobID: randomUUID(), ...fields }).map(([name, value]) => ({ name, value })),
    { name: 'file1', filename: 'a.pdf', data: pdfBytes(2000) },
  ]);
  return (await ingestScan({ contentType: mp.contentType, body: Readable.from([mp.body]) }, stack.services.ingestDeps(silentLogger))).jobId;
}

const delivering = (s: DestinationsSource): DelivererDeps => ({
  ...stack.services.delivererDeps(silentLogger),
  destinations: () => s.current(),
});

describe('the deliverer', () => {
  it('delivers a job queued after a change with the new version, on every instance', async () => {
    const table = `dest${randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const one = source({
      table,
      file: fileWith({ version: 1, destinations: [forward('fwd', a.url, { when: { custom_RoutingKey: 'v' } })] }),
    });
    const two = source({ table });
    const first = await storeJob({ custom_RoutingKey: 'v' });
    await expect(deliverJob({ jobId: first }, 1, delivering(one.source))).resolves.toBe('delivered');
    await expect(two.source.current()).resolves.toMatchObject({ version: 1 });
    expect(a.received.some((r) => r.fields.scanJobID && r.headers['idempotency-key'] === first)).toBe(true);

    // An administrator points the destination elsewhere through the other instance.
    await replaceDestination(two.source, ADMIN, 'fwd', forward('fwd', b.url, { when: { custom_RoutingKey: 'v' } }), [
      await etagOf(two.source, 'fwd'),
    ]);
    const second = await storeJob({ custom_RoutingKey: 'v' });
    await expect(deliverJob({ jobId: second }, 1, delivering(one.source))).resolves.toBe('delivered');
    expect(b.received.some((r) => r.headers['idempotency-key'] === second)).toBe(true);
    expect(a.received.some((r) => r.headers['idempotency-key'] === second)).toBe(false);

    // Disabled: the next job is undeliverable, saying so.
    await setDestinationEnabled(two.source, ADMIN, 'fwd', false);
    const third = await storeJob({ custom_RoutingKey: 'v' });
    await expect(deliverJob({ jobId: third }, 1, delivering(one.source))).resolves.toBe('undeliverable');
    expect((await stack.services.storage.scanJobs.get(third))?.deliveryReason).toMatch(/1 disabled destination/);
  });
});
