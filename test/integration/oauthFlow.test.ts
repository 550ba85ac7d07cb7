/**
 * The OAuth connection flow with the real MSAL against a local Entra-style OIDC server over
 * HTTPS, tokens stored encrypted in Azurite: authorize → callback → getAccessToken → refresh,
 * and the ways it must fail safely.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  CONNECTION_TYPES,
  completeAuthorization,
  getAccessToken,
  newKeyRingSecret,
  refreshConnection,
  refreshDueConnections,
  startAuthorization,
  ReauthorizationRequiredError,
  type OAuthDeps,
} from '../../shared/oauth';
import { silentLogger } from '../../shared/log';
import { CONSUMER_TENANT_ID, DEFAULT_USER, startOidcServer, type OidcServer } from '../helpers/oidcServer';
import { startStack, type TestStack } from '../helpers/env';

const CLIENT_ID = '3f1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b';
const BASE = 'https://scanrelay.test';

let idp: OidcServer;
let stack: TestStack;
let deps: OAuthDeps;

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
  stack = await startStack({
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    PUBLIC_BASE_URL: BASE,
  });
  writeFileSync(
    stack.secretsFile,
    JSON.stringify({ 'oauth-client-secret': 'the-client-secret', 'token-encryption-keys': newKeyRingSecret('k1') }),
  );
  deps = stack.services.oauthDeps(silentLogger);
});
afterAll(async () => {
  await stack?.stop();
  await idp?.stop();
});
beforeEach(() => {
  idp.setUser({ ...DEFAULT_USER, home: undefined });
  idp.denyConsent = false;
  idp.grantOnly(null);
  idp.tokenLifetimeSeconds = 3600;
});

async function newConnection(type: (typeof CONNECTION_TYPES)[number] = 'smtpMicrosoft') {
  const id = randomUUID();
  await stack.services.storage.connections.create({ id, type, tenant: 'organizations', displayName: 'Scans mailbox' });
  return id;
}

/** Plays the administrator's browser: follows the authorize URL to the redirect and reads its query. */
async function signIn(connectionId: string): Promise<Record<string, string>> {
  const url = await startAuthorization(deps, { kind: 'key' }, connectionId, 'alice@contoso.example');
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  return Object.fromEntries(location.searchParams);
}

async function storedCache(id: string) {
  return (await stack.services.storage.tokenCaches.read(id))?.sealed;
}

describe('authorize and callback', () => {
  it('authorizes a connection, stores its tokens encrypted, and hands out access tokens', async () => {
    const id = await newConnection();
    const query = await signIn(id);
    expect(query.code).toBeTruthy();
    const outcome = await completeAuthorization(deps, 'smtpMicrosoft', query);
    expect(outcome).toMatchObject({
      ok: true,
      connection: { state: 'authorized', account: { upn: 'alice@contoso.example', oid: DEFAULT_USER.oid, tid: DEFAULT_USER.tid } },
    });
    expect((await stack.services.storage.connections.get(id))?.grantedScopes).toContain('https://outlook.office.com/SMTP.Send');

    const sealed = await storedCache(id);
    expect(sealed).toBeTruthy();
    for (const rt of idp.issuedRefreshTokens) expect(sealed).not.toContain(rt);
    // No JWT in the clear: one starts with base64url('{"alg"') or ('{"typ"'). (Not just 'eyJ': random
    // base64url ciphertext of this length contains that by chance about 2 % of the time.)
    expect(sealed).not.toMatch(/eyJhbGci|eyJ0eXAi|RefreshToken|secret/);

    const token = await getAccessToken(deps, id);
    expect(token.accessToken.split('.')).toHaveLength(3);
    const refreshesBefore = idp.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
    await getAccessToken(deps, id, { forceRefresh: true });
    expect(idp.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length).toBe(refreshesBefore + 1);
  });

  it('refuses a replayed, forged or misrouted state', async () => {
    const id = await newConnection();
    const query = await signIn(id);
    expect((await completeAuthorization(deps, 'smtpMicrosoft', query)).ok).toBe(true);
    const replay = await completeAuthorization(deps, 'smtpMicrosoft', query);
    expect(replay).toMatchObject({ ok: false, status: 400 });
    const forged = await completeAuthorization(deps, 'smtpMicrosoft', { ...query, state: 'forged' });
    expect(forged).toMatchObject({ ok: false, status: 400 });
    const other = await signIn(id);
    expect(await completeAuthorization(deps, 'oneDrive', other)).toMatchObject({ ok: false, status: 400 });
  });

  it('refuses a replayed code (with a fresh state) and clears the authorization', async () => {
    const id = await newConnection();
    const first = await signIn(id);
    expect((await completeAuthorization(deps, 'smtpMicrosoft', first)).ok).toBe(true);
    const second = await signIn(id);
    const outcome = await completeAuthorization(deps, 'smtpMicrosoft', { code: first.code, state: second.state });
    expect(outcome).toMatchObject({
      ok: false,
      title: 'The identity platform refused the sign-in',
      message: expect.stringMatching(/AADSTS54005/),
    });
    expect(await storedCache(id)).toBeUndefined();
    expect(await stack.services.storage.connections.get(id)).toMatchObject({ state: 'error' });
  });

  it('shows consent denied in words, without throwing', async () => {
    const id = await newConnection();
    idp.denyConsent = true;
    const query = await signIn(id);
    expect(query.error).toBe('access_denied');
    const outcome = await completeAuthorization(deps, 'smtpMicrosoft', query);
    expect(outcome).toMatchObject({ ok: false, title: 'Consent was not given' });
  });

  it('refuses a personal Microsoft account and clears the authorization', async () => {
    const id = await newConnection();
    idp.setUser({ ...DEFAULT_USER, tid: CONSUMER_TENANT_ID, upn: 'someone@outlook.com' });
    const outcome = await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id));
    expect(outcome).toMatchObject({ ok: false, message: expect.stringMatching(/Personal Microsoft accounts/) });
    expect(await storedCache(id)).toBeUndefined();
    expect(await stack.services.storage.connections.get(id)).toMatchObject({ state: 'error', account: undefined });
  });

  it('refuses a grant missing a required scope and clears an earlier authorization', async () => {
    const id = await newConnection();
    expect((await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id))).ok).toBe(true);
    idp.grantOnly(['https://outlook.office.com/IMAP.AccessAsUser.All']);
    const outcome = await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id));
    expect(outcome).toMatchObject({ ok: false, message: expect.stringMatching(/SMTP\.Send was not granted/) });
    expect(await storedCache(id)).toBeUndefined();
    await expect(getAccessToken(deps, id)).rejects.toBeInstanceOf(ReauthorizationRequiredError);
  });
});

describe('refresh', () => {
  async function authorized() {
    const id = await newConnection();
    expect((await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id))).ok).toBe(true);
    return id;
  }

  it('invalid_grant on refresh: reauthorization_required, said clearly', async () => {
    const id = await authorized();
    idp.revokeRefreshTokens({ code: 50173 });
    const c = (await stack.services.storage.connections.get(id))!;
    expect(await refreshConnection(deps, c)).toBe('reauthorization_required');
    expect(await stack.services.storage.connections.get(id)).toMatchObject({
      state: 'reauthorization_required',
      lastError: expect.stringMatching(/AADSTS50173/),
    });
    await expect(getAccessToken(deps, id)).rejects.toMatchObject({ code: 'reauthorization_required' });
  });

  it('a 5xx on refresh keeps the tokens, counts the failure, and the next run succeeds', async () => {
    const id = await authorized();
    const before = await storedCache(id);
    idp.failNextTokenRequests(1, 503);
    const c = (await stack.services.storage.connections.get(id))!;
    expect(await refreshConnection(deps, c)).toBe('failed');
    expect(await storedCache(id)).toBe(before);
    const failed = (await stack.services.storage.connections.get(id))!;
    expect(failed).toMatchObject({ state: 'authorized', consecutiveFailures: 1 });
    expect(failed.nextRefreshAt!.getTime()).toBeGreaterThan(Date.now());

    expect(await refreshConnection(deps, failed)).toBe('refreshed');
    expect(await stack.services.storage.connections.get(id)).toMatchObject({
      state: 'authorized',
      consecutiveFailures: 0,
      lastError: undefined,
    });
  });

  it('two refreshes of one connection at once: both succeed, nothing is lost, the stored refresh token is the newest', async () => {
    const id = await authorized();
    const c = (await stack.services.storage.connections.get(id))!;
    const outcomes = await Promise.all([refreshConnection(deps, c), refreshConnection(deps, c)]);
    expect(outcomes).toEqual(['refreshed', 'refreshed']);
    // A new client loads what was stored: a forced refresh with it must still work.
    await expect(getAccessToken(deps, id, { forceRefresh: true })).resolves.toMatchObject({ accessToken: expect.any(String) });
    const sealed = (await stack.services.storage.tokenCaches.read(id))!.sealed;
    const cache = JSON.parse(await deps.cipher.decrypt(sealed, `tokencache:${id}`)) as { RefreshToken: Record<string, { secret: string }> };
    const stored = Object.values(cache.RefreshToken).map((r) => r.secret);
    expect(stored).toEqual([idp.issuedRefreshTokens[idp.issuedRefreshTokens.length - 1]]);
  });

  it('a refresh whose response carries no new refresh token keeps the one stored', async () => {
    const id = await authorized();
    const storedRefreshTokens = async () =>
      Object.values(
        (
          JSON.parse(await deps.cipher.decrypt((await storedCache(id))!, `tokencache:${id}`)) as {
            RefreshToken: Record<string, { secret: string }>;
          }
        ).RefreshToken,
      ).map((r) => r.secret);
    const before = await storedRefreshTokens();
    expect(before).toHaveLength(1);
    idp.omitRefreshTokenOnRefresh = true;
    try {
      const c = (await stack.services.storage.connections.get(id))!;
      expect(await refreshConnection(deps, c)).toBe('refreshed');
    } finally {
      idp.omitRefreshTokenOnRefresh = false;
    }
    expect(await storedRefreshTokens()).toEqual(before);
    // And it still works for the next refresh.
    await expect(getAccessToken(deps, id, { forceRefresh: true })).resolves.toMatchObject({ accessToken: expect.any(String) });
  });

  it('the timer refreshes due connections only', async () => {
    const id = await authorized();
    const now = new Date();
    const later = new Date(now.getTime() + 25 * 3600_000);
    // Tokens issued by the refresh outlive the next run after `later` (they would be due otherwise).
    idp.tokenLifetimeSeconds = 30 * 3600;
    const counts = await refreshDueConnections(deps, later);
    expect(counts.refreshed).toBeGreaterThanOrEqual(1);
    expect((await stack.services.storage.connections.get(id))?.lastRefreshAt?.getTime()).toBe(later.getTime());
    const again = await refreshDueConnections(deps, new Date(later.getTime() + 60_000));
    expect(again.refreshed).toBe(0);
  });
});

describe('the refresh timer and access-token expiry (hourly schedule, the default)', () => {
  async function authorizedNow() {
    const id = await newConnection();
    expect((await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id))).ok).toBe(true);
    return id;
  }
  const lastRefresh = async (id: string) => (await stack.services.storage.connections.get(id))?.lastRefreshAt?.getTime();

  it('refreshes a connection whose access token expires before the next run', async () => {
    const id = await authorizedNow(); // its access token lives an hour
    // 59 minutes on, the next hourly run comes after the token has expired.
    const in59 = new Date(Date.now() + 59 * 60_000);
    await refreshDueConnections(deps, in59);
    expect(await lastRefresh(id)).toBe(in59.getTime());
  });

  it('leaves one whose access token outlives the next run', async () => {
    idp.tokenLifetimeSeconds = 10 * 3600;
    const id = await authorizedNow();
    const before = await lastRefresh(id);
    await refreshDueConnections(deps, new Date(Date.now() + 59 * 60_000));
    expect(await lastRefresh(id)).toBe(before);
  });
});

describe('key rotation', () => {
  it('reads rows sealed with the old key and seals new writes with the new key', async () => {
    const { createServices } = await import('../../shared/services');
    const { readFileSync } = await import('node:fs');
    const id = await newConnection();
    expect((await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id))).ok).toBe(true);
    expect((await storedCache(id))!.split('.')[1]).toBe('k1');

    const secrets = JSON.parse(readFileSync(stack.secretsFile, 'utf8')) as Record<string, string>;
    const oldRing = JSON.parse(secrets['token-encryption-keys']!) as { keys: Record<string, string> };
    const k2 = (JSON.parse(newKeyRingSecret('k2')) as { keys: Record<string, string> }).keys.k2!;
    secrets['token-encryption-keys'] = JSON.stringify({ current: 'k2', keys: { ...oldRing.keys, k2 } });
    writeFileSync(stack.secretsFile, JSON.stringify(secrets));

    const rotated = createServices(stack.config).oauthDeps(silentLogger);
    await expect(getAccessToken(rotated, id, { forceRefresh: true })).resolves.toMatchObject({ accessToken: expect.any(String) });
    expect((await storedCache(id))!.split('.')[1]).toBe('k2');
    await expect(getAccessToken(rotated, id)).resolves.toMatchObject({ accessToken: expect.any(String) });
  });
});

describe('access tokens kept in the process (issue 17)', () => {
  async function authorized() {
    const id = await newConnection();
    expect((await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id))).ok).toBe(true);
    return id;
  }
  /** Counts the reads of connections' token caches (each one a table read and a decryption). */
  function countingCacheReads() {
    const repo = stack.services.storage.tokenCaches;
    const read = repo.read.bind(repo);
    const counter = { reads: 0, restore: () => void (repo.read = read) };
    repo.read = async (id) => (counter.reads++, read(id));
    return counter;
  }

  it('a second ask is answered without reading the token cache or asking the identity platform; a forced refresh does both', async () => {
    const id = await authorized();
    const counter = countingCacheReads();
    try {
      const requests = idp.tokenRequests.length;
      const first = await getAccessToken(deps, id);
      const reads = counter.reads;
      const second = await getAccessToken(deps, id);
      expect(second.accessToken).toBe(first.accessToken);
      expect(counter.reads).toBe(reads);
      expect(idp.tokenRequests.length).toBe(requests);

      const forced = await getAccessToken(deps, id, { forceRefresh: true });
      expect(forced.accessToken).not.toBe(first.accessToken);
      expect(counter.reads).toBeGreaterThan(reads);
      expect(idp.tokenRequests.length).toBe(requests + 1);
      // The forced one replaced the kept one.
      expect((await getAccessToken(deps, id)).accessToken).toBe(forced.accessToken);
    } finally {
      counter.restore();
    }
  });

  it('other scopes are another token; a connection no longer authorized, or deleted, gets none from the process either', async () => {
    const id = await authorized();
    const kept = await getAccessToken(deps, id);
    const other = await getAccessToken(deps, id, { scopes: ['https://graph.microsoft.com/User.Read'] });
    expect(other.accessToken).not.toBe(kept.accessToken);

    const c = (await stack.services.storage.connections.get(id))!;
    await stack.services.storage.connections.update(c, { state: 'reauthorization_required', lastError: 'revoked.' });
    await expect(getAccessToken(deps, id)).rejects.toMatchObject({ code: 'reauthorization_required' });

    const id2 = await authorized();
    await getAccessToken(deps, id2);
    await stack.services.storage.connections.delete(id2);
    await expect(getAccessToken(deps, id2)).rejects.toMatchObject({ code: 'connection_not_found' });
  });

  it('a token within five minutes of its expiry is not used: a new one is asked for', async () => {
    idp.tokenLifetimeSeconds = 240; // under the five-minute margin from the start
    const id = await authorized();
    const requests = idp.tokenRequests.length;
    const first = await getAccessToken(deps, id);
    const second = await getAccessToken(deps, id);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(idp.tokenRequests.length).toBe(requests + 2);
  });
});
