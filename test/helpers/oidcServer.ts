/**
 * A local OAuth 2.0 / OpenID Connect server for tests that behaves like the Microsoft identity
 * platform (Entra ID, v2 endpoints) closely enough that the real @azure/msal-node
 * ConfidentialClientApplication can sign in against it:
 *
 * - HTTPS only, with the test certificate in test/fixtures/tls (the process must trust
 *   test/fixtures/tls/ca.pem: `npm test` sets NODE_EXTRA_CA_CERTS);
 * - tenant-style paths, `<tenant>` being `common`, `organizations`, `consumers`, a GUID or a domain:
 *   GET  /<tenant>/v2.0/.well-known/openid-configuration   discovery document
 *   GET  /<tenant>/oauth2/v2.0/authorize                   sign-in (no UI: the configured user
 *                                                          "signs in" at once and is redirected)
 *   POST /<tenant>/oauth2/v2.0/token                       authorization_code, refresh_token and
 *                                                          client_credentials grants (the last: a
 *                                                          tenant-specific path, `<resource>/.default`,
 *                                                          an app-only token with `roles` = appRoles)
 *   GET  /<tenant>/discovery/v2.0/keys                     JWKS (one RSA key, RS256)
 * - the issuer is `https://localhost:<port>/<tid>/v2.0`, `<tid>` being the signed-in user's tenant;
 * - error responses look like Entra's: `{ error, error_description: 'AADSTSnnnn: ...', error_codes,
 *   timestamp, trace_id, correlation_id }` (the AADSTS codes are the real ones where known).
 *
 * Where Entra's details decide whether a client works, it behaves like Entra (each rule with the
 * page it comes from):
 * - Guests (B2B). An account has a home tenant and a tenant profile in each tenant it was invited
 *   to; the tenant profile is another object with its own object id
 *   (https://learn.microsoft.com/entra/identity-platform/accounts-overview). The ID token names the
 *   tenant signed in to and the object there (`tid`, `oid`), and `idp` names the home tenant's issuer
 *   when it differs, as for guests (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference).
 *   `client_info` names the home account (`uid` = home object id, `utid` = home tenant), which is
 *   what MSAL keys its cache with (homeAccountId `uid.utid`; MSAL's "Send client_info=1 parameter on
 *   token endpoint", AzureAD/microsoft-authentication-library-for-dotnet#67). So for a guest
 *   (`OidcUser.home`) `uid.utid` differs from `oid.tid`. A personal Microsoft account invited as a
 *   guest has the home tenant 9188040d-6c67-4c5b-b112-36a304b66dad (accounts-overview).
 * - `client_info` is only in a token response whose request had `client_info=1` (MSAL sends it).
 * - `prompt` (https://learn.microsoft.com/entra/identity-platform/msal-js-prompt-behavior,
 *   https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow): with
 *   `prompt=select_account` the account picker is shown and `login_hint` plays no part (the
 *   configured user is the one picked; MSAL itself drops account hints with select_account because
 *   Entra refuses the two together, AzureAD/microsoft-authentication-library-for-js#3315); otherwise
 *   a `login_hint` naming a known account (`addAccount`) signs that account in, as Entra's sign-in
 *   page does with the username it prefills.
 * - `nonce` from the authorize request is echoed in the ID token of the code redemption
 *   (id-token-claims-reference); `forgeNonce` replaces it, as an injected code from another sign-in would.
 * - App roles assigned to users (https://learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps):
 *   an app role assignment is made on the application's service principal in one tenant (Enterprise
 *   applications → Users and groups), to a user object of that tenant; when the user signs in to
 *   that application, Entra emits a `roles` claim with the value of each role granted, in the ID
 *   token of the application (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
 *   lists `roles` among the ID token's claims), and none when no role is assigned (a user signed in
 *   without an assignment has no `roles` claim). So assignments are kept per (client id, tenant,
 *   object id): a guest gets the roles assigned to its guest object in the tenant it signs in to (the
 *   resource tenant), never those of its home account. An access token carries the roles the user holds on the token's resource: an
 *   application's own resource (`api://<client id>/...`) gives that application's roles; Microsoft
 *   Graph tokens carry none. Roles are read when a token is issued, so a refresh after a change of
 *   assignments carries the new ones. Set them with `OidcUser.appRoles` or `assignAppRoles`.
 *
 * It was meant to be built on the npm package oauth2-mock-server, but its current major (9.x) is
 * ESM-only and needs Node >= 22 (this project runs on Node 20 under ts-jest/CommonJS), and its fixed
 * paths (/authorize, /token, /jwks) do not fit Entra's tenant paths anyway; so it is written here
 * with node:https and node:crypto only.
 *
 * Beware MSAL's client-side throttling: after a 429 or 5xx token response (failNextTokenRequests),
 * MSAL answers the same request (same client, authority, scopes and account) from its throttling
 * cache for 60 s, or Retry-After seconds, with a ServerError whose errorCode is the joined
 * error_codes, without contacting the server. Use a new ConfidentialClientApplication, other scopes,
 * or a short Retry-After on a 429 to get past it.
 *
 * What it deliberately does not model: the user's tenant is not checked against the authority's
 * tenant (a personal account, tid 9188040d-6c67-4c5b-b112-36a304b66dad, can sign in through
 * /organizations, so tests can check that the application refuses it); consent is all-or-nothing
 * (`denyConsent`, `grantOnly`); there is no device-code or OBO grant.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

// test/helpers → test/fixtures/tls; compiled into dist/test/helpers (the benchmark) → the same folder.
const TLS_DIR = [join(__dirname, '..', 'fixtures', 'tls'), join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls')].find((d) =>
  existsSync(join(d, 'server.pem')),
)!;

/** The tenant id Entra uses for personal Microsoft accounts. */
export const CONSUMER_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';
/** OIDC scopes: Entra leaves them out of the token response's `scope`. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);
const GRAPH_RESOURCE = 'https://graph.microsoft.com';

export interface OidcUser {
  /** Object id of the user in the tenant it signs in to (claim `oid`; `uid` in client_info unless a guest). */
  oid: string;
  /** The tenant it signs in to (claim `tid`; `utid` in client_info unless a guest). */
  tid: string;
  /**
   * A guest's home account: its object id and tenant in its home tenant, which client_info names
   * (`uid`, `utid`) while the ID token's `oid`/`tid` name the guest object in `tid`. Absent for a
   * member of `tid`.
   */
  home?: { oid: string; tid: string };
  /** User principal name (claim `preferred_username`). */
  upn: string;
  /** Display name (claim `name`). */
  name: string;
  /**
   * App roles assigned to this user object, per application (client id → role values): the
   * `roles` claim of its sign-ins to that application. Read when the account is given to the server
   * (options, setUser, addAccount) and kept by the server per client id, tenant and object id, not
   * on the account (`server.user` has none); change them later with `assignAppRoles`.
   */
  appRoles?: Readonly<Record<string, readonly string[]>>;
}

/**
 * A federated identity credential of an application
 * (https://learn.microsoft.com/graph/api/resources/federatedidentitycredentials-overview): a
 * `client_assertion` (jwt-bearer) whose `iss`, `sub` and `aud` match is accepted in place of a
 * client secret, once its signature checks out against the issuer's keys and it has not expired.
 * Here the issuers are this server's own (`issuer(tid)`, as a managed identity's tokens come from
 * Entra itself: `https://login.microsoftonline.com/<tenant>/v2.0`).
 */
export interface FederatedCredential {
  issuer: string;
  /** For a managed identity: its object (principal) ID. Compared case-sensitively, as Entra does. */
  subject: string;
  /** `api://AzureADTokenExchange` by default. */
  audience?: string;
}

export interface OidcClientRegistration {
  clientId: string;
  /** The client secret; none for an application that only has federated credentials. */
  clientSecret?: string;
  federatedCredentials?: FederatedCredential[];
  /** Registered reply URLs; they must match exactly (as in Entra, apart from localhost ports). */
  redirectUris: string[];
}

export interface OidcServerOptions {
  /** The registered applications; one default application (DEFAULT_CLIENT) when left out. */
  clients?: OidcClientRegistration[];
  /** The user who signs in at the authorize endpoint; DEFAULT_USER when left out. */
  user?: OidcUser;
  /** Other known accounts, which a `login_hint` (without prompt=select_account) signs in. */
  accounts?: OidcUser[];
  /** Lifetime of access and id tokens, in seconds (expires_in); 3600 by default. */
  tokenLifetimeSeconds?: number;
}

export const DEFAULT_CLIENT: OidcClientRegistration & { clientSecret: string } = {
  clientId: '11111111-2222-3333-4444-555555555555',
  clientSecret: 'test-client-secret',
  redirectUris: ['https://localhost/auth/callback'],
};

export const DEFAULT_USER: OidcUser = {
  oid: '00000000-0000-0000-0000-0000000000a1',
  tid: '72f988bf-0000-4000-8000-000000000001',
  upn: 'alice@contoso.example',
  name: 'Alice Example',
};

export interface TokenRequestRecord {
  grant_type: string;
  at: Date;
  /** The HTTP status the server answered with. */
  status: number;
  /** `error` of the response body when the request failed. */
  error?: string;
  /** How the client authenticated (when it got that far): a client secret or a client assertion. */
  clientAuthentication?: 'client_secret' | 'client_assertion';
  /** The names of the form parameters sent (never their values). */
  parameters: string[];
}

/** A managed identity whose tokens `issueManagedIdentityToken` signs. */
export interface ManagedIdentityRecord {
  /** Its client (application) ID, as in AZURE_CLIENT_ID. */
  clientId: string;
  /** Its object (principal) ID: the tokens' `sub` and `oid`. */
  objectId: string;
  /** Its tenant: the tokens' `tid`, and the issuer's tenant. */
  tenantId: string;
}

export interface AuthorizeRequestRecord {
  at: Date;
  tenant: string;
  /** All query parameters as sent. */
  params: Record<string, string>;
  status: number;
  /** The UPN of the account that signed in, when one did. */
  signedIn?: string;
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

export interface RevokeOptions {
  /** Which Entra error to answer with: 50173 (grant revoked, the default) or 700082 (expired by inactivity). */
  code?: 50173 | 700082;
  /** An optional `suberror` in the error body (e.g. 'bad_token'); Entra sends none for these codes. */
  suberror?: string;
}

/**
 * Entra's answers for the AADSTS codes tests can ask for (failTokenRequestsWith, failNextAuthorizeWith):
 * the `error`, the description's text and the `suberror` Entra sends, after
 * https://learn.microsoft.com/entra/identity-platform/reference-error-codes.
 */
export const ENTRA_ANSWERS = {
  700082: {
    error: 'invalid_grant',
    text: 'The refresh token has expired due to inactivity. The token was issued on 2020-01-01T00:00:00Z and was inactive for 90.00:00:00.',
  },
  70043: {
    error: 'invalid_grant',
    text: 'The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on 2020-01-01T00:00:00Z and the maximum allowed lifetime for this request is 43200.',
  },
  50173: {
    error: 'invalid_grant',
    text: 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.',
  },
  50076: {
    error: 'invalid_grant',
    text: "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'https://graph.microsoft.com'.",
    suberror: 'basic_action',
  },
  50079: {
    error: 'interaction_required',
    text: "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access 'https://graph.microsoft.com'.",
    suberror: 'basic_action',
  },
  50158: {
    error: 'interaction_required',
    text: 'External security challenge not satisfied. User will be redirected to another page or authentication provider to satisfy additional authentication challenges.',
  },
  53003: {
    error: 'invalid_grant',
    text: 'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
    suberror: 'message_only',
  },
  65001: {
    error: 'invalid_grant',
    text: "The user or administrator has not consented to use the application with ID '{clientId}'. Send an interactive authorization request for this user and resource.",
    suberror: 'consent_required',
  },
  7000215: {
    error: 'invalid_client',
    text: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{clientId}'.",
  },
  7000222: {
    error: 'invalid_client',
    text: "The provided client secret keys for app '{clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
  },
  700016: {
    error: 'unauthorized_client',
    text: "Application with identifier '{clientId}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
  },
  50020: {
    error: 'invalid_request',
    text: "User account '{upn}' from identity provider 'https://sts.windows.net/{tid}/' does not exist in tenant '{tenant}' and cannot access the application '{clientId}'(ScanRelay) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.",
  },
  90072: {
    error: 'invalid_grant',
    text: "User account '{upn}' from identity provider 'https://sts.windows.net/{tid}/' does not exist in tenant '{tenant}' and cannot access the application '{clientId}'(ScanRelay) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.",
  },
  // Not in ScanRelay's table (shared/oauth/entraErrors.ts): for tests of the earlier handling.
  70008: {
    error: 'invalid_grant',
    text: 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
  },
  50011: {
    error: 'invalid_request',
    text: "The redirect URI '{redirectUri}' specified in the request does not match the redirect URIs configured for the application '{clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.",
  },
} as const satisfies Record<number, { error: string; text: string; suberror?: string }>;

export type EntraAnswerCode = keyof typeof ENTRA_ANSWERS;

export interface TokenFailureOptions {
  /** The grant types answered with the error (all of them when absent). */
  grantTypes?: ('refresh_token' | 'authorization_code' | 'client_credentials')[];
  /** How many requests to answer so (until cleared when absent). */
  count?: number;
}

export interface OidcServer {
  /** https://localhost:<port> */
  readonly baseUrl: string;
  readonly port: number;
  /** The registered applications (the first one is the default). */
  readonly clients: readonly OidcClientRegistration[];
  /** The user who signs in next at the authorize endpoint. */
  readonly user: OidcUser;
  /** Changes the user who signs in next (merged: give `home: undefined` to make a guest a member again). */
  setUser(user: Partial<OidcUser>): void;
  /** Makes an account known, so that a `login_hint` naming its UPN signs it in. */
  addAccount(user: OidcUser): void;
  /**
   * Assigns app roles of the application `clientId` to a known account (the user or an added
   * account), named by UPN or object id (case-insensitive), in the account's tenant (`tid`). Replaces
   * that account's assignments for the application; `[]` removes them (no `roles` claim). Throws for
   * an unknown account.
   */
  assignAppRoles(clientId: string, upnOrOid: string, roles: readonly string[]): void;
  /** The app roles of the application `clientId` assigned to a known account (by UPN or object id); `[]` when none. */
  appRolesOf(clientId: string, upnOrOid: string): string[];
  /** When true, the authorize endpoint redirects with error=access_denied (AADSTS65004). */
  denyConsent: boolean;
  /** Refresh responses carry no new refresh token (Entra may keep the old one valid instead). */
  omitRefreshTokenOnRefresh: boolean;
  /** The account consents to everything but `offline_access`: the code redemption gets no refresh token. */
  withholdOfflineAccess: boolean;
  /**
   * Consent to the application was revoked: refreshes answer 400 invalid_grant AADSTS65001
   * (suberror consent_required) while true; the same refresh tokens work again once consent is back.
   */
  consentRevoked: boolean;
  /** When set, ID tokens of code redemptions carry this nonce instead of the one the authorize request sent. */
  forgeNonce: string | null;
  /** Lifetime of the access and ID tokens issued from now on, in seconds (expires_in). */
  tokenLifetimeSeconds: number;
  /**
   * The application permissions (app roles of other applications, such as Graph's) granted to the
   * app: the `roles` of client-credentials tokens. Not the users' roles (`assignAppRoles`).
   */
  appRoles: string[];
  /**
   * Grant exactly these resource scopes (what the account has consented to), whatever was asked,
   * as Entra lists a resource's consented scopes; `null` grants what is asked.
   */
  grantOnly(scopes: string[] | null): void;
  /** Every refresh token issued so far stops working: refreshes answer 400 invalid_grant. */
  revokeRefreshTokens(options?: RevokeOptions): void;
  /** Answer the next `count` token requests with `status` (e.g. 503, or 429 with Retry-After). */
  failNextTokenRequests(count: number, status: number, retryAfterSeconds?: number): void;
  /** Drop the connection of the next `count` token requests without an answer (a network failure). */
  dropNextTokenRequests(count: number): void;
  /**
   * Answer token requests with Entra's 400 (401 for invalid_client) for this AADSTS code (ENTRA_ANSWERS):
   * `{ error, error_description: 'AADSTSnnnn: ...', error_codes: [nnnn], timestamp, trace_id, correlation_id, suberror? }`.
   * `null` stops it.
   */
  failTokenRequestsWith(code: EntraAnswerCode | null, options?: TokenFailureOptions): void;
  /** The next authorize request redirects back with `error` and `error_description: 'AADSTSnnnn: ...'` for this code. */
  failNextAuthorizeWith(code: EntraAnswerCode | null): void;
  /** Every request to a token endpoint, in order. */
  readonly tokenRequests: TokenRequestRecord[];
  /** Every request to an authorize endpoint, in order. */
  readonly authorizeRequests: AuthorizeRequestRecord[];
  /** Every refresh token issued, in order. */
  readonly issuedRefreshTokens: string[];
  /** https://localhost:<port>/<tenant> */
  authority(tenant: string): string;
  /** Issuer for a tenant id: https://localhost:<port>/<tid>/v2.0 */
  issuer(tid: string): string;
  /** The discovery document of a tenant as a JSON string (MSAL's `authorityMetadata` option). */
  authorityMetadata(tenant: string): string;
  /** Checks the signature (and exp) of a JWT this server issued and returns it decoded; throws otherwise. */
  verifyJwt(token: string): DecodedJwt;
  /** The public signing key, as served in the JWKS. */
  readonly publicJwk: Record<string, unknown>;
  /**
   * A token of a managed identity, as Entra issues for it (what the managed identity endpoint
   * answers): signed with this server's key, `iss` = issuer(tenantId), `sub`/`oid` = its object ID,
   * `aud` = the resource (`api://AzureADTokenExchange` for a client assertion). `lifetimeSeconds`
   * may be negative (an expired token).
   */
  issueManagedIdentityToken(
    identity: ManagedIdentityRecord,
    resource: string,
    lifetimeSeconds?: number,
  ): { token: string; expiresOn: number };
  stop(): Promise<void>;
}

/** Decodes a JWT without checking anything. */
export function decodeJwt(token: string): DecodedJwt {
  const [h, p] = token.split('.');
  if (!h || !p) throw new Error('not a JWT');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

interface AuthCode {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  codeChallenge: string;
  nonce?: string;
  user: OidcUser;
  expiresAt: number;
  redeemed: boolean;
}

interface RefreshTokenRecord {
  clientId: string;
  /** Scopes of the original sign-in (what was consented), including OIDC scopes. */
  scopes: string[];
  user: OidcUser;
  revoked?: RevokeOptions;
}

class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code: number,
    readonly text: string,
    readonly suberror?: string,
  ) {
    super(`AADSTS${code}: ${text}`);
  }
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function splitScopes(scope: string | undefined | null): string[] {
  return (scope ?? '').split(/\s+/).filter((s) => s.length > 0);
}

/** The resource a scope belongs to: `https://x.example/Foo.Read` → `https://x.example`; `User.Read` → Graph. */
function resourceOf(scope: string): string {
  if (scope.includes('://')) {
    const i = scope.lastIndexOf('/');
    return i > scope.indexOf('://') + 2 ? scope.slice(0, i) : scope;
  }
  return GRAPH_RESOURCE;
}

function scopeName(scope: string): string {
  return scope.includes('/') ? scope.slice(scope.lastIndexOf('/') + 1) : scope;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startOidcServer(options: OidcServerOptions = {}): Promise<OidcServer> {
  const clients = (options.clients ?? [DEFAULT_CLIENT]).map((c) => ({ ...c, redirectUris: [...c.redirectUris] }));
  /** App role assignments: `<client id>|<tid>|<oid>` (lower case) → role values. */
  const roleAssignments = new Map<string, string[]>();
  const assignmentKey = (clientId: string, u: Pick<OidcUser, 'oid' | 'tid'>) => `${clientId}|${u.tid}|${u.oid}`.toLowerCase();
  const assign = (clientId: string, u: Pick<OidcUser, 'oid' | 'tid'>, roles: readonly string[]) => {
    if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string' || r.length === 0)) {
      throw new Error(`app roles must be a list of role values (got ${JSON.stringify(roles)})`);
    }
    if (roles.length === 0) roleAssignments.delete(assignmentKey(clientId, u));
    else roleAssignments.set(assignmentKey(clientId, u), [...new Set(roles)]);
  };
  /** The account without its `appRoles`, which are assigned on the way in. */
  const known = (u: OidcUser): OidcUser => {
    const { appRoles, ...account } = u;
    for (const [clientId, roles] of Object.entries(appRoles ?? {})) assign(clientId, account, roles);
    return account;
  };
  const rolesOf = (clientId: string, u: Pick<OidcUser, 'oid' | 'tid'>): string[] => [
    ...(roleAssignments.get(assignmentKey(clientId, u)) ?? []),
  ];
  const findAccount = (upnOrOid: string): OidcUser => {
    const wanted = upnOrOid.toLowerCase();
    const found = [user, ...accounts].find((a) => a.oid.toLowerCase() === wanted || a.upn.toLowerCase() === wanted);
    if (!found) throw new Error(`No known account ${upnOrOid}: give it as the user or with addAccount first.`);
    return found;
  };
  let user: OidcUser = known({ ...(options.user ?? DEFAULT_USER) });
  const accounts: OidcUser[] = (options.accounts ?? []).map((a) => known({ ...a }));
  let drops = 0;
  let grantOnlyScopes: Set<string> | null = null;
  let failures: { remaining: number; status: number; retryAfter?: number } | null = null;
  let entraFailure: { code: EntraAnswerCode; remaining: number; grantTypes?: string[] } | null = null;
  let authorizeFailure: EntraAnswerCode | null = null;
  const entraError = (code: EntraAnswerCode, vars: Record<string, string>) => {
    const answer: { error: string; text: string; suberror?: string } = ENTRA_ANSWERS[code];
    const text = answer.text.replace(/\{(\w+)\}/g, (_, k: string) => vars[k] ?? '');
    // Entra answers a client authentication failure (invalid_client) with 401, the others with 400.
    return new OAuthError(answer.error === 'invalid_client' ? 401 : 400, answer.error, code, text, answer.suberror);
  };

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64url')
    .slice(0, 27);
  const publicJwk = { kty: 'RSA', use: 'sig', alg: 'RS256', kid, ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>) };

  const codes = new Map<string, AuthCode>();
  const refreshTokens = new Map<string, RefreshTokenRecord>();
  const tokenRequests: TokenRequestRecord[] = [];
  const authorizeRequests: AuthorizeRequestRecord[] = [];
  const issuedRefreshTokens: string[] = [];

  let baseUrl = '';

  const signJwt = (payload: Record<string, unknown>, key: KeyObject = privateKey): string => {
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid }));
    const body = b64url(JSON.stringify(payload));
    const signature = sign('sha256', Buffer.from(`${header}.${body}`), key);
    return `${header}.${body}.${b64url(signature)}`;
  };

  const issuer = (tid: string) => `${baseUrl}/${tid}/v2.0`;

  const discovery = (tenant: string) => {
    const lower = tenant.toLowerCase();
    // Entra's multi-tenant documents carry a {tenantid} placeholder in the issuer.
    const issuerTenant =
      lower === 'common' || lower === 'organizations' ? '{tenantid}' : lower === 'consumers' ? CONSUMER_TENANT_ID : tenant;
    return {
      token_endpoint: `${baseUrl}/${tenant}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${baseUrl}/${tenant}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${baseUrl}/${issuerTenant}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${baseUrl}/oidc/userinfo`,
      authorization_endpoint: `${baseUrl}/${tenant}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${baseUrl}/${tenant}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${baseUrl}/${tenant}/oauth2/v2.0/logout`,
      claims_supported: [
        'sub',
        'iss',
        'cloud_instance_name',
        'cloud_instance_host_name',
        'cloud_graph_host_name',
        'msgraph_host',
        'aud',
        'exp',
        'iat',
        'auth_time',
        'acr',
        'nonce',
        'preferred_username',
        'name',
        'tid',
        'ver',
        'at_hash',
        'c_hash',
        'email',
      ],
      kerberos_endpoint: `${baseUrl}/${tenant}/kerberos`,
      tenant_region_scope: null,
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  };

  // ---------------------------------------------------------------- responses

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  };

  const errorBody = (req: IncomingMessage, e: OAuthError) => {
    const traceId = randomUUID();
    const correlationId = (req.headers['client-request-id'] as string | undefined) ?? randomUUID();
    const timestamp = new Date()
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
    return {
      error: e.error,
      error_description: `AADSTS${e.code}: ${e.text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [e.code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${baseUrl}/error?code=${e.code}`,
      ...(e.suberror ? { suberror: e.suberror } : {}),
    };
  };

  const sendHtmlError = (res: ServerResponse, status: number, code: number, text: string) => {
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(
      `<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>` +
        `<h1>Sorry, but we're having trouble signing you in.</h1>` +
        `<p id="error">AADSTS${code}: ${escapeHtml(text)}</p></body></html>`,
    );
  };

  // ---------------------------------------------------------------- authorize

  const handleAuthorize = (res: ServerResponse, tenant: string, url: URL) => {
    const params = Object.fromEntries(url.searchParams.entries());
    const record: AuthorizeRequestRecord = { at: new Date(), tenant, params, status: 0 };
    authorizeRequests.push(record);

    const clientId = params.client_id;
    const client = clients.find((c) => c.clientId === clientId);
    if (!clientId) {
      record.status = 400;
      return sendHtmlError(res, 400, 900144, "The request body must contain the following parameter: 'client_id'.");
    }
    if (!client) {
      record.status = 400;
      return sendHtmlError(res, 400, 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`);
    }
    const redirectUri = params.redirect_uri;
    if (!redirectUri || !client.redirectUris.includes(redirectUri)) {
      record.status = 400;
      return sendHtmlError(
        res,
        400,
        50011,
        `The reply URL specified in the request does not match the reply URLs configured for the application: '${clientId}'. ` +
          `Make sure the reply URL sent in the request matches one added to your application in the Azure portal.`,
      );
    }

    const responseMode = params.response_mode ?? 'query';
    const redirect = (values: Record<string, string>) => {
      record.status = responseMode === 'form_post' ? 200 : 302;
      if (responseMode === 'form_post') {
        const inputs = Object.entries(values)
          .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}"/>`)
          .join('');
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(
          `<html><body onload="document.forms[0].submit()"><form method="POST" action="${escapeHtml(redirectUri)}">${inputs}</form></body></html>`,
        );
        return;
      }
      const target = new URL(redirectUri);
      const sp = new URLSearchParams(values);
      if (responseMode === 'fragment') target.hash = sp.toString();
      else for (const [k, v] of sp) target.searchParams.append(k, v);
      res.writeHead(302, { Location: target.toString() });
      res.end();
    };
    const redirectError = (error: string, code: number, text: string) =>
      redirect({
        error,
        error_description: `AADSTS${code}: ${text}`,
        ...(params.state !== undefined ? { state: params.state } : {}),
      });

    if (authorizeFailure !== null) {
      const e = entraError(authorizeFailure, { clientId, tenant, upn: user.upn, tid: user.tid, redirectUri });
      authorizeFailure = null;
      return redirectError(e.error, e.code, e.text);
    }

    if (params.response_type !== 'code') {
      return redirectError(
        'unsupported_response_type',
        700054,
        `response_type '${params.response_type ?? ''}' is not enabled for the application.`,
      );
    }
    const scopes = splitScopes(params.scope);
    if (scopes.length === 0) {
      return redirectError('invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    }
    if (!params.state) {
      return redirectError('invalid_request', 900144, "The request body must contain the following parameter: 'state'.");
    }
    if (!params.code_challenge) {
      return redirectError('invalid_request', 9002325, 'Proof Key for Code Exchange is required for this authorization request.');
    }
    if (params.code_challenge_method !== 'S256') {
      return redirectError('invalid_request', 5001491, "The code_challenge_method must be 'S256'.");
    }
    if (new Set(scopes.filter((s) => !OIDC_SCOPES.has(s)).map(resourceOf)).size > 1) {
      return redirectError(
        'invalid_request',
        28000,
        'Provided value for the input parameter scope is not valid because it contains more than one resource.',
      );
    }
    if (server.denyConsent) {
      return redirectError('access_denied', 65004, 'User declined to consent to access the app.');
    }

    // prompt=select_account shows the account picker: the hint plays no part and the configured
    // user is the one picked. Otherwise a hint naming a known account signs that account in.
    const hint = params.login_hint?.toLowerCase();
    const hinted = params.prompt !== 'select_account' && hint ? [user, ...accounts].find((a) => a.upn.toLowerCase() === hint) : undefined;
    const signedIn = hinted ?? user;
    record.signedIn = signedIn.upn;
    const code = `1.${b64url(randomBytes(48))}`;
    codes.set(code, {
      clientId: client.clientId,
      redirectUri,
      scopes: server.withholdOfflineAccess ? scopes.filter((s) => s !== 'offline_access') : scopes,
      codeChallenge: params.code_challenge,
      nonce: params.nonce,
      user: { ...signedIn },
      expiresAt: Date.now() + 10 * 60 * 1000,
      redeemed: false,
    });
    return redirect({ code, state: params.state, session_state: randomUUID() });
  };

  // ---------------------------------------------------------------- token

  const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
  const TOKEN_EXCHANGE = 'api://AzureADTokenExchange';

  /** Checks a federated credential's client assertion (workload identity federation), as Entra does. */
  const checkClientAssertion = (client: OidcClientRegistration, form: URLSearchParams) => {
    const type = form.get('client_assertion_type');
    if (type !== JWT_BEARER) {
      throw new OAuthError(400, 'invalid_request', 50027, `Invalid client_assertion_type '${type ?? ''}': it must be '${JWT_BEARER}'.`);
    }
    const assertion = form.get('client_assertion') ?? '';
    let decoded: DecodedJwt;
    try {
      decoded = decodeJwt(assertion);
    } catch {
      throw new OAuthError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
    }
    const { iss, sub, aud, exp, nbf } = decoded.payload as {
      iss?: string;
      sub?: string;
      aud?: string | string[];
      exp?: number;
      nbf?: number;
    };
    const audiences = Array.isArray(aud) ? aud : aud ? [aud] : [];
    const credentials = (client.federatedCredentials ?? []).map((c) => ({ ...c, audience: c.audience ?? TOKEN_EXCHANGE }));
    const check =
      'Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation';
    const byIssuer = credentials.filter((c) => c.issuer === iss);
    if (byIssuer.length === 0) {
      throw new OAuthError(
        401,
        'invalid_client',
        700211,
        `No matching federated identity record found for presented assertion issuer '${iss ?? ''}'. Please note that the matching is done using a case-sensitive comparison. ${check}`,
      );
    }
    const byAudience = byIssuer.filter((c) => audiences.includes(c.audience));
    if (byAudience.length === 0) {
      throw new OAuthError(
        401,
        'invalid_client',
        700212,
        `No matching federated identity record found for presented assertion audience '${audiences.join(', ')}'. ${check}`,
      );
    }
    if (!byAudience.some((c) => c.subject === sub)) {
      throw new OAuthError(
        401,
        'invalid_client',
        700213,
        `No matching federated identity record found for presented assertion subject '${sub ?? ''}'. ${check}`,
      );
    }
    // The issuer is this server's: its keys are the ones in its JWKS.
    const [h, p, sig] = assertion.split('.');
    if (!sig || !verify('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(sig, 'base64url'))) {
      throw new OAuthError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof exp !== 'number' || exp < now || (typeof nbf === 'number' && nbf > now + 300)) {
      throw new OAuthError(
        401,
        'invalid_client',
        700024,
        `Client assertion is not within its valid time range. Current time: ${new Date(now * 1000).toISOString()}, expiry time of assertion ${typeof exp === 'number' ? new Date(exp * 1000).toISOString() : 'none'}.`,
      );
    }
  };

  const authenticateClient = (req: IncomingMessage, form: URLSearchParams, record: TokenRequestRecord): OidcClientRegistration => {
    let clientId = form.get('client_id') ?? undefined;
    let secret = form.get('client_secret') ?? undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      clientId = decodeURIComponent(decoded.slice(0, i));
      secret = decodeURIComponent(decoded.slice(i + 1));
    }
    if (!clientId) {
      throw new OAuthError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    }
    const client = clients.find((c) => c.clientId === clientId);
    if (!client) {
      throw new OAuthError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory.`);
    }
    if (form.has('client_assertion')) {
      record.clientAuthentication = 'client_assertion';
      if (secret !== undefined) {
        throw new OAuthError(400, 'invalid_request', 90035, 'Only one client credential may be sent: client_secret or client_assertion.');
      }
      checkClientAssertion(client, form);
      return client;
    }
    if (secret !== undefined) record.clientAuthentication = 'client_secret';
    if (secret === undefined) {
      throw new OAuthError(
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }
    if (client.clientSecret === undefined || secret !== client.clientSecret) {
      throw new OAuthError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
    }
    return client;
  };

  const mintTokens = (
    client: OidcClientRegistration,
    tokenUser: OidcUser,
    askedScopes: string[],
    consentedScopes: string[],
    nonce: string | undefined,
    includeClientInfo: boolean,
  ) => {
    const now = Math.floor(Date.now() / 1000);
    const asked = askedScopes.filter((s) => !OIDC_SCOPES.has(s));
    const resourceScopes = grantOnlyScopes ? [...grantOnlyScopes] : asked;
    const resource = resourceScopes.length > 0 ? resourceOf(resourceScopes[0]!) : GRAPH_RESOURCE;
    const iss = issuer(tokenUser.tid);
    // The user's roles on the token's resource: only an application's own (api://<client id>) has any here.
    const resourceApp = clients.find((c) => resource.toLowerCase() === `api://${c.clientId}`.toLowerCase());
    const accessRoles = resourceApp ? rolesOf(resourceApp.clientId, tokenUser) : [];
    const idRoles = rolesOf(client.clientId, tokenUser);
    const accessToken = signJwt({
      aud: resource,
      iss,
      iat: now,
      nbf: now,
      exp: now + server.tokenLifetimeSeconds,
      azp: client.clientId,
      azpacr: '1',
      name: tokenUser.name,
      ...(tokenUser.home ? { idp: `https://sts.windows.net/${tokenUser.home.tid}/` } : {}),
      oid: tokenUser.oid,
      preferred_username: tokenUser.upn,
      ...(accessRoles.length > 0 ? { roles: accessRoles } : {}),
      scp: resourceScopes.map(scopeName).join(' '),
      sub: createHash('sha256').update(`${tokenUser.oid}|${resource}`).digest('base64url').slice(0, 43),
      tid: tokenUser.tid,
      uti: b64url(randomBytes(16)),
      ver: '2.0',
    });
    const body: Record<string, unknown> = {
      token_type: 'Bearer',
      scope: resourceScopes.join(' '),
      expires_in: server.tokenLifetimeSeconds,
      ext_expires_in: server.tokenLifetimeSeconds,
      access_token: accessToken,
    };
    if (consentedScopes.includes('offline_access')) {
      const rt = `0.${b64url(randomBytes(64))}`;
      refreshTokens.set(rt, { clientId: client.clientId, scopes: consentedScopes, user: { ...tokenUser } });
      issuedRefreshTokens.push(rt);
      body.refresh_token = rt;
    }
    if (askedScopes.includes('openid') || consentedScopes.includes('openid')) {
      body.id_token = signJwt({
        aud: client.clientId,
        iss,
        iat: now,
        nbf: now,
        exp: now + server.tokenLifetimeSeconds,
        name: tokenUser.name,
        ...(tokenUser.home ? { idp: `https://sts.windows.net/${tokenUser.home.tid}/` } : {}),
        ...(nonce ? { nonce } : {}),
        oid: tokenUser.oid,
        preferred_username: tokenUser.upn,
        // Entra leaves the claim out when no role is assigned (never `roles: []`).
        ...(idRoles.length > 0 ? { roles: idRoles } : {}),
        sub: createHash('sha256').update(`${tokenUser.oid}|${client.clientId}`).digest('base64url').slice(0, 43),
        tid: tokenUser.tid,
        ver: '2.0',
      });
    }
    // client_info names the home account: for a guest not the oid/tid of the ID token.
    const home = tokenUser.home ?? { oid: tokenUser.oid, tid: tokenUser.tid };
    if (includeClientInfo) body.client_info = b64url(JSON.stringify({ uid: home.oid, utid: home.tid }));
    return body;
  };

  const handleToken = async (req: IncomingMessage, res: ServerResponse, tenant: string) => {
    const form = new URLSearchParams(await readBody(req));
    const grantType = form.get('grant_type') ?? '';
    const record: TokenRequestRecord = { grant_type: grantType, at: new Date(), status: 0, parameters: [...new Set(form.keys())] };
    tokenRequests.push(record);

    if (drops > 0) {
      drops -= 1;
      record.status = 0;
      record.error = 'connection_dropped';
      req.socket.destroy();
      return;
    }
    if (failures && failures.remaining > 0) {
      failures.remaining -= 1;
      const { status, retryAfter } = failures;
      if (failures.remaining === 0) failures = null;
      record.status = status;
      record.error = status === 429 ? 'too_many_requests' : 'temporarily_unavailable';
      const e =
        status === 429
          ? new OAuthError(
              429,
              'temporarily_unavailable',
              50196,
              'The server terminated an operation because it encountered a client request loop.',
            )
          : new OAuthError(status, 'temporarily_unavailable', 90033, 'A transient error has occurred. Please try again.');
      return sendJson(res, status, errorBody(req, e), status === 429 ? { 'Retry-After': String(retryAfter ?? 1) } : {});
    }

    try {
      if (entraFailure && entraFailure.remaining > 0 && (!entraFailure.grantTypes || entraFailure.grantTypes.includes(grantType))) {
        const code = entraFailure.code;
        if (--entraFailure.remaining === 0) entraFailure = null;
        throw entraError(code, {
          clientId: form.get('client_id') ?? '',
          tenant,
          upn: user.upn,
          tid: user.tid,
          redirectUri: form.get('redirect_uri') ?? '',
        });
      }
      if (grantType === 'client_credentials') {
        const client = authenticateClient(req, form, record);
        if (['common', 'organizations', 'consumers'].includes(tenant.toLowerCase())) {
          throw new OAuthError(
            400,
            'invalid_request',
            700016,
            "AADSTS700016: client credentials need a tenant-specific authority, not '" + tenant + "'.",
          );
        }
        const scopes = splitScopes(form.get('scope'));
        if (scopes.length !== 1 || !scopes[0]!.endsWith('/.default')) {
          throw new OAuthError(
            400,
            'invalid_scope',
            1002012,
            'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).',
          );
        }
        const now = Math.floor(Date.now() / 1000);
        const tid = /^[0-9a-f-]{36}$/i.test(tenant) ? tenant.toLowerCase() : DEFAULT_USER.tid;
        const accessToken = signJwt({
          aud: scopes[0]!.slice(0, -'/.default'.length),
          iss: issuer(tid),
          iat: now,
          nbf: now,
          exp: now + server.tokenLifetimeSeconds,
          azp: client.clientId,
          azpacr: '1',
          idtyp: 'app',
          oid: '00000000-0000-0000-0000-00000000ab01',
          roles: [...server.appRoles],
          sub: '00000000-0000-0000-0000-00000000ab01',
          tid,
          uti: b64url(randomBytes(16)),
          ver: '2.0',
        });
        record.status = 200;
        return sendJson(res, 200, {
          token_type: 'Bearer',
          expires_in: server.tokenLifetimeSeconds,
          ext_expires_in: server.tokenLifetimeSeconds,
          access_token: accessToken,
        });
      }
      if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
        throw new OAuthError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
      }
      const client = authenticateClient(req, form, record);
      const includeClientInfo = form.get('client_info') === '1';
      let body: Record<string, unknown>;

      if (grantType === 'authorization_code') {
        const code = form.get('code');
        if (!code) throw new OAuthError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'code'.");
        const entry = codes.get(code);
        if (!entry) throw new OAuthError(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
        if (entry.redeemed) {
          throw new OAuthError(
            400,
            'invalid_grant',
            54005,
            'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
          );
        }
        if (entry.expiresAt < Date.now()) {
          throw new OAuthError(
            400,
            'invalid_grant',
            70008,
            'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
          );
        }
        if (entry.clientId !== client.clientId) {
          throw new OAuthError(400, 'invalid_grant', 70000, 'The provided authorization code was issued to a different client.');
        }
        const redirectUri = form.get('redirect_uri');
        if (redirectUri !== entry.redirectUri) {
          throw new OAuthError(400, 'invalid_grant', 50148, "The redirect_uri doesn't match the one used in the authorization request.");
        }
        const verifier = form.get('code_verifier');
        if (!verifier) {
          throw new OAuthError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'code_verifier'.");
        }
        if (createHash('sha256').update(verifier).digest('base64url') !== entry.codeChallenge) {
          throw new OAuthError(
            400,
            'invalid_grant',
            501481,
            'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
          );
        }
        entry.redeemed = true;
        // The token request may name scopes too; the code's scopes are what was consented.
        const asked = splitScopes(form.get('scope'));
        const nonce = server.forgeNonce ?? entry.nonce;
        body = mintTokens(client, entry.user, asked.length > 0 ? asked : entry.scopes, entry.scopes, nonce, includeClientInfo);
      } else {
        const rt = form.get('refresh_token');
        if (!rt)
          throw new OAuthError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'refresh_token'.");
        const entry = refreshTokens.get(rt);
        if (!entry) throw new OAuthError(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
        if (entry.revoked) {
          if (entry.revoked.code === 700082) {
            throw new OAuthError(
              400,
              'invalid_grant',
              700082,
              'The refresh token has expired due to inactivity. The token was issued on 2020-01-01T00:00:00Z and was inactive for 90.00:00:00.',
              entry.revoked.suberror,
            );
          }
          throw new OAuthError(
            400,
            'invalid_grant',
            50173,
            'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.',
            entry.revoked.suberror,
          );
        }
        if (entry.clientId !== client.clientId) {
          throw new OAuthError(400, 'invalid_grant', 70000, 'The refresh token was issued to a different client.');
        }
        if (server.consentRevoked) {
          throw new OAuthError(
            400,
            'invalid_grant',
            65001,
            `The user or administrator has not consented to use the application with ID '${client.clientId}'. Send an interactive authorization request for this user and resource.`,
            'consent_required',
          );
        }
        const asked = splitScopes(form.get('scope'));
        // Entra rotates: a new refresh token each time, and the old one keeps working.
        body = mintTokens(client, entry.user, asked.length > 0 ? asked : entry.scopes, entry.scopes, undefined, includeClientInfo);
        if (server.omitRefreshTokenOnRefresh) delete body.refresh_token;
      }
      record.status = 200;
      return sendJson(res, 200, body);
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      record.status = e.status;
      record.error = e.error;
      return sendJson(res, e.status, errorBody(req, e));
    }
  };

  // ---------------------------------------------------------------- routing

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const m =
      /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/authorize|oauth2\/v2\.0\/token|discovery\/v2\.0\/keys)$/.exec(
        url.pathname,
      );
    if (!m) return sendJson(res, 404, { error: 'not_found', error_description: `No route for ${req.method} ${url.pathname}` });
    const tenant = decodeURIComponent(m[1]!);
    const route = m[2]!;
    if (route === 'oauth2/v2.0/token') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Use POST' });
      return handleToken(req, res, tenant);
    }
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Use GET' });
    if (route === 'oauth2/v2.0/authorize') return handleAuthorize(res, tenant, url);
    if (route === 'discovery/v2.0/keys') return sendJson(res, 200, { keys: [{ ...publicJwk, issuer: `${baseUrl}/{tenantid}/v2.0` }] });
    return sendJson(res, 200, discovery(tenant));
  };

  const httpsServer = createServer(
    { cert: readFileSync(join(TLS_DIR, 'server.pem')), key: readFileSync(join(TLS_DIR, 'server-key.pem')) },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err) });
        else res.destroy();
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    httpsServer.once('error', reject);
    httpsServer.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (httpsServer.address() as AddressInfo).port;
  baseUrl = `https://localhost:${port}`;
  const verifyKey = createPublicKey(publicKey.export({ type: 'spki', format: 'pem' }));

  const server: OidcServer = {
    baseUrl,
    port,
    clients,
    get user() {
      return user;
    },
    setUser(u) {
      const { appRoles, ...rest } = u;
      user = known({ ...user, ...rest, ...(appRoles ? { appRoles } : {}) });
    },
    addAccount(a) {
      accounts.push(known({ ...a }));
    },
    assignAppRoles(clientId, upnOrOid, roles) {
      assign(clientId, findAccount(upnOrOid), roles);
    },
    appRolesOf(clientId, upnOrOid) {
      return rolesOf(clientId, findAccount(upnOrOid));
    },
    denyConsent: false,
    omitRefreshTokenOnRefresh: false,
    withholdOfflineAccess: false,
    consentRevoked: false,
    forgeNonce: null,
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600,
    appRoles: ['User.Read.All', 'Files.ReadWrite.All'],
    grantOnly(scopes) {
      grantOnlyScopes = scopes ? new Set(scopes) : null;
    },
    revokeRefreshTokens(opts = {}) {
      for (const entry of refreshTokens.values()) entry.revoked = { code: 50173, ...opts };
    },
    failNextTokenRequests(count, status, retryAfterSeconds) {
      failures = count > 0 ? { remaining: count, status, retryAfter: retryAfterSeconds } : null;
    },
    dropNextTokenRequests(count) {
      drops = Math.max(0, count);
    },
    failTokenRequestsWith(code, opts = {}) {
      entraFailure = code === null ? null : { code, remaining: opts.count ?? Infinity, grantTypes: opts.grantTypes };
    },
    failNextAuthorizeWith(code) {
      authorizeFailure = code;
    },
    tokenRequests,
    authorizeRequests,
    issuedRefreshTokens,
    authority: (tenant) => `${baseUrl}/${tenant}`,
    issuer,
    authorityMetadata: (tenant) => JSON.stringify(discovery(tenant)),
    verifyJwt(token) {
      const parts = token.split('.');
      if (parts.length !== 3) throw new Error('not a JWT');
      const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), verifyKey, Buffer.from(parts[2]!, 'base64url'));
      if (!ok) throw new Error('bad signature');
      const decoded = decodeJwt(token);
      if (typeof decoded.payload.exp === 'number' && decoded.payload.exp * 1000 < Date.now()) throw new Error('expired');
      return decoded;
    },
    publicJwk,
    issueManagedIdentityToken(identity, resource, lifetimeSeconds = 86_400) {
      const now = Math.floor(Date.now() / 1000);
      const tid = identity.tenantId.toLowerCase();
      const exp = now + lifetimeSeconds;
      const token = signJwt({
        aud: resource,
        iss: issuer(tid),
        iat: now,
        nbf: Math.min(now, exp),
        exp,
        appid: identity.clientId,
        azp: identity.clientId,
        idtyp: 'app',
        oid: identity.objectId,
        sub: identity.objectId,
        tid,
        uti: b64url(randomBytes(16)),
        ver: '2.0',
        xms_mirid: `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${identity.clientId}`,
      });
      return { token, expiresOn: exp };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        httpsServer.close(() => resolve());
        httpsServer.closeAllConnections();
      }),
  };
  return server;
}
