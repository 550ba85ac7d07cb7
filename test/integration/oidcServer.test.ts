/**
 * The local Entra-like OIDC server (test/helpers/oidcServer.ts) driven by the real
 * @azure/msal-node ConfidentialClientApplication over HTTPS on loopback.
 * Needs NODE_EXTRA_CA_CERTS=test/fixtures/tls/ca.pem (set by `npm test`).
 */
import {
  ConfidentialClientApplication,
  CryptoProvider,
  InteractionRequiredAuthError,
  LogLevel,
  ServerError,
  type AccountInfo,
} from '@azure/msal-node';
import { CONSUMER_TENANT_ID, DEFAULT_CLIENT, decodeJwt, startOidcServer, type OidcServer } from '../helpers/oidcServer';

const SCOPES = ['https://graph.microsoft.com/Mail.Send', 'https://graph.microsoft.com/User.Read'];
const REDIRECT_URI = DEFAULT_CLIENT.redirectUris[0]!;

let server: OidcServer;

beforeAll(async () => {
  server = await startOidcServer();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  server.denyConsent = false;
  server.grantOnly(null);
  server.setUser({
    oid: '00000000-0000-0000-0000-0000000000a1',
    tid: '72f988bf-0000-4000-8000-000000000001',
    upn: 'alice@contoso.example',
    name: 'Alice Example',
    home: undefined,
  });
  server.withholdOfflineAccess = false;
  server.consentRevoked = false;
  server.forgeNonce = null;
  server.tokenLifetimeSeconds = 3600;
});

function makeCca(clientSecret = DEFAULT_CLIENT.clientSecret): ConfidentialClientApplication {
  return new ConfidentialClientApplication({
    auth: {
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret,
      authority: server.authority('organizations'),
      knownAuthorities: [`localhost:${server.port}`],
      authorityMetadata: server.authorityMetadata('organizations'),
    },
    system: { loggerOptions: { loggerCallback: () => undefined, piiLoggingEnabled: false, logLevel: LogLevel.Error } },
  });
}

/** Runs the authorize step (no redirect following) and returns the redirect URL plus PKCE verifier. */
async function authorize(
  cca: ConfidentialClientApplication,
  scopes = SCOPES,
  redirectUri = REDIRECT_URI,
  extra: { loginHint?: string; prompt?: string; nonce?: string } = {},
) {
  const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
  const state = `state-${Math.random()}`;
  const url = await cca.getAuthCodeUrl({ scopes, redirectUri, codeChallenge: challenge, codeChallengeMethod: 'S256', state, ...extra });
  const res = await fetch(url, { redirect: 'manual' });
  return { res, verifier, state, url };
}

async function signIn(cca: ConfidentialClientApplication, scopes = SCOPES) {
  const { res, verifier, state } = await authorize(cca, scopes);
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(location.searchParams.get('state')).toBe(state);
  const code = location.searchParams.get('code')!;
  expect(code).toBeTruthy();
  const result = await cca.acquireTokenByCode({ code, scopes, redirectUri: REDIRECT_URI, codeVerifier: verifier });
  return { code, verifier, result };
}

describe('oidcServer with the real MSAL node', () => {
  test('authorization code + PKCE, then silent refresh; the cache holds a refresh token', async () => {
    const cca = makeCca();
    const { result } = await signIn(cca);
    const account = result.account as AccountInfo;
    expect(account.homeAccountId).toBe('00000000-0000-0000-0000-0000000000a1.72f988bf-0000-4000-8000-000000000001');
    expect(account.tenantId).toBe('72f988bf-0000-4000-8000-000000000001');
    expect(account.username).toBe('alice@contoso.example');
    expect(result.idTokenClaims).toMatchObject({
      oid: '00000000-0000-0000-0000-0000000000a1',
      tid: '72f988bf-0000-4000-8000-000000000001',
      preferred_username: 'alice@contoso.example',
      aud: DEFAULT_CLIENT.clientId,
      iss: server.issuer('72f988bf-0000-4000-8000-000000000001'),
    });
    expect(result.scopes.sort()).toEqual([...SCOPES].sort());
    const at = server.verifyJwt(result.accessToken).payload;
    expect(at).toMatchObject({ aud: 'https://graph.microsoft.com', scp: 'Mail.Send User.Read', oid: account.localAccountId });
    expect(server.issuedRefreshTokens).toHaveLength(1);

    const before = server.tokenRequests.length;
    const refreshed = await cca.acquireTokenSilent({ account, scopes: SCOPES, forceRefresh: true });
    expect(refreshed.accessToken).not.toBe(result.accessToken);
    expect(server.tokenRequests.slice(before).map((r) => r.grant_type)).toEqual(['refresh_token']);
    // Rotation: a new refresh token was issued, and MSAL stored it.
    expect(server.issuedRefreshTokens).toHaveLength(2);

    const cache = JSON.parse(cca.getTokenCache().serialize()) as Record<string, Record<string, { secret: string }>>;
    const rts = Object.values(cache.RefreshToken ?? {});
    expect(rts).toHaveLength(1);
    expect(rts[0]!.secret).toBe(server.issuedRefreshTokens[1]);
  });

  test('the old refresh token stays valid after rotation', async () => {
    const cca = makeCca();
    await signIn(cca);
    const first = server.issuedRefreshTokens.at(-1)!;
    const account = (await cca.getTokenCache().getAllAccounts())[0]!;
    await cca.acquireTokenSilent({ account, scopes: SCOPES, forceRefresh: true });
    const res = await fetch(`${server.authority('organizations')}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: first,
        client_id: DEFAULT_CLIENT.clientId,
        client_secret: DEFAULT_CLIENT.clientSecret,
        scope: `${SCOPES.join(' ')} offline_access openid profile`,
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(body.refresh_token).toBeTruthy();
    expect(body.refresh_token).not.toBe(first);
    expect(body.scope).toBe(SCOPES.join(' '));
    expect(body.client_info).toBeUndefined(); // only with client_info=1
  });

  test('a personal account (consumer tenant) signs in through /organizations', async () => {
    server.setUser({ oid: '00000000-0000-0000-0000-0000000000b2', tid: CONSUMER_TENANT_ID, upn: 'bob@outlook.example', name: 'Bob' });
    const { result } = await signIn(makeCca());
    expect(result.account?.homeAccountId).toBe(`00000000-0000-0000-0000-0000000000b2.${CONSUMER_TENANT_ID}`);
    expect(result.idTokenClaims).toMatchObject({ tid: CONSUMER_TENANT_ID });
  });

  test('grantOnly grants fewer scopes than asked', async () => {
    server.grantOnly(['https://graph.microsoft.com/User.Read']);
    const { result } = await signIn(makeCca());
    expect(result.scopes).toEqual(['https://graph.microsoft.com/User.Read']);
    expect(decodeJwt(result.accessToken).payload.scp).toBe('User.Read');
  });

  test('a replayed authorization code is invalid_grant (AADSTS54005)', async () => {
    const cca = makeCca();
    const { code, verifier } = await signIn(cca);
    const err = await makeCca()
      .acquireTokenByCode({ code, scopes: SCOPES, redirectUri: REDIRECT_URI, codeVerifier: verifier })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ errorCode: 'invalid_grant' });
    expect((err as ServerError).errorMessage).toContain('AADSTS54005');
  });

  test('a wrong PKCE verifier, redirect URI or client secret is refused', async () => {
    const cca = makeCca();
    const { res } = await authorize(cca);
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const wrongVerifier = await cca
      .acquireTokenByCode({ code, scopes: SCOPES, redirectUri: REDIRECT_URI, codeVerifier: 'x'.repeat(43) })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(wrongVerifier).toMatchObject({ errorCode: 'invalid_grant' });
    expect((wrongVerifier as ServerError).errorMessage).toContain('AADSTS501481');

    const second = await authorize(cca);
    const code2 = new URL(second.res.headers.get('location')!).searchParams.get('code')!;
    const wrongRedirect = await cca
      .acquireTokenByCode({ code: code2, scopes: SCOPES, redirectUri: 'https://localhost/other', codeVerifier: second.verifier })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(wrongRedirect).toMatchObject({ errorCode: 'invalid_grant' });
    expect((wrongRedirect as ServerError).errorMessage).toContain('AADSTS50148');

    const third = await authorize(cca);
    const code3 = new URL(third.res.headers.get('location')!).searchParams.get('code')!;
    const wrongSecret = await makeCca('not-the-secret')
      .acquireTokenByCode({ code: code3, scopes: SCOPES, redirectUri: REDIRECT_URI, codeVerifier: third.verifier })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(wrongSecret).toMatchObject({ errorCode: 'invalid_client' });
    expect((wrongSecret as ServerError).errorMessage).toContain('AADSTS7000215');
    expect(server.tokenRequests.at(-1)).toMatchObject({ status: 401, error: 'invalid_client' });
  });

  test('revoked refresh tokens: acquireTokenSilent fails with invalid_grant', async () => {
    const cca = makeCca();
    const { result } = await signIn(cca);
    server.revokeRefreshTokens();
    const err = await cca.acquireTokenSilent({ account: result.account!, scopes: SCOPES, forceRefresh: true }).then(
      () => null,
      (e: unknown) => e,
    );
    // MSAL node 7.2.3 raises a plain ServerError (not InteractionRequiredAuthError) for
    // invalid_grant without a suberror such as 'bad_token'; the AADSTS text is in errorMessage.
    expect(err).toBeInstanceOf(ServerError);
    expect(err).not.toBeInstanceOf(InteractionRequiredAuthError);
    expect(err).toMatchObject({ errorCode: 'invalid_grant' });
    expect((err as ServerError).errorMessage).toContain('AADSTS50173');
  });

  test('revoked with suberror bad_token: MSAL raises InteractionRequiredAuthError', async () => {
    const cca = makeCca();
    const { result } = await signIn(cca);
    server.revokeRefreshTokens({ code: 700082, suberror: 'bad_token' });
    const err = await cca.acquireTokenSilent({ account: result.account!, scopes: SCOPES, forceRefresh: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InteractionRequiredAuthError);
    expect(err).toMatchObject({ errorCode: 'invalid_grant', subError: 'bad_token' });
    expect((err as InteractionRequiredAuthError).errorMessage).toContain('AADSTS700082');
  });

  test('failNextTokenRequests(1, 503) makes a forced refresh fail once', async () => {
    const cca = makeCca();
    const { result } = await signIn(cca);
    server.failNextTokenRequests(1, 503);
    const before = server.tokenRequests.length;
    await expect(cca.acquireTokenSilent({ account: result.account!, scopes: SCOPES, forceRefresh: true })).rejects.toBeInstanceOf(
      ServerError,
    );
    // MSAL does not retry a 5xx token response itself.
    expect(server.tokenRequests.slice(before).map((r) => r.status)).toEqual([503]);
    // But it remembers it: MSAL's throttling cache answers the same request (same client, authority,
    // scopes, account) for the next 60 s (or Retry-After seconds on a 429) with a ServerError whose
    // errorCode is the joined error_codes ('90033'), without asking the server.
    const throttled = await cca.acquireTokenSilent({ account: result.account!, scopes: SCOPES, forceRefresh: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(throttled).toBeInstanceOf(ServerError);
    expect(throttled).toMatchObject({ errorCode: '90033' });
    expect(server.tokenRequests.length).toBe(before + 1);
  });

  test('consent denied: the redirect carries error=access_denied (AADSTS65004)', async () => {
    server.denyConsent = true;
    const { res, state } = await authorize(makeCca());
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('error_description')).toMatch(/^AADSTS65004: User declined to consent/);
    expect(location.searchParams.get('state')).toBe(state);
    expect(location.searchParams.get('code')).toBeNull();
  });

  test('an unregistered redirect URI gets a redirect-less 400 page with AADSTS50011', async () => {
    const { res } = await authorize(makeCca(), SCOPES, 'https://evil.example/callback');
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('AADSTS50011');
    expect(html).toContain('The reply URL specified in the request does not match');
  });

  test('authorize requires PKCE S256', async () => {
    const url = new URL(`${server.authority('organizations')}/oauth2/v2.0/authorize`);
    url.search = new URLSearchParams({
      client_id: DEFAULT_CLIENT.clientId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid User.Read',
      state: 's',
    }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  test('discovery document and JWKS are served on tenant paths', async () => {
    const doc = (await (await fetch(`${server.baseUrl}/organizations/v2.0/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    expect(doc).toEqual(JSON.parse(server.authorityMetadata('organizations')));
    expect(doc.issuer).toBe(`${server.baseUrl}/{tenantid}/v2.0`);
    const tenantDoc = JSON.parse(server.authorityMetadata('contoso.example')) as Record<string, string>;
    expect(tenantDoc.issuer).toBe(`${server.baseUrl}/contoso.example/v2.0`);
    const jwks = (await (await fetch(doc.jwks_uri!)).json()) as { keys: Array<Record<string, string>> };
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', kid: server.publicJwk.kid });
  });

  test('a guest: client_info names the home account, the ID token the guest object in this tenant', async () => {
    const home = { oid: '00000000-0000-0000-0000-0000000000c3', tid: 'aaaaaaaa-0000-4000-8000-00000000000f' };
    server.setUser({ oid: '00000000-0000-0000-0000-0000000000c4', upn: 'carol_fabrikam.example#EXT#@contoso.example', home });
    const { result } = await signIn(makeCca());
    expect(result.account?.homeAccountId).toBe(`${home.oid}.${home.tid}`);
    expect(result.idTokenClaims).toMatchObject({
      oid: '00000000-0000-0000-0000-0000000000c4',
      tid: '72f988bf-0000-4000-8000-000000000001',
      idp: `https://sts.windows.net/${home.tid}/`,
    });
    // The raw token response, as Entra sends it to a client that asks for client_info.
    const { res, verifier } = await authorize(makeCca());
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const body = (await (
      await fetch(`${server.authority('organizations')}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          redirect_uri: REDIRECT_URI,
          client_info: '1',
          client_id: DEFAULT_CLIENT.clientId,
          client_secret: DEFAULT_CLIENT.clientSecret,
        }),
      })
    ).json()) as { client_info: string };
    expect(JSON.parse(Buffer.from(body.client_info, 'base64url').toString('utf8'))).toEqual({ uid: home.oid, utid: home.tid });
  });

  test('login_hint signs the hinted account in, except with prompt=select_account (the picker: the hint plays no part)', async () => {
    const bob = {
      oid: '00000000-0000-0000-0000-0000000000d5',
      tid: '72f988bf-0000-4000-8000-000000000001',
      upn: 'Bob@Contoso.example',
      name: 'Bob',
    };
    server.addAccount(bob);
    const hinted = await authorize(makeCca(), SCOPES, REDIRECT_URI, { loginHint: 'bob@contoso.example' });
    expect(new URL(hinted.url).searchParams.get('login_hint')).toBe('bob@contoso.example');
    expect(server.authorizeRequests.at(-1)).toMatchObject({ status: 302, signedIn: bob.upn });

    // MSAL drops the hint itself with select_account; sent anyway, the picker ignores it.
    await authorize(makeCca(), SCOPES, REDIRECT_URI, { loginHint: 'bob@contoso.example', prompt: 'select_account' });
    expect(server.authorizeRequests.at(-1)).toMatchObject({ params: { prompt: 'select_account' }, signedIn: 'alice@contoso.example' });
    expect(server.authorizeRequests.at(-1)!.params.login_hint).toBeUndefined();
    const raw = new URL(`${server.authority('organizations')}/oauth2/v2.0/authorize`);
    raw.search = new URLSearchParams({
      client_id: DEFAULT_CLIENT.clientId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid User.Read',
      state: 's',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
      prompt: 'select_account',
      login_hint: 'bob@contoso.example',
    }).toString();
    expect((await fetch(raw, { redirect: 'manual' })).status).toBe(302);
    expect(server.authorizeRequests.at(-1)).toMatchObject({ signedIn: 'alice@contoso.example' });
  });

  test('withholdOfflineAccess: the code redemption gets no refresh token', async () => {
    server.withholdOfflineAccess = true;
    const cca = makeCca();
    const issued = server.issuedRefreshTokens.length;
    await signIn(cca);
    expect(server.issuedRefreshTokens).toHaveLength(issued);
    const cache = JSON.parse(cca.getTokenCache().serialize()) as { RefreshToken?: Record<string, unknown> };
    expect(Object.keys(cache.RefreshToken ?? {})).toHaveLength(0);
  });

  test('consentRevoked: refreshes answer invalid_grant AADSTS65001 until consent is back', async () => {
    const cca = makeCca();
    const { result } = await signIn(cca);
    server.consentRevoked = true;
    const err = await cca.acquireTokenSilent({ account: result.account!, scopes: SCOPES, forceRefresh: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ errorCode: 'invalid_grant', subError: 'consent_required' });
    expect((err as ServerError).errorMessage).toContain('AADSTS65001');
    server.consentRevoked = false;
    await expect(cca.acquireTokenSilent({ account: result.account!, scopes: SCOPES, forceRefresh: true })).resolves.toMatchObject({
      accessToken: expect.any(String),
    });
  });

  test('the nonce of the authorize request comes back in the ID token; forgeNonce replaces it, and MSAL refuses that', async () => {
    const cca = makeCca();
    const { res, verifier } = await authorize(cca, SCOPES, REDIRECT_URI, { nonce: 'the-nonce' });
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const result = await cca.acquireTokenByCode({
      code,
      scopes: SCOPES,
      redirectUri: REDIRECT_URI,
      codeVerifier: verifier,
      nonce: 'the-nonce',
    });
    expect(result.idTokenClaims).toMatchObject({ nonce: 'the-nonce' });

    server.forgeNonce = 'another-sign-in';
    const second = await authorize(cca, SCOPES, REDIRECT_URI, { nonce: 'the-nonce' });
    const code2 = new URL(second.res.headers.get('location')!).searchParams.get('code')!;
    await expect(
      cca.acquireTokenByCode({ code: code2, scopes: SCOPES, redirectUri: REDIRECT_URI, codeVerifier: second.verifier, nonce: 'the-nonce' }),
    ).rejects.toMatchObject({
      errorCode: 'nonce_mismatch',
    });
  });

  test('dropNextTokenRequests: the token request fails on the network, and the next one is answered', async () => {
    const cca = makeCca();
    const { res, verifier } = await authorize(cca);
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    server.dropNextTokenRequests(1);
    const err = await cca.acquireTokenByCode({ code, scopes: SCOPES, redirectUri: REDIRECT_URI, codeVerifier: verifier }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeTruthy();
    expect(server.tokenRequests.at(-1)).toMatchObject({ error: 'connection_dropped' });
    await expect(
      cca.acquireTokenByCode({ code, scopes: SCOPES, redirectUri: REDIRECT_URI, codeVerifier: verifier }),
    ).resolves.toMatchObject({ accessToken: expect.any(String) });
  });

  test('tokenLifetimeSeconds sets expires_in of the tokens issued from then on', async () => {
    server.tokenLifetimeSeconds = 7200;
    const { result } = await signIn(makeCca());
    const exp = server.verifyJwt(result.accessToken).payload.exp as number;
    const iat = server.verifyJwt(result.accessToken).payload.iat as number;
    expect(exp - iat).toBe(7200);
  });
});

describe('app roles assigned to users (the roles claim)', () => {
  const TENANT = '72f988bf-0000-4000-8000-000000000001';
  const FABRIKAM = 'aaaaaaaa-0000-4000-8000-00000000000f';
  const CONSOLE_CLIENT = {
    clientId: '22222222-3333-4444-5555-666666666666',
    clientSecret: 'console-client-secret',
    redirectUris: ['https://localhost/api/console/signin-callback'],
  };
  const alice = { oid: '00000000-0000-0000-0000-0000000000a1', tid: TENANT, upn: 'alice@contoso.example', name: 'Alice' };
  const bob = {
    oid: '00000000-0000-0000-0000-0000000000b1',
    tid: TENANT,
    upn: 'bob@contoso.example',
    name: 'Bob',
    appRoles: { [CONSOLE_CLIENT.clientId]: ['ScanRelay.Reader'] },
  };
  let idp: OidcServer;

  beforeAll(async () => {
    idp = await startOidcServer({ clients: [CONSOLE_CLIENT, DEFAULT_CLIENT], user: alice, accounts: [bob] });
  });
  afterAll(async () => {
    await idp.stop();
  });
  beforeEach(() => {
    idp.setUser({ ...alice, home: undefined });
  });

  /** A client as shared/access/signIn.ts makes one: the console's app registration, a tenant (GUID) authority. */
  function consoleCca(tenant = TENANT, client = CONSOLE_CLIENT): ConfidentialClientApplication {
    return new ConfidentialClientApplication({
      auth: {
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        authority: idp.authority(tenant),
        knownAuthorities: [`localhost:${idp.port}`],
        authorityMetadata: idp.authorityMetadata(tenant),
      },
      system: { loggerOptions: { loggerCallback: () => undefined, piiLoggingEnabled: false, logLevel: LogLevel.Error } },
    });
  }

  /** The console's sign-in, with what signIn.ts sends: openid profile, PKCE, a nonce, response_mode query, no prompt. */
  async function consoleSignIn(
    cca = consoleCca(),
    options: { client?: typeof CONSOLE_CLIENT; scopes?: string[]; loginHint?: string } = {},
  ) {
    const client = options.client ?? CONSOLE_CLIENT;
    const scopes = options.scopes ?? ['openid', 'profile'];
    const redirectUri = client.redirectUris[0]!;
    const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
    const nonce = `nonce-${Math.random()}`;
    const url = await cca.getAuthCodeUrl({
      scopes,
      redirectUri,
      state: `state-${Math.random()}`,
      codeChallenge: challenge,
      codeChallengeMethod: 'S256',
      nonce,
      responseMode: 'query',
      ...(options.loginHint ? { loginHint: options.loginHint } : {}),
    });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const code = new URL(res.headers.get('location')!).searchParams.get('code');
    expect(code).toBeTruthy();
    const result = await cca.acquireTokenByCode({ code: code!, scopes, redirectUri, codeVerifier: verifier, nonce });
    return { result, claims: result.idTokenClaims as Record<string, unknown> };
  }

  test("the authorize endpoint takes the console's request (openid profile, and MSAL's offline_access; no prompt)", async () => {
    const { claims } = await consoleSignIn();
    const authorize = idp.authorizeRequests.at(-1)!;
    expect(authorize).toMatchObject({ status: 302, tenant: TENANT, signedIn: alice.upn });
    expect(authorize.params.scope!.split(' ').sort()).toEqual(['offline_access', 'openid', 'profile']);
    expect(authorize.params.prompt).toBeUndefined();
    expect(authorize.params).toMatchObject({ response_mode: 'query', code_challenge_method: 'S256', client_id: CONSOLE_CLIENT.clientId });
    expect(claims).toMatchObject({ aud: CONSOLE_CLIENT.clientId, tid: TENANT, oid: alice.oid, iss: idp.issuer(TENANT) });
  });

  test('no role assigned: the ID token has no roles claim', async () => {
    idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.upn, []);
    const { claims } = await consoleSignIn();
    expect(claims).not.toHaveProperty('roles');
  });

  test('assignAppRoles: the ID token of a sign-in to that application carries the assigned values', async () => {
    idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.upn, ['ScanRelay.Admin', 'ScanRelay.Reader']);
    try {
      const { result, claims } = await consoleSignIn();
      expect(claims.roles).toEqual(['ScanRelay.Admin', 'ScanRelay.Reader']);
      expect(idp.verifyJwt(result.idToken).payload.roles).toEqual(['ScanRelay.Admin', 'ScanRelay.Reader']);
      // The access token is for Microsoft Graph, not for this application: no roles there.
      expect(decodeJwt(result.accessToken).payload).not.toHaveProperty('roles');
      expect(idp.appRolesOf(CONSOLE_CLIENT.clientId, alice.oid.toUpperCase())).toEqual(['ScanRelay.Admin', 'ScanRelay.Reader']);
    } finally {
      idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.oid, []);
    }
  });

  test("roles are per application: another application's assignment is not in this one's tokens", async () => {
    idp.assignAppRoles(DEFAULT_CLIENT.clientId, alice.upn, ['Other.Role']);
    try {
      const { claims } = await consoleSignIn();
      expect(claims).not.toHaveProperty('roles');
      const other = await consoleSignIn(consoleCca(TENANT, DEFAULT_CLIENT), { client: DEFAULT_CLIENT });
      expect(other.claims.roles).toEqual(['Other.Role']);
    } finally {
      idp.assignAppRoles(DEFAULT_CLIENT.clientId, alice.upn, []);
    }
    expect(idp.appRolesOf(DEFAULT_CLIENT.clientId, alice.upn)).toEqual([]);
  });

  test('OidcUser.appRoles: an account given with roles gets them (here signed in through login_hint)', async () => {
    const { claims } = await consoleSignIn(consoleCca(), { loginHint: bob.upn });
    expect(claims).toMatchObject({ oid: bob.oid, roles: ['ScanRelay.Reader'] });
    expect(idp.appRolesOf(CONSOLE_CLIENT.clientId, bob.upn)).toEqual(['ScanRelay.Reader']);
    // The server keeps them, not the account.
    idp.setUser({ appRoles: { [CONSOLE_CLIENT.clientId]: ['ScanRelay.Admin'] } });
    expect(idp.user).not.toHaveProperty('appRoles');
    try {
      expect((await consoleSignIn()).claims.roles).toEqual(['ScanRelay.Admin']);
    } finally {
      idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.upn, []);
    }
  });

  test('roles are read when a token is issued: a refresh after a change carries the new ones', async () => {
    idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.upn, ['ScanRelay.Reader']);
    try {
      const cca = consoleCca();
      const { result, claims } = await consoleSignIn(cca);
      expect(claims.roles).toEqual(['ScanRelay.Reader']);
      idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.upn, ['ScanRelay.Admin']);
      const refreshed = await cca.acquireTokenSilent({ account: result.account!, scopes: ['openid', 'profile'], forceRefresh: true });
      expect(refreshed.idTokenClaims).toMatchObject({ roles: ['ScanRelay.Admin'] });
    } finally {
      idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.upn, []);
    }
  });

  test('a guest gets the roles assigned in the tenant it signs in to, not those of its home account', async () => {
    const home = { oid: '00000000-0000-0000-0000-0000000000c3', tid: FABRIKAM, upn: 'carol@fabrikam.example', name: 'Carol' };
    const guest = {
      oid: '00000000-0000-0000-0000-0000000000c4',
      tid: TENANT,
      upn: 'carol_fabrikam.example#EXT#@contoso.example',
      name: 'Carol',
      home: { oid: home.oid, tid: home.tid },
    };
    // The same application, used in Carol's home tenant too, where she holds Admin.
    idp.addAccount({ ...home, appRoles: { [CONSOLE_CLIENT.clientId]: ['ScanRelay.Admin'] } });
    idp.addAccount(guest);
    const asGuest = await consoleSignIn(consoleCca(), { loginHint: guest.upn });
    expect(asGuest.result.account?.homeAccountId).toBe(`${home.oid}.${home.tid}`);
    expect(asGuest.claims).toMatchObject({ oid: guest.oid, tid: TENANT, idp: `https://sts.windows.net/${FABRIKAM}/` });
    expect(asGuest.claims).not.toHaveProperty('roles');

    idp.assignAppRoles(CONSOLE_CLIENT.clientId, guest.upn, ['ScanRelay.Reader']);
    const again = await consoleSignIn(consoleCca(), { loginHint: guest.upn });
    expect(again.claims.roles).toEqual(['ScanRelay.Reader']);

    const atHome = await consoleSignIn(consoleCca(FABRIKAM), { loginHint: home.upn });
    expect(atHome.claims).toMatchObject({ tid: FABRIKAM, roles: ['ScanRelay.Admin'] });
  });

  test("an access token for the application's own resource (api://<client id>) carries its roles", async () => {
    idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.upn, ['ScanRelay.Admin']);
    try {
      const scopes = [`api://${CONSOLE_CLIENT.clientId}/Console.Access`];
      const { result } = await consoleSignIn(consoleCca(), { scopes });
      expect(idp.verifyJwt(result.accessToken).payload).toMatchObject({
        aud: `api://${CONSOLE_CLIENT.clientId}`,
        scp: 'Console.Access',
        roles: ['ScanRelay.Admin'],
      });
      expect(result.idTokenClaims).toMatchObject({ roles: ['ScanRelay.Admin'] });
    } finally {
      idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.upn, []);
    }
  });

  test('assigning to an unknown account or with bad values throws', () => {
    expect(() => idp.assignAppRoles(CONSOLE_CLIENT.clientId, 'nobody@contoso.example', ['ScanRelay.Admin'])).toThrow(/No known account/);
    expect(() => idp.assignAppRoles(CONSOLE_CLIENT.clientId, alice.upn, [''])).toThrow(/role values/);
  });
});
