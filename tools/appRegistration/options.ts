/**
 * The inputs of `npm run app-registration`: a JSON config file (app-registration.example.json) with
 * the same inputs as the vendor's PowerShell package (tenant ID, app name, public host name) plus the
 * Key Vault that receives the client secret; command-line flags override the file.
 */
import { readFileSync } from 'node:fs';
import { CONNECTION_TYPES, type ConnectionType } from '../../shared/oauth';

export type AuthMode = 'browser' | 'device-code' | 'azure-cli' | 'token-env';

export interface AppRegistrationOptions {
  tenantId: string;
  appName: string;
  /** The app's public base URL, https://host (no path); the redirect URIs are built from it. */
  baseUrl: string;
  keyVaultUrl: string;
  /** Key Vault secret that receives the client secret. */
  secretName: string;
  /** When a new client secret expires. */
  secretExpiresOn: Date;
  signInAudience: 'AzureADMyOrg' | 'AzureADMultipleOrgs';
  connectionTypes: ConnectionType[];
  /** Also request the manifest's application permissions (User.Read.All, ...). */
  applicationPermissions: boolean;
  /**
   * Also request the opt-in mail application permissions (Mail.Send, Mail.ReadWrite), tenant-wide once
   * consented; without it the tool prints how to grant them for certain mailboxes with RBAC for
   * Applications in Exchange Online instead.
   */
  mailApplicationPermissions: boolean;
  /**
   * Create the token-encryption-keys key ring in Key Vault when it is missing. Off by default: the
   * Bicep deployment encrypts tokens with data keys wrapped by a Key Vault key (TOKEN_WRAPPING_KEY),
   * so no data key sits in a secret; the ring is for hosts without TOKEN_WRAPPING_KEY.
   */
  createTokenKeys: boolean;
  /** Create the admin-key secret (the admin API's key for scripts) in Key Vault when it is missing. */
  createAdminKey: boolean;
  /**
   * The object (principal) ID of the app's user-assigned managed identity (Bicep output
   * `managedIdentityPrincipalId`): the subject of the federated identity credential the tool adds,
   * so that ScanRelay in Azure needs no client secret (OAUTH_CLIENT_CREDENTIAL=managedIdentity).
   */
  managedIdentityObjectId?: string;
  /**
   * Make (and keep valid) a client secret in Key Vault. Without a managed identity always (it is
   * the app's only credential); with one only when asked (`--client-secret`, local development or
   * another host next to Azure).
   */
  clientSecret: boolean;
  rotateSecret: boolean;
  dryRun: boolean;
  graphBaseUrl: string;
  authorityHost: string;
  auth: AuthMode;
  /** Environment variable holding a bearer token used for every request (tests, automation). */
  accessTokenEnv?: string;
  /** Public client ID for interactive sign-in (default: the Azure Identity library's). */
  signInClientId?: string;
  /** Where AppRegistrationInfo.json is written. */
  output: string;
}

export class UsageError extends Error {}

export const USAGE = `Usage: npm run app-registration -- [--config app-registration.json] [options]

Creates or updates the Microsoft Entra app registration ScanRelay's connections and console use:
the web redirect URI of every connection type and of the console's sign-in, the permissions of the
permissions manifest, the app roles ScanRelay.Admin and ScanRelay.Reader, and its credential:
with --managed-identity-object-id a federated identity credential for the app's managed identity
(no client secret, unless --client-secret), else a client secret stored directly in Key Vault
(never printed); creates the secret admin-key in Key Vault when missing. Writes
AppRegistrationInfo.json (no secret).

Options (each overrides the config file):
  --config <file>            JSON with tenantId, appName, hostname, keyVaultUrl, ... (see app-registration.example.json)
  --tenant-id <id>           Microsoft Entra tenant ID (or domain)
  --app-name <name>          Display name of the app registration
  --hostname <url>           The app's public URL, e.g. https://func-scanrelay-xyz.azurewebsites.net
  --key-vault-url <url>      Key Vault that receives the client secret (deployment output keyVaultUrl)
  --secret-name <name>       Key Vault secret name (default oauth-client-secret)
  --secret-expiry <when>     Expiry of a new client secret: 6m, 12m, 24m, 90d, 1y or a date (default 12m)
  --managed-identity-object-id <id>
                             Object (principal) ID of the app's managed identity (deployment output
                             managedIdentityPrincipalId): adds the federated identity credential (issuer
                             <authority host>/<tenant ID>/v2.0, subject this ID, audience api://AzureADTokenExchange),
                             and no client secret is made (OAUTH_CLIENT_CREDENTIAL=managedIdentity, Bicep's default)
  --client-secret            Also make a client secret with a managed identity (local development, other hosts)
  --rotate-secret            Add a new client secret even if the stored one is still valid
  --dry-run                  Print what would change; change nothing
  --auth <mode>              browser (default), device-code, azure-cli
  --client-id <id>           Public client used to sign in (default: the Azure Identity library's)
  --output <file>            Where to write AppRegistrationInfo.json (default ./AppRegistrationInfo.json)
  --graph-base-url <url>     Microsoft Graph endpoint (default $GRAPH_BASE_URL or https://graph.microsoft.com/v1.0)
  --authority-host <url>     Identity platform host for the admin consent link (default https://login.microsoftonline.com)
  --access-token-env <NAME>  Use the bearer token in environment variable NAME for every request (tests, automation)
  --no-application-permissions  Leave out the application permissions (User.Read.All, Files.ReadWrite.All, GroupMember.Read.All)
  --mail-application-permissions  Also request the application permissions Mail.Send and Mail.ReadWrite (graphMail
                             "auth": "application", mailbox ingest). Consented, they cover EVERY mailbox of the
                             tenant; to allow certain mailboxes only, leave this out and scope them with RBAC for
                             Applications in Exchange Online (the tool prints the commands; docs/permissions.md)
  --token-keys               Also create the token-encryption-keys key ring when Key Vault has none: only for a
                             host without TOKEN_WRAPPING_KEY (the Bicep deployment wraps its keys with a Key Vault key)
  --no-token-keys            Do not create the key ring (the default)
  --no-admin-key             Do not create the admin-key secret (the admin API's key) when Key Vault has none
  --help`;

const CONFIG_KEYS = new Set([
  '$schema',
  'tenantId',
  'appName',
  'hostname',
  'keyVaultUrl',
  'secretName',
  'secretExpiry',
  'signInAudience',
  'connectionTypes',
  'applicationPermissions',
  'mailApplicationPermissions',
  'createTokenKeys',
  'createAdminKey',
  'managedIdentityObjectId',
  'clientSecret',
  'graphBaseUrl',
  'authorityHost',
  'output',
]);

const VALUE_FLAGS: Record<string, string> = {
  '--config': 'config',
  '--tenant-id': 'tenantId',
  '--app-name': 'appName',
  '--hostname': 'hostname',
  '--key-vault-url': 'keyVaultUrl',
  '--secret-name': 'secretName',
  '--secret-expiry': 'secretExpiry',
  '--auth': 'auth',
  '--client-id': 'signInClientId',
  '--output': 'output',
  '--graph-base-url': 'graphBaseUrl',
  '--authority-host': 'authorityHost',
  '--access-token-env': 'accessTokenEnv',
  '--managed-identity-object-id': 'managedIdentityObjectId',
};
const BOOLEAN_FLAGS: Record<string, [string, boolean]> = {
  '--rotate-secret': ['rotateSecret', true],
  '--client-secret': ['clientSecret', true],
  '--dry-run': ['dryRun', true],
  '--no-application-permissions': ['applicationPermissions', false],
  '--mail-application-permissions': ['mailApplicationPermissions', true],
  '--token-keys': ['createTokenKeys', true],
  '--no-token-keys': ['createTokenKeys', false],
  '--no-admin-key': ['createAdminKey', false],
};

/** `12m`, `90d`, `1y` from now, or an ISO date. */
export function parseExpiry(value: string, now = new Date()): Date {
  const m = /^(\d{1,3})([dmy])$/.exec(value.trim());
  let date: Date;
  if (m) {
    const n = Number(m[1]);
    date = new Date(now);
    if (m[2] === 'd') date.setUTCDate(date.getUTCDate() + n);
    if (m[2] === 'm') date.setUTCMonth(date.getUTCMonth() + n);
    if (m[2] === 'y') date.setUTCFullYear(date.getUTCFullYear() + n);
  } else {
    date = new Date(value);
    if (Number.isNaN(date.getTime())) {
      throw new UsageError(`--secret-expiry '${value}' is neither a duration (6m, 12m, 90d, 1y) nor a date (2027-06-30).`);
    }
  }
  if (date.getTime() < now.getTime() + 86400_000)
    throw new UsageError(`The secret expiry ${date.toISOString()} must be at least a day ahead.`);
  return date;
}

function baseUrlOf(hostname: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(hostname) ? hostname : `https://${hostname}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`hostname '${hostname}' is not a host name or URL.`);
  }
  const loopback = url.protocol === 'http:' && ['localhost', '127.0.0.1'].includes(url.hostname);
  if (url.protocol !== 'https:' && !loopback) throw new UsageError(`hostname must be https:// (got ${hostname}).`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new UsageError(`hostname must be the app's base URL without a path (got ${hostname}).`);
  }
  return url.origin;
}

function httpsUrl(name: string, value: string, allowLoopbackHttp = false): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${name} '${value}' is not a URL.`);
  }
  const loopback = ['localhost', '127.0.0.1'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(allowLoopbackHttp && loopback && url.protocol === 'http:')) {
    throw new UsageError(`${name} must be an https:// URL (got ${value}).`);
  }
  return value.replace(/\/+$/, '');
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv, now = new Date()): AppRegistrationOptions | 'help' {
  const flags: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name in VALUE_FLAGS) {
      const value = inline ?? argv[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value.`);
      flags[VALUE_FLAGS[name]!] = value;
    } else if (name in BOOLEAN_FLAGS && inline === undefined) {
      const [key, value] = BOOLEAN_FLAGS[name]!;
      flags[key] = value;
    } else {
      throw new UsageError(`Unknown argument '${arg}'.`);
    }
  }

  let file: Record<string, unknown> = {};
  if (typeof flags.config === 'string') {
    let text: string;
    try {
      text = readFileSync(flags.config, 'utf8');
    } catch (err) {
      throw new UsageError(`Cannot read the config file ${flags.config}: ${(err as Error).message}`);
    }
    try {
      file = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new UsageError(`${flags.config} is not valid JSON.`);
    }
    const unknown = Object.keys(file).filter((k) => !CONFIG_KEYS.has(k));
    if (unknown.length) throw new UsageError(`${flags.config}: unknown setting(s) ${unknown.join(', ')}.`);
  }
  const get = (key: string): unknown => (flags[key] !== undefined ? flags[key] : file[key]);
  const str = (key: string, required: boolean): string | undefined => {
    const value = get(key);
    if (value === undefined || value === '') {
      if (required)
        throw new UsageError(`${key} is required (in the config file or as --${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}).`);
      return undefined;
    }
    if (typeof value !== 'string') throw new UsageError(`${key} must be a string.`);
    return value.trim();
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const value = get(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw new UsageError(`${key} must be true or false.`);
    return value;
  };

  const tenantId = str('tenantId', true)!;
  if (!/^[A-Za-z0-9.-]{1,100}$/.test(tenantId) || /^(common|organizations|consumers)$/i.test(tenantId)) {
    throw new UsageError(`tenantId must be your tenant's ID or domain (got ${tenantId}).`);
  }
  const appName = str('appName', true)!;
  if (appName.length > 120) throw new UsageError('appName must be at most 120 characters.');

  const secretName = str('secretName', false) ?? 'oauth-client-secret';
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(secretName)) throw new UsageError(`secretName '${secretName}' must be kebab-case.`);

  const audience = str('signInAudience', false) ?? 'AzureADMyOrg';
  if (audience !== 'AzureADMyOrg' && audience !== 'AzureADMultipleOrgs') {
    throw new UsageError('signInAudience must be AzureADMyOrg or AzureADMultipleOrgs (connections use work or school accounts).');
  }

  const types = get('connectionTypes');
  let connectionTypes: ConnectionType[] = [...CONNECTION_TYPES];
  if (types !== undefined) {
    if (!Array.isArray(types) || types.some((t: unknown) => !(CONNECTION_TYPES as readonly unknown[]).includes(t))) {
      throw new UsageError(`connectionTypes must be a list of ${CONNECTION_TYPES.join(', ')}.`);
    }
    connectionTypes = types as ConnectionType[];
  }

  const auth = (str('auth', false) ?? (flags.accessTokenEnv ? 'token-env' : 'browser')) as AuthMode;
  if (!['browser', 'device-code', 'azure-cli', 'token-env'].includes(auth))
    throw new UsageError(`--auth must be browser, device-code or azure-cli.`);
  const accessTokenEnv = str('accessTokenEnv', false);
  if (auth === 'token-env' && !accessTokenEnv) throw new UsageError('--access-token-env is required with --auth token-env.');

  const managedIdentityObjectId = str('managedIdentityObjectId', false)?.toLowerCase();
  if (managedIdentityObjectId !== undefined) {
    if (!/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(managedIdentityObjectId)) {
      throw new UsageError(
        `managedIdentityObjectId must be the managed identity's object (principal) ID, a GUID (got ${managedIdentityObjectId}): the deployment output managedIdentityPrincipalId.`,
      );
    }
    if (!/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(tenantId)) {
      throw new UsageError(
        `tenantId must be the tenant ID (a GUID, not ${tenantId}) with a managed identity: the federated credential's issuer names it.`,
      );
    }
  }

  return {
    tenantId,
    appName,
    managedIdentityObjectId,
    clientSecret: managedIdentityObjectId === undefined || flags.rotateSecret === true || bool('clientSecret', false),
    baseUrl: baseUrlOf(str('hostname', true)!),
    keyVaultUrl: httpsUrl('keyVaultUrl', str('keyVaultUrl', true)!),
    secretName,
    secretExpiresOn: parseExpiry(str('secretExpiry', false) ?? '12m', now),
    signInAudience: audience,
    connectionTypes,
    applicationPermissions: bool('applicationPermissions', true),
    mailApplicationPermissions: bool('mailApplicationPermissions', false),
    createTokenKeys: bool('createTokenKeys', false),
    createAdminKey: bool('createAdminKey', true),
    rotateSecret: flags.rotateSecret === true,
    dryRun: flags.dryRun === true,
    graphBaseUrl: httpsUrl('graphBaseUrl', str('graphBaseUrl', false) ?? env.GRAPH_BASE_URL ?? 'https://graph.microsoft.com/v1.0', true),
    authorityHost: httpsUrl('authorityHost', str('authorityHost', false) ?? 'https://login.microsoftonline.com'),
    auth,
    accessTokenEnv,
    signInClientId: str('signInClientId', false),
    output: str('output', false) ?? 'AppRegistrationInfo.json',
  };
}
