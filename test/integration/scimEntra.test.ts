/**
 * An Entra ID provisioning cycle replayed against the local host over HTTP, in both of Entra's
 * dialects: the default one (ops "Add"/"Replace"/"Remove", active as "True"/"False", members
 * removed by value array, manager as a bare id) and the compliant one behind the
 * `aadOptscim062020` flag (lower-case ops, booleans, path-less replace with dotted and URN keys,
 * members removed by a filtered path). Request bodies follow Microsoft Learn's "Develop and plan
 * provisioning for a SCIM endpoint" and "Known issues ... SCIM 2.0 protocol compliance".
 */
import { randomUUID } from 'node:crypto';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import {
  ENTERPRISE,
  ERROR,
  filterQuery,
  GROUP_SCHEMA,
  LIST_RESPONSE,
  newToken,
  scimClient,
  USER_SCHEMA,
  type ScimClient,
} from '../helpers/scimClient';

let host: ScanHost;
let scim: ScimClient;

beforeAll(async () => {
  host = await startScanHost();
  const token = newToken();
  await host.services.secrets.set('scim-bearer-token', token);
  scim = scimClient(host.server.url, token);
});
afterAll(() => host.stop());

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function entraUser(tag: string) {
  return {
    schemas: [USER_SCHEMA, ENTERPRISE],
    externalId: randomUUID(),
    userName: `Test_User_${tag}@contoso.com`,
    active: true,
    displayName: `Test User ${tag}`,
    emails: [{ primary: true, type: 'work', value: `test.user.${tag}@contoso.com` }],
    meta: { resourceType: 'User' },
    name: { formatted: 'Test User', familyName: 'User', givenName: 'Test' },
    roles: [],
    [ENTERPRISE]: { department: 'Finance' },
  };
}

const emptyList = { schemas: [LIST_RESPONSE], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] };

type Dialect = 'default' | 'aadOptscim062020';

describe.each<Dialect>(['default', 'aadOptscim062020'])('Entra provisioning cycle (%s dialect)', (dialect) => {
  const compliant = dialect === 'aadOptscim062020';
  const op = (name: 'add' | 'replace' | 'remove') => (compliant ? name : name[0]!.toUpperCase() + name.slice(1));
  const tag = `${dialect}-${randomUUID().slice(0, 8)}`;
  const alice = entraUser(`alice-${tag}`);
  const bob = entraUser(`bob-${tag}`);
  const groupName = `Scanners ${tag}`;
  const ids: Record<string, string> = {};

  it('test connection: a filter on a random userName answers 200 with an empty list', async () => {
    const res = await scim.get(`/Users${filterQuery(`userName eq "${randomUUID()}"`)}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
    expect(res.json).toEqual(emptyList);
  });

  it('looks a user up before creating it (not there yet), then creates it: 201 with id and meta', async () => {
    const lookup = await scim.get(`/Users${filterQuery(`userName eq "${alice.userName}"`)}`);
    expect(lookup.json).toEqual(emptyList);

    for (const [name, body] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      const res = await scim.post('/Users', body);
      expect(res.status).toBe(201);
      const { id, meta, ...rest } = res.json;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(meta).toEqual({
        resourceType: 'User',
        created: expect.stringMatching(ISO),
        lastModified: expect.stringMatching(ISO),
        location: `${scim.base}/Users/${id}`,
        version: expect.stringMatching(/^W\/".+"$/),
      });
      expect(res.headers.location).toBe(meta.location);
      expect(res.headers.etag).toBe(meta.version);
      // Stored as sent, except what RFC 7643 §2.5 calls unassigned (Entra's "roles": []) and meta.
      const { meta: _meta, roles: _roles, ...sent } = body;
      expect(rest).toEqual({ ...sent, schemas: [USER_SCHEMA, ENTERPRISE] });
      ids[name] = id;
    }
  });

  it('refuses the same userName in another letter case: 409 uniqueness', async () => {
    const res = await scim.post('/Users', { ...entraUser('dup'), userName: alice.userName.toUpperCase() });
    expect(res.status).toBe(409);
    expect(res.json).toEqual({
      schemas: [ERROR],
      status: '409',
      scimType: 'uniqueness',
      detail: expect.stringContaining('already in use'),
    });
  });

  it('accepts a second user with the same externalId (externalId is not unique)', async () => {
    const twin = { ...entraUser(`twin-${tag}`), externalId: alice.externalId };
    const res = await scim.post('/Users', twin);
    expect(res.status).toBe(201);
    ids.twin = res.json.id;
    const both = await scim.get(`/Users${filterQuery(`externalId eq "${alice.externalId}"`)}`);
    expect(both.status).toBe(200);
    expect(both.json.totalResults).toBe(2);
    expect(both.json.Resources.map((r: { id: string }) => r.id).sort()).toEqual([ids.alice, ids.twin].sort());
  });

  it('finds users by userName (any case), externalId and work e-mail', async () => {
    for (const filter of [`userName eq "${alice.userName.toLowerCase()}"`, `emails[type eq "work"].value eq "${alice.emails[0]!.value}"`]) {
      const res = await scim.get(`/Users${filterQuery(filter)}`);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ schemas: [LIST_RESPONSE], totalResults: 1, startIndex: 1, itemsPerPage: 1 });
      expect(res.json.Resources[0]).toMatchObject({ id: ids.alice, userName: alice.userName });
    }
  });

  it('creates a group, and finds it by displayName without members', async () => {
    const res = await scim.post('/Groups', {
      schemas: [GROUP_SCHEMA],
      externalId: randomUUID(),
      displayName: groupName,
      meta: { resourceType: 'Group' },
    });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({
      schemas: [GROUP_SCHEMA],
      displayName: groupName,
      meta: { resourceType: 'Group', location: `${scim.base}/Groups/${res.json.id}` },
    });
    ids.group = res.json.id;
    const found = await scim.get(`/Groups${filterQuery(`displayName eq "${groupName}"`, '&excludedAttributes=members')}`);
    expect(found.status).toBe(200);
    expect(found.json.totalResults).toBe(1);
    expect(found.json.Resources[0]).toMatchObject({ id: ids.group, displayName: groupName });
    expect(found.json.Resources[0]).not.toHaveProperty('members');
  });

  it('adds members (value array, $ref null): 204, and the group lists them', async () => {
    const res = await scim.patch(`/Groups/${ids.group}`, [
      {
        op: op('add'),
        path: 'members',
        value: [
          { $ref: null, value: ids.alice },
          { $ref: null, value: ids.bob },
        ],
      },
    ]);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    const group = await scim.get(`/Groups/${ids.group}`);
    expect(group.status).toBe(200);
    expect(group.json.members.map((m: { value: string }) => m.value).sort()).toEqual([ids.alice, ids.bob].sort());
    expect(group.json.members[0]).toMatchObject({ type: 'User', $ref: expect.stringContaining('/Users/') });
    const user = await scim.get(`/Users/${ids.alice}`);
    expect(user.json.groups).toEqual([{ value: ids.group, $ref: `${scim.base}/Groups/${ids.group}`, type: 'direct' }]);
  });

  it('updates attributes', async () => {
    const operations = compliant
      ? [
          {
            op: 'replace',
            value: {
              'name.givenName': 'Alicia',
              'name.familyName': 'Updated',
              [`${ENTERPRISE}:department`]: 'Sales',
              displayName: 'Alicia Updated',
            },
          },
          { op: 'replace', path: 'emails[type eq "work"].value', value: `alicia.${tag}@contoso.com` },
          { op: 'add', path: `${ENTERPRISE}:manager`, value: { value: ids.bob } },
        ]
      : [
          { op: 'Replace', path: 'name.givenName', value: 'Alicia' },
          { op: 'Replace', path: 'name.familyName', value: 'Updated' },
          { op: 'Replace', path: `${ENTERPRISE}:department`, value: 'Sales' },
          { op: 'Replace', path: 'displayName', value: 'Alicia Updated' },
          { op: 'Replace', path: 'emails[type eq "work"].value', value: `alicia.${tag}@contoso.com` },
          { op: 'Add', path: `${ENTERPRISE}:manager`, value: ids.bob },
        ];
    const res = await scim.patch(`/Users/${ids.alice}`, operations);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      id: ids.alice,
      userName: alice.userName,
      displayName: 'Alicia Updated',
      name: { formatted: 'Test User', givenName: 'Alicia', familyName: 'Updated' },
      emails: [{ primary: true, type: 'work', value: `alicia.${tag}@contoso.com` }],
      [ENTERPRISE]: { department: 'Sales', manager: { value: ids.bob } },
      active: true,
    });
    const read = await scim.get(`/Users/${ids.alice}`);
    expect(read.json).toMatchObject({ displayName: 'Alicia Updated', [ENTERPRISE]: { department: 'Sales', manager: { value: ids.bob } } });
    expect(read.json.meta.lastModified >= read.json.meta.created).toBe(true);
  });

  it('takes the manager as [{ value }] too, and removes it', async () => {
    const set = await scim.patch(`/Users/${ids.bob}`, [
      { op: op('replace'), path: `${ENTERPRISE}:manager`, value: [{ value: ids.alice }] },
    ]);
    expect(set.status).toBe(200);
    expect(set.json[ENTERPRISE].manager).toEqual({ value: ids.alice });
    const removed = await scim.patch(`/Users/${ids.bob}`, [{ op: op('remove'), path: `${ENTERPRISE}:manager` }]);
    expect(removed.status).toBe(200);
    expect(removed.json[ENTERPRISE]?.manager).toBeUndefined();
  });

  it('disables the user: still stored and returned, marked inactive', async () => {
    const value = compliant ? false : 'False';
    const res = await scim.patch(`/Users/${ids.alice}`, [{ op: op('replace'), path: 'active', value }]);
    expect(res.status).toBe(200);
    expect(res.json.active).toBe(false);
    const read = await scim.get(`/Users/${ids.alice}`);
    expect(read.status).toBe(200);
    expect(read.json.active).toBe(false);
    const lookup = await scim.get(`/Users${filterQuery(`userName eq "${alice.userName}"`)}`);
    expect(lookup.json.Resources[0]).toMatchObject({ id: ids.alice, active: false });
  });

  it('re-enables the user', async () => {
    const value = compliant ? true : 'True';
    const res = await scim.patch(`/Users/${ids.alice}`, [{ op: op('replace'), path: 'active', value }]);
    expect(res.status).toBe(200);
    expect(res.json.active).toBe(true);
  });

  it('removes a member', async () => {
    const operations = compliant
      ? [{ op: 'remove', path: `members[value eq "${ids.bob}"]` }]
      : [{ op: 'Remove', path: 'members', value: [{ value: ids.bob }] }];
    const res = await scim.patch(`/Groups/${ids.group}`, operations);
    expect(res.status).toBe(204);
    const group = await scim.get(`/Groups/${ids.group}`);
    expect(group.json.members.map((m: { value: string }) => m.value)).toEqual([ids.alice]);
    const bobRead = await scim.get(`/Users/${ids.bob}`);
    expect(bobRead.json.groups).toBeUndefined();
  });

  it('deletes users and the group: 204, then 404', async () => {
    for (const [path, id] of [
      ['/Users', ids.alice],
      ['/Users', ids.bob],
      ['/Users', ids.twin],
      ['/Groups', ids.group],
    ] as const) {
      const res = await scim.delete(`${path}/${id}`);
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      const after = await scim.get(`${path}/${id}`);
      expect(after.status).toBe(404);
      expect(after.json).toEqual({ schemas: [ERROR], status: '404', detail: expect.stringContaining(id!) });
      const again = await scim.delete(`${path}/${id}`);
      expect(again.status).toBe(404);
    }
    const lookup = await scim.get(`/Users${filterQuery(`userName eq "${alice.userName}"`)}`);
    expect(lookup.json).toEqual(emptyList);
  });
});

describe('group provisioning as Microsoft documents it for Entra', () => {
  const ADSCIM_GROUP = 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group';

  it('accepts the create request with the ADSCIM Group schema, and answers with the core schema', async () => {
    const displayName = `ADSCIM ${randomUUID()}`;
    const res = await scim.post('/Groups', {
      schemas: [GROUP_SCHEMA, ADSCIM_GROUP],
      externalId: randomUUID(),
      displayName,
      meta: { resourceType: 'Group' },
    });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ schemas: [GROUP_SCHEMA], displayName });
    const read = await scim.get(`/Groups/${res.json.id}`);
    expect(read.json.schemas).toEqual([GROUP_SCHEMA]);
    expect((await scim.request('PUT', `/Groups/${res.json.id}`, { schemas: [GROUP_SCHEMA, ADSCIM_GROUP], displayName })).status).toBe(200);
    expect((await scim.delete(`/Groups/${res.json.id}`)).status).toBe(204);
  });

  it('names an unknown schema whole in the error detail', async () => {
    const unknown = 'http://schemas.example.com/2006/11/ResourceManagement/SomethingElse/2.0/Group';
    const res = await scim.post('/Groups', { schemas: [GROUP_SCHEMA, unknown], displayName: `Unknown ${randomUUID()}` });
    expect(res.status).toBe(400);
    expect(res.json.detail).toContain(`"${unknown}"`);
    expect(res.json.detail).not.toContain('?');
  });

  it('keeps group displayNames unique regardless of case: 409 uniqueness on create, PUT and PATCH', async () => {
    const name = `Printers ${randomUUID()}`;
    const first = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: name });
    expect(first.status).toBe(201);
    const dup = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: name.toUpperCase() });
    expect(dup.status).toBe(409);
    expect(dup.json).toEqual({ schemas: [ERROR], status: '409', scimType: 'uniqueness', detail: expect.stringContaining('displayName') });

    const other = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: `Other ${randomUUID()}` });
    expect(other.status).toBe(201);
    const patched = await scim.patch(`/Groups/${other.json.id}`, [{ op: 'replace', path: 'displayName', value: name.toLowerCase() }]);
    expect(patched).toMatchObject({ status: 409, json: { scimType: 'uniqueness' } });
    const put = await scim.request('PUT', `/Groups/${other.json.id}`, { schemas: [GROUP_SCHEMA], displayName: name });
    expect(put).toMatchObject({ status: 409, json: { scimType: 'uniqueness' } });
    expect((await scim.get(`/Groups/${other.json.id}`)).json.displayName).toBe(other.json.displayName);

    // A group may change the case of its own name; a deleted group's name is free again.
    expect((await scim.patch(`/Groups/${first.json.id}`, [{ op: 'replace', path: 'displayName', value: name.toLowerCase() }])).status).toBe(
      204,
    );
    expect((await scim.delete(`/Groups/${first.json.id}`)).status).toBe(204);
    const again = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: name });
    expect(again.status).toBe(201);
    for (const id of [other.json.id, again.json.id]) expect((await scim.delete(`/Groups/${id}`)).status).toBe(204);
  });
});
