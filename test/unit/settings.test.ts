/**
 * One list of settings: the settings ScanRelay reads (the keys of the zod schema in
 * shared/config/index.ts, read from its source so a new setting is picked up at once) must appear
 * both in local.settings.example.json and in the app settings of the compiled Bicep template,
 * except where an explicit, reasoned exception below says otherwise; and neither file may carry a
 * setting that is neither ScanRelay's nor a known host setting.
 *
 * When this fails after adding a setting to shared/config: add it to local.settings.example.json
 * and to `appSettings` in infra/modules/functionApp.bicep (or give it an exception with a reason).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, settingDefaults } from '../../shared/config';
import { modules } from '../../tools/infra/arm';
import { buildBicep, REPO_ROOT } from '../../tools/infra/bicep';

/** The top-level keys of `const schema = z.object({ ... })` in shared/config/index.ts. */
function schemaKeys(): string[] {
  const source = readFileSync(join(REPO_ROOT, 'shared', 'config', 'index.ts'), 'utf8');
  const start = source.indexOf('const schema = z.object({');
  if (start < 0) throw new Error('shared/config/index.ts no longer declares `const schema = z.object({`: update this test.');
  const body = source.slice(start, source.indexOf('\n});', start));
  const keys = [...body.matchAll(/^ {2}([A-Za-z_][A-Za-z0-9_]*):/gm)].map((m) => m[1]!);
  if (keys.length < 10) throw new Error(`Found only ${keys.length} settings in the schema: the parser needs an update.`);
  return keys;
}

/** ScanRelay settings that local.settings.example.json leaves out, and why. */
const NOT_LOCAL: Record<string, string> = {
  AzureWebJobsStorage__accountName: 'identity-based storage in Azure; locally the Azurite connection string',
  AzureWebJobsStorage__blobServiceUri: 'identity-based storage in Azure; locally the Azurite connection string',
  AzureWebJobsStorage__queueServiceUri: 'identity-based storage in Azure; locally the Azurite connection string',
  AzureWebJobsStorage__tableServiceUri: 'identity-based storage in Azure; locally the Azurite connection string',
  AzureWebJobsStorage__clientId: 'the managed identity exists only in Azure',
  AZURE_CLIENT_ID: 'the managed identity exists only in Azure',
  WEBSITE_INSTANCE_ID: 'set by the platform in Azure; its presence means "running in Azure"',
  WEBSITE_HOSTNAME: 'set by the platform in Azure',
  RATE_LIMIT_WINDOW_SCALE: 'benchmarks only (shortens the Microsoft 365 limit windows against test servers); 1 everywhere else',
};

/** ScanRelay settings that the Bicep app settings leave out, and why. */
const NOT_IN_AZURE: Record<string, string> = {
  AzureWebJobsStorage: 'a connection string carries an account key; Azure uses the identity-based AzureWebJobsStorage__* settings',
  AzureWebJobsStorage__accountName: 'the three service URIs are set explicitly (they differ in other clouds)',
  SECRETS_LOCAL_FILE: 'the local secret store; in Azure secrets come from Key Vault',
  WEBSITE_INSTANCE_ID: 'set by the platform',
  WEBSITE_HOSTNAME: 'set by the platform',
  RATE_LIMIT_WINDOW_SCALE: 'benchmarks only: production keeps the code default, 1',
};

/** Settings whose literal value differs between the two files on purpose, and why. */
const DIFFERENT_LOCALLY: Record<string, string> = {
  DESTINATIONS_FILE:
    'empty locally: destinations.json is read when it exists, so a new checkout starts without one; in Azure the file must be deployed',
};

/** Settings that are not ScanRelay's own but belong in one file or the other, and why. */
const HOST_SETTINGS: Record<string, string> = {
  FUNCTIONS_WORKER_RUNTIME: 'Core Tools needs it locally; on Flex Consumption the runtime is functionAppConfig.runtime',
  AzureWebJobsStorage__credential: 'the Functions host: identity-based storage connection',
  APPLICATIONINSIGHTS_CONNECTION_STRING: 'the Functions host: where telemetry goes',
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'the Functions host: Entra ID authentication for telemetry',
  FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: "the Functions host's own request size limit, kept equal to SCAN_MAX_REQUEST_BYTES",
};
/** Setting name patterns ScanRelay reads besides the schema's keys. */
const PATTERNS: Array<[RegExp, string]> = [
  [/^SECRET_[A-Z0-9_]+$/, 'local secret store: secret a-b-c is read from SECRET_A_B_C (shared/secrets/local.ts)'],
  [/^OAUTH_CLIENT_ID_[A-Z0-9]+$/, "a connection type's own app registration (shared/config)"],
];

/** ScanRelay settings the README's Configuration table leaves out, and why. */
const NOT_IN_README: Record<string, string> = {
  WEBSITE_INSTANCE_ID: 'set by the platform; its presence means "running in Azure"',
  WEBSITE_HOSTNAME: 'set by the platform (PUBLIC_BASE_URL says what it is used for)',
};
/** Settings of the local host only (not the app's schema), which the README documents too. */
const LOCAL_HOST_SETTINGS = ['PORT', 'LOCAL_QUEUE_VISIBILITY_SECONDS', 'LOCAL_DESTINATION_FOLDER'];
/** Settings whose default the README describes in words because it comes from elsewhere. */
const DERIVED_DEFAULTS: Record<string, string> = {
  AzureWebJobsStorage: 'npm start uses its Azurite; in Azure the identity-based settings',
  AzureWebJobsStorage__blobServiceUri: 'from AzureWebJobsStorage__accountName',
  AzureWebJobsStorage__queueServiceUri: 'from AzureWebJobsStorage__accountName',
  AzureWebJobsStorage__tableServiceUri: 'from AzureWebJobsStorage__accountName',
  AzureWebJobsStorage__clientId: 'AZURE_CLIENT_ID',
  PUBLIC_BASE_URL: 'https://$WEBSITE_HOSTNAME in Azure',
  CONSOLE_SIGN_IN: 'entra when the app registration and tenant are set, else development (locally)',
  CONSOLE_TENANT: 'OAUTH_TENANT when that is a tenant ID',
};

/** The README's Configuration table: setting → the Default cell. */
function readmeSettings(): Map<string, string> {
  const text = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = text.slice(text.indexOf('## Configuration'), text.indexOf('### Secrets'));
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split(' | ');
    if (!line.startsWith('| `') || cells.length < 3) continue;
    const names = [...cells[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    // `AzureWebJobsStorage__blobServiceUri`, `__queueServiceUri`: the short ones share the prefix.
    const prefix = names[0]!.includes('__') ? names[0]!.slice(0, names[0]!.indexOf('__')) : '';
    for (const n of names) rows.set(n.startsWith('__') ? prefix + n : n, cells[1]!.trim());
  }
  return rows;
}

const known = (name: string, schema: string[]) => schema.includes(name) || name in HOST_SETTINGS || PATTERNS.some(([re]) => re.test(name));

let schema: string[];
let local: Record<string, string>;
let azure: Record<string, string>;

beforeAll(() => {
  schema = schemaKeys();
  local = JSON.parse(readFileSync(join(REPO_ROOT, 'local.settings.example.json'), 'utf8')).Values;
  const arm = buildBicep(join(REPO_ROOT, 'infra', 'main.bicep')).template;
  azure = modules(arm).get('functionApp')!.template.variables.appSettings;
}, 300_000);

describe('the settings of the code, local.settings.example.json and the Bicep app settings agree', () => {
  it('reads the schema', () => {
    expect(schema).toEqual(expect.arrayContaining(['AzureWebJobsStorage', 'KEY_VAULT_URL', 'SCAN_MAX_REQUEST_BYTES', 'OAUTH_CLIENT_ID']));
  });

  it('local.settings.example.json lists every ScanRelay setting (exceptions have reasons)', () => {
    const missing = schema.filter((k) => !(k in local) && !(k in NOT_LOCAL));
    expect(missing).toEqual([]);
  });

  it('the Bicep app settings list every ScanRelay setting (exceptions have reasons)', () => {
    const missing = schema.filter((k) => !(k in azure) && !(k in NOT_IN_AZURE));
    expect(missing).toEqual([]);
  });

  it('both files list only known settings (no typo, no leftover)', () => {
    expect(Object.keys(local).filter((k) => !known(k, schema))).toEqual([]);
    expect(Object.keys(azure).filter((k) => !known(k, schema))).toEqual([]);
  });

  it('the exceptions are real and not contradicted', () => {
    for (const name of [...Object.keys(NOT_LOCAL), ...Object.keys(NOT_IN_AZURE)]) expect(schema).toContain(name);
    for (const name of Object.keys(NOT_LOCAL)) expect(local).not.toHaveProperty([name]);
    for (const name of Object.keys(NOT_IN_AZURE)) expect(azure).not.toHaveProperty([name]);
    for (const name of Object.keys(HOST_SETTINGS)) expect(schema).not.toContain(name);
    for (const name of Object.keys(DIFFERENT_LOCALLY)) expect([name, local[name]]).not.toEqual([name, azure[name]]);
  });

  it('local.settings.example.json is a valid configuration, with the same literal values as Azure', () => {
    const config = loadConfig({ ...local });
    expect(config.storage.kind).toBe('connectionString');
    expect(config.secrets).toEqual({ kind: 'local', file: '.secrets.local.json' });
    for (const [name, value] of Object.entries(azure)) {
      // Literal values (not ARM expressions) are the same in both files, e.g. the schedule and limits.
      if (!value.startsWith('[') && name in local && value !== '' && !(name in DIFFERENT_LOCALLY))
        expect([name, local[name]]).toEqual([name, value]);
    }
  });

  it("the README's Configuration table lists every setting, and only known ones (exceptions have reasons)", () => {
    const readme = readmeSettings();
    expect(schema.filter((k) => !readme.has(k) && !(k in NOT_IN_README))).toEqual([]);
    expect([...readme.keys()].filter((k) => !known(k, schema) && !LOCAL_HOST_SETTINGS.includes(k) && !/<TYPE>/.test(k))).toEqual([]);
    for (const name of Object.keys(NOT_IN_README)) expect([name, readme.has(name)]).toEqual([name, false]);
  });

  it('the README, local.settings.example.json and the code agree on every default', () => {
    const readme = readmeSettings();
    const defaults = settingDefaults();
    for (const name of schema) {
      const cell = readme.get(name);
      if (cell === undefined || name in DERIVED_DEFAULTS) continue;
      const code = defaults[name];
      // The README's default is its first `literal`; none ("—") when the code has none.
      const documented = /`([^`]*)`/.exec(cell)?.[1];
      expect([name, documented]).toEqual([name, code === undefined ? undefined : String(code as string | number)]);
      if (code !== undefined && local[name] !== undefined && local[name] !== '' && !(name in DIFFERENT_LOCALLY)) {
        expect([name, local[name]]).toEqual([name, String(code as string | number)]);
      }
    }
    for (const name of Object.keys(DERIVED_DEFAULTS)) expect([name, defaults[name]]).toEqual([name, undefined]);
  });
});
