/**
 * The directory's admin API over real HTTP: GET /api/directory and GET /api/directory/users?find=
 * after provisioning through SCIM (one request refused), POST /api/directory/recount; the admin
 * key is needed, and no answer holds the SCIM token.
 */
import { httpRequest } from '../helpers/http';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import { ENTERPRISE, newToken, scimClient, USER_SCHEMA, type ScimClient } from '../helpers/scimClient';

const ADMIN = 'admin-key-directory-0123456789';
let host: ScanHost;
let token: string;
let scim: ScimClient;

beforeAll(async () => {
  host = await startScanHost();
  token = newToken();
  await host.services.secrets.set('scim-bearer-token', token);
  await host.services.secrets.set('admin-key', ADMIN);
  scim = scimClient(host.server.url, token);
});
afterAll(() => host.stop());

const api = (path: string) => `${host.server.url}/api/${path}`;
const admin = { 'x-functions-key': ADMIN };

it('shows counts, the last SCIM request and its errors, and finds a user with the fields delivery fills', async () => {
  const created = await scim.post('/Users', {
    schemas: [USER_SCHEMA, ENTERPRISE],
    userName: 'Dana.Scully@Contoso.com',
    externalId: 'ext-dana',
    active: true,
    displayName: 'Dana Scully',
    name: { givenName: 'Dana', familyName: 'Scully' },
    emails: [{ value: 'dana@contoso.com', type: 'work', primary: true }],
    [ENTERPRISE]: { department: 'Forensics' },
  });
  expect(created.status).toBe(201);
  expect((await scim.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'X-Files' })).status).toBe(
    201,
  );
  // Refused: the userName is taken.
  expect((await scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'dana.scully@contoso.com', active: true })).status).toBe(409);
  // Refused: a wrong token (it must never appear in what is recorded).
  const wrong = newToken();
  const refused = await httpRequest(`${scim.base}/Users?count=1`, { headers: { authorization: `Bearer ${wrong}` } });
  expect(refused.status).toBe(401);

  const res = await httpRequest(api('directory'), { headers: admin });
  expect(res.status).toBe(200);
  expect(res.json).toMatchObject({
    source: 'scim',
    counts: { users: { total: 1, active: 1, inactive: 0, bySource: { scim: 1, sync: 0 } }, groups: { total: 1 }, complete: true },
    scim: { lastRequest: { method: 'GET', resource: 'Users', path: '/Users?count=1', status: 401, at: expect.any(String) } },
    sync: { runs: [] },
  });
  expect(res.json.scim.errors.map((e: { method: string; status: number; scimType?: string }) => [e.method, e.status, e.scimType])).toEqual([
    ['GET', 401, undefined],
    ['POST', 409, 'uniqueness'],
  ]);
  expect(res.text).not.toContain(token);
  expect(res.text).not.toContain(wrong);

  const found = await httpRequest(api(`directory/users?find=${encodeURIComponent('DANA.SCULLY@contoso.com')}`), { headers: admin });
  expect(found.status).toBe(200);
  expect(found.json.users).toHaveLength(1);
  expect(found.json.users[0]).toMatchObject({
    id: created.json.id,
    userName: 'Dana.Scully@Contoso.com',
    matchedBy: ['userName'],
    delivery: {
      fills: true,
      fields: { userEmail: 'dana@contoso.com', userFirstName: 'Dana', userSurname: 'Scully', userDepartment: 'Forensics' },
    },
  });
  expect((await httpRequest(api('directory/users?find=ext-dana'), { headers: admin })).json.users[0].matchedBy).toEqual(['externalId']);
  expect((await httpRequest(api('directory/users?find=nobody'), { headers: admin })).json).toEqual({ find: 'nobody', users: [] });
  const byStart = await httpRequest(api('directory/users?find=dana%40'), { headers: admin });
  expect(byStart.json.users.map((u: { id: string; matchedBy: string[] }) => [u.id, u.matchedBy])).toEqual([
    [created.json.id, ['mailPrefix']],
  ]);
  const bad = await httpRequest(api('directory/users?find='), { headers: admin });
  expect(bad.status).toBe(400);
  expect(bad.json.error).toBe('invalid_find');
});

it('recounts, audited', async () => {
  const res = await httpRequest(api('directory/recount'), { method: 'POST', headers: admin });
  expect(res.status).toBe(200);
  expect(res.json.counts).toMatchObject({ users: { total: 1 }, groups: { total: 1 }, complete: true, recountedAt: expect.any(String) });
  const entries = await host.services.storage.auditLog.list(new Date(Date.now() - 60_000), new Date(Date.now() + 60_000));
  expect(entries.map((e) => e.action)).toContain('directory.recount');
});

it('refuses without the admin key, or with a wrong one', async () => {
  for (const [path, method] of [
    ['directory', 'GET'],
    ['directory/users?find=x', 'GET'],
    ['directory/recount', 'POST'],
  ] as const) {
    expect((await httpRequest(api(path), { method })).status).toBe(401);
    expect((await httpRequest(api(path), { method, headers: { 'x-functions-key': 'wrong' } })).status).toBe(401);
  }
});
