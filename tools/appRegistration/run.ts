/**
 * Creates or updates ScanRelay's app registration idempotently, through Microsoft Graph:
 *
 * 1. finds the application by display name (more than one with that name is an error);
 * 2. wants: a web redirect URI for every connection type (`redirectPath`) and the console's
 *    sign-in callback, every permission of the permissions manifest (delegated scopes per
 *    connection type, application permissions), their IDs resolved at run time from the
 *    resource's service principal (oauth2PermissionScopes, appRoles), never hard-coded, and the
 *    console's app roles (`CONSOLE_APP_ROLES`, fixed ids);
 * 3. creates the application, or PATCHes only what is missing (redirect URIs, permissions and app
 *    roles that someone added by hand are kept and reported; `appRoles` is replaced as a whole by
 *    PATCH, so every role there is sent back, and none is ever removed or has its value changed:
 *    Graph refuses both for an enabled role);
 * 4. creates its service principal when missing (so an administrator can consent);
 * 4b. with a managed identity (--managed-identity-object-id), adds the federated identity
 *    credential that lets the identity's tokens for api://AzureADTokenExchange stand in for a
 *    client secret (issuer `<authority host>/<tenant ID>/v2.0`, subject the identity's object ID),
 *    or fixes ScanRelay's one (by name) when it names another identity; others are kept;
 * 5. (without a managed identity, or with --client-secret) adds a client secret only when Key Vault holds none that belongs to a valid credential of
 *    this application (tags clientId/keyId; one expiring within 30 days counts as invalid), or with
 *    --rotate-secret; the secret goes straight into Key Vault with its expiry as `expiresOn`, and is
 *    never printed or written elsewhere;
 * 6. creates the admin-key secret (the admin API's key for scripts) when Key Vault has none, and
 *    with --token-keys the token-encryption-keys key ring (hosts without TOKEN_WRAPPING_KEY), never
 *    printing them;
 * 7. writes AppRegistrationInfo.json (tenant, client ID, service principal, secret name and expiry;
 *    no secret), and prints what is left to do: consent, the client ID setting, assigning the app
 *    roles, and the Exchange Online commands that grant the mail permissions for certain mailboxes
 *    (RBAC for Applications). The tenant-wide application permissions Mail.Send and Mail.ReadWrite
 *    are requested only with --mail-application-permissions: consented in Entra ID they cover every
 *    mailbox, and they would make that scoping pointless (the grants add up).
 *
 * With --dry-run it reads everything and prints the plan, and changes nothing.
 */
import { randomBytes } from 'node:crypto';
import type { SecretClient } from '@azure/keyvault-secrets';
import { ADMIN_KEY_SECRET, CONSOLE_PATH } from '../../shared/access';
import {
  APPLICATION_PERMISSIONS,
  applicationPermissions,
  CONSOLE_APP_ROLES,
  CONSOLE_REDIRECT_PATH,
  PERMISSIONS,
  redirectPath,
} from '../../shared/oauth';
import { mailboxScopingCommands, RBAC_FOR_APPLICATIONS_URL } from '../../shared/oauth/mailboxScoping';
import { GraphError, odataString, type GraphClient } from '../../shared/graph';
import type { AppRegistrationOptions } from './options';

export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
export const EXCHANGE_ONLINE_APP_ID = '00000002-0000-0ff1-ce00-000000000000';
export const TOKEN_KEYS_SECRET = 'token-encryption-keys';
/** The name of ScanRelay's federated identity credential on the app registration. */
export const FEDERATED_CREDENTIAL_NAME = 'scanrelay-managed-identity';
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
/** A stored secret that expires sooner than this is replaced. */
const RENEW_WITHIN_MS = 30 * 86400_000;

const RESOURCES: Record<string, { appId: string; name: string }> = {
  'https://graph.microsoft.com': { appId: GRAPH_APP_ID, name: 'Microsoft Graph' },
  'https://outlook.office.com': { appId: EXCHANGE_ONLINE_APP_ID, name: 'Office 365 Exchange Online' },
};

export interface WantedPermission {
  resourceAppId: string;
  resourceName: string;
  value: string;
  type: 'Scope' | 'Role';
}

interface ResourceAccess {
  resourceAppId: string;
  resourceAccess: Array<{ id: string; type: string }>;
}

/** An app role as Graph reads it (resources/approle); `origin` is read-only and never sent back. */
interface AppRoleEntry {
  id: string;
  value: string;
  displayName?: string | null;
  description?: string | null;
  allowedMemberTypes?: string[];
  isEnabled?: boolean;
  origin?: string;
}

interface PasswordCredential {
  keyId: string;
  displayName: string | null;
  endDateTime: string;
}

interface Application {
  id: string;
  appId: string;
  displayName: string;
  signInAudience: string;
  web?: Record<string, unknown> & { redirectUris?: string[] };
  requiredResourceAccess?: ResourceAccess[];
  appRoles?: AppRoleEntry[];
  passwordCredentials?: PasswordCredential[];
}

interface FederatedIdentityCredential {
  id?: string;
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
  description?: string | null;
}

interface ServicePrincipal {
  id: string;
  appId: string;
  displayName: string;
  oauth2PermissionScopes?: Array<{ id: string; value: string; isEnabled?: boolean }>;
  appRoles?: Array<{ id: string; value: string; isEnabled?: boolean; allowedMemberTypes?: string[] }>;
}

export interface AppRegistrationInfo {
  tenantId: string;
  clientId: string;
  objectId: string;
  /** The object ID of the app's service principal (enterprise application): Exchange's New-ServicePrincipal needs it. */
  servicePrincipalId: string;
  appName: string;
  keyVaultUrl: string;
  /** The client secret's Key Vault name, credential and expiry; empty when no secret is made (a managed identity). */
  secretName: string;
  secretKeyId: string;
  secretExpiresOn: string;
  /** The federated identity credential of the managed identity, when there is one. */
  federatedCredential?: { name: string; issuer: string; subject: string; audiences: string[] };
  redirectUris: string[];
  adminConsentUrl: string;
}

export interface RunDeps {
  graph: GraphClient;
  secrets: SecretClient;
  /** One line of output (never a secret). */
  out: (line: string) => void;
  writeFile: (path: string, text: string) => void;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export interface RunResult {
  /** Whether anything was (or, in a dry run, would be) changed. */
  changes: number;
  info?: AppRegistrationInfo;
}

export function wantedRedirectUris(options: Pick<AppRegistrationOptions, 'baseUrl' | 'connectionTypes'>): string[] {
  return [
    ...options.connectionTypes.map((type) => `${options.baseUrl}${redirectPath(type)}`),
    `${options.baseUrl}${CONSOLE_REDIRECT_PATH}`,
  ];
}

/** The console's app roles as Graph takes them (resources/approle). */
function newAppRole(role: (typeof CONSOLE_APP_ROLES)[number]): AppRoleEntry {
  return {
    id: role.id,
    value: role.value,
    displayName: role.displayName,
    description: role.description,
    allowedMemberTypes: [...role.allowedMemberTypes],
    isEnabled: true,
  };
}

/**
 * The application's appRoles with the console's roles added: `roles` is the collection to PATCH
 * (every role there, `origin` left out) when something changes. A role with the console's value is
 * the console's, whatever its id (one made by hand is kept and enabled if disabled); nothing is
 * removed, and no value is changed.
 */
export function mergeAppRoles(existing: AppRoleEntry[]): { roles?: AppRoleEntry[]; plan: string[]; notes: string[] } {
  const roles = existing.map(({ origin: _origin, ...role }) => ({ ...role }));
  const plan: string[] = [];
  const notes: string[] = [];
  for (const wanted of CONSOLE_APP_ROLES) {
    const same = roles.find((r) => r.value === wanted.value);
    if (same) {
      if (same.id.toLowerCase() !== wanted.id) notes.push(`= kept app role ${wanted.value} with its own id ${same.id}`);
      if (same.isEnabled === false) {
        same.isEnabled = true;
        plan.push(`+ enable app role ${wanted.value} (it was disabled)`);
      }
      if (!(same.allowedMemberTypes ?? []).includes('User')) {
        notes.push(
          `! app role ${wanted.value} cannot be assigned to users (allowedMemberTypes ${JSON.stringify(same.allowedMemberTypes ?? [])}): ` +
            "in the portal, disable it, then allow 'Users/Groups'",
        );
      }
      continue;
    }
    const taken = roles.find((r) => r.id.toLowerCase() === wanted.id);
    if (taken) {
      notes.push(
        `! app role id ${wanted.id} (ScanRelay's ${wanted.value}) has the value '${taken.value}': left as it is, so nobody can hold ` +
          `${wanted.value}; in the portal, disable that role and set its value back to ${wanted.value}`,
      );
      continue;
    }
    roles.push(newAppRole(wanted));
    plan.push(`+ app role ${wanted.value} (${wanted.description})`);
  }
  const ours = new Set<string>(CONSOLE_APP_ROLES.map((r) => r.value));
  for (const other of roles.filter((r) => !ours.has(r.value))) notes.push(`= kept app role ${other.value} (not ScanRelay's)`);
  return { roles: plan.length ? roles : undefined, plan, notes };
}

/** The manifest's permissions for the chosen connection types, by resource. */
export function wantedPermissions(
  options: Pick<AppRegistrationOptions, 'connectionTypes' | 'applicationPermissions' | 'mailApplicationPermissions'>,
): WantedPermission[] {
  const wanted = new Map<string, WantedPermission>();
  const add = (p: WantedPermission) => wanted.set(`${p.resourceAppId} ${p.type} ${p.value}`, p);
  for (const type of options.connectionTypes) {
    for (const { scope } of PERMISSIONS[type].scopes) {
      const slash = scope.lastIndexOf('/');
      if (slash < 0) {
        // OpenID Connect scopes (openid, profile, offline_access) are Microsoft Graph delegated permissions.
        add({ resourceAppId: GRAPH_APP_ID, resourceName: 'Microsoft Graph', value: scope, type: 'Scope' });
        continue;
      }
      const resource = RESOURCES[scope.slice(0, slash)];
      if (!resource) throw new Error(`The permissions manifest names scope ${scope} of an unknown resource.`);
      add({ resourceAppId: resource.appId, resourceName: resource.name, value: scope.slice(slash + 1), type: 'Scope' });
    }
  }
  // The opt-in ones (tenant-wide mail) only when asked for, also without the default ones.
  const roles = applicationPermissions({ mail: options.mailApplicationPermissions }).filter((p) =>
    p.optIn ? options.mailApplicationPermissions : options.applicationPermissions,
  );
  for (const { permission } of roles) {
    add({ resourceAppId: GRAPH_APP_ID, resourceName: 'Microsoft Graph', value: permission, type: 'Role' });
  }
  return [...wanted.values()];
}

const describe = (p: WantedPermission) => `${p.resourceName} ${p.value} (${p.type === 'Scope' ? 'delegated' : 'application'})`;

/**
 * Resolves each wanted permission to its ID on the resource's service principal; `optInRoles`: the
 * IDs of the opt-in application permissions (tenant-wide mail) those resources publish, by ID.
 */
async function resolvePermissions(
  graph: GraphClient,
  wanted: WantedPermission[],
): Promise<{ ids: Map<WantedPermission, string>; optInRoles: Map<string, string> }> {
  const ids = new Map<WantedPermission, string>();
  const optInRoles = new Map<string, string>();
  const optIn = new Set(APPLICATION_PERMISSIONS.filter((p) => p.optIn).map((p) => p.permission));
  const missing: string[] = [];
  for (const appId of [...new Set(wanted.map((w) => w.resourceAppId))]) {
    const { value } = await graph.json<{ value: ServicePrincipal[] }>(
      `/servicePrincipals?$filter=appId eq ${odataString(appId)}&$select=id,appId,displayName,oauth2PermissionScopes,appRoles`,
    );
    const sp = value[0];
    if (appId === GRAPH_APP_ID) for (const r of sp?.appRoles ?? []) if (optIn.has(r.value)) optInRoles.set(r.id, r.value);
    for (const w of wanted.filter((x) => x.resourceAppId === appId)) {
      const found =
        w.type === 'Scope'
          ? sp?.oauth2PermissionScopes?.find((s) => s.value === w.value && s.isEnabled !== false)
          : sp?.appRoles?.find(
              (r) => r.value === w.value && r.isEnabled !== false && (r.allowedMemberTypes ?? ['Application']).includes('Application'),
            );
      if (found) ids.set(w, found.id);
      else missing.push(sp ? describe(w) : `${describe(w)}: the tenant has no service principal for ${w.resourceName} (${appId})`);
    }
  }
  if (missing.length) throw new Error(`These permissions of the manifest are not published in this tenant:\n  ${missing.join('\n  ')}`);
  return { ids, optInRoles };
}

/** requiredResourceAccess with the wanted permissions added to what is there (nothing removed). */
function mergeAccess(
  existing: ResourceAccess[],
  ids: Map<WantedPermission, string>,
): { merged: ResourceAccess[]; added: WantedPermission[] } {
  const merged: ResourceAccess[] = existing.map((r) => ({
    resourceAppId: r.resourceAppId,
    resourceAccess: r.resourceAccess.map((a) => ({ id: a.id, type: a.type })),
  }));
  const added: WantedPermission[] = [];
  for (const [w, id] of ids) {
    let entry = merged.find((r) => r.resourceAppId === w.resourceAppId);
    if (!entry) {
      entry = { resourceAppId: w.resourceAppId, resourceAccess: [] };
      merged.push(entry);
    }
    if (!entry.resourceAccess.some((a) => a.id === id && a.type === w.type)) {
      entry.resourceAccess.push({ id, type: w.type });
      added.push(w);
    }
  }
  return { merged, added };
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

export async function runAppRegistration(options: AppRegistrationOptions, deps: RunDeps): Promise<RunResult> {
  const { graph, secrets, out } = deps;
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const plan: string[] = [];
  const notes: string[] = [];

  out(`App registration '${options.appName}' in tenant ${options.tenantId}${options.dryRun ? ' (dry run)' : ''}`);

  // 1. The application, by display name.
  const { value: found } = await graph.json<{ value: Application[] }>(
    `/applications?$filter=displayName eq ${odataString(options.appName)}`,
  );
  if (found.length > 1) {
    throw new Error(
      `${found.length} app registrations are named '${options.appName}' (client IDs ${found.map((a) => a.appId).join(', ')}): ` +
        'rename or delete the extra ones, or choose another appName.',
    );
  }
  let app = found[0];

  // 2. What the manifest wants.
  const uris = wantedRedirectUris(options);
  const wanted = wantedPermissions(options);
  const { ids, optInRoles } = await resolvePermissions(graph, wanted);
  /** Tenant-wide mail application permissions the app registration holds without being asked to (kept, never removed). */
  const heldMail: string[] = [];

  // 3. Application: create, or patch what is missing.
  let createBody: Record<string, unknown> | undefined;
  let patchBody: Record<string, unknown> | undefined;
  if (!app) {
    const roles = mergeAppRoles([]);
    createBody = {
      displayName: options.appName,
      signInAudience: options.signInAudience,
      web: { redirectUris: uris },
      requiredResourceAccess: mergeAccess([], ids).merged,
      appRoles: roles.roles,
    };
    plan.push(`+ create the app registration (sign-in audience ${options.signInAudience})`);
    for (const uri of uris) plan.push(`+ redirect URI ${uri}`);
    for (const w of wanted) plan.push(`+ permission ${describe(w)}`);
    plan.push(...roles.plan);
  } else {
    const existingUris = app.web?.redirectUris ?? [];
    const missingUris = uris.filter((u) => !existingUris.includes(u));
    for (const extra of existingUris.filter((u) => !uris.includes(u))) notes.push(`= kept redirect URI ${extra} (not one of ScanRelay's)`);
    const { merged, added } = mergeAccess(app.requiredResourceAccess ?? [], ids);
    const wantedIds = new Set(ids.values());
    for (const r of app.requiredResourceAccess ?? []) {
      for (const a of r.resourceAccess) {
        if (wantedIds.has(a.id)) continue;
        const mail = r.resourceAppId === GRAPH_APP_ID && a.type === 'Role' ? optInRoles.get(a.id) : undefined;
        if (mail) {
          heldMail.push(mail);
          notes.push(
            `! kept permission Microsoft Graph ${mail} (application), tenant-wide once consented: RBAC for Applications cannot ` +
              'scope it while it is granted (remove it to scope mail to certain mailboxes; --mail-application-permissions asks for it)',
          );
        } else notes.push(`= kept permission ${a.id} (${a.type}) of resource ${r.resourceAppId} (not in the manifest)`);
      }
    }
    if (app.signInAudience !== options.signInAudience) {
      notes.push(
        `! sign-in audience is ${app.signInAudience}, not ${options.signInAudience}: left as it is (change it in the portal if needed)`,
      );
    }
    const roles = mergeAppRoles(app.appRoles ?? []);
    notes.push(...roles.notes);
    if (missingUris.length || added.length || roles.roles) {
      patchBody = {};
      if (missingUris.length) {
        // `web` is replaced as a whole by PATCH: send what is there, with the URIs added.
        const { redirectUriSettings: _settings, ...web } = app.web ?? {};
        patchBody.web = { ...web, redirectUris: [...existingUris, ...missingUris] };
        for (const uri of missingUris) plan.push(`+ redirect URI ${uri}`);
      }
      if (added.length) {
        patchBody.requiredResourceAccess = merged;
        for (const w of added) plan.push(`+ permission ${describe(w)}`);
      }
      if (roles.roles) {
        patchBody.appRoles = roles.roles;
        plan.push(...roles.plan);
      }
    }
  }

  // 4. Service principal of the application.
  let needsServicePrincipal = true;
  let servicePrincipalId: string | undefined;
  const findServicePrincipal = async (appId: string) =>
    (await graph.json<{ value: ServicePrincipal[] }>(`/servicePrincipals?$filter=appId eq ${odataString(appId)}&$select=id,appId`)).value[0]
      ?.id;
  if (app) {
    servicePrincipalId = await findServicePrincipal(app.appId);
    needsServicePrincipal = servicePrincipalId === undefined;
  }
  if (needsServicePrincipal) plan.push('+ service principal (enterprise application), so that an administrator can consent');

  // 4b. The managed identity's federated credential.
  let federated: FederatedIdentityCredential | undefined;
  let federatedChange: { method: 'POST' | 'PATCH'; body: FederatedIdentityCredential } | undefined;
  if (options.managedIdentityObjectId) {
    federated = {
      name: FEDERATED_CREDENTIAL_NAME,
      issuer: `${options.authorityHost}/${options.tenantId.toLowerCase()}/v2.0`,
      subject: options.managedIdentityObjectId,
      audiences: [TOKEN_EXCHANGE_AUDIENCE],
      description: "ScanRelay's managed identity: its tokens stand in for a client secret (OAUTH_CLIENT_CREDENTIAL=managedIdentity).",
    };
    const existing = app
      ? (await graph.json<{ value: FederatedIdentityCredential[] }>(`/applications/${app.id}/federatedIdentityCredentials`)).value
      : [];
    const same = existing.find(
      (c) => c.issuer === federated!.issuer && c.subject === federated!.subject && c.audiences.includes(TOKEN_EXCHANGE_AUDIENCE),
    );
    const ours = existing.find((c) => c.name === FEDERATED_CREDENTIAL_NAME);
    const describeFic = (c: FederatedIdentityCredential) => `issuer ${c.issuer}, subject ${c.subject}, audience ${c.audiences.join(', ')}`;
    if (same) {
      notes.push(`= federated credential ${same.name} (${describeFic(same)})`);
    } else if (ours) {
      federatedChange = { method: 'PATCH', body: federated };
      plan.push(`~ federated credential ${FEDERATED_CREDENTIAL_NAME}: ${describeFic(ours)} → ${describeFic(federated)}`);
    } else {
      federatedChange = { method: 'POST', body: federated };
      plan.push(`+ federated credential ${FEDERATED_CREDENTIAL_NAME} for the managed identity (${describeFic(federated)})`);
    }
    for (const other of existing.filter((c) => c !== same && c !== ours)) {
      notes.push(`= kept federated credential ${other.name} (${describeFic(other)}; not ScanRelay's)`);
    }
    if (!options.clientSecret && app?.passwordCredentials?.length) {
      notes.push(
        `= kept ${app.passwordCredentials.length} client secret(s) of the app registration: none is needed with the managed identity; ` +
          'remove them (Certificates & secrets) once ScanRelay runs with OAUTH_CLIENT_CREDENTIAL=managedIdentity',
      );
    }
  }

  // 5. Client secret: is the stored one a valid credential of this application?
  let stored: { keyId?: string; clientId?: string } | undefined;
  if (options.clientSecret) {
    try {
      const secret = await secrets.getSecret(options.secretName);
      stored = { keyId: secret.properties.tags?.keyId, clientId: secret.properties.tags?.clientId };
    } catch (err) {
      if (statusOf(err) === 403) {
        throw new Error(
          `Key Vault ${options.keyVaultUrl} refused to read secret ${options.secretName} (403): you need the Key Vault Secrets Officer ` +
            'role on the vault (deploy with operatorPrincipalId = your object ID).',
          { cause: err },
        );
      }
      if (statusOf(err) !== 404) throw err;
    }
  }
  const credential = app?.passwordCredentials?.find((c) => c.keyId === stored?.keyId && stored?.clientId === app?.appId);
  const valid = credential && new Date(credential.endDateTime).getTime() - now().getTime() > RENEW_WITHIN_MS;
  let addSecretReason: string | undefined;
  if (!options.clientSecret) addSecretReason = undefined;
  else if (options.rotateSecret) addSecretReason = 'rotation asked for';
  else if (!app) addSecretReason = 'new app registration';
  else if (!stored) addSecretReason = `Key Vault has no secret ${options.secretName}`;
  else if (!credential) addSecretReason = `the secret in Key Vault is not a current credential of this app registration`;
  else if (!valid) addSecretReason = `the stored secret expires ${credential.endDateTime.slice(0, 10)}`;
  const secretDisplayName = `ScanRelay ${options.secretName}`;
  if (addSecretReason) {
    plan.push(
      `+ client secret '${secretDisplayName}' expiring ${options.secretExpiresOn.toISOString().slice(0, 10)}, ` +
        `stored in Key Vault ${options.keyVaultUrl} as ${options.secretName} (${addSecretReason})`,
    );
  }

  // 6. The token encryption key ring.
  let needsTokenKeys = false;
  if (options.createTokenKeys) {
    try {
      await secrets.getSecret(TOKEN_KEYS_SECRET);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      needsTokenKeys = true;
      plan.push(`+ Key Vault secret ${TOKEN_KEYS_SECRET} (a new key ring for the token cache)`);
    }
  }

  // 6b. The admin API's key for scripts (header x-functions-key).
  let needsAdminKey = false;
  if (options.createAdminKey) {
    try {
      await secrets.getSecret(ADMIN_KEY_SECRET);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      needsAdminKey = true;
      plan.push(`+ Key Vault secret ${ADMIN_KEY_SECRET} (a new key for the admin API's scripts)`);
    }
  }

  for (const line of plan) out(`  ${line}`);
  for (const line of notes) out(`  ${line}`);
  if (!plan.length) out('  = up to date');

  if (options.dryRun) {
    out(`  + write ${options.output}`);
    out('Dry run: nothing was changed.');
    return { changes: plan.length };
  }

  // Apply.
  if (createBody) {
    app = await graph.json<Application>('/applications', { method: 'POST', json: createBody });
    out(`Created app registration ${app.displayName}: client ID ${app.appId}`);
  } else if (patchBody) {
    await graph.send(`/applications/${app!.id}`, { method: 'PATCH', json: patchBody });
    out(`Updated app registration ${app!.displayName}`);
  }
  const application = app!;

  if (needsServicePrincipal) {
    // A new application may take a moment to replicate before its service principal can be made.
    for (let attempt = 1; ; attempt++) {
      try {
        servicePrincipalId = (
          await graph.json<ServicePrincipal>('/servicePrincipals', { method: 'POST', json: { appId: application.appId } })
        ).id;
        break;
      } catch (err) {
        if (err instanceof GraphError && err.status === 409) {
          servicePrincipalId = await findServicePrincipal(application.appId);
          break;
        }
        if (!(err instanceof GraphError) || err.status !== 400 || attempt >= 10) throw err;
        await sleep(3000);
      }
    }
  }

  if (federatedChange) {
    const { name, ...rest } = federatedChange.body;
    if (federatedChange.method === 'POST') {
      await graph.json(`/applications/${application.id}/federatedIdentityCredentials`, { method: 'POST', json: federatedChange.body });
      out(`Added the federated credential ${name}: the managed identity ${federatedChange.body.subject} needs no client secret`);
    } else {
      await graph.send(`/applications/${application.id}/federatedIdentityCredentials/${encodeURIComponent(name)}`, {
        method: 'PATCH',
        json: rest,
      });
      out(`Updated the federated credential ${name}: subject ${federatedChange.body.subject}`);
    }
  }

  let secretKeyId = credential?.keyId ?? '';
  let secretExpiresOn = credential?.endDateTime ?? '';
  if (addSecretReason) {
    const added = await graph.json<{ keyId: string; endDateTime: string; secretText: string }>(
      `/applications/${application.id}/addPassword`,
      {
        method: 'POST',
        json: { passwordCredential: { displayName: secretDisplayName, endDateTime: options.secretExpiresOn.toISOString() } },
      },
    );
    try {
      await secrets.setSecret(options.secretName, added.secretText, {
        expiresOn: new Date(added.endDateTime),
        contentType: 'text/plain',
        tags: { clientId: application.appId, keyId: added.keyId, tenantId: options.tenantId },
      });
    } catch (err) {
      // The secret exists nowhere else: remove the credential rather than leave one nobody can use.
      await graph
        .send(`/applications/${application.id}/removePassword`, { method: 'POST', json: { keyId: added.keyId } })
        .catch(() => undefined);
      throw new Error(`Storing the client secret in Key Vault failed, so the new credential was removed again: ${(err as Error).message}`, {
        cause: err,
      });
    }
    secretKeyId = added.keyId;
    secretExpiresOn = added.endDateTime;
    out(`Stored a new client secret in Key Vault as ${options.secretName} (expires ${added.endDateTime.slice(0, 10)})`);
  }

  if (needsTokenKeys) {
    const ring = { current: '1', keys: { '1': randomBytes(32).toString('base64') } };
    await secrets.setSecret(TOKEN_KEYS_SECRET, JSON.stringify(ring), { contentType: 'application/json' });
    out(`Stored a new key ring in Key Vault as ${TOKEN_KEYS_SECRET}`);
  }

  if (needsAdminKey) {
    await secrets.setSecret(ADMIN_KEY_SECRET, randomBytes(32).toString('base64url'), { contentType: 'text/plain' });
    out(`Stored a new admin key in Key Vault as ${ADMIN_KEY_SECRET}`);
  }

  const info: AppRegistrationInfo = {
    tenantId: options.tenantId,
    clientId: application.appId,
    objectId: application.id,
    servicePrincipalId: servicePrincipalId ?? '',
    appName: options.appName,
    keyVaultUrl: options.keyVaultUrl,
    secretName: options.clientSecret ? options.secretName : '',
    secretKeyId,
    secretExpiresOn,
    ...(federated
      ? {
          federatedCredential: {
            name: federated.name,
            issuer: federated.issuer,
            subject: federated.subject,
            audiences: federated.audiences,
          },
        }
      : {}),
    redirectUris: uris,
    adminConsentUrl: `${options.authorityHost}/${encodeURIComponent(options.tenantId)}/adminconsent?client_id=${application.appId}`,
  };
  deps.writeFile(options.output, JSON.stringify(info, null, 2) + '\n');
  out(`Wrote ${options.output}`);
  for (const line of nextSteps(options, info, heldMail.length > 0)) out(line);
  return { changes: plan.length, info };
}

/** What is left to do after a run: consent, the settings, the console's roles, the admin key, the mail permissions. */
export function nextSteps(
  options: AppRegistrationOptions,
  info: Pick<AppRegistrationInfo, 'adminConsentUrl' | 'clientId' | 'servicePrincipalId'>,
  /** The app registration holds the tenant-wide mail permissions (asked for or not). */
  tenantWideMail = options.mailApplicationPermissions,
): string[] {
  const tenantIsId = /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(options.tenantId);
  const vault = new URL(options.keyVaultUrl).hostname.split('.')[0];
  const [admin, reader] = CONSOLE_APP_ROLES;
  return [
    'Next:',
    `  1. An administrator grants consent: ${info.adminConsentUrl}`,
    `  2. Set the app setting OAUTH_CLIENT_ID=${info.clientId} (and OAUTH_TENANT=${options.tenantId}` +
      `${tenantIsId ? '' : ', and CONSOLE_TENANT=<your tenant ID, a GUID>'}); see docs/deployment.md.`,
    options.managedIdentityObjectId
      ? '     ScanRelay authenticates as the app with the managed identity (OAUTH_CLIENT_CREDENTIAL=managedIdentity, the Bicep default).'
      : `     ScanRelay authenticates as the app with the client secret ${options.secretName} (OAUTH_CLIENT_CREDENTIAL=clientSecret; in Azure, run with --managed-identity-object-id instead).`,
    `  3. Give administrators a role: Microsoft Entra admin center → Enterprise applications → ${options.appName} → Users and groups`,
    `     → Add user/group → choose the users (or groups) and the role: ${admin!.value} (${admin!.description.toLowerCase()})`,
    `     or ${reader!.value} (${reader!.description.toLowerCase()}). Someone without either gets a page naming the role to assign.`,
    `  4. The console is at ${options.baseUrl}${CONSOLE_PATH} (sign in with a work account of this tenant that holds a role).`,
    `  5. Scripts use the admin key (header x-functions-key): az keyvault secret show --vault-name ${vault} --name ${ADMIN_KEY_SECRET} --query value -o tsv`,
    ...mailSteps(options, info, tenantWideMail || options.mailApplicationPermissions),
  ];
}

/**
 * Step 6, mail as the scanning user (graphMail "auth": "application") and mailbox ingest: the
 * Exchange Online commands that grant Mail.Send / Mail.ReadWrite for certain mailboxes; with
 * --mail-application-permissions, the warning that the consented ones cover every mailbox.
 */
function mailSteps(
  options: AppRegistrationOptions,
  info: Pick<AppRegistrationInfo, 'clientId' | 'servicePrincipalId'>,
  tenantWideMail: boolean,
): string[] {
  const intro = tenantWideMail
    ? [
        '  6. ! The app registration requests Mail.Send and Mail.ReadWrite as application permissions: once consented (step 1)',
        '     the app may send as, and read and write, EVERY mailbox of the tenant. To allow certain mailboxes only, revoke them',
        '     (app registration → API permissions → Revoke admin consent, Remove permission), run this tool without',
        '     --mail-application-permissions, and grant them in Exchange Online with RBAC for Applications; while the Entra',
        '     grant exists, a scope there changes nothing:',
      ]
    : [
        '  6. Mail as the scanning user (graphMail "auth": "application") and mailbox ingest need Mail.Send and Mail.ReadWrite for',
        '     their mailboxes. Grant them for those mailboxes only, with RBAC for Applications in Exchange Online (not in Entra ID,',
        '     where they would cover every mailbox, and which --mail-application-permissions requests):',
      ];
  const commands = mailboxScopingCommands({
    clientId: info.clientId,
    servicePrincipalId: info.servicePrincipalId || undefined,
    displayName: options.appName,
  });
  return [...intro, ...commands.map((c) => `       ${c}`), `     See docs/permissions.md and ${RBAC_FOR_APPLICATIONS_URL}`];
}
