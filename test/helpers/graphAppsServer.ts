/**
 * A local Microsoft Graph server for the app-registration tooling: applications and service
 * principals, plain node:http on 127.0.0.1, `baseUrl` = `http://127.0.0.1:<port>/v1.0`. In memory,
 * strict where the documentation is, so a client that passes here is likely to pass against Graph.
 *
 * Rules and where they come from (Microsoft Learn, Graph v1.0):
 *
 * Auth and errors (https://learn.microsoft.com/graph/errors)
 *   - every request needs `Authorization: Bearer <token>` with the server's token; missing → 401 with
 *     `WWW-Authenticate: Bearer` and `InvalidAuthenticationToken`; wrong → 401. Errors have the shape
 *     `{ error: { code, message, innerError: { date, request-id } } }`.
 *   - a body must be JSON with `Content-Type: application/json` (else 400 `BadRequest`).
 *
 * Applications (https://learn.microsoft.com/graph/api/application-list, application-post-applications,
 * application-update, application-addpassword, application-removepassword, resources/application)
 *   - `GET /applications?$filter=displayName eq '<name>'` (also `appId eq '<guid>'`; `''` escapes a
 *     quote) → 200 `{ value: [...] }`; other filters → 400. `$select` is honoured.
 *   - `GET /applications/{id}` → 200, or 404 `Request_ResourceNotFound`.
 *   - `POST /applications` → 201 with the new object (`id`, `appId` generated); `displayName` required.
 *   - `PATCH /applications/{id}` → 204 No Content. Only the properties sent change; a complex property
 *     (`web`) is replaced as a whole, so sub-properties left out are reset (the safe reading: a client
 *     must send the whole `web` it wants). `passwordCredentials` cannot be PATCHed: "use the
 *     addPassword and removePassword methods" → 400.
 *   - validation on POST and PATCH: unknown property → 400; `signInAudience` one of AzureADMyOrg,
 *     AzureADMultipleOrgs, AzureADandPersonalMicrosoftAccount, PersonalMicrosoftAccount; web redirect
 *     URIs absolute, `https://` or `http://localhost` (Entra redirect URI restrictions), at most 256,
 *     no duplicates; `requiredResourceAccess` entries must name a resource that has a service
 *     principal here and a permission it publishes (`Scope` = delegated oauth2PermissionScopes,
 *     `Role` = appRoles allowing Application members) → else 400.
 *   - `appRoles` (https://learn.microsoft.com/graph/api/resources/approle; application-update:
 *     "appRoles: the collection of roles defined for the application"): PATCH replaces the whole
 *     collection, so a role left out is a role removed (microsoftgraph/microsoft-graph-docs#5338:
 *     "You must include the previous roles in the PATCH, otherwise it assumes you're trying to
 *     delete them"). Each role: `id` a GUID ("when creating a new app role, a new GUID identifier
 *     must be provided"), unique in the collection; `value` at most 120 characters of
 *     ``! # $ % & ' ( ) * + , - . / : ; < = > ? @ [ ] ^ + _ ` { | } ~``, 0-9, A-Z and a-z, no
 *     space, not starting with `.`, unique in the collection; `allowedMemberTypes` a non-empty
 *     list of `User` / `Application`; `isEnabled` true by default; `origin` is read-only ("must not
 *     be included in any POST or PATCH requests") → 400; reads carry `origin: "Application"`. And
 *     the one that bites: "To delete a role, this must first be set to false. At that point, in a
 *     subsequent call, this role may be removed." So removing a role that is enabled (as stored,
 *     before this PATCH) → 400 `CannotDeleteOrUpdateEnabledEntitlement` "Permission (scope or role)
 *     cannot be deleted or updated unless disabled first." (the code and text Graph answers with:
 *     microsoftgraph/msgraph-sdk-powershell#1211, Microsoft365DSC/Microsoft365DSC#5524), and so is
 *     changing the `value` of an enabled role (Azure/azure-cli#16166: "Property value cannot be
 *     deleted or updated unless it is disabled first"); disabling it in the same PATCH does not
 *     count: it must already be disabled. displayName and description of an enabled role may
 *     change (the portal edits them in place), and a disabled role may be enabled again. Not
 *     modelled: changes of an enabled role's allowedMemberTypes, values clashing with
 *     `api.oauth2PermissionScopes` (`api` is not writable here), the service principal's copy of
 *     the roles, and role assignments.
 *   - `POST /applications/{id}/addPassword` `{ passwordCredential: { displayName, endDateTime } }` →
 *     200 passwordCredential with `secretText` (returned only here: later reads have `secretText:
 *     null` and a 3-character `hint`); an `endDateTime` in the past → 400.
 *   - `POST /applications/{id}/removePassword` `{ keyId }` → 204; unknown keyId → 400.
 *   - Federated identity credentials
 *     (https://learn.microsoft.com/graph/api/application-post-federatedidentitycredentials,
 *     application-list-federatedidentitycredentials, federatedidentitycredential-update):
 *     `GET /applications/{id}/federatedIdentityCredentials` → 200 `{ value }`; `POST` `{ name,
 *     issuer, subject, audiences, description? }` → 201 with its `id`: `name` 3-120 characters
 *     (letters, digits, `-`, `_`, starting with a letter or digit) and unique per application,
 *     `audiences` exactly one value, `issuer` an https URL, the (issuer, subject) pair unique, at
 *     most 20 per application; otherwise 400. `PATCH .../federatedIdentityCredentials/{id or
 *     name}` changes issuer, subject, audiences, description (not the name) → 204.
 *
 * Service principals (https://learn.microsoft.com/graph/api/serviceprincipal-list,
 * serviceprincipal-post-serviceprincipals)
 *   - `GET /servicePrincipals?$filter=appId eq '<guid>'` → 200 `{ value }` (with `$select`).
 *   - `POST /servicePrincipals` `{ appId }` → 201; an appId with no application → 400 (also, to
 *     mimic replication delay, for the first `spReplicationDelay` attempts after an application was
 *     created); a second one for the same appId → 409 `Request_MultipleObjectsWithSameKeyValue`.
 *   - Microsoft Graph (00000003-0000-0000-c000-000000000000) and Office 365 Exchange Online
 *     (00000002-0000-0ff1-ce00-000000000000) exist from the start with the permissions ScanRelay's
 *     manifest names (plus a few others), including Graph's application permissions (app roles)
 *     Mail.Send and Mail.ReadWrite; their IDs are generated per server, so a client that hard-codes
 *     permission IDs fails here. `graphRoleIds` gives app roles their real IDs instead (Graph's
 *     Mail.Send is b633e1c5-b582-4048-a93e-9f11b44c7e96, Mail.ReadWrite
 *     e2a3a72e-5f79-4c64-b1b1-878b674786c9: https://learn.microsoft.com/graph/permissions-reference).
 *
 * Every request is recorded (method, path, query, parsed body, status).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
export const EXCHANGE_ONLINE_APP_ID = '00000002-0000-0ff1-ce00-000000000000';

export interface PermissionScope {
  id: string;
  value: string;
  type: 'User' | 'Admin';
  isEnabled: boolean;
  adminConsentDisplayName: string;
}

export interface AppRole {
  id: string;
  value: string;
  allowedMemberTypes: string[];
  isEnabled: boolean;
  displayName: string;
}

export interface ServicePrincipal {
  id: string;
  appId: string;
  displayName: string;
  oauth2PermissionScopes: PermissionScope[];
  appRoles: AppRole[];
}

export interface PasswordCredential {
  keyId: string;
  displayName: string | null;
  startDateTime: string;
  endDateTime: string;
  hint: string;
  secretText: string | null;
  customKeyIdentifier: null;
}

export interface RequiredResourceAccess {
  resourceAppId: string;
  resourceAccess: Array<{ id: string; type: 'Scope' | 'Role' }>;
}

/** An app role defined on an application (as stored: reads add `origin: "Application"`). */
export interface ApplicationAppRole {
  id: string;
  value: string;
  displayName: string | null;
  description: string | null;
  allowedMemberTypes: Array<'User' | 'Application'>;
  isEnabled: boolean;
}

export interface Application {
  id: string;
  appId: string;
  displayName: string;
  signInAudience: string;
  appRoles: ApplicationAppRole[];
  createdDateTime: string;
  web: {
    redirectUris: string[];
    homePageUrl: string | null;
    logoutUrl: string | null;
    implicitGrantSettings: { enableAccessTokenIssuance: boolean; enableIdTokenIssuance: boolean };
  };
  requiredResourceAccess: RequiredResourceAccess[];
  passwordCredentials: PasswordCredential[];
  federatedIdentityCredentials: FederatedIdentityCredential[];
  tags: string[];
  notes: string | null;
}

export interface FederatedIdentityCredential {
  id: string;
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
  description: string | null;
}

export interface RecordedGraphRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: any;
  status: number;
}

export interface GraphAppsServerOptions {
  /** The one bearer token the server accepts. */
  token: string;
  /** Delegated permissions Graph publishes; defaults cover ScanRelay's manifest and a few more. */
  graphScopes?: string[];
  /** Application permissions (app roles) Graph publishes. */
  graphRoles?: string[];
  /** Fixed IDs of some of Graph's app roles, by value (the others get generated ones). */
  graphRoleIds?: Readonly<Record<string, string>>;
  /** Delegated permissions Exchange Online publishes. */
  exchangeScopes?: string[];
  /** How many POST /servicePrincipals for a new application fail with 400 before one succeeds. */
  spReplicationDelay?: number;
}

export interface GraphAppsTestServer {
  baseUrl: string;
  requests: RecordedGraphRequest[];
  applications: Map<string, Application>;
  servicePrincipals: Map<string, ServicePrincipal>;
  /** Every secretText addPassword handed out, for tests to check none leaks. */
  issuedSecrets: string[];
  /** The permission ID a resource publishes under a value (throws when absent). */
  permissionId(resourceAppId: string, value: string, type: 'Scope' | 'Role'): string;
  /** Requests that changed something (POST, PATCH, DELETE). */
  writes(): RecordedGraphRequest[];
  close(): Promise<void>;
}

const DEFAULT_GRAPH_SCOPES = [
  'openid',
  'profile',
  'email',
  'offline_access',
  'User.Read',
  'Mail.Send',
  'Mail.ReadWrite',
  'Files.ReadWrite',
  'Files.ReadWrite.All',
  'Sites.ReadWrite.All',
];
const DEFAULT_GRAPH_ROLES = [
  'User.Read.All',
  'Files.ReadWrite.All',
  'GroupMember.Read.All',
  'Mail.Send',
  'Mail.ReadWrite',
  'Sites.ReadWrite.All',
];
const DEFAULT_EXCHANGE_SCOPES = ['SMTP.Send', 'IMAP.AccessAsUser.All', 'EWS.AccessAsUser.All'];

const AUDIENCES = ['AzureADMyOrg', 'AzureADMultipleOrgs', 'AzureADandPersonalMicrosoftAccount', 'PersonalMicrosoftAccount'];
const WRITABLE = new Set(['displayName', 'signInAudience', 'web', 'requiredResourceAccess', 'appRoles', 'tags', 'notes']);
const APP_ROLE_KEYS = new Set(['id', 'value', 'displayName', 'description', 'allowedMemberTypes', 'isEnabled', 'origin']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** approle: "Allowed characters are : ! # $ % & ' ( ) * + , - . / : ; = < > ? @ [ ] ^ + _ ` { | } ~, and 0-9, A-Z and a-z". */
const APP_ROLE_VALUE = /^[!#$%&'()*+,\-./:;=<>?@[\]^_`{|}~0-9A-Za-z]{1,120}$/;
const ENABLED_ENTITLEMENT = 'Permission (scope or role) cannot be deleted or updated unless disabled first.';
const WEB_KEYS = new Set(['redirectUris', 'homePageUrl', 'logoutUrl', 'implicitGrantSettings', 'redirectUriSettings']);

class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const bad = (message: string, code = 'Request_BadRequest') => new GraphError(400, code, message);

export async function startGraphAppsServer(options: GraphAppsServerOptions): Promise<GraphAppsTestServer> {
  const requests: RecordedGraphRequest[] = [];
  const applications = new Map<string, Application>();
  const servicePrincipals = new Map<string, ServicePrincipal>();
  const issuedSecrets: string[] = [];
  const spAttempts = new Map<string, number>();

  const addResource = (
    appId: string,
    displayName: string,
    scopes: string[],
    roles: string[],
    roleIds: Readonly<Record<string, string>> = {},
  ) => {
    const sp: ServicePrincipal = {
      id: randomUUID(),
      appId,
      displayName,
      oauth2PermissionScopes: scopes.map((value) => ({
        id: randomUUID(),
        value,
        type: /\.All$/.test(value) ? 'Admin' : 'User',
        isEnabled: true,
        adminConsentDisplayName: value,
      })),
      appRoles: roles.map((value) => ({
        id: roleIds[value] ?? randomUUID(),
        value,
        allowedMemberTypes: ['Application'],
        isEnabled: true,
        displayName: value,
      })),
    };
    servicePrincipals.set(sp.id, sp);
  };
  addResource(
    GRAPH_APP_ID,
    'Microsoft Graph',
    options.graphScopes ?? DEFAULT_GRAPH_SCOPES,
    options.graphRoles ?? DEFAULT_GRAPH_ROLES,
    options.graphRoleIds,
  );
  addResource(EXCHANGE_ONLINE_APP_ID, 'Office 365 Exchange Online', options.exchangeScopes ?? DEFAULT_EXCHANGE_SCOPES, []);

  const spByAppId = (appId: string) => [...servicePrincipals.values()].find((sp) => sp.appId === appId);

  const permissionId = (resourceAppId: string, value: string, type: 'Scope' | 'Role'): string => {
    const sp = spByAppId(resourceAppId);
    const found =
      type === 'Scope' ? sp?.oauth2PermissionScopes.find((s) => s.value === value) : sp?.appRoles.find((r) => r.value === value);
    if (!found) throw new Error(`${resourceAppId} publishes no ${type} '${value}'`);
    return found.id;
  };

  const validateRedirectUris = (uris: unknown) => {
    if (!Array.isArray(uris) || uris.some((u) => typeof u !== 'string')) throw bad('web.redirectUris must be an array of strings.');
    if (uris.length > 256) throw bad('An application can have at most 256 redirect URIs.');
    if (new Set(uris).size !== uris.length) throw bad('web.redirectUris contains a duplicate.');
    for (const uri of uris as string[]) {
      let url: URL;
      try {
        url = new URL(uri);
      } catch {
        throw bad(`Invalid value specified for property 'redirectUris' of resource 'Application': ${uri} is not an absolute URI.`);
      }
      const loopback = url.protocol === 'http:' && ['localhost', '127.0.0.1'].includes(url.hostname);
      if (url.protocol !== 'https:' && !loopback) throw bad(`Redirect URI ${uri} must use https (or http://localhost).`);
      if (url.hash) throw bad(`Redirect URI ${uri} must not contain a fragment.`);
    }
  };

  const validateRequiredResourceAccess = (rra: unknown) => {
    if (!Array.isArray(rra)) throw bad('requiredResourceAccess must be an array.');
    for (const entry of rra as RequiredResourceAccess[]) {
      const sp = spByAppId(entry?.resourceAppId);
      if (!sp) throw bad(`requiredResourceAccess names resource ${entry?.resourceAppId}, which has no service principal.`);
      if (!Array.isArray(entry.resourceAccess)) throw bad('resourceAccess must be an array.');
      for (const access of entry.resourceAccess) {
        const ok =
          access.type === 'Scope'
            ? sp.oauth2PermissionScopes.some((s) => s.id === access.id)
            : access.type === 'Role'
              ? sp.appRoles.some((r) => r.id === access.id && r.allowedMemberTypes.includes('Application'))
              : false;
        if (!ok) throw bad(`Permission ${access.id} (${access.type}) is not published by ${sp.displayName}.`);
      }
    }
  };

  /** The appRoles of a POST or PATCH, checked and normalised; `stored` is the application's collection before a PATCH. */
  const validateAppRoles = (roles: unknown, stored: ApplicationAppRole[]): ApplicationAppRole[] => {
    if (!Array.isArray(roles)) throw bad('appRoles must be an array.');
    const parsed = roles.map((role: any, i): ApplicationAppRole => {
      const at = `appRoles[${i}]`;
      if (!role || typeof role !== 'object' || Array.isArray(role)) throw bad(`${at} must be an object.`);
      for (const key of Object.keys(role))
        if (!APP_ROLE_KEYS.has(key)) throw bad(`Property '${key}' does not exist on type 'microsoft.graph.appRole'.`);
      if ('origin' in role) throw bad(`${at}.origin is read-only: it must not be included in POST or PATCH requests.`);
      if (typeof role.id !== 'string' || !GUID.test(role.id)) throw bad(`${at}.id must be a GUID (got ${JSON.stringify(role.id)}).`);
      if (typeof role.value !== 'string' || !APP_ROLE_VALUE.test(role.value) || role.value.startsWith('.')) {
        throw bad(
          `${at}.value ${JSON.stringify(role.value)} is not valid: at most 120 characters, no spaces, not starting with '.', only letters, digits and ! # $ % & ' ( ) * + , - . / : ; = < > ? @ [ ] ^ _ \` { | } ~.`,
        );
      }
      const types = role.allowedMemberTypes;
      if (!Array.isArray(types) || types.length === 0 || types.some((t: unknown) => t !== 'User' && t !== 'Application')) {
        throw bad(`${at}.allowedMemberTypes must be a non-empty list of 'User' and 'Application'.`);
      }
      for (const key of ['displayName', 'description'] as const) {
        if (role[key] !== undefined && role[key] !== null && typeof role[key] !== 'string') throw bad(`${at}.${key} must be a string.`);
      }
      if (role.isEnabled !== undefined && typeof role.isEnabled !== 'boolean') throw bad(`${at}.isEnabled must be true or false.`);
      return {
        id: role.id.toLowerCase(),
        value: role.value,
        displayName: role.displayName ?? null,
        description: role.description ?? null,
        allowedMemberTypes: [...types],
        isEnabled: role.isEnabled ?? true,
      };
    });
    const ids = new Set<string>();
    const values = new Set<string>();
    for (const role of parsed) {
      if (ids.has(role.id)) throw bad(`appRoles has the id ${role.id} twice.`);
      if (values.has(role.value)) throw bad(`appRoles has the value '${role.value}' twice: values must be unique.`);
      ids.add(role.id);
      values.add(role.value);
    }
    for (const before of stored.filter((r) => r.isEnabled)) {
      const after = parsed.find((r) => r.id === before.id);
      if (!after || after.value !== before.value) throw new GraphError(400, 'CannotDeleteOrUpdateEnabledEntitlement', ENABLED_ENTITLEMENT);
    }
    return parsed;
  };

  const validateAppBody = (body: any, creating: boolean) => {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad('The request body must be a JSON object.');
    for (const key of Object.keys(body)) {
      if (key === 'passwordCredentials') {
        throw bad('passwordCredentials cannot be set here: use the addPassword and removePassword methods.');
      }
      if (!WRITABLE.has(key)) throw bad(`Property '${key}' is not writable or does not exist on type 'microsoft.graph.application'.`);
    }
    if (creating && (typeof body.displayName !== 'string' || !body.displayName.trim())) {
      throw bad("Property 'displayName' is required.");
    }
    if ('signInAudience' in body && !AUDIENCES.includes(body.signInAudience)) throw bad(`Invalid signInAudience '${body.signInAudience}'.`);
    if ('web' in body) {
      if (!body.web || typeof body.web !== 'object') throw bad('web must be an object.');
      for (const key of Object.keys(body.web)) if (!WEB_KEYS.has(key)) throw bad(`Property 'web.${key}' does not exist.`);
      if ('redirectUris' in body.web) validateRedirectUris(body.web.redirectUris);
    }
    if ('requiredResourceAccess' in body) validateRequiredResourceAccess(body.requiredResourceAccess);
  };

  const defaultWeb = (): Application['web'] => ({
    redirectUris: [],
    homePageUrl: null,
    logoutUrl: null,
    implicitGrantSettings: { enableAccessTokenIssuance: false, enableIdTokenIssuance: false },
  });

  const view = (app: Application) => {
    const copy: any = structuredClone(app);
    copy.appRoles = app.appRoles.map((r) => ({ ...r, origin: 'Application' }));
    // A navigation property: read through /federatedIdentityCredentials only.
    delete copy.federatedIdentityCredentials;
    return copy;
  };

  const select = (obj: any, query: Record<string, string>) => {
    if (!query.$select) return obj;
    const keys = query.$select.split(',').map((k) => k.trim());
    return Object.fromEntries(Object.entries(obj).filter(([k]) => keys.includes(k) || k === 'id'));
  };

  /** `displayName eq 'x'` / `appId eq 'x'`, with '' as an escaped quote. */
  const parseFilter = (filter: string | undefined, allowed: string[]): [string, string] | undefined => {
    if (filter === undefined) return undefined;
    const m = /^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$/.exec(filter);
    if (!m || !allowed.includes(m[1]!)) throw bad(`Unsupported filter: ${filter}`, 'BadRequest');
    return [m[1]!, m[2]!.replace(/''/g, "'")];
  };

  const route = async (method: string, path: string, query: Record<string, string>, body: any): Promise<[number, unknown?]> => {
    let m: RegExpExecArray | null;
    if (path === '/v1.0/applications') {
      if (method === 'GET') {
        const filter = parseFilter(query.$filter, ['displayName', 'appId']);
        const list = [...applications.values()].filter((a) => !filter || (a as any)[filter[0]] === filter[1]);
        return [
          200,
          { '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#applications', value: list.map((a) => select(view(a), query)) },
        ];
      }
      if (method === 'POST') {
        validateAppBody(body, true);
        const appRoles = 'appRoles' in body ? validateAppRoles(body.appRoles, []) : [];
        const app: Application = {
          id: randomUUID(),
          appId: randomUUID(),
          displayName: body.displayName,
          signInAudience: body.signInAudience ?? 'AzureADandPersonalMicrosoftAccount',
          createdDateTime: new Date().toISOString(),
          web: { ...defaultWeb(), ...(body.web ?? {}) },
          requiredResourceAccess: body.requiredResourceAccess ?? [],
          passwordCredentials: [],
          federatedIdentityCredentials: [],
          appRoles,
          tags: body.tags ?? [],
          notes: body.notes ?? null,
        };
        applications.set(app.id, app);
        spAttempts.set(app.appId, 0);
        return [201, view(app)];
      }
    }
    if ((m = /^\/v1\.0\/applications\/([^/]+)$/.exec(path))) {
      const app = applications.get(decodeURIComponent(m[1]!));
      if (!app)
        throw new GraphError(
          404,
          'Request_ResourceNotFound',
          `Resource '${m[1]}' does not exist or one of its queried reference-property objects are not present.`,
        );
      if (method === 'GET') return [200, select(view(app), query)];
      if (method === 'PATCH') {
        validateAppBody(body, false);
        // All checks first: a refused PATCH changes nothing.
        const appRoles = 'appRoles' in body ? validateAppRoles(body.appRoles, app.appRoles) : app.appRoles;
        for (const [key, value] of Object.entries(body)) {
          (app as any)[key] = key === 'web' ? { ...defaultWeb(), ...(value as object) } : structuredClone(value);
        }
        app.appRoles = appRoles;
        return [204];
      }
    }
    if ((m = /^\/v1\.0\/applications\/([^/]+)\/(addPassword|removePassword)$/.exec(path)) && method === 'POST') {
      const app = applications.get(decodeURIComponent(m[1]!));
      if (!app) throw new GraphError(404, 'Request_ResourceNotFound', `Resource '${m[1]}' does not exist.`);
      if (m[2] === 'addPassword') {
        const requested = body?.passwordCredential ?? {};
        const end = requested.endDateTime ? new Date(requested.endDateTime) : new Date(Date.now() + 2 * 365 * 86400_000);
        if (Number.isNaN(end.getTime())) throw bad('endDateTime is not a date.');
        if (end.getTime() <= Date.now()) throw bad('endDateTime must be in the future.');
        const secretText = randomBytes(30).toString('base64').replace(/[+/=]/g, 'x');
        issuedSecrets.push(secretText);
        const credential: PasswordCredential = {
          keyId: randomUUID(),
          displayName: requested.displayName ?? null,
          startDateTime: new Date().toISOString(),
          endDateTime: end.toISOString(),
          hint: secretText.slice(0, 3),
          secretText: null,
          customKeyIdentifier: null,
        };
        app.passwordCredentials.push(credential);
        return [200, { ...credential, secretText }];
      }
      const index = app.passwordCredentials.findIndex((c) => c.keyId === body?.keyId);
      if (index < 0) throw bad(`No password credential with keyId ${body?.keyId}.`);
      app.passwordCredentials.splice(index, 1);
      return [204];
    }
    if ((m = /^\/v1\.0\/applications\/([^/]+)\/federatedIdentityCredentials(?:\/([^/]+))?$/.exec(path))) {
      const app = applications.get(decodeURIComponent(m[1]!));
      if (!app) throw new GraphError(404, 'Request_ResourceNotFound', `Resource '${m[1]}' does not exist.`);
      const list = (app.federatedIdentityCredentials ??= []);
      const check = (c: Omit<FederatedIdentityCredential, 'id'>, self?: FederatedIdentityCredential) => {
        if (!Array.isArray(c.audiences) || c.audiences.length !== 1 || typeof c.audiences[0] !== 'string') {
          throw bad('audiences must contain exactly one value.');
        }
        if (typeof c.issuer !== 'string' || !/^https:\/\/\S+$/.test(c.issuer)) throw bad(`issuer '${c.issuer}' must be an https URL.`);
        if (typeof c.subject !== 'string' || !c.subject || c.subject.length > 600)
          throw bad('subject is required (at most 600 characters).');
        if (list.some((o) => o !== self && o.issuer === c.issuer && o.subject === c.subject)) {
          throw bad(`A federated identity credential with issuer '${c.issuer}' and subject '${c.subject}' already exists.`);
        }
      };
      if (!m[2]) {
        if (method === 'GET') return [200, { value: list.map((c) => ({ ...c, audiences: [...c.audiences] })) }];
        if (method === 'POST') {
          const name = body?.name;
          if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/.test(name)) {
            throw bad(`name '${name}' must be 3 to 120 letters, digits, '-' or '_', starting with a letter or digit.`);
          }
          if (list.some((c) => c.name === name)) throw bad(`A federated identity credential named '${name}' already exists.`);
          if (list.length >= 20) throw bad('An application can have at most 20 federated identity credentials.');
          const credential: FederatedIdentityCredential = {
            id: randomUUID(),
            name,
            issuer: body.issuer,
            subject: body.subject,
            audiences: body.audiences,
            description: body.description ?? null,
          };
          check(credential);
          list.push(credential);
          return [201, credential];
        }
      } else {
        const key = decodeURIComponent(m[2]);
        const credential = list.find((c) => c.id === key || c.name === key);
        if (!credential) throw new GraphError(404, 'Request_ResourceNotFound', `Resource '${key}' does not exist.`);
        if (method === 'GET') return [200, credential];
        if (method === 'PATCH') {
          if (body && 'name' in body && body.name !== credential.name) throw bad('name cannot be changed.');
          const next = { ...credential, ...body };
          check(next, credential);
          Object.assign(credential, next);
          return [204];
        }
        if (method === 'DELETE') {
          list.splice(list.indexOf(credential), 1);
          return [204];
        }
      }
    }
    if (path === '/v1.0/servicePrincipals') {
      if (method === 'GET') {
        const filter = parseFilter(query.$filter, ['appId', 'displayName']);
        const list = [...servicePrincipals.values()].filter((sp) => !filter || (sp as any)[filter[0]] === filter[1]);
        return [200, { value: list.map((sp) => select(structuredClone(sp), query)) }];
      }
      if (method === 'POST') {
        const appId = body?.appId;
        const app = [...applications.values()].find((a) => a.appId === appId);
        const attempts = spAttempts.get(appId) ?? 0;
        spAttempts.set(appId, attempts + 1);
        if (!app || attempts < (options.spReplicationDelay ?? 0)) {
          throw bad(`The appId '${appId}' of the service principal does not reference a valid application object.`);
        }
        if (spByAppId(appId)) {
          throw new GraphError(
            409,
            'Request_MultipleObjectsWithSameKeyValue',
            'Another object with the same value for property servicePrincipalNames already exists.',
          );
        }
        const sp: ServicePrincipal = { id: randomUUID(), appId, displayName: app.displayName, oauth2PermissionScopes: [], appRoles: [] };
        servicePrincipals.set(sp.id, sp);
        return [201, structuredClone(sp)];
      }
    }
    throw new GraphError(400, 'BadRequest', `Resource not found for the segment '${path}' (${method}).`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const query = Object.fromEntries(url.searchParams);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const record: RecordedGraphRequest = { method, path: url.pathname, query, body: undefined, status: 0 };
    requests.push(record);
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      const text = json === undefined ? '' : JSON.stringify(json);
      res.writeHead(status, {
        ...(json === undefined ? {} : { 'content-type': 'application/json;odata.metadata=minimal;charset=utf-8' }),
        'request-id': randomUUID(),
        ...headers,
      });
      res.end(text);
    };
    try {
      const auth = req.headers.authorization;
      if (!auth) {
        throw Object.assign(new GraphError(401, 'InvalidAuthenticationToken', 'Access token is empty.'), { challenge: true });
      }
      if (auth !== `Bearer ${options.token}`)
        throw new GraphError(401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.');
      let body: any;
      if (raw) {
        if (!/^application\/json/i.test(req.headers['content-type'] ?? ''))
          throw bad('Content-Type must be application/json.', 'BadRequest');
        try {
          body = JSON.parse(raw);
        } catch {
          throw bad('Unable to read JSON request payload.', 'BadRequest');
        }
      }
      record.body = body;
      const [status, json] = await route(method, url.pathname, query, body);
      send(status, json);
    } catch (err) {
      if (err instanceof GraphError) {
        const headers: Record<string, string> = (err as any).challenge
          ? { 'www-authenticate': 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"' }
          : {};
        send(
          err.status,
          { error: { code: err.code, message: err.message, innerError: { date: new Date().toISOString(), 'request-id': randomUUID() } } },
          headers,
        );
      } else {
        send(500, { error: { code: 'InternalServerError', message: String((err as Error)?.message) } });
      }
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1.0`,
    requests,
    applications,
    servicePrincipals,
    issuedSecrets,
    permissionId,
    writes: () => requests.filter((r) => r.method !== 'GET'),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
