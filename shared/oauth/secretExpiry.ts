/** Reminds the operator, from 30 days ahead, that an app registration's client secret expires. */
import type { OAuthConfig } from '../config';
import type { SecretStore } from '../secrets';
import { OAUTH_CLIENT_SECRET } from './msalClient';
import { CONNECTION_TYPES } from './permissions';

const WARN_DAYS = 30;

export interface SecretExpiryWarning {
  secret: string;
  expiresOn: string;
  daysLeft: number;
  message: string;
}

/** The client secrets in use: the default one, and each connection type's own; none with the managed identity's federated credential. */
export function configuredClientSecrets(config: OAuthConfig): string[] {
  if (config.federatedIdentity) return [];
  const names = config.clientId ? [OAUTH_CLIENT_SECRET] : [];
  for (const type of CONNECTION_TYPES) {
    if (config.clientIdByType[type.toUpperCase()]) names.push(`${OAUTH_CLIENT_SECRET}-${type.toLowerCase()}`);
  }
  return names;
}

export async function clientSecretWarnings(
  config: OAuthConfig,
  secrets: Pick<SecretStore, 'expiresOn'>,
  now = new Date(),
): Promise<SecretExpiryWarning[]> {
  const warnings: SecretExpiryWarning[] = [];
  for (const secret of configuredClientSecrets(config)) {
    const expiresOn = await secrets.expiresOn(secret);
    if (!expiresOn) continue;
    const daysLeft = Math.floor((expiresOn.getTime() - now.getTime()) / 86_400_000);
    if (daysLeft > WARN_DAYS) continue;
    warnings.push({
      secret,
      expiresOn: expiresOn.toISOString(),
      daysLeft,
      message:
        daysLeft < 0
          ? `The client secret '${secret}' expired on ${expiresOn.toISOString().slice(0, 10)}: connections cannot refresh. Create a new secret on the app registration and store it as '${secret}'.`
          : `The client secret '${secret}' expires in ${daysLeft} day(s), on ${expiresOn.toISOString().slice(0, 10)}. Create a new secret on the app registration and store it as '${secret}'.`,
    });
  }
  return warnings;
}
