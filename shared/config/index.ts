/**
 * Configuration: read once from the environment (which the Functions host fills from app
 * settings, and the local host from local.settings.json), validated, typed and frozen.
 * A bad or missing setting throws a ConfigError naming the setting.
 */
import { z } from 'zod';
import { ConfigError } from '../errors';

const MiB = 1024 * 1024;

/** Azurite's published development account (not a secret: it is the same on every machine). */
export const AZURITE_CONNECTION_STRING =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
  'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
  'BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;' +
  'QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;' +
  'TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;';

export type StorageConfig =
  | { kind: 'connectionString'; connectionString: string }
  | {
      kind: 'identity';
      blobServiceUri: string;
      queueServiceUri: string;
      tableServiceUri: string;
      /** Client ID of a user-assigned managed identity; absent for the default credential chain. */
      clientId?: string;
    };

export type SecretsConfig = { kind: 'keyVault'; vaultUrl: string; clientId?: string } | { kind: 'local'; file: string };

export interface ScanLimits {
  /** Largest request body accepted, in bytes. */
  maxRequestBytes: number;
  /** Largest single file accepted, in bytes. */
  maxFileBytes: number;
  /** Most file parts in one request. */
  maxFiles: number;
  /** Most text fields in one request. */
  maxFields: number;
  /** Largest value of one text field, in bytes. */
  maxFieldBytes: number;
}

export interface OAuthConfig {
  /** The identity platform's host, e.g. https://login.microsoftonline.com (sovereign clouds differ). */
  authorityHost: string;
  /** Tenant ID or domain, or `organizations` (work and school accounts of any tenant). */
  tenant: string;
  /** The app registration's client ID; absent until an administrator sets it. */
  clientId?: string;
  /** A connection type's own client ID, where one was configured (`OAUTH_CLIENT_ID_<TYPE>`). */
  clientIdByType: Readonly<Record<string, string>>;
  /** The app's public base URL, from which the redirect URIs are built. */
  publicBaseUrl?: string;
  /** NCRONTAB schedule of the token refresh timer. */
  refreshSchedule: string;
  /** Refresh a connection whose last refresh is older than this, in hours. */
  refreshMaxAgeHours: number;
  /**
   * Envelope encryption of the token keys (Azure): the Key Vault RSA key that wraps the data keys.
   * Absent: the key ring in the secret `token-encryption-keys` (local development).
   */
  tokenWrappingKey?: { vaultUrl: string; keyName: string; clientId?: string };
  /**
   * How ScanRelay proves the app registration's identity to Entra (OAUTH_CLIENT_CREDENTIAL).
   * Absent (`clientSecret`, the default): the client secret in the secret store
   * (`oauth-client-secret`, or `oauth-client-secret-<type>` for a type's own registration).
   * `managedIdentity`: no secret; a token for `api://AzureADTokenExchange` of the user-assigned
   * managed identity `clientId` (AZURE_CLIENT_ID) is the client assertion, which the app
   * registration's federated identity credential accepts.
   */
  federatedIdentity?: { clientId: string };
}

export interface DirectoryConfig {
  /**
   * Where users and groups come from: `scim` (Entra ID pushes them to /api/scim/v2) or `sync`
   * (a timer pulls them from Microsoft Graph). The other one is off.
   */
  source: 'scim' | 'sync';
  sync: {
    /** NCRONTAB schedule of the directory sync timer. */
    schedule: string;
    /** Object ID of the Entra group whose transitive user members are synced (required for `sync`). */
    groupId?: string;
    /** Groups whose display name starts with this are synced with their members (none when unset). */
    groupPrefix?: string;
  };
}

/** How administrators sign in to the console. */
export type ConsoleSignIn =
  /** OpenID Connect with the default app registration, users of one tenant, app roles from the ID token. */
  | { kind: 'entra'; clientId: string; tenantId: string }
  /** Local development only: a one-time link printed by `npm start` (never in Azure). */
  | { kind: 'development' }
  /** Nobody can sign in; `reason` says which settings are missing. The admin key still works for scripts. */
  | { kind: 'none'; reason: string };

export interface ConsoleConfig {
  signIn: ConsoleSignIn;
  /** A session unused for this long ends. */
  sessionIdleMs: number;
  /** A session ends this long after its sign-in, used or not. */
  sessionMaxMs: number;
}

export interface Config {
  console: ConsoleConfig;
  storage: StorageConfig;
  secrets: SecretsConfig;
  oauth: OAuthConfig;
  delivery: {
    /** The destinations file (JSON): imported into Table Storage on first start, or in force when pinned; unset: destinations.json if it exists. */
    destinationsFile?: string;
    /** The file is in force (routing kept in git): the deliverer reads it, and the API refuses changes. */
    destinationsPinned: boolean;
    /** How long a worker's hold on a (job, destination) lasts unrenewed; renewed every third of it. */
    leaseMs: number;
    /** Microsoft Graph's endpoint with its version (national clouds differ). */
    graphBaseUrl: string;
    /** Microsoft 365's budgets the deliverer paces to (shared/delivery/pacing.ts). */
    pacing: {
      sharePointUnitsPerMinute: number;
      /** Multiplies every limit's window: 1 in production; benchmarks shorten them against a test server that does the same. */
      windowScale: number;
    };
  };
  directory: DirectoryConfig;
  mailbox: {
    /** NCRONTAB schedule of the backstop that reads every source's folder (delta query). */
    readSchedule: string;
    /** NCRONTAB schedule of the timer that creates and renews the change-notification subscriptions. */
    subscriptionSchedule: string;
  };
  notifications: {
    /** NCRONTAB schedule of the timer that raises the events read from state (secret expiry, the directory) and deletes old records. */
    watchSchedule: string;
  };
  scan: {
    limits: ScanLimits;
    /** When set, the text field (a `custom_` extension property) that must carry the shared secret. */
    sharedSecretField?: string;
    /** Length of the owner lease a request storing files renews while it lives. */
    leaseMs: number;
    /** NCRONTAB schedule of the ingest sweeper (removes what dead requests left). */
    sweepSchedule: string;
  };
}

type Env = Record<string, string | undefined>;

const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const wholeNumber = (min: number, max: number, fallback: number) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^\d+$/, { error: `must be a whole number from ${min} to ${max}` })
      .transform(Number)
      .pipe(
        z
          .number()
          .min(min, { error: `must be at least ${min}` })
          .max(max, { error: `must be at most ${max}` }),
      )
      .optional()
      .default(fallback),
  );

const httpsUrl = z.preprocess(blankToUndefined, z.url({ protocol: /^https$/, error: 'must be an https:// URL' }).optional());

const optionalString = z.preprocess(blankToUndefined, z.string().optional());

const ncrontab = (fallback: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^\S+( \S+){5}$/, { error: 'must be an NCRONTAB expression with 6 fields (sec min hour day month weekday)' })
      .optional()
      .default(fallback),
  );

const baseUrl = z.preprocess(
  blankToUndefined,
  z
    .url({ protocol: /^https?$/, error: 'must be an http(s):// URL with no path, e.g. https://scanrelay.azurewebsites.net' })
    .refine((v) => new URL(v).pathname === '/' && !new URL(v).search, { error: 'must have no path or query' })
    .transform((v) => v.replace(/\/+$/, ''))
    .optional(),
);

const schema = z.object({
  AzureWebJobsStorage: optionalString,
  AzureWebJobsStorage__accountName: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[a-z0-9]{3,24}$/, { error: 'must be a storage account name (3-24 lowercase letters and digits)' })
      .optional(),
  ),
  AzureWebJobsStorage__blobServiceUri: httpsUrl,
  AzureWebJobsStorage__queueServiceUri: httpsUrl,
  AzureWebJobsStorage__tableServiceUri: httpsUrl,
  AzureWebJobsStorage__clientId: optionalString,
  KEY_VAULT_URL: httpsUrl,
  AZURE_CLIENT_ID: optionalString,
  TOKEN_WRAPPING_KEY: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[0-9a-zA-Z-]{1,127}$/, { error: 'must be the name of a Key Vault key (letters, digits and dashes)' })
      .optional(),
  ),
  WEBSITE_INSTANCE_ID: optionalString,
  SECRETS_LOCAL_FILE: z.preprocess(blankToUndefined, z.string().optional().default('.secrets.local.json')),
  SCAN_MAX_REQUEST_BYTES: wholeNumber(1024, 64 * 1024 * MiB, 100 * MiB),
  SCAN_MAX_FILE_BYTES: wholeNumber(1, 64 * 1024 * MiB, 100 * MiB),
  SCAN_MAX_FILES: wholeNumber(1, 1000, 20),
  SCAN_MAX_FIELDS: wholeNumber(1, 1000, 200),
  SCAN_MAX_FIELD_BYTES: wholeNumber(1, 32 * 1024, 16 * 1024),
  INGEST_LEASE_SECONDS: wholeNumber(3, 300, 30),
  INGEST_SWEEP_SCHEDULE: ncrontab('0 */5 * * * *'),
  OAUTH_AUTHORITY_HOST: z.preprocess(
    blankToUndefined,
    z
      .url({ protocol: /^https$/, error: 'must be an https:// URL, e.g. https://login.microsoftonline.com' })
      .transform((v) => v.replace(/\/+$/, ''))
      .optional()
      .default('https://login.microsoftonline.com'),
  ),
  OAUTH_TENANT: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,100}$/, { error: 'must be a tenant ID, a domain, or organizations' })
      .optional()
      .default('organizations'),
  ),
  OAUTH_CLIENT_ID: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[0-9a-fA-F-]{36}$/, { error: 'must be an application (client) ID, a GUID' })
      .optional(),
  ),
  OAUTH_CLIENT_CREDENTIAL: z.preprocess(
    (v) => (typeof v === 'string' ? blankToUndefined(v.trim()) : v),
    z
      .enum(['clientSecret', 'managedIdentity'], {
        error:
          "must be 'managedIdentity' (the managed identity AZURE_CLIENT_ID through the app registration's federated credential, no secret) or 'clientSecret' (the secret oauth-client-secret)",
      })
      .optional()
      .default('clientSecret'),
  ),
  PUBLIC_BASE_URL: baseUrl,
  WEBSITE_HOSTNAME: optionalString,
  TOKEN_REFRESH_SCHEDULE: ncrontab('0 0 * * * *'),
  TOKEN_REFRESH_MAX_AGE_HOURS: wholeNumber(1, 24 * 80, 24),
  DESTINATIONS_FILE: optionalString,
  DESTINATIONS_PINNED: z.preprocess(
    (v) => (typeof v === 'string' ? blankToUndefined(v.trim().toLowerCase()) : v),
    z
      .enum(['true', 'false'], { error: "must be 'true' (the deployed file is in force) or 'false' (destinations are managed in storage)" })
      .optional()
      .default('false'),
  ),
  // At most 4 minutes: a message whose worker died comes back after 5 to 10 minutes (the
  // Functions host keeps it invisible 10 minutes, renewed halfway), when the lease must be over.
  DELIVERY_LEASE_SECONDS: wholeNumber(3, 240, 60),
  // The app's SharePoint budget in the tenant, by its licences: 1,250 up to 1,000; 2,500 up to
  // 5,000; 3,750 up to 15,000; 5,000 up to 50,000; 6,250 above (shared/delivery/pacing.ts).
  SHAREPOINT_RESOURCE_UNITS_PER_MINUTE: wholeNumber(100, 100_000, 1_250),
  RATE_LIMIT_WINDOW_SCALE: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^(0(\.\d+)?|1(\.0+)?)$/, { error: 'must be a number above 0 and at most 1 (1 in production)' })
      .transform(Number)
      .pipe(z.number().gt(0, { error: 'must be above 0' }))
      .optional()
      .default(1),
  ),
  GRAPH_BASE_URL: z.preprocess(
    blankToUndefined,
    z
      .url({ protocol: /^https?$/, error: 'must be the Microsoft Graph endpoint with its version, e.g. https://graph.microsoft.com/v1.0' })
      .refine((v) => new URL(v).protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(v).hostname), {
        error: 'must be an https:// URL (http:// only for a loopback test server)',
      })
      .transform((v) => v.replace(/\/+$/, ''))
      .optional()
      .default('https://graph.microsoft.com/v1.0'),
  ),
  DIRECTORY_SOURCE: z.preprocess(
    (v) => (typeof v === 'string' ? blankToUndefined(v.trim().toLowerCase()) : v),
    z.enum(['scim', 'sync'], { error: "must be 'scim' (Entra ID provisions users) or 'sync' (directory sync)" }).optional().default('scim'),
  ),
  DIRECTORY_SYNC_SCHEDULE: ncrontab('0 */15 * * * *'),
  MAILBOX_READ_SCHEDULE: ncrontab('0 */5 * * * *'),
  MAILBOX_SUBSCRIPTION_SCHEDULE: ncrontab('0 20 * * * *'),
  NOTIFICATION_WATCH_SCHEDULE: ncrontab('0 */15 * * * *'),
  DIRECTORY_SYNC_GROUP_ID: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$/, { error: "must be the group's object ID, a GUID" })
      .optional(),
  ),
  DIRECTORY_SYNC_GROUP_PREFIX: z.preprocess(
    blankToUndefined,
    z
      .string()
      .max(120, { error: 'must be at most 120 characters' })
      .regex(/^[^'"\\\p{Cc}]+$/u, { error: 'must not contain quotes, backslashes or control characters' })
      .optional(),
  ),
  CONSOLE_SIGN_IN: z.preprocess(
    (v) => (typeof v === 'string' ? blankToUndefined(v.trim().toLowerCase()) : v),
    z.enum(['entra', 'development'], { error: "must be 'entra' or 'development'" }).optional(),
  ),
  CONSOLE_TENANT: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$/, {
        error: 'must be your tenant ID, a GUID (Entra admin center → Overview → Tenant ID)',
      })
      .optional(),
  ),
  CONSOLE_SESSION_IDLE_MINUTES: wholeNumber(5, 480, 30),
  CONSOLE_SESSION_MAX_HOURS: wholeNumber(1, 24, 12),
  SCAN_SHARED_SECRET_FIELD: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^custom_[A-Za-z0-9_.-]{1,64}$/, {
        error: 'must name an extension property as it arrives, e.g. custom_SharedSecret',
      })
      .optional(),
  ),
});

/**
 * Each setting's default, as the schema gives it to a setting that is not set (undefined: none,
 * or one derived from other settings). The README's table and the example settings must agree.
 */
export function settingDefaults(): Readonly<Record<string, unknown>> {
  return schema.parse({});
}

/** Validates an environment into a Config. Pure: tests call it with their own maps. */
export function loadConfig(env: Env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const setting = String(issue.path[0] ?? 'configuration');
    const value = env[setting];
    // Only the SCAN_MAX_* numbers are echoed: the others (URIs, connection strings) may carry credentials.
    const shown = value === undefined || !setting.startsWith('SCAN_MAX_') ? '' : ` (got '${value.slice(0, 100)}')`;
    throw new ConfigError(setting, `${issue.message}${shown}.`);
  }
  const s = parsed.data;
  const limits: ScanLimits = {
    maxRequestBytes: s.SCAN_MAX_REQUEST_BYTES,
    maxFileBytes: s.SCAN_MAX_FILE_BYTES,
    maxFiles: s.SCAN_MAX_FILES,
    maxFields: s.SCAN_MAX_FIELDS,
    maxFieldBytes: s.SCAN_MAX_FIELD_BYTES,
  };
  if (limits.maxFileBytes > limits.maxRequestBytes) {
    throw new ConfigError('SCAN_MAX_FILE_BYTES', 'must not be larger than SCAN_MAX_REQUEST_BYTES.');
  }
  return Object.freeze({
    console: consoleConfig(s),
    storage: storageConfig(s),
    secrets: secretsConfig(s),
    scan: {
      limits,
      sharedSecretField: s.SCAN_SHARED_SECRET_FIELD,
      leaseMs: s.INGEST_LEASE_SECONDS * 1000,
      sweepSchedule: s.INGEST_SWEEP_SCHEDULE,
    },
    oauth: oauthConfig(s, env),
    mailbox: { readSchedule: s.MAILBOX_READ_SCHEDULE, subscriptionSchedule: s.MAILBOX_SUBSCRIPTION_SCHEDULE },
    notifications: { watchSchedule: s.NOTIFICATION_WATCH_SCHEDULE },
    delivery: {
      destinationsFile: s.DESTINATIONS_FILE,
      destinationsPinned: s.DESTINATIONS_PINNED === 'true',
      graphBaseUrl: s.GRAPH_BASE_URL,
      leaseMs: s.DELIVERY_LEASE_SECONDS * 1000,
      pacing: { sharePointUnitsPerMinute: s.SHAREPOINT_RESOURCE_UNITS_PER_MINUTE, windowScale: s.RATE_LIMIT_WINDOW_SCALE },
    },
    directory: directoryConfig(s),
  });
}

type Settings = z.infer<typeof schema>;

function storageConfig(s: Settings): StorageConfig {
  if (s.AzureWebJobsStorage) {
    const value = s.AzureWebJobsStorage.trim();
    if (/^UseDevelopmentStorage=true;?$/i.test(value)) {
      return { kind: 'connectionString', connectionString: AZURITE_CONNECTION_STRING };
    }
    if (!/(^|;)\s*(AccountName|BlobEndpoint)=/i.test(value)) {
      throw new ConfigError(
        'AzureWebJobsStorage',
        'is not a storage connection string (expected AccountName=... or UseDevelopmentStorage=true).',
      );
    }
    return { kind: 'connectionString', connectionString: value };
  }
  const account = s.AzureWebJobsStorage__accountName;
  const uri = (service: 'blob' | 'queue' | 'table', explicit: string | undefined) =>
    explicit ?? (account ? `https://${account}.${service}.core.windows.net` : undefined);
  const blob = uri('blob', s.AzureWebJobsStorage__blobServiceUri);
  const queue = uri('queue', s.AzureWebJobsStorage__queueServiceUri);
  const table = uri('table', s.AzureWebJobsStorage__tableServiceUri);
  if (!blob && !queue && !table) {
    throw new ConfigError(
      'AzureWebJobsStorage',
      'is not set: give a connection string (UseDevelopmentStorage=true for Azurite) or ' +
        'AzureWebJobsStorage__accountName for identity-based access.',
    );
  }
  const missing = [
    ['AzureWebJobsStorage__blobServiceUri', blob],
    ['AzureWebJobsStorage__queueServiceUri', queue],
    ['AzureWebJobsStorage__tableServiceUri', table],
  ].find(([, v]) => !v);
  if (missing) {
    throw new ConfigError(missing[0]!, 'is not set (or set AzureWebJobsStorage__accountName).');
  }
  return {
    kind: 'identity',
    blobServiceUri: blob!,
    queueServiceUri: queue!,
    tableServiceUri: table!,
    clientId: s.AzureWebJobsStorage__clientId ?? s.AZURE_CLIENT_ID,
  };
}

function oauthConfig(s: Settings, env: Env): OAuthConfig {
  const clientIdByType: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const m = /^OAUTH_CLIENT_ID_([A-Z0-9]+)$/.exec(name);
    if (!m || !value?.trim()) continue;
    if (!/^[0-9a-fA-F-]{36}$/.test(value.trim())) throw new ConfigError(name, 'must be an application (client) ID, a GUID.');
    clientIdByType[m[1]!] = value.trim();
  }
  return {
    authorityHost: s.OAUTH_AUTHORITY_HOST,
    tenant: s.OAUTH_TENANT,
    clientId: s.OAUTH_CLIENT_ID,
    clientIdByType,
    publicBaseUrl: s.PUBLIC_BASE_URL ?? (s.WEBSITE_HOSTNAME ? `https://${s.WEBSITE_HOSTNAME}` : undefined),
    refreshSchedule: s.TOKEN_REFRESH_SCHEDULE,
    refreshMaxAgeHours: s.TOKEN_REFRESH_MAX_AGE_HOURS,
    tokenWrappingKey: tokenWrappingKey(s),
    federatedIdentity: federatedIdentity(s),
  };
}

function federatedIdentity(s: Settings): OAuthConfig['federatedIdentity'] {
  if (s.OAUTH_CLIENT_CREDENTIAL !== 'managedIdentity') return undefined;
  if (!s.AZURE_CLIENT_ID) {
    throw new ConfigError(
      'OAUTH_CLIENT_CREDENTIAL',
      "is 'managedIdentity' but AZURE_CLIENT_ID is not set: set it to the client ID of the user-assigned managed identity named in the app registration's federated credential (or use clientSecret).",
    );
  }
  return { clientId: s.AZURE_CLIENT_ID };
}

function tokenWrappingKey(s: Settings): OAuthConfig['tokenWrappingKey'] {
  if (!s.TOKEN_WRAPPING_KEY) return undefined;
  if (!s.KEY_VAULT_URL) {
    throw new ConfigError('TOKEN_WRAPPING_KEY', 'needs KEY_VAULT_URL: the key is a key of that Key Vault.');
  }
  return { vaultUrl: s.KEY_VAULT_URL, keyName: s.TOKEN_WRAPPING_KEY, clientId: s.AZURE_CLIENT_ID };
}

const GUID = /^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$/;

/**
 * The console signs in users of one tenant only: CONSOLE_TENANT, else OAUTH_TENANT when that is a
 * tenant ID. (With `organizations` any tenant could sign in, and a tenant that adds the app can
 * assign its own users the app's roles, so the ID token's tid is checked against this one.)
 */
function consoleConfig(s: Settings): ConsoleConfig {
  const tenantId = (s.CONSOLE_TENANT ?? (GUID.test(s.OAUTH_TENANT) ? s.OAUTH_TENANT : undefined))?.toLowerCase();
  const inAzure = !!s.WEBSITE_INSTANCE_ID;
  const entra = s.OAUTH_CLIENT_ID && tenantId ? ({ kind: 'entra', clientId: s.OAUTH_CLIENT_ID, tenantId } as const) : undefined;
  const missing = `set ${s.OAUTH_CLIENT_ID ? '' : 'OAUTH_CLIENT_ID and '}CONSOLE_TENANT (your tenant ID) for the sign-in with Microsoft Entra ID`;
  let signIn: ConsoleSignIn;
  if (s.CONSOLE_SIGN_IN === 'development') {
    if (inAzure)
      throw new ConfigError('CONSOLE_SIGN_IN', "cannot be 'development' in Azure: the development sign-in is for npm start only.");
    signIn = { kind: 'development' };
  } else if (s.CONSOLE_SIGN_IN === 'entra') {
    if (!entra)
      throw new ConfigError(
        s.OAUTH_CLIENT_ID ? 'CONSOLE_TENANT' : 'OAUTH_CLIENT_ID',
        `is needed when CONSOLE_SIGN_IN is 'entra': ${missing}.`,
      );
    signIn = entra;
  } else {
    signIn = entra ?? (inAzure ? { kind: 'none', reason: `Nobody can sign in to the console yet: ${missing}.` } : { kind: 'development' });
  }
  return {
    signIn,
    sessionIdleMs: s.CONSOLE_SESSION_IDLE_MINUTES * 60_000,
    sessionMaxMs: s.CONSOLE_SESSION_MAX_HOURS * 3_600_000,
  };
}

function directoryConfig(s: Settings): DirectoryConfig {
  if (s.DIRECTORY_SOURCE === 'sync' && !s.DIRECTORY_SYNC_GROUP_ID) {
    throw new ConfigError(
      'DIRECTORY_SYNC_GROUP_ID',
      "is required when DIRECTORY_SOURCE is 'sync': give the object ID of the Entra group whose members use ScanRelay.",
    );
  }
  return {
    source: s.DIRECTORY_SOURCE,
    sync: {
      schedule: s.DIRECTORY_SYNC_SCHEDULE,
      groupId: s.DIRECTORY_SYNC_GROUP_ID?.toLowerCase(),
      groupPrefix: s.DIRECTORY_SYNC_GROUP_PREFIX,
    },
  };
}

function secretsConfig(s: Settings): SecretsConfig {
  if (s.KEY_VAULT_URL) {
    return { kind: 'keyVault', vaultUrl: s.KEY_VAULT_URL, clientId: s.AZURE_CLIENT_ID };
  }
  if (s.WEBSITE_INSTANCE_ID) {
    throw new ConfigError('KEY_VAULT_URL', 'is required when running in Azure (the local secret store is for development only).');
  }
  return { kind: 'local', file: s.SECRETS_LOCAL_FILE };
}

let cached: Config | undefined;

/** The process's configuration, validated on first use and then reused. */
export function getConfig(): Config {
  cached ??= loadConfig(process.env);
  return cached;
}
