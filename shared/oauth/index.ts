/**
 * OAuth 2.0 connections to Microsoft Entra ID: the permissions manifest, the authorize flow,
 * encrypted token storage, access tokens and their refresh.
 */
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { KeyClientOptions } from '@azure/keyvault-keys';
import type { INetworkModule } from '@azure/msal-node';
import type { OAuthConfig } from '../config';
import type { Logger } from '../log';
import type { SecretStore } from '../secrets';
import type { Storage } from '../storage';
import type { AuthorizeDeps } from './authorize';
import { ApplicationTokens } from './applicationToken';
import { MsalClients } from './msalClient';
import { EnvelopeKeySource, KeyVaultWrappingKey } from './envelopeKeys';
import { TOKEN_KEYS_SECRET, TokenCipher, keyRingSource, parseKeyRing, type KeyRing, type KeySource } from './tokenCipher';
import { AccessTokenCache, type TokenDeps } from './tokens';

export type OAuthDeps = AuthorizeDeps & TokenDeps & { secrets: Pick<SecretStore, 'expiresOn'>; applicationTokens: ApplicationTokens };

/** How long a key ring read from the secret store is reused. */
const KEY_RING_CACHE_MS = 5 * 60 * 1000;

export function createOAuthDeps(
  config: OAuthConfig,
  secrets: SecretStore,
  storage: Storage,
  options: {
    networkClient?: INetworkModule;
    /** Key Vault access for the wrapping key (tests: their credential and client options). */
    keyVault?: { credential?: TokenCredential; clientOptions?: KeyClientOptions };
  } = {},
): (log: Logger) => OAuthDeps {
  let ring: { value: Promise<KeyRing>; until: number } | undefined;
  const secretRing = keyRingSource(() => {
    if (!ring || ring.until < Date.now()) {
      const value = secrets.get(TOKEN_KEYS_SECRET).then(parseKeyRing);
      value.catch(() => (ring = undefined));
      ring = { value, until: Date.now() + KEY_RING_CACHE_MS };
    }
    return ring.value;
  });
  let keys: KeySource = secretRing;
  const wrapping = config.tokenWrappingKey;
  if (wrapping) {
    const credential = options.keyVault?.credential ?? new DefaultAzureCredential({ managedIdentityClientId: wrapping.clientId });
    keys = new EnvelopeKeySource(
      new KeyVaultWrappingKey(wrapping.vaultUrl, wrapping.keyName, credential, options.keyVault?.clientOptions),
      storage.tokenKeys,
      // Values sealed with the secret key ring before TOKEN_WRAPPING_KEY was set, while that secret exists.
      { fallback: { description: secretRing.description, current: () => secretRing.current(), key: (v) => legacyKey(secrets, v) } },
    );
  }
  const cipher = new TokenCipher(keys);
  const msal = new MsalClients(config, secrets, options.networkClient);
  const applicationTokens = new ApplicationTokens(msal, config.tenant);
  const accessTokens = new AccessTokenCache();
  return (log) => ({
    config,
    auditLog: storage.auditLog,
    connections: storage.connections,
    authStates: storage.authStates,
    tokenCaches: storage.tokenCaches,
    cipher,
    msal,
    secrets,
    applicationTokens,
    accessTokens,
    log,
  });
}

/** A key of the secret key ring, if that secret still exists (no error when it does not). */
async function legacyKey(secrets: SecretStore, version: string): Promise<Buffer | undefined> {
  const json = await secrets.tryGet(TOKEN_KEYS_SECRET);
  return json === undefined ? undefined : parseKeyRing(json).keys.get(version);
}

export * from './applicationToken';
export * from './envelopeKeys';
export * from './authorize';
export * from './errors';
export * from './permissions';
export * from './tokenCipher';
export * from './tokens';
export * from './connections';
export * from './connectionId';
export * from './callbackPage';
export * from './secretExpiry';
export { renderPermissionsDoc } from './permissionsDoc';
