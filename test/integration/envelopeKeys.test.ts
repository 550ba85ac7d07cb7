/**
 * Envelope encryption of the token keys against the local Key Vault test server (RSA keys, wrap
 * and unwrap, key versions) and Azurite: the REAL @azure/keyvault-keys clients, the tokenkeys
 * table, and TokenCipher over them. Rows sealed before a rotation still read, a cold instance
 * reads them, and no data key appears in a table, a log line, or a request to the vault.
 */
import { randomUUID } from 'node:crypto';
import { TableServiceClient } from '@azure/data-tables';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { CryptographyClient, type KeyClientOptions } from '@azure/keyvault-keys';
import { loadConfig } from '../../shared/config';
import type { Logger } from '../../shared/log';
import {
  createOAuthDeps,
  EnvelopeKeySource,
  KeyVaultWrappingKey,
  newKeyRingSecret,
  TOKEN_KEYS_SECRET,
  TokenCipher,
  TokenKeyError,
} from '../../shared/oauth';
import { TOKEN_KEYS_TABLE } from '../../shared/storage';
import { startKeyVaultServer, type KeyVaultTestServer } from '../helpers/keyVaultServer';
import { startStack, type TestStack } from '../helpers/env';

const TOKEN = 'test-token-for-the-local-vault';
const KEY = 'token-wrapping';

class FakeCredential implements TokenCredential {
  async getToken(): Promise<AccessToken> {
    return { token: TOKEN, expiresOnTimestamp: Date.now() + 60 * 60 * 1000 };
  }
}
// As in keyvault.test.ts: the test vault's host can never be under vault.azure.net, and a retry would hide a fault.
const clientOptions: KeyClientOptions = { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } };

let vault: KeyVaultTestServer;
let stack: TestStack;
const lines: string[] = [];
const log: Logger = {
  info: (m, p) => void lines.push(`info ${m} ${JSON.stringify(p ?? {})}`),
  warn: (m, p) => void lines.push(`warn ${m} ${JSON.stringify(p ?? {})}`),
  error: (m, p) => void lines.push(`error ${m} ${JSON.stringify(p ?? {})}`),
};

/** A new instance's keys (cold caches), with a clock the test moves. */
function instance(clock = { now: Date.now() }, keyName = KEY) {
  const wrapping = new KeyVaultWrappingKey(vault.url, keyName, new FakeCredential(), clientOptions);
  const source = new EnvelopeKeySource(wrapping, stack.services.storage.tokenKeys, { now: () => clock.now });
  return { clock, source, cipher: new TokenCipher(source) };
}

const unwraps = (since: number) => vault.requests.slice(since).filter((r) => r.path.endsWith('/unwrapkey'));

/** Every row of every table in this Azurite, as text. */
async function allTableText(): Promise<string> {
  const service = TableServiceClient.fromConnectionString(stack.azurite.connectionString, { allowInsecureConnection: true });
  const rows: unknown[] = [];
  for await (const t of service.listTables()) {
    for await (const e of stack.services.storage.clients.table(t.name!).listEntities()) rows.push(e);
  }
  return JSON.stringify(rows);
}

/** The forms a 32-byte key could be written in. */
const forms = (key: Buffer) => [
  key.toString('base64'),
  key.toString('base64url'),
  key.toString('hex'),
  key.toString('base64').slice(0, 40),
];

beforeAll(async () => {
  if (!process.env.NODE_EXTRA_CA_CERTS) throw new Error('Run with NODE_EXTRA_CA_CERTS=test/fixtures/tls/ca.pem (npm test sets it).');
  vault = await startKeyVaultServer({ token: TOKEN, keys: [KEY] });
  stack = await startStack();
});
afterAll(async () => {
  await vault?.close();
  await stack?.stop();
});
afterEach(() => vault.setKeyPermissions(['get', 'create', 'wrapKey', 'unwrapKey']));

describe('the test vault wraps and unwraps like Key Vault', () => {
  it('the SDK wraps remotely (RSA-OAEP-256) and unwraps, and the vault refuses an unwrap without the permission', async () => {
    const version = vault.keyVersions(KEY).at(-1)!;
    const crypto = new CryptographyClient(`${vault.url}/keys/${KEY}/${version}`, new FakeCredential(), clientOptions);
    const secret = Buffer.from('thirty-two bytes of a symmetric!');
    const wrapped = await crypto.wrapKey('RSA-OAEP-256', secret);
    expect(wrapped.keyID).toBe(`${vault.url}/keys/${KEY}/${version}`);
    expect(Buffer.from(wrapped.result).equals(secret)).toBe(false);
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped.result)).result)).toEqual(secret);

    vault.setKeyPermissions(['get', 'wrapKey']);
    await expect(crypto.unwrapKey('RSA-OAEP-256', wrapped.result)).rejects.toMatchObject({ statusCode: 403 });
  });
});

describe('envelope encryption of the token keys', () => {
  it('rows sealed before a rotation still read, also on a cold instance; one data key per version, unwrapped once', async () => {
    const a = instance();
    const before = await a.cipher.encrypt('refresh-token-1', 'tokencaches/c1');
    const v1 = TokenCipher.keyVersion(before)!;
    expect(v1).toBe(vault.keyVersions(KEY).at(-1));
    await stack.services.storage.tokenCaches.write(`c1-${randomUUID()}`, before, undefined);

    // Rotation: Key Vault makes a new version; within the hour the instance still seals with the old one.
    const v2 = vault.rotateKey(KEY);
    expect(TokenCipher.keyVersion(await a.cipher.encrypt('x', 'c'))).toBe(v1);
    a.clock.now += 61 * 60 * 1000;
    const after = await a.cipher.encrypt('refresh-token-2', 'tokencaches/c2');
    expect(TokenCipher.keyVersion(after)).toBe(v2);

    expect(await a.cipher.decrypt(before, 'tokencaches/c1')).toBe('refresh-token-1');
    expect(await a.cipher.decrypt(after, 'tokencaches/c2')).toBe('refresh-token-2');

    // A new instance: nothing in memory, both versions unwrapped by Key Vault once each.
    const b = instance();
    const since = vault.requests.length;
    for (let i = 0; i < 3; i++) {
      expect(await b.cipher.decrypt(before, 'tokencaches/c1')).toBe('refresh-token-1');
      expect(await b.cipher.decrypt(after, 'tokencaches/c2')).toBe('refresh-token-2');
    }
    expect(unwraps(since).map((r) => r.path)).toEqual([`/keys/${KEY}/${v1}/unwrapkey`, `/keys/${KEY}/${v2}/unwrapkey`]);
    // The row's identity still binds the value.
    await expect(b.cipher.decrypt(before, 'tokencaches/c2')).rejects.toThrow('integrity check');

    const rows = [];
    for await (const e of stack.services.storage.clients.table(TOKEN_KEYS_TABLE).listEntities()) rows.push(e);
    expect(rows.map((r) => r.rowKey).sort()).toEqual([v1, v2].sort());
    for (const r of rows) {
      expect(r).toMatchObject({ partitionKey: 'wrapped', alg: 'RSA-OAEP-256', kid: `${vault.url}/keys/${KEY}/${r.rowKey}` });
      expect(Buffer.from(String(r.wrappedKey), 'base64')).toHaveLength(256); // RSA 2048: the wrapped form, not 32 bytes
    }
  });

  it('no data key appears in a table row, a log line, or anything sent to the vault', async () => {
    const deps = createOAuthDeps(
      loadConfig({ AzureWebJobsStorage: stack.azurite.connectionString, KEY_VAULT_URL: vault.url, TOKEN_WRAPPING_KEY: KEY }).oauth,
      stack.services.secrets,
      stack.services.storage,
      { keyVault: { credential: new FakeCredential(), clientOptions } },
    )(log);
    const since = vault.exchanges.length;
    const sealed = await deps.cipher.encrypt('a-refresh-token', 'tokencaches/c3');
    await stack.services.storage.tokenCaches.write(`c3-${randomUUID()}`, sealed, undefined);
    expect(await deps.cipher.decrypt(sealed, 'tokencaches/c3')).toBe('a-refresh-token');

    const source = instance().source;
    const keys = await Promise.all(vault.keyVersions(KEY).map((v) => source.key(v)));
    expect(keys.filter(Boolean).length).toBeGreaterThanOrEqual(2);
    const tables = await allTableText();
    const sentToVault = vault.exchanges
      .slice(since)
      .map((x) => `${x.request.method} ${x.request.path} ${x.body}`)
      .join('\n');
    for (const key of keys.filter((k): k is Buffer => !!k)) {
      expect(key).toHaveLength(32);
      for (const form of forms(key)) {
        expect(tables).not.toContain(form);
        expect(lines.join('\n')).not.toContain(form);
        expect(sentToVault).not.toContain(form);
      }
    }
    // The one place a data key travels: Key Vault's answer to unwrap, over TLS, into the app's memory.
    const answers = vault.exchanges
      .filter((x) => x.request.status === 200 && !x.request.path.endsWith('/unwrapkey'))
      .map((x) => x.response);
    for (const key of keys.filter((k): k is Buffer => !!k)) for (const form of forms(key)) expect(answers.join('\n')).not.toContain(form);
  });

  it('two instances racing for a new version keep one data key', async () => {
    vault.rotateKey(KEY);
    const [x, y] = [instance(), instance()];
    const [sx, sy] = await Promise.all([x.cipher.encrypt('from x', 'ctx'), y.cipher.encrypt('from y', 'ctx')]);
    expect(TokenCipher.keyVersion(sx)).toBe(TokenCipher.keyVersion(sy));
    expect(await x.cipher.decrypt(sy, 'ctx')).toBe('from y');
    expect(await y.cipher.decrypt(sx, 'ctx')).toBe('from x');
    expect(await instance().cipher.decrypt(sx, 'ctx')).toBe('from x');
  });

  it('values sealed with the secret key ring before TOKEN_WRAPPING_KEY was set still read', async () => {
    await stack.services.secrets.set(TOKEN_KEYS_SECRET, newKeyRingSecret('2026-11'));
    const base = { AzureWebJobsStorage: stack.azurite.connectionString };
    const legacy = createOAuthDeps(loadConfig(base).oauth, stack.services.secrets, stack.services.storage)(log);
    const old = await legacy.cipher.encrypt('old token', 'ctx');
    expect(TokenCipher.keyVersion(old)).toBe('2026-11');
    const envelope = createOAuthDeps(
      loadConfig({ ...base, KEY_VAULT_URL: vault.url, TOKEN_WRAPPING_KEY: KEY }).oauth,
      stack.services.secrets,
      stack.services.storage,
      { keyVault: { credential: new FakeCredential(), clientOptions } },
    )(log);
    expect(await envelope.cipher.decrypt(old, 'ctx')).toBe('old token');
    expect(TokenCipher.keyVersion(await envelope.cipher.encrypt('new token', 'ctx'))).toBe(vault.keyVersions(KEY).at(-1));
  });

  it('a missing key and a refused unwrap give errors that say what to fix, and no key', async () => {
    const missing = instance(undefined, 'no-such-key');
    const err = await missing.cipher.encrypt('t', 'c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenKeyError);
    expect((err as Error).message).toMatch(
      /Key Vault key 'no-such-key' \(TOKEN_WRAPPING_KEY\) in https:\/\/localhost:\d+ was not found.*deploy the infrastructure/,
    );

    const sealed = await instance().cipher.encrypt('t', 'c');
    vault.setKeyPermissions(['get', 'wrapKey']);
    const refused = await instance()
      .cipher.decrypt(sealed, 'c')
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TokenKeyError);
    expect((refused as Error).message).toMatch(/may not unwrap with Key Vault key 'token-wrapping'.*Key Vault Crypto User/);

    vault.setKeyPermissions(['wrapKey', 'unwrapKey']);
    const unreadable = await instance()
      .cipher.encrypt('t', 'c')
      .catch((e: unknown) => e);
    expect((unreadable as Error).message).toMatch(/may not read Key Vault key 'token-wrapping'.*Key Vault Crypto User/);
  });

  it('the configuration needs KEY_VAULT_URL with TOKEN_WRAPPING_KEY, and a key name', () => {
    expect(() => loadConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', TOKEN_WRAPPING_KEY: KEY })).toThrow(
      /TOKEN_WRAPPING_KEY.*KEY_VAULT_URL/,
    );
    expect(() =>
      loadConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', KEY_VAULT_URL: vault.url, TOKEN_WRAPPING_KEY: 'not a name' }),
    ).toThrow(/TOKEN_WRAPPING_KEY/);
  });
});
