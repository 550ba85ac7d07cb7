/**
 * KeyVaultSecretStore over the REAL @azure/keyvault-secrets SecretClient, against the local test
 * vault in test/helpers/keyVaultServer.ts (HTTPS, api-version, challenge-based bearer auth).
 */
import { request } from 'node:https';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { SecretNotFoundError } from '../../shared/errors';
import { KeyVaultSecretStore } from '../../shared/secrets';
import { startKeyVaultServer, VAULT_RESOURCE, type KeyVaultTestServer } from '../helpers/keyVaultServer';

const TOKEN = 'test-token-for-the-local-vault';

/** A credential that hands out a fixed token and records what it was asked for. */
class FakeCredential implements TokenCredential {
  readonly calls: Array<{ scopes: string[]; tenantId?: string }> = [];
  constructor(private readonly token: string) {}
  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.calls.push({ scopes: ([] as string[]).concat(scopes), tenantId: options?.tenantId });
    return { token: this.token, expiresOnTimestamp: Date.now() + 60 * 60 * 1000 };
  }
}

function secretClient(vaultUrl: string, credential: TokenCredential): SecretClient {
  return new SecretClient(vaultUrl, credential, {
    // The SDK checks that the challenge's resource (vault.azure.net) is a parent domain of the
    // vault's host, so a token meant for Key Vault is never sent to some other host. The test vault
    // is https://localhost:<port>, which can never be under vault.azure.net, so the check is
    // switched off here (and only here); everything else in the challenge flow runs as in Azure.
    disableChallengeResourceVerification: true,
    // Fail fast instead of retrying: the vault is local and a retry would only hide a fault.
    retryOptions: { maxRetries: 0 },
  });
}

/** A raw HTTPS request to the test vault (trusting the test CA through NODE_EXTRA_CA_CERTS). */
function rawRequest(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, json: text ? JSON.parse(text) : undefined });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

let vault: KeyVaultTestServer;

beforeAll(async () => {
  if (!process.env.NODE_EXTRA_CA_CERTS) {
    throw new Error(
      'This test needs Node to trust test/fixtures/tls/ca.pem: run it with `npm test` (which sets ' +
        'NODE_EXTRA_CA_CERTS=test/fixtures/tls/ca.pem), e.g. `npm test -- test/integration/keyvault.test.ts`.',
    );
  }
  vault = await startKeyVaultServer({ token: TOKEN, secrets: { 'admin-key': 'the-admin-key', 'extension-shared-secret': 's3cret' } });
});

afterAll(async () => {
  await vault?.close();
});

describe('the test vault itself enforces the protocol', () => {
  it('serves HTTPS with a certificate the test CA vouches for', async () => {
    const res = await rawRequest(`${vault.url}/secrets/admin-key/?api-version=7.5`, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ value: 'the-admin-key', attributes: { enabled: true } });
    expect(res.json.id).toMatch(new RegExp(`^${vault.url}/secrets/admin-key/[0-9a-f]{32}$`));
  });

  it('requires api-version', async () => {
    const res = await rawRequest(`${vault.url}/secrets/admin-key/`, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toContain('api-version');
  });

  it('challenges a request without a token', async () => {
    const res = await rawRequest(`${vault.url}/secrets/admin-key/?api-version=7.5`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer authorization="https://login.microsoftonline.com/${vault.tenantId}", resource="https://vault.azure.net"`,
    );
  });

  it('rejects a wrong token', async () => {
    const res = await rawRequest(`${vault.url}/secrets/admin-key/?api-version=7.5`, { authorization: 'Bearer not-the-token' });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(vault.challenge);
  });

  it('answers 404 SecretNotFound for a missing secret', async () => {
    const res = await rawRequest(`${vault.url}/secrets/no-such-secret/?api-version=7.5`, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('SecretNotFound');
  });
});

describe('KeyVaultSecretStore with the real SecretClient', () => {
  /** A store over a new SecretClient (so a new challenge), and where its requests start. */
  function newStore() {
    const credential = new FakeCredential(TOKEN);
    const client = secretClient(vault.url, credential);
    return {
      credential,
      client,
      store: new KeyVaultSecretStore(vault.url, undefined, client),
      since: vault.requests.length,
      requests(this: { since: number }) {
        return vault.requests.slice(this.since);
      },
    };
  }

  it('gets an existing secret, authenticating through the challenge', async () => {
    const s = newStore();
    await expect(s.store.get('admin-key')).resolves.toBe('the-admin-key');
    expect(s.requests().map((r) => [r.method, r.path, r.auth, r.status])).toEqual([
      ['GET', '/secrets/admin-key/', 'none', 401],
      ['GET', '/secrets/admin-key/', 'bearer', 200],
    ]);
    expect(s.requests().every((r) => r.apiVersion)).toBe(true);
    expect(s.credential.calls.length).toBeGreaterThanOrEqual(1);
    for (const call of s.credential.calls) {
      expect(call.scopes).toEqual([`${VAULT_RESOURCE}/.default`]);
      expect(call.tenantId).toBe(vault.tenantId);
    }
  });

  it('serves a second get from its cache, without a request', async () => {
    const s = newStore();
    await expect(s.store.get('extension-shared-secret')).resolves.toBe('s3cret');
    const before = vault.requests.length;
    await expect(s.store.get('extension-shared-secret')).resolves.toBe('s3cret');
    await expect(s.store.tryGet('extension-shared-secret')).resolves.toBe('s3cret');
    expect(vault.requests.length).toBe(before);
  });

  it('tryGet gives undefined for a missing secret', async () => {
    const s = newStore();
    await expect(s.store.tryGet('missing-secret')).resolves.toBeUndefined();
    expect(s.requests().at(-1)).toMatchObject({ method: 'GET', path: '/secrets/missing-secret/', auth: 'bearer', status: 404 });
  });

  it('get throws SecretNotFoundError naming the secret and the vault for a missing secret', async () => {
    const s = newStore();
    const err = await s.store.get('another-missing-secret').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect((err as SecretNotFoundError).secretName).toBe('another-missing-secret');
    expect((err as Error).message).toContain('another-missing-secret');
    expect((err as Error).message).toContain(vault.url);
    expect(s.requests().at(-1)).toMatchObject({ path: '/secrets/another-missing-secret/', auth: 'bearer', status: 404 });
  });

  it('sets a secret in the vault, then gets it', async () => {
    const s = newStore();
    await s.store.set('new-secret', 'new-value');
    expect(vault.secretValue('new-secret')).toBe('new-value');
    expect(s.requests().at(-1)).toMatchObject({ method: 'PUT', path: '/secrets/new-secret', auth: 'bearer', status: 200 });
    await expect(s.store.get('new-secret')).resolves.toBe('new-value');

    // A store with an empty cache reads it back from the vault.
    const fresh = new KeyVaultSecretStore(vault.url, undefined, s.client);
    const before = vault.requests.length;
    await expect(fresh.get('new-secret')).resolves.toBe('new-value');
    expect(vault.requests.slice(before)).toEqual([
      { method: 'GET', path: '/secrets/new-secret/', apiVersion: expect.any(String), auth: 'bearer', status: 200 },
    ]);
  });

  it('replaces a secret with set (a new version)', async () => {
    vault.putSecret('rotating-secret', 'old');
    const s = newStore();
    await expect(s.store.get('rotating-secret')).resolves.toBe('old');
    await s.store.set('rotating-secret', 'rotated');
    await expect(s.store.get('rotating-secret')).resolves.toBe('rotated');
    const fresh = new KeyVaultSecretStore(vault.url, undefined, s.client);
    await expect(fresh.get('rotating-secret')).resolves.toBe('rotated');
  });

  it('is challenged exactly once over a whole conversation, then sends only bearer requests', async () => {
    const s = newStore();
    await s.store.set('conversation-secret', 'one');
    await s.store.tryGet('no-such-secret');
    await new KeyVaultSecretStore(vault.url, undefined, s.client).get('conversation-secret');
    await new KeyVaultSecretStore(vault.url, undefined, s.client).get('admin-key');
    const seen = s.requests();
    expect(seen.length).toBeGreaterThanOrEqual(5);
    // The first request goes out without a token (and, for a PUT, without its body) and is challenged.
    expect(seen[0]).toMatchObject({ method: 'PUT', auth: 'none', status: 401 });
    expect(seen.slice(1).map((r) => r.auth)).toEqual(seen.slice(1).map(() => 'bearer'));
    expect(seen.filter((r) => r.status === 401)).toHaveLength(1);
  });

  it('rejects a non-kebab-case name before any request', async () => {
    const s = newStore();
    await expect(s.store.get('Bad_Name')).rejects.toThrow(/kebab-case/);
    await expect(s.store.tryGet('-bad')).rejects.toThrow(/kebab-case/);
    await expect(s.store.set('bad name', 'x')).rejects.toThrow(/kebab-case/);
    expect(s.requests()).toEqual([]);
  });
});

describe('KeyVaultSecretStore when the vault refuses the token', () => {
  it('reports the failure instead of calling the secret missing', async () => {
    const credential = new FakeCredential('a-token-the-vault-does-not-accept');
    const store = new KeyVaultSecretStore(vault.url, undefined, secretClient(vault.url, credential));
    const err = await store.tryGet('admin-key').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(SecretNotFoundError);
    expect((err as { statusCode?: number }).statusCode).toBe(401);
    expect(credential.calls.length).toBeGreaterThanOrEqual(1);
  });
});
