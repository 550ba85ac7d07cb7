/** The encrypted, ETag-guarded MSAL cache plugin with MSAL's own token cache, against Azurite. */
import { randomBytes, randomUUID } from 'node:crypto';
import { ConfidentialClientApplication, TokenCacheContext } from '@azure/msal-node';
import { EncryptedTableCachePlugin } from '../../shared/oauth/cachePlugin';
import { TokenCipher, parseKeyRing } from '../../shared/oauth/tokenCipher';
import { ConcurrentWriteError } from '../../shared/storage';
import { startStack, type TestStack } from '../helpers/env';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const KEY = randomBytes(32).toString('base64');
const cipher = new TokenCipher(async () => parseKeyRing(JSON.stringify({ current: 'k1', keys: { k1: KEY } })));

/** A cache as MSAL serializes it, holding a refresh token. */
function cacheJson(refreshSecret: string): string {
  const home = 'oid-1.tid-1';
  return JSON.stringify({
    Account: {},
    IdToken: {},
    AccessToken: {},
    RefreshToken: {
      [`${home}-login.microsoftonline.com-refreshtoken-client-1----`]: {
        home_account_id: home,
        environment: 'login.microsoftonline.com',
        credential_type: 'RefreshToken',
        client_id: 'client-1',
        secret: refreshSecret,
      },
    },
    AppMetadata: {},
  });
}

function msalCache() {
  return new ConfidentialClientApplication({ auth: { clientId: 'client-1', clientSecret: 'x' } }).getTokenCache();
}

describe('EncryptedTableCachePlugin', () => {
  it('persists the cache encrypted and loads it back into another client', async () => {
    const id = randomUUID();
    const writer = new EncryptedTableCachePlugin(id, stack.services.storage.tokenCaches, cipher);
    const cache = msalCache();
    cache.deserialize(cacheJson('RT-secret-one'));
    await writer.beforeCacheAccess(new TokenCacheContext(msalCache(), false));
    await writer.afterCacheAccess(new TokenCacheContext(cache, true));

    const row = await stack.services.storage.tokenCaches.read(id);
    expect(row?.sealed).not.toContain('RT-secret-one');
    expect(row?.sealed).not.toContain('RefreshToken');

    const reader = new EncryptedTableCachePlugin(id, stack.services.storage.tokenCaches, cipher);
    const loaded = msalCache();
    await reader.beforeCacheAccess(new TokenCacheContext(loaded, false));
    expect(loaded.serialize()).toContain('RT-secret-one');
  });

  it('does not write when MSAL says nothing changed', async () => {
    const id = randomUUID();
    const plugin = new EncryptedTableCachePlugin(id, stack.services.storage.tokenCaches, cipher);
    await plugin.beforeCacheAccess(new TokenCacheContext(msalCache(), false));
    await plugin.afterCacheAccess(new TokenCacheContext(msalCache(), false));
    expect(await stack.services.storage.tokenCaches.read(id)).toBeUndefined();
  });

  it('refuses to overwrite a cache another writer changed since it was read', async () => {
    const id = randomUUID();
    const repo = stack.services.storage.tokenCaches;
    const first = new EncryptedTableCachePlugin(id, repo, cipher);
    const second = new EncryptedTableCachePlugin(id, repo, cipher);
    const a = msalCache();
    a.deserialize(cacheJson('RT-a'));
    const b = msalCache();
    b.deserialize(cacheJson('RT-b'));
    await first.beforeCacheAccess(new TokenCacheContext(msalCache(), false));
    await second.beforeCacheAccess(new TokenCacheContext(msalCache(), false));
    await first.afterCacheAccess(new TokenCacheContext(a, true));
    await expect(second.afterCacheAccess(new TokenCacheContext(b, true))).rejects.toBeInstanceOf(ConcurrentWriteError);
    const loaded = msalCache();
    await new EncryptedTableCachePlugin(id, repo, cipher).beforeCacheAccess(new TokenCacheContext(loaded, false));
    expect(loaded.serialize()).toContain('RT-a');
  });
});
