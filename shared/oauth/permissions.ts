/**
 * The permissions manifest: for each connection type, the scopes ScanRelay requests, which are
 * required, and why and how each is used; and the app roles of the console's sign-in. The
 * authorize request, docs/permissions.md (`npm run docs`) and the app-registration tooling all read
 * it, so they never disagree.
 */
import { ADMIN_ROLE, READER_ROLE, type AppRole } from '../access/session';
import { SIGN_IN_CALLBACK_PATH } from '../access/signIn';

export const CONNECTION_TYPES = ['smtpMicrosoft', 'exchangeMicrosoft', 'oneDrive', 'sharePoint', 'mailboxIngest'] as const;
export type ConnectionType = (typeof CONNECTION_TYPES)[number];

export interface ScopeUse {
  /** The scope as sent to the identity platform (resource URI + permission, or an OIDC scope). */
  scope: string;
  /** Required scopes must be granted, or the authorization is refused and cleared. */
  required: boolean;
  why: string;
  how: string;
}

export interface ConnectionTypePermissions {
  type: ConnectionType;
  /** What the administrator sees. */
  displayName: string;
  /** The delegated scopes requested when an administrator authorizes a connection of this type. */
  scopes: ScopeUse[];
}

export interface ApplicationPermission {
  /** Microsoft Graph application permission (app role), granted by an administrator. */
  permission: string;
  usedBy: string;
  why: string;
  how: string;
  /**
   * Requested by `npm run app-registration` only when asked for (`mail`: --mail-application-permissions),
   * never by default: once consented it covers every mailbox of the tenant. `rbacRole` grants it
   * for certain mailboxes instead (mailboxScoping.ts).
   */
  optIn?: 'mail';
  /** The Exchange Online role of RBAC for Applications that grants the permission for a scope of mailboxes. */
  rbacRole?: string;
}

const GRAPH = 'https://graph.microsoft.com';
const OUTLOOK = 'https://outlook.office.com';

const offlineAccess: ScopeUse = {
  scope: 'offline_access',
  required: true,
  why: 'Required to refresh the access token',
  how: 'Lets ScanRelay keep a refresh token and renew the access token from its timer, so the authorization lasts for an extended time.',
};
const openid: ScopeUse = {
  scope: 'openid',
  required: true,
  why: 'Required to identify the authorized account',
  how: "The ID token's object ID and tenant ID identify the account; personal Microsoft accounts are refused.",
};
const profile: ScopeUse = {
  scope: 'profile',
  required: false,
  why: 'Optional: shows who authorized the connection',
  how: 'The user principal name (preferred_username) is shown to the administrator and prefilled as the username.',
};

export const PERMISSIONS: Readonly<Record<ConnectionType, ConnectionTypePermissions>> = {
  smtpMicrosoft: {
    type: 'smtpMicrosoft',
    displayName: 'E-mail through Office 365 SMTP (OAuth 2.0)',
    scopes: [
      {
        scope: `${OUTLOOK}/SMTP.Send`,
        required: true,
        why: 'Required to send e-mails',
        how: 'Sends scans as e-mail from the authorized mailbox through smtp.office365.com with XOAUTH2.',
      },
      offlineAccess,
      openid,
      profile,
    ],
  },
  exchangeMicrosoft: {
    type: 'exchangeMicrosoft',
    displayName: 'E-mail through Microsoft Graph',
    scopes: [
      {
        scope: `${GRAPH}/Mail.Send`,
        required: true,
        why: 'Required to send e-mails through Microsoft Graph (successor of the Exchange Web Services connector)',
        how: "Sends scans as the authorized user (sendMail, or a draft with attachment upload sessions for large files); the message lands in the user's Sent Items.",
      },
      offlineAccess,
      openid,
      profile,
    ],
  },
  oneDrive: {
    type: 'oneDrive',
    displayName: 'OneDrive for Business (delegated)',
    scopes: [
      {
        scope: `${GRAPH}/Files.ReadWrite`,
        required: true,
        why: 'Required to upload files to OneDrive for Business (OAuth 2.0)',
        how: "Uploads scanned documents into the authorized user's own OneDrive.",
      },
      offlineAccess,
      openid,
      profile,
    ],
  },
  sharePoint: {
    type: 'sharePoint',
    displayName: 'SharePoint Online',
    scopes: [
      {
        scope: `${GRAPH}/Sites.ReadWrite.All`,
        required: true,
        why: 'Required to upload files to SharePoint Online',
        how: 'Write access uploads the scanned document. Read access browses the target folder and detects a document with the same name, to append to it, replace it or keep both, as the destination says.',
      },
      offlineAccess,
      openid,
      profile,
    ],
  },
  mailboxIngest: {
    type: 'mailboxIngest',
    displayName: 'Mailbox ingest (read and move mail)',
    scopes: [
      {
        scope: `${GRAPH}/Mail.ReadWrite`,
        required: true,
        why: 'Required to read e-mails of the authorized mailbox and move or delete them once stored',
        how: "Reads each message of the source's folder and downloads its attachments as a scan job, then moves it to the processed folder (or the rejected one, with the reason), or deletes it when the source says so. Subscribing to new messages needs the same permission.",
      },
      offlineAccess,
      openid,
      profile,
    ],
  },
};

/** Application permissions (client-credentials flow, no signed-in user). */
export const APPLICATION_PERMISSIONS: readonly ApplicationPermission[] = [
  {
    permission: 'User.Read.All',
    usedBy: 'OneDrive for Business (registered app) delivery; directory sync',
    why: "Required to find a user's OneDrive for Business drive, and to read users for the directory sync",
    how: "Looks up the user named by the scan job's e-mail address to find the drive to upload to; the directory sync reads the members of the configured group.",
  },
  {
    permission: 'Files.ReadWrite.All',
    usedBy: 'OneDrive for Business (registered app) delivery',
    why: "Required to upload into any user's OneDrive without that user's sign-in",
    how: 'Uploads the scanned document into the drive of the user the scan job names.',
  },
  {
    permission: 'GroupMember.Read.All',
    usedBy: 'Directory sync',
    why: 'Required to access group memberships',
    how: 'Synchronizes the members of the configured groups into ScanRelay.',
  },
  {
    permission: 'Mail.Send',
    usedBy: 'E-mail through Microsoft Graph as the scanning user (`graphMail` with `"auth": "application"`)',
    why: "Required to send as the scanning user without that user's sign-in",
    how: "Sends the scan from the mailbox the destination's `from` names (by default the job's `userEmail`), with `/users/{address}/sendMail` or a draft's `/send`, so that it lands in that mailbox's Sent Items. Granted in Entra ID it can send as every mailbox: scope it instead (below).",
    optIn: 'mail',
    rbacRole: 'Application Mail.Send',
  },
  {
    permission: 'Mail.ReadWrite',
    usedBy: 'E-mail through Microsoft Graph as the scanning user (large messages); mailbox ingest (registered app)',
    why: "Required to create a draft in the sender's mailbox, and for mailbox ingest to read and move the messages of its mailbox",
    how: "graphMail: a message too large for one sendMail request (over 3.5 MB) is created as a draft in the sender's mailbox, its attachments added (upload sessions for large files), then sent. Mailbox ingest: reads the messages of its mailbox's folder, stores their attachments as scan jobs and moves the processed messages; it needs that one mailbox only. Granted in Entra ID it reaches every mailbox: scope it instead (below).",
    optIn: 'mail',
    rbacRole: 'Application Mail.ReadWrite',
  },
];

/** The application permissions requested by default, and those only with `optIn` (see ApplicationPermission.optIn). */
export function applicationPermissions(options: { mail: boolean }): ApplicationPermission[] {
  return APPLICATION_PERMISSIONS.filter((p) => p.optIn === undefined || (p.optIn === 'mail' && options.mail));
}

export function isConnectionType(value: string): value is ConnectionType {
  return (CONNECTION_TYPES as readonly string[]).includes(value);
}

/** Every scope an authorize request for this type asks for. */
export function requestedScopes(type: ConnectionType): string[] {
  return PERMISSIONS[type].scopes.map((s) => s.scope);
}

/** The scopes that must be granted for the authorization to be kept. */
export function requiredScopes(type: ConnectionType): string[] {
  return PERMISSIONS[type].scopes.filter((s) => s.required).map((s) => s.scope);
}

/** The callback route of a connection type, under the app's base URL (one redirect URI per type). */
export function redirectPath(type: ConnectionType): string {
  return `/api/oauth2/client/${type}/authorize-callback`;
}

/**
 * An app role of the app registration, assigned to administrators (users or groups) in Enterprise
 * applications; the console reads it from the ID token's `roles` claim
 * (https://learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps).
 */
export interface ConsoleAppRole {
  /**
   * The role's id in the application's appRoles: fixed here, so every run and every tenant has the
   * same one (assignments refer to it; Graph wants a GUID, https://learn.microsoft.com/graph/api/resources/approle).
   */
  id: string;
  /** The value in the `roles` claim. */
  value: AppRole;
  displayName: string;
  /** Shown when the role is assigned. */
  description: string;
  /** Users and groups, not applications: these roles are for people signing in to the console. */
  allowedMemberTypes: readonly ['User'];
  /** What the role allows in ScanRelay (docs/permissions.md). */
  allows: string;
}

export const CONSOLE_APP_ROLES: readonly ConsoleAppRole[] = [
  {
    id: '676b1ae3-3ad4-471d-9ab0-6bb80d38b67f',
    value: ADMIN_ROLE,
    displayName: 'ScanRelay administrator',
    description: 'Administrators: change connections, destinations, redeliver jobs',
    allowedMemberTypes: ['User'],
    allows:
      'Everything in the console: create, authorize and delete connections, change destinations and routing, redeliver jobs (and all a reader sees).',
  },
  {
    id: 'ed471321-8349-4cd8-8726-94d0adce82aa',
    value: READER_ROLE,
    displayName: 'ScanRelay reader',
    description: 'Read-only access to the console',
    allowedMemberTypes: ['User'],
    allows: 'Sees every page of the console (connections, destinations, jobs, directory, audit log) and changes nothing.',
  },
];

/** The console's sign-in callback under the app's base URL: the Web redirect URI to register for it. */
export const CONSOLE_REDIRECT_PATH = SIGN_IN_CALLBACK_PATH;
