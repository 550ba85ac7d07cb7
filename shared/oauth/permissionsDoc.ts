/** Renders docs/permissions.md from the permissions manifest (`npm run docs`). */
import {
  APPLICATION_PERMISSIONS,
  CONNECTION_TYPES,
  CONSOLE_APP_ROLES,
  CONSOLE_REDIRECT_PATH,
  PERMISSIONS,
  redirectPath,
} from './permissions';

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
  lines.push('## Application permissions (Microsoft Graph)', '', '| Permission | Used by | Why | How |', '|---|---|---|---|');
  for (const a of APPLICATION_PERMISSIONS) {
    lines.push(`| \`${cell(a.permission)}\` | ${cell(a.usedBy)} | ${cell(a.why)} | ${cell(a.how)} |`);
  }
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
