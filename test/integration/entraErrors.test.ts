/**
 * Every Entra failure named (issue 16): the test OIDC server answers each AADSTS code the way
 * Entra does (HTTP 400/401 `{ error, error_description: 'AADSTSnnnn: ...', error_codes, ... }`) on
 * a refresh, the code exchange or the authorize redirect, and the connection gets its state, its
 * stable code and a sentence an administrator can act on, naming no secret or token.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  CONNECTION_TYPES,
  completeAuthorization,
  getAccessToken,
  listConnections,
  newKeyRingSecret,
  refreshConnection,
  startAuthorization,
  type OAuthDeps,
} from '../../shared/oauth';
import { ENTRA_ERRORS } from '../../shared/oauth/entraErrors';
import { silentLogger } from '../../shared/log';
import { DEFAULT_USER, startOidcServer, type EntraAnswerCode, type OidcServer } from '../helpers/oidcServer';
import { startStack, type TestStack } from '../helpers/env';

const CLIENT_ID = '3f1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b';
const CLIENT_SECRET = 'the-client-secret-value';
const BASE = 'https://scanrelay.test';

let idp: OidcServer;
let stack: TestStack;
let deps: OAuthDeps;

beforeAll(async () => {
  idp = await startOidcServer({
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: CONNECTION_TYPES.map((t) => `${BASE}/api/oauth2/client/${t}/authorize-callback`),
      },
    ],
  });
  stack = await startStack({ OAUTH_AUTHORITY_HOST: idp.baseUrl, OAUTH_CLIENT_ID: CLIENT_ID, PUBLIC_BASE_URL: BASE });
  writeFileSync(
    stack.secretsFile,
    JSON.stringify({ 'oauth-client-secret': CLIENT_SECRET, 'token-encryption-keys': newKeyRingSecret('k1') }),
  );
  deps = stack.services.oauthDeps(silentLogger);
});
afterAll(async () => {
  await stack?.stop();
  await idp?.stop();
});
beforeEach(() => {
  idp.setUser({ ...DEFAULT_USER, home: undefined });
  idp.failTokenRequestsWith(null);
  idp.failNextAuthorizeWith(null);
});

async function newConnection() {
  const id = randomUUID();
  await stack.services.storage.connections.create({ id, type: 'smtpMicrosoft', tenant: 'organizations', displayName: 'Scans mailbox' });
  return id;
}

async function signIn(connectionId: string): Promise<Record<string, string>> {
  const url = await startAuthorization(deps, { kind: 'key' }, connectionId, DEFAULT_USER.upn);
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return Object.fromEntries(new URL(res.headers.get('location')!).searchParams);
}

async function authorized(): Promise<string> {
  const id = await newConnection();
  expect(await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id))).toMatchObject({ ok: true });
  return id;
}

/** No secret, token or code in what an administrator is shown. */
function expectNoSecrets(text: string) {
  expect(text).not.toContain(CLIENT_SECRET);
  for (const rt of idp.issuedRefreshTokens) expect(text).not.toContain(rt);
  expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
}

const connection = async (id: string) => (await stack.services.storage.connections.get(id))!;

describe('a refresh answered with an AADSTS code', () => {
  const cases: [EntraAnswerCode, string, string, RegExp][] = [
    [700082, 'refresh_token_expired', 'reauthorization_required', /not used for too long/],
    [70043, 'sign_in_frequency', 'reauthorization_required', /sign-in frequency/],
    [50173, 'tokens_revoked', 'reauthorization_required', /revoked/],
    [50076, 'mfa_required', 'reauthorization_required', /Multi-factor authentication/],
    [50079, 'mfa_required', 'reauthorization_required', /Multi-factor authentication/],
    [50158, 'mfa_required', 'reauthorization_required', /Multi-factor authentication/],
    [53003, 'blocked_by_conditional_access', 'reauthorization_required', /Conditional Access policy blocks/],
    [65001, 'consent_missing', 'reauthorization_required', /Grant admin consent/],
    [7000215, 'client_secret_invalid', 'error', /store its value in Key Vault as oauth-client-secret/],
    [
      7000222,
      'client_secret_expired',
      'error',
      /expired\. Create a new one \(npm run app-registration\) and store it in Key Vault as oauth-client-secret/,
    ],
    [700016, 'app_not_in_tenant', 'error', /was not found in the tenant organizations/],
  ];

  it.each(cases)('AADSTS%s: %s, state %s', async (aadsts, code, state, sentence) => {
    const id = await authorized();
    idp.failTokenRequestsWith(aadsts, { grantTypes: ['refresh_token'] });

    const outcome = await refreshConnection(deps, await connection(id), new Date());
    expect(outcome).toBe('reauthorization_required');
    const after = await connection(id);
    expect(after).toMatchObject({ state, lastErrorCode: code });
    expect(after.lastError).toMatch(sentence);
    expect(after.lastError).toContain(`(AADSTS${aadsts})`);
    expectNoSecrets(after.lastError!);
    // The tokens are kept, so a fix (consent back, a new secret) is tried by a refresh.
    expect(after.account?.oid).toBe(DEFAULT_USER.oid);

    // A connector is told the same, without asking the identity platform again.
    const requests = idp.tokenRequests.length;
    const refused = await getAccessToken(deps, id).catch((e: Error) => e);
    expect(refused).toMatchObject({ code: 'reauthorization_required', message: expect.stringMatching(sentence) });
    expect(idp.tokenRequests.length).toBe(requests);
    if (state === 'error') expect((refused as Error).message).toMatch(/cannot get tokens until its app registration is fixed/);

    // The API shows the state, the code and the sentence.
    const view = (await listConnections(deps)).find((c) => c.id === id)!;
    expect(view).toMatchObject({ state, errorCode: code, lastError: after.lastError });

    // Once fixed, an administrator's refresh makes it authorized again with the kept tokens.
    idp.failTokenRequestsWith(null);
    expect(await refreshConnection(deps, await connection(id), new Date(), { retryReauthorization: true })).toBe('refreshed');
    expect(await connection(id)).toMatchObject({ state: 'authorized', lastError: undefined });
    expect((await connection(id)).lastErrorCode).toBeUndefined();
  });
});

describe('a sign-in answered with an AADSTS code', () => {
  it.each([
    [90072, 'wrong_tenant_account', 'reauthorization_required', /is not a member or guest of the connection's tenant \(organizations\)/],
    [65001, 'consent_missing', 'reauthorization_required', /Grant admin consent/],
    [7000215, 'client_secret_invalid', 'error', /oauth-client-secret/],
    [7000222, 'client_secret_expired', 'error', /oauth-client-secret/],
  ] as [EntraAnswerCode, string, string, RegExp][])(
    'on the code exchange, AADSTS%s: %s, state %s',
    async (aadsts, code, state, sentence) => {
      const id = await newConnection();
      const query = await signIn(id);
      idp.failTokenRequestsWith(aadsts, { grantTypes: ['authorization_code'], count: 1 });
      const outcome = await completeAuthorization(deps, 'smtpMicrosoft', query);
      expect(outcome).toMatchObject({ ok: false, status: 400, message: expect.stringMatching(sentence) });
      const after = await connection(id);
      expect(after).toMatchObject({ state, lastErrorCode: code });
      expect(after.lastError).toMatch(sentence);
      expect(after.lastError).toContain(`(AADSTS${aadsts})`);
      expectNoSecrets(after.lastError!);
      expect(await stack.services.storage.tokenCaches.read(id)).toBeUndefined();
    },
  );

  it.each([
    [
      50011,
      'redirect_uri_mismatch',
      'error',
      new RegExp(`Add exactly ${BASE}/api/oauth2/client/smtpMicrosoft/authorize-callback as a Web redirect URI`),
    ],
    [50020, 'wrong_tenant_account', 'reauthorization_required', /invite the account as a guest/],
    [65001, 'consent_missing', 'reauthorization_required', /Grant admin consent/],
  ] as [EntraAnswerCode, string, string, RegExp][])('on the callback, AADSTS%s: %s, state %s', async (aadsts, code, state, sentence) => {
    const id = await newConnection();
    idp.failNextAuthorizeWith(aadsts);
    const query = await signIn(id);
    expect(query.error_description).toMatch(new RegExp(`^AADSTS${aadsts}:`));
    const outcome = await completeAuthorization(deps, 'smtpMicrosoft', query);
    expect(outcome).toMatchObject({ ok: false, status: 400, message: expect.stringMatching(sentence) });
    expect(await connection(id)).toMatchObject({ state, lastErrorCode: code, lastError: expect.stringMatching(sentence) });
    expectNoSecrets((await connection(id)).lastError!);
  });

  it('keeps an earlier authorization (and its state) when a new sign-in is refused', async () => {
    const id = await authorized();
    idp.failNextAuthorizeWith(50020);
    await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id));
    expect(await connection(id)).toMatchObject({ state: 'authorized', lastErrorCode: 'wrong_tenant_account' });
    expect((await getAccessToken(deps, id)).accessToken).toBeTruthy();
  });

  it('a code not in the table keeps its earlier handling', async () => {
    expect(ENTRA_ERRORS.has(70008)).toBe(false);
    const id = await authorized();
    idp.failTokenRequestsWith(70008, { grantTypes: ['refresh_token'] });
    expect(await refreshConnection(deps, await connection(id), new Date())).toBe('reauthorization_required');
    const after = await connection(id);
    expect(after).toMatchObject({
      state: 'reauthorization_required',
      lastError: expect.stringMatching(/no longer accepts its refresh token \(invalid_grant, AADSTS70008\)/),
    });
    expect(after.lastErrorCode).toBeUndefined();
  });
});

describe('last use', () => {
  it('records when a connector last got a token, at most every few minutes, and shows it', async () => {
    const id = await authorized();
    expect((await connection(id)).lastUsedAt).toBeUndefined();
    // The timer's refresh is not a use.
    await refreshConnection(deps, await connection(id), new Date());
    expect((await connection(id)).lastUsedAt).toBeUndefined();

    const before = Date.now();
    await getAccessToken(deps, id);
    const first = await connection(id);
    expect(first.lastUsedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    await getAccessToken(deps, id);
    await getAccessToken(deps, id, { forceRefresh: true });
    const later = await connection(id);
    expect(later.lastUsedAt).toEqual(first.lastUsedAt);
    expect(later.etag).toBe(first.etag); // no write within the granularity

    // Older than the granularity: written again.
    await stack.services.storage.connections.update(later, { lastUsedAt: new Date(Date.now() - 10 * 60_000) });
    await getAccessToken(deps, id);
    expect((await connection(id)).lastUsedAt!.getTime()).toBeGreaterThanOrEqual(before);

    const view = (await listConnections(deps)).find((c) => c.id === id)!;
    expect(view.lastUsedAt).toBe((await connection(id)).lastUsedAt!.toISOString());
  });
});
