/**
 * What `npm start` sets up on a fresh clone so that it works on its own: the local secrets it
 * needs (in the git-ignored local store, never in Key Vault), and the console's one-time
 * development sign-in link.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY_SECRET, createDevelopmentSignIn } from '../../shared/access';
import { TOKEN_KEYS_SECRET, newKeyRingSecret } from '../../shared/oauth';
import { SCIM_TOKEN_SECRET } from '../../shared/scim';
import type { Services } from '../../shared/services';
import { silentLogger } from '../../shared/log';

const FIRST_RUN_SECRETS: ReadonlyArray<[string, () => string]> = [
  [ADMIN_KEY_SECRET, () => randomBytes(32).toString('base64url')],
  [TOKEN_KEYS_SECRET, () => newKeyRingSecret()],
  [SCIM_TOKEN_SECRET, () => randomBytes(32).toString('base64url')],
];

/** Creates the local secrets that are missing; returns their names. Only with the local secret store. */
export async function createMissingLocalSecrets(services: Services): Promise<string[]> {
  if (services.config.secrets.kind !== 'local') return [];
  const created: string[] = [];
  for (const [name, make] of FIRST_RUN_SECRETS) {
    if ((await services.secrets.tryGet(name)) !== undefined) continue;
    await services.secrets.set(name, make());
    created.push(name);
  }
  return created;
}

/** The console's sign-in link to print, when the development sign-in is on. */
export async function developmentSignInLink(services: Services, baseUrl: string): Promise<string | undefined> {
  if (services.config.console.signIn.kind !== 'development') return undefined;
  return createDevelopmentSignIn(services.signInDeps(silentLogger), baseUrl);
}
