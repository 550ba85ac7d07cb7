/**
 * The directory's status on Azurite (shared/directoryStatus): counts kept right by concurrent
 * writers in two processes and by a recount, a user found with the fields delivery fills, the
 * SCIM activity and sync runs recorded without secrets, and the Overview's attention items.
 */
import {
  directoryAttention,
  directoryOverview,
  findDirectoryUser,
  recountDirectory,
  type DirectoryStatusDeps,
} from '../../shared/directoryStatus';
import { startRecording } from '../../shared/directorySync/record';
import { DirectorySyncError } from '../../shared/directorySync/errors';
import { failureOf } from '../../shared/directorySync/record';
import { silentLogger } from '../../shared/log';
import { ENTERPRISE_USER_SCHEMA, ScimActivity } from '../../shared/scim';
import { createStorage, DIRECTORY_COUNTS_TABLE, type Storage } from '../../shared/storage';
import { startStack, type TestStack } from '../helpers/env';

let stack: TestStack;
let one: Storage;
let two: Storage;

beforeAll(async () => {
  stack = await startStack();
  // Two processes: each its own storage objects (counters, remembered ETags) over the same tables.
  one = createStorage(stack.config.storage);
  two = createStorage(stack.config.storage);
});
afterAll(() => stack.stop());

const deps = (storage: Storage, now?: () => Date): DirectoryStatusDeps => ({
  config: stack.config.directory,
  directory: storage.directory,
  activity: storage.directoryActivity,
  ...(now ? { now } : {}),
});

const user = (userName: string, extra: Record<string, unknown> = {}) => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  userName,
  active: true,
  ...extra,
});

it('counts users and groups right while two processes write at once, and a recount agrees', async () => {
  const names = Array.from({ length: 24 }, (_, i) => `count-${i}@contoso.com`);
  const created = await Promise.all(names.map((n, i) => (i % 2 ? one : two).directory.users.create(user(n), i % 3 ? 'scim' : 'sync')));
  await Promise.all([
    one.directory.groups.create({ displayName: 'Finance' }, 'scim'),
    two.directory.groups.create({ displayName: 'Sales' }, 'sync'),
  ]);
  // Deletes and deactivations from both processes, at once.
  await Promise.all([
    ...created.slice(0, 4).map((u, i) => (i % 2 ? one : two).directory.users.delete(u.id)),
    ...created.slice(4, 7).map((u, i) => (i % 2 ? two : one).directory.users.replace(u, user(u.userName, { active: false }))),
    // The same user deleted by both: counted once.
    one.directory.users.delete(created[7]!.id),
    two.directory.users.delete(created[7]!.id),
  ]);
  const kept = names.map((_, i) => i).filter((i) => i > 7 || (i >= 4 && i < 7)); // 19
  const sync = kept.filter((i) => i % 3 === 0).length;
  const expected = {
    users: { total: 19, active: 16, inactive: 3, bySource: { scim: 19 - sync, sync } },
    groups: { total: 2, bySource: { scim: 1, sync: 1 } },
    complete: true,
  };
  expect((await directoryOverview(deps(one))).counts).toEqual(expected);
  expect((await directoryOverview(deps(two))).counts).toEqual(expected);

  // The counters are a few rows per kind, not one per user.
  const rows = stack.services.storage.clients.table(DIRECTORY_COUNTS_TABLE).listEntities();
  let count = 0;
  for await (const _ of rows) count++;
  expect(count).toBeLessThanOrEqual(2 * 9);

  const auditLog = stack.services.storage.auditLog;
  const recounted = await recountDirectory({ ...deps(one), auditLog }, { kind: 'key' });
  expect(recounted).toMatchObject(expected);
  const entries = await auditLog.list(new Date(Date.now() - 60_000), new Date(Date.now() + 60_000));
  expect(entries.find((e) => e.action === 'directory.recount')).toMatchObject({ actor: { kind: 'key' }, target: 'directory' });
});

it('finds a user by userName in any case, externalId or id, with the fields delivery fills', async () => {
  const alice = await one.directory.users.create(
    user('Alice.Martin@Contoso.com', {
      externalId: 'ext-alice',
      displayName: 'Alice Martin',
      name: { givenName: 'Alice', familyName: 'Martin' },
      emails: [{ value: 'alice@contoso.com', type: 'work', primary: true }],
      [ENTERPRISE_USER_SCHEMA]: { department: 'Finance' },
    }),
    'scim',
  );
  const group = await one.directory.groups.create({ displayName: 'Accounts' }, 'scim');
  await one.directory.members.add(group.id, alice.id, 'User');

  const byName = await findDirectoryUser(deps(two), '  alice.martin@contoso.COM ');
  expect(byName.users).toHaveLength(1);
  expect(byName.users[0]).toMatchObject({
    id: alice.id,
    userName: 'Alice.Martin@Contoso.com',
    active: true,
    matchedBy: ['userName'],
    groups: [{ id: group.id, displayName: 'Accounts' }],
    delivery: {
      fills: true,
      fields: {
        userEmail: 'alice@contoso.com',
        userFirstName: 'Alice',
        userSurname: 'Martin',
        userDisplayName: 'Alice Martin',
        userDepartment: 'Finance',
      },
    },
  });
  expect((await findDirectoryUser(deps(two), 'ext-alice')).users.map((u) => u.matchedBy)).toEqual([['externalId']]);
  expect((await findDirectoryUser(deps(two), alice.id)).users.map((u) => u.matchedBy)).toEqual([['id']]);
  expect((await findDirectoryUser(deps(two), 'nobody@contoso.com')).users).toEqual([]);

  // The start of a userName (the UPN) or of an e-mail address, any letter case.
  expect((await findDirectoryUser(deps(two), 'ALICE.MAR')).users.map((u) => [u.id, u.matchedBy])).toEqual([[alice.id, ['userNamePrefix']]]);
  expect((await findDirectoryUser(deps(two), 'alice@cont')).users.map((u) => [u.id, u.matchedBy])).toEqual([[alice.id, ['mailPrefix']]]);
  // A renamed user is found by its new names only; a deleted one not at all.
  const carol = await one.directory.users.create(user('carol.old@contoso.com', { emails: [{ value: 'c.old@contoso.com' }] }), 'scim');
  expect((await findDirectoryUser(deps(two), 'carol.')).users.map((u) => u.id)).toEqual([carol.id]);
  const renamed = await one.directory.users.replace(carol, user('karol.new@contoso.com'));
  expect((await findDirectoryUser(deps(two), 'carol.')).users).toEqual([]);
  expect((await findDirectoryUser(deps(two), 'c.old')).users).toEqual([]);
  expect((await findDirectoryUser(deps(two), 'karol')).users.map((u) => u.id)).toEqual([carol.id]);
  await two.directory.users.delete(renamed!);
  expect((await findDirectoryUser(deps(two), 'karol')).users).toEqual([]);
  // Characters a table key cannot hold are fine in a name (a guest's UPN).
  const guest = await one.directory.users.create(user('ann_fabrikam.com#EXT#@contoso.onmicrosoft.com'), 'scim');
  expect((await findDirectoryUser(deps(two), 'ann_fabrikam.com#e')).users.map((u) => u.id)).toEqual([guest.id]);

  const off = await one.directory.users.create(user('bob@contoso.com', { active: false, displayName: 'Bob' }), 'sync');
  expect((await findDirectoryUser(deps(two), off.userName)).users[0]!.delivery).toEqual({
    fills: false,
    fields: { userDisplayName: 'Bob' },
    note: expect.stringContaining('inactive'),
  });

  for (const bad of ['', '   ', 'x'.repeat(257), 'a\u0000b', undefined]) {
    await expect(findDirectoryUser(deps(two), bad)).rejects.toMatchObject({ code: 'invalid_find', status: 400 });
  }
});

it('records the last SCIM request and the errors, never a token or another parameter value', async () => {
  let clock = new Date('2026-12-01T10:00:00Z');
  const activity = new ScimActivity(one.directoryActivity, { now: () => clock });
  const q = (s: string) => new URLSearchParams(s);
  await activity.record(
    { method: 'GET', path: '/Users', query: q('filter=userName eq "a@x"&code=s3cret-token'), status: 200 },
    silentLogger,
  );
  expect(await one.directoryActivity.lastScimRequest()).toEqual({
    at: clock,
    method: 'GET',
    resource: 'Users',
    path: '/Users?filter=userName eq "a@x"&code=[redacted]',
    status: 200,
  });
  // A burst of identical errors is one entry with its count; each is stored once record resolves.
  clock = new Date('2026-12-01T10:00:01Z');
  await Promise.all(
    [1, 2, 3].map(() =>
      activity.record(
        { method: 'post', path: '/Users', query: q(''), status: 401, detail: 'The bearer token is not valid.' },
        silentLogger,
      ),
    ),
  );
  clock = new Date('2026-12-01T10:00:02Z');
  await activity.record(
    { method: 'PATCH', path: '/Users/u1', query: q(''), status: 409, scimType: 'uniqueness', detail: 'userName is taken.' },
    silentLogger,
  );
  const errors = await one.directoryActivity.scimErrors();
  expect(errors.map((e) => [e.method, e.path, e.status, e.count, e.scimType])).toEqual([
    ['PATCH', '/Users/u1', 409, 1, 'uniqueness'],
    ['POST', '/Users', 401, 3, undefined],
  ]);
  expect(JSON.stringify(errors)).not.toContain('s3cret');
  // An error is always the last request too (successes are written at most every 5 s).
  expect(await one.directoryActivity.lastScimRequest()).toMatchObject({ method: 'PATCH', status: 409, path: '/Users/u1' });

  const view = await directoryOverview(deps(two, () => new Date('2026-12-01T11:00:00Z')));
  expect(view.scim.lastRequest).toEqual({
    at: '2026-12-01T10:00:02.000Z',
    method: 'PATCH',
    resource: 'Users',
    path: '/Users/u1',
    status: 409,
  });
  expect(view.scim.errors[1]).toMatchObject({ at: '2026-12-01T10:00:01.000Z', count: 3, detail: 'The bearer token is not valid.' });

  // The Overview's items: the period's errors, grouped by what fixes them; none a day later.
  const attention = await directoryAttention(
    deps(two, () => new Date('2026-12-01T11:00:00Z')),
    new Date('2026-11-30T11:00:00Z'),
  );
  expect(attention.filter((a) => a.severity !== 'info').map((a) => [a.severity, a.title])).toEqual([
    ['error', "Entra ID's SCIM requests are refused: the secret token is wrong"],
    ['warning', 'Users or groups were not provisioned: a userName or group name is taken'],
  ]);
  expect(attention[0]!.detail).toContain('3 SCIM requests since 2026-11-30T11:00:00.000Z; the last: POST /Users answered 401');
  const later = await directoryAttention(
    deps(two, () => new Date('2026-12-02T11:00:00Z')),
    new Date('2026-12-01T11:00:00Z'),
  );
  expect(later.filter((a) => a.severity !== 'info')).toEqual([]);
});

it('records directory sync runs from start to end, and tells a run that never finished', async () => {
  let clock = new Date('2026-12-01T08:00:00Z');
  const now = () => clock;
  const failed = await startRecording(one.directoryActivity, silentLogger, now);
  clock = new Date('2026-12-01T08:00:05Z');
  await failed.finish({
    status: 'failed',
    error: failureOf(new DirectorySyncError('forbidden', 'Graph answered 403 Authorization_RequestDenied.')),
  });
  clock = new Date('2026-12-01T09:00:00Z');
  await startRecording(one.directoryActivity, silentLogger, now); // dies before it ends
  clock = new Date('2026-12-01T10:00:00Z');
  const done = await startRecording(one.directoryActivity, silentLogger, now);
  const running = (await directoryOverview(deps(two, now))).sync.runs[0];
  expect(running).toMatchObject({ startedAt: '2026-12-01T10:00:00.000Z', status: 'running' });
  clock = new Date('2026-12-01T10:00:30Z');
  await done.finish({ status: 'completed', counts: { usersCreated: 2 } });

  const runs = (await directoryOverview(deps(two, () => new Date('2026-12-01T10:30:00Z')))).sync.runs;
  expect(runs.map((r) => [r.startedAt, r.status, r.durationMs])).toEqual([
    ['2026-12-01T10:00:00.000Z', 'completed', 30_000],
    ['2026-12-01T09:00:00.000Z', 'unfinished', undefined],
    ['2026-12-01T08:00:00.000Z', 'failed', 5_000],
  ]);
  expect(runs[0]!.counts).toEqual({ usersCreated: 2 });
  expect(runs[2]!.error).toEqual({ code: 'forbidden', message: 'Graph answered 403 Authorization_RequestDenied.' });

  const attention = await directoryAttention(
    deps(two, () => new Date('2026-12-01T10:30:00Z')),
    new Date('2026-11-30T10:30:00Z'),
  );
  expect(attention.map((a) => a.title)).toEqual(
    expect.arrayContaining([
      'Directory sync runs stopped without finishing',
      'Directory sync lacks its permissions in Microsoft Graph (a later run completed)',
    ]),
  );
});
