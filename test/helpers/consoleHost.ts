/**
 * A ScanRelay host whose console signs in with Entra ID at the test identity platform, set up as
 * `npm run app-registration` would: the console's and the connections' redirect URIs registered
 * once the host's URL is known, the client secret, a key ring and the admin key stored.
 */
import { writeFileSync } from 'node:fs';
import { CONNECTION_TYPES, newKeyRingSecret } from '../../shared/oauth';
import { startOidcServer, type OidcServer } from './oidcServer';
import { startScanHost, type ScanHost } from './scanStack';

export const CONSOLE_CLIENT_SECRET = 'console-secret';

export async function startEntraConsoleHost(options: {
  clientId: string;
  tenant: string;
  adminKey: string;
  settings?: Record<string, string>;
}): Promise<{ idp: OidcServer; host: ScanHost }> {
  const idp = await startOidcServer({ clients: [{ clientId: options.clientId, clientSecret: CONSOLE_CLIENT_SECRET, redirectUris: [] }] });
  const host = await startScanHost((url) => ({
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_CLIENT_ID: options.clientId,
    OAUTH_TENANT: options.tenant,
    PUBLIC_BASE_URL: url,
    ...options.settings,
  }));
  const base = host.server.url;
  idp.clients[0]!.redirectUris.push(
    `${base}/api/console/signin-callback`,
    ...CONNECTION_TYPES.map((t) => `${base}/api/oauth2/client/${t}/authorize-callback`),
  );
  writeFileSync(
    host.secretsFile,
    JSON.stringify({
      'oauth-client-secret': CONSOLE_CLIENT_SECRET,
      'token-encryption-keys': newKeyRingSecret('k1'),
      'admin-key': options.adminKey,
    }),
  );
  return { idp, host };
}
