/**
 * SCIM bearer-token check. Entra ID's provisioning service sends the "Secret Token" an
 * administrator typed into the enterprise application as `Authorization: Bearer <token>`.
 *
 * The token is the secret `scim-bearer-token`. To rotate it without failed provisioning cycles,
 * the old value goes to `scim-bearer-token-previous` while Entra is switched to the new one: both
 * are accepted until `scim-bearer-token-previous` is emptied. Tokens are compared as SHA-256
 * digests in constant time (secretsEqual), every candidate every time, so the answer's timing tells nothing
 * about how much of a guess was right.
 */
import type { Logger } from '../log';
import { secretsEqual, type SecretStore } from '../secrets';
import { ScimError } from './errors';

export const SCIM_TOKEN_SECRET = 'scim-bearer-token';
export const SCIM_PREVIOUS_TOKEN_SECRET = 'scim-bearer-token-previous';
/** Shorter configured tokens are refused: they could be guessed. */
export const MIN_TOKEN_LENGTH = 32;

/** Throws a 401 ScimError unless the Authorization header carries a current SCIM token. */
export async function authenticate(secrets: SecretStore, authorization: string | null | undefined, log: Logger): Promise<void> {
  const [current, previous] = await Promise.all([secrets.tryGet(SCIM_TOKEN_SECRET), secrets.tryGet(SCIM_PREVIOUS_TOKEN_SECRET)]);
  const accepted = [current, previous].map((t) => t?.trim()).filter((t): t is string => !!t && t.length >= MIN_TOKEN_LENGTH);
  if (accepted.length === 0) {
    log.warn(
      current?.trim()
        ? `SCIM: the secret ${SCIM_TOKEN_SECRET} is shorter than ${MIN_TOKEN_LENGTH} characters; every SCIM request is refused until it is replaced.`
        : `SCIM: the secret ${SCIM_TOKEN_SECRET} is not set; every SCIM request is refused until it is.`,
    );
  }
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  const offered = m?.[1] ?? '';
  let ok = false;
  // Every candidate, every time: the answer's timing tells nothing about which matched.
  for (const token of accepted) ok = secretsEqual(offered, token) || ok;
  if (!m || !ok) {
    throw new ScimError(401, undefined, 'Authorization failed: send the ScanRelay SCIM secret token as "Authorization: Bearer <token>".');
  }
}
