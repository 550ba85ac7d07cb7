/**
 * The SCIM endpoint's protocol rules and its answers to hostile input, over real HTTP: auth and
 * token rotation, discovery endpoints, paging, attributes/excludedAttributes, If-Match, and bad
 * requests that must be 4xx with a SCIM error body and change nothing.
 */
import { randomUUID } from 'node:crypto';
import { httpRequest } from '../helpers/http';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import {
  ENTERPRISE,
  ERROR,
  filterQuery,
  GROUP_SCHEMA,
  LIST_RESPONSE,
  newToken,
  PATCH_OP,
  scimClient,
  USER_SCHEMA,
  type ScimClient,
} from '../helpers/scimClient';

let host: ScanHost;
let token: string;
let scim: ScimClient;

beforeAll(async () => {
  host = await startScanHost();
  token = newToken();
  await host.services.secrets.set('scim-bearer-token', token);
  scim = scimClient(host.server.url, token);
});
afterAll(() => host.stop());

const user = (userName: string, extra: Record<string, unknown> = {}) => ({ schemas: [USER_SCHEMA], userName, active: true, ...extra });

async function userCount(): Promise<number> {
  return (await scim.get('/Users?count=0')).json.totalResults as number;
}

function expectError(res: { status: number; json: any }, status: number, scimType?: string) {
  expect(res.status).toBe(status);
  expect(res.json).toMatchObject({ schemas: [ERROR], status: String(status), detail: expect.any(String) });
  if (scimType) expect(res.json.scimType).toBe(scimType);
  expect(JSON.stringify(res.json)).not.toMatch(/ at .+\.(ts|js):\d+/); // no stack trace
}

describe('authentication', () => {
  it('answers 401 with a SCIM error and a Bearer challenge when the token is missing or wrong, and changes nothing', async () => {
    const before = await userCount();
    for (const authorization of [
      undefined,
      'Bearer',
      `Bearer ${newToken()}`,
      `Basic ${Buffer.from(`x:${token}`).toString('base64')}`,
      `Bearer ${token}x`,
      `Bearer ${token.slice(0, -1)}`,
    ]) {
      const res = await httpRequest(`${scim.base}/Users`, {
        method: 'POST',
        headers: { 'content-type': 'application/scim+json', ...(authorization ? { authorization } : {}) },
        body: Buffer.from(JSON.stringify(user(`intruder-${randomUUID()}@x`))),
      });
      expectError(res, 401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.text).not.toContain(token);
    }
    expect(await userCount()).toBe(before);
  });

  it('changes nothing on PATCH, PUT or DELETE with a wrong token', async () => {
    const created = await scim.post('/Users', user(`victim-${randomUUID()}@x`, { displayName: 'Kept' }));
    const path = `/Users/${created.json.id}`;
    const intruder = scimClient(host.server.url, newToken());
    expectError(await intruder.patch(path, [{ op: 'replace', path: 'active', value: false }]), 401);
    expectError(await intruder.request('PUT', path, user(created.json.userName, { displayName: 'Changed' })), 401);
    expectError(await intruder.delete(path), 401);
    const after = await scim.get(path);
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({ active: true, displayName: 'Kept', meta: { version: created.json.meta.version } });
  });

  it('accepts the previous token during a rotation, and stops when it is cleared', async () => {
    const next = newToken();
    await host.services.secrets.set('scim-bearer-token-previous', token);
    await host.services.secrets.set('scim-bearer-token', next);
    try {
      expect((await scimClient(host.server.url, token).get('/ServiceProviderConfig')).status).toBe(200);
      expect((await scimClient(host.server.url, next).get('/ServiceProviderConfig')).status).toBe(200);
      await host.services.secrets.set('scim-bearer-token-previous', '');
      expect((await scimClient(host.server.url, token).get('/ServiceProviderConfig')).status).toBe(401);
      expect((await scimClient(host.server.url, next).get('/ServiceProviderConfig')).status).toBe(200);
    } finally {
      await host.services.secrets.set('scim-bearer-token', token);
    }
  });

  it('refuses every request while the configured token is too short to be safe', async () => {
    await host.services.secrets.set('scim-bearer-token', 'short');
    try {
      expectError(await scimClient(host.server.url, 'short').get('/Users'), 401);
    } finally {
      await host.services.secrets.set('scim-bearer-token', token);
    }
  });
});

describe('discovery', () => {
  it('serves ServiceProviderConfig, Schemas and ResourceTypes', async () => {
    const spc = await scim.get('/ServiceProviderConfig');
    expect(spc.status).toBe(200);
    expect(spc.headers['content-type']).toMatch(/^application\/scim\+json/);
    expect(spc.json).toMatchObject({
      patch: { supported: true },
      bulk: { supported: false },
      filter: { supported: true, maxResults: 200 },
      etag: { supported: true },
    });
    expect(spc.json.authenticationSchemes[0].type).toBe('oauthbearertoken');

    const schemas = await scim.get('/Schemas');
    expect(schemas.json.Resources.map((s: { id: string }) => s.id)).toEqual([
      USER_SCHEMA,
      ENTERPRISE,
      'urn:ietf:params:scim:schemas:extension:scanrelay:2.0:User',
      GROUP_SCHEMA,
    ]);
    const userSchema = await scim.get(`/Schemas/${USER_SCHEMA}`);
    expect(userSchema.json.attributes.find((a: { name: string }) => a.name === 'userName')).toMatchObject({
      uniqueness: 'server',
      required: true,
      caseExact: false,
    });

    const types = await scim.get('/ResourceTypes');
    expect(types.json.Resources).toEqual([
      expect.objectContaining({ id: 'User', endpoint: '/Users', schema: USER_SCHEMA }),
      expect.objectContaining({ id: 'Group', endpoint: '/Groups', schema: GROUP_SCHEMA }),
    ]);
    expect((await scim.get('/ResourceTypes/Group')).json.endpoint).toBe('/Groups');
    expectError(await scim.get('/ResourceTypes/Printer'), 404);
    expectError(await scim.get('/Printers'), 404);
  });
});

describe('reading', () => {
  const prefix = `page-${randomUUID().slice(0, 8)}`;
  const ids: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 5; i++) {
      const res = await scim.post(
        '/Users',
        user(`${prefix}-${i}@contoso.com`, { displayName: `Page ${i}`, name: { givenName: `G${i}`, familyName: 'F' } }),
      );
      expect(res.status).toBe(201);
      ids.push(res.json.id);
    }
  });

  it('pages with startIndex and count, with the right totalResults', async () => {
    const seen: string[] = [];
    for (const startIndex of [1, 3, 5]) {
      const res = await scim.get(`/Users${filterQuery(`userName sw "${prefix}"`, `&startIndex=${startIndex}&count=2`)}`);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ schemas: [LIST_RESPONSE], totalResults: 5, startIndex, itemsPerPage: startIndex === 5 ? 1 : 2 });
      seen.push(...res.json.Resources.map((r: { id: string }) => r.id));
    }
    expect(seen.sort()).toEqual([...ids].sort());
    const none = await scim.get(`/Users${filterQuery(`userName sw "${prefix}"`, '&count=0')}`);
    expect(none.json).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] });
    const beyond = await scim.get(`/Users${filterQuery(`userName sw "${prefix}"`, '&startIndex=99')}`);
    expect(beyond.json).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] });
  });

  it('supports attributes and excludedAttributes, case-insensitively', async () => {
    const only = await scim.get(`/Users/${ids[0]}?attributes=USERNAME,name.givenName`);
    expect(only.status).toBe(200);
    expect(only.json).toMatchObject({ id: ids[0], userName: `${prefix}-0@contoso.com`, name: { givenName: 'G0' } });
    expect(only.json.displayName).toBeUndefined();
    expect(only.json.name.familyName).toBeUndefined();
    const without = await scim.get(`/Users/${ids[0]}?excludedAttributes=DisplayName,name`);
    expect(without.json).toMatchObject({ id: ids[0], userName: `${prefix}-0@contoso.com` });
    expect(without.json.displayName).toBeUndefined();
    expect(without.json.name).toBeUndefined();
  });

  it('evaluates the other operators, and/or/not and parentheses', async () => {
    const count = async (filter: string) => (await scim.get(`/Users${filterQuery(filter)}`)).json.totalResults;
    expect(await count(`userName sw "${prefix}" and (displayName eq "Page 1" or displayName eq "page 2")`)).toBe(2);
    expect(await count(`userName sw "${prefix}" and not (displayName eq "Page 1")`)).toBe(4);
    expect(await count(`userName sw "${prefix}" and name.givenName co "3"`)).toBe(1);
    expect(await count(`userName sw "${prefix}" and userName ew "-4@CONTOSO.COM"`)).toBe(1);
    expect(await count(`userName sw "${prefix}" and displayName ne "Page 0"`)).toBe(4);
    expect(await count(`userName sw "${prefix}" and displayName gt "Page 2"`)).toBe(2);
    expect(await count(`userName sw "${prefix}" and displayName le "Page 2"`)).toBe(3);
    expect(await count(`userName sw "${prefix}" and title pr`)).toBe(0);
    expect(await count(`userName sw "${prefix}" and meta.created gt "2000-01-01T00:00:00Z"`)).toBe(5);
  });

  it('treats filter injection attempts as plain values', async () => {
    for (const filter of [
      `userName eq "x' or PartitionKey ne '"`,
      `userName eq "\\" or userName pr or \\""`,
      `userName eq "${prefix}-0@contoso.com\\u0027 or 1 eq 1"`,
    ]) {
      const res = await scim.get(`/Users${filterQuery(filter)}`);
      expect(res.status).toBe(200);
      expect(res.json.totalResults).toBe(0);
    }
  });

  it('answers a malformed, unknown or oversized filter with 400 invalidFilter', async () => {
    for (const filter of [
      'userName eq',
      'userName eq "unterminated',
      '(userName eq "a"',
      'userName zz "a"',
      'userName eq "a" junk',
      'shoeSize eq "42"',
      // Sizes that still fit an HTTP request line (the host answers 431 to longer ones first).
      `${'('.repeat(1000)}userName eq "a"${')'.repeat(1000)}`,
      Array.from({ length: 200 }, (_, i) => `userName eq "u${i}"`).join(' or '),
      `userName eq "${'a'.repeat(5000)}"`,
    ]) {
      const res = await scim.get(`/Users${filterQuery(filter)}`);
      expectError(res, 400, 'invalidFilter');
    }
  });

  it('answers a filter in attributes or excludedAttributes with 400 invalidValue naming it (RFC 7644 §3.10 notation has none)', async () => {
    for (const [param, value] of [
      ['attributes', 'emails[type eq "work"]'],
      ['attributes', 'userName,emails[type eq "work"].value'],
      ['excludedAttributes', 'members[value eq "x"]'],
      ['attributes', 'name givenName'],
    ] as const) {
      const res = await scim.get(`/Users?${param}=${encodeURIComponent(value)}`);
      expectError(res, 400, 'invalidValue');
      expect(res.json.detail).toContain(param);
      expect(res.json.detail).toContain(value.split(',').pop()!.slice(0, 20));
    }
    // Attribute notation itself, URNs with their dots included, is fine.
    expect((await scim.get(`/Users?attributes=${encodeURIComponent(`userName,emails.value,${ENTERPRISE}:department,$ref`)}`)).status).toBe(
      200,
    );
  });

  it('answers bad paging parameters with 400 invalidValue', async () => {
    expectError(await scim.get('/Users?startIndex=abc'), 400, 'invalidValue');
    expectError(await scim.get('/Users?count=-1'), 400, 'invalidValue');
  });
});

describe('writing', () => {
  it('answers 412 to a stale If-Match and applies a current one', async () => {
    const created = await scim.post('/Users', user(`etag-${randomUUID()}@x`));
    const v1 = created.json.meta.version as string;
    const changed = await scim.patch(`/Users/${created.json.id}`, [{ op: 'replace', path: 'displayName', value: 'One' }], {
      'if-match': v1,
    });
    expect(changed.status).toBe(200);
    const v2 = changed.json.meta.version as string;
    expect(v2).not.toBe(v1);
    const stale = await scim.patch(`/Users/${created.json.id}`, [{ op: 'replace', path: 'displayName', value: 'Two' }], { 'if-match': v1 });
    expectError(stale, 412);
    expectError(await scim.delete(`/Users/${created.json.id}`, { 'if-match': v1 }), 412);
    expect((await scim.get(`/Users/${created.json.id}`)).json.displayName).toBe('One');
    expect((await scim.delete(`/Users/${created.json.id}`, { 'if-match': v2 })).status).toBe(204);
  });

  it('replaces a user with PUT, keeping id and created', async () => {
    const created = await scim.post('/Users', user(`put-${randomUUID()}@x`, { displayName: 'Before', title: 'Printer admin' }));
    const res = await scim.request('PUT', `/Users/${created.json.id}`, user(created.json.userName, { displayName: 'After' }));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: created.json.id, displayName: 'After', meta: { created: created.json.meta.created } });
    expect(res.json.title).toBeUndefined();
  });

  it('refuses bad bodies with a 4xx SCIM error and stores nothing', async () => {
    const before = await userCount();
    const userName = `bad-${randomUUID()}@x`;
    const cases: Array<[unknown, number, string | undefined]> = [
      ['{"schemas": [', 400, 'invalidSyntax'],
      ['[]', 400, undefined],
      ['"a string"', 400, undefined],
      [user(userName, { shoeSize: 42 }), 400, undefined],
      [user(userName, { active: 'perhaps' }), 400, 'invalidValue'],
      [user(userName, { name: 'not an object' }), 400, 'invalidValue'],
      [user(userName, { emails: 'a@b' }), 400, 'invalidValue'],
      [{ schemas: [USER_SCHEMA] }, 400, 'invalidValue'],
      [user(''), 400, 'invalidValue'],
      [{ ...user(userName), ['urn:example:unknown:2.0:User']: { x: 1 } }, 400, undefined],
      [JSON.parse(`{"schemas":["${USER_SCHEMA}"],"userName":"${userName}","__proto__":{"polluted":true}}`), 400, undefined],
    ];
    for (const [body, status, scimType] of cases) {
      const res = await scim.post('/Users', body);
      expectError(res, status, scimType);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await userCount()).toBe(before);
  });

  it('refuses an oversized body with 413 and a wrong media type with 415', async () => {
    const big = user(`big-${randomUUID()}@x`, { displayName: 'x'.repeat(2 * 1024 * 1024) });
    expectError(await scim.post('/Users', big), 413);
    const res = await scim.request('POST', '/Users', user(`text-${randomUUID()}@x`), { 'content-type': 'text/plain' });
    expectError(res, 415);
  });

  it('refuses bad PATCH requests', async () => {
    const created = await scim.post('/Users', user(`patch-${randomUUID()}@x`));
    const path = `/Users/${created.json.id}`;
    expectError(
      await scim.request('PATCH', path, { Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] }),
      400,
      'invalidSyntax',
    );
    expectError(await scim.request('PATCH', path, { schemas: [PATCH_OP], Operations: {} }), 400, 'invalidSyntax');
    expectError(await scim.patch(path, [{ op: 'move', path: 'displayName', value: 'x' }]), 400);
    expectError(await scim.patch(path, [{ op: 'replace', path: 'shoeSize', value: 'x' }]), 400, 'invalidPath');
    expectError(await scim.patch(path, [{ op: 'replace', path: 'id', value: 'x' }]), 400, 'mutability');
    expectError(await scim.patch(path, [{ op: 'replace', path: 'active', value: 'maybe' }]), 400, 'invalidValue');
    expectError(await scim.patch(path, [{ op: 'replace', path: 'emails[type eq "work"', value: 'x' }]), 400);
    expectError(await scim.patch('/Users/does-not-exist', [{ op: 'replace', path: 'displayName', value: 'x' }]), 404);
    const after = await scim.get(path);
    expect(after.json.meta.version).toBe(created.json.meta.version);
  });

  it('refuses to add a member that does not exist, and adds none of the batch', async () => {
    const group = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: `G-${randomUUID()}` });
    const member = await scim.post('/Users', user(`m-${randomUUID()}@x`));
    const res = await scim.patch(`/Groups/${group.json.id}`, [
      { op: 'add', path: 'members', value: [{ value: member.json.id }, { value: randomUUID() }] },
    ]);
    expectError(res, 400, 'invalidValue');
    expect((await scim.get(`/Groups/${group.json.id}`)).json.members ?? []).toEqual([]);
  });
});
