/** loadConfig: defaults, validation of every setting, storage and secret-store selection. */
import { AZURITE_CONNECTION_STRING, loadConfig } from '../../shared/config';
import { ConfigError } from '../../shared/errors';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const DEV = { AzureWebJobsStorage: 'UseDevelopmentStorage=true' };

/** The ConfigError loadConfig throws for `env` (fails the test when it does not throw one). */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(Object.keys(env))}`);
}

function expectRejected(env: Record<string, string | undefined>, setting: string): ConfigError {
  const err = configError(env);
  expect(err.setting).toBe(setting);
  expect(err.message).toContain(setting);
  return err;
}

describe('defaults', () => {
  it('gives the documented limits, a local secret store and no shared-secret field', () => {
    const config = loadConfig(DEV);
    expect(config.scan.limits).toEqual({
      maxRequestBytes: 100 * MiB,
      maxFileBytes: 100 * MiB,
      maxFiles: 20,
      maxFields: 200,
      maxFieldBytes: 16 * 1024,
    });
    expect(config.scan.sharedSecretField).toBeUndefined();
    expect(config.secrets).toEqual({ kind: 'local', file: '.secrets.local.json' });
    expect(config.storage).toEqual({ kind: 'connectionString', connectionString: AZURITE_CONNECTION_STRING });
  });

  it('treats blank settings as unset', () => {
    const config = loadConfig({
      ...DEV,
      SCAN_MAX_FILES: '',
      SCAN_MAX_REQUEST_BYTES: '   ',
      SCAN_SHARED_SECRET_FIELD: '',
      KEY_VAULT_URL: ' ',
      SECRETS_LOCAL_FILE: '',
    });
    expect(config.scan.limits.maxFiles).toBe(20);
    expect(config.scan.limits.maxRequestBytes).toBe(100 * MiB);
    expect(config.scan.sharedSecretField).toBeUndefined();
    expect(config.secrets).toEqual({ kind: 'local', file: '.secrets.local.json' });
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig(DEV))).toBe(true);
  });

  it('reads every limit when it is set', () => {
    const config = loadConfig({
      ...DEV,
      SCAN_MAX_REQUEST_BYTES: String(10 * MiB),
      SCAN_MAX_FILE_BYTES: String(5 * MiB),
      SCAN_MAX_FILES: '3',
      SCAN_MAX_FIELDS: '7',
      SCAN_MAX_FIELD_BYTES: '512',
      SCAN_SHARED_SECRET_FIELD: 'custom_SharedSecret',
      INGEST_LEASE_SECONDS: '45',
      INGEST_SWEEP_SCHEDULE: '0 */2 * * * *',
    });
    expect(config.scan).toEqual({
      limits: { maxRequestBytes: 10 * MiB, maxFileBytes: 5 * MiB, maxFiles: 3, maxFields: 7, maxFieldBytes: 512 },
      sharedSecretField: 'custom_SharedSecret',
      leaseMs: 45_000,
      sweepSchedule: '0 */2 * * * *',
    });
  });
});

describe('scan limits', () => {
  // [setting, smallest allowed, largest allowed]
  const limits: Array<[string, number, number]> = [
    ['SCAN_MAX_REQUEST_BYTES', 1024, 64 * GiB],
    ['SCAN_MAX_FILE_BYTES', 1, 64 * GiB],
    ['SCAN_MAX_FILES', 1, 1000],
    ['SCAN_MAX_FIELDS', 1, 1000],
    ['SCAN_MAX_FIELD_BYTES', 1, 32 * 1024],
  ];
  // Keeps SCAN_MAX_FILE_BYTES <= SCAN_MAX_REQUEST_BYTES while one of them is at an edge.
  const room = { SCAN_MAX_REQUEST_BYTES: String(64 * GiB), SCAN_MAX_FILE_BYTES: '1024' };

  describe.each(limits)('%s', (setting, min, max) => {
    it.each(['abc', '12abc', '1.5', '-5', '1e6', '0x10', '10MB', '+5'])('rejects the non-number %p', (value) => {
      const err = expectRejected({ ...DEV, ...room, [setting]: value }, setting);
      expect(err.message).toMatch(/whole number/);
    });

    it('rejects a value below its minimum', () => {
      const err = expectRejected({ ...DEV, ...room, [setting]: String(min - 1) }, setting);
      expect(err.message).toContain(`at least ${min}`);
    });

    it('rejects a value above its maximum', () => {
      const err = expectRejected({ ...DEV, ...room, [setting]: String(max + 1) }, setting);
      expect(err.message).toContain(`at most ${max}`);
    });

    it('rejects an absurdly large number', () => {
      expectRejected({ ...DEV, ...room, [setting]: '9'.repeat(30) }, setting);
    });

    it('accepts its minimum and its maximum', () => {
      for (const value of [min, max]) {
        const config = loadConfig({ ...DEV, ...room, [setting]: String(value) });
        const key = {
          SCAN_MAX_REQUEST_BYTES: 'maxRequestBytes',
          SCAN_MAX_FILE_BYTES: 'maxFileBytes',
          SCAN_MAX_FILES: 'maxFiles',
          SCAN_MAX_FIELDS: 'maxFields',
          SCAN_MAX_FIELD_BYTES: 'maxFieldBytes',
        }[setting] as keyof typeof config.scan.limits;
        expect(config.scan.limits[key]).toBe(value);
      }
    });
  });

  it('rejects SCAN_MAX_FILE_BYTES larger than SCAN_MAX_REQUEST_BYTES', () => {
    const err = expectRejected(
      { ...DEV, SCAN_MAX_REQUEST_BYTES: String(MiB), SCAN_MAX_FILE_BYTES: String(MiB + 1) },
      'SCAN_MAX_FILE_BYTES',
    );
    expect(err.message).toContain('SCAN_MAX_REQUEST_BYTES');
  });

  it('rejects SCAN_MAX_FILE_BYTES larger than the default request limit', () => {
    expectRejected({ ...DEV, SCAN_MAX_FILE_BYTES: String(100 * MiB + 1) }, 'SCAN_MAX_FILE_BYTES');
  });

  it('accepts SCAN_MAX_FILE_BYTES equal to SCAN_MAX_REQUEST_BYTES', () => {
    const config = loadConfig({ ...DEV, SCAN_MAX_REQUEST_BYTES: String(MiB), SCAN_MAX_FILE_BYTES: String(MiB) });
    expect(config.scan.limits.maxFileBytes).toBe(MiB);
  });
});

describe('SCAN_SHARED_SECRET_FIELD', () => {
  it.each(['custom_SharedSecret', 'custom_a', 'custom_Shared.Secret-2'])('accepts %p', (field) => {
    expect(loadConfig({ ...DEV, SCAN_SHARED_SECRET_FIELD: field }).scan.sharedSecretField).toBe(field);
  });

  it.each(['SharedSecret', 'custom_', 'Custom_SharedSecret', 'x_custom_Secret', 'custom_has space', `custom_${'a'.repeat(65)}`])(
    'rejects %p',
    (field) => {
      const err = expectRejected({ ...DEV, SCAN_SHARED_SECRET_FIELD: field }, 'SCAN_SHARED_SECRET_FIELD');
      expect(err.message).toContain('custom_');
    },
  );
});

describe('storage', () => {
  it('maps UseDevelopmentStorage=true to Azurite, in any case and with a trailing semicolon', () => {
    for (const value of ['UseDevelopmentStorage=true', 'usedevelopmentstorage=TRUE;', '  UseDevelopmentStorage=true  ']) {
      expect(loadConfig({ AzureWebJobsStorage: value }).storage).toEqual({
        kind: 'connectionString',
        connectionString: AZURITE_CONNECTION_STRING,
      });
    }
  });

  it('keeps a connection string as it is', () => {
    const cs = 'DefaultEndpointsProtocol=https;AccountName=scanrelay;AccountKey=a2V5;EndpointSuffix=core.windows.net';
    expect(loadConfig({ AzureWebJobsStorage: cs }).storage).toEqual({ kind: 'connectionString', connectionString: cs });
  });

  it('accepts an endpoint-only connection string (BlobEndpoint=...;SharedAccessSignature=...)', () => {
    const cs = 'BlobEndpoint=https://scanrelay.blob.core.windows.net;SharedAccessSignature=sv=2024&sig=abc';
    expect(loadConfig({ AzureWebJobsStorage: cs }).storage).toEqual({ kind: 'connectionString', connectionString: cs });
  });

  it('rejects something that is not a connection string, naming AzureWebJobsStorage', () => {
    expectRejected({ AzureWebJobsStorage: 'not a connection string' }, 'AzureWebJobsStorage');
  });

  it('prefers the connection string over identity settings', () => {
    const config = loadConfig({ ...DEV, AzureWebJobsStorage__accountName: 'scanrelay' });
    expect(config.storage.kind).toBe('connectionString');
  });

  it('derives the three service URIs from AzureWebJobsStorage__accountName', () => {
    expect(loadConfig({ AzureWebJobsStorage__accountName: 'scanrelay01' }).storage).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://scanrelay01.blob.core.windows.net',
      queueServiceUri: 'https://scanrelay01.queue.core.windows.net',
      tableServiceUri: 'https://scanrelay01.table.core.windows.net',
      clientId: undefined,
    });
  });

  it('uses AzureWebJobsStorage__clientId, else AZURE_CLIENT_ID, as the identity', () => {
    const base = { AzureWebJobsStorage__accountName: 'scanrelay', AZURE_CLIENT_ID: 'app-identity' };
    expect(loadConfig(base).storage).toMatchObject({ kind: 'identity', clientId: 'app-identity' });
    expect(loadConfig({ ...base, AzureWebJobsStorage__clientId: 'storage-identity' }).storage).toMatchObject({
      kind: 'identity',
      clientId: 'storage-identity',
    });
  });

  it('uses explicit service URIs, and they win over the account name', () => {
    const explicit = {
      AzureWebJobsStorage__blobServiceUri: 'https://blobs.example.net',
      AzureWebJobsStorage__queueServiceUri: 'https://queues.example.net',
      AzureWebJobsStorage__tableServiceUri: 'https://tables.example.net',
    };
    expect(loadConfig(explicit).storage).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://blobs.example.net',
      queueServiceUri: 'https://queues.example.net',
      tableServiceUri: 'https://tables.example.net',
      clientId: undefined,
    });
    expect(
      loadConfig({
        AzureWebJobsStorage__accountName: 'scanrelay',
        AzureWebJobsStorage__blobServiceUri: 'https://blobs.example.net',
      }).storage,
    ).toMatchObject({
      blobServiceUri: 'https://blobs.example.net',
      queueServiceUri: 'https://scanrelay.queue.core.windows.net',
      tableServiceUri: 'https://scanrelay.table.core.windows.net',
    });
  });

  it('names the first missing service URI when only some are given', () => {
    expectRejected({ AzureWebJobsStorage__blobServiceUri: 'https://blobs.example.net' }, 'AzureWebJobsStorage__queueServiceUri');
    expectRejected(
      {
        AzureWebJobsStorage__blobServiceUri: 'https://blobs.example.net',
        AzureWebJobsStorage__queueServiceUri: 'https://queues.example.net',
      },
      'AzureWebJobsStorage__tableServiceUri',
    );
  });

  it('rejects a service URI that is not https', () => {
    expectRejected(
      { AzureWebJobsStorage__accountName: 'scanrelay', AzureWebJobsStorage__queueServiceUri: 'http://queues.example.net' },
      'AzureWebJobsStorage__queueServiceUri',
    );
  });

  it.each(['ab', 'UpperCase', 'has-dash', 'a'.repeat(25)])('rejects the account name %p', (name) => {
    expectRejected({ AzureWebJobsStorage__accountName: name }, 'AzureWebJobsStorage__accountName');
  });

  it('rejects missing storage settings, naming AzureWebJobsStorage', () => {
    const err = expectRejected({}, 'AzureWebJobsStorage');
    expect(err.message).toContain('UseDevelopmentStorage=true');
    expectRejected({ AzureWebJobsStorage: '   ' }, 'AzureWebJobsStorage');
  });
});

describe('secrets', () => {
  it('uses Key Vault when KEY_VAULT_URL is an https URL, with AZURE_CLIENT_ID as the identity', () => {
    expect(loadConfig({ ...DEV, KEY_VAULT_URL: 'https://scanrelay-kv.vault.azure.net' }).secrets).toEqual({
      kind: 'keyVault',
      vaultUrl: 'https://scanrelay-kv.vault.azure.net',
      clientId: undefined,
    });
    expect(
      loadConfig({ ...DEV, KEY_VAULT_URL: 'https://scanrelay-kv.vault.azure.net', AZURE_CLIENT_ID: 'app-identity' }).secrets,
    ).toMatchObject({ kind: 'keyVault', clientId: 'app-identity' });
  });

  it.each(['http://scanrelay-kv.vault.azure.net', 'scanrelay-kv.vault.azure.net', 'ftp://vault', 'not a url'])(
    'rejects KEY_VAULT_URL %p',
    (url) => {
      const err = expectRejected({ ...DEV, KEY_VAULT_URL: url }, 'KEY_VAULT_URL');
      expect(err.message).toContain('https');
    },
  );

  it('requires KEY_VAULT_URL when running in Azure (WEBSITE_INSTANCE_ID set)', () => {
    const err = expectRejected({ ...DEV, WEBSITE_INSTANCE_ID: 'a1b2c3' }, 'KEY_VAULT_URL');
    expect(err.message).toMatch(/Azure/);
    expect(loadConfig({ ...DEV, WEBSITE_INSTANCE_ID: 'a1b2c3', KEY_VAULT_URL: 'https://scanrelay-kv.vault.azure.net' }).secrets.kind).toBe(
      'keyVault',
    );
  });

  it('uses SECRETS_LOCAL_FILE for the local store', () => {
    expect(loadConfig({ ...DEV, SECRETS_LOCAL_FILE: '/tmp/my-secrets.json' }).secrets).toEqual({
      kind: 'local',
      file: '/tmp/my-secrets.json',
    });
  });
});

describe('ConfigError messages never echo a secret', () => {
  const ACCOUNT_KEY = 'U3VwZXJTZWNyZXRBY2NvdW50S2V5VmFsdWU0MlhZWg==';

  it('does not echo a rejected connection string', () => {
    const cs = `DefaultEndpointsProtocol=https;AccountKey=${ACCOUNT_KEY};EndpointSuffix=core.windows.net`;
    const err = expectRejected({ AzureWebJobsStorage: cs }, 'AzureWebJobsStorage');
    expect(err.message).not.toContain(ACCOUNT_KEY);
    expect(err.message).not.toContain('AccountKey=');
    expect(String(err.stack)).not.toContain(ACCOUNT_KEY);
  });

  it('does not echo a rejected KEY_VAULT_URL that carries credentials', () => {
    const err = expectRejected({ ...DEV, KEY_VAULT_URL: `http://user:${ACCOUNT_KEY}@vault.example.net` }, 'KEY_VAULT_URL');
    expect(err.message).not.toContain(ACCOUNT_KEY);
  });

  it('does not echo a rejected SCAN_SHARED_SECRET_FIELD (someone may put the secret itself there)', () => {
    const err = expectRejected({ ...DEV, SCAN_SHARED_SECRET_FIELD: ACCOUNT_KEY }, 'SCAN_SHARED_SECRET_FIELD');
    expect(err.message).not.toContain(ACCOUNT_KEY);
  });

  it('does not echo a rejected service URI that carries a SAS signature', () => {
    const err = expectRejected(
      { AzureWebJobsStorage__blobServiceUri: 'http://a.blob.core.windows.net/?sv=2024&sig=c2lnbmF0dXJl' },
      'AzureWebJobsStorage__blobServiceUri',
    );
    expect(err.message).not.toContain('c2lnbmF0dXJl');
  });

  it('does not echo unrelated secrets from the environment when another setting is bad', () => {
    const err = expectRejected(
      {
        AzureWebJobsStorage: `DefaultEndpointsProtocol=https;AccountName=scanrelay;AccountKey=${ACCOUNT_KEY}`,
        SECRET_ADMIN_KEY: ACCOUNT_KEY,
        SCAN_MAX_FILES: 'lots',
      },
      'SCAN_MAX_FILES',
    );
    expect(err.message).not.toContain(ACCOUNT_KEY);
    // Harmless values are echoed, so the administrator can see what is wrong.
    expect(err.message).toContain("'lots'");
  });
});

describe('OAuth settings', () => {
  it('defaults to the global Entra host, organizations, hourly refresh and a 24 h refresh age', () => {
    expect(loadConfig(DEV).oauth).toEqual({
      authorityHost: 'https://login.microsoftonline.com',
      tenant: 'organizations',
      clientId: undefined,
      clientIdByType: {},
      publicBaseUrl: undefined,
      refreshSchedule: '0 0 * * * *',
      refreshMaxAgeHours: 24,
    });
  });

  it('reads a sovereign-cloud host, a tenant, client IDs per type and the public base URL', () => {
    const id = '11111111-2222-3333-4444-555555555555';
    const c = loadConfig({
      ...DEV,
      OAUTH_AUTHORITY_HOST: 'https://login.microsoftonline.us/',
      OAUTH_TENANT: 'contoso.onmicrosoft.com',
      OAUTH_CLIENT_ID: id,
      OAUTH_CLIENT_ID_SHAREPOINT: id,
      PUBLIC_BASE_URL: 'https://scanrelay.contoso.com/',
    }).oauth;
    expect(c).toMatchObject({
      authorityHost: 'https://login.microsoftonline.us',
      tenant: 'contoso.onmicrosoft.com',
      clientId: id,
      clientIdByType: { SHAREPOINT: id },
      publicBaseUrl: 'https://scanrelay.contoso.com',
    });
  });

  it('derives the public base URL from WEBSITE_HOSTNAME in Azure', () => {
    expect(loadConfig({ ...DEV, WEBSITE_HOSTNAME: 'scanrelay.azurewebsites.net' }).oauth.publicBaseUrl).toBe(
      'https://scanrelay.azurewebsites.net',
    );
  });

  it.each([
    ['OAUTH_AUTHORITY_HOST', 'http://login.microsoftonline.com'],
    ['OAUTH_TENANT', 'contoso/../x'],
    ['OAUTH_CLIENT_ID', 'not-a-guid'],
    ['OAUTH_CLIENT_ID_ONEDRIVE', 'not-a-guid'],
    ['PUBLIC_BASE_URL', 'https://scanrelay.example/api'],
    ['PUBLIC_BASE_URL', 'ftp://scanrelay.example'],
    ['TOKEN_REFRESH_SCHEDULE', '0 * * * *'],
    ['TOKEN_REFRESH_MAX_AGE_HOURS', '0'],
  ])('rejects a bad %s (%s)', (setting, value) => {
    expectRejected({ ...DEV, [setting]: value }, setting);
  });
});

describe('destinations', () => {
  it('are stored unless DESTINATIONS_PINNED is true (in any case)', () => {
    expect(loadConfig(DEV).delivery.destinationsPinned).toBe(false);
    expect(loadConfig({ ...DEV, DESTINATIONS_PINNED: ' TRUE ' }).delivery.destinationsPinned).toBe(true);
    expect(loadConfig({ ...DEV, DESTINATIONS_PINNED: 'false' }).delivery.destinationsPinned).toBe(false);
    expect(loadConfig({ ...DEV, DESTINATIONS_PINNED: '' }).delivery.destinationsPinned).toBe(false);
  });

  it('rejects a DESTINATIONS_PINNED that is neither true nor false', () => {
    expect(expectRejected({ ...DEV, DESTINATIONS_PINNED: 'yes' }, 'DESTINATIONS_PINNED').message).toMatch(/must be 'true'/);
  });
});

describe("Microsoft 365's budgets the deliverer paces to", () => {
  it("defaults to the smallest tenant's SharePoint units and Microsoft's windows", () => {
    expect(loadConfig(DEV).delivery.pacing).toEqual({ sharePointUnitsPerMinute: 1_250, windowScale: 1 });
  });

  it('reads the tenant size and a shortened window', () => {
    const config = loadConfig({ ...DEV, SHAREPOINT_RESOURCE_UNITS_PER_MINUTE: '3750', RATE_LIMIT_WINDOW_SCALE: '0.05' });
    expect(config.delivery.pacing).toEqual({ sharePointUnitsPerMinute: 3_750, windowScale: 0.05 });
  });

  it.each(['0', '0.0', '1.5', '2', '-0.5', 'fast', '1e-3'])('refuses RATE_LIMIT_WINDOW_SCALE %p', (value) => {
    expect(expectRejected({ ...DEV, RATE_LIMIT_WINDOW_SCALE: value }, 'RATE_LIMIT_WINDOW_SCALE').message).toMatch(/above 0/);
  });

  it('refuses fewer SharePoint units than any tenant has', () => {
    expectRejected({ ...DEV, SHAREPOINT_RESOURCE_UNITS_PER_MINUTE: '50' }, 'SHAREPOINT_RESOURCE_UNITS_PER_MINUTE');
  });
});
