/** The directory store on Azurite: unique userName, index rows, stale claims, ETags, memberships. */
import { DIRECTORY_INDEX_TABLE, DirectoryConflictError, indexKey, type Directory } from '../../shared/storage';
import { hasMember } from '../helpers/directory';
import { startStack, type TestStack } from '../helpers/env';

let stack: TestStack;
let dir: Directory;

beforeAll(async () => {
  stack = await startStack();
  dir = stack.services.storage.directory;
});
afterAll(() => stack.stop());

const user = (userName: string, extra: Record<string, unknown> = {}) => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  userName,
  active: true,
  ...extra,
});

describe('users', () => {
  it('finds a user by userName case-insensitively and refuses a duplicate in another case', async () => {
    const u = await dir.users.create(user('Alice@Contoso.com', { externalId: 'ext-a' }), 'scim');
    expect((await dir.users.findByUserName('alice@contoso.COM'))?.id).toBe(u.id);
    await expect(dir.users.create(user('ALICE@contoso.com'), 'scim')).rejects.toBeInstanceOf(DirectoryConflictError);
    expect((await dir.users.findByExternalId('ext-a')).map((x) => x.id)).toEqual([u.id]);
    // externalId is case-exact: a different case is a different value.
    expect(await dir.users.findByExternalId('EXT-A')).toEqual([]);
  });

  it('allows the same externalId on two users', async () => {
    const a = await dir.users.create(user('same-ext-1@x', { externalId: 'shared' }), 'scim');
    const b = await dir.users.create(user('same-ext-2@x', { externalId: 'shared' }), 'scim');
    expect((await dir.users.findByExternalId('shared')).map((x) => x.id).sort()).toEqual([a.id, b.id].sort());
  });

  it('renames: the new userName finds the user, the old one is free again', async () => {
    const u = await dir.users.create(user('before@x'), 'scim');
    const renamed = await dir.users.replace(u, user('after@x'));
    expect(renamed?.userName).toBe('after@x');
    expect(await dir.users.findByUserName('before@x')).toBeUndefined();
    expect((await dir.users.findByUserName('AFTER@x'))?.id).toBe(u.id);
    const reuse = await dir.users.create(user('before@x'), 'scim');
    expect(reuse.id).not.toBe(u.id);
  });

  it('refuses a rename onto a taken userName and keeps both users as they were', async () => {
    const a = await dir.users.create(user('taken-a@x'), 'scim');
    await dir.users.create(user('taken-b@x'), 'scim');
    await expect(dir.users.replace(a, user('Taken-B@x'))).rejects.toBeInstanceOf(DirectoryConflictError);
    expect((await dir.users.findByUserName('taken-a@x'))?.id).toBe(a.id);
  });

  it('guards replace with the ETag: a stale read changes nothing', async () => {
    const u = await dir.users.create(user('etag@x', { displayName: 'One' }), 'scim');
    const first = await dir.users.replace(u, user('etag@x', { displayName: 'Two' }));
    expect(first).toBeDefined();
    expect(await dir.users.replace(u, user('etag@x', { displayName: 'Three' }))).toBeUndefined();
    expect((await dir.users.get(u.id))?.resource.displayName).toBe('Two');
  });

  it('takes over a stale userName claim left by a crash (index row whose owner is gone)', async () => {
    const index = stack.services.storage.clients.table(DIRECTORY_INDEX_TABLE);
    await index.createEntity({ partitionKey: indexKey('username', 'orphan@x'), rowKey: 'unique', owner: 'no-such-user' });
    const u = await dir.users.create(user('orphan@x'), 'scim');
    expect((await dir.users.findByUserName('orphan@x'))?.id).toBe(u.id);
  });

  it('deletes a user with its index rows and memberships', async () => {
    const u = await dir.users.create(user('gone@x', { externalId: 'gone-ext' }), 'scim');
    const g = await dir.groups.create({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'G-del' }, 'scim');
    await dir.members.add(g.id, u.id, 'User');
    await dir.members.removeMember(u.id);
    expect(await dir.users.delete(u.id)).toBe(true);
    expect(await dir.users.get(u.id)).toBeUndefined();
    expect(await dir.users.findByUserName('gone@x')).toBeUndefined();
    expect(await dir.users.findByExternalId('gone-ext')).toEqual([]);
    expect(await hasMember(dir.members, g.id, u.id)).toBe(false);
    expect(await dir.users.delete(u.id)).toBe(false);
  });

  it('lists by source and active state', async () => {
    await dir.users.create(user('synced-inactive@x', { active: false }), 'sync');
    const names: string[] = [];
    for await (const u of dir.users.list({ source: 'sync', active: false })) names.push(u.userName);
    expect(names).toEqual(['synced-inactive@x']);
  });

  it('does not read ids that cannot be table keys', async () => {
    expect(await dir.users.get("x'/#?")).toBeUndefined();
  });
});

describe('groups and members', () => {
  it('finds groups by displayName (not unique among synced groups) and keeps members as rows', async () => {
    const g1 = await dir.groups.create({ displayName: 'Scanners' }, 'sync');
    const g2 = await dir.groups.create({ displayName: 'scanners' }, 'sync');
    expect((await dir.groups.findByDisplayName('SCANNERS')).map((g) => g.id).sort()).toEqual([g1.id, g2.id].sort());
    const users = await Promise.all([1, 2, 3].map((i) => dir.users.create(user(`member${i}@x`), 'scim')));
    for (const u of users) await dir.members.add(g1.id, u.id, 'User');
    await dir.members.add(g1.id, users[0]!.id, 'User'); // twice: no change
    await dir.members.add(g1.id, g2.id, 'Group');
    const listed: string[] = [];
    for await (const m of dir.members.list(g1.id)) listed.push(`${m.type}:${m.value}`);
    expect(listed.sort()).toEqual([...users.map((u) => `User:${u.id}`), `Group:${g2.id}`].sort());
    expect(await dir.members.groupsOf(users[1]!.id)).toEqual([g1.id]);
    await dir.members.remove(g1.id, users[1]!.id);
    expect(await dir.members.groupsOf(users[1]!.id)).toEqual([]);
    expect(await dir.members.removeAllOf(g1.id)).toBe(3);
    expect(await dir.members.groupsOf(users[0]!.id)).toEqual([]);
    const after: string[] = [];
    for await (const m of dir.members.list(g1.id)) after.push(m.value);
    expect(after).toEqual([]);
  });

  it('keeps the displayNames of SCIM groups unique regardless of case, and lets synced groups repeat them', async () => {
    const g = await dir.groups.create({ displayName: 'Front Desk' }, 'scim');
    await expect(dir.groups.create({ displayName: 'FRONT DESK' }, 'scim')).rejects.toMatchObject({
      name: 'DirectoryConflictError',
      attribute: 'displayName',
    });
    const synced = await dir.groups.create({ displayName: 'front desk' }, 'sync');
    expect((await dir.groups.findByDisplayName('Front Desk')).map((x) => x.id).sort()).toEqual([g.id, synced.id].sort());
    const other = await dir.groups.create({ displayName: 'Back Office' }, 'scim');
    await expect(dir.groups.replace(other, { displayName: 'front desk' })).rejects.toBeInstanceOf(DirectoryConflictError);
    expect(await dir.groups.replace(g, { displayName: 'Front desk' })).toMatchObject({ displayName: 'Front desk' });
    expect(await dir.groups.delete(g.id)).toBe(true);
    await expect(dir.groups.create({ displayName: 'FRONT DESK' }, 'scim')).resolves.toMatchObject({ displayName: 'FRONT DESK' });
  });
});
