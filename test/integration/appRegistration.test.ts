/**
 * `npm run app-registration` against the local Graph server (test/helpers/graphAppsServer.ts) and
 * the local Key Vault (test/helpers/keyVaultServer.ts, through the real SecretClient): a dry run of
 * the real CLI process, then create, an idempotent second run, a redirect URI added back, secret
 * rotation, the opt-in mail application permissions (--mail-application-permissions) and the
 * Exchange Online commands that scope them, and the failures a user can meet. No sign-in happens: a
 * fixed token is passed with --access-token-env.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONNECTION_TYPES, CONSOLE_APP_ROLES, redirectPath } from '../../shared/oauth/permissions';
import { main, type MainIo } from '../../tools/appRegistration/main';
import { parseArgs, parseExpiry, UsageError } from '../../tools/appRegistration/options';
import { wantedPermissions } from '../../tools/appRegistration/run';
import { EXCHANGE_ONLINE_APP_ID, GRAPH_APP_ID, startGraphAppsServer, type GraphAppsTestServer } from '../helpers/graphAppsServer';
import { startKeyVaultServer, type KeyVaultTestServer } from '../helpers/keyVaultServer';

const TOKEN = 'app-registration-test-token';
const TENANT = '11111111-2222-3333-4444-555555555555';
const HOST = 'https://func-scanrelay-test.azurewebsites.net';
const ROOT = join(__dirname, '..', '..');

let graph: GraphAppsTestServer;
let vault: KeyVaultTestServer;
let dir: string;
let config: string;
let output: string;
/** Bodies of the requests the SecretClient sent (PUTs), recorded by a pipeline policy. */
let vaultBodies: Array<{ method: string; url: string; body: any }>;

const recorder = {
  name: 'record-bodies',
  sendRequest: async (request: any, next: any) => {
    vaultBodies.push({
      method: request.method,
      url: request.url,
      body: typeof request.body === 'string' ? JSON.parse(request.body) : undefined,
    });
    return next(request);
  },
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: MainIo = {
    env: { SR_TEST_TOKEN: TOKEN, ...env },
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    secretClientOptions: { additionalPolicies: [{ policy: recorder, position: 'perCall' }], retryOptions: { maxRetries: 0 } },
    sleep: async () => undefined,
  };
  const code = await main(['--config', config, '--access-token-env', 'SR_TEST_TOKEN', '--graph-base-url', graph.baseUrl, ...args], io);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

function runProcess(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const CONSOLE_URI = `${HOST}/api/console/signin-callback`;
const expectedUris = [...CONNECTION_TYPES.map((t) => `${HOST}${redirectPath(t)}`), CONSOLE_URI];
/** The console's app roles as the tool defines them, as Graph reads them back. */
const expectedRoles = [
  {
    id: '676b1ae3-3ad4-471d-9ab0-6bb80d38b67f',
    value: 'ScanRelay.Admin',
    displayName: 'ScanRelay administrator',
    description: 'Administrators: change connections, destinations, redeliver jobs',
    allowedMemberTypes: ['User' as const],
    isEnabled: true,
  },
  {
    id: 'ed471321-8349-4cd8-8726-94d0adce82aa',
    value: 'ScanRelay.Reader',
    displayName: 'ScanRelay reader',
    description: 'Read-only access to the console',
    allowedMemberTypes: ['User' as const],
    isEnabled: true,
  },
];
/** A role the customer added to the app registration by hand. */
const customerRole = {
  id: '3f0b7a52-5a63-4c8e-9d0e-0c1b2a3d4e5f',
  value: 'Contoso.Auditor',
  displayName: 'Auditor',
  description: "Contoso's own role",
  allowedMemberTypes: ['User' as const],
  isEnabled: true,
};
const theApp = () => {
  const apps = [...graph.applications.values()];
  expect(apps).toHaveLength(1);
  return apps[0]!;
};
const expectNoSecretLeak = (...texts: string[]) => {
  const adminKey = vault.secretValue('admin-key');
  for (const secret of [...graph.issuedSecrets, ...(adminKey ? [adminKey] : [])])
    for (const text of texts) expect(text).not.toContain(secret);
};
/** Graph's application as a client reads it (GET /applications/{id}). */
const readApp = async (app: { id: string }) =>
  (await (await fetch(`${graph.baseUrl}/applications/${app.id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
    appRoles: Array<Record<string, unknown>>;
  };

beforeAll(async () => {
  if (!process.env.NODE_EXTRA_CA_CERTS) throw new Error('Run with NODE_EXTRA_CA_CERTS=test/fixtures/tls/ca.pem (npm test sets it).');
  graph = await startGraphAppsServer({ token: TOKEN, spReplicationDelay: 2 });
  vault = await startKeyVaultServer({ token: TOKEN });
  dir = mkdtempSync(join(tmpdir(), 'app-registration-'));
  output = join(dir, 'AppRegistrationInfo.json');
  config = join(dir, 'app-registration.json');
  writeFileSync(
    config,
    JSON.stringify({ tenantId: TENANT, appName: 'ScanRelay Test', hostname: HOST, keyVaultUrl: vault.url, secretExpiry: '12m', output }),
  );
  vaultBodies = [];
});

afterAll(async () => {
  await graph?.close();
  await vault?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the CLI process, --dry-run, on a tenant without the app', () => {
  it('prints every planned change and changes nothing', async () => {
    // Run the tool from its sources as a user would (transpiled on require; npm test type-checks it).
    {
      // Asynchronously: the servers answering it live in this process.
      const cli = await runProcess(
        [
          '-r',
          join(ROOT, 'test', 'helpers', 'tsRegister.js'),
          join(ROOT, 'tools', 'appRegistration', 'main.ts'),
          '--config',
          config,
          '--dry-run',
          '--access-token-env',
          'SR_TEST_TOKEN',
          '--graph-base-url',
          graph.baseUrl,
        ],
        { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, SR_TEST_TOKEN: TOKEN },
      );
      expect(cli.stderr).toBe('');
      expect(cli.status).toBe(0);
      expect(cli.stdout).toContain("App registration 'ScanRelay Test' in tenant " + TENANT + ' (dry run)');
      expect(cli.stdout).toContain('+ create the app registration (sign-in audience AzureADMyOrg)');
      for (const uri of expectedUris) expect(cli.stdout).toContain(`+ redirect URI ${uri}`);
      expect(cli.stdout).toContain('+ permission Office 365 Exchange Online SMTP.Send (delegated)');
      expect(cli.stdout).toContain('+ permission Microsoft Graph Sites.ReadWrite.All (delegated)');
      expect(cli.stdout).toContain('+ permission Microsoft Graph offline_access (delegated)');
      expect(cli.stdout).toContain('+ permission Microsoft Graph User.Read.All (application)');
      expect(cli.stdout).toContain(`+ redirect URI ${CONSOLE_URI}`);
      expect(cli.stdout).toContain('+ app role ScanRelay.Admin (Administrators: change connections, destinations, redeliver jobs)');
      expect(cli.stdout).toContain('+ app role ScanRelay.Reader (Read-only access to the console)');
      expect(cli.stdout).toContain('+ Key Vault secret admin-key');
      expect(cli.stdout).toContain('+ service principal');
      expect(cli.stdout).toMatch(
        /\+ client secret 'ScanRelay oauth-client-secret' expiring \d{4}-\d\d-\d\d, stored in Key Vault https:\/\/localhost:\d+ as oauth-client-secret/,
      );
      // No key ring by default: in Azure the token keys are wrapped by a Key Vault key (TOKEN_WRAPPING_KEY).
      expect(cli.stdout).not.toContain('token-encryption-keys');
      expect(cli.stdout).toContain('Dry run: nothing was changed.');
    }
    expect(graph.writes()).toEqual([]);
    expect(graph.applications.size).toBe(0);
    expect(vault.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(existsSync(output)).toBe(false);
  }, 120_000);
});

describe('create, then run again, then a redirect URI added', () => {
  it('creates the app registration, its service principal and a secret stored only in Key Vault', async () => {
    const r = await run([]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const app = theApp();
    expect(app.displayName).toBe('ScanRelay Test');
    expect(app.signInAudience).toBe('AzureADMyOrg');
    expect(app.web.redirectUris).toEqual(expectedUris);

    // Permission IDs resolved from the service principals (this server makes new IDs every run).
    const access = Object.fromEntries(app.requiredResourceAccess.map((r) => [r.resourceAppId, r.resourceAccess]));
    expect(access[EXCHANGE_ONLINE_APP_ID]).toEqual([
      { id: graph.permissionId(EXCHANGE_ONLINE_APP_ID, 'SMTP.Send', 'Scope'), type: 'Scope' },
    ]);
    const graphAccess = access[GRAPH_APP_ID]!;
    for (const scope of ['Mail.Send', 'Files.ReadWrite', 'Sites.ReadWrite.All', 'Mail.ReadWrite', 'offline_access', 'openid', 'profile']) {
      expect(graphAccess).toContainEqual({ id: graph.permissionId(GRAPH_APP_ID, scope, 'Scope'), type: 'Scope' });
    }
    for (const role of ['User.Read.All', 'Files.ReadWrite.All', 'GroupMember.Read.All']) {
      expect(graphAccess).toContainEqual({ id: graph.permissionId(GRAPH_APP_ID, role, 'Role'), type: 'Role' });
    }
    // Tenant-wide mail is opt-in (--mail-application-permissions): not requested by default.
    for (const role of ['Mail.Send', 'Mail.ReadWrite']) {
      expect(graphAccess).not.toContainEqual({ id: graph.permissionId(GRAPH_APP_ID, role, 'Role'), type: 'Role' });
    }
    expect(graphAccess).toHaveLength(10);

    // The service principal, after two replication-delay refusals.
    const spPosts = graph.requests.filter((q) => q.method === 'POST' && q.path === '/v1.0/servicePrincipals');
    expect(spPosts.map((q) => q.status)).toEqual([400, 400, 201]);
    expect([...graph.servicePrincipals.values()].some((sp) => sp.appId === app.appId)).toBe(true);

    // One secret, straight into Key Vault, with its expiry and the credential it belongs to.
    expect(graph.issuedSecrets).toHaveLength(1);
    const [credential] = app.passwordCredentials;
    expect(credential!.displayName).toBe('ScanRelay oauth-client-secret');
    const monthsAhead = (new Date(credential!.endDateTime).getTime() - Date.now()) / (30.4 * 86400_000);
    expect(monthsAhead).toBeGreaterThan(11.5);
    expect(monthsAhead).toBeLessThan(12.5);
    expect(vault.secretValue('oauth-client-secret')).toBe(graph.issuedSecrets[0]);
    const put = vaultBodies.find((b) => b.method === 'PUT' && b.url.includes('/secrets/oauth-client-secret'))!;
    expect(put.body.attributes.exp).toBe(Math.floor(new Date(credential!.endDateTime).getTime() / 1000));
    expect(put.body.tags).toEqual({ clientId: app.appId, keyId: credential!.keyId, tenantId: TENANT });

    // No token key ring by default: no data key in a secret in Azure.
    expect(vault.secretValue('token-encryption-keys')).toBeUndefined();

    // The admin API's key: 32 random bytes, base64url.
    const adminKey = vault.secretValue('admin-key')!;
    expect(adminKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(adminKey, 'base64url')).toHaveLength(32);

    // The console's app roles, with their fixed ids, assignable to users; the console's redirect URI.
    expect(app.appRoles).toEqual(expectedRoles);
    expect((await readApp(app)).appRoles).toEqual(expectedRoles.map((r) => ({ ...r, origin: 'Application' })));
    expect(app.web.redirectUris).toContain(CONSOLE_URI);
    expect(CONSOLE_APP_ROLES.map((r) => r.value)).toEqual(['ScanRelay.Admin', 'ScanRelay.Reader']);

    // AppRegistrationInfo.json: everything but the secret.
    const infoText = readFileSync(output, 'utf8');
    const info = JSON.parse(infoText);
    expect(info).toMatchObject({
      tenantId: TENANT,
      clientId: app.appId,
      objectId: app.id,
      secretName: 'oauth-client-secret',
      secretKeyId: credential!.keyId,
      secretExpiresOn: credential!.endDateTime,
      keyVaultUrl: vault.url,
      redirectUris: expectedUris,
      adminConsentUrl: `https://login.microsoftonline.com/${TENANT}/adminconsent?client_id=${app.appId}`,
    });
    expect(JSON.stringify(info)).not.toMatch(/secretText|clientSecret"/);
    expect(r.stdout).toContain(`OAUTH_CLIENT_ID=${app.appId}`);
    // What is left to do: assign the roles, where the console is, how to read the admin key.
    expect(r.stdout).toContain('Microsoft Entra admin center → Enterprise applications → ScanRelay Test → Users and groups');
    expect(r.stdout).toContain('→ Add user/group → choose the users (or groups) and the role: ScanRelay.Admin');
    expect(r.stdout).toContain('or ScanRelay.Reader');
    expect(r.stdout).toContain(`The console is at ${HOST}/api/console`);
    expect(r.stdout).toContain('az keyvault secret show --vault-name localhost --name admin-key --query value -o tsv');
    expect(r.stdout).not.toContain('CONSOLE_TENANT'); // the tenant is given as its ID
    // Mail for certain mailboxes: the Exchange Online commands, with this app's IDs.
    const sp = [...graph.servicePrincipals.values()].find((x) => x.appId === app.appId)!;
    expect(info.servicePrincipalId).toBe(sp.id);
    expect(r.stdout).toContain('with RBAC for Applications in Exchange Online (not in Entra ID');
    expect(r.stdout).toContain(`New-ServicePrincipal -AppId ${app.appId} -ObjectId ${sp.id} -DisplayName 'ScanRelay Test'`);
    expect(r.stdout).toContain(
      `New-ManagementRoleAssignment -App ${app.appId} -Role 'Application Mail.Send' -CustomResourceScope 'ScanRelay senders'`,
    );
    expect(r.stdout).toContain(`Test-ServicePrincipalAuthorization -Identity ${app.appId}`);
    expect(r.stdout).not.toContain('EVERY mailbox');
    expectNoSecretLeak(r.stdout, r.stderr, infoText);
  });

  it('a second run changes nothing', async () => {
    const writes = graph.writes().length;
    const vaultWrites = vault.requests.filter((q) => q.method === 'PUT').length;
    const r = await run([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('= up to date');
    expect(r.stdout).not.toContain('+ ');
    expect(graph.writes()).toHaveLength(writes);
    expect(vault.requests.filter((q) => q.method === 'PUT')).toHaveLength(vaultWrites);
    expect(graph.issuedSecrets).toHaveLength(1);
  });

  it("an app registration from before the console: adds the roles, keeps the customer's own; then nothing to do", async () => {
    const app = theApp();
    // As an older version left it, plus a role the customer made (the server's state, set directly).
    app.appRoles = [structuredClone(customerRole)];
    app.web.redirectUris = app.web.redirectUris.filter((u) => u !== CONSOLE_URI);
    const writes = graph.writes().length;

    const dry = await run(['--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('+ app role ScanRelay.Admin');
    expect(dry.stdout).toContain('+ app role ScanRelay.Reader');
    expect(dry.stdout).toContain(`+ redirect URI ${CONSOLE_URI}`);
    expect(dry.stdout).toContain("= kept app role Contoso.Auditor (not ScanRelay's)");
    expect(dry.stdout).toContain('Dry run: nothing was changed.');
    expect(graph.writes()).toHaveLength(writes);
    expect(app.appRoles).toEqual([customerRole]);

    const r = await run([]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const patches = graph.writes().slice(writes);
    expect(patches).toHaveLength(1);
    expect(patches[0]).toMatchObject({ method: 'PATCH', status: 204 });
    expect(Object.keys(patches[0]!.body).sort()).toEqual(['appRoles', 'web']);
    expect(app.appRoles).toEqual([customerRole, ...expectedRoles]);
    expect(app.web.redirectUris).toContain(CONSOLE_URI);

    const again = await run([]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('= up to date');
    expect(again.stdout).toContain('= kept app role Contoso.Auditor');
    expect(graph.writes().slice(writes)).toHaveLength(1);
  });

  it("a disabled ScanRelay role is enabled again; one made by hand with ScanRelay's value is kept, not doubled", async () => {
    const app = theApp();
    const handMade = { ...expectedRoles[0]!, id: 'a1b2c3d4-0000-4000-8000-0000000000aa', description: 'made in the portal' };
    app.appRoles = [customerRole, handMade, { ...expectedRoles[1]!, isEnabled: false }].map((r) => structuredClone(r));
    const r = await run([]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('+ enable app role ScanRelay.Reader (it was disabled)');
    expect(r.stdout).toContain(`= kept app role ScanRelay.Admin with its own id ${handMade.id}`);
    expect(r.stdout).not.toContain('+ app role');
    expect(app.appRoles).toEqual([customerRole, handMade, expectedRoles[1]]);
    // Back to the tool's own roles for the tests that follow (the server's state, set directly).
    app.appRoles = [customerRole, ...expectedRoles].map((x) => structuredClone(x));
  });

  it('adds a missing redirect URI back, keeping what was added by hand and the rest of web', async () => {
    const app = theApp();
    const removed = expectedUris[2]!;
    app.web.redirectUris = [...expectedUris.filter((u) => u !== removed), 'https://other.example.com/callback'];
    app.web.implicitGrantSettings.enableIdTokenIssuance = true;
    app.web.homePageUrl = 'https://www.example.com';
    const writes = graph.writes().length;

    const dry = await run(['--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`+ redirect URI ${removed}`);
    expect(dry.stdout).toContain('= kept redirect URI https://other.example.com/callback');
    expect(dry.stdout).not.toContain('+ permission');
    expect(dry.stdout).not.toContain('+ client secret');
    expect(graph.writes()).toHaveLength(writes);

    const r = await run([]);
    expect(r.code).toBe(0);
    const newWrites = graph.writes().slice(writes);
    expect(newWrites).toHaveLength(1);
    expect(newWrites[0]).toMatchObject({ method: 'PATCH', path: `/v1.0/applications/${app.id}`, status: 204 });
    expect(Object.keys(newWrites[0]!.body)).toEqual(['web']);
    expect(app.web.redirectUris).toEqual([...expectedUris.filter((u) => u !== removed), 'https://other.example.com/callback', removed]);
    expect(app.web.implicitGrantSettings.enableIdTokenIssuance).toBe(true);
    expect(app.web.homePageUrl).toBe('https://www.example.com');
    expect(graph.issuedSecrets).toHaveLength(1);
  });

  it('--rotate-secret adds a new credential and a new Key Vault version; the old credential stays until it expires', async () => {
    const r = await run(['--rotate-secret', '--secret-expiry', '90d']);
    expect(r.code).toBe(0);
    const app = theApp();
    expect(app.passwordCredentials).toHaveLength(2);
    expect(graph.issuedSecrets).toHaveLength(2);
    expect(vault.secretValue('oauth-client-secret')).toBe(graph.issuedSecrets[1]);
    const info = JSON.parse(readFileSync(output, 'utf8'));
    expect(info.secretKeyId).toBe(app.passwordCredentials[1]!.keyId);
    const days = (new Date(info.secretExpiresOn).getTime() - Date.now()) / 86400_000;
    expect(Math.round(days)).toBe(90);
    expectNoSecretLeak(r.stdout, r.stderr, readFileSync(output, 'utf8'));
  });

  it('replaces a secret in Key Vault that is no credential of this app registration', async () => {
    vault.putSecret('oauth-client-secret', 'typed-in-by-hand');
    const dry = await run(['--dry-run']);
    expect(dry.stdout).toContain('+ client secret');
    expect(dry.stdout).toContain('not a current credential of this app registration');
    const r = await run([]);
    expect(r.code).toBe(0);
    expect(vault.secretValue('oauth-client-secret')).toBe(graph.issuedSecrets[2]);
  });

  it('--token-keys makes the key ring once, for a host without TOKEN_WRAPPING_KEY', async () => {
    const r = await run(['--token-keys']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Stored a new key ring in Key Vault as token-encryption-keys');
    expect(r.stdout).not.toMatch(/"keys"/);
    const ring = JSON.parse(vault.secretValue('token-encryption-keys')!);
    expect(ring.current).toBe('1');
    expect(Buffer.from(ring.keys['1'], 'base64')).toHaveLength(32);
    const again = await run(['--token-keys']);
    expect(again.stdout).not.toContain('token-encryption-keys');
    expect(vault.secretValue('token-encryption-keys')).toBe(JSON.stringify(ring));
  });
});

describe('failures', () => {
  it("a rejected token stops at the first request, with Graph's reason", async () => {
    const writes = graph.writes().length;
    const r = await run([], { SR_TEST_TOKEN: 'wrong' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('401 InvalidAuthenticationToken');
    expect(graph.writes()).toHaveLength(writes);
  });

  it('two app registrations with the name are refused', async () => {
    const [app] = [...graph.applications.values()];
    graph.applications.set('copy', { ...structuredClone(app!), id: 'copy', appId: 'copy-app-id' });
    try {
      const r = await run(['--dry-run']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("2 app registrations are named 'ScanRelay Test'");
    } finally {
      graph.applications.delete('copy');
    }
  });

  it('a permission of the manifest that the tenant does not publish is named', async () => {
    const bare = await startGraphAppsServer({ token: TOKEN, exchangeScopes: [] });
    try {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['--config', config, '--access-token-env', 'T', '--graph-base-url', bare.baseUrl, '--dry-run'], {
        env: { T: TOKEN },
        stdout: (l) => out.push(l),
        stderr: (l) => err.push(l),
      });
      expect(code).toBe(1);
      expect(err.join('\n')).toContain('Office 365 Exchange Online SMTP.Send (delegated)');
      expect(bare.writes()).toEqual([]);
    } finally {
      await bare.close();
    }
  });

  it('bad inputs are usage errors (exit code 2)', async () => {
    const r = await run(['--hostname', 'http://scanrelay.example.com']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hostname must be https://');
    expect((await run(['--secret-expiry', 'soon'])).stderr).toContain("--secret-expiry 'soon'");
    expect((await run(['--bogus'])).stderr).toContain("Unknown argument '--bogus'");
  });
});

describe('options', () => {
  const base = ['--tenant-id', TENANT, '--app-name', 'ScanRelay', '--key-vault-url', 'https://kv-x.vault.azure.net/'];

  it('takes the same inputs as the vendor package (tenant ID, app name, host name) and defaults the rest', () => {
    const o = parseArgs([...base, '--hostname', 'scanrelay.azurewebsites.net'], {}, new Date('2026-01-15T00:00:00Z'));
    expect(o).toMatchObject({
      tenantId: TENANT,
      appName: 'ScanRelay',
      baseUrl: 'https://scanrelay.azurewebsites.net',
      keyVaultUrl: 'https://kv-x.vault.azure.net',
      secretName: 'oauth-client-secret',
      signInAudience: 'AzureADMyOrg',
      graphBaseUrl: 'https://graph.microsoft.com/v1.0',
      auth: 'browser',
      dryRun: false,
      output: 'AppRegistrationInfo.json',
    });
    expect((o as { secretExpiresOn: Date }).secretExpiresOn.toISOString()).toBe('2027-01-15T00:00:00.000Z');
  });

  it('refuses what would break sign-in or leak', () => {
    expect(() => parseArgs([...base, '--hostname', 'https://x.example.com/api'], {})).toThrow(UsageError);
    expect(() => parseArgs([...base, '--hostname', 'x.example.com', '--tenant-id', 'organizations'], {})).toThrow(/tenant's ID/);
    expect(() => parseArgs([...base, '--hostname', 'x.example.com', '--secret-name', 'Bad_Name'], {})).toThrow(/kebab-case/);
    expect(() => parseArgs([...base, '--hostname', 'x.example.com', '--key-vault-url', 'http://kv.example.com'], {})).toThrow(/https/);
    const file = join(dir, 'typo.json');
    writeFileSync(file, JSON.stringify({ tenantID: TENANT }));
    expect(() => parseArgs(['--config', file], {})).toThrow(/unknown setting\(s\) tenantID/);
  });

  it('parses expiries', () => {
    const now = new Date('2026-03-31T12:00:00Z');
    expect(parseExpiry('90d', now).toISOString()).toBe('2026-06-29T12:00:00.000Z');
    expect(parseExpiry('2y', now).toISOString()).toBe('2028-03-31T12:00:00.000Z');
    expect(parseExpiry('2027-06-30', now).toISOString()).toBe('2027-06-30T00:00:00.000Z');
    expect(() => parseExpiry('2026-03-31', now)).toThrow(/a day ahead/);
  });

  it('app-registration.example.json is a valid config', () => {
    const example = join(ROOT, 'app-registration.example.json');
    const o = parseArgs(['--config', example], {});
    expect(o).toMatchObject({ appName: expect.any(String), secretName: 'oauth-client-secret', mailApplicationPermissions: false });
  });

  it('the tenant-wide mail permissions: off by default, on with the flag or "mailApplicationPermissions": true', () => {
    const args = [...base, '--hostname', 'x.example.com'];
    expect(parseArgs(args, {})).toMatchObject({ applicationPermissions: true, mailApplicationPermissions: false });
    expect(parseArgs([...args, '--mail-application-permissions'], {})).toMatchObject({ mailApplicationPermissions: true });
    const file = join(dir, 'mail.json');
    writeFileSync(file, JSON.stringify({ mailApplicationPermissions: true }));
    expect(parseArgs(['--config', file, ...args], {})).toMatchObject({ mailApplicationPermissions: true });
    writeFileSync(file, JSON.stringify({ mailApplicationPermissions: 'yes' }));
    expect(() => parseArgs(['--config', file, ...args], {})).toThrow(/mailApplicationPermissions must be true or false/);

    const roles = (o: { applicationPermissions: boolean; mailApplicationPermissions: boolean }) =>
      wantedPermissions({ connectionTypes: ['exchangeMicrosoft'], ...o })
        .filter((p) => p.type === 'Role')
        .map((p) => p.value);
    expect(roles({ applicationPermissions: true, mailApplicationPermissions: false })).toEqual([
      'User.Read.All',
      'Files.ReadWrite.All',
      'GroupMember.Read.All',
    ]);
    expect(roles({ applicationPermissions: true, mailApplicationPermissions: true })).toEqual([
      'User.Read.All',
      'Files.ReadWrite.All',
      'GroupMember.Read.All',
      'Mail.Send',
      'Mail.ReadWrite',
    ]);
    expect(roles({ applicationPermissions: false, mailApplicationPermissions: true })).toEqual(['Mail.Send', 'Mail.ReadWrite']);
    expect(roles({ applicationPermissions: false, mailApplicationPermissions: false })).toEqual([]);
  });
});

describe('--mail-application-permissions: Mail.Send and Mail.ReadWrite as application permissions, opt-in', () => {
  /** Graph's real app role IDs (https://learn.microsoft.com/graph/permissions-reference). */
  const MAIL_SEND = 'b633e1c5-b582-4048-a93e-9f11b44c7e96';
  const MAIL_READ_WRITE = 'e2a3a72e-5f79-4c64-b1b1-878b674786c9';
  let server: GraphAppsTestServer;
  let mailConfig: string;
  const runOn = async (args: string[]): Promise<Run> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['--config', mailConfig, '--access-token-env', 'T', '--graph-base-url', server.baseUrl, ...args], {
      env: { T: TOKEN },
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
      sleep: async () => undefined,
    });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  };
  const roleAccess = () => {
    const [app] = [...server.applications.values()];
    return app!.requiredResourceAccess.find((r) => r.resourceAppId === GRAPH_APP_ID)!.resourceAccess.filter((a) => a.type === 'Role');
  };

  beforeAll(async () => {
    server = await startGraphAppsServer({ token: TOKEN, graphRoleIds: { 'Mail.Send': MAIL_SEND, 'Mail.ReadWrite': MAIL_READ_WRITE } });
    mailConfig = join(dir, 'mail-app-registration.json');
    writeFileSync(
      mailConfig,
      JSON.stringify({
        tenantId: TENANT,
        appName: 'ScanRelay Mail',
        hostname: HOST,
        keyVaultUrl: vault.url,
        secretName: 'mail-test-client-secret',
        output: join(dir, 'MailAppRegistrationInfo.json'),
      }),
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('without the flag: not requested; the output shows how to grant them for certain mailboxes instead', async () => {
    const r = await runOn([]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('Mail.Send (application)');
    expect(roleAccess().map((a) => a.id)).not.toEqual(expect.arrayContaining([MAIL_SEND]));
    expect(roleAccess().map((a) => a.id)).not.toEqual(expect.arrayContaining([MAIL_READ_WRITE]));
    expect(roleAccess()).toHaveLength(3);
    expect(r.stdout).toContain('New-ManagementRoleAssignment -App ');
  });

  it('with the flag: both added to requiredResourceAccess by their IDs (nothing else changes), a warning and the scoping commands', async () => {
    const [app] = [...server.applications.values()];
    const sp = [...server.servicePrincipals.values()].find((x) => x.appId === app!.appId)!;
    const writes = server.writes().length;

    const dry = await runOn(['--mail-application-permissions', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('+ permission Microsoft Graph Mail.Send (application)');
    expect(dry.stdout).toContain('+ permission Microsoft Graph Mail.ReadWrite (application)');
    expect(server.writes()).toHaveLength(writes);

    const r = await runOn(['--mail-application-permissions']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const patches = server.writes().slice(writes);
    expect(patches.map((w) => [w.method, Object.keys(w.body)])).toEqual([['PATCH', ['requiredResourceAccess']]]);
    expect(roleAccess()).toEqual(
      expect.arrayContaining([
        { id: MAIL_SEND, type: 'Role' },
        { id: MAIL_READ_WRITE, type: 'Role' },
      ]),
    );
    expect(roleAccess()).toHaveLength(5);
    // The delegated Mail.Send of exchangeMicrosoft is another permission, still there once.
    const scopes = app!.requiredResourceAccess
      .find((x) => x.resourceAppId === GRAPH_APP_ID)!
      .resourceAccess.filter((a) => a.type === 'Scope');
    expect(scopes.filter((a) => a.id === server.permissionId(GRAPH_APP_ID, 'Mail.Send', 'Scope'))).toHaveLength(1);

    expect(r.stdout).toContain('EVERY mailbox of the tenant');
    expect(r.stdout).toContain('while the');
    expect(r.stdout).toContain(`New-ServicePrincipal -AppId ${app!.appId} -ObjectId ${sp.id} -DisplayName 'ScanRelay Mail'`);
    expect(r.stdout).toContain(`New-ManagementScope -Name 'ScanRelay senders' -RecipientRestrictionFilter "MemberOfGroup -eq '$senders'"`);
    expect(r.stdout).toContain(
      `New-ManagementRoleAssignment -App ${app!.appId} -Role 'Application Mail.ReadWrite' -CustomResourceScope 'ScanRelay mailbox ingest'`,
    );

    const again = await runOn(['--mail-application-permissions']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('= up to date');
    expect(server.writes().slice(writes)).toHaveLength(1);
    // Running without the flag again removes nothing (it never removes a permission), and warns that they are held.
    const without = await runOn([]);
    expect(without.stdout).toContain('= up to date');
    expect(without.stdout).toContain(
      '! kept permission Microsoft Graph Mail.Send (application), tenant-wide once consented: RBAC for Applications cannot scope it',
    );
    expect(without.stdout).toContain('! kept permission Microsoft Graph Mail.ReadWrite (application)');
    expect(without.stdout).toContain('EVERY mailbox of the tenant');
    expect(roleAccess()).toHaveLength(5);
  });
});

describe("the Graph test server's appRoles rules (resources/approle)", () => {
  let server: GraphAppsTestServer;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as { error?: { code: string; message: string } } & Record<string, any>) : undefined,
    };
  };
  const role = (value: string, id: string, isEnabled = true) => ({
    id,
    value,
    allowedMemberTypes: ['User'],
    isEnabled,
    displayName: value,
    description: value,
  });
  const A = '11111111-aaaa-4aaa-8aaa-000000000001';
  const B = '11111111-aaaa-4aaa-8aaa-000000000002';
  let appId: string;

  beforeAll(async () => {
    server = await startGraphAppsServer({ token: TOKEN });
    const created = await call('POST', '/applications', { displayName: 'Rules', appRoles: [role('Role.A', A), role('Role.B', B)] });
    expect(created.status).toBe(201);
    appId = created.body!.id;
  });
  afterAll(async () => {
    await server.close();
  });

  it('refuses removing an enabled role, or changing its value, until an earlier update disabled it', async () => {
    const removed = await call('PATCH', `/applications/${appId}`, { appRoles: [role('Role.A', A)] });
    expect(removed).toMatchObject({ status: 400, body: { error: { code: 'CannotDeleteOrUpdateEnabledEntitlement' } } });
    expect(removed.body!.error!.message).toBe('Permission (scope or role) cannot be deleted or updated unless disabled first.');
    // Disabling it in the same request does not count.
    const sameRequest = await call('PATCH', `/applications/${appId}`, { appRoles: [role('Role.A', A), role('Role.B2', B, false)] });
    expect(sameRequest).toMatchObject({ status: 400, body: { error: { code: 'CannotDeleteOrUpdateEnabledEntitlement' } } });
    // displayName and description may change while it is enabled.
    expect(
      (await call('PATCH', `/applications/${appId}`, { appRoles: [role('Role.A', A), { ...role('Role.B', B), description: 'new' }] }))
        .status,
    ).toBe(204);
    // Disable first, then remove (or rename) in a later update.
    expect((await call('PATCH', `/applications/${appId}`, { appRoles: [role('Role.A', A), role('Role.B', B, false)] })).status).toBe(204);
    expect((await call('PATCH', `/applications/${appId}`, { appRoles: [role('Role.A', A)] })).status).toBe(204);
    const read = await call('GET', `/applications/${appId}`);
    expect(read.body!.appRoles).toEqual([{ ...role('Role.A', A), origin: 'Application' }]);
  });

  it('checks ids, values and member types, and refuses the read-only origin', async () => {
    const refused = async (appRoles: unknown[], message: RegExp) => {
      const r = await call('PATCH', `/applications/${appId}`, { appRoles });
      expect(r.status).toBe(400);
      expect(r.body!.error!.message).toMatch(message);
    };
    const a = role('Role.A', A);
    await refused([a, role('Role.C', 'not-a-guid')], /id must be a GUID/);
    await refused([a, role('Has space', B)], /no spaces/);
    await refused([a, role('.Dotted', B)], /not starting with '\.'/);
    await refused([a, role('x'.repeat(121), B)], /at most 120 characters/);
    await refused([a, role('Role.A', B)], /values must be unique/);
    await refused([a, role('Role.C', A)], /id .* twice/);
    await refused([a, { ...role('Role.C', B), allowedMemberTypes: [] }], /allowedMemberTypes/);
    await refused([{ ...a, origin: 'Application' }], /origin is read-only/);
    expect((await call('GET', `/applications/${appId}`)).body!.appRoles).toHaveLength(1);
  });
});

describe('--managed-identity-object-id: a federated identity credential, and no client secret', () => {
  const IDENTITY = 'c0ffee00-aaaa-4bbb-8ccc-ddddeeeeffff';
  const ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`;
  let server: GraphAppsTestServer;
  let ficConfig: string;
  let ficOutput: string;
  const runOn = async (args: string[]): Promise<Run> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['--config', ficConfig, '--access-token-env', 'T', '--graph-base-url', server.baseUrl, ...args], {
      env: { T: TOKEN },
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
      sleep: async () => undefined,
    });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  };
  const ficApp = () => {
    const apps = [...server.applications.values()];
    expect(apps).toHaveLength(1);
    return apps[0]!;
  };
  const vaultWrites = (name: string) => vault.requests.filter((r) => r.method !== 'GET' && r.path.includes(`/secrets/${name}`));

  beforeAll(async () => {
    server = await startGraphAppsServer({ token: TOKEN });
    ficConfig = join(dir, 'fic-app-registration.json');
    ficOutput = join(dir, 'FicAppRegistrationInfo.json');
    writeFileSync(
      ficConfig,
      JSON.stringify({
        tenantId: TENANT,
        appName: 'ScanRelay Federated',
        hostname: HOST,
        keyVaultUrl: vault.url,
        secretName: 'fic-test-client-secret',
        managedIdentityObjectId: IDENTITY,
        output: ficOutput,
      }),
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('dry run: plans the federated credential, and no client secret', async () => {
    const r = await runOn(['--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `+ federated credential scanrelay-managed-identity for the managed identity (issuer ${ISSUER}, subject ${IDENTITY}, audience api://AzureADTokenExchange)`,
    );
    expect(r.stdout).not.toContain('client secret');
    expect(server.writes()).toEqual([]);
  });

  it('creates the app registration with the federated credential; no addPassword, no secret in Key Vault', async () => {
    const r = await runOn([]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const app = ficApp();
    expect(app.federatedIdentityCredentials).toEqual([
      expect.objectContaining({
        name: 'scanrelay-managed-identity',
        issuer: ISSUER,
        subject: IDENTITY,
        audiences: ['api://AzureADTokenExchange'],
      }),
    ]);
    expect(app.passwordCredentials).toEqual([]);
    expect(server.requests.filter((q) => q.path.endsWith('/addPassword'))).toEqual([]);
    expect(server.writes().map((w) => `${w.method} ${w.path.replace(app.id, '{id}')}`)).toEqual(
      expect.arrayContaining(['POST /v1.0/applications/{id}/federatedIdentityCredentials']),
    );
    expect(vaultWrites('fic-test-client-secret')).toEqual([]);
    expect(vault.secretValue('fic-test-client-secret')).toBeUndefined();
    const info = JSON.parse(readFileSync(ficOutput, 'utf8'));
    expect(info).toMatchObject({
      clientId: app.appId,
      secretName: '',
      secretKeyId: '',
      federatedCredential: {
        name: 'scanrelay-managed-identity',
        issuer: ISSUER,
        subject: IDENTITY,
        audiences: ['api://AzureADTokenExchange'],
      },
    });
    expect(r.stdout).toContain('OAUTH_CLIENT_CREDENTIAL=managedIdentity');
  });

  it("a second run is up to date; another identity updates ScanRelay's credential in place", async () => {
    const writes = server.writes().length;
    const again = await runOn([]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('= up to date');
    expect(again.stdout).toContain('= federated credential scanrelay-managed-identity');
    expect(server.writes()).toHaveLength(writes);

    const other = 'badc0de0-aaaa-4bbb-8ccc-ddddeeeeffff';
    const r = await runOn(['--managed-identity-object-id', other]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`~ federated credential scanrelay-managed-identity: issuer ${ISSUER}, subject ${IDENTITY}`);
    expect(ficApp().federatedIdentityCredentials).toEqual([expect.objectContaining({ subject: other, issuer: ISSUER })]);
    expect(server.writes().at(-1)).toMatchObject({
      method: 'PATCH',
      path: expect.stringMatching(/federatedIdentityCredentials\/scanrelay-managed-identity$/),
    });
  });

  it('--client-secret also makes a client secret (local development next to Azure)', async () => {
    const r = await runOn(['--client-secret']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(server.requests.filter((q) => q.path.endsWith('/addPassword'))).toHaveLength(1);
    expect(ficApp().passwordCredentials).toHaveLength(1);
    expect(vault.secretValue('fic-test-client-secret')).toBe(server.issuedSecrets[0]);
    expect(vaultWrites('fic-test-client-secret')).toHaveLength(1);
    expect(JSON.parse(readFileSync(ficOutput, 'utf8'))).toMatchObject({
      secretName: 'fic-test-client-secret',
      federatedCredential: expect.any(Object),
    });
    // Without the flag again: the secret is kept (and named), never removed.
    const later = await runOn([]);
    expect(later.stdout).toContain('= kept 1 client secret(s) of the app registration');
    expect(ficApp().passwordCredentials).toHaveLength(1);
  });

  it('options: the object ID must be a GUID and the tenant an ID; without one a client secret is made as before', () => {
    const base = [
      '--tenant-id',
      TENANT,
      '--app-name',
      'ScanRelay',
      '--key-vault-url',
      'https://kv-x.vault.azure.net/',
      '--hostname',
      'x.example.com',
    ];
    expect(parseArgs(base, {})).toMatchObject({ clientSecret: true, managedIdentityObjectId: undefined });
    expect(parseArgs([...base, '--managed-identity-object-id', IDENTITY.toUpperCase()], {})).toMatchObject({
      clientSecret: false,
      managedIdentityObjectId: IDENTITY,
    });
    expect(parseArgs([...base, '--managed-identity-object-id', IDENTITY, '--client-secret'], {})).toMatchObject({ clientSecret: true });
    expect(() => parseArgs([...base, '--managed-identity-object-id', 'my-identity'], {})).toThrow(/object \(principal\) ID, a GUID/);
    expect(() => parseArgs([...base, '--managed-identity-object-id', IDENTITY, '--tenant-id', 'contoso.com'], {})).toThrow(
      /tenantId must be the tenant ID/,
    );
  });
});

describe("the Graph test server's federated identity credentials (application-post-federatedidentitycredentials)", () => {
  it('checks name, audiences, issuer and uniqueness, and keeps them off the application object', async () => {
    const server = await startGraphAppsServer({ token: TOKEN });
    try {
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${server.baseUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as any) };
      };
      const app = (await call('POST', '/applications', { displayName: 'FIC' })).body;
      const fic = {
        name: 'one',
        issuer: 'https://login.microsoftonline.com/t/v2.0',
        subject: 's',
        audiences: ['api://AzureADTokenExchange'],
      };
      expect((await call('POST', `/applications/${app.id}/federatedIdentityCredentials`, fic)).status).toBe(201);
      expect((await call('POST', `/applications/${app.id}/federatedIdentityCredentials`, { ...fic, name: 'two' })).status).toBe(400);
      expect(
        (await call('POST', `/applications/${app.id}/federatedIdentityCredentials`, { ...fic, name: 'one', subject: 'x' })).status,
      ).toBe(400);
      expect(
        (await call('POST', `/applications/${app.id}/federatedIdentityCredentials`, { ...fic, name: 'x y', subject: 'x' })).status,
      ).toBe(400);
      expect(
        (
          await call('POST', `/applications/${app.id}/federatedIdentityCredentials`, {
            ...fic,
            name: 'three',
            subject: 'y',
            audiences: ['a', 'b'],
          })
        ).status,
      ).toBe(400);
      const list = (await call('GET', `/applications/${app.id}/federatedIdentityCredentials`)).body.value;
      expect(list).toEqual([expect.objectContaining({ name: 'one', subject: 's', id: expect.any(String) })]);
      expect((await call('GET', `/applications/${app.id}`)).body.federatedIdentityCredentials).toBeUndefined();
      expect((await call('PATCH', `/applications/${app.id}/federatedIdentityCredentials/one`, { subject: 'z' })).status).toBe(204);
      expect((await call('PATCH', `/applications/${app.id}/federatedIdentityCredentials/one`, { name: 'renamed' })).status).toBe(400);
    } finally {
      await server.close();
    }
  });
});
