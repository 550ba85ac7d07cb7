/**
 * OAuth 2.0 connections to Microsoft Entra ID: the permissions manifest, the authorize flow,
 * encrypted token storage, access tokens and their refresh.
 */
import type { INetworkModule } from '@azure/msal-node';
import type { OAuthConfig } from '../config';
import type { Logger } from '../log';
import type { SecretStore } from '../secrets';
import type { Storage } from '../storage';
import type { AuthorizeDeps } from './authorize';
import { ApplicationTokens } from './applicationToken';
import { MsalClients } from './msalClient';
import { TOKEN_KEYS_SECRET, TokenCipher, parseKeyRing, type KeyRing } from './tokenCipher';
import type { TokenDeps } from './tokens';

export type OAuthDeps = AuthorizeDeps & TokenDeps & { secrets: Pick<SecretStore, 'expiresOn'>; applicationTokens: ApplicationTokens };

/** How long a key ring read from the secret store is reused. */
const KEY_RING_CACHE_MS = 5 * 60 * 1000;

export function createOAuthDeps(
  config: OAuthConfig,
  secrets: SecretStore,
  storage: Storage,
  options: { networkClient?: INetworkModule } = {},
): (log: Logger) => OAuthDeps {
  let ring: { value: Promise<KeyRing>; until: number } | undefined;
  const cipher = new TokenCipher(() => {
    if (!ring || ring.until < Date.now()) {
      const value = secrets.get(TOKEN_KEYS_SECRET).then(parseKeyRing);
      value.catch(() => (ring = undefined));
      ring = { value, until: Date.now() + KEY_RING_CACHE_MS };
    }
    return ring.value;
  });
  const msal = new MsalClients(config, secrets, options.networkClient);
  const applicationTokens = new ApplicationTokens(msal, config.tenant);
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
    log,
  });
}

export * from './applicationToken';
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
