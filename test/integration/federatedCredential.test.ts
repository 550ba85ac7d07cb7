/**
 * No client secret: the app registration's credential is a federated identity credential naming
 * the app's user-assigned managed identity (OAUTH_CLIENT_CREDENTIAL=managedIdentity). The real
 * MSAL and @azure/identity against a local managed identity endpoint (App Service's protocol,
 * IDENTITY_ENDPOINT/IDENTITY_HEADER) and the test OIDC server, which checks the client
 * assertion's signature, issuer, subject, audience and expiry: authorize, refresh and app-only
 * tokens work with no secret stored, and no client_secret parameter is ever sent.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  CONNECTION_TYPES,
  completeAuthorization,
  getAccessToken,
  newKeyRingSecret,
  refreshConnection,
  startAuthorization,
  type OAuthDeps,
} from '../../shared/oauth';
import { loadConfig } from '../../shared/config';
import { MsalClients } from '../../shared/oauth/msalClient';
import { ApplicationTokens } from '../../shared/oauth/applicationToken';
import { ManagedIdentityAssertion, TOKEN_EXCHANGE_AUDIENCE } from '../../shared/oauth/managedIdentityAssertion';
import { silentLogger } from '../../shared/log';
import { DEFAULT_USER, decodeJwt, startOidcServer, type ManagedIdentityRecord, type OidcServer } from '../helpers/oidcServer';
import { startManagedIdentityServer, type ManagedIdentityServer } from '../helpers/managedIdentityServer';
import { startStack, type TestStack } from '../helpers/env';

const CLIENT_ID = '5a1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b';
const BASE = 'https://scanrelay.test';
const TENANT = DEFAULT_USER.tid;
const IDENTITY: ManagedIdentityRecord = {
  clientId: '7d3e9f10-1111-4222-8333-944455556666',
  objectId: 'c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff',
  tenantId: TENANT,
};
/** Another identity of the tenant, which the app registration's federated credential does not name. */
const STRANGER: ManagedIdentityRecord = {
  clientId: '8e4fa021-2222-4333-8444-a55566667777',
  objectId: 'badc0de0-aaaa-4bbb-8ccc-ddddeeeeffff',
  tenantId: TENANT,
};

let idp: OidcServer;
let mi: ManagedIdentityServer;
let restoreEnv: () => void;
let stack: TestStack;
let deps: OAuthDeps;

beforeAll(async () => {
  idp = await startOidcServer({
    clients: [
      {
        clientId: CLIENT_ID,
        // No client secret at all: the federated credential is the app's only credential.
        federatedCredentials: [{ issuer: '', subject: IDENTITY.objectId, audience: TOKEN_EXCHANGE_AUDIENCE }],
        redirectUris: CONNECTION_TYPES.map((t) => `${BASE}/api/oauth2/client/${t}/authorize-callback`),
      },
    ],
  });
  // The issuer is the tenant's (https://login.microsoftonline.com/<tenant>/v2.0 in Azure).
  idp.clients[0]!.federatedCredentials![0]!.issuer = idp.issuer(TENANT);
  mi = await startManagedIdentityServer(idp, [IDENTITY, STRANGER]);
  restoreEnv = mi.useInProcessEnv();
  stack = await startStack({
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_TENANT: TENANT,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_CREDENTIAL: 'managedIdentity',
    AZURE_CLIENT_ID: IDENTITY.clientId,
    PUBLIC_BASE_URL: BASE,
  });
  // No oauth-client-secret stored.
  writeFileSync(stack.secretsFile, JSON.stringify({ 'token-encryption-keys': newKeyRingSecret('k1') }));
  deps = stack.services.oauthDeps(silentLogger);
});
afterAll(async () => {
  restoreEnv?.();
  await stack?.stop();
  await mi?.stop();
  await idp?.stop();
});

async function newConnection() {
  const id = randomUUID();
  await stack.services.storage.connections.create({ id, type: 'smtpMicrosoft', tenant: 'organizations', displayName: 'Scans mailbox' });
  return id;
}

async function signIn(connectionId: string): Promise<Record<string, string>> {
  const url = await startAuthorization(deps, { kind: 'key' }, connectionId, 'alice@contoso.example');
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return Object.fromEntries(new URL(res.headers.get('location')!).searchParams);
}

function expectNoSecretSent() {
  expect(idp.tokenRequests.length).toBeGreaterThan(0);
  for (const r of idp.tokenRequests) {
    expect(r.parameters).not.toContain('client_secret');
    if (r.status === 200) expect(r.clientAuthentication).toBe('client_assertion');
  }
}

describe('OAUTH_CLIENT_CREDENTIAL', () => {
  it('managedIdentity needs AZURE_CLIENT_ID, and says so; anything else is refused by name', () => {
    expect(() => loadConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', OAUTH_CLIENT_CREDENTIAL: 'managedIdentity' })).toThrow(
      /OAUTH_CLIENT_CREDENTIAL.*AZURE_CLIENT_ID is not set/,
    );
    expect(() => loadConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', OAUTH_CLIENT_CREDENTIAL: 'certificate' })).toThrow(
      /OAUTH_CLIENT_CREDENTIAL.*managedIdentity.*clientSecret/,
    );
    expect(
      loadConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', AZURE_CLIENT_ID: IDENTITY.clientId }).oauth.federatedIdentity,
    ).toBeUndefined();
    expect(stack.config.oauth.federatedIdentity).toEqual({ clientId: IDENTITY.clientId });
  });
});

describe('with the managed identity as the credential and no client secret stored', () => {
  it('authorizes a connection, refreshes it, and gets an app-only token, all through the assertion', async () => {
    const id = await newConnection();
    const outcome = await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id));
    expect(outcome).toMatchObject({ ok: true, connection: { state: 'authorized' } });
    expect(idp.tokenRequests.filter((r) => r.grant_type === 'authorization_code' && r.status === 200)).toHaveLength(1);

    await getAccessToken(deps, id, { forceRefresh: true });
    const c = (await stack.services.storage.connections.get(id))!;
    expect(await refreshConnection(deps, c)).toBe('refreshed');
    expect(idp.tokenRequests.filter((r) => r.grant_type === 'refresh_token' && r.status === 200).length).toBeGreaterThanOrEqual(2);

    const appToken = await deps.applicationTokens.get('https://graph.microsoft.com', true);
    expect(decodeJwt(appToken).payload).toMatchObject({ azp: CLIENT_ID, idtyp: 'app', tid: TENANT });
    expect(idp.tokenRequests.filter((r) => r.grant_type === 'client_credentials' && r.status === 200)).toHaveLength(1);

    expectNoSecretSent();
    // The managed identity endpoint was asked as @azure/identity asks it (App Service, 2019-08-01).
    const asked = mi.requests.filter((r) => r.status === 200);
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(asked[0]!.params).toMatchObject({
      'api-version': '2019-08-01',
      resource: TOKEN_EXCHANGE_AUDIENCE,
      client_id: IDENTITY.clientId,
    });
    expect(asked[0]!.headerOk).toBe(true);
    // The assertion is kept: not one managed identity request per token request.
    expect(asked.length).toBeLessThan(idp.tokenRequests.length);
  });

  it('the managed identity token is a signed assertion: iss the tenant, sub the object ID, aud the token exchange', async () => {
    const assertion = await new ManagedIdentityAssertion(IDENTITY.clientId).get();
    const { payload } = idp.verifyJwt(assertion);
    expect(payload).toMatchObject({ iss: idp.issuer(TENANT), sub: IDENTITY.objectId, aud: TOKEN_EXCHANGE_AUDIENCE });
  });

  it('refuses an assertion of an identity the federated credential does not name, saying what to fix', async () => {
    const config = { ...stack.config.oauth, federatedIdentity: { clientId: STRANGER.clientId } };
    const tokens = new ApplicationTokens(
      new MsalClients(config, { get: () => Promise.reject(new Error('no secret is read with the federated credential')) }),
      TENANT,
    );
    const err = (await tokens.get('https://graph.microsoft.com').catch((e: unknown) => e)) as Error & { errorCode?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('AADSTS700213');
    expect(err.message).toContain(`No matching federated identity record found for presented assertion subject '${STRANGER.objectId}'`);
    expect(err.message).toMatch(/Check your federated identity credential Subject, Audience and Issuer/);
    const last = idp.tokenRequests.at(-1)!;
    expect(last).toMatchObject({ status: 401, error: 'invalid_client', clientAuthentication: 'client_assertion' });
    expectNoSecretSent();
  });

  it('a refresh refused for the federated credential: state error, code federated_credential_refused, saying what to fix; fixed, it refreshes', async () => {
    const id = await newConnection();
    expect(await completeAuthorization(deps, 'smtpMicrosoft', await signIn(id))).toMatchObject({ ok: true });
    const fic = idp.clients[0]!.federatedCredentials![0]!;
    fic.subject = STRANGER.objectId; // the registration now names another identity
    try {
      const c = (await stack.services.storage.connections.get(id))!;
      await refreshConnection(deps, c);
      const after = (await stack.services.storage.connections.get(id))!;
      expect(after).toMatchObject({ state: 'error', lastErrorCode: 'federated_credential_refused' });
      expect(after.lastError).toContain(`AZURE_CLIENT_ID ${IDENTITY.clientId}`);
      expect(after.lastError).toContain('managedIdentityObjectId = the deployment output managedIdentityPrincipalId');
      expect(after.lastError).toContain('(AADSTS700213)');
    } finally {
      fic.subject = IDENTITY.objectId;
    }
    const c = (await stack.services.storage.connections.get(id))!;
    expect(await refreshConnection(deps, c, new Date(), { retryReauthorization: true })).toBe('refreshed');
    expectNoSecretSent();
  });

  it('refuses an expired assertion (AADSTS700024) and a forged one (AADSTS700027)', async () => {
    const tokenUrl = `${idp.baseUrl}/${TENANT}/oauth2/v2.0/token`;
    const ask = async (assertion: string) => {
      const res = await fetch(tokenUrl, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: CLIENT_ID,
          scope: 'https://graph.microsoft.com/.default',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }),
      });
      return { status: res.status, body: (await res.json()) as { error: string; error_description: string } };
    };
    const expired = idp.issueManagedIdentityToken(IDENTITY, TOKEN_EXCHANGE_AUDIENCE, -60).token;
    expect(await ask(expired)).toMatchObject({
      status: 401,
      body: { error: 'invalid_client', error_description: expect.stringMatching(/^AADSTS700024: /) },
    });
    const good = idp.issueManagedIdentityToken(IDENTITY, TOKEN_EXCHANGE_AUDIENCE).token;
    const [h, , s] = good.split('.');
    const forgedBody = Buffer.from(JSON.stringify({ ...decodeJwt(good).payload, exp: 4102444800 })).toString('base64url');
    expect(await ask(`${h}.${forgedBody}.${s}`)).toMatchObject({
      status: 401,
      body: { error_description: expect.stringMatching(/^AADSTS700027: /) },
    });
    const wrongAudience = idp.issueManagedIdentityToken(IDENTITY, 'https://management.azure.com').token;
    expect(await ask(wrongAudience)).toMatchObject({ status: 401, body: { error_description: expect.stringMatching(/^AADSTS700212: /) } });
    expect(await ask(good)).toMatchObject({ status: 200 });
  });
});
