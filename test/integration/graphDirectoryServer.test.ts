/**
 * The local Graph directory server enforces what the directory sync relies on: bearer tokens and
 * application roles, opaque paging links, delta semantics (changes only, @removed, members@delta),
 * transitive membership, throttling and expired delta tokens.
 */
import { startGraphDirectoryServer, type GraphDirectoryServer } from '../helpers/graphDirectoryServer';

let graph: GraphDirectoryServer;
const ROLES = ['User.Read.All', 'GroupMember.Read.All'];

/** An unsigned JWT-shaped token (this server only decodes by default). */
function token(payload: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(payload)}.sig`;
}
const appToken = (roles = ROLES) => token({ aud: graph.origin, idtyp: 'app', roles });

async function get(pathOrUrl: string, auth: string | null = appToken()) {
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${graph.baseUrl}${pathOrUrl}`;
  const res = await fetch(url, { headers: auth ? { authorization: `Bearer ${auth}` } : {} });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}

/** All pages of a round: the values and the final deltaLink. */
async function all(path: string) {
  const values: Array<Record<string, any>> = [];
  let link: string | undefined = path;
  let pages = 0;
  let deltaLink: string | undefined;
  while (link) {
    const r = await get(link);
    expect(r.status).toBe(200);
    expect(r.body['@odata.nextLink'] && r.body['@odata.deltaLink']).toBeFalsy(); // never both
    values.push(...r.body.value);
    pages++;
    link = r.body['@odata.nextLink'];
    deltaLink = r.body['@odata.deltaLink'];
  }
  return { values, pages, deltaLink };
}

beforeEach(async () => {
  graph = await startGraphDirectoryServer({ pageSize: 2, membersPerEntry: 2 });
});
afterEach(() => graph.stop());

it('needs a bearer token for Graph (401 with WWW-Authenticate), of this audience, with the application roles (403)', async () => {
  const none = await get('/users/delta', null);
  expect(none.status).toBe(401);
  expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
  expect(none.body.error.code).toBe('InvalidAuthenticationToken');
  expect((await get('/users/delta', 'not-a-jwt')).status).toBe(401);
  expect((await get('/users/delta', token({ aud: 'https://elsewhere.example', roles: ROLES }))).status).toBe(401);

  const noRoles = await get('/users/delta', token({ aud: graph.origin, idtyp: 'app' }));
  expect(noRoles.status).toBe(403);
  expect(noRoles.body.error).toMatchObject({
    code: 'Authorization_RequestDenied',
    message: expect.stringMatching(/^Insufficient privileges/),
  });
  const usersOnly = appToken(['User.Read.All']);
  expect((await get('/users/delta', usersOnly)).status).toBe(200);
  expect((await get('/groups/delta', usersOnly)).status).toBe(403);
  const g = graph.addGroup({ displayName: 'G' });
  expect((await get(`/groups/${g}/transitiveMembers`, usersOnly)).status).toBe(403);
  expect((await get(`/groups/${g}/transitiveMembers`, appToken(['GroupMember.Read.All']))).status).toBe(200);
});

it('pages a first delta round with opaque nextLinks, honours $select, and ends with a deltaLink', async () => {
  for (let i = 0; i < 5; i++) graph.addUser({ userPrincipalName: `u${i}@contoso.example`, department: 'Sales' });
  const first = await get('/users/delta?$select=id,userPrincipalName');
  expect(first.body['@odata.nextLink']).toMatch(/\/users\/delta\?\$skiptoken=[\w-]+$/); // the query is inside the token
  const round = await all('/users/delta?$select=id,userPrincipalName');
  expect(round.pages).toBe(3);
  expect(round.values).toHaveLength(5);
  for (const u of round.values) expect(Object.keys(u).sort()).toEqual(['id', 'userPrincipalName']);
  expect(round.deltaLink).toMatch(/\/users\/delta\?\$deltatoken=[\w-]+$/);
  expect((await get('/users/delta?$select=id,nope')).body.error.code).toBe('Request_BadRequest');
  expect((await get('/users/delta?$skiptoken=made-up')).status).toBe(400);
});

it('a deltaLink returns only the changes: new users in full, changed properties only, @removed with its reason', async () => {
  const keep = graph.addUser({ userPrincipalName: 'keep@contoso.example' });
  const change = graph.addUser({ userPrincipalName: 'change@contoso.example', department: 'Sales' });
  const soft = graph.addUser({ userPrincipalName: 'soft@contoso.example' });
  const hard = graph.addUser({ userPrincipalName: 'hard@contoso.example' });
  const { deltaLink } = await all('/users/delta?$select=id,userPrincipalName,department,accountEnabled');
  graph.updateUser(change, { department: 'Finance' });
  graph.updateUser(keep, { jobTitle: 'Boss' }); // not selected: not reported
  graph.deleteUser(soft);
  graph.deleteUser(hard, { permanent: true });
  const added = graph.addUser({ userPrincipalName: 'new@contoso.example' });
  const next = await all(deltaLink!);
  const byId = new Map(next.values.map((v) => [v.id, v]));
  expect(byId.has(keep)).toBe(false);
  expect(byId.get(change)).toEqual({ id: change, department: 'Finance' });
  expect(byId.get(soft)).toEqual({ id: soft, '@removed': { reason: 'changed' } });
  expect(byId.get(hard)).toEqual({ id: hard, '@removed': { reason: 'deleted' } });
  expect(byId.get(added)).toMatchObject({ id: added, userPrincipalName: 'new@contoso.example', accountEnabled: true });
  // Nothing changed since: an empty round with a new deltaLink.
  const quiet = await all(next.deltaLink!);
  expect(quiet.values).toEqual([]);
  expect(quiet.deltaLink).toBeDefined();
});

it('group delta carries members@delta, split over entries; later rounds report member changes with @removed', async () => {
  const users = [0, 1, 2].map((i) => graph.addUser({ userPrincipalName: `m${i}@contoso.example` }));
  const g = graph.addGroup({ displayName: 'Scan-Team' });
  for (const u of users) graph.addMember(g, u);
  const round = await all('/groups/delta?$select=id,displayName,members');
  const entries = round.values.filter((v) => v.id === g);
  expect(entries.length).toBe(2); // 3 members, 2 per entry
  expect(entries[0]).toMatchObject({ displayName: 'Scan-Team' });
  expect(entries[1]).not.toHaveProperty('displayName');
  expect(
    entries
      .flatMap((e) => e['members@delta'])
      .map((m: any) => m.id)
      .sort(),
  ).toEqual([...users].sort());
  expect(entries[0]!['members@delta'][0]['@odata.type']).toBe('#microsoft.graph.user');

  graph.removeMember(g, users[0]!);
  graph.renameGroup(g, 'Scan-Crew');
  const next = await all(round.deltaLink!);
  expect(next.values).toEqual([
    {
      id: g,
      displayName: 'Scan-Crew',
      'members@delta': [{ '@odata.type': '#microsoft.graph.user', id: users[0], '@removed': { reason: 'deleted' } }],
    },
  ]);
  graph.deleteGroup(g);
  expect((await all(next.deltaLink!)).values).toEqual([{ id: g, '@removed': { reason: 'deleted' } }]);
});

it('lists transitive members through nested groups (cast to users), pages by $top, 404 for an unknown group', async () => {
  const outer = graph.addGroup({ displayName: 'Outer' });
  const inner = graph.addGroup({ displayName: 'Inner' });
  const a = graph.addUser({ userPrincipalName: 'a@contoso.example' });
  const b = graph.addUser({ userPrincipalName: 'b@contoso.example' });
  const c = graph.addUser({ userPrincipalName: 'c@contoso.example' });
  graph.addMember(outer, a);
  graph.addMember(outer, inner);
  graph.addMember(inner, b);
  graph.addMember(inner, a); // twice through nesting: listed once
  graph.addMember(inner, outer); // a cycle does not loop
  const users = await all(`/groups/${outer}/transitiveMembers/microsoft.graph.user?$select=id&$top=1`);
  expect(users.pages).toBe(2);
  expect(users.values.map((v) => v.id).sort()).toEqual([a, b].sort());
  expect(users.deltaLink).toBeUndefined();
  expect((await all(`/groups/${outer}/members?$select=id`)).values.map((v) => v.id).sort()).toEqual([a, inner].sort());
  expect((await all(`/users/${a}/memberOf/microsoft.graph.group?$select=id`)).values.map((v) => v.id).sort()).toEqual(
    [outer, inner].sort(),
  );
  expect((await get(`/users/${c}?$select=id,userPrincipalName`)).body).toMatchObject({ id: c, userPrincipalName: 'c@contoso.example' });
  const missing = await get('/groups/00000000-0000-0000-0000-000000000000/transitiveMembers');
  expect(missing.status).toBe(404);
  expect(missing.body.error.code).toBe('Request_ResourceNotFound');
  expect((await get(`/groups/${outer}/members?$top=1000`)).status).toBe(400);
});

it('throttles with 429, Retry-After and the Graph error body; expired delta tokens answer syncStateNotFound (or 410)', async () => {
  graph.throttleNext(2, 7);
  for (let i = 0; i < 2; i++) {
    const r = await get('/users/delta');
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('7');
    expect(r.body.error.code).toBe('TooManyRequests');
  }
  const { deltaLink } = await all('/users/delta');
  graph.expireDeltaTokens();
  const expired = await get(deltaLink!);
  expect(expired.status).toBe(400);
  expect(expired.body.error.code).toBe('syncStateNotFound');
  const again = await all('/users/delta');
  graph.expireDeltaTokens({ status: 410 });
  expect((await get(again.deltaLink!)).status).toBe(410);
  expect(graph.requests.filter((r) => r.status === 429)).toHaveLength(2);
  expect(graph.requests.some((r) => r.path === '/users/delta' && r.query.$deltatoken !== undefined)).toBe(true);
});
