/** The OAuth endpoints over real HTTP through the local host, with the real MSAL and the local OIDC server. */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { InvocationContext } from '@azure/functions';
import { CONNECTION_TYPES, deleteExpiredAuthStates, getAccessToken, newKeyRingSecret, refreshConnection } from '../../shared/oauth';
import { silentLogger } from '../../shared/log';
import { httpRequest } from '../helpers/http';
import { CONSUMER_TENANT_ID, DEFAULT_USER, startOidcServer, type OidcServer } from '../helpers/oidcServer';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

const CLIENT_ID = '3f1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b';
const BASE = 'https://scanrelay.test';
const ADMIN = 'admin-key-0123456789abcdef';

let idp: OidcServer;
let host: ScanHost;

beforeAll(async () => {
  idp = await startOidcServer({
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: 'the-client-secret',
        redirectUris: CONNECTION_TYPES.map((t) => `${BASE}/api/oauth2/client/${t}/authorize-callback`),
      },
    ],
  });
  host = await startScanHost({ OAUTH_AUTHORITY_HOST: idp.baseUrl, OAUTH_CLIENT_ID: CLIENT_ID, PUBLIC_BASE_URL: BASE });
  writeFileSync(
    host.secretsFile,
    JSON.stringify({
      'admin-key': ADMIN,
      'oauth-client-secret': 'the-client-secret',
      'oauth-client-secret-expires-on': new Date(Date.now() + 10 * 86_400_000).toISOString(),
      'token-encryption-keys': newKeyRingSecret('k1'),
    }),
  );
});
afterAll(async () => {
  await host?.stop();
  await idp?.stop();
});
beforeEach(() => {
  idp.setUser({ ...DEFAULT_USER, home: undefined });
  idp.consentRevoked = false;
  idp.withholdOfflineAccess = false;
  idp.forgeNonce = null;
});

const api = (path: string) => `${host.server.url}/api/${path}`;
const admin = { 'x-functions-key': ADMIN };

async function create(body: unknown) {
  return httpRequest(api('connections'), {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(body)),
  });
}

/** The callback URL on our host for the identity platform's redirect to BASE. */
function callbackOnHost(location: string): string {
  const u = new URL(location);
  return `${host.server.url}${u.pathname}${u.search}`;
}

/**
 * Plays the administrator: creates the connection (unless it exists), starts the authorization on
 * the host, signs in at the identity platform and follows its redirect back to the host's callback.
 */
async function authorizeOnHost(id: string, options: { type?: string; loginHint?: string } = {}) {
  if ((await httpRequest(api(`connections/${id}`), { headers: admin })).status === 404) {
    expect((await create({ type: options.type ?? 'smtpMicrosoft', displayName: id, id })).status).toBe(201);
  }
  const hint = options.loginHint ? `&login_hint=${encodeURIComponent(options.loginHint)}` : '';
  const start = await httpRequest(`${api(`oauth2/client/${id}/authorize`)}${hint.replace('&', '?')}`, { headers: admin });
  expect(start.status).toBe(302);
  const authorizeUrl = new URL(start.headers.location as string);
  const signIn = await fetch(authorizeUrl, { redirect: 'manual' });
  expect(signIn.status).toBe(302);
  const callback = await httpRequest(callbackOnHost(signIn.headers.get('location')!));
  return { authorizeUrl, callback };
}

const refreshRequests = () => idp.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
const refreshNow = (id: string, headers: Record<string, string> = admin) =>
  httpRequest(api(`connections/${id}/refresh`), { method: 'POST', headers });
const shown = async (id: string) => (await httpRequest(api(`connections/${id}`), { headers: admin })).json;

describe('connection administration', () => {
  it('needs the admin key', async () => {
    expect((await httpRequest(api('connections'))).status).toBe(401);
    expect((await httpRequest(api('connections'), { headers: { 'x-functions-key': 'wrong' } })).status).toBe(401);
  });

  it('does not take the admin key from the URL (browser history, proxy logs)', async () => {
    const res = await httpRequest(`${api('connections')}?code=${ADMIN}`);
    expect(res).toMatchObject({ status: 401, json: { error: 'unauthorized' } });
    expect((await httpRequest(`${api('oauth2/client/x/authorize')}?code=${ADMIN}`)).status).toBe(401);
  });

  it.each([
    [{ type: 'fax', displayName: 'x' }, 'invalid_type'],
    [{ type: 'smtpMicrosoft', displayName: '' }, 'invalid_display_name'],
    [{ type: 'smtpMicrosoft', displayName: 'x'.repeat(65) }, 'invalid_display_name'],
    [{ type: 'smtpMicrosoft', displayName: 'ok', id: '../etc' }, 'invalid_id'],
  ])('refuses %j with %s', async (body, code) => {
    const res = await create(body);
    expect(res.status).toBe(400);
    expect(res.json.error).toBe(code);
  });

  it('refuses a body that is not JSON', async () => {
    const res = await httpRequest(api('connections'), { method: 'POST', headers: admin, body: Buffer.from('{nope') });
    expect(res).toMatchObject({ status: 400, json: { error: 'invalid_json' } });
  });
});

describe('authorize through the local host', () => {
  it('creates, authorizes, shows and deletes a connection', async () => {
    const created = await create({ type: 'smtpMicrosoft', displayName: 'Scans mailbox', id: 'scans-mailbox' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      id: 'scans-mailbox',
      state: 'pending',
      redirectUri: `${BASE}/api/oauth2/client/smtpMicrosoft/authorize-callback`,
    });

    const start = await httpRequest(`${api('oauth2/client/scans-mailbox/authorize')}?login_hint=alice@contoso.example`, { headers: admin });
    expect(start.status).toBe(302);
    const authorizeUrl = new URL(start.headers.location as string);
    expect(authorizeUrl.origin).toBe(idp.baseUrl);
    expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizeUrl.searchParams.get('scope')).toContain('https://outlook.office.com/SMTP.Send');

    const signIn = await fetch(authorizeUrl, { redirect: 'manual' });
    const back = await httpRequest(callbackOnHost(signIn.headers.get('location')!));
    expect(back.status).toBe(200);
    expect(back.headers['content-type']).toContain('text/html');
    expect(back.text).toContain('alice@contoso.example');
    expect(back.text).toContain('https://outlook.office.com/SMTP.Send');

    // Stored encrypted: no token the identity server issued is in the row in clear.
    const row = await host.services.storage.tokenCaches.read('scans-mailbox');
    for (const rt of idp.issuedRefreshTokens) expect(row!.sealed).not.toContain(rt);
    // No JWT (access or id token) in the clear: a JWT starts with base64url('{"alg"') or ('{"typ"').
    // (Not just 'eyJ': random base64url ciphertext of this length contains that by chance ~3 % of the time.)
    expect(row!.sealed).not.toMatch(/eyJhbGci|eyJ0eXAi/);
    const deps = host.services.oauthDeps(silentLogger);
    await expect(getAccessToken(deps, 'scans-mailbox')).resolves.toMatchObject({ accessToken: expect.any(String) });
    const refreshes = idp.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
    await getAccessToken(deps, 'scans-mailbox', { forceRefresh: true });
    expect(idp.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length).toBe(refreshes + 1);

    const shown = await httpRequest(api('connections/scans-mailbox'), { headers: admin });
    expect(shown.json).toMatchObject({ state: 'authorized', account: { upn: 'alice@contoso.example' } });
    expect(shown.text).not.toContain('eyJ');
    for (const rt of idp.issuedRefreshTokens) expect(shown.text).not.toContain(rt);
    const listed = await httpRequest(api('connections'), { headers: admin });
    expect(listed.json.connections.map((c: { id: string }) => c.id)).toContain('scans-mailbox');
    expect(listed.json.warnings).toEqual([expect.objectContaining({ secret: 'oauth-client-secret', daysLeft: 9 })]);

    expect((await httpRequest(api('connections/scans-mailbox'), { method: 'DELETE', headers: admin })).status).toBe(204);
    expect((await httpRequest(api('connections/scans-mailbox'), { headers: admin })).status).toBe(404);
    expect(await host.services.storage.tokenCaches.read('scans-mailbox')).toBeUndefined();
  });

  it('answers the authorize of an unknown connection with 404', async () => {
    expect((await httpRequest(api('oauth2/client/nope/authorize'), { headers: admin })).status).toBe(404);
  });

  it('shows Entra errors on the callback as a page, and the exact URI to register for AADSTS50011', async () => {
    await create({ type: 'oneDrive', displayName: 'Drive', id: 'drive' });
    const start = await httpRequest(api('oauth2/client/drive/authorize'), { headers: admin });
    const state = new URL(start.headers.location as string).searchParams.get('state')!;
    const page = await httpRequest(
      `${api('oauth2/client/oneDrive/authorize-callback')}?state=${encodeURIComponent(state)}&error=invalid_request&error_description=${encodeURIComponent('AADSTS50011: The redirect URI specified in the request does not match.')}`,
    );
    expect(page.status).toBe(400);
    expect(page.text).toContain(`${BASE}/api/oauth2/client/oneDrive/authorize-callback`);
    expect(page.text).not.toContain('<script');
  });

  it('escapes what it echoes, and refuses a forged state without a stack trace', async () => {
    const page = await httpRequest(`${api('oauth2/client/smtpMicrosoft/authorize-callback')}?state=%3Cscript%3E&code=x`);
    expect(page.status).toBe(400);
    expect(page.text).not.toContain('<script>');
    expect(page.text).not.toMatch(/\n\s+at /);
  });
});

describe('connection ids', () => {
  it('answers a malformed connection id with 400 invalid_id at once, without a storage call', async () => {
    const get = jest.spyOn(host.services.storage.connections, 'get');
    try {
      for (const [method, path] of [
        ['GET', 'connections/%2Fx'],
        ['DELETE', 'connections/%2Fx'],
        ['GET', 'connections/a%23b'],
        ['GET', 'connections/..%5Cx'],
        ['GET', 'connections/Scans-Mailbox'],
        ['GET', `connections/${'a'.repeat(64)}`],
        ['GET', 'oauth2/client/%2Fx/authorize'],
      ] as const) {
        const res = await httpRequest(api(path), { method, headers: admin });
        expect([path, res.status, res.json?.error]).toEqual([path, 400, 'invalid_id']);
        expect(res.json.message).toMatch(/lowercase letters, digits and dashes/);
      }
      expect(get).not.toHaveBeenCalled();
    } finally {
      get.mockRestore();
    }
  });

  it('answers a well-formed id that names no connection with 404', async () => {
    const res = await httpRequest(api('connections/no-such-connection'), { headers: admin });
    expect(res).toMatchObject({ status: 404, json: { error: 'connection_not_found' } });
  });
});

describe('refresh on demand: POST /api/connections/{id}/refresh', () => {
  it('refreshes the connection now and shows it; with consent revoked it says so, and once consent is back it recovers', async () => {
    const id = 'refresh-now';
    expect((await authorizeOnHost(id)).callback.status).toBe(200);
    const before = refreshRequests();
    const res = await refreshNow(id);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      outcome: 'refreshed',
      connection: { id, state: 'authorized', consecutiveFailures: 0, lastRefreshAt: expect.any(String) },
    });
    expect(refreshRequests()).toBe(before + 1);
    for (const rt of idp.issuedRefreshTokens) expect(res.text).not.toContain(rt);
    expect(res.text).not.toContain('eyJ');

    idp.consentRevoked = true;
    const revoked = await refreshNow(id);
    expect(revoked).toMatchObject({
      status: 409,
      json: { error: 'reauthorization_required', message: expect.stringMatching(/AADSTS65001/) },
    });
    expect(await shown(id)).toMatchObject({ state: 'reauthorization_required' });

    // The administrator grants consent again: the stored refresh token works, the connection is back.
    idp.consentRevoked = false;
    const back = await refreshNow(id);
    expect(back.status).toBe(200);
    expect(back.json).toMatchObject({ outcome: 'refreshed', connection: { state: 'authorized', consecutiveFailures: 0 } });
    expect(back.json.connection.lastError).toBeUndefined();
    expect(await shown(id)).toMatchObject({ state: 'authorized' });
  });

  it('keeps the tokens on a transient failure and answers 503 saying the timer retries', async () => {
    const id = 'refresh-busy';
    expect((await authorizeOnHost(id)).callback.status).toBe(200);
    const sealed = (await host.services.storage.tokenCaches.read(id))!.sealed;
    idp.failNextTokenRequests(1, 503);
    const res = await refreshNow(id);
    expect(res).toMatchObject({ status: 503, json: { error: 'refresh_failed', message: expect.stringMatching(/tokens are kept/) } });
    expect((await host.services.storage.tokenCaches.read(id))!.sealed).toBe(sealed);
    expect(await shown(id)).toMatchObject({ state: 'authorized', consecutiveFailures: 1 });
    expect((await refreshNow(id)).status).toBe(200);
  });

  it('needs the admin key, answers 404 for no such connection and 409 for one never authorized', async () => {
    expect((await refreshNow('refresh-none', {})).status).toBe(401);
    expect(await refreshNow('refresh-none')).toMatchObject({ status: 404, json: { error: 'connection_not_found' } });
    expect((await create({ type: 'oneDrive', displayName: 'Never authorized', id: 'refresh-pending' })).status).toBe(201);
    expect(await refreshNow('refresh-pending')).toMatchObject({
      status: 409,
      json: { error: 'reauthorization_required', message: expect.stringMatching(/Authorize/) },
    });
    expect(await refreshNow('%2Fx')).toMatchObject({ status: 400, json: { error: 'invalid_id' } });
  });
});

describe('guest (B2B) accounts', () => {
  const GUEST_OID = '00000000-0000-0000-0000-0000000000c4';
  const HOME = { oid: '00000000-0000-0000-0000-0000000000c3', tid: 'aaaaaaaa-0000-4000-8000-00000000000f' };

  it('keep their connection across refreshes: the tokens are found under the home account client_info names', async () => {
    const id = 'guest-mailbox';
    idp.setUser({ oid: GUEST_OID, upn: 'carol_fabrikam.example#EXT#@contoso.example', name: 'Carol Guest', home: HOME });
    const { callback } = await authorizeOnHost(id);
    expect(callback.status).toBe(200);
    expect(await shown(id)).toMatchObject({ state: 'authorized', account: { oid: GUEST_OID, tid: DEFAULT_USER.tid } });

    const before = refreshRequests();
    const res = await refreshNow(id);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ outcome: 'refreshed', connection: { state: 'authorized' } });
    expect(refreshRequests()).toBe(before + 1);
    // The timer's refresh and the connectors' tokens work the same way.
    const deps = host.services.oauthDeps(silentLogger);
    const c = (await host.services.storage.connections.get(id))!;
    expect(await refreshConnection(deps, c)).toBe('refreshed');
    await expect(getAccessToken(deps, id)).resolves.toMatchObject({ accessToken: expect.any(String) });
    expect(refreshRequests()).toBe(before + 2);
  });

  it('refuses a personal Microsoft account invited as a guest (home tenant: the consumer tenant) and keeps no tokens', async () => {
    const id = 'msa-guest';
    idp.setUser({
      oid: '00000000-0000-0000-0000-0000000000e6',
      upn: 'someone_outlook.com#EXT#@contoso.example',
      name: 'Someone',
      home: { oid: '00000000-0000-0000-0000-0000000000e7', tid: CONSUMER_TENANT_ID },
    });
    const { callback } = await authorizeOnHost(id);
    expect(callback.status).toBe(400);
    expect(callback.text).toContain('Personal Microsoft accounts are not supported');
    expect(await shown(id)).toMatchObject({ state: 'error', lastError: expect.stringMatching(/Personal Microsoft accounts/) });
    expect((await shown(id)).account).toBeUndefined();
    expect(await host.services.storage.tokenCaches.read(id)).toBeUndefined();
  });
});

describe('authorizing a working connection again', () => {
  it.each([
    ['503 (AADSTS90033)', 'again-503', () => idp.failNextTokenRequests(1, 503)],
    ['a network failure', 'again-net', () => idp.dropNextTokenRequests(1)],
  ])('a transient failure of the code exchange (%s) leaves it as it was, and the page says to try again', async (_, id, fail) => {
    expect((await authorizeOnHost(id)).callback.status).toBe(200);
    const before = await shown(id);
    const sealed = (await host.services.storage.tokenCaches.read(id))!.sealed;
    fail();
    const { callback } = await authorizeOnHost(id);
    expect(callback.status).toBe(503);
    expect(callback.text).toMatch(/try again/i);
    expect(callback.text).toMatch(/earlier authorization/);
    expect(await shown(id)).toEqual(before);
    expect((await host.services.storage.tokenCaches.read(id))!.sealed).toBe(sealed);
    expect((await refreshNow(id)).status).toBe(200);
    // And the next attempt goes through.
    expect((await authorizeOnHost(id)).callback.status).toBe(200);
  });

  it('a refused grant still clears the earlier authorization (validation fails: cleared, as the vendor material requires)', async () => {
    const id = 'again-refused';
    expect((await authorizeOnHost(id)).callback.status).toBe(200);
    idp.grantOnly(['https://outlook.office.com/IMAP.AccessAsUser.All']);
    try {
      const { callback } = await authorizeOnHost(id);
      expect(callback.status).toBe(400);
      expect(callback.text).toContain('SMTP.Send was not granted');
    } finally {
      idp.grantOnly(null);
    }
    expect(await shown(id)).toMatchObject({ state: 'error' });
    expect(await host.services.storage.tokenCaches.read(id)).toBeUndefined();
  });
});

describe('offline_access', () => {
  it('a grant without a refresh token is refused with what to grant, and nothing is kept', async () => {
    const id = 'no-offline';
    idp.withholdOfflineAccess = true;
    const { callback } = await authorizeOnHost(id);
    expect(callback.status).toBe(400);
    expect(callback.text).toContain('offline_access');
    expect(callback.text).toMatch(/refresh token/);
    expect(await shown(id)).toMatchObject({ state: 'error', lastError: expect.stringContaining('offline_access') });
    expect(await host.services.storage.tokenCaches.read(id)).toBeUndefined();
    idp.withholdOfflineAccess = false;
    expect((await authorizeOnHost(id)).callback.status).toBe(200);
  });
});

describe('login_hint', () => {
  const SCANS = { oid: '00000000-0000-0000-0000-0000000000f8', tid: DEFAULT_USER.tid, upn: 'scans@contoso.example', name: 'Scans mailbox' };

  it('reaches the identity platform, which signs the hinted account in; without one the account picker is asked for', async () => {
    idp.addAccount(SCANS);
    const { authorizeUrl, callback } = await authorizeOnHost('hinted', { loginHint: SCANS.upn });
    expect(authorizeUrl.searchParams.get('login_hint')).toBe(SCANS.upn);
    expect(authorizeUrl.searchParams.get('prompt')).not.toBe('select_account');
    expect(callback.status).toBe(200);
    expect(await shown('hinted')).toMatchObject({ state: 'authorized', account: { upn: SCANS.upn, oid: SCANS.oid } });

    const plain = await authorizeOnHost('not-hinted');
    expect(plain.authorizeUrl.searchParams.get('prompt')).toBe('select_account');
    expect(plain.authorizeUrl.searchParams.has('login_hint')).toBe(false);
    expect(await shown('not-hinted')).toMatchObject({ account: { upn: DEFAULT_USER.upn } });
  });
});

describe('sign-in state (oauthstates)', () => {
  const sha256 = (v: string) => createHash('sha256').update(v).digest('base64url');
  const stateRows = async () => {
    const rows: Array<Record<string, unknown>> = [];
    const table = host.services.storage.clients.table('oauthstates');
    for await (const e of table.listEntities<Record<string, unknown>>()) rows.push(e);
    return rows;
  };
  const rowOf = async (state: string) => {
    const key = createHash('sha256').update(state, 'utf8').digest('hex');
    return (await stateRows()).find((r) => r.partitionKey === key);
  };
  async function startOnly(id: string) {
    if ((await httpRequest(api(`connections/${id}`), { headers: admin })).status === 404)
      await create({ type: 'oneDrive', displayName: id, id });
    const start = await httpRequest(api(`oauth2/client/${id}/authorize`), { headers: admin });
    expect(start.status).toBe(302);
    return new URL(start.headers.location as string).searchParams;
  }

  it('keeps the PKCE verifier and the nonce encrypted: no value of the row is the verifier of the challenge sent', async () => {
    const params = await startOnly('state-sealed');
    const challenge = params.get('code_challenge')!;
    const nonce = params.get('nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    const row = (await rowOf(params.get('state')!))!;
    expect(row).toBeDefined();
    expect(row).not.toHaveProperty('codeVerifier');
    for (const value of Object.values(row)) {
      if (typeof value !== 'string') continue;
      expect(sha256(value)).not.toBe(challenge);
      expect(value).not.toContain(nonce);
    }
  });

  it("sends a nonce and refuses an ID token whose nonce is another sign-in's", async () => {
    const id = 'nonce-checked';
    expect((await authorizeOnHost(id)).authorizeUrl.searchParams.get('nonce')).toBeTruthy();
    idp.forgeNonce = 'another-sign-in';
    const { callback } = await authorizeOnHost(id);
    expect(callback.status).toBe(400);
    expect(callback.text).toMatch(/nonce/);
    expect(await shown(id)).toMatchObject({ state: 'error' });
  });

  it('expires abandoned sign-ins: the refresh timer deletes rows past their expiry and keeps the others', async () => {
    const abandoned = await startOnly('state-abandoned');
    const fresh = await startOnly('state-fresh');
    const deps = host.services.oauthDeps(silentLogger);
    // Eleven minutes later, both are expired: deleted, and a late callback is refused as unknown.
    const later = new Date(Date.now() + 11 * 60_000);
    expect(await deleteExpiredAuthStates(deps, new Date())).toBe(0);
    expect(await rowOf(abandoned.get('state')!)).toBeDefined();

    // The timer, at its real time: only what has expired goes.
    const { refreshTokens } = await import('../../functions/refreshTokens');
    const logged: string[] = [];
    const context = new InvocationContext({
      functionName: 'refreshTokens',
      logHandler: (level, ...args) => logged.push(`${level} ${JSON.stringify(args)}`),
    });
    await host.services.storage.authStates.save('expired-' + abandoned.get('state'), {
      purpose: 'connection',
      connectionId: 'state-abandoned',
      connectionType: 'oneDrive',
      redirectUri: `${BASE}/api/oauth2/client/oneDrive/authorize-callback`,
      sealed: 'g1.k1.x.y.z',
      expiresAt: new Date(Date.now() - 1000),
    });
    await refreshTokens.handler(
      { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } },
      context,
    );
    expect(await rowOf('expired-' + abandoned.get('state'))).toBeUndefined();
    expect(await rowOf(abandoned.get('state')!)).toBeDefined();
    expect(logged.some((l) => l.includes('expiredSignIns'))).toBe(true);

    expect(await deleteExpiredAuthStates(deps, later)).toBeGreaterThanOrEqual(2);
    expect(await rowOf(abandoned.get('state')!)).toBeUndefined();
    expect(await rowOf(fresh.get('state')!)).toBeUndefined();
  });
});
