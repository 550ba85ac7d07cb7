/**
 * Entra (AADSTS) failures, each named: the connection state it leads to, a stable code of the
 * catalog (shared/errors/catalog.ts, kind `connection`: a connection's `errorCode`) and a sentence
 * an administrator can act on. Used by the refresh (tokens.ts) and the authorization callback
 * (authorize.ts); codes not in the table keep their earlier handling.
 *
 * Meanings from Microsoft Entra authentication and authorization error codes:
 * https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 * (and, for 50020/90072, https://learn.microsoft.com/troubleshoot/entra/entra-id/app-integration/error-code-AADSTS50020-user-account-identity-provider-does-not-exist).
 *
 * The sentences never carry what the identity platform sent (its description may name the
 * account, never a secret) beyond the AADSTS number, and never a token or secret.
 */
import type { ErrorCode } from '../errors';
import type { ConnectionState } from '../storage';

export type EntraErrorCode = Extract<
  ErrorCode,
  | 'refresh_token_expired'
  | 'sign_in_frequency'
  | 'tokens_revoked'
  | 'mfa_required'
  | 'blocked_by_conditional_access'
  | 'consent_missing'
  | 'client_secret_invalid'
  | 'client_secret_expired'
  | 'federated_credential_refused'
  | 'app_not_in_tenant'
  | 'wrong_tenant_account'
  | 'redirect_uri_mismatch'
>;

/** What a sentence may name: the connection's own facts, none of them secret. */
export interface EntraErrorContext {
  /** The connection's tenant (as configured: an id, a domain or organizations). */
  tenant?: string;
  /** The app registration's client ID. */
  clientId?: string;
  /** The Key Vault secret holding the client secret (oauth-client-secret or oauth-client-secret-<type>). */
  secretName?: string;
  /** The managed identity's client ID whose token is the client assertion (OAUTH_CLIENT_CREDENTIAL=managedIdentity). */
  managedIdentityClientId?: string;
  /** The exact redirect URI of the connection's type. */
  redirectUri?: string;
  /** The signed-in account's UPN, when known. */
  account?: string;
}

export interface EntraErrorEntry {
  code: EntraErrorCode;
  /**
   * reauthorization_required: the grant is gone, a new sign-in fixes it. error: the app
   * registration or ScanRelay's configuration is wrong; signing in again does not help until
   * it is fixed (the tokens of a refresh are kept, and a refresh retries them once it is).
   */
  state: Extract<ConnectionState, 'reauthorization_required' | 'error'>;
  sentence: (ctx: EntraErrorContext) => string;
}

const signInAgain = 'Authorize the connection again (sign in as the account it uses).';
const secret = (ctx: EntraErrorContext) => ctx.secretName ?? 'oauth-client-secret';
const app = (ctx: EntraErrorContext) => (ctx.clientId ? ` (client ID ${ctx.clientId})` : '');

const REFRESH_TOKEN_EXPIRED: EntraErrorEntry = {
  code: 'refresh_token_expired',
  state: 'reauthorization_required',
  sentence: () => `Its refresh token expired because it was not used for too long (90 days without use). ${signInAgain}`,
};
const MFA_REQUIRED: EntraErrorEntry = {
  code: 'mfa_required',
  state: 'reauthorization_required',
  sentence: () =>
    'Multi-factor authentication or another Conditional Access requirement must now be satisfied by the account interactively. ' +
    `${signInAgain} Complete the prompt; if this returns often, exclude the account's location or the app from the policy.`,
};
const CLIENT_SECRET_INVALID: EntraErrorEntry = {
  code: 'client_secret_invalid',
  state: 'error',
  sentence: (ctx) =>
    `The identity platform refused ScanRelay's client secret for the app registration${app(ctx)}: the value is wrong (an old one, or the secret's ID instead of its value). ` +
    `Create a new client secret (npm run app-registration) and store its value in Key Vault as ${secret(ctx)}; then refresh the connection. Signing in again does not help until then.`,
};
const FEDERATED_CREDENTIAL_REFUSED: EntraErrorEntry = {
  code: 'federated_credential_refused',
  state: 'error',
  sentence: (ctx) =>
    `The identity platform refused the managed identity's assertion${ctx.managedIdentityClientId ? ` (AZURE_CLIENT_ID ${ctx.managedIdentityClientId})` : ''} for the app registration${app(ctx)}: ` +
    'no federated identity credential of the registration names that identity (issuer, subject or audience), or the assertion expired. ' +
    'Run npm run app-registration with managedIdentityObjectId = the deployment output managedIdentityPrincipalId, check that AZURE_CLIENT_ID is that identity, then refresh the connection. Signing in again does not help until then.',
};
const WRONG_TENANT_ACCOUNT: EntraErrorEntry = {
  code: 'wrong_tenant_account',
  state: 'reauthorization_required',
  sentence: (ctx) =>
    `The account${ctx.account ? ` ${ctx.account}` : ''} is not a member or guest of the connection's tenant${ctx.tenant ? ` (${ctx.tenant})` : ''}. ` +
    "Sign in with an account of that tenant, or invite the account as a guest there (Entra admin center → Users → Invite external user) and let it accept; or change the connection's tenant. Then authorize again.",
};

/** AADSTS number → its entry. */
export const ENTRA_ERRORS: ReadonlyMap<number, EntraErrorEntry> = new Map<number, EntraErrorEntry>([
  // ExpiredOrRevokedGrantInactiveToken: the refresh token was inactive for longer than its lifetime.
  [700082, REFRESH_TOKEN_EXPIRED],
  // The refresh token expired or is invalid because of a sign-in frequency check by Conditional Access.
  [
    70043,
    {
      code: 'sign_in_frequency',
      state: 'reauthorization_required',
      sentence: () =>
        `A Conditional Access sign-in frequency policy requires the account to sign in again. ${signInAgain} To avoid this, exclude the account or ScanRelay's app from the sign-in frequency policy.`,
    },
  ],
  // FreshTokenNeeded: the grant was revoked (password changed or reset, sessions revoked by an administrator).
  [
    50173,
    {
      code: 'tokens_revoked',
      state: 'reauthorization_required',
      sentence: () =>
        `Its tokens were revoked: the account's password was changed or reset, or an administrator revoked its sessions. ${signInAgain}`,
    },
  ],
  // UserStrongAuthClientAuthNRequired / UserStrongAuthEnrollmentRequired / ExternalSecurityChallenge.
  [50076, MFA_REQUIRED],
  [50079, MFA_REQUIRED],
  [50158, MFA_REQUIRED],
  // BlockedByConditionalAccess.
  [
    53003,
    {
      code: 'blocked_by_conditional_access',
      state: 'reauthorization_required',
      sentence: () =>
        "A Conditional Access policy blocks the account from getting tokens for ScanRelay (a location, device or app condition). Find the policy in the account's Entra sign-in logs (Conditional Access tab), exclude ScanRelay's app or the account from it or satisfy its condition, then authorize the connection again.",
    },
  ],
  // ConsentRequired: the user or an administrator has not consented (or consent was revoked).
  [
    65001,
    {
      code: 'consent_missing',
      state: 'reauthorization_required',
      sentence: (ctx) =>
        `Consent to ScanRelay's app${app(ctx)} is missing or was revoked. An administrator grants consent for the organization (Entra admin center → Enterprise applications → ScanRelay → Permissions → Grant admin consent), then refreshes or authorizes the connection again.`,
    },
  ],
  // InvalidClientSecretProvided (7000215); 7000222 InvalidClientSecretExpiredKeysProvided.
  [7000215, CLIENT_SECRET_INVALID],
  [
    7000222,
    {
      code: 'client_secret_expired',
      state: 'error',
      sentence: (ctx) =>
        `The client secret of the app registration${app(ctx)} expired. Create a new one (npm run app-registration) and store it in Key Vault as ${secret(ctx)}; then refresh the connection. Signing in again does not help until then.`,
    },
  ],
  // The federated identity credential (OAUTH_CLIENT_CREDENTIAL=managedIdentity): no record matches the
  // assertion's issuer (700211), audience (700212) or subject (700213; 70021 in older answers), or it expired (700024).
  [700211, FEDERATED_CREDENTIAL_REFUSED],
  [700212, FEDERATED_CREDENTIAL_REFUSED],
  [700213, FEDERATED_CREDENTIAL_REFUSED],
  [70021, FEDERATED_CREDENTIAL_REFUSED],
  [700024, FEDERATED_CREDENTIAL_REFUSED],
  // UnauthorizedClientApplicationNotFound... (700016): the app is not registered or not in the tenant.
  [
    700016,
    {
      code: 'app_not_in_tenant',
      state: 'error',
      sentence: (ctx) =>
        `The app registration${app(ctx)} was not found in the tenant${ctx.tenant ? ` ${ctx.tenant}` : ''}: the client ID is wrong, the app was deleted, or it is single-tenant and the connection names another tenant. ` +
        "Check OAUTH_CLIENT_ID and the connection's tenant (or run npm run app-registration), or have an administrator of that tenant consent to the app; then authorize again.",
    },
  ],
  // UserAccountNotInDirectory (50020); the home tenant logs 90072 for the same failure.
  [50020, WRONG_TENANT_ACCOUNT],
  [90072, WRONG_TENANT_ACCOUNT],
  // InvalidReplyTo: the redirect URI is not registered on the app.
  [
    50011,
    {
      code: 'redirect_uri_mismatch',
      state: 'error',
      sentence: (ctx) =>
        `The app registration${app(ctx)} does not list this redirect URI. Add exactly ${ctx.redirectUri ?? "the connection's redirect URI (GET /api/connections shows it)"} as a Web redirect URI, then authorize again.`,
    },
  ],
]);

/** The AADSTS numbers of an MSAL error or an error description (error_codes first, then the text). */
export function aadstsCodes(err: unknown): number[] {
  if (typeof err === 'string') return [...err.matchAll(/AADSTS(\d+)\b/g)].map((m) => Number(m[1]));
  const e = (err ?? {}) as { errorNo?: string | number; errorMessage?: string; message?: string };
  const fromNo = e.errorNo !== undefined && /^\d+$/.test(String(e.errorNo)) ? [Number(e.errorNo)] : [];
  return [...fromNo, ...aadstsCodes(`${e.errorMessage ?? ''} ${e.message ?? ''}`)];
}

export interface NamedEntraError {
  aadsts: number;
  code: EntraErrorCode;
  state: EntraErrorEntry['state'];
  message: string;
}

/** The table's entry for the error (an MSAL error, or an error description), or undefined when it names none of its codes. */
export function nameEntraError(err: unknown, ctx: EntraErrorContext = {}): NamedEntraError | undefined {
  for (const aadsts of aadstsCodes(err)) {
    const entry = ENTRA_ERRORS.get(aadsts);
    if (entry) return { aadsts, code: entry.code, state: entry.state, message: `${entry.sentence(ctx)} (AADSTS${aadsts})` };
  }
  return undefined;
}
