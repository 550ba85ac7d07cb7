/**
 * Directory sync against Azurite, the test identity platform (real MSAL client credentials: the
 * app-only token carries the granted roles) and the local Graph directory server, which checks the
 * token's signature, audience and roles and speaks Graph's paging and delta protocol.
 * Each test starts from an empty store and its own Graph server, so none depends on another.
 */
import { writeFileSync } from 'node:fs';
import type { Config } from '../../shared/config';
import {
  createDirectorySyncDeps,
  directoryGraphClient,
  DirectorySyncError,
  runDirectorySync,
  USERS_STATE,
  type DirectorySyncDeps,
} from '../../shared/directorySync';
import { silentLogger, type Logger } from '../../shared/log';
import { createServices } from '../../shared/services';
import {
  DELTA_LINKS_TABLE,
  DIRECTORY_GROUPS_TABLE,
  DIRECTORY_INDEX_TABLE,
  DIRECTORY_MEMBERS_TABLE,
  DIRECTORY_USERS_TABLE,
  type StoredUser,
} from '../../shared/storage';
import { startStack, type TestStack } from '../helpers/env';
import { startGraphDirectoryServer, type GraphDirectoryServer } from '../helpers/graphDirectoryServer';
import { DEFAULT_USER, startOidcServer, type OidcServer } from '../helpers/oidcServer';

const GROUP_ID = '0f0e0d0c-0b0a-4909-8807-060504030201';
const ROLES = ['User.Read.All', 'GroupMember.Read.All'];
let idp: OidcServer;
let stack: TestStack;
let graph: GraphDirectoryServer;

beforeAll(async () => {
  idp = await startOidcServer();
  const client = idp.clients[0]!;
  stack = await startStack({
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_TENANT: DEFAULT_USER.tid,
    OAUTH_CLIENT_ID: client.clientId,
    DIRECTORY_SOURCE: 'sync',
    DIRECTORY_SYNC_GROUP_ID: GROUP_ID,
    DIRECTORY_SYNC_GROUP_PREFIX: 'Scan-',
  });
  writeFileSync(stack.secretsFile, JSON.stringify({ 'oauth-client-secret': client.clientSecret }));
});
afterAll(async () => {
  await stack?.stop();
  await idp?.stop();
});

beforeEach(async () => {
  idp.appRoles = [...ROLES];
  // The server checks the token really comes from the identity platform (signature, expiry).
  graph = await startGraphDirectoryServer({ pageSize: 3, membersPerEntry: 2, verifyToken: (t) => idp.verifyJwt(t).payload });
  graph.addGroup({ id: GROUP_ID, displayName: 'ScanRelay users' });
  for (const name of [DIRECTORY_USERS_TABLE, DIRECTORY_GROUPS_TABLE, DIRECTORY_INDEX_TABLE, DIRECTORY_MEMBERS_TABLE, DELTA_LINKS_TABLE]) {
    const table = stack.services.storage.clients.table(name);
    await table.createTable();
    for await (const e of table.listEntities()) await table.deleteEntity(e.partitionKey!, e.rowKey!);
  }
});
afterEach(() => graph.stop());

const storage = () => stack.services.storage;

/** The deps the timer builds, on this test's Graph server, with optional directory settings. */
function deps(
  directory: Partial<Config['directory']['sync']> & { source?: 'scim' | 'sync' } = {},
  log: Logger = silentLogger,
): DirectorySyncDeps {
  const { source, ...sync } = directory;
  const config: Config = {
    ...stack.config,
    delivery: { ...stack.config.delivery, graphBaseUrl: graph.baseUrl },
    directory: { source: source ?? 'sync', sync: { ...stack.config.directory.sync, ...sync } },
  };
  return createDirectorySyncDeps({ config, storage: storage(), applicationTokens: stack.services.oauthDeps(log).applicationTokens, log });
}

async function sync(directory?: Parameters<typeof deps>[0]) {
  const result = await runDirectorySync(deps(directory));
  if (result.status === 'skipped') throw new Error('skipped');
  return result;
}

async function syncUsers(): Promise<Map<string, StoredUser>> {
  const out = new Map<string, StoredUser>();
  for await (const u of storage().directory.users.list({ source: 'sync' })) out.set(u.externalId!, u);
  return out;
}

async function syncGroups() {
  const out = new Map<string, { id: string; displayName: string; members: string[] }>();
  for await (const g of storage().directory.groups.list({ source: 'sync' })) {
    const members: string[] = [];
    for await (const m of storage().directory.members.list(g.id)) members.push(m.value);
    out.set(g.externalId!, { id: g.id, displayName: g.displayName, members: members.sort() });
  }
  return out;
}

function addMembers(count: number, prefix: string, group = GROUP_ID): string[] {
  return Array.from({ length: count }, (_, i) => {
    const id = graph.addUser({
      userPrincipalName: `${prefix}${i}@contoso.example`,
      givenName: `Given${i}`,
      surname: `${prefix}`,
      department: 'Sales',
      employeeId: `E${i}`,
    });
    graph.addMember(group, id);
    return id;
  });
}

it("first run: the group's transitive users, over several pages, as SCIM users with the Entra object id as externalId", async () => {
  const direct = addMembers(7, 'direct');
  const nested = graph.addGroup({ displayName: 'Nested team' });
  graph.addMember(GROUP_ID, nested);
  const inner = addMembers(2, 'inner', nested);
  addMembers(3, 'outsider', graph.addGroup({ displayName: 'Elsewhere' }));

  const result = await sync();
  expect(result).toMatchObject({
    status: 'completed',
    inScope: 9,
    fullRound: { users: true, groups: true },
    users: { created: 9, conflicts: 0 },
  });
  const users = await syncUsers();
  expect([...users.keys()].sort()).toEqual([...direct, ...inner].sort()); // outsiders not stored
  const u = users.get(direct[3]!)!;
  expect(u).toMatchObject({ userName: 'direct3@contoso.example', active: true, source: 'sync' });
  expect(u.resource).toEqual({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
    userName: 'direct3@contoso.example',
    externalId: direct[3],
    active: true,
    displayName: 'direct3',
    name: { givenName: 'Given3', familyName: 'direct' },
    emails: [{ value: 'direct3@contoso.example', type: 'work', primary: true }],
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Sales', employeeNumber: 'E3' },
  });
  // Pages were followed: the round has 12 users (the tenant's), 3 a page.
  const deltaRequests = graph.requests.filter((r) => r.path === '/users/delta');
  expect(deltaRequests.length).toBe(4);
  expect(deltaRequests.filter((r) => r.query.$skiptoken).length).toBe(deltaRequests.length - 1);
  expect(graph.requests.every((r) => r.status === 200)).toBe(true);
  expect(await storage().deltaLinks.get(USERS_STATE)).toMatchObject({ deltaLink: expect.stringContaining('$deltatoken=') });
});

it('a later run follows the deltaLink and reads only changes (a changed attribute, a cleared one)', async () => {
  const ids = addMembers(5, 'user');
  await sync();
  graph.clearRequests();
  graph.updateUser(ids[0]!, { department: 'Finance', jobTitle: 'Lead' });
  graph.updateUser(ids[1]!, { givenName: null });

  const result = await sync();
  expect(result).toMatchObject({
    status: 'completed',
    fullRound: { users: false, groups: false },
    users: { created: 0, updated: 2, deactivated: 0, fetched: 0 },
  });
  const usersDelta = graph.requests.filter((r) => r.path === '/users/delta');
  expect(usersDelta.length).toBeGreaterThan(0);
  expect(usersDelta.every((r) => r.query.$deltatoken || r.query.$skiptoken)).toBe(true); // never a full read
  expect(graph.requests.some((r) => /^\/users\/[^/]+$/.test(r.path) && r.path !== '/users/delta')).toBe(false);
  const users = await syncUsers();
  expect(users.get(ids[0]!)!.resource).toMatchObject({
    title: 'Lead',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Finance', employeeNumber: 'E0' },
  });
  expect(users.get(ids[1]!)!.resource.name).toEqual({ familyName: 'user' }); // cleared in Entra, gone here; the rest kept
  expect(users.get(ids[2]!)!.resource.name).toEqual({ givenName: 'Given2', familyName: 'user' });
});

it('removed from the group, disabled or deleted: inactive and still stored; back in the group (also through a nested group): active again', async () => {
  const [left, disabled, deleted, back] = addMembers(4, 'u');
  const nested = graph.addGroup({ displayName: 'Team' });
  graph.addMember(GROUP_ID, nested);
  await sync();

  graph.removeMember(GROUP_ID, left!);
  graph.updateUser(disabled!, { accountEnabled: false });
  graph.deleteUser(deleted!);
  graph.removeMember(GROUP_ID, back!);
  const second = await sync();
  expect(second.users).toMatchObject({ deactivated: 4, created: 0 });
  let users = await syncUsers();
  expect(users.size).toBe(4);
  for (const id of [left, disabled, deleted, back])
    expect(users.get(id!)).toMatchObject({ active: false, resource: expect.objectContaining({ active: false }) });

  // Re-added through the nested group: unchanged in Entra, so the delta says nothing; read by id.
  graph.addMember(nested, back!);
  const newcomer = graph.addUser({ userPrincipalName: 'newcomer@contoso.example' });
  graph.addMember(nested, newcomer);
  graph.clearRequests();
  const third = await sync();
  expect(third).toMatchObject({ inScope: 3, users: { created: 1 } });
  expect(graph.requests.some((r) => r.path === `/users/${back}`)).toBe(true);
  users = await syncUsers();
  expect(users.get(back!)!.active).toBe(true);
  expect(users.get(newcomer)!.active).toBe(true);
  expect(users.get(disabled!)!.active).toBe(false); // still disabled, still in the group
  expect(users.get(left!)!.active).toBe(false);

  // Enabled again in Entra: the delta reports it.
  graph.updateUser(disabled!, { accountEnabled: true });
  await sync();
  expect((await syncUsers()).get(disabled!)!.active).toBe(true);
});

it('prefix groups: stored with their synced members (nested groups too); member changes, renames and deletions follow', async () => {
  const [a, b, c, d] = addMembers(4, 'm');
  const outsider = graph.addUser({ userPrincipalName: 'outsider@contoso.example' });
  const scanA = graph.addGroup({ displayName: 'Scan-A' });
  const scanB = graph.addGroup({ displayName: 'scan-b' }); // the prefix is case-insensitive
  const other = graph.addGroup({ displayName: 'Other' });
  for (const m of [a, b, c, scanB, outsider]) graph.addMember(scanA, m!);
  graph.addMember(scanB, c!);
  graph.addMember(other, a!);

  await sync();
  const users = await syncUsers();
  const sid = (ext: string) => users.get(ext)!.id;
  let groups = await syncGroups();
  expect([...groups.keys()].sort()).toEqual([scanA, scanB].sort());
  expect(groups.get(scanA)!.members).toEqual([sid(a!), sid(b!), sid(c!), groups.get(scanB)!.id].sort()); // the outsider is not stored
  expect(groups.get(scanB)!.members).toEqual([sid(c!)]);

  graph.removeMember(scanA, b!);
  graph.addMember(scanA, d!);
  graph.renameGroup(scanB, 'Archive-b'); // out of the prefix
  graph.renameGroup(other, 'Scan-Other'); // into it: its members are read
  const late = graph.addUser({ userPrincipalName: 'late@contoso.example' });
  graph.addMember(scanA, late); // in a synced group before it is in scope...
  const result = await sync();
  expect(result.groups).toMatchObject({ created: 1, deleted: 1 });
  expect((await syncUsers()).has(late)).toBe(false); // ...the user is not stored yet, nor its membership
  expect((await syncGroups()).get(scanA)!.members).toEqual([sid(a!), sid(c!), sid(d!)].sort());
  graph.addMember(GROUP_ID, late); // ...now it is: its memberships are read with it
  graph.clearRequests();

  const third = await sync();
  expect(third.groups).toMatchObject({ created: 0, deleted: 0 });
  expect(graph.requests.some((r) => r.path === `/users/${late}/memberOf/microsoft.graph.group`)).toBe(true);
  groups = await syncGroups();
  const users2 = await syncUsers();
  expect([...groups.keys()].sort()).toEqual([scanA, other].sort());
  expect(groups.get(other)!.displayName).toBe('Scan-Other');
  expect(groups.get(other)!.members).toEqual([sid(a!)]);
  expect(groups.get(scanA)!.members).toEqual([sid(a!), sid(c!), sid(d!), users2.get(late)!.id].sort()); // b gone, Scan-b gone
  expect(await storage().directory.members.groupsOf(sid(c!))).toEqual([groups.get(scanA)!.id]);

  graph.deleteGroup(scanA);
  await sync();
  expect([...(await syncGroups()).keys()]).toEqual([other]);
  expect(await storage().directory.members.groupsOf(sid(c!))).toEqual([]);
});

it('waits out a 429 with Retry-After and carries on; a wait longer than a run stops it without storing a deltaLink', async () => {
  addMembers(4, 't');
  graph.throttleNext(1, 1);
  const ok = await sync();
  expect(ok).toMatchObject({ status: 'completed', users: { created: 4 } });
  expect(graph.requests.filter((r) => r.status === 429)).toHaveLength(1);
  expect(graph.requests[1]).toMatchObject({ path: graph.requests[0]!.path, status: 200 }); // the same request, again

  graph.updateUser((await syncUsers()).keys().next().value!, { department: 'Legal' });
  const before = await storage().deltaLinks.get(USERS_STATE);
  graph.throttleNext(1, 3600);
  const stopped = await sync();
  expect(stopped).toMatchObject({ status: 'interrupted', retryAfterSeconds: 3600 });
  expect(await storage().deltaLinks.get(USERS_STATE)).toEqual(before);
  const resumed = await sync();
  expect(resumed).toMatchObject({ status: 'completed', users: { updated: 1 } });
});

it('an expired delta token (400 syncStateNotFound, or 410) drops the link and reads everything again, pruning what Entra no longer has', async () => {
  const [a, b] = addMembers(2, 'x');
  const gone = graph.addGroup({ displayName: 'Scan-Gone' });
  graph.addMember(gone, a!);
  const kept = graph.addGroup({ displayName: 'Scan-Kept' });
  graph.addMember(kept, a!);
  graph.addMember(kept, b!);
  await sync();

  graph.expireDeltaTokens();
  graph.deleteGroup(gone);
  graph.updateUser(b!, { displayName: 'B. Renamed' });
  graph.clearRequests();
  const result = await sync();
  expect(result).toMatchObject({
    status: 'completed',
    fullRound: { users: true, groups: true },
    users: { created: 0, updated: 1 },
    groups: { deleted: 1 },
  });
  expect(
    graph.requests
      .filter((r) => r.status === 400)
      .map((r) => r.path)
      .sort(),
  ).toEqual(['/groups/delta', '/users/delta']);
  expect(graph.requests.some((r) => r.path === '/users/delta' && Object.keys(r.query).join() === '$select')).toBe(true); // a fresh first request
  expect((await syncUsers()).get(b!)!.resource.displayName).toBe('B. Renamed');
  expect([...(await syncGroups()).keys()]).toEqual([kept]);

  graph.expireDeltaTokens({ status: 410 });
  expect(await sync()).toMatchObject({ status: 'completed', fullRound: { users: true, groups: true }, users: { created: 0, updated: 0 } });
});

it('with DIRECTORY_SOURCE=scim the sync does nothing at all', async () => {
  addMembers(2, 's');
  const result = await runDirectorySync(deps({ source: 'scim' }));
  expect(result).toEqual({ status: 'skipped', reason: expect.stringMatching(/DIRECTORY_SOURCE is 'scim'/) });
  expect(graph.requests).toEqual([]);
  expect((await syncUsers()).size).toBe(0);
});

it('without the application permissions: a clear error naming them, and nothing written', async () => {
  addMembers(2, 'p');
  idp.appRoles = [];
  const err = await runDirectorySync(deps()).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DirectorySyncError);
  expect(err).toMatchObject({
    code: 'forbidden',
    message: expect.stringMatching(/403 Authorization_RequestDenied.*User\.Read\.All and GroupMember\.Read\.All/),
  });
  expect((err as Error).message).not.toMatch(/eyJ|Bearer/);
  expect((await syncUsers()).size).toBe(0);
  expect(await storage().deltaLinks.get(USERS_STATE)).toBeUndefined();

  // Only User.Read.All (a new MSAL client, so a new token): the group's members cannot be read.
  idp.appRoles = ['User.Read.All'];
  const tokens = createServices(stack.config).oauthDeps(silentLogger).applicationTokens;
  graph.clearRequests();
  await expect(
    runDirectorySync({ ...deps(), graph: directoryGraphClient(graph.baseUrl, (r, f) => tokens.get(r, f)) }),
  ).rejects.toMatchObject({ code: 'forbidden' });
  expect(graph.requests).toEqual([
    expect.objectContaining({ path: `/groups/${GROUP_ID}/transitiveMembers/microsoft.graph.user`, status: 403 }),
  ]);
  expect((await syncUsers()).size).toBe(0);
});

it('no application token (a wrong client secret): a DirectorySyncError that does not repeat the secret, and no Graph request', async () => {
  const failing = async () => {
    throw new Error('AADSTS7000215: Invalid client secret provided. client_secret=s3cr3t-value');
  };
  const err = await runDirectorySync({ ...deps(), graph: directoryGraphClient(graph.baseUrl, failing) }).catch((e: unknown) => e);
  expect(err).toMatchObject({ name: 'DirectorySyncError', code: 'token', message: expect.stringContaining('AADSTS7000215') });
  expect((err as Error).message).not.toContain('s3cr3t-value');
  expect(graph.requests).toEqual([]);
});

it('an unknown group is a clear error; a userName that a SCIM user already has is skipped and counted, the SCIM user untouched', async () => {
  await expect(sync({ groupId: '11111111-2222-4333-8444-555555555555' })).rejects.toMatchObject({ code: 'group_not_found' });

  const [taken, free] = addMembers(2, 'c');
  const scimUser = await storage().directory.users.create(
    { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'C0@contoso.example', active: true },
    'scim',
  );
  const result = await sync();
  expect(result.users).toMatchObject({ created: 1, conflicts: 1 });
  expect([...(await syncUsers()).keys()]).toEqual([free]);
  expect(await storage().directory.users.get(scimUser.id)).toMatchObject({ source: 'scim', etag: scimUser.etag });
  expect(taken).toBeDefined();
});

it('a UPN reused by a new account after the old one was deleted: the new account gets it, the old row stays, inactive', async () => {
  const [old] = addMembers(1, 'reuse');
  await sync();
  graph.deleteUser(old!, { permanent: true });
  await sync();
  const fresh = graph.addUser({ userPrincipalName: 'REUSE0@contoso.example' });
  graph.addMember(GROUP_ID, fresh);
  const result = await sync();
  expect(result.users).toMatchObject({ created: 1, conflicts: 0 });
  const users = await syncUsers();
  expect(users.get(fresh)).toMatchObject({ userName: 'REUSE0@contoso.example', active: true });
  expect(users.get(old!)).toMatchObject({
    userName: `${old}@removed.invalid`,
    active: false,
    resource: expect.objectContaining({ displayName: 'reuse0' }),
  });
});

it('an ETag conflict (another writer changed the user since it was read) is re-read and the change applied on top', async () => {
  const [u] = addMembers(1, 'e');
  await sync();
  graph.updateUser(u!, { department: 'Audit' });
  const real = storage().directory.users;
  let raced = 0;
  const users: DirectorySyncDeps['users'] = {
    create: real.create.bind(real),
    get: real.get.bind(real),
    list: real.list.bind(real),
    findByUserName: real.findByUserName.bind(real),
    replace: async (current, resource) => {
      if (raced++ === 0) {
        const fresh = (await real.get(current.id))!;
        await real.replace(fresh, { ...fresh.resource, nickName: 'Ed' }); // someone else, in between
      }
      return real.replace(current, resource);
    },
  };
  const result = await runDirectorySync({ ...deps(), users });
  expect(raced).toBe(2); // the stale write lost, the re-read one won
  expect(result).toMatchObject({ status: 'completed', users: { updated: 1 } });
  expect((await syncUsers()).get(u!)!.resource).toMatchObject({
    nickName: 'Ed',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Audit' },
  });
});

it('without a prefix no group is synced: groups synced before are deleted, and a prefix set again starts with a full round', async () => {
  const [a] = addMembers(1, 'n');
  const g = graph.addGroup({ displayName: 'Scan-N' });
  graph.addMember(g, a!);
  await sync();
  expect((await syncGroups()).size).toBe(1);
  graph.clearRequests();
  await sync({ groupPrefix: undefined });
  expect((await syncGroups()).size).toBe(0);
  expect(graph.requests.some((r) => r.path === '/groups/delta')).toBe(false);
  expect(await sync()).toMatchObject({ fullRound: { users: false, groups: true }, groups: { created: 1 } });
  expect((await syncGroups()).get(g)!.members).toHaveLength(1);
});

it("the timer: runs the sync with the app's services, and with SCIM chosen says so once, not on every run", async () => {
  const { directorySync } = await import('../../functions/directorySync');
  const { setServices } = await import('../../shared/services');
  const { InvocationContext } = await import('@azure/functions');
  const logged: string[] = [];
  const context = () =>
    new InvocationContext({
      functionName: 'directorySync',
      logHandler: (level, ...args) => logged.push(`${level} ${JSON.stringify(args)}`),
    });
  const timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
  const [u] = addMembers(1, 'timer');
  const withSource = (source: 'scim' | 'sync') =>
    createServices({
      ...stack.config,
      delivery: { ...stack.config.delivery, graphBaseUrl: graph.baseUrl },
      directory: { ...stack.config.directory, source },
    });
  try {
    setServices(withSource('scim'));
    await directorySync.handler(timer, context());
    await directorySync.handler(timer, context());
    expect(logged.filter((l) => l.includes("DIRECTORY_SOURCE is 'scim'"))).toHaveLength(1);
    expect(graph.requests).toEqual([]);

    setServices(withSource('sync'));
    await directorySync.handler(timer, context());
    expect(logged.some((l) => l.startsWith('information') && l.includes('directorySync: completed'))).toBe(true);
    expect((await syncUsers()).has(u!)).toBe(true);

    idp.appRoles = [];
    setServices(withSource('sync')); // a new MSAL client: no cached token with the old roles
    graph.addUser({ userPrincipalName: 'x@contoso.example' });
    await expect(directorySync.handler(timer, context())).rejects.toThrow(/User\.Read\.All and GroupMember\.Read\.All/);
    expect(logged.some((l) => l.startsWith('error') && l.includes('DirectorySyncError') && !/eyJ|Bearer/.test(l))).toBe(true);
  } finally {
    setServices(undefined);
  }
});
