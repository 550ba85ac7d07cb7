/** Renders docs/permissions.md from the permissions manifest (`npm run docs`). */
import {
  APPLICATION_PERMISSIONS,
  CONNECTION_TYPES,
  CONSOLE_APP_ROLES,
  CONSOLE_REDIRECT_PATH,
  PERMISSIONS,
  redirectPath,
} from './permissions';
import { mailboxScopingCommands, RBAC_FOR_APPLICATIONS_URL } from './mailboxScoping';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function renderPermissionsDoc(): string {
  const lines = [
    '# Permissions',
    '',
    '<!-- Generated from shared/oauth/permissions.ts by `npm run docs`; a test fails when it is stale. -->',
    '',
    'ScanRelay requests these permissions from Microsoft Entra ID. Delegated scopes are granted when an',
    'administrator authorizes a connection (they act as the account that signs in); application',
    'permissions are granted to the app registration by an administrator and act without a user.',
    '',
  ];
  for (const type of CONNECTION_TYPES) {
    const p = PERMISSIONS[type];
    lines.push(`## ${p.displayName} (\`${type}\`)`, '', `Redirect URI: \`https://<your host>${redirectPath(type)}\``, '');
    lines.push('| Scope | Required | Why | How |', '|---|---|---|---|');
    for (const s of p.scopes) {
      lines.push(`| \`${cell(s.scope)}\` | ${s.required ? 'yes' : 'no'} | ${cell(s.why)} | ${cell(s.how)} |`);
    }
    lines.push('');
  }
  lines.push(
    '## Application permissions (Microsoft Graph)',
    '',
    'Granted to the app registration (admin consent) and used with its own token (client credentials). `npm run',
    'app-registration` requests those marked *by default*; the mail permissions only when asked for',
    '(`--mail-application-permissions`), because granted in Entra ID they cover every mailbox of the tenant.',
    '',
    '| Permission | Used by | Why | How | Requested |',
    '|---|---|---|---|---|',
  );
  for (const a of APPLICATION_PERMISSIONS) {
    const requested = a.optIn ? 'only with `--mail-application-permissions`; or scoped, see below' : 'by default';
    lines.push(`| \`${cell(a.permission)}\` | ${cell(a.usedBy)} | ${cell(a.why)} | ${cell(a.how)} | ${requested} |`);
  }
  const scoped = APPLICATION_PERMISSIONS.filter((a) => a.rbacRole);
  lines.push(
    '',
    '## Scoping mail to certain mailboxes (RBAC for Applications)',
    '',
    `${scoped.map((a) => `\`${a.permission}\``).join(' and ')} granted in Microsoft Entra ID let the app send as, or read and write, every`,
    'mailbox of the tenant; and the sender of a `graphMail` destination with `"auth": "application"` is whoever the scan job',
    'names. To allow only the mailboxes that need it (the scanning users; the one mailbox of mailbox ingest), grant the',
    'permissions in Exchange Online with Role Based Access Control for Applications instead:',
    `[Role Based Access Control for Applications in Exchange Online](${RBAC_FOR_APPLICATIONS_URL}). Its roles:`,
    '',
    ...scoped.map((a) => `- \`${a.rbacRole}\`: the permission \`${a.permission}\` for the mailboxes of a scope.`),
    '',
    'A role assignment there is independent of a grant in Entra ID and adds to it: if the app registration also holds',
    'the tenant-wide permission (consented), the app still reaches every mailbox and the scope changes nothing. So for',
    'scoped access, do **not** grant these permissions in Entra ID: run `npm run app-registration` without',
    '`--mail-application-permissions`; where they were consented already, revoke them (app registration → API',
    'permissions → the permission → Revoke admin consent, then Remove permission).',
    '',
    'In Exchange Online PowerShell, as a member of the Organization Management role group (`npm run app-registration`',
    'prints these with the client ID and the object ID filled in):',
    '',
    '```powershell',
    ...mailboxScopingCommands(),
    '```',
    '',
    'With the scopes in place, a job whose sender is outside them fails with `permission_denied` (Graph answers 403) and',
    'nothing is sent. Changes to a scope or to its group can take a while to apply.',
  );
  lines.push(
    '',
    '## App roles (the console)',
    '',
    'Administrators sign in to the console with Microsoft Entra ID (OpenID Connect: `openid` and `profile`, and the',
    '`offline_access` MSAL adds, all delegated permissions listed above). What they may do comes from the app roles',
    'assigned to them, which the ID token names in its `roles` claim. `npm run app-registration` defines the roles',
    'on the app registration with these fixed IDs; assign them in the Microsoft Entra admin center: Enterprise',
    'applications → the app → Users and groups → Add user/group. A user without either role is refused with a page',
    'naming the role to assign.',
    '',
    `Redirect URI: \`https://<your host>${CONSOLE_REDIRECT_PATH}\``,
    '',
    '| Role (value) | ID | Description | Allows |',
    '|---|---|---|---|',
  );
  for (const r of CONSOLE_APP_ROLES) {
    lines.push(`| \`${cell(r.value)}\` | \`${r.id}\` | ${cell(r.description)} | ${cell(r.allows)} |`);
  }
  lines.push('');
  return lines.join('\n');
}
